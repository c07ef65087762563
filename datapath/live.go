package datapath

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/trace"
)

// Live tracing (vswitchctl trace --live). A LiveTracer asks for the
// decisions the pipeline takes for the next frames that match it. When a
// batch is read, the worker runs each matching frame through the dry-run
// path (Explain's, on a copy, with the batch's snapshot and the live MAC
// table and conntrack) just before it processes the batch for real, and
// hands the trace to the tracer. So a trace is what the pipeline decides
// for that frame, computed by the same code, except that it does not see
// what earlier frames of the same batch changed (a MAC learned, a
// connection opened by the frame just before it).
//
// With no tracer attached a worker pays one atomic load per batch. With
// tracers, a frame of a port nobody traces costs a bit test; a matching
// frame costs a dry run, done only while the tracer's
// ring has room, so a reader that falls behind loses traces (counted) and
// bounds the work.

// liveSet is the tracers of one datapath; immutable once stored.
type liveSet []*LiveTracer

// DefaultLiveDepth is the number of traces a LiveTracer's ring holds.
const DefaultLiveDepth = 64

// LiveRecord is the trace of one frame a worker received.
type LiveRecord struct {
	Port port.ID
	Time time.Time
	// Frame is the frame as it arrived (a copy), with its virtio-net
	// header in Virtio.
	Frame  []byte
	Virtio [header.VirtioNetLen]byte
	Trace  *trace.Trace
}

// LiveTracer records the pipeline's decisions for the next frames that
// match it. Make one with NewLiveTracer and attach it with AddLiveTracer.
type LiveTracer struct {
	ports *portSet // immutable; nil: every port
	match func(frame []byte) bool

	// left is how many frames may still be traced; negative: no limit.
	left atomic.Int64
	ring chan *LiveRecord // filled by workers, drained by the reader

	missed atomic.Uint64
	stop   sync.Once
	done   chan struct{}
}

// NewLiveTracer returns a tracer of the frames received on ports (nil or
// empty: every port) that match accepts (nil: all), for count frames (0:
// until removed), with a ring of depth traces (0: DefaultLiveDepth).
func NewLiveTracer(ports []port.ID, match func([]byte) bool, count, depth int) *LiveTracer {
	if depth <= 0 {
		depth = DefaultLiveDepth
	}
	lt := &LiveTracer{match: match, ring: make(chan *LiveRecord, depth), done: make(chan struct{})}
	if len(ports) > 0 {
		lt.ports = new(portSet)
		for _, p := range ports {
			lt.ports.add(p)
		}
	}
	if count > 0 {
		lt.left.Store(int64(count))
	} else {
		lt.left.Store(-1)
	}
	return lt
}

// Records is where the traces arrive, in the order workers made them
// (frames of different ports may interleave).
func (lt *LiveTracer) Records() <-chan *LiveRecord { return lt.ring }

// Done is closed when the tracer is removed.
func (lt *LiveTracer) Done() <-chan struct{} { return lt.done }

// Missed returns how many matching frames went untraced because the ring
// was full.
func (lt *LiveTracer) Missed() uint64 { return lt.missed.Load() }

// take reserves one of the frames left to trace.
func (lt *LiveTracer) take() bool {
	for {
		n := lt.left.Load()
		switch {
		case n < 0:
			return true
		case n == 0:
			return false
		case lt.left.CompareAndSwap(n, n-1):
			return true
		}
	}
}

// AddLiveTracer attaches lt; workers trace from their next batch.
func (dp *Datapath) AddLiveTracer(lt *LiveTracer) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var ls liveSet
	if old := dp.live.Load(); old != nil {
		ls = append(ls, *old...)
	}
	ls = append(ls, lt)
	dp.live.Store(&ls)
}

// RemoveLiveTracer detaches lt and closes its Done channel. Traces already
// in its ring stay there for the reader. Removing a tracer that is not
// attached only closes Done.
func (dp *Datapath) RemoveLiveTracer(lt *LiveTracer) {
	dp.mu.Lock()
	var ls liveSet
	if old := dp.live.Load(); old != nil {
		for _, o := range *old {
			if o != lt {
				ls = append(ls, o)
			}
		}
	}
	if len(ls) == 0 {
		dp.live.Store(nil)
	} else {
		dp.live.Store(&ls)
	}
	dp.mu.Unlock()
	lt.stop.Do(func() { close(lt.done) })
}

// liveBatch traces the matching frames of the batch the worker just read,
// before it processes them. Its whole cost with no tracer is one atomic
// load.
func (w *worker) liveBatch(n int) {
	if ls := w.dp.live.Load(); ls != nil {
		w.traceBatch(*ls, n)
	}
}

// traceBatch is liveBatch with tracers attached.
func (w *worker) traceBatch(ls liveSet, n int) {
	now := w.dp.Now()
	for i := range n {
		data := w.bufs[i][port.ReadOffset : port.ReadOffset+w.sizes[i]]
		vh := w.bufs[i][port.ReadOffset-header.VirtioNetLen : port.ReadOffset]
		var rec *LiveRecord // one dry run per frame, shared by the tracers that want it
		for _, lt := range ls {
			if lt.ports != nil && !lt.ports.has(w.ps.id) || lt.match != nil && !lt.match(data) {
				continue
			}
			if len(lt.ring) == cap(lt.ring) {
				lt.missed.Add(1)
				continue
			}
			if !lt.take() {
				continue
			}
			if rec == nil {
				rec = w.explainLive(data, vh, now)
			}
			select {
			case lt.ring <- rec:
			default: // another worker filled it meanwhile: give the frame back
				lt.missed.Add(1)
				if lt.left.Load() >= 0 {
					lt.left.Add(1)
				}
			}
		}
	}
}

// explainLive runs a copy of a received frame through the dry-run path
// with the worker's snapshot, as Explain does.
func (w *worker) explainLive(data, vh []byte, now int64) *LiveRecord {
	rec := &LiveRecord{Port: w.ps.id, Time: time.Now(), Frame: append([]byte(nil), data...), Trace: new(trace.Trace)}
	copy(rec.Virtio[:], vh)
	dw := &worker{dp: w.dp, ps: w.ps, snap: w.snap, dry: rec.Trace}
	buf := new(port.Buffer)[:]
	f := frame{buf: buf, start: port.ReadOffset, end: port.ReadOffset + copy(buf[port.ReadOffset:], data), in: w.ps.id}
	copy(buf[port.ReadOffset-header.VirtioNetLen:], vh)
	dw.input(&f, w.ps.cfg.Load(), now)
	if t := rec.Trace; t.Verdict == "" {
		if len(t.Outputs) > 0 {
			t.Verdict = trace.Delivered
		} else {
			t.Verdict = trace.Consumed
		}
	}
	return rec
}
