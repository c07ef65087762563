package vlan

import (
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

var (
	sinkIngress Ingress
	sinkEgress  Egress
	sinkOK      bool
	sinkStart   int
)

// benchPolicy is a native-untagged port with a trunk list, the policy with
// the most checks per frame.
func benchPolicy(t testing.TB) *Policy {
	return &Policy{Mode: NativeUntagged, VID: 10, Trunks: mustSet(t, "20,100-200,4000")}
}

func TestNoAllocs(t *testing.T) {
	p := benchPolicy(t)
	frame := tcpFrame(t, 64, tag{stpid, 150}, tag{ctpid, 10})
	pk := decode(t, frame)
	buf, start := place(frame, gsoVirtio(42, 62))
	m := Meta{VID: 150, TCI: p5, QinQ: true}
	tests := []struct {
		name string
		f    func()
	}{
		{"Ingress", func() { sinkIngress, sinkOK = p.Ingress(pk) }},
		{"Egress", func() { sinkEgress, sinkOK = p.Egress(m) }},
		{"Pop", func() { sinkStart = Pop(buf, start) }},
		{"Push", func() { sinkStart = Push(buf, start, header.EtherTypeQinQ, 150) }},
		{"PopParsed", func() { q := *pk; PopParsed(&q); sinkOK = q.Tags == 1 }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}

func BenchmarkIngress(b *testing.B) {
	p := benchPolicy(b)
	for _, bc := range []struct {
		name string
		tags []tag
	}{
		{"untagged", nil},
		{"tagged", []tag{{ctpid, 150}}},
		{"qinq", []tag{{stpid, 150}, {ctpid, 10}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pk := decode(b, tcpFrame(b, 64, bc.tags...))
			b.ReportAllocs()
			for b.Loop() {
				sinkIngress, sinkOK = p.Ingress(pk)
			}
		})
	}
}

func BenchmarkEgress(b *testing.B) {
	p := benchPolicy(b)
	m := Meta{VID: 150, TCI: p5}
	b.ReportAllocs()
	for b.Loop() {
		sinkEgress, sinkOK = p.Egress(m)
	}
}

func BenchmarkPush(b *testing.B) {
	buf, start := place(tcpFrame(b, 1400), gsoVirtio(34, 54))
	b.ReportAllocs()
	for b.Loop() {
		// Pushing again at the same start rewrites the same bytes.
		sinkStart = Push(buf, start, header.EtherTypeVLAN, 150)
	}
}

func BenchmarkPop(b *testing.B) {
	buf, start := place(tcpFrame(b, 1400, tag{ctpid, 150}), gsoVirtio(38, 58))
	b.ReportAllocs()
	for b.Loop() {
		// Popping again at the same start moves the same bytes.
		sinkStart = Pop(buf, start)
	}
}
