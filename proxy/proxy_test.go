package proxy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newProxy returns a Proxy closed when the test ends.
func newProxy(t testing.TB, opt Options) *Proxy {
	t.Helper()
	p := New(opt)
	t.Cleanup(func() { p.Close() })
	return p
}

// listen binds proto ("tcp" or "udp") on ap.
func listen(proto string, ap netip.AddrPort) (io.Closer, error) {
	if proto == "tcp" {
		return net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(ap))
	}
	return net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
}

// freePorts returns the first of n consecutive ports that proto can bind
// on 127.0.0.1 now. It picks below Linux's ephemeral range (32768–60999)
// so that outgoing connections of the test do not take them meanwhile.
func freePorts(t testing.TB, proto string, n int) uint16 {
	t.Helper()
	for range 100 {
		base := uint16(20000 + rand.IntN(12000))
		var ls []io.Closer
		for i := range n {
			l, err := listen(proto, netip.AddrPortFrom(lo, base+uint16(i)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free %s ports", n, proto)
	return 0
}

// tcpServer runs handle for every connection to ln until the test ends,
// then closes ln and the connections and waits for the handlers.
func tcpServer(t testing.TB, ln *net.TCPListener, handle func(*net.TCPConn)) netip.AddrPort {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[*net.TCPConn]bool{}
	)
	wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// listenTCP listens on 127.0.0.1:port, 0 for any port.
func listenTCP(t testing.TB, port uint16) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, port)))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// echoAfterEOF reads the whole request, then sends it back and closes: a
// reply that can only arrive if the client's half-close got through.
func echoAfterEOF(c *net.TCPConn) {
	b, err := io.ReadAll(c)
	if err != nil {
		return
	}
	c.Write(b)
}

// echo sends back what it reads as it reads it and passes on the EOF.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// udpEcho runs a UDP echo server on 127.0.0.1 until the test ends.
func udpEcho(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	})
	t.Cleanup(func() {
		c.Close()
		wg.Wait()
	})
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// publish adds a rule from 127.0.0.1:host.. to target and returns it.
func publish(t testing.TB, p *Proxy, proto string, host, n uint16, target netip.AddrPort) Rule {
	t.Helper()
	r := Rule{Proto: proto, HostIP: lo, HostPort: host, HostPortEnd: host + n - 1, Target: target.Addr(), TargetPort: target.Port()}
	if err := p.Add(r); err != nil {
		t.Fatalf("Add(%s) = %v", r, err)
	}
	return r
}

// dialTCP connects to 127.0.0.1:port.
func dialTCP(t testing.TB, port uint16) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// dialUDP returns a UDP socket connected to 127.0.0.1:port.
func dialUDP(t testing.TB, port uint16) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg on c and returns the reply, or an error after 5 s.
func roundTrip(c *net.UDPConn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// eventually polls cond every 10 ms for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// noLeak fails the test unless the goroutine count falls back to base.
func noLeak(t testing.TB, base int) {
	t.Helper()
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
	}
}

func TestTCPHalfClose(t *testing.T) {
	t.Run("client shuts down then reads reply", func(t *testing.T) {
		p := newProxy(t, Options{})
		target := tcpServer(t, listenTCP(t, 0), echoAfterEOF)
		r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, target)
		c := dialTCP(t, r.HostPort)
		msg := bytes.Repeat([]byte("request "), 100_000)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("reply is %d bytes, want the %d sent", len(got), len(msg))
		}
	})
	t.Run("server shuts down, client keeps sending", func(t *testing.T) {
		p := newProxy(t, Options{})
		got := make(chan string, 1)
		target := tcpServer(t, listenTCP(t, 0), func(c *net.TCPConn) {
			c.Write([]byte("banner"))
			c.CloseWrite()
			b, _ := io.ReadAll(c)
			got <- string(b)
		})
		r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, target)
		c := dialTCP(t, r.HostPort)
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "banner" {
			t.Fatalf("read = %q, %v, want %q, EOF", b, err, "banner")
		}
		if _, err := c.Write([]byte("after EOF")); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		if s := <-got; s != "after EOF" {
			t.Errorf("server read %q, want %q", s, "after EOF")
		}
	})
	t.Run("one way pipeline", func(t *testing.T) {
		// nc -l | ...: the server only reads; the client only writes and
		// closes.
		p := newProxy(t, Options{})
		got := make(chan int, 1)
		target := tcpServer(t, listenTCP(t, 0), func(c *net.TCPConn) {
			n, _ := io.Copy(io.Discard, c)
			got <- int(n)
		})
		r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, target)
		c := dialTCP(t, r.HostPort)
		c.Write(make([]byte, 12345))
		c.Close()
		if n := <-got; n != 12345 {
			t.Errorf("server read %d bytes, want 12345", n)
		}
	})
}

