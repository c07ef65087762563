package filter_test

import "testing"

// BenchmarkMatch measures Match per frame (ns/op) for common filters.
func BenchmarkMatch(b *testing.B) {
	frames := corpus(b)
	for _, bm := range []struct{ name, expr, frame string }{
		{"tcp port 80/match", "tcp port 80", "tcp syn"},
		{"tcp port 80/ipv6 miss", "tcp port 80", "ipv6 tcp syn 443"},
		{"tcp port 80/tso super-frame", "tcp port 80", "tso super-frame tcp 80"},
		{"host or host/arp", "host 10.0.0.9 or 10.0.0.2", "arp request"},
		{"vlan 10 and vlan 200 and tcp", "vlan 10 and vlan 200 and tcp", "qinq 88a8 10 / 200 tcp"},
		{"tcp syn flags", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "tcp syn"},
		{"http get payload", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420", "tcp http get"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			f := mustCompile(b, bm.expr)
			data := frameByName(b, frames, bm.frame)
			b.ReportAllocs()
			for b.Loop() {
				f.Match(data)
			}
		})
	}
}
