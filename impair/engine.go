package impair

import (
	"math"
	"math/rand/v2"

	"github.com/vswitchd/vswitchd/header"
)

// Engine decides the fate of each frame of one direction — lost,
// duplicated, corrupted, reordered, and when each copy is due — and holds
// the frames that are delayed in the order they are due. It is pure logic:
// time is passed in (nanoseconds on any monotonic scale), randomness comes
// from a seeded source, and nothing runs in the background. T is the
// caller's handle for a held frame (the Port uses a pointer to its
// buffer). An Engine is not safe for concurrent use.
type Engine[T any] struct {
	set    Settings
	p      params
	pcg    rand.PCG
	rng    *rand.Rand // draws from pcg
	stream uint64

	tb      bucket
	counter int // frames delayed since the last reordered one (netem q->counter)

	// Held frames are ordered by (due, seq). Most arrive in that order
	// (a constant delay, a rate): they go to a FIFO ring, O(1) each way.
	// The others (jitter, reordered frames) go to a min-heap, and Pop
	// takes the earlier of the two heads.
	ring      []entry[T] // FIFO: ring[head], ring[head+1]… (mod len), n of them
	head, n   int
	q         []entry[T] // min-heap
	seq       uint64
	heldUntil int64 // the latest due time pushed since nothing was last held

	stats Stats
}

// params are Settings compiled for the per-frame path.
type params struct {
	active, queues bool // anything set; delay, jitter or rate set
	delay, jitter  int64
	normal         bool
	loss, dup      uint64 // thresholds over 2^53 (see threshold)
	corrupt        uint64
	reorder        uint64
	gap            int
	limit          int
	rate           bool
}

type entry[T any] struct {
	due int64
	seq uint64
	v   T
}

// Reason says why Admit dropped a frame.
type Reason uint8

// Drop reasons.
const (
	Kept      Reason = iota // not dropped
	Lost                    // the loss probability hit
	QueueFull               // Limit frames were already held
)

// Copy is the fate of one copy of an admitted frame.
type Copy struct {
	// Due is when the copy leaves, on the caller's clock; Due equal to the
	// now passed to Admit means at once.
	Due int64
	// Corrupt says to flip one bit of the copy; Bit is the random number
	// that picks it (see Corrupt).
	Corrupt bool
	Bit     uint64
	// Reordered says the copy skipped the delay (netem's reorder).
	Reordered bool
}

// Decision is the fate of one frame.
type Decision struct {
	// N is the number of copies to deliver: 0 (dropped, see Drop), 1, or 2
	// (duplicated).
	N    int
	Drop Reason
	Copy [2]Copy
}

// Count is a number of frames and their bytes (frame lengths, as the
// port counters count them).
type Count struct {
	Frames, Bytes uint64
}

func (c *Count) add(n int) {
	c.Frames++
	c.Bytes += uint64(n)
}

// Stats are the counters of one direction. Frames dropped by the
// impairment (Lost, QueueFull, NoBuffer, TxError) are also reported by
// Port.DeviceDrops.
type Stats struct {
	Delayed    Count // copies held for any time (delay, jitter or rate)
	Lost       Count // dropped by the loss probability
	Duplicated Count // frames sent twice (counted once)
	Corrupted  Count // copies with a bit flipped
	Reordered  Count // copies sent ahead of delayed frames
	QueueFull  Count // dropped because Limit frames were held
	NoBuffer   Count // dropped by Port: no buffer to hold the copy
	TxError    Count // held frames the inner port refused on release
	Queued     int   // frames held now
}

// Add adds o to s (Queued too).
func (s *Stats) Add(o Stats) {
	for _, p := range []struct{ a, b *Count }{
		{&s.Delayed, &o.Delayed}, {&s.Lost, &o.Lost}, {&s.Duplicated, &o.Duplicated},
		{&s.Corrupted, &o.Corrupted}, {&s.Reordered, &o.Reordered}, {&s.QueueFull, &o.QueueFull},
		{&s.NoBuffer, &o.NoBuffer}, {&s.TxError, &o.TxError},
	} {
		p.a.Frames += p.b.Frames
		p.a.Bytes += p.b.Bytes
	}
	s.Queued += o.Queued
}