func TestTCPRange(t *testing.T) {
	const n = 3
	p := newProxy(t, Options{})
	tbase := freePorts(t, "tcp", n)
	for i := range uint16(n) {
		ln := listenTCP(t, tbase+i)
		tcpServer(t, ln, func(c *net.TCPConn) { fmt.Fprint(c, tbase+i) })
	}
	r := publish(t, p, "tcp", freePorts(t, "tcp", n), n, netip.AddrPortFrom(lo, tbase))
	for i := range uint16(n) {
		b, err := io.ReadAll(dialTCP(t, r.HostPort+i))
		if want := strconv.Itoa(int(tbase + i)); err != nil || string(b) != want {
			t.Errorf("host port %d reached target %q, %v, want %s", r.HostPort+i, b, err, want)
		}
	}
	if s := p.Stats(); s.TCPConns != n {
		t.Errorf("TCPConns = %d, want %d", s.TCPConns, n)
	}
}

func TestTCPLargeTransfer(t *testing.T) {
	const size = 50 << 20
	p := newProxy(t, Options{})
	target := tcpServer(t, listenTCP(t, 0), echo)
	r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, target)
	c := dialTCP(t, r.HostPort)

	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), sent)
		_, err := io.Copy(c, src)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	recv := sha256.New()
	n, err := io.Copy(recv, c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if n != size || !bytes.Equal(recv.Sum(nil), sent.Sum(nil)) {
		t.Errorf("received %d bytes with sha256 %x, want %d with %x", n, recv.Sum(nil), size, sent.Sum(nil))
	}
	c.Close()
	eventually(t, "the connection to end", func() bool { return p.Stats().TCPActive == 0 })
	if s := p.Stats(); s.BytesIn != size || s.BytesOut != size {
		t.Errorf("BytesIn, BytesOut = %d, %d, want %d each", s.BytesIn, s.BytesOut, size)
	}
}

func TestTCPDialError(t *testing.T) {
	p := newProxy(t, Options{})
	dead := freePorts(t, "tcp", 1) // nothing listens there
	r := publish(t, p, "tcp", freePorts(t, "tcp", 1), 1, netip.AddrPortFrom(lo, dead))
	// The reset can beat the client's connect(2) to its SO_ERROR check.
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(lo, r.HostPort)))
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client got %v, want a reset", err)
	}
	if s := p.Stats(); s.DialErrors != 1 {
		t.Errorf("DialErrors = %d, want 1", s.DialErrors)
	}
}

func TestUDPClients(t *testing.T) {
	const clients = 5
	p := newProxy(t, Options{})
	r := publish(t, p, "udp", freePorts(t, "udp", 1), 1, udpEcho(t))
	var cs []*net.UDPConn
	for range clients {
		cs = append(cs, dialUDP(t, r.HostPort))
	}
	for round := range 3 {
		for i, c := range cs {
			msg := fmt.Sprintf("client %d round %d", i, round)
			if got, err := roundTrip(c, msg); err != nil || got != msg {
				t.Fatalf("round trip = %q, %v, want %q", got, err, msg)
			}
		}
	}
	s := p.Stats()
	if s.UDPFlows != clients || s.UDPActive != clients {
		t.Errorf("UDPFlows, UDPActive = %d, %d, want %d", s.UDPFlows, s.UDPActive, clients)
	}
	// A reply can arrive before the request is counted.
	eventually(t, "BytesIn and BytesOut to agree", func() bool {
		s := p.Stats()
		return s.BytesIn != 0 && s.BytesIn == s.BytesOut
	})
}

