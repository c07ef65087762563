//go:build linux

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/netns"
)

// Helpers for the VLAN and Open vSwitch tests: bare namespaces, veths
// between any two namespaces, tcpdump captures and TCP transfers.

// newNS creates namespace short-<lab id> with lo up; it is deleted (after
// killing what runs in it) at cleanup.
func (l *lab) newNS(t *testing.T, short string) *peerNS {
	t.Helper()
	p := &peerNS{name: short + "-" + strings.TrimPrefix(l.name, "vsl-")}
	if err := netns.Create(p.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.close()
		if netns.Exists(p.name) {
			t.Errorf("leak: network namespace %s still exists", p.name)
		}
	})
	linkUp(t, p.name, "lo")
	return p
}

// withLinks runs f with a netlink handle inside namespace ns.
func withLinks(t *testing.T, ns string, f func(nh *netlink.Handle) error) {
	t.Helper()
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netns.HandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	if err := f(nh); err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// veth connects aIf in namespace aNS to bIf in bNS and raises both.
func veth(t *testing.T, aNS, aIf, bNS, bIf string) {
	t.Helper()
	bh, err := netns.Open(bNS)
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	withLinks(t, aNS, func(nh *netlink.Handle) error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aIf}, PeerName: bIf, PeerNamespace: netlink.NsFd(int(bh))}
		if err := nh.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", aIf, bIf, err)
		}
		return nil
	})
	linkUp(t, aNS, aIf)
	linkUp(t, bNS, bIf)
}

// linkUp raises ifname in ns.
func linkUp(t *testing.T, ns, ifname string) {
	t.Helper()
	withLinks(t, ns, func(nh *netlink.Handle) error {
		link, err := nh.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("%s: %w", ifname, err)
		}
		return nh.LinkSetUp(link)
	})
}

// addAddr gives ifname in ns the address cidr.
func addAddr(t *testing.T, ns, ifname, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	withLinks(t, ns, func(nh *netlink.Handle) error {
		link, err := nh.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("%s: %w", ifname, err)
		}
		return nh.AddrAdd(link, a)
	})
}

// txOffloadsOff turns off transmit checksum offload (and with it TSO) on
// ifname in ns, so that what the kernel sends there is complete, segmented
// frames. Open vSwitch's userspace datapath reads veths through AF_PACKET
// without a virtio-net header: it would forward partial checksums and
// 64 KiB super-frames as they are, and break TCP (see DESIGN.md). The OVS
// documentation gives the same advice for veths.
func txOffloadsOff(t *testing.T, ns, ifname string) {
	t.Helper()
	if r := nsRun(ns, "ethtool", "-K", ifname, "tx", "off"); r.code != 0 {
		t.Fatalf("ethtool -K %s tx off in %s: %v", ifname, ns, r)
	}
}

// nsRun runs a command in namespace ns (with a 2-minute limit).
func nsRun(ns string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// capture is a tcpdump -e running in a namespace, started by the test and
// stopped by PID.
type capture struct {
	what        string
	cmd         *exec.Cmd
	out, stderr syncBuffer
	done        chan struct{}
}

// startCapture starts tcpdump -n -e on ifname in namespace ns with the
// given filter words, and returns once it is listening.
func startCapture(t *testing.T, ns, ifname string, filter ...string) *capture {
	t.Helper()
	c := &capture{what: ifname + " in " + ns, done: make(chan struct{})}
	args := append([]string{"netns", "exec", ns, "tcpdump", "-i", ifname, "-n", "-e", "-l", "--immediate-mode"}, filter...)
	c.cmd = exec.Command("ip", args...)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill() // by PID: ip netns exec execs tcpdump
		<-c.done
	})
	eventually(t, 10*time.Second, func() error {
		select {
		case <-c.done:
			t.Fatalf("tcpdump on %s exited: %s", c.what, c.stderr.String())
		default:
		}
		if !strings.Contains(c.stderr.String(), "listening on") {
			return fmt.Errorf("tcpdump on %s not listening yet", c.what)
		}
		return nil
	})
	return c
}

// lines returns what tcpdump printed so far, one frame a line.
func (c *capture) lines() []string {
	var out []string
	for _, l := range strings.Split(c.out.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// stop interrupts tcpdump, so it prints what it still holds, and returns
// the frames it printed.
func (c *capture) stop(t *testing.T) []string {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	return c.lines()
}

// waitFor waits until the capture holds a frame whose line contains all of
// words, and returns that line.
func (c *capture) waitFor(t *testing.T, timeout time.Duration, words ...string) string {
	t.Helper()
	var found string
	eventually(t, timeout, func() error {
		if ls := matching(c.lines(), words...); len(ls) > 0 {
			found = ls[0]
			return nil
		}
		return fmt.Errorf("no frame with %q captured on %s:\n%s", words, c.what, c.out.String())
	})
	return found
}

// matching returns the lines that contain every one of words.
func matching(lines []string, words ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, w := range words {
			if !strings.Contains(l, w) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// runner runs a command somewhere: a peer namespace or an endpoint.
type runner func(args ...string) result

// tcpTransfer sends size random bytes over TCP from one host to another
// (nc, port 5001) and checks that they arrive unchanged.
func tcpTransfer(t *testing.T, from, to runner, toAddr string, size int) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := make(chan result, 1)
	go func() { srv <- to("sh", "-c", "nc -l -p 5001 > "+out) }()
	waitListening(t, to, "tcp", 5001)
	if r := from("sh", "-c", "nc -N -w 20 "+toAddr+" 5001 < "+in); r.code != 0 {
		t.Fatalf("send to %s: %v", toAddr, r)
	}
	select {
	case r := <-srv:
		if r.code != 0 {
			t.Fatalf("receive at %s: %v", toAddr, r)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("receiver at %s did not finish", toAddr)
	}
	got, _ := os.ReadFile(out)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("TCP to %s: received %d bytes that differ from the %d sent", toAddr, len(got), len(data))
	}
}
