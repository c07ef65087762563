package impair

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
)

var (
	plainVH = make(header.VirtioNet, header.VirtioNetLen)
	frame64 = make([]byte, 64)
)

const ms = int64(time.Millisecond)

func newEngine(t testing.TB, s Settings) *Engine[int] {
	t.Helper()
	e, err := NewEngine[int](s, 1)
	if err != nil {
		t.Fatalf("NewEngine(%v): %v", s, err)
	}
	return e
}

// drainAll pops every frame due by at.
func drainAll(e *Engine[int], at int64) []int {
	var out []int
	for {
		v, ok := e.Pop(at)
		if !ok {
			return out
		}
		out = append(out, v)
	}
}

func TestEngineDelayExact(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 50 * time.Millisecond, MaxDelay} {
		t.Run(d.String(), func(t *testing.T) {
			e := newEngine(t, Settings{Delay: d})
			for i := range 100 {
				now := int64(i) * 3 * ms
				dec := e.Admit(now, frame64, plainVH)
				if dec.N != 1 || dec.Copy[0].Due != now+int64(d) {
					t.Fatalf("frame %d at %d: %+v, want one copy due %d", i, now, dec, now+int64(d))
				}
				e.Push(dec.Copy[0].Due, i)
			}
			got := drainAll(e, math.MaxInt64)
			for i, v := range got {
				if v != i {
					t.Fatalf("constant delay reordered frames: %v", got)
				}
			}
		})
	}
}

func TestEngineJitter(t *testing.T) {
	const n = 100_000
	for _, tc := range []struct {
		name          string
		s             Settings
		lo, hi        int64   // bounds of the delay
		mean, sd      float64 // expected, in ns
		zeroFrac      float64 // expected share of delays clamped to 0
		uniformBucket bool    // check a flat histogram over [lo, hi]
	}{
		{"uniform", Settings{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond},
			40 * ms, 60 * ms, 50e6, 10e6 / math.Sqrt(3), 0, true},
		{"normal", Settings{Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Distribution: Normal},
			30 * ms, 70 * ms, 50e6, 5e6, 0, false},
		// Jitter larger than the delay: a quarter of the draws would be
		// negative and leave at once instead.
		{"clamped", Settings{Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond},
			0, 15 * ms, math.NaN(), math.NaN(), 0.25, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.s)
			var sum, sum2 float64
			zeros := 0
			var hist [10]int
			for range n {
				d := e.Admit(0, frame64, plainVH).Copy[0].Due
				if d < tc.lo || d > tc.hi {
					t.Fatalf("delay %v outside [%v, %v]", time.Duration(d), time.Duration(tc.lo), time.Duration(tc.hi))
				}
				if d == 0 {
					zeros++
				}
				sum += float64(d)
				sum2 += float64(d) * float64(d)
				hist[min(int((d-tc.lo)*10/(tc.hi-tc.lo+1)), 9)]++
			}
			mean := sum / n
			sd := math.Sqrt(sum2/n - mean*mean)
			if !math.IsNaN(tc.mean) && math.Abs(mean-tc.mean) > 5*tc.sd/math.Sqrt(n) {
				t.Errorf("mean delay %v, want %v", time.Duration(mean), time.Duration(tc.mean))
			}
			if !math.IsNaN(tc.sd) && math.Abs(sd-tc.sd) > 0.02*tc.sd {
				t.Errorf("delay standard deviation %v, want %v", time.Duration(sd), time.Duration(tc.sd))
			}
			if got := float64(zeros) / n; math.Abs(got-tc.zeroFrac) > 0.01 {
				t.Errorf("%.3f of delays clamped to 0, want %.3f", got, tc.zeroFrac)
			}
			if tc.uniformBucket {
				for i, c := range hist {
					if math.Abs(float64(c)-n/10) > 0.01*n {
						t.Errorf("histogram bucket %d holds %d of %d, want about a tenth: %v", i, c, n, hist)
					}
				}
			}
		})
	}
}

