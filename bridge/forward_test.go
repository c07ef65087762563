package bridge

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/vlan"
)

// TestForwardAllocs checks that the per-frame call never allocates.
func TestForwardAllocs(t *testing.T) {
	tb := New(Options{})
	tb.Learn(1, hostB, 2, 0)
	tests := []struct {
		name     string
		src, dst header.MAC
	}{
		{"learned", hostA, hostB},
		{"unknown", hostA, hostC},
		{"broadcast", hostA, header.Broadcast},
		{"drop", hostB, hostB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := int64(0)
			allocs := testing.AllocsPerRun(1000, func() {
				now += int64(time.Millisecond)
				tb.Forward(1, tt.src, tt.dst, 2, now)
			})
			if allocs != 0 {
				t.Errorf("Forward(1, %v, %v, 2, now) allocates %v times per call, want 0", tt.src, tt.dst, allocs)
			}
		})
	}
}

// TestConcurrent forwards from several goroutines, one per port, while
// another ages, flushes and edits the table. Pinned static entries, which
// the control goroutine never touches, must be found by every lookup even
// while deletions shift slots around them. Run it with -race.
func TestConcurrent(t *testing.T) {
	for _, shardBits := range []int{0, defaultShardBits} {
		t.Run(fmt.Sprintf("shards=%d", 1<<shardBits), func(t *testing.T) {
			testConcurrent(t, shardBits)
		})
	}
}