func TestUDPLargeDatagram(t *testing.T) {
	p := newProxy(t, Options{})
	r := publish(t, p, "udp", freePorts(t, "udp", 1), 1, udpEcho(t))
	c := dialUDP(t, r.HostPort)
	msg := make([]byte, 65507) // the largest IPv4 UDP payload
	for i := range msg {
		msg[i] = byte(i)
	}
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, maxDatagram)
	n, err := c.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) {
		t.Errorf("reply is %d bytes, %v, want the %d sent", n, err, len(msg))
	}
}

// TestUDPIdleExpiry: traffic more often than UDPIdleTimeout keeps a flow,
// and a flow left idle is removed no sooner than UDPIdleTimeout after its
// last datagram, and not much later. Each bound is measured from when the
// test sent or received a datagram, never from when it started waiting, so
// a slow or loaded machine can only stretch what the test sees, not make a
// correct proxy fail.
func TestUDPIdleExpiry(t *testing.T) {
	const (
		idle = 400 * time.Millisecond
		// late is how long after its timeout a flow may still be counted:
		// its reply loop's deadline has to fire and the goroutine to run.
		late = 10 * time.Second
	)
	p := newProxy(t, Options{UDPIdleTimeout: idle})
	r := publish(t, p, "udp", freePorts(t, "udp", 1), 1, udpEcho(t))
	c := dialUDP(t, r.HostPort)

	// Traffic more often than the timeout keeps the flow, over 2.5 times
	// the timeout. The flow's clock restarts at each datagram: no earlier
	// than a request is sent, no later than its echo is received. So the
	// flow can have idled at most as long as it takes from sending one
	// request to receiving the next echo (or to reading the stats), and
	// only if the machine stalls that long may the flow rightly expire.
	var sent, recv time.Time // of the last round trip
	var worst time.Duration  // the longest gap
	for i := range 10 {
		if i > 0 {
			time.Sleep(idle / 4)
		}
		prev := sent
		sent = time.Now()
		if got, err := roundTrip(c, "ping"); err != nil || got != "ping" {
			t.Fatalf("round trip %d = %q, %v", i, got, err)
		}
		recv = time.Now()
		if i > 0 {
			worst = max(worst, recv.Sub(prev))
		}
	}
	s := p.Stats()
	worst = max(worst, time.Since(sent))
	if worst < idle {
		if s.UDPFlows != 1 || s.UDPActive != 1 {
			t.Fatalf("UDPFlows, UDPActive = %d, %d while busy, want 1, 1", s.UDPFlows, s.UDPActive)
		}
	} else {
		t.Logf("a gap of %v between datagrams, longer than the %v timeout: not checking that traffic kept the flow", worst, idle)
	}
	flows := s.UDPFlows

	// Left idle, the flow expires between idle after the last request was
	// sent and idle+late after its echo was received.
	for p.Stats().UDPActive != 0 {
		if d := time.Since(recv); d > idle+late {
			t.Fatalf("flow still active %v after its last datagram, want it gone after about %v", d, idle)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(sent); d < idle {
		t.Errorf("flow expired %v after its last datagram, want at least %v", d, idle)
	}

	// The same client gets a new flow.
	sent = time.Now()
	if got, err := roundTrip(c, "again"); err != nil || got != "again" {
		t.Fatalf("round trip after expiry = %q, %v", got, err)
	}
	s = p.Stats()
	if s.UDPFlows != flows+1 {
		t.Errorf("UDPFlows = %d, want %d", s.UDPFlows, flows+1)
	}
	if d := time.Since(sent); s.UDPActive != 1 && d < idle {
		t.Errorf("UDPActive = %d %v after the datagram, want 1", s.UDPActive, d)
	}
}

func TestUDPMaxFlows(t *testing.T) {
	p := newProxy(t, Options{MaxUDPFlows: 2})
	r := publish(t, p, "udp", freePorts(t, "udp", 1), 1, udpEcho(t))
	for i := range 2 {
		if _, err := roundTrip(dialUDP(t, r.HostPort), "hi"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	c := dialUDP(t, r.HostPort)
	c.Write([]byte("one too many"))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Errorf("third client got a %d-byte reply, want none", n)
	}
	if s := p.Stats(); s.UDPDropped != 1 || s.UDPActive != 2 {
		t.Errorf("UDPDropped, UDPActive = %d, %d, want 1, 2", s.UDPDropped, s.UDPActive)
	}
}

func TestAddPortTaken(t *testing.T) {
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			p := newProxy(t, Options{})
			base := freePorts(t, proto, 3)
			taken, err := listen(proto, netip.AddrPortFrom(lo, base+2))
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()

			r := Rule{Proto: proto, HostIP: lo, HostPort: base, HostPortEnd: base + 2, Target: ctr, TargetPort: 80}
			err = p.Add(r)
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Add(%s) = %v, want EADDRINUSE", r, err)
			}
			if want := fmt.Sprintf("publish 127.0.0.1:%d/%s: address already in use", base+2, proto); err.Error() != want {
				t.Errorf("Add(%s) = %q, want %q", r, err, want)
			}
			// The ports bound before the failure are free again.
			for port := base; port < base+2; port++ {
				l, err := listen(proto, netip.AddrPortFrom(lo, port))
				if err != nil {
					t.Errorf("port %d still taken after a failed Add: %v", port, err)
					continue
				}
				l.Close()
			}
			if rs := p.Rules(); len(rs) != 0 {
				t.Errorf("Rules() = %v after a failed Add, want none", rs)
			}
		})
	}
}