// NewEngine returns an engine with settings s. stream selects one of
// independent random sequences for the same seed: the Port uses one per
// direction, so "loss 10%" on both does not drop the same frame numbers.
func NewEngine[T any](s Settings, stream uint64) (*Engine[T], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := &Engine[T]{stream: stream}
	e.rng = rand.New(&e.pcg)
	e.install(s, true)
	return e, nil
}

// Settings returns the current settings, with the seed in use.
func (e *Engine[T]) Settings() Settings { return e.set }

// Active reports whether any impairment is set.
func (e *Engine[T]) Active() bool { return e.p.active }

// Set applies u: fields it leaves nil keep their values. On error nothing
// changes. Frames already held keep their due times.
func (e *Engine[T]) Set(u Update) error {
	s, err := e.set.Apply(u)
	if err != nil {
		return err
	}
	e.install(s, u.Seed != nil || u.Reset)
	return nil
}

// Reset removes every impairment: frames pass at once. Frames already held
// keep their due times; the counters are kept.
func (e *Engine[T]) Reset() { e.install(Settings{}, true) }

// install makes s current, reseeding the random source if asked.
func (e *Engine[T]) install(s Settings, reseed bool) {
	if reseed {
		if s.Seed == 0 {
			s.Seed = rand.Uint64() | 1
		}
		e.pcg.Seed(s.Seed, e.stream)
		e.counter = 0
	}
	e.set = s
	e.p = params{
		active:  s.Active(),
		queues:  s.Delay != 0 || s.Jitter != 0 || s.Rate != 0,
		delay:   int64(s.Delay),
		jitter:  int64(s.Jitter),
		normal:  s.Distribution == Normal,
		loss:    threshold(s.Loss),
		dup:     threshold(s.Duplicate),
		corrupt: threshold(s.Corrupt),
		reorder: threshold(s.Reorder),
		gap:     s.gap(),
		limit:   s.limit(),
		rate:    s.Rate != 0,
	}
	e.tb.configure(s.Rate, s.Burst)
}

// chance reports whether a draw falls under threshold th.
func (e *Engine[T]) chance(th uint64) bool { return e.pcg.Uint64()>>11 < th }

// Admit decides the fate of frame, whose virtio-net header is vh, arriving
// at now. It only decides: the caller copies the frame, flips the bit of a
// corrupted copy (Corrupt), sends copies due at now at once or Pushes them,
// so the Engine never keeps the caller's buffer.
//
// The decisions, in order: loss (the whole frame, a super-frame as one);
// duplication; the queue limit, when a delay, jitter or rate is set (a
// copy is dropped if Limit frames are held); then for each copy reorder
// (sent at once), or delay with jitter and the rate limit; and corruption.
// Random numbers are drawn only for what is set, always in this order.
func (e *Engine[T]) Admit(now int64, frame []byte, vh header.VirtioNet) Decision {
	if !e.p.active {
		return Decision{N: 1, Copy: [2]Copy{{Due: now}}}
	}
	size := len(frame)
	if e.p.loss != 0 && e.chance(e.p.loss) {
		e.stats.Lost.add(size)
		return Decision{Drop: Lost}
	}
	copies := 1
	if e.p.dup != 0 && e.chance(e.p.dup) {
		copies = 2
	}
	wire := 0
	if e.p.rate {
		wire = WireBytes(frame, vh)
	}
	var d Decision
	for i := range copies {
		if e.p.queues && e.Len()+i >= e.p.limit {
			e.stats.QueueFull.add(size)
			if i == 0 {
				d.Drop = QueueFull
				return d
			}
			break
		}
		c := &d.Copy[i]
		if e.p.reorder != 0 && e.counter >= e.p.gap-1 && e.chance(e.p.reorder) {
			c.Due, c.Reordered = now, true
			e.counter = 0
			if e.p.rate {
				e.tb.charge(now, wire)
			}
			e.stats.Reordered.add(size)
		} else {
			c.Due = now + e.delay()
			if e.p.rate {
				c.Due = e.tb.take(c.Due, wire)
			}
			if e.counter < e.p.gap {
				e.counter++
			}
		}
		if c.Due > now {
			e.stats.Delayed.add(size)
		}
		if e.p.corrupt != 0 && e.chance(e.p.corrupt) {
			c.Corrupt, c.Bit = true, e.pcg.Uint64()
			e.stats.Corrupted.add(size)
		}
		d.N++
	}
	if d.N == 2 {
		e.stats.Duplicated.add(size)
	}
	return d
}

