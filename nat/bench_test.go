package nat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

// benchFlows is a set of n masqueraded UDP flows built from one template
// frame: flow i goes from 10.x.y.z:40000 to 100.x'.y.z:443, so every flow
// keeps its port.
type benchFlows struct {
	tmpl []byte
	tp   header.Parsed
	n    int
}

func newBenchFlows(b *testing.B, n int) *benchFlows {
	bf := &benchFlows{tmpl: udpFrame(b, ap(inner1, 40000), ap(server, 443), "0123456789abcdef"), n: n}
	if err := bf.tp.Decode(bf.tmpl); err != nil {
		b.Fatal(err)
	}
	return bf
}

func flowAddrs(i int) (src, dst [4]byte) {
	return [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, [4]byte{100, byte(64 + i>>16), byte(i >> 8), byte(i)}
}

// frame writes flow i's outbound addresses into w, a frame holding the
// template, and into p, a parse of it: what Apply rewrote in the previous
// iteration. Checksums are not redone; Apply does not check them.
func (bf *benchFlows) frame(w []byte, p *header.Parsed, i int) {
	src, dst := flowAddrs(i)
	l3 := bf.tp.L3Off
	copy(w[l3+12:], src[:])
	copy(w[l3+16:], dst[:])
	p.SrcIP, p.DstIP = netip.AddrFrom4(src), netip.AddrFrom4(dst)
	p.SrcPort, p.DstPort = bf.tp.SrcPort, bf.tp.DstPort
}

// create tracks all flows and returns the heap growth per connection.
func (bf *benchFlows) create(b *testing.B, tb *Table) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := bytes.Clone(bf.tmpl)
	p := bf.tp
	for i := range bf.n {
		bf.frame(w, &p, i)
		c, err := tb.Create(zoneNet, zoneUplink, &p, masq(), 0)
		if err != nil {
			b.Fatalf("Create flow %d: %v", i, err)
		}
		tb.Apply(w, &p, c, Original, false, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(bf.n)
}

// BenchmarkEstablished measures Lookup+Apply of established flows picked
// at random (plus writing the flow's addresses into the frame and p).
func BenchmarkEstablished(b *testing.B) {
	for _, n := range []int{1, 1_000_000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			bf := newBenchFlows(b, n)
			tb := New(Options{Seed: 1, MaxEntries: 2 * n})
			perEntry := bf.create(b, tb)
			order := make([]uint32, 1<<20)
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range order {
				order[i] = uint32(rng.IntN(n))
			}
			w := bytes.Clone(bf.tmpl)
			p := bf.tp
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bf.frame(w, &p, int(order[i&(len(order)-1)]))
				c, d, ok := tb.Lookup(zoneNet, w, &p, 1)
				if !ok {
					b.Fatal("flow not found")
				}
				tb.Apply(w, &p, c, d, false, 1)
			}
			b.StopTimer()
			if n > 1 {
				b.ReportMetric(perEntry, "bytes/entry")
			}
		})
	}
}

// BenchmarkEstablishedParallel is BenchmarkEstablished/flows=1000000 from
// GOMAXPROCS goroutines: shards keep workers from contending.
func BenchmarkEstablishedParallel(b *testing.B) {
	const n = 1_000_000
	bf := newBenchFlows(b, n)
	tb := New(Options{Seed: 1, MaxEntries: 2 * n})
	bf.create(b, tb)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := bytes.Clone(bf.tmpl)
		p := bf.tp
		x := uint32(rand.Uint64())
		for pb.Next() {
			x = x*1664525 + 1013904223
			bf.frame(w, &p, int(x>>12)%n)
			c, d, ok := tb.Lookup(zoneNet, w, &p, 1)
			if !ok {
				panic("flow not found")
			}
			tb.Apply(w, &p, c, d, false, 1)
		}
	})
}

// BenchmarkCreate measures Create+Apply of new flows into a growing table.
func BenchmarkCreate(b *testing.B) {
	const limit = 1 << 20
	bf := newBenchFlows(b, limit)
	benchCreate(b, bf, limit, bf.frame)
}

// benchCreate creates and applies the flows frame writes, flushing the
// table each time it holds limit of them.
func benchCreate(b *testing.B, bf *benchFlows, limit int, frame func(w []byte, p *header.Parsed, i int)) {
	tb := New(Options{Seed: 1, MaxEntries: 2 * limit})
	w := bytes.Clone(bf.tmpl)
	p := bf.tp
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%limit == limit-1 {
			b.StopTimer()
			tb.Flush()
			b.StartTimer()
		}
		frame(w, &p, i%limit)
		c, err := tb.Create(zoneNet, zoneUplink, &p, masq(), 0)
		if err != nil {
			b.Fatal(err)
		}
		tb.Apply(w, &p, c, Original, false, 0)
	}
}

// BenchmarkCreateFewSources is BenchmarkCreate with the flows of 256
// endpoints (each using 4,096 source ports) rather than of a million: the
// per-source indexes (endpoint-independent mapping, per-endpoint limits)
// stay small, as they do on a host.
func BenchmarkCreateFewSources(b *testing.B) {
	const sources, perSource = 256, 4096
	const limit = sources * perSource
	bf := newBenchFlows(b, limit)
	benchCreate(b, bf, limit, func(w []byte, p *header.Parsed, j int) {
		bf.frame(w, p, j)
		src := [4]byte{10, 0, 0, byte(j % sources)}
		copy(w[bf.tp.L3Off+header.IPv4SrcOffset:], src[:])
		p.SrcIP, p.SrcPort = netip.AddrFrom4(src), uint16(1024+j/sources)
		binary.BigEndian.PutUint16(w[bf.tp.L4Off:], p.SrcPort)
	})
}
