package impair

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/tap/taptest"
)

// rig is a Port over an in-memory port with a fake clock, inside a
// synctest bubble: synctest.Wait returns once every goroutine of the test
// is blocked, so a test can check what has (not) been written without
// sleeping.
type rig struct {
	t     *testing.T
	clk   *fakeClock
	inner *taptest.Port
	p     *Port
	got   chan taptest.Frame // frames Read returned, once reading
}

// withRig runs f in a bubble, then closes the Port and checks that its
// goroutines stopped and every buffer came back. synctest.Test itself fails
// if any goroutine of the bubble is left.
func withRig(t *testing.T, f func(r *rig)) {
	synctest.Test(t, func(t *testing.T) {
		clk := &fakeClock{}
		inner := taptest.New("p", 4096)
		r := &rig{t: t, clk: clk, inner: inner, p: New(inner, Options{Clock: clk})}
		f(r)
		if err := r.p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := r.p.Close(); !errors.Is(err, port.ErrClosed) {
			t.Errorf("second Close = %v, want ErrClosed", err)
		}
		synctest.Wait()
		if n := r.p.running.Load(); n != 0 {
			t.Errorf("%d goroutines still running after Close", n)
		}
		for _, d := range r.p.dirs(Both) {
			if d.pool.out != 0 {
				t.Errorf("%s: %d buffers still out after Close", d.name, d.pool.out)
			}
		}
	})
}

func (r *rig) set(dir Direction, args string) {
	r.t.Helper()
	u, err := ParseUpdate(strings.Fields(args))
	must(r.t, err)
	must(r.t, r.p.Set(dir, u))
}

func (r *rig) write(frames ...[]byte) {
	r.t.Helper()
	n, err := r.p.Write(batch(frames...), port.WriteOffset)
	if err != nil || n != len(frames) {
		r.t.Fatalf("Write = %d, %v; want %d", n, err, len(frames))
	}
}

// advance moves the clock and waits for the Port to act on it.
func (r *rig) advance(d time.Duration) {
	synctest.Wait()
	r.clk.Advance(d)
	synctest.Wait()
}

// written returns the frames written to the inner port so far.
func (r *rig) written() [][]byte {
	var out [][]byte
	for r.inner.Pending() > 0 {
		f, _ := r.inner.Recv(time.Hour)
		out = append(out, f.Data)
	}
	return out
}

// startReading runs a reader of the Port, as a datapath worker does, until
// Close.
func (r *rig) startReading() {
	r.got = make(chan taptest.Frame, 4096)
	go func() {
		bufs := make([][]byte, r.p.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, port.BufferSize)
		}
		sizes := make([]int, len(bufs))
		for {
			n, err := r.p.Read(bufs, sizes, port.ReadOffset)
			for i := range n {
				var f taptest.Frame
				copy(f.Virtio[:], bufs[i][port.ReadOffset-header.VirtioNetLen:])
				f.Data = slices.Clone(bufs[i][port.ReadOffset : port.ReadOffset+sizes[i]])
				r.got <- f
			}
			if err != nil {
				return
			}
		}
	}()
}

// read returns the frames Read has returned so far.
func (r *rig) read() [][]byte {
	var out [][]byte
	for len(r.got) > 0 {
		out = append(out, (<-r.got).Data)
	}
	return out
}

// frames returns n distinct small frames.
func frames(t *testing.T, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = udpFrame(t, 0, 20, byte(i))
	}
	return out
}

func TestPassThrough(t *testing.T) {
	withRig(t, func(r *rig) {
		fs := frames(t, 3)
		r.write(fs...)
		if diff := cmp.Diff(fs, r.written()); diff != "" {
			t.Errorf("written frames (-want +got):\n%s", diff)
		}
		// Read: virtio header and frame unchanged.
		frame, _, vh := tcpFrame(t, 5000, 1448)
		var tf taptest.Frame
		copy(tf.Virtio[:], vh)
		tf.Data = frame
		r.inner.InjectVirtio(tf)
		r.startReading()
		synctest.Wait()
		f := <-r.got
		if !bytes.Equal(f.Data, frame) || !bytes.Equal(f.Virtio[:], vh) {
			t.Error("a frame read through the Port changed")
		}
		if r.p.running.Load() != 0 {
			t.Error("a Port without impairments started a goroutine")
		}
	})
}