// within checks that got out of n trials is within 5 standard deviations of
// a probability of pct percent (exact for 0% and 100%).
func within(t *testing.T, what string, got, n int, pct float64) {
	t.Helper()
	p := pct / 100
	want := p * float64(n)
	tol := 5 * math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(got)-want) > tol {
		t.Errorf("%s %g%%: %d of %d, want %.0f ± %.0f", what, pct, got, n, want, tol)
	}
}

func TestEngineProbabilities(t *testing.T) {
	const n = 100_000
	for _, pct := range []float64{0, 0.1, 1, 10, 50, 100} {
		for _, seed := range []uint64{1, 2, 3, 42, 1 << 40} {
			e := newEngine(t, Settings{Loss: pct, Seed: seed})
			lost := 0
			for range n {
				if d := e.Admit(0, frame64, plainVH); d.N == 0 {
					if d.Drop != Lost {
						t.Fatalf("dropped for %v, want Lost", d.Drop)
					}
					lost++
				}
			}
			within(t, "loss", lost, n, pct)
			if s := e.Stats(); s.Lost.Frames != uint64(lost) || s.Lost.Bytes != uint64(lost*len(frame64)) {
				t.Errorf("Stats().Lost = %+v, want %d frames", s.Lost, lost)
			}

			e = newEngine(t, Settings{Duplicate: pct, Corrupt: pct, Seed: seed})
			dups, bad := 0, 0
			for range n {
				d := e.Admit(0, frame64, plainVH)
				if d.N == 2 {
					dups++
				}
				if d.Copy[0].Corrupt {
					bad++
				}
			}
			within(t, "duplicate", dups, n, pct)
			within(t, "corrupt", bad, n, pct)
			if s := e.Stats(); s.Duplicated.Frames != uint64(dups) {
				t.Errorf("Stats().Duplicated = %+v, want %d frames", s.Duplicated, dups)
			}
		}
	}
}

func TestEngineReorder(t *testing.T) {
	const delay = 10 * time.Millisecond
	for _, tc := range []struct {
		name string
		pct  float64
		gap  int
		n    int
		want []int // indexes of reordered frames; nil: check the share only
	}{
		{"every fifth", 100, 5, 20, []int{4, 9, 14, 19}},
		{"gap 1 is every frame", 100, 1, 5, []int{0, 1, 2, 3, 4}},
		{"gap 0 means 1", 100, 0, 3, []int{0, 1, 2}},
		{"25% of frames", 25, 1, 100_000, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Settings{Delay: delay, Reorder: tc.pct, Gap: tc.gap, Limit: MaxLimit})
			var got []int
			for i := range tc.n {
				d := e.Admit(int64(i), frame64, plainVH)
				c := d.Copy[0]
				if c.Reordered != (c.Due == int64(i)) {
					t.Fatalf("frame %d: reordered %v but due %d at %d", i, c.Reordered, c.Due, i)
				}
				if c.Reordered {
					got = append(got, i)
				} else if c.Due != int64(i)+int64(delay) {
					t.Fatalf("frame %d due %d, want %d", i, c.Due, int64(i)+int64(delay))
				}
			}
			if tc.want == nil {
				within(t, "reorder", len(got), tc.n, tc.pct)
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("reordered frames %v, want %v", got, tc.want)
			}
		})
	}

	// Gap 3 at 50%: after each reordered frame, the next two never are.
	e := newEngine(t, Settings{Delay: delay, Reorder: 50, Gap: 3, Seed: 7, Limit: MaxLimit})
	since := 0
	for i := range 10_000 {
		if e.Admit(0, frame64, plainVH).Copy[0].Reordered {
			if since < 2 {
				t.Fatalf("frame %d reordered %d frames after the last one, gap 3", i, since)
			}
			since = 0
		} else {
			since++
		}
	}

	// Delivery: a reordered frame overtakes the frames still delayed.
	e = newEngine(t, Settings{Delay: delay, Reorder: 100, Gap: 3})
	for i := range 6 {
		now := int64(i) * ms
		d := e.Admit(now, frame64, plainVH)
		e.Push(d.Copy[0].Due, i)
	}
	var order []int
	for at := int64(0); at < 20*ms; at += ms {
		order = append(order, drainAll(e, at)...)
	}
	if want := []int{2, 5, 0, 1, 3, 4}; !slices.Equal(order, want) {
		t.Errorf("delivery order %v, want %v", order, want)
	}
}

