//go:build linux

package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/netns"
)

// Helpers of the kernelnat tests (issue #16): NAT and routing checked
// against kernel peers. Sockets the test itself opens inside a namespace
// (netns.Do) stay in that namespace, so a test can be both ends of a
// conversation through the switch and compare every byte.

// The "internet" of setupMTUInternet: like setupInternet's, with an
// uplink link of MTU 1400 and, beyond the kernel router inet, a far link
// of MTU 1300 to srv, whose routes announce an MSS of 1460 anyway (as a
// server behind a tunnel does), so only path MTU discovery or the MSS
// clamp keep TCP going. srv also has a second address, srv2Addr.
const srv2Addr = "198.51.100.3"

func setupMTUInternet(t *testing.T, l *lab) *internet {
	t.Helper()
	in := &internet{}
	in.inet = l.newPeer(t, "inet", "up0", "", "eth0", inetAddr+"/24")
	in.srv = l.newNS(t, "srv")
	veth(t, in.inet.name, "eth1", in.srv.name, "eth0")
	addAddr(t, in.inet.name, "eth1", "198.51.100.1/24")
	addAddr(t, in.srv.name, "eth0", srvAddr+"/24")
	addAddr(t, in.srv.name, "eth0", srv2Addr+"/24")
	for _, c := range [][]string{
		{"ip", "-n", l.name, "link", "set", "up0", "mtu", "1400"},
		{"ip", "-n", in.inet.name, "link", "set", "eth0", "mtu", "1400"},
		{"ip", "-n", in.inet.name, "link", "set", "eth1", "mtu", "1300"},
		{"ip", "-n", in.srv.name, "link", "set", "eth0", "mtu", "1300"},
		{"ip", "-n", in.srv.name, "route", "add", "default", "via", "198.51.100.1", "advmss", "1460"},
		{"ip", "-n", in.srv.name, "route", "change", "198.51.100.0/24", "dev", "eth0", "advmss", "1460"},
		{"ip", "netns", "exec", in.inet.name, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := runCmd(ctx, "", c[0], c[1:]...)
		cancel()
		if r.code != 0 {
			t.Fatalf("%s: %v", strings.Join(c, " "), r)
		}
	}
	l.mustCtl("uplink", "set", "up0", "--address", uplinkAddr+"/24", "--gateway", inetAddr)
	return in
}

// epNS returns the namespace of endpoint ep.
func (l *lab) epNS(t *testing.T, ep string) string {
	t.Helper()
	return l.endpoint(ep).Netns
}

// inNS runs f in namespace ns (sockets it opens stay there).
func inNS(t *testing.T, ns string, f func() error) {
	t.Helper()
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Do(h, f); err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// udpIn opens a UDP socket bound to laddr in namespace ns, closed at
// cleanup.
func udpIn(t *testing.T, ns, laddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNS(t, ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", laddr)
		if err != nil {
			return err
		}
		lc := net.ListenConfig{Control: reuseAddr}
		pc, err := lc.ListenPacket(context.Background(), "udp4", a.String())
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// reuseAddr sets SO_REUSEADDR, so tests can bind ports a previous
// connection left in TIME_WAIT, and simultaneous opens can bind.
func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var err error
	rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
	return err
}

// pattern returns n bytes of a pattern that depends on seed, so a
// datagram can be checked whole.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i/251)
	}
	return b
}

// udpEcho answers every datagram c receives with the same bytes, until c
// is closed.
func udpEcho(c *net.UDPConn) {
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.WriteToUDP(buf[:n], from)
		}
	}()
}

// udpRoundTrip sends a datagram of size bytes from c to dst and waits for
// the same bytes back (an echo), up to timeout.
func udpRoundTrip(c *net.UDPConn, dst string, seed, size int, timeout time.Duration) error {
	a, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		return err
	}
	want := pattern(seed, size)
	if _, err := c.WriteToUDP(want, a); err != nil {
		return fmt.Errorf("send %d bytes: %w", size, err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return fmt.Errorf("%d-byte datagram to %s: no echo: %w", size, dst, err)
		}
		if n == size && bytes.Equal(buf[:n], want) {
			return nil
		}
		// An echo of an earlier datagram: keep reading.
	}
}

// scapy runs a Python script with scapy (the Debian python3-scapy package,
// for /usr/bin/python3) in namespace ns.
func scapy(t *testing.T, ns, script string, args ...string) result {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("scapy needs %s (Debian python3-scapy): %v", py, err)
	}
	f := filepath.Join(t.TempDir(), "s.py")
	if err := os.WriteFile(f, []byte("import logging\nlogging.getLogger('scapy.runtime').setLevel(logging.ERROR)\nfrom scapy.all import *\nimport sys, random\n"+script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", "ip", append([]string{"netns", "exec", ns, py, f}, args...)...)
}

// routerStat returns one router counter from `vswitchctl stats`.
func (l *lab) routerStat(t *testing.T, name string) uint64 {
	t.Helper()
	var st control.Stats
	l.ctlJSON(&st, "stats")
	return st.Router[name]
}

// natStat returns one conntrack counter from `vswitchctl stats`.
func (l *lab) natStat(t *testing.T, name string) uint64 {
	t.Helper()
	var st control.Stats
	l.ctlJSON(&st, "stats")
	return st.NAT[name]
}
