package dns

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"
)

// benchServeUDP measures ServeUDP answering query from scope before it
// returns, and reports queries per second besides ns/op (one query each).
func benchServeUDP(b *testing.B, s *Server, scope string, query []byte, wantRcode int) {
	b.Helper()
	check(b, s, scope, query, wantRcode)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeUDP(scope, query, func([]byte) {})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// check fails b unless ServeUDP answers query at once with rcode.
func check(b *testing.B, s *Server, scope string, query []byte, rcode int) {
	b.Helper()
	answered := false
	s.ServeUDP(scope, query, func(resp []byte) {
		m := new(mdns.Msg)
		answered = m.Unpack(resp) == nil && m.Rcode == rcode
	})
	if !answered {
		b.Fatalf("no %s answer before ServeUDP returned", mdns.RcodeToString[rcode])
	}
}

// BenchmarkServeUDPLocal measures a local A answer, parse to pack.
func BenchmarkServeUDPLocal(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "web", mdns.TypeA, 1232)
	benchServeUDP(b, s, "net1", q, mdns.RcodeSuccess)
}

// BenchmarkServeUDPNXDomain measures an unknown name under a network,
// answered without forwarding.
func BenchmarkServeUDPNXDomain(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "nosuch.net1", mdns.TypeA, 0)
	benchServeUDP(b, s, "net1", q, mdns.RcodeNameError)
}

// BenchmarkServeUDPCached measures a forwarded name answered from the
// cache.
func BenchmarkServeUDPCached(b *testing.B) {
	s := cachedServer(b)
	_, q := newQuery(b, "example.com", mdns.TypeA, 1232)
	benchServeUDP(b, s, "net1", q, mdns.RcodeSuccess)
}

// BenchmarkServeUDPCachedParallel measures cache hits from every CPU at
// once: the cost of the cache's lock.
func BenchmarkServeUDPCachedParallel(b *testing.B) {
	s := cachedServer(b)
	_, q := newQuery(b, "example.com", mdns.TypeA, 1232)
	check(b, s, "net1", q, mdns.RcodeSuccess)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.ServeUDP("net1", q, func([]byte) {})
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// cachedServer returns a Server whose cache holds example.com's A record,
// for an hour, and that has no upstream left.
func cachedServer(b *testing.B) *Server {
	b.Helper()
	up := startUpstream(b, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "example.com", mdns.TypeA, 1232)
	if r, _ := serve(b, s, "net1", q); r.msg.Rcode != mdns.RcodeSuccess {
		b.Fatalf("forwarded: %s, want NOERROR", mdns.RcodeToString[r.msg.Rcode])
	}
	s.SetUpstreams(nil)
	return s
}

// BenchmarkServeUDPForwarded measures forwarded queries, 64 outstanding,
// to an upstream that answers each at once from one goroutine without
// parsing it: the cost of forwarding, with the cache off.
func BenchmarkServeUDPForwarded(b *testing.B) {
	up := startEchoUpstream(b)
	s := New(Options{Upstreams: []netip.AddrPort{up}, CacheSize: -1})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "example.com", mdns.TypeA, 1232)
	if r, _ := serve(b, s, "net1", q); r.msg.Rcode != mdns.RcodeSuccess {
		b.Fatalf("forwarded: %s, want NOERROR", mdns.RcodeToString[r.msg.Rcode])
	}
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	b.ReportAllocs()
	for b.Loop() {
		sem <- struct{}{}
		s.ServeUDP("net1", q, func(resp []byte) {
			if len(resp) < 4 || resp[3]&0xf != mdns.RcodeSuccess {
				failed.Add(1)
			}
			<-sem
		})
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d queries not answered NOERROR", n, b.N)
	}
}

// startEchoUpstream serves UDP on a random port of 127.0.0.1 until the
// benchmark ends, answering each query with itself with QR set: NOERROR
// with no records, never cached.
func startEchoUpstream(b *testing.B) netip.AddrPort {
	return serveUDP(b, func(pc *net.UDPConn, q []byte, from netip.AddrPort) {
		if len(q) < headerLen {
			return
		}
		q[2] |= 0x80 // QR
		_, _ = pc.WriteToUDPAddrPort(q, from)
	})
}

// serveUDP calls handle for each datagram to a UDP socket on a random port
// of 127.0.0.1, from one goroutine, until the benchmark ends.
func serveUDP(b *testing.B, handle func(pc *net.UDPConn, datagram []byte, from netip.AddrPort)) netip.AddrPort {
	b.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatalf("listen udp: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			handle(pc, buf[:n], from)
		}
	}()
	b.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}