func TestEngineRate(t *testing.T) {
	type arrival struct {
		at   int64 // ns
		size int
	}
	burst := func(n int, at int64, size int) []arrival {
		a := make([]arrival, n)
		for i := range a {
			a[i] = arrival{at, size}
		}
		return a
	}
	const byteNs = 1000 // 8 Mbit/s: one byte per microsecond
	for _, tc := range []struct {
		name string
		s    Settings
		in   []arrival
		want []int64
	}{
		{"burst then rate", Settings{Rate: 8e6, Burst: 3000}, burst(6, 0, 1000),
			[]int64{0, 0, 0, 1 * ms, 2 * ms, 3 * ms}},
		{"no burst: one transmission time apart", Settings{Rate: 8e6}, burst(3, 0, 1000),
			[]int64{0, 1 * ms, 2 * ms}},
		{"refill after idle", Settings{Rate: 8e6, Burst: 2000},
			append(burst(3, 0, 1000), arrival{10 * ms, 1000}, arrival{10 * ms, 1000}, arrival{10 * ms, 1000}),
			[]int64{0, 0, 1 * ms, 10 * ms, 10 * ms, 11 * ms}},
		{"partial refill", Settings{Rate: 8e6, Burst: 1000},
			[]arrival{{0, 1000}, {500 * byteNs, 1000}, {500 * byteNs, 500}},
			[]int64{0, 1 * ms, 1*ms + 500*byteNs}},
		{"frame larger than the burst", Settings{Rate: 8e6, Burst: 1000}, burst(3, 0, 3000),
			[]int64{0, 3 * ms, 6 * ms}},
		{"delay then rate", Settings{Delay: 10 * time.Millisecond, Rate: 8e6}, burst(3, 0, 1000),
			[]int64{10 * ms, 11 * ms, 12 * ms}},
		{"rate keeps order despite jitter", Settings{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Rate: 8e9},
			burst(1000, 0, 1000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.s)
			var got []int64
			for _, a := range tc.in {
				d := e.Admit(a.at, make([]byte, a.size), plainVH)
				got = append(got, d.Copy[0].Due)
			}
			if tc.want == nil {
				if !slices.IsSorted(got) {
					t.Errorf("due times out of order with a rate set: %v", got)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("due times (-want +got):\n%s", diff)
			}
		})
	}

	// A long run: N frames take their bytes beyond the burst at the rate.
	const n, size, rate, bucket = 1000, 1500, 10e6, 15000
	e := newEngine(t, Settings{Rate: rate, Burst: bucket})
	var last int64
	for range n {
		last = e.Admit(0, make([]byte, size), plainVH).Copy[0].Due
	}
	want := int64((n*size - bucket) * 8 * 1e9 / rate) // the burst leaves at once, then a frame per 1500 bytes
	if math.Abs(float64(last-want)) > 1e3 {
		t.Errorf("last of %d frames due %v, want %v", n, time.Duration(last), time.Duration(want))
	}
}