func TestAddOverlap(t *testing.T) {
	p := newProxy(t, Options{})
	base := freePorts(t, "tcp", 4)
	r := publish(t, p, "tcp", base, 4, netip.AddrPortFrom(ctr, 80))
	for _, o := range []Rule{
		r,
		{Proto: "tcp", HostIP: lo, HostPort: base + 3, HostPortEnd: base + 5, Target: ctr, TargetPort: 80},
		{Proto: "tcp", HostPort: base + 1, Target: netip.MustParseAddr("10.0.0.3"), TargetPort: 80}, // 0.0.0.0
	} {
		if err := p.Add(o); !errors.Is(err, ErrOverlap) {
			t.Errorf("Add(%s) = %v, want ErrOverlap", o, err)
		}
	}
	if rs := p.Rules(); len(rs) != 1 || rs[0] != r {
		t.Errorf("Rules() = %v, want [%v]", rs, r)
	}
}

func TestRemove(t *testing.T) {
	tcpTarget := tcpServer(t, listenTCP(t, 0), echo)
	udpTarget := udpEcho(t)
	base := runtime.NumGoroutine()

	p := newProxy(t, Options{})
	tr := publish(t, p, "tcp", freePorts(t, "tcp", 2), 2, tcpTarget)
	ur := publish(t, p, "udp", freePorts(t, "udp", 2), 2, udpTarget)
	// Only the first port of each range has a target.
	var conns []*net.TCPConn
	for range 2 {
		c := dialTCP(t, tr.HostPort)
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("echo through %s: %v", tr, err)
		}
		conns = append(conns, c)
		if _, err := roundTrip(dialUDP(t, ur.HostPort), "x"); err != nil {
			t.Fatalf("echo through %s: %v", ur, err)
		}
	}

	// Remove takes the rule as given to Add, or in its normal form.
	tr.HostPortEnd, tr.HostIP = tr.HostPort+1, netip.MustParseAddr("::ffff:127.0.0.1")
	if err := p.Remove(tr); err != nil {
		t.Fatalf("Remove(%s) = %v", tr, err)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection still open after Remove")
		}
	}
	if s := p.Stats(); s.TCPActive != 0 || s.UDPActive != 2 {
		t.Errorf("TCPActive, UDPActive = %d, %d after removing the TCP rule, want 0, 2", s.TCPActive, s.UDPActive)
	}
	if err := p.Remove(tr); !errors.Is(err, ErrNoRule) {
		t.Errorf("second Remove(%s) = %v, want ErrNoRule", tr, err)
	}
	if err := p.Remove(ur); err != nil {
		t.Fatalf("Remove(%s) = %v", ur, err)
	}
	if s := p.Stats(); s.UDPActive != 0 {
		t.Errorf("UDPActive = %d after Remove, want 0", s.UDPActive)
	}
	// The host ports are free at once.
	for i := range uint16(2) {
		for _, l := range []struct {
			proto string
			port  uint16
		}{{"tcp", tr.HostPort + i}, {"udp", ur.HostPort + i}} {
			c, err := listen(l.proto, netip.AddrPortFrom(lo, l.port))
			if err != nil {
				t.Errorf("%s port %d still taken after Remove: %v", l.proto, l.port, err)
				continue
			}
			c.Close()
		}
	}
	if rs := p.Rules(); len(rs) != 0 {
		t.Errorf("Rules() = %v, want none", rs)
	}
	noLeak(t, base)
}