// delay draws one frame's delay: Delay plus jitter, never negative.
func (e *Engine[T]) delay() int64 {
	d := e.p.delay
	if j := e.p.jitter; j != 0 {
		if e.p.normal {
			x := min(max(e.rng.NormFloat64(), -4), 4)
			d += int64(math.Round(x * float64(j)))
		} else {
			d += e.rng.Int64N(2*j+1) - j
		}
	}
	return max(d, 0)
}

// Push holds v until due. The queue limit was checked by Admit; Push never
// refuses, so a corrupted super-frame split into segments may exceed it by
// a few frames. Frames with equal due times leave in Push order.
func (e *Engine[T]) Push(due int64, v T) {
	if e.Len() == 0 || due > e.heldUntil {
		e.heldUntil = due
	}
	en := entry[T]{due: due, seq: e.seq, v: v}
	e.seq++
	if e.n == 0 || due >= e.ring[(e.head+e.n-1)%len(e.ring)].due {
		if e.n == len(e.ring) {
			e.grow()
		}
		e.ring[(e.head+e.n)%len(e.ring)] = en
		e.n++
		return
	}
	e.q = append(e.q, en)
	e.up(len(e.q) - 1)
}

// grow doubles the ring, keeping its order.
func (e *Engine[T]) grow() {
	r := make([]entry[T], max(16, 2*len(e.ring)))
	for i := range e.n {
		r[i] = e.ring[(e.head+i)%len(e.ring)]
	}
	e.ring, e.head = r, 0
}

// first returns the earliest held entry: in the ring (fromRing) or the
// heap; ok is false if nothing is held.
func (e *Engine[T]) first() (en *entry[T], fromRing, ok bool) {
	switch {
	case e.n == 0 && len(e.q) == 0:
		return nil, false, false
	case e.n == 0:
		return &e.q[0], false, true
	case len(e.q) == 0:
		return &e.ring[e.head], true, true
	}
	r, h := &e.ring[e.head], &e.q[0]
	if r.due < h.due || (r.due == h.due && r.seq < h.seq) {
		return r, true, true
	}
	return h, false, true
}

// Pop removes and returns the earliest held frame if it is due at now.
func (e *Engine[T]) Pop(now int64) (T, bool) {
	var zero T
	en, fromRing, ok := e.first()
	if !ok || en.due > now {
		return zero, false
	}
	v := en.v
	if fromRing {
		*en = entry[T]{} // drop the reference
		e.head = (e.head + 1) % len(e.ring)
		e.n--
		return v, true
	}
	last := len(e.q) - 1
	e.q[0] = e.q[last]
	e.q[last] = entry[T]{}
	e.q = e.q[:last]
	if last > 0 {
		e.down(0)
	}
	return v, true
}

// Next returns when the earliest held frame is due; ok is false if none is
// held.
func (e *Engine[T]) Next() (due int64, ok bool) {
	en, _, ok := e.first()
	if !ok {
		return 0, false
	}
	return en.due, true
}