func TestWireBytes(t *testing.T) {
	const hdr = 14 + 20 + 32
	for _, tc := range []struct {
		name         string
		payload, mss int
		gso          bool
		want         int
	}{
		{"plain frame", 1000, 0, false, hdr + 1000},
		{"super-frame", 10000, 1448, true, 7*hdr + 10000},
		{"exact multiple", 2896, 1448, true, 2*hdr + 2896},
		{"one segment", 100, 1448, true, hdr + 100},
		{"64 KiB", 65535 - 20 - 32, 1448, true, 46*hdr + 65535 - 20 - 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, _, vh := tcpFrame(t, tc.payload, tc.mss)
			if got := WireBytes(frame, vh); got != tc.want {
				t.Errorf("WireBytes = %d, want %d", got, tc.want)
			}
		})
	}
	// Not parseable: the frame's own length.
	vh := make(header.VirtioNet, header.VirtioNetLen)
	vh.Encode(&header.VirtioNetFields{GSOType: header.VirtioNetGSOTCPv4, GSOSize: 100})
	if got := WireBytes(make([]byte, 3000), vh); got != 3000 {
		t.Errorf("WireBytes(garbage super-frame) = %d, want 3000", got)
	}

	// The rate counts a super-frame's wire bytes: at 8 Mbit/s without
	// burst, the frame after it waits for 7 headers more than its length.
	frame, _, vh := tcpFrame(t, 10000, 1448)
	e := newEngine(t, Settings{Rate: 8e6})
	e.Admit(0, frame, vh)
	if got, want := e.Admit(0, frame64, plainVH).Copy[0].Due, int64(7*hdr+10000)*1000; got != want {
		t.Errorf("frame after a super-frame due %v, want %v", time.Duration(got), time.Duration(want))
	}
	// And it is lost as a unit.
	e = newEngine(t, Settings{Loss: 100})
	if d := e.Admit(0, frame, vh); d.N != 0 || e.Stats().Lost != (Count{1, uint64(len(frame))}) {
		t.Errorf("super-frame at loss 100%%: %+v, stats %+v", d, e.Stats().Lost)
	}
}

func TestEngineQueueLimit(t *testing.T) {
	e := newEngine(t, Settings{Delay: time.Second, Limit: 10})
	kept := 0
	for i := range 15 {
		d := e.Admit(0, frame64, plainVH)
		if d.N == 0 {
			if d.Drop != QueueFull {
				t.Fatalf("frame %d dropped for %v, want QueueFull", i, d.Drop)
			}
			continue
		}
		kept++
		e.Push(d.Copy[0].Due, i)
	}
	if kept != 10 || e.Stats().QueueFull.Frames != 5 || e.Len() != 10 {
		t.Errorf("kept %d, queue-full %d, held %d; want 10, 5, 10", kept, e.Stats().QueueFull.Frames, e.Len())
	}
	// Room again once frames leave.
	drainAll(e, int64(time.Second))
	if d := e.Admit(0, frame64, plainVH); d.N != 1 {
		t.Errorf("after the queue drained: %+v", d)
	}

	// A duplicate that does not fit is dropped alone.
	e = newEngine(t, Settings{Delay: time.Second, Duplicate: 100, Limit: 3})
	var copies []int
	for i := range 3 {
		d := e.Admit(0, frame64, plainVH)
		copies = append(copies, d.N)
		for _, c := range d.Copy[:d.N] {
			e.Push(c.Due, i)
		}
	}
	if s := e.Stats(); !slices.Equal(copies, []int{2, 1, 0}) || s.QueueFull.Frames != 2 || s.Duplicated.Frames != 1 {
		t.Errorf("copies %v, stats %+v; want [2 1 0], 2 queue-full, 1 duplicated", copies, s)
	}

	// Nothing is held without a delay or rate: no limit applies.
	e = newEngine(t, Settings{Loss: 1, Limit: 1})
	for range 100 {
		e.Admit(0, frame64, plainVH)
	}
	if s := e.Stats(); s.QueueFull.Frames != 0 {
		t.Errorf("loss only: %d queue-full drops", s.QueueFull.Frames)
	}
}