func TestCloseNoLeak(t *testing.T) {
	tcpTarget := tcpServer(t, listenTCP(t, 0), echo)
	udpTarget := udpEcho(t)
	base := runtime.NumGoroutine()

	p := New(Options{})
	tr := publish(t, p, "tcp", freePorts(t, "tcp", 3), 3, tcpTarget)
	ur := publish(t, p, "udp", freePorts(t, "udp", 3), 3, udpTarget)
	// Only the first port of each range has a target.
	for range 3 {
		c := dialTCP(t, tr.HostPort)
		c.Write([]byte("x")) // left open, mid-connection
		if _, err := roundTrip(dialUDP(t, ur.HostPort), "x"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all connections to be accepted", func() bool { return p.Stats().TCPConns == 3 })

	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if s := p.Stats(); s.TCPActive != 0 || s.UDPActive != 0 {
		t.Errorf("TCPActive, UDPActive = %d, %d after Close, want 0, 0", s.TCPActive, s.UDPActive)
	}
	noLeak(t, base)
	if err := p.Add(tr); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Add after Close = %v, want net.ErrClosed", err)
	}
}

// TestUDPRangeMemory checks that a wide UDP range costs little memory
// while idle: no port holds a 64 KiB receive buffer (docker-proxy, a
// process per port, needed 116 MB for 100 UDP ports).
func TestUDPRangeMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("receive buffers are pooled only on Linux")
	}
	const ports = 1000
	target := udpEcho(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := newProxy(t, Options{})
	r := publish(t, p, "udp", freePorts(t, "udp", ports), ports, target)
	if _, err := roundTrip(dialUDP(t, r.HostPort), "x"); err != nil { // a flow takes a buffer only while relaying
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)
	t.Logf("%s: %d KiB", r, used>>10)
	if limit := int64(16 << 20); used > limit && !raceEnabled { // 64 MiB with a buffer per port
		t.Errorf("%d ports use %d KiB, want under %d KiB", ports, used>>10, limit>>10)
	}
}

// BenchmarkTCPThroughput measures one TCP stream into a sink, directly
// and through the proxy.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, via := range []string{"direct", "proxy"} {
		b.Run(via, func(b *testing.B) {
			sink := tcpServer(b, listenTCP(b, 0), func(c *net.TCPConn) {
				buf := make([]byte, 256<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Write([]byte{1})
			})
			port := sink.Port()
			if via == "proxy" {
				port = publish(b, newProxy(b, Options{}), "tcp", freePorts(b, "tcp", 1), 1, sink).HostPort
			}
			c := dialTCP(b, port)
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if _, err := io.ReadFull(c, buf[:1]); err != nil { // all of it arrived
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}