// HeldUntil returns a time by which every held frame is due (0 if none is
// held).
func (e *Engine[T]) HeldUntil() int64 {
	if e.Len() == 0 {
		return 0
	}
	return e.heldUntil
}

// Len returns the number of held frames.
func (e *Engine[T]) Len() int { return e.n + len(e.q) }

// Drain removes every held frame, due or not, passing each to f.
func (e *Engine[T]) Drain(f func(T)) {
	for e.n > 0 {
		f(e.ring[e.head].v)
		e.ring[e.head] = entry[T]{}
		e.head = (e.head + 1) % len(e.ring)
		e.n--
	}
	for i := range e.q {
		f(e.q[i].v)
		e.q[i] = entry[T]{}
	}
	e.q = e.q[:0]
}

// Stats returns the counters.
func (e *Engine[T]) Stats() Stats {
	s := e.stats
	s.Queued = e.Len()
	return s
}

func (e *Engine[T]) less(i, j int) bool {
	a, b := &e.q[i], &e.q[j]
	return a.due < b.due || (a.due == b.due && a.seq < b.seq)
}

func (e *Engine[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(i, p) {
			return
		}
		e.q[i], e.q[p] = e.q[p], e.q[i]
		i = p
	}
}

func (e *Engine[T]) down(i int) {
	n := len(e.q)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && e.less(r, l) {
			m = r
		}
		if !e.less(m, i) {
			return
		}
		e.q[i], e.q[m] = e.q[m], e.q[i]
		i = m
	}
}

// nanobitsPerByte is the token bucket's unit: tokens count 10^-9 bits, so
// a rate in bits per second adds exactly rate tokens per nanosecond.
const nanobitsPerByte = 8e9

// bucket is a token bucket shaping the frames of one direction in the
// order they become eligible (first in, first out). Tokens may go negative
// (a debt): a frame needs min(its size, the burst) in tokens to leave and
// then pays its whole size, so a frame larger than the burst still leaves,
// once the bucket is full, and the long-term rate stays exact.
type bucket struct {
	rate   int64 // bits per second = tokens per ns; 0: no rate
	cap    int64 // burst in tokens
	t      int64 // time of tokens: the latest departure
	tokens int64
	primed bool // t and tokens are set; a new bucket starts full at its first frame
}

// configure sets the rate and burst, keeping the tokens (clamped to the new
// burst) so a change does not grant a new burst.
func (b *bucket) configure(rate, burst uint64) {
	if rate == 0 {
		*b = bucket{}
		return
	}
	b.rate, b.cap = int64(rate), int64(burst)*nanobitsPerByte
	b.tokens = min(b.tokens, b.cap)
}

// refill brings the bucket to time at (not before its own time).
func (b *bucket) refill(at int64) {
	if !b.primed {
		b.t, b.tokens, b.primed = at, b.cap, true
		return
	}
	if at <= b.t {
		return
	}
	dt := at - b.t
	b.t = at
	if room := b.cap - b.tokens; dt >= room/b.rate+1 {
		b.tokens = b.cap
	} else {
		b.tokens += dt * b.rate
	}
}

// take returns when a frame of wire bytes, eligible at at, leaves, and
// charges it.
func (b *bucket) take(at int64, wire int) int64 {
	if b.primed && at < b.t {
		at = b.t // first in, first out
	}
	b.refill(at)
	cost := int64(wire) * nanobitsPerByte
	if need := min(cost, b.cap); b.tokens < need {
		wait := (need - b.tokens + b.rate - 1) / b.rate
		at += wait
		b.tokens += wait * b.rate
		b.t = at
	}
	b.tokens -= cost
	return at
}

// charge takes a frame's tokens without making it wait (a reordered frame,
// sent at once): the frames after it wait for them instead.
func (b *bucket) charge(now int64, wire int) {
	b.refill(max(now, b.t))
	b.tokens -= int64(wire) * nanobitsPerByte
}