func TestEngineSet(t *testing.T) {
	e := newEngine(t, Settings{Seed: 5})
	must(t, e.Set(Update{Loss: ptr(10.0)}))
	must(t, e.Set(Update{Delay: ptr(5 * time.Millisecond)}))
	want := Settings{Delay: 5 * time.Millisecond, Loss: 10, Seed: 5}
	if diff := cmp.Diff(want, e.Settings()); diff != "" {
		t.Errorf("after two partial updates (-want +got):\n%s", diff)
	}
	if err := e.Set(Update{Loss: ptr(200.0), Delay: ptr(time.Second)}); err == nil {
		t.Error("Set(loss 200%) succeeded")
	}
	if diff := cmp.Diff(want, e.Settings()); diff != "" {
		t.Errorf("a failed update changed the settings (-want +got):\n%s", diff)
	}
	lost := 0
	for range 10_000 {
		d := e.Admit(0, frame64, plainVH)
		if d.N == 0 {
			lost++
		} else if d.Copy[0].Due != 5*ms {
			t.Fatalf("due %d, want 5ms", d.Copy[0].Due)
		}
	}
	within(t, "loss after setting the delay", lost, 10_000, 10)

	e.Reset()
	if e.Active() || e.Settings().Active() {
		t.Errorf("after Reset: %v", e.Settings())
	}
	for i := range 1000 {
		if d := e.Admit(int64(i), frame64, plainVH); d.N != 1 || d.Copy[0] != (Copy{Due: int64(i)}) {
			t.Fatalf("after Reset: %+v, want pass-through", d)
		}
	}
}

func TestEngineSeed(t *testing.T) {
	s := Settings{Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 20, Duplicate: 20,
		Corrupt: 20, Reorder: 20, Gap: 2, Rate: 1e9, Burst: 10000, Limit: MaxLimit, Seed: 99}
	run := func(e *Engine[int]) []Decision {
		var ds []Decision
		for i := range 2000 {
			ds = append(ds, e.Admit(int64(i)*1000, frame64, plainVH))
		}
		return ds
	}
	a, b := run(newEngine(t, s)), run(newEngine(t, s))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different decisions (-first +second):\n%s", diff)
	}
	s.Seed = 100
	if c := run(newEngine(t, s)); cmp.Equal(a, c) {
		t.Error("seeds 99 and 100 made the same decisions")
	}
	// Setting a seed restarts the sequence; the other direction's stream
	// differs.
	e := newEngine(t, Settings{Loss: 50, Seed: 1})
	first := run(e)
	must(t, e.Set(Update{Seed: ptr(uint64(1))}))
	if again := run(e); !cmp.Equal(first, again) {
		t.Error("setting the same seed again did not restart the sequence")
	}
	other, err := NewEngine[int](Settings{Loss: 50, Seed: 1}, 2)
	must(t, err)
	if cmp.Equal(first, run(other)) {
		t.Error("streams 1 and 2 made the same decisions")
	}
	// Seed 0 picks one and reports it.
	if e := newEngine(t, Settings{Loss: 1}); e.Settings().Seed == 0 {
		t.Error("seed 0 was not replaced by a random seed")
	}
}

func TestEngineAllocs(t *testing.T) {
	e := newEngine(t, Settings{Delay: time.Millisecond, Jitter: 100 * time.Microsecond, Loss: 1, Duplicate: 1,
		Corrupt: 1, Reorder: 1, Rate: 1e9, Burst: 10000})
	now := int64(0)
	step := func() {
		now += 10_000
		d := e.Admit(now, frame64, plainVH)
		for _, c := range d.Copy[:d.N] {
			e.Push(c.Due, 1)
		}
		drainAll(e, now)
	}
	for range 10_000 { // grow the queue to its steady size
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("Admit+Push+Pop: %v allocations per frame, want 0", n)
	}
}