func TestPassThroughAllocs(t *testing.T) {
	inner := &nullPort{frame: make([]byte, 60)}
	p := New(inner, Options{})
	defer p.Close()
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = make([]byte, port.BufferSize)
	}
	sizes := make([]int, len(bufs))
	if n := testing.AllocsPerRun(100, func() { p.Write(bufs, port.ReadOffset) }); n != 0 {
		t.Errorf("Write without impairments: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { p.Read(bufs, sizes, port.ReadOffset) }); n != 0 {
		t.Errorf("Read without impairments: %v allocations, want 0", n)
	}
	// Impaired, frames due at once go without a copy.
	must(t, p.Set(Out, Update{Loss: ptr(50.0), Duplicate: ptr(10.0)}))
	if n := testing.AllocsPerRun(100, func() { p.Write(bufs, port.ReadOffset) }); n != 0 {
		t.Errorf("Write with loss and duplication: %v allocations, want 0", n)
	}
}

func TestHeldFramesAllocs(t *testing.T) {
	clk := &fakeClock{}
	p := New(&nullPort{}, Options{Clock: clk})
	defer p.Close()
	must(t, p.Set(Out, Update{Delay: ptr(time.Millisecond), Corrupt: ptr(5.0)}))
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = append(make([]byte, port.WriteOffset), udpFrame(t, 0, 100, byte(i))...)
	}
	step := func() {
		p.Write(bufs, port.WriteOffset) // holds these, writes the previous ones
		clk.Advance(time.Millisecond)
	}
	for range 100 {
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("Write with a delay, steady state: %v allocations, want 0", n)
	}
}

func TestOutDelay(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Out, "delay 10ms")
		fs := frames(t, 6)
		r.write(fs[:3]...)
		r.advance(5 * time.Millisecond)
		r.write(fs[3:]...)
		r.advance(5*time.Millisecond - 1)
		if got := r.written(); len(got) != 0 {
			t.Fatalf("%d frames written 1ns before their delay", len(got))
		}
		r.advance(1)
		if diff := cmp.Diff(fs[:3], r.written()); diff != "" {
			t.Errorf("at 10ms (-want +got):\n%s", diff)
		}
		r.advance(5 * time.Millisecond)
		if diff := cmp.Diff(fs[3:], r.written()); diff != "" {
			t.Errorf("at 15ms (-want +got):\n%s", diff)
		}
		if s := r.p.Stats(Out); s.Delayed.Frames != 6 || s.Queued != 0 {
			t.Errorf("stats %+v, want 6 delayed, none queued", s)
		}
	})
}

func TestOutRate(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Out, "rate 8mbit") // a byte per microsecond, no burst
		f := udpFrame(t, 0, 1000-42, 1)
		r.write(f, f, f, f)
		at := func() int { return len(r.written()) }
		synctest.Wait()
		if n := at(); n != 1 {
			t.Fatalf("at 0: %d frames written, want 1", n)
		}
		for i := 1; i <= 3; i++ {
			r.advance(time.Millisecond - 1)
			if n := at(); n != 0 {
				t.Fatalf("frame %d early", i)
			}
			r.advance(1)
			if n := at(); n != 1 {
				t.Fatalf("at %dms: %d frames written, want 1", i, n)
			}
		}
	})
}

func TestOutJitterReorders(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Out, "delay 10ms 10ms seed 1 limit 5000")
		fs := frames(t, 200)
		for _, f := range fs {
			r.write(f)
			r.advance(100 * time.Microsecond)
		}
		r.advance(30 * time.Millisecond)
		got := r.written()
		if len(got) != len(fs) {
			t.Fatalf("%d frames written, want %d", len(got), len(fs))
		}
		if cmp.Equal(fs, got) {
			t.Error("10ms of jitter on frames 100us apart kept their order")
		}
		// With a rate set, order is kept (as netem).
		r.set(Out, "rate 1gbit")
		for _, f := range fs {
			r.write(f)
			r.advance(100 * time.Microsecond)
		}
		r.advance(30 * time.Millisecond)
		if diff := cmp.Diff(fs, r.written()); diff != "" {
			t.Errorf("jitter with a rate reordered frames (-want +got):\n%s", diff)
		}
	})
}

