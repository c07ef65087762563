package datapath

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/trace"
)

// Live tracing: the traces of real frames, taken by the worker just before
// it forwards them, are what Explain says of the same frame at that
// moment; forwarding is unchanged; the count, the ports, the filter and a
// full ring are honoured; removing the last tracer disarms the workers.

// recv waits up to a second for a live trace.
func recvLive(t *testing.T, lt *LiveTracer) *LiveRecord {
	t.Helper()
	select {
	case r := <-lt.Records():
		return r
	case <-time.After(time.Second):
		t.Fatal("no live trace within a second")
		return nil
	}
}

// noLive checks that no trace arrives for a while.
func noLive(t *testing.T, lt *LiveTracer) {
	t.Helper()
	select {
	case r := <-lt.Records():
		t.Fatalf("unexpected live trace of a frame on port %d:\n%s", r.Port, r.Trace)
	case <-time.After(100 * time.Millisecond):
	}
}

// cmpTrace compares traces by what they say (not their planned state).
var cmpTrace = cmpopts.IgnoreFields(trace.Trace{}, "Hypothetical")

func TestLiveTrace(t *testing.T) {
	s := newExplainSwitch(t)
	lt := NewLiveTracer([]port.ID{s.ids["a1"]}, nil, 2, 0)
	s.dp.AddLiveTracer(lt)
	t.Cleanup(func() { s.dp.RemoveLiveTracer(lt) })

	// Each frame of a1 is traced as Explain would have explained it then,
	// and still forwarded for real.
	frames := [][]byte{
		tcpFrame(t, exA1, exA2, ipA1, ipA2, 1000, 80, true, false, 0),    // a1's MAC not learned yet
		tcpFrame(t, exA1, exA2, ipA1, ipA2, 1000, 80, false, true, 0),    // now it is
		tcpFrame(t, exA1, exA2, ipOther, ipA2, 1000, 80, false, true, 0), // spoofed: beyond the count
		tcpFrame(t, exB1, exA2, ipB1, ipA2, 1000, 80, false, true, 0),    // not traced: another port
	}
	for i, f := range frames[:2] {
		var want trace.Trace
		if err := s.dp.Explain(s.ids["a1"], f, nil, &want); err != nil {
			t.Fatal(err)
		}
		s.ports["a1"].Inject(f)
		r := recvLive(t, lt)
		if r.Port != s.ids["a1"] || !bytes.Equal(r.Frame, f) || r.Time.IsZero() {
			t.Errorf("frame %d: record of port %d, frame %x, time %v", i, r.Port, r.Frame, r.Time)
		}
		if diff := cmp.Diff(&want, r.Trace, cmpTrace); diff != "" {
			t.Errorf("frame %d: live trace differs from Explain (-explain +live):\n%s", i, diff)
		}
		if got := s.expect("a2"); !bytes.Equal(got.Data, f) {
			t.Errorf("frame %d: forwarded %x, want %x", i, got.Data, f)
		}
	}
	// The count is spent: the next frame of a1 goes untraced, and is
	// dropped as before.
	s.ports["a1"].Inject(frames[2])
	noLive(t, lt)
	eventuallyDrop(t, s.testSwitch, "a1", DropSpoofed)
	s.ports["b1"].Inject(frames[3])
	noLive(t, lt)
	if lt.Missed() != 0 {
		t.Errorf("missed %d, want 0", lt.Missed())
	}

	s.dp.RemoveLiveTracer(lt)
	select {
	case <-lt.Done():
	default:
		t.Error("Done not closed by RemoveLiveTracer")
	}
	if s.dp.live.Load() != nil {
		t.Error("the datapath's tracer set outlives its last tracer")
	}
}

// TestLiveTraceFilterAndRing: only frames the filter accepts are traced,
// on every port when none is named; with the ring full (nobody reading),
// frames are counted as missed and not traced, and forwarding goes on.
func TestLiveTraceFilterAndRing(t *testing.T) {
	s := newExplainSwitch(t)
	isUDP := func(f []byte) bool {
		var p header.Parsed
		return p.Decode(f) == nil && p.Proto == header.ProtoUDP
	}
	lt := NewLiveTracer(nil, isUDP, 0, 1)
	s.dp.AddLiveTracer(lt)
	t.Cleanup(func() { s.dp.RemoveLiveTracer(lt) })
	other := NewLiveTracer([]port.ID{s.ids["trunk"]}, nil, 0, 0) // a second tracer on a port with no traffic
	s.dp.AddLiveTracer(other)
	t.Cleanup(func() { s.dp.RemoveLiveTracer(other) })

	s.ports["a1"].Inject(tcpFrame(t, exA1, exA2, ipA1, ipA2, 1000, 80, true, false, 0))
	s.expect("a2")
	udp := testframe.IPv4{Eth: testframe.Eth{Src: exB1, Dst: header.Broadcast}, Proto: header.ProtoUDP,
		Src: netip.AddrPortFrom(ipB1, 68), Dst: netip.AddrPortFrom(netip.MustParseAddr("10.2.0.255"), 67)}.Frame(t)
	for range 3 {
		s.ports["b1"].Inject(udp)
		s.expect("trunk") // flooded in vlan 20, one at a time
	}
	r := recvLive(t, lt)
	if r.Port != s.ids["b1"] || r.Trace.Verdict != trace.Delivered || !bytes.Equal(r.Frame, udp) {
		t.Errorf("live trace: port %d, %s", r.Port, r.Trace)
	}
	noLive(t, lt)
	if got := lt.Missed(); got != 2 {
		t.Errorf("missed %d, want 2 (a ring of one, never read)", got)
	}
	noLive(t, other)
	s.dp.RemoveLiveTracer(other)
	if ls := s.dp.live.Load(); ls == nil || len(*ls) != 1 {
		t.Errorf("tracers attached after removing one of two: %v, want 1", ls)
	}
}

// TestLiveTraceOffAllocs: with no tracer anywhere, a batch still allocates
// nothing (liveBatch is one atomic load).
func TestLiveTraceOffAllocs(t *testing.T) {
	w, _, done := benchWorker(t, 1, access(10))
	defer done()
	w.batch(len(w.bufs))
	if allocs := testing.AllocsPerRun(100, func() { w.batch(len(w.bufs)) }); allocs != 0 {
		t.Errorf("a batch allocates %.1f times with live tracing off, want 0", allocs)
	}
}
