package steer

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

func TestRedirectKey(t *testing.T) {
	got := redirectKey(netip.MustParseAddrPort("10.78.0.12:8081"))
	want := [8]byte{10, 78, 0, 12, 0x1f, 0x91, 0, 0}
	if got != want {
		t.Errorf("redirectKey = %v, want %v", got, want)
	}
	if got := redirectKey(netip.MustParseAddrPort("[::ffff:10.78.0.12]:8081")); got != want {
		t.Errorf("redirectKey(mapped) = %v, want %v", got, want)
	}
}

// TestPrivilegedRedirect: in a fresh namespace, TCP connects to a
// redirected address reach the target and report the dialled address as
// their peer; the wildcard rule covers 127.0.0.0/8; a socket bound to an
// address, UDP, other addresses and other namespaces are left alone;
// Remove and Close end it, and Close leaves no program in the kernel.
func TestPrivilegedRedirect(t *testing.T) {
	testutil.Privileged(t)
	var ids []ebpf.ProgramID
	inNewNS(t, "vsw-redir-test", func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		// The "endpoint" address.
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: netlink.NewIPNet(net.ParseIP("10.9.0.1").To4())}); err != nil {
			return err
		}
		target, err := net.Listen("tcp4", "10.9.0.1:30001")
		if err != nil {
			return err
		}
		defer target.Close()
		go func() {
			for {
				c, err := target.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().String()))
				c.Close()
			}
		}()
		r, err := NewRedirect()
		if err != nil {
			return err
		}
		defer func() {
			if r != nil {
				r.Close()
			}
		}()
		ids = r.ProgramIDs()
		if len(ids) != 2 {
			t.Errorf("ProgramIDs = %v, want 2", ids)
		}
		to := netip.MustParseAddrPort("10.9.0.1:30001")
		if err := r.Add(netip.MustParseAddrPort("127.0.0.1:20001"), to); err != nil {
			return err
		}
		if err := r.Add(netip.MustParseAddrPort("0.0.0.0:20002"), to); err != nil {
			return err
		}
		if err := r.Add(netip.MustParseAddrPort("[::1]:20003"), to); err == nil {
			t.Error("Add of an IPv6 address succeeded")
		}

		for _, addr := range []string{"127.0.0.1:20001", "127.0.0.1:20002", "127.0.0.9:20002"} {
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
			if err != nil {
				t.Errorf("dial %s: %v", addr, err)
				continue
			}
			if got := c.RemoteAddr().String(); got != addr {
				t.Errorf("dial %s: peer %s, want the address dialled", addr, got)
			}
			b, _ := io.ReadAll(c)
			// The target sees the connection from its own address (the
			// route to 10.9.0.1 is local here), not from loopback.
			if ap, err := netip.ParseAddrPort(string(b)); err != nil || ap.Addr() != to.Addr() {
				t.Errorf("dial %s: target saw the client as %q, want %s", addr, b, to.Addr())
			}
			c.Close()
		}
		if n := r.Redirected(); n != 3 {
			t.Errorf("Redirected = %d, want 3", n)
		}

		refused := func(what string, d *net.Dialer, addr string) {
			t.Helper()
			c, err := d.Dial("tcp4", addr)
			if err == nil {
				c.Close()
				t.Errorf("%s: dial %s connected, want refused", what, addr)
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: dial %s: %v, want connection refused", what, addr, err)
			}
		}
		d := &net.Dialer{Timeout: 2 * time.Second}
		refused("no rule", d, "127.0.0.1:20004")
		refused("a rule for another port", d, "10.9.0.1:20002")
		bound := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
		refused("bound socket", bound, "127.0.0.1:20001")

		// UDP: a connected socket keeps the address it named.
		u, err := net.Dial("udp4", "127.0.0.1:20001")
		if err != nil {
			return err
		}
		if got := u.RemoteAddr().String(); got != "127.0.0.1:20001" {
			t.Errorf("UDP connect: peer %s, want 127.0.0.1:20001 (not redirected)", got)
		}
		u.Close()

		// Another namespace: the same connect is not redirected.
		inNewNS(t, "vsw-redir-other", func() error {
			refused("another namespace", d, "127.0.0.1:20001")
			return nil
		})

		if err := r.Remove(netip.MustParseAddrPort("127.0.0.1:20001")); err != nil {
			return err
		}
		if err := r.Remove(netip.MustParseAddrPort("127.0.0.1:20001")); err != nil {
			t.Errorf("second Remove: %v, want nil", err)
		}
		refused("removed", d, "127.0.0.1:20001")

		if err := r.Close(); err != nil {
			return err
		}
		r = nil
		refused("closed", d, "127.0.0.1:20002")
		return nil
	})
	// Closed: the programs are gone from the kernel, not just detached.
	for _, id := range ids {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("program %d still loaded after Close", id)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("program %d: %v, want not exist", id, err)
		}
	}
}
