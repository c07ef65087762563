package datapath

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// Live capture. A Tap asks for copies of the frames crossing some ports
// (and the router); workers copy matching frames into the tap's bounded
// ring, and the tap's reader writes them out at its own pace. With no tap
// attached a worker pays one atomic load per batch; with taps, a frame of
// a port nobody captures costs a map lookup. A reader that falls behind
// loses frames (counted), never slows forwarding.

// Direction says which way a captured frame crossed its port, seen from
// the port: In is a frame the switch received on it, Out one it sent. For
// the router's pseudo-port, In is a frame the router handed to the switch
// (forwarded or built), Out one the switch handed to the router.
type Direction uint8

// Directions.
const (
	In Direction = iota + 1
	Out
)

func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Record is one captured frame.
type Record struct {
	Port port.ID
	Dir  Direction
	Time time.Time
	// Len is the frame's length as it crossed the switch (a super-frame's
	// whole length); Data holds its first Snaplen bytes.
	Len  int
	Data []byte
	// Virtio is the frame's virtio-net header: GSO says it was an
	// offloaded super-frame, NEEDS_CSUM that its checksum was left to
	// fill.
	Virtio [header.VirtioNetLen]byte
}

// DefaultTapDepth is the number of frames a tap's ring holds.
const DefaultTapDepth = 512

// Tap is a capture: the frames of a set of ports, filtered, into a ring.
type Tap struct {
	ports   *portSet // immutable
	match   func(frame []byte) bool
	snaplen int

	ring chan *Record // filled by workers, drained by the reader
	free chan *Record // records the reader gave back

	matched atomic.Uint64
	dropped atomic.Uint64
	stop    sync.Once
	done    chan struct{}
}

// NewTap returns a tap for the given ports (port.Router for the router's
// frames) that keeps frames match accepts (nil: all), each cut to snaplen
// bytes (0: whole), with a ring of depth frames (0: DefaultTapDepth).
// Attach it with AddTap.
func NewTap(ports []port.ID, match func([]byte) bool, snaplen, depth int) *Tap {
	if depth <= 0 {
		depth = DefaultTapDepth
	}
	if snaplen <= 0 || snaplen > port.MaxFrameSize {
		snaplen = port.MaxFrameSize
	}
	t := &Tap{ports: new(portSet), match: match, snaplen: snaplen,
		ring: make(chan *Record, depth), free: make(chan *Record, depth), done: make(chan struct{})}
	for _, p := range ports {
		t.ports.add(p)
	}
	for range depth {
		t.free <- new(Record)
	}
	return t
}

// Records is where captured frames arrive. Give each back with Release.
func (t *Tap) Records() <-chan *Record { return t.ring }

// Done is closed when the tap is removed.
func (t *Tap) Done() <-chan struct{} { return t.done }

// Release returns a record to the tap's ring.
func (t *Tap) Release(r *Record) {
	select {
	case t.free <- r:
	default:
	}
}

// Matched returns how many frames matched the tap; Dropped how many of
// them were lost because the reader was behind.
func (t *Tap) Matched() uint64 { return t.matched.Load() }

// Dropped returns how many matching frames the ring had no room for.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// offer copies a frame crossing port p into the tap, if it wants it.
func (t *Tap) offer(p port.ID, dir Direction, frame []byte, vh []byte) {
	if !t.ports.has(p) {
		return
	}
	if t.match != nil && !t.match(frame) {
		return
	}
	t.matched.Add(1)
	var r *Record
	select {
	case r = <-t.free:
	default:
		t.dropped.Add(1)
		return
	}
	n := min(len(frame), t.snaplen)
	if cap(r.Data) < n {
		r.Data = make([]byte, n, max(n, 2048))
	}
	r.Data = r.Data[:n]
	copy(r.Data, frame)
	r.Port, r.Dir, r.Time, r.Len = p, dir, time.Now(), len(frame)
	r.Virtio = [header.VirtioNetLen]byte{}
	copy(r.Virtio[:], vh)
	t.ring <- r // never blocks: the ring holds every record there is
}

// portSet is a set of port IDs: a bit each, so a worker asks it about a
// frame's port in one load.
type portSet [(1 << 16) / 64]uint64

func (s *portSet) add(p port.ID)      { s[p>>6] |= 1 << (p & 63) }
func (s *portSet) has(p port.ID) bool { return s[p>>6]&(1<<(p&63)) != 0 }

// taps is the set of attached taps, immutable once published.
type taps []*Tap

func (ts taps) offer(p port.ID, dir Direction, frame, vh []byte) {
	for _, t := range ts {
		t.offer(p, dir, frame, vh)
	}
}

// AddTap attaches t; workers start copying from their next batch.
func (dp *Datapath) AddTap(t *Tap) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var ts taps
	if old := dp.taps.Load(); old != nil {
		ts = append(ts, *old...)
	}
	ts = append(ts, t)
	dp.taps.Store(&ts)
}

// RemoveTap detaches t and closes its Done channel. Records already in its
// ring stay there for the reader.
func (dp *Datapath) RemoveTap(t *Tap) {
	dp.mu.Lock()
	var ts taps
	if old := dp.taps.Load(); old != nil {
		for _, o := range *old {
			if o != t {
				ts = append(ts, o)
			}
		}
	}
	if len(ts) == 0 {
		dp.taps.Store(nil)
	} else {
		dp.taps.Store(&ts)
	}
	dp.mu.Unlock()
	t.stop.Do(func() { close(t.done) })
}
