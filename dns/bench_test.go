package dns

import (
	"net/netip"
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
