package impair

import (
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/port"
)

// benchBatch is the batch the benchmarks write and read: the datapath's
// typical egress batch.
const benchBatch = 32

func benchBufs(tb testing.TB, payload int) [][]byte {
	bufs := make([][]byte, benchBatch)
	f := udpFrame(tb, 0, payload, 1)
	for i := range bufs {
		bufs[i] = make([]byte, port.BufferSize)
		copy(bufs[i][port.ReadOffset:], f)
		bufs[i] = bufs[i][:port.ReadOffset+len(f)]
	}
	return bufs
}

func perFrame(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/frame")
}

// BenchmarkWrite compares a bare port with a wrapped one without
// impairments (the cost of the wrapper) and with a loss set (frames due at
// once, no copy).
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap bool
		u    Update
	}{
		{"bare", false, Update{}},
		{"wrapped", true, Update{}},
		{"loss", true, Update{Loss: ptr(1.0)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var p port.Port = &nullPort{}
			if tc.wrap {
				w := New(p, Options{})
				defer w.Close()
				must(b, w.Set(Out, tc.u))
				p = w
			}
			bufs := benchBufs(b, 18)
			b.ReportAllocs()
			for b.Loop() {
				p.Write(bufs, port.ReadOffset)
			}
			perFrame(b)
		})
	}
}

// BenchmarkRead compares a bare port with a wrapped one without
// impairments.
func BenchmarkRead(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		name := "bare"
		if wrap {
			name = "wrapped"
		}
		b.Run(name, func(b *testing.B) {
			var p port.Port = &nullPort{frame: udpFrame(b, 0, 18, 1)}
			if wrap {
				w := New(p, Options{})
				defer w.Close()
				p = w
			}
			bufs := benchBufs(b, 18)
			sizes := make([]int, len(bufs))
			b.ReportAllocs()
			for b.Loop() {
				p.Read(bufs, sizes, port.ReadOffset)
			}
			perFrame(b)
		})
	}
}

// BenchmarkWriteDelayed is the cost per frame of holding frames for a
// delay: the copy into a pool buffer, the queue, and the write when due.
func BenchmarkWriteDelayed(b *testing.B) {
	for _, payload := range []int{18, 1458} {
		b.Run(map[int]string{18: "64B", 1458: "1500B"}[payload], func(b *testing.B) {
			clk := &fakeClock{}
			p := New(&nullPort{}, Options{Clock: clk})
			defer p.Close()
			must(b, p.Set(Out, Update{Delay: ptr(time.Millisecond)}))
			bufs := benchBufs(b, payload)
			b.ReportAllocs()
			for b.Loop() {
				p.Write(bufs, port.ReadOffset)
				clk.Advance(time.Millisecond)
			}
			perFrame(b)
		})
	}
}

// BenchmarkEngine is the decision cost per frame with delay, loss and rate
// set: Admit, Push and Pop.
func BenchmarkEngine(b *testing.B) {
	e := newEngine(b, Settings{Delay: 10 * time.Millisecond, Loss: 1, Rate: 10e9, Burst: 64 << 10, Limit: MaxLimit})
	frame := udpFrame(b, 0, 1458, 1)
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 1200 // 1500 bytes at 10 Gbit/s
		d := e.Admit(now, frame, plainVH)
		for _, c := range d.Copy[:d.N] {
			e.Push(c.Due, 0)
		}
		for {
			if _, ok := e.Pop(now); !ok {
				break
			}
		}
	}
}
