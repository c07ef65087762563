package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUDPReplyFromDestination checks that a wildcard UDP listener answers
// from the address the client sent to: 127.0.0.2 is local but the kernel
// would pick 127.0.0.1 as the source, which the client's connected socket
// drops.
func TestUDPReplyFromDestination(t *testing.T) {
	p := newProxy(t, Options{})
	port := freePorts(t, "udp", 1)
	target := udpEcho(t)
	r := Rule{Proto: "udp", HostPort: port, Target: target.Addr(), TargetPort: target.Port()} // 0.0.0.0
	if err := p.Add(r); err != nil {
		t.Fatalf("Add(%s) = %v", r, err)
	}
	for _, dst := range []string{"127.0.0.1", "127.0.0.2"} {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := roundTrip(c, "hi "+dst); err != nil || got != "hi "+dst {
			t.Errorf("round trip via %s = %q, %v, want %q", dst, got, err, "hi "+dst)
		}
	}
}

// stalledTarget returns a TCP address on 127.0.0.1 whose accept queue is
// full, so that a connect to it hangs: Linux drops the SYN.
func stalledTarget(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: lo.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // room for one connection
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.AddrPortFrom(lo, uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 5 {
		c, err := net.DialTimeout("tcp4", ap.String(), 200*time.Millisecond)
		if err != nil {
			return ap // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("accept queue never filled")
	return ap
}

// TestRemoveCancelsDial checks that Remove does not wait for a dial to a
// target that does not answer.
func TestRemoveCancelsDial(t *testing.T) {
	target := stalledTarget(t)
	base := runtime.NumGoroutine()
	p := newProxy(t, Options{DialTimeout: time.Minute})
	r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, target)
	c := dialTCP(t, r.HostPort)
	eventually(t, "the connection to be accepted", func() bool { return p.Stats().TCPActive == 1 })
	time.Sleep(50 * time.Millisecond) // let it reach the dial

	start := time.Now()
	if err := p.Remove(r); err != nil {
		t.Fatalf("Remove(%s) = %v", r, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Remove took %v", d)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after Remove")
	}
	if s := p.Stats(); s.DialErrors != 0 || s.TCPActive != 0 {
		t.Errorf("DialErrors, TCPActive = %d, %d, want 0, 0: a cancelled dial is not an error", s.DialErrors, s.TCPActive)
	}
	noLeak(t, base)
}

// TestSplicerNoAllocs checks that relaying a chunk with splice allocates
// nothing: the pipe and the callbacks are made once per direction.
func TestSplicerNoAllocs(t *testing.T) {
	pair := func() (*net.TCPConn, *net.TCPConn) {
		ln := listenTCP(t, 0)
		defer ln.Close()
		a, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	in, src := pair()
	dst, out := pair()
	var pp pipePool
	defer pp.close()
	pipe, err := pp.get()
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.close()
	s, err := newSplicer(dst, src, pipe)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Uint64
	msg := make([]byte, 4096)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := in.Write(msg); err != nil {
			t.Fatal(err)
		}
		for want := n.Load() + uint64(len(msg)); n.Load() < want; {
			if err := s.step(&n); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadFull(out, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per chunk, want 0", allocs)
	}
}

// TestPipePool checks that a pipe put back is the one got next, that the
// pool keeps at most maxIdlePipes, and that close closes the pool's
// pipes and those put after it.
func TestPipePool(t *testing.T) {
	isOpen := func(fd int) bool {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err == nil
	}
	var pp pipePool
	a, err := pp.get()
	if err != nil {
		t.Fatal(err)
	}
	if a.size < 64<<10 {
		t.Errorf("pipe capacity %d, want at least 64 KiB", a.size)
	}
	pp.put(a)
	if b, _ := pp.get(); b != a {
		t.Errorf("get after put = %+v, want the pipe put back %+v", b, a)
	}
	ps := []pipe{a}
	for range maxIdlePipes {
		p, err := pp.get()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		pp.put(p)
	}
	if n := pp.idle(); n != maxIdlePipes {
		t.Errorf("%d idle pipes, want %d", n, maxIdlePipes)
	}
	if extra := ps[len(ps)-1]; isOpen(extra.r) || isOpen(extra.w) {
		t.Errorf("pipe %+v put into a full pool is still open", extra)
	}
	pp.close()
	for _, p := range ps[:maxIdlePipes] {
		if isOpen(p.r) || isOpen(p.w) {
			t.Fatalf("pooled pipe %+v still open after close", p)
		}
	}
	late, err := pp.get()
	if err != nil {
		t.Fatal(err)
	}
	pp.put(late)
	if isOpen(late.r) || isOpen(late.w) || pp.idle() != 0 {
		t.Errorf("pipe put after close is kept (open %v, %d idle)", isOpen(late.r), pp.idle())
	}
}

// TestAcceptorInheritsOptions checks that a connection the acceptor takes
// has the options AcceptTCP would have set (TCP_NODELAY, Go's keepalive),
// inherited from the listener, that it reports the port connected to, and
// that closing the acceptor ends a waiting next.
func TestAcceptorInheritsOptions(t *testing.T) {
	ln := listenTCP(t, 0)
	defer ln.Close()
	a := newAcceptor(ln)
	if a.f == nil {
		t.Fatal("acceptor fell back to AcceptTCP")
	}
	c := dialTCP(t, uint16(ln.Addr().(*net.TCPAddr).Port))
	defer c.Close()
	got, port, err := a.next(true)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if want := uint16(ln.Addr().(*net.TCPAddr).Port); port != want {
		t.Errorf("next reports port %d, want %d", port, want)
	}
	s := got.(sock)
	for _, o := range listenerOptions {
		var v int
		err := s.control(func(fd int) (err error) { v, err = unix.GetsockoptInt(fd, o.level, o.opt); return err })
		if err != nil || v != o.value {
			t.Errorf("accepted socket's option %d/%d = %d, %v; want %d", o.level, o.opt, v, err, o.value)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := a.next(false)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let it wait
	a.close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("next after close = %v, want net.ErrClosed", err)
	}
}