func TestCorrupt(t *testing.T) {
	for _, tags := range []int{0, 1} {
		orig := udpFrame(t, tags, 100, 0xaa)
		l2 := header.EthernetLen + tags*header.VLANTagLen
		for bit := range uint64(2000) {
			f := slices.Clone(orig)
			vh := make(header.VirtioNet, header.VirtioNetLen)
			if !Corrupt(f, vh, bit*7919) {
				t.Fatal("Corrupt flipped nothing")
			}
			if n, at := bitsDiffer(orig, f); n != 1 || at < l2 {
				t.Fatalf("tags %d, bit %d: %d bits differ, first at byte %d; want 1 after byte %d", tags, bit, n, at, l2)
			}
		}
	}
	// A partial checksum is completed first, so the damage shows.
	frame, full, vh := tcpFrame(t, 500, 0)
	if !Corrupt(frame, vh, 12345) {
		t.Fatal("Corrupt flipped nothing")
	}
	if n, _ := bitsDiffer(full, frame); n != 1 || vh.NeedsCsum() {
		t.Errorf("partial-checksum frame: %d bits differ from the completed frame, NEEDS_CSUM %v; want 1, false", n, vh.NeedsCsum())
	}
	if checksumsOK(frame) {
		t.Error("a corrupted frame still has valid checksums")
	}
	// Nothing after the L2 header: nothing to flip.
	if Corrupt(make([]byte, header.EthernetLen), plainVH, 1) {
		t.Error("Corrupt flipped a bit of a bare Ethernet header")
	}
}

// TestQueueModel checks the held-frame queue (a FIFO ring for frames pushed
// in order, a heap for the others) against a sorted slice.
func TestQueueModel(t *testing.T) {
	type item struct {
		due int64
		id  int
	}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 0))
		e := newEngine(t, Settings{})
		var model []item // sorted by due, then push order
		now, id, most := int64(0), 0, 0
		for step := range 5000 {
			switch op := r.IntN(100); {
			case op < 60: // push: mostly in order, sometimes earlier
				due := now + r.Int64N(100)
				if r.IntN(3) > 0 && len(model) > 0 {
					due = max(due, model[len(model)-1].due)
				}
				e.Push(due, id)
				i, _ := slices.BinarySearchFunc(model, due, func(it item, d int64) int {
					if it.due <= d {
						return -1
					}
					return 1
				})
				model = slices.Insert(model, i, item{due, id})
				id++
			case op < 99: // pop what is due
				now += r.Int64N(10)
				for {
					v, ok := e.Pop(now)
					if !ok {
						break
					}
					if len(model) == 0 || model[0].id != v || model[0].due > now {
						t.Fatalf("seed %d step %d: Pop(%d) = %d, model %v", seed, step, now, v, model[:min(3, len(model))])
					}
					model = model[1:]
				}
				if len(model) > 0 && model[0].due <= now {
					t.Fatalf("seed %d step %d: frame %v due but not popped", seed, step, model[0])
				}
			default: // drain
				var got []int
				e.Drain(func(v int) { got = append(got, v) })
				slices.Sort(got)
				var want []int
				for _, it := range model {
					want = append(want, it.id)
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: Drain = %v, want %v", seed, step, got, want)
				}
				model = model[:0]
			}
			if e.Len() != len(model) {
				t.Fatalf("seed %d step %d: Len = %d, model %d", seed, step, e.Len(), len(model))
			}
			most = max(most, len(model))
			if due, ok := e.Next(); ok != (len(model) > 0) || (ok && due != model[0].due) {
				t.Fatalf("seed %d step %d: Next = %d, %v; model %v", seed, step, due, ok, model[:min(1, len(model))])
			}
			if len(model) > 0 && e.HeldUntil() < model[len(model)-1].due {
				t.Fatalf("seed %d step %d: HeldUntil %d before the last due %d", seed, step, e.HeldUntil(), model[len(model)-1].due)
			}
		}
		if most < 40 {
			t.Errorf("seed %d: at most %d frames held; the ring never grew past its first size", seed, most)
		}
	}
}