func TestOutChanges(t *testing.T) {
	withRig(t, func(r *rig) {
		fs := frames(t, 4)
		r.set(Out, "delay 10ms loss 0%")
		r.write(fs[0])
		// Changing the loss keeps the delay.
		r.set(Out, "loss 0.0001%")
		if s := r.p.Settings(Out); s.Delay != 10*time.Millisecond {
			t.Errorf("settings after a loss update: %v", s)
		}
		r.write(fs[1])
		r.advance(time.Millisecond)
		// Reset: new frames pass at once, held ones keep their time.
		must(t, r.p.Reset(Out))
		r.write(fs[2])
		if diff := cmp.Diff(fs[2:3], r.written()); diff != "" {
			t.Errorf("after Reset (-want +got):\n%s", diff)
		}
		r.advance(9 * time.Millisecond)
		if diff := cmp.Diff(fs[:2], r.written()); diff != "" {
			t.Errorf("held frames after Reset (-want +got):\n%s", diff)
		}
		if s := r.p.Show(); s != "out none\nin none" {
			t.Errorf("Show() = %q", s)
		}
		// A failed update of both directions changes neither.
		r.set(In, "delay 1ms")
		if err := r.p.Set(Both, Update{Reorder: ptr(5.0)}); err == nil {
			t.Error("reorder without a delay on out was accepted")
		} else if err.Error() != "set out impairments: reorder needs a delay: reordered frames are those sent before the delayed ones" {
			t.Errorf("error %q", err)
		}
		if s := r.p.Settings(In); s.Reorder != 0 {
			t.Errorf("in changed by a failed update: %v", s)
		}
	})
}

func TestOutDropsCounted(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Out, "delay 1s limit 5")
		r.write(frames(t, 8)...)
		r.set(Out, "loss 100%")
		r.write(frames(t, 3)...)
		want := map[string]uint64{"impair-queue-full": 3, "impair-loss": 3}
		if diff := cmp.Diff(want, r.p.DeviceDrops()); diff != "" {
			t.Errorf("DeviceDrops (-want +got):\n%s", diff)
		}
		r.advance(time.Second)
		if n := len(r.written()); n != 5 {
			t.Errorf("%d frames written, want the 5 held", n)
		}
	})
	// The inner port's own drops are kept.
	p := New(&nullPort{drops: map[string]uint64{"truncated": 2}}, Options{})
	if diff := cmp.Diff(map[string]uint64{"truncated": 2}, p.DeviceDrops()); diff != "" {
		t.Errorf("DeviceDrops over a counting port (-want +got):\n%s", diff)
	}
	p.Close()
}

func TestOutCorrupt(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Out, "corrupt 100%")
		f := udpFrame(t, 1, 200, 3)
		orig := slices.Clone(f)
		r.write(f)
		got := r.written()
		if len(got) != 1 {
			t.Fatalf("%d frames written, want 1", len(got))
		}
		if n, at := bitsDiffer(orig, got[0]); n != 1 || at < header.EthernetLen+header.VLANTagLen {
			t.Errorf("%d bits differ, first at %d; want 1 after the tag", n, at)
		}
		if !bytes.Equal(f, orig) {
			t.Error("the caller's frame was modified")
		}

		// A super-frame is split, and one bit of one segment flipped.
		frame, _, vh := tcpFrame(t, 10000, 1448)
		n := offload.MaxSegments(frame, vh)
		want := make([][]byte, n)
		sizes := make([]int, n)
		for i := range want {
			want[i] = make([]byte, port.WriteOffset+len(frame))
		}
		_, err := offload.Segment(frame, vh, want, sizes, port.WriteOffset)
		must(t, err)
		buf := append(slices.Clone([]byte(vh)), frame...)
		if k, err := r.p.Write([][]byte{buf}, port.WriteOffset); k != 1 || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
		segs := r.written()
		if len(segs) != n {
			t.Fatalf("corrupted super-frame written as %d frames, want its %d segments", len(segs), n)
		}
		flipped := 0
		for i, s := range segs {
			d, _ := bitsDiffer(want[i][port.WriteOffset:port.WriteOffset+sizes[i]], s)
			flipped += d
			if checksumsOK(s) != (d == 0) {
				t.Errorf("segment %d: %d bits flipped, checksums valid %v", i, d, checksumsOK(s))
			}
		}
		if flipped != 1 {
			t.Errorf("%d bits flipped over the segments, want 1", flipped)
		}
		if s := r.p.Stats(Out); s.Corrupted.Frames != 2 {
			t.Errorf("%d frames counted corrupted, want 2", s.Corrupted.Frames)
		}
	})
}

