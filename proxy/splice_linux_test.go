package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// endpointNS creates a network namespace with lo up for the test and
// returns its path; it is deleted at cleanup.
func endpointNS(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("vswproxy-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	h, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netns.HandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName("lo")
	if err == nil {
		err = nh.LinkSetUp(l)
	}
	if err != nil {
		t.Fatalf("lo up in %s: %v", name, err)
	}
	return netns.Path(name)
}

// listenIn listens on 127.0.0.1, any port, inside the namespace at path.
func listenIn(t *testing.T, path string) *net.TCPListener {
	t.Helper()
	h, err := netns.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var ln *net.TCPListener
	if err := netns.Do(h, func() (err error) {
		ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestPrivilegedSpliceRelayInNamespace publishes a port whose target lives
// only inside another network namespace (127.0.0.1 there; nothing listens
// on that port of the test's own 127.0.0.1), so every byte that arrives
// went through a socket opened in that namespace and the splice relay. It
// checks the bytes of a large transfer both ways, a half-close, many
// concurrent connections, and that the relay's goroutines and descriptors
// (sockets and pipes) end with the connections.
func TestPrivilegedSpliceRelayInNamespace(t *testing.T) {
	testutil.Privileged(t)
	path := endpointNS(t)
	target := tcpServer(t, listenIn(t, path), echo)
	halfTarget := tcpServer(t, listenIn(t, path), echoAfterEOF)

	p := newProxy(t, Options{})
	publishIn := func(target netip.AddrPort) Rule {
		r := Rule{Proto: "tcp", HostIP: lo, HostPort: freePorts(t, "tcp", 1), Target: target.Addr(), TargetPort: target.Port(), TargetNetns: path}
		if err := p.Add(r); err != nil {
			t.Fatalf("Add(%s) = %v", r, err)
		}
		return r
	}
	r := publishIn(target)
	rh := publishIn(halfTarget)
	baseFD := openFDs(t)
	baseG := runtime.NumGoroutine()

	t.Run("64 MiB both ways, bytes compared", func(t *testing.T) {
		c := dialTCP(t, r.HostPort)
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		msg := make([]byte, 64<<20)
		rand.Read(msg)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			if err == nil {
				err = c.CloseWrite()
			}
			errc <- err
		}()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if werr := <-errc; werr != nil {
			t.Fatalf("write: %v", werr)
		}
		if err != nil || n != int64(len(msg)) {
			t.Fatalf("read back %d bytes, %v; want %d", n, err, len(msg))
		}
		if want := sha256.Sum256(msg); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatal("bytes read back differ from those sent")
		}
	})

	t.Run("half-close", func(t *testing.T) {
		c := dialTCP(t, rh.HostPort)
		msg := bytes.Repeat([]byte("request "), 50_000)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("reply after half-close: %d bytes, %v; want the %d sent", len(got), err, len(msg))
		}
	})

	t.Run("200 concurrent connections", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Go(func() {
				c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, r.HostPort)))
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				msg := bytes.Repeat([]byte{byte(i)}, 32<<10+i)
				go func() {
					c.Write(msg)
					c.CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("connection %d: %d bytes back, %v; want %d", i, len(got), err, len(msg))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	eventually(t, "no live connections", func() bool { return p.Stats().TCPActive == 0 })
	noLeak(t, baseG)
	// The proxy keeps drained pipes for the next connections, two
	// descriptors each, at most maxIdlePipes.
	idle := p.pipes.idle()
	if idle == 0 || idle > maxIdlePipes {
		t.Errorf("%d idle pipes after the connections, want 1 to %d", idle, maxIdlePipes)
	}
	fdsAtMost(t, baseFD+2*idle+keptSockets(p), "after the connections")
	if s := p.Stats(); s.DialErrors != 0 || s.BytesIn < 64<<20 || s.BytesOut < 64<<20 {
		t.Errorf("stats %+v: want no dial errors and at least 64 MiB each way", s)
	}
	// Close closes the pooled pipes, the rules' kept sockets and the
	// listeners.
	rules := p.rules
	p.Close()
	if n := p.pipes.idle(); n != 0 {
		t.Errorf("%d idle pipes after Close, want 0", n)
	}
	for _, ru := range rules {
		if n := ru.socks.idle(); n != 0 {
			t.Errorf("%s keeps %d sockets after Close, want 0", ru.r, n)
		}
	}
	fdsAtMost(t, baseFD-2, "after Close (and its two listeners)")
}

// fdsAtMost fails the test unless at most max descriptors are open.
func fdsAtMost(t *testing.T, max int, when string) {
	t.Helper()
	// The test's echo servers use io.Copy, whose pipes the runtime keeps in
	// a pool until garbage collections drop them.
	for deadline := time.Now().Add(10 * time.Second); openFDs(t) > max && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := openFDs(t); n > max {
		t.Errorf("%d descriptors open %s, want at most %d:", n, when, max)
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			t.Log(e.Name(), l)
		}
	}
}

// TestPrivilegedSpliceRelayNamespaceGone checks that a connection to a
// rule whose namespace no longer exists is refused (reset) and counted,
// and leaves nothing behind.
func TestPrivilegedSpliceRelayNamespaceGone(t *testing.T) {
	testutil.Privileged(t)
	p := newProxy(t, Options{})
	r := Rule{Proto: "tcp", HostIP: lo, HostPort: freePorts(t, "tcp", 1), Target: lo, TargetPort: 9, TargetNetns: "/run/netns/vswproxy-no-such-namespace"}
	if err := p.Add(r); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	// The relay resets the accepted connection; on a loaded machine the
	// reset can arrive before the dialer has seen its connect complete.
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, r.HostPort)))
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("read from a connection whose target namespace is gone succeeded")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial: %v, want success or a reset", err)
	}
	eventually(t, "the dial error counted", func() bool { return p.Stats().DialErrors == 1 })
	noLeak(t, base)
}