func testConcurrent(t *testing.T, shardBits int) {
	const (
		ports      = 4
		frames     = 20000
		numMACs    = 200
		pinnedPort = 7
	)
	tb := newTable(Options{Capacity: 150, PortLimit: 60, AgingTime: 50 * time.Millisecond}, shardBits)
	macs := make([]header.MAC, numMACs)
	for i := range macs {
		macs[i] = header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	pinned := make([]header.MAC, 32)
	for i := range pinned {
		pinned[i] = header.MAC{0x06, 0, 0, 0, 0, byte(i)}
		if err := tb.AddStatic(1, pinned[i], pinnedPort); err != nil {
			t.Fatal(err)
		}
	}
	var clock sync.Mutex // guards now
	now := int64(0)
	tick := func() int64 {
		clock.Lock()
		defer clock.Unlock()
		now += int64(time.Millisecond) / 10
		return now
	}

	var wg sync.WaitGroup
	for p := range port.ID(ports) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range frames {
				// Mostly the port's own hosts, sometimes another's (a move).
				src := macs[r.IntN(numMACs/ports)*ports+int(p)]
				if i%50 == 0 {
					src = macs[r.IntN(numMACs)]
				}
				if i%4 == 0 {
					dst := pinned[r.IntN(len(pinned))]
					if out, d := tb.Forward(1, src, dst, p, tick()); out != pinnedPort || d != DecisionForward {
						t.Errorf("Forward(1, %v, %v, %d, now) = %d, %v, want %d, %v", src, dst, p, out, d, pinnedPort, DecisionForward)
						return
					}
					continue
				}
				dst := macs[r.IntN(numMACs)]
				out, d := tb.Forward(vlan.ID(i%2), src, dst, p, tick())
				if d == DecisionForward && (out == p || out >= ports+2) {
					t.Errorf("Forward(%d, %v, %v, %d, now) = %d, %v: bad port", i%2, src, dst, p, out, d)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var control sync.WaitGroup
	control.Go(func() {
		r := rand.New(rand.NewPCG(99, 1))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := tick()
			switch i % 8 {
			case 0:
				tb.Age(n)
			case 1:
				tb.FlushPort(port.ID(r.IntN(ports)))
			case 2:
				tb.FlushVLAN(vlan.ID(r.IntN(2)))
			case 3:
				if err := tb.AddStatic(vlan.ID(r.IntN(2)), macs[r.IntN(numMACs)], ports+port.ID(r.IntN(2))); err != nil {
					t.Errorf("AddStatic: %v", err)
				}
			case 4:
				tb.Delete(vlan.ID(r.IntN(2)), macs[r.IntN(numMACs)])
			case 5:
				tb.Entries(n)
				tb.Stats()
			case 6:
				tb.RemovePort(ports + port.ID(r.IntN(2)))
			case 7:
				if i%64 == 7 {
					tb.Flush()
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	control.Wait()
	checkInvariants(t, tb)
	if got, want := len(tb.Entries(0)), tb.Len(); got != want {
		t.Errorf("len(Entries(0)) = %d, Len() = %d; want equal", got, want)
	}
	for _, m := range pinned {
		if port, ok := tb.Lookup(1, m, 0); port != pinnedPort || !ok {
			t.Errorf("Lookup(1, %v, 0) = %d, %v, want %d, true", m, port, ok, pinnedPort)
		}
	}
}

// TestLookupDuringDeletes has readers look up pinned entries in a single
// shard while a writer inserts and deletes about a thousand entries around
// them, so that backward-shift deletions keep moving slots under the
// readers' probes. A reader that missed a pinned entry would flood frames
// meant for it.
func TestLookupDuringDeletes(t *testing.T) {
	writes := 200000
	if testing.Short() {
		writes = 20000
	}
	tb := newTable(Options{PortLimit: -1}, 0)
	pinned := make([]header.MAC, 64)
	for i := range pinned {
		pinned[i] = header.MAC{0x06, 0, 0, 0, 0, byte(i)}
		if err := tb.AddStatic(1, pinned[i], port.ID(i)); err != nil {
			t.Fatal(err)
		}
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		r := rand.New(rand.NewPCG(1, 2))
		for range writes {
			m := header.MAC{0x02, 0, 0, 0, byte(r.IntN(8)), byte(r.IntN(256))}
			if r.IntN(2) == 0 {
				tb.Learn(1, m, 1, 0)
			} else {
				tb.Delete(1, m)
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for i := 0; !done.Load(); i++ {
				m := pinned[i%len(pinned)]
				if port, ok := tb.Lookup(1, m, 0); uint16(port) != uint16(i%len(pinned)) || !ok {
					t.Errorf("Lookup(1, %v, 0) = %d, %v, want %d, true", m, port, ok, i%len(pinned))
					return
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, tb)
}

// TestFindWaitsForShift pauses a deletion in the middle of its backward
// shift and checks that the shard's seq is odd and that a lock-free find of
// the entry being moved neither returns nor misses until the shift is done.
func TestFindWaitsForShift(t *testing.T) {
	tb := newTable(Options{}, 0)
	// Find three addresses with the same home slot in the first array, so
	// that deleting the first moves the other two back.
	a := tb.shards[0].arr.Load()
	var cluster []header.MAC
	home := ^uint64(0)
	for i := 0; len(cluster) < 3; i++ {
		m := header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		h := tb.hash(makeKey(1, m)) & a.mask
		if home == ^uint64(0) {
			home = h
		}
		if h == home {
			cluster = append(cluster, m)
		}
	}
	for _, m := range cluster {
		tb.Learn(1, m, 1, 0)
	}
	last := makeKey(1, cluster[2])

	paused, resume := make(chan struct{}), make(chan struct{})
	moves := 0
	tb.testHookMoved = func() {
		if moves++; moves == 1 { // the second entry moved, the last not yet
			close(paused)
			<-resume
		}
	}
	go tb.Delete(1, cluster[0])
	<-paused
	if seq := tb.shards[0].seq.Load(); seq&1 == 0 {
		t.Errorf("seq = %d during a shift, want odd", seq)
	}
	found := make(chan bool)
	go func() {
		_, ok := tb.find(last)
		found <- ok
	}()
	select {
	case ok := <-found:
		t.Fatalf("find returned %v while the shift was paused", ok)
	case <-time.After(20 * time.Millisecond):
	}
	close(resume)
	if ok := <-found; !ok {
		t.Errorf("find(%v) after the shift = false, want true", cluster[2])
	}
	tb.testHookMoved = nil
	checkInvariants(t, tb)
}

// BenchmarkForward measures the per-frame call with a table of macs
// learned addresses spread over 8 ports: each frame comes from one of them
// and goes to a random one (so with macs=1 the frame is dropped, having
// reached its destination; the work is the same). The time passed in is a
// coarse clock that advances 1 ms every 65536 frames. ns/op is ns per frame.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 100, 100000} {
		b.Run(fmt.Sprintf("macs=%d", n), func(b *testing.B) {
			tb, frames := benchTable(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := &frames[i&(len(frames)-1)]
				tb.Forward(1, f.src, f.dst, f.in, int64(i>>16)*int64(time.Millisecond))
				i++
			}
		})
		b.Run(fmt.Sprintf("macs=%d/parallel", n), func(b *testing.B) {
			tb, frames := benchTable(n)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(frames))
				for pb.Next() {
					f := &frames[i&(len(frames)-1)]
					tb.Forward(1, f.src, f.dst, f.in, int64(i>>16)*int64(time.Millisecond))
					i++
				}
			})
		})
	}
}

// BenchmarkLearnNew measures learning when every frame brings a new address
// into a full table, so each one evicts another: a MAC flood.
func BenchmarkLearnNew(b *testing.B) {
	tb := New(Options{Capacity: 4096, PortLimit: -1})
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		m := header.MAC{0x02, byte(i >> 32), byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		tb.Learn(1, m, port.ID(i%8), int64(i))
		i++
	}
}

type benchFrame struct {
	src, dst header.MAC
	in       port.ID
}

// benchTable returns a table holding n addresses and up to 1<<16 frames
// between them (16 per address, a power of two, so that small tables are
// measured without streaming a large frame array).
func benchTable(n int) (*Table, []benchFrame) {
	tb := New(Options{Capacity: n, PortLimit: -1})
	r := rand.New(rand.NewPCG(1, 2))
	macs := make([]header.MAC, n)
	for i := range macs {
		macs[i] = header.MAC{0x02, 0x42, byte(r.Uint32()), byte(i >> 16), byte(i >> 8), byte(i)}
		tb.Learn(1, macs[i], port.ID(i%8), 0)
	}
	size := 1 << 16
	for size > 16 && size >= 32*n {
		size /= 2
	}
	frames := make([]benchFrame, size)
	for i := range frames {
		s := r.IntN(n)
		frames[i] = benchFrame{src: macs[s], dst: macs[r.IntN(n)], in: port.ID(s % 8)}
	}
	return tb, frames
}

// TestPeekMatchesForward: Peek decides as Forward does and learns nothing.
func TestPeekMatchesForward(t *testing.T) {
	tb := New(Options{})
	a, b, c := header.MAC{2, 0, 0, 0, 0, 1}, header.MAC{2, 0, 0, 0, 0, 2}, header.MAC{2, 0, 0, 0, 0, 3}
	tb.Learn(1, a, 1, 0)
	tb.Learn(1, b, 2, 0)
	for _, tt := range []struct {
		dst header.MAC
		in  port.ID
	}{{a, 2}, {b, 2}, {c, 1}, {header.Broadcast, 1}, {a, 1}} {
		before := tb.Stats()
		po, pd := tb.Peek(1, tt.dst, tt.in, 1)
		if after := tb.Stats(); after != before {
			t.Errorf("Peek changed the table's stats: %+v, then %+v", before, after)
		}
		src := header.MAC{2, 0, 0, 0, 0, 9} // a source other than every dst
		fo, fd := tb.Forward(1, src, tt.dst, tt.in, 1)
		if po != fo || pd != fd {
			t.Errorf("Peek(%v, in %d) = %d, %v; Forward = %d, %v", tt.dst, tt.in, po, pd, fo, fd)
		}
		tb.Delete(1, src)
	}
}