func TestInDelay(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(In, "delay 10ms")
		r.startReading()
		fs := frames(t, 5)
		for _, f := range fs[:3] {
			r.inner.Inject(f)
		}
		r.advance(5 * time.Millisecond)
		for _, f := range fs[3:] {
			r.inner.Inject(f)
		}
		r.advance(5*time.Millisecond - 1)
		if got := r.read(); len(got) != 0 {
			t.Fatalf("%d frames read before their delay", len(got))
		}
		r.advance(1)
		if diff := cmp.Diff(fs[:3], r.read()); diff != "" {
			t.Errorf("at 10ms (-want +got):\n%s", diff)
		}
		r.advance(5 * time.Millisecond)
		if diff := cmp.Diff(fs[3:], r.read()); diff != "" {
			t.Errorf("at 15ms (-want +got):\n%s", diff)
		}

		// Back to pass-through: once the pump has seen a frame after
		// the change, it stops and Read reads the inner port itself.
		must(t, r.p.Reset(In))
		r.inner.Inject(fs[0])
		synctest.Wait()
		if diff := cmp.Diff(fs[:1], r.read()); diff != "" {
			t.Errorf("after Reset (-want +got):\n%s", diff)
		}
		if n := r.p.running.Load(); n != 0 {
			t.Errorf("%d goroutines running after Reset", n)
		}
		r.inner.Inject(fs[1])
		synctest.Wait()
		if diff := cmp.Diff(fs[1:2], r.read()); diff != "" {
			t.Errorf("pass-through (-want +got):\n%s", diff)
		}

		// And impaired again: loss 100% drops what comes in.
		r.set(In, "loss 100%")
		r.inner.Inject(fs[2]) // read directly: the Read in progress
		synctest.Wait()
		r.inner.Inject(fs[3]) // lost
		synctest.Wait()
		if diff := cmp.Diff(fs[2:3], r.read()); diff != "" {
			t.Errorf("with loss 100%% (-want +got):\n%s", diff)
		}
		if d := r.p.DeviceDrops()["impair-loss"]; d != 1 {
			t.Errorf("impair-loss = %d, want 1", d)
		}
	})
}

func TestInDuplicateAndRate(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(In, "duplicate 100% rate 8mbit burst 2000")
		r.startReading()
		f := udpFrame(t, 0, 1000-42, 9)
		r.inner.Inject(f)
		r.inner.Inject(f)
		synctest.Wait()
		if n := len(r.read()); n != 2 {
			t.Fatalf("at 0: %d frames read, want the burst of 2", n)
		}
		for i := 1; i <= 2; i++ {
			r.advance(time.Millisecond - 1)
			if n := len(r.read()); n != 0 {
				t.Fatalf("%d frames early", n)
			}
			r.advance(1)
			if n := len(r.read()); n != 1 {
				t.Fatalf("at %dms: %d frames, want 1", i, n)
			}
		}
	})
}

func TestCloseWithHeldFrames(t *testing.T) {
	withRig(t, func(r *rig) {
		r.set(Both, "delay 1h")
		r.startReading()
		r.write(frames(t, 10)...)
		for _, f := range frames(t, 10) {
			r.inner.Inject(f)
		}
		synctest.Wait()
		if s := r.p.Stats(Both); s.Queued != 20 {
			t.Errorf("%d frames held, want 20", s.Queued)
		}
		if n := r.p.running.Load(); n != 2 {
			t.Errorf("%d goroutines running, want the releaser and the pump", n)
		}
		// withRig closes the Port and checks goroutines and buffers.
	})
	// Write and Read after Close.
	p := New(taptest.New("x", 1), Options{})
	must(t, p.Set(Both, Update{Delay: ptr(time.Second)}))
	p.Close()
	if _, err := p.Write(batch(make([]byte, 60)), port.WriteOffset); !errors.Is(err, port.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if _, err := p.Read([][]byte{make([]byte, port.BufferSize)}, []int{0}, port.ReadOffset); !errors.Is(err, port.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
}

func TestSystemClock(t *testing.T) {
	// The real clock, in a bubble: its time is synctest's fake time.
	synctest.Test(t, func(t *testing.T) {
		inner := taptest.New("p", 16)
		p := New(inner, Options{})
		must(t, p.Set(Out, Update{Delay: ptr(20 * time.Millisecond)}))
		start := time.Now()
		p.Write(batch(frames(t, 1)...), port.WriteOffset)
		if _, ok := inner.Recv(time.Second); !ok {
			t.Fatal("frame never written")
		}
		if d := time.Since(start); d != 20*time.Millisecond {
			t.Errorf("frame written after %v, want 20ms", d)
		}
		p.Close()
	})
}