// keptSockets returns how many unused sockets p's rules keep.
func keptSockets(p *Proxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ru := range p.rules {
		n += ru.socks.idle()
	}
	return n
}

// TestPrivilegedSpliceRelaySocketBatch checks that a rule makes its
// sockets in the target's namespace socketBatch at a time and keeps the
// rest for the next connections, that a failed connect drops the kept
// ones (the namespace may have been replaced), and that Remove closes
// them: the rule then holds no descriptor, and so not the namespace.
func TestPrivilegedSpliceRelaySocketBatch(t *testing.T) {
	testutil.Privileged(t)
	path := endpointNS(t)
	target := tcpServer(t, listenIn(t, path), echo)
	p := newProxy(t, Options{})
	baseFD := openFDs(t)
	r := Rule{Proto: "tcp", HostIP: lo, HostPort: freePorts(t, "tcp", 1), Target: target.Addr(), TargetPort: target.Port(), TargetNetns: path}
	if err := p.Add(r); err != nil {
		t.Fatal(err)
	}
	roundTrip := func() {
		t.Helper()
		c := dialTCP(t, r.HostPort)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != "x" {
			t.Fatalf("echo = %q, %v; want \"x\"", got, err)
		}
		c.Close()
	}
	for i := range 2*socketBatch + 1 {
		roundTrip()
		if want := socketBatch - 1 - i%socketBatch; keptSockets(p) != want {
			t.Fatalf("after %d connections the rule keeps %d sockets, want %d", i+1, keptSockets(p), want)
		}
	}

	// A connect that fails drops the kept sockets.
	refused := Rule{Proto: "tcp", HostIP: lo, HostPort: freePorts(t, "tcp", 1), Target: target.Addr(), TargetPort: 9, TargetNetns: path}
	if err := p.Add(refused); err != nil {
		t.Fatal(err)
	}
	// The relay resets the client, maybe before its connect completes.
	if c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, refused.HostPort))); err == nil {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("read from a connection whose target refuses succeeded")
		}
		c.Close()
	}
	eventually(t, "the dial error counted", func() bool { return p.Stats().DialErrors == 1 })
	if n := keptSockets(p); n != socketBatch-1 { // the first rule's
		t.Errorf("after a refused connect, the rules keep %d sockets, want %d", n, socketBatch-1)
	}
	if err := p.Remove(refused); err != nil {
		t.Fatal(err)
	}

	eventually(t, "no live connections", func() bool { return p.Stats().TCPActive == 0 })
	if err := p.Remove(r); err != nil {
		t.Fatal(err)
	}
	fdsAtMost(t, baseFD+2*p.pipes.idle(), "after Remove")
}
