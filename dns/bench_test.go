package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkServeUDPLocal measures a local A answer, parse to pack.
func BenchmarkServeUDPLocal(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "web", mdns.TypeA, 1232)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeUDP("net1", q, func([]byte) {})
	}
}

// BenchmarkServeUDPNXDomain measures an unknown single label, answered
// without forwarding.
func BenchmarkServeUDPNXDomain(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(b, "nosuch", mdns.TypeA, 0)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeUDP("net1", q, func([]byte) {})
	}
}
