package steer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedSteerRange: in a fresh namespace, connections to any port
// of a range arrive at the one listener, with the port dialled as their
// local address; ports outside the range and other addresses are not
// steered; closing the steering ends it.
func TestPrivilegedSteerRange(t *testing.T) {
	testutil.Privileged(t)
	var skip error
	inNewNS(t, "vsw-steer-test", func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false) // a SOCKMAP refuses MPTCP sockets
		l, err := lc.Listen(context.Background(), "tcp4", "0.0.0.0:20000")
		if err != nil {
			return err
		}
		defer l.Close()
		s, err := Listener(netip.IPv4Unspecified(), 20000, 40000, l)
		if errors.Is(err, ErrNoSockmap) {
			skip = err
			return nil
		}
		if err != nil {
			return err
		}
		for _, port := range []string{"20000", "30123", "40000"} {
			c, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, 2*time.Second)
			if err != nil {
				t.Errorf("dial %s: %v", port, err)
				continue
			}
			a, err := l.Accept()
			if err != nil {
				return err
			}
			if got := a.LocalAddr().(*net.TCPAddr).Port; got != c.RemoteAddr().(*net.TCPAddr).Port {
				t.Errorf("accepted with local port %d, dialled %s", got, port)
			}
			a.Close()
			c.Close()
		}
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:40001", 2*time.Second); err == nil {
			c.Close()
			t.Error("port 40001, outside the range, was steered")
		}
		s.Close()
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:30123", 2*time.Second); err == nil {
			c.Close()
			t.Error("steering went on after Close")
		}

		// A specific address: only connections to it are steered.
		s, err = Listener(netip.MustParseAddr("127.0.0.2"), 20000, 40000, l)
		if err != nil {
			return err
		}
		defer s.Close()
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:30000", 2*time.Second); err == nil {
			c.Close()
			t.Error("127.0.0.1 was steered by a program for 127.0.0.2")
		}
		c, err := net.DialTimeout("tcp4", "127.0.0.2:30000", 2*time.Second)
		if err != nil {
			t.Errorf("dial 127.0.0.2:30000: %v", err)
		} else {
			c.Close()
		}
		return nil
	})
	if skip != nil {
		t.Skipf("kernel feature absent: %v", skip)
	}
}

// TestPrivilegedSteerProgramLoads: the kernel's verifier accepts the
// program for every kind of range, and it attaches to a namespace.
func TestPrivilegedSteerProgramLoads(t *testing.T) {
	testutil.Privileged(t)
	for _, ip := range []string{"0.0.0.0", "127.0.0.2", "::", "2001:db8::1"} {
		sock, prog, err := load(netip.MustParseAddr(ip), 1, 65535)
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		prog.Close()
		sock.Close()
	}
}

// inNewNS creates namespace name with lo up, runs f inside it and fails
// the test if f fails; the namespace is deleted at cleanup.
func inNewNS(t *testing.T, name string, f func() error) {
	t.Helper()
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	h, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = netns.Do(h, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		return f()
	})
	if err != nil {
		t.Fatal(err)
	}
}
