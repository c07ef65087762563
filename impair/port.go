package impair

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
)

// pumpBatch is the batch the in direction's reader goroutine reads the
// inner port with. A TAP read is one system call per frame anyway, so a
// small batch costs nothing and keeps its buffers to 1 MiB.
const pumpBatch = 16

// maxCorruptSegments bounds the segments a corrupted super-frame is split
// into (a 64 KiB TCP super-frame with a 536-byte MSS has 123); one with
// more is corrupted whole (see Corrupt).
const maxCorruptSegments = 256

// Options configures New. The zero value is usable.
type Options struct {
	// Clock is the time source; nil means SystemClock().
	Clock Clock
}

// Port is a port.Port that impairs the frames of an inner port: delay,
// jitter, loss, duplication, corruption, reordering and a rate limit, set
// per direction while it runs (see the package comment). It carries
// offloaded frames through as the inner port does. A Port without
// impairments costs one atomic load per Read and Write.
//
// A Port owns up to two goroutines, started when first needed: one that
// releases held Out frames at their due time, and one that reads the inner
// port while In frames are held, since Read must wait for both new frames
// and due ones. Close stops them.
type Port struct {
	inner port.Port
	clock Clock

	out outDir
	in  inDir

	done    chan struct{} // closed by Close
	closed  atomic.Bool
	wg      sync.WaitGroup // the releaser and the pump
	running atomic.Int32   // goroutines started and not yet returned, for tests
}

var (
	_ port.Port          = (*Port)(nil)
	_ port.DeviceCounter = (*Port)(nil)
)

// dir is the state of one direction.
type dir struct {
	name string
	on   atomic.Bool   // impairments are set: the fast path's one load
	kick chan struct{} // capacity 1: wakes the direction's waiting goroutine

	mu    sync.Mutex // guards the fields below (Out: also held while writing released frames, to keep their order)
	eng   *Engine[*held]
	pool  bufPool
	extra Stats   // NoBuffer and TxError
	tmp   []*held // the copies of one frame being held
	segs  [][]byte
	sizes []int
}

// outDir is the Out direction: Write holds frames and sends those due; the
// releaser sends the others at their time.
type outDir struct {
	dir
	// Guarded by mu.
	started bool     // the releaser runs
	armed   int64    // the due time the releaser waits for; MaxInt64: none
	batch   [][]byte // frames of the next inner Write, at offset VirtioNetLen
	sent    []*held  // the held buffers in batch, returned after the Write
}

// inDir is the In direction: the pump reads the inner port and holds what
// it reads; Read returns the frames that are due.
type inDir struct {
	dir
	// Guarded by mu.
	err error // why the pump stopped reading, if the inner port failed

	// Owned by the goroutine calling Read.
	pumping  bool
	pumpDone chan struct{} // closed when the pump returns
	timer    Timer

	// Owned by the pump.
	bufs     [][]byte
	bufSizes []int
}

// New returns a Port wrapping inner, with no impairment. The Port owns
// inner: Close closes it.
func New(inner port.Port, opt Options) *Port {
	if opt.Clock == nil {
		opt.Clock = SystemClock()
	}
	p := &Port{inner: inner, clock: opt.Clock, done: make(chan struct{})}
	p.out.init("out", 1)
	p.out.armed = math.MaxInt64
	p.in.init("in", 2)
	return p
}

func (d *dir) init(name string, stream uint64) {
	d.name = name
	d.kick = make(chan struct{}, 1)
	d.eng, _ = NewEngine[*held](Settings{}, stream) // zero settings are valid
	d.pool.max = DefaultLimit + poolSlack
}

// Inner returns the wrapped port.
func (p *Port) Inner() port.Port { return p.inner }

// BatchSize implements port.Port: the inner port's.
func (p *Port) BatchSize() int { return p.inner.BatchSize() }

// Set changes the impairments of dir (Out, In or Both): fields u leaves nil
// keep their values. It is all or nothing: on error neither direction
// changes. Frames already held keep their due times. A Read already
// waiting on the inner port returns its frames unimpaired.
func (p *Port) Set(dir Direction, u Update) error {
	ds := p.dirs(dir)
	if ds == nil {
		return fmt.Errorf("set impairments: invalid %v", dir)
	}
	for _, d := range ds {
		d.mu.Lock()
		defer d.mu.Unlock()
	}
	for _, d := range ds {
		if _, err := d.eng.Settings().Apply(u); err != nil {
			return fmt.Errorf("set %s impairments: %w", d.name, err)
		}
	}
	for _, d := range ds {
		if err := d.eng.Set(u); err != nil {
			panic(err) // validated above
		}
		d.pool.max = d.eng.Settings().limit() + poolSlack
		d.on.Store(d.eng.Active())
		if !d.eng.Active() && d.eng.Len() == 0 {
			d.pool.trim()
		}
		d.wake()
	}
	return nil
}

// Reset removes the impairments of dir. Frames already held still leave at
// their due times.
func (p *Port) Reset(dir Direction) error { return p.Set(dir, Update{Reset: true}) }

// Settings returns the settings of dir (Out or In), with the seed in use.
func (p *Port) Settings(dir Direction) Settings {
	ds := p.dirs(dir)
	if len(ds) != 1 {
		return Settings{}
	}
	ds[0].mu.Lock()
	defer ds[0].mu.Unlock()
	return ds[0].eng.Settings()
}

// Stats returns the counters of dir; for Both, their sums.
func (p *Port) Stats(dir Direction) Stats {
	var s Stats
	for _, d := range p.dirs(dir) {
		d.mu.Lock()
		s.Add(d.eng.Stats())
		s.Add(d.extra)
		d.mu.Unlock()
	}
	return s
}

// Show prints the settings of both directions as `tc qdisc show` prints
// netem, one line each: "out delay 50ms 5ms loss 1%\nin none".
func (p *Port) Show() string {
	return "out " + p.Settings(Out).String() + "\nin " + p.Settings(In).String()
}

// DeviceDrops implements port.DeviceCounter: the inner port's drops, plus
// the frames the impairment dropped — impair-loss, impair-queue-full,
// impair-no-buffer, both directions together — and held frames the inner
// port refused when they were released (tx-error, added to the datapath's
// own).
func (p *Port) DeviceDrops() map[string]uint64 {
	m := map[string]uint64{}
	if dc, ok := p.inner.(port.DeviceCounter); ok {
		for k, v := range dc.DeviceDrops() {
			m[k] += v
		}
	}
	s := p.Stats(Both)
	for k, v := range map[string]uint64{
		"impair-loss":       s.Lost.Frames,
		"impair-queue-full": s.QueueFull.Frames,
		"impair-no-buffer":  s.NoBuffer.Frames,
		"tx-error":          s.TxError.Frames,
	} {
		if v != 0 {
			m[k] += v
		}
	}
	return m
}

// dirs returns the directions dir selects, Out first (the lock order).
func (p *Port) dirs(which Direction) []*dir {
	switch which {
	case Out:
		return []*dir{&p.out.dir}
	case In:
		return []*dir{&p.in.dir}
	case Both:
		return []*dir{&p.out.dir, &p.in.dir}
	}
	return nil
}

func (d *dir) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Write implements port.Port. Without Out impairments it is the inner
// port's Write. With them, every frame is accepted: frames due at once
// (no delay, or reordered) are written before Write returns, with any held
// frames that have come due, and the others are copied and held; frames the
// impairment drops, and frames the inner port refuses, are counted in
// DeviceDrops rather than reported to the caller.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) {
	if !p.out.on.Load() {
		return p.inner.Write(bufs, offset)
	}
	return p.writeImpaired(bufs, offset)
}

func (p *Port) writeImpaired(bufs [][]byte, offset int) (int, error) {
	d := &p.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.closed.Load() {
		return 0, port.ErrClosed
	}
	now := p.clock.Now()
	d.popDue(now)
	for _, b := range bufs {
		frame, vh := b[offset:], header.VirtioNet(b[offset-header.VirtioNetLen:offset])
		dec := d.eng.Admit(now, frame, vh)
		for _, c := range dec.Copy[:dec.N] {
			if c.Due <= now && !c.Corrupt {
				// The caller's buffer stays valid and unchanged
				// until Write returns: no copy.
				d.batch = append(d.batch, b[offset-header.VirtioNetLen:])
				continue
			}
			for _, f := range d.hold(frame, vh, c) {
				if c.Due <= now {
					d.batch = append(d.batch, f.wire())
					d.sent = append(d.sent, f)
				} else {
					d.eng.Push(c.Due, f)
				}
			}
		}
	}
	err := d.flush(p.inner)
	p.arm()
	if errors.Is(err, port.ErrClosed) {
		return 0, err
	}
	return len(bufs), nil
}

// popDue moves the held frames due at now to the batch.
func (d *outDir) popDue(now int64) {
	for {
		f, ok := d.eng.Pop(now)
		if !ok {
			return
		}
		d.batch = append(d.batch, f.wire())
		d.sent = append(d.sent, f)
	}
}

// flush writes the batch to inner and returns its held buffers.
func (d *outDir) flush(inner port.Port) error {
	if len(d.batch) == 0 {
		return nil
	}
	n, err := inner.Write(d.batch, header.VirtioNetLen)
	for _, b := range d.batch[n:] {
		d.extra.TxError.add(len(b) - header.VirtioNetLen)
	}
	clear(d.batch)
	d.batch = d.batch[:0]
	for i, f := range d.sent {
		d.pool.put(f)
		d.sent[i] = nil
	}
	d.sent = d.sent[:0]
	return err
}

// arm makes sure the releaser wakes for the earliest held frame, starting
// it the first time. The caller holds out.mu and has checked that the Port
// is not closed.
func (p *Port) arm() {
	d := &p.out
	next, ok := d.eng.Next()
	if !ok || next >= d.armed {
		return
	}
	if !d.started {
		d.started = true
		p.start(p.release)
	}
	d.armed = next
	d.wake()
}

func (p *Port) start(f func()) {
	p.wg.Add(1)
	p.running.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.running.Add(-1)
		f()
	}()
}

// release is the Out releaser: it writes held frames to the inner port when
// they are due, until Close.
func (p *Port) release() {
	d := &p.out
	t := p.clock.NewTimer()
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-d.kick:
		case <-t.C():
		}
		d.mu.Lock()
		now := p.clock.Now()
		d.popDue(now)
		d.flush(p.inner) // refusals are counted; after Close, done ends the loop
		if next, ok := d.eng.Next(); ok {
			d.armed = next
			t.Reset(next)
		} else {
			d.armed = math.MaxInt64
			t.Stop()
			if !d.eng.Active() {
				d.pool.trim()
			}
		}
		d.mu.Unlock()
	}
}

// hold copies one copy of a frame into pool buffers, flipping a bit if the
// copy is corrupted, and returns them: one buffer, or the segments of a
// corrupted super-frame. It returns nil, and counts the frame, when the pool
// is exhausted. The caller holds d.mu.
func (d *dir) hold(frame []byte, vh header.VirtioNet, c Copy) []*held {
	d.tmp = d.tmp[:0]
	if c.Corrupt {
		if segs := d.segment(frame, vh); len(segs) > 0 {
			n := uint64(len(segs))
			f := segs[c.Bit%n]
			Corrupt(f.frame(), f.virtio(), c.Bit/n)
			return segs
		}
	}
	f := d.pool.get(len(frame))
	if f == nil {
		d.extra.NoBuffer.add(len(frame))
		return nil
	}
	copy(f.virtio(), vh)
	copy(f.frame(), frame)
	if c.Corrupt {
		Corrupt(f.frame(), f.virtio(), c.Bit)
	}
	d.tmp = append(d.tmp, f)
	return d.tmp
}

// segment splits a super-frame into pool buffers (as netem does before
// corrupting one), so every segment gets a complete checksum before one bit
// is flipped. It returns nil for other frames, super-frames offload.Segment
// refuses, and when the pool is short (the frame is then corrupted whole).
func (d *dir) segment(frame []byte, vh header.VirtioNet) []*held {
	hdr, _, mss, ok := superFrame(frame, vh)
	if !ok {
		return nil
	}
	n := offload.MaxSegments(frame, vh)
	if n == 0 || n > maxCorruptSegments {
		return nil
	}
	size := min(len(frame), hdr+mss)
	d.tmp, d.segs = d.tmp[:0], d.segs[:0]
	for range n {
		f := d.pool.get(size)
		if f == nil {
			break
		}
		d.tmp = append(d.tmp, f)
		d.segs = append(d.segs, f.buf)
	}
	if len(d.sizes) < n {
		d.sizes = make([]int, n)
	}
	if len(d.tmp) < n {
		return d.giveBack()
	}
	if _, err := offload.Segment(frame, vh, d.segs, d.sizes, header.VirtioNetLen); err != nil {
		return d.giveBack()
	}
	for i, f := range d.tmp {
		f.n = d.sizes[i]
	}
	clear(d.segs)
	return d.tmp
}

// giveBack returns the buffers in tmp to the pool and returns nil.
func (d *dir) giveBack() []*held {
	for i, f := range d.tmp {
		d.pool.put(f)
		d.tmp[i] = nil
	}
	d.tmp = d.tmp[:0]
	clear(d.segs)
	return nil
}

// Read implements port.Port. Without In impairments, and once frames held
// earlier have left, it is the inner port's Read. With them, a goroutine
// reads the inner port and holds what it reads, and Read returns the frames
// that are due, waiting for the next one.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if !p.in.on.Load() && !p.in.pumping {
		return p.inner.Read(bufs, sizes, offset)
	}
	return p.readImpaired(bufs, sizes, offset)
}

func (p *Port) readImpaired(bufs [][]byte, sizes []int, offset int) (int, error) {
	d := &p.in
	if d.timer == nil {
		d.timer = p.clock.NewTimer()
	}
	for {
		if d.pumping {
			select {
			case <-d.pumpDone:
				d.pumping = false
			default:
			}
		}
		d.mu.Lock()
		if p.closed.Load() {
			d.mu.Unlock()
			return 0, port.ErrClosed
		}
		now := p.clock.Now()
		if n := d.popInto(now, bufs, sizes, offset); n > 0 {
			d.mu.Unlock()
			return n, nil
		}
		if !d.pumping {
			if err := d.err; err != nil {
				d.mu.Unlock()
				return 0, err
			}
			if !d.on.Load() && d.eng.Len() == 0 {
				d.pool.trim()
				d.mu.Unlock()
				return p.inner.Read(bufs, sizes, offset)
			}
			d.pumping, d.pumpDone = true, make(chan struct{})
			done := d.pumpDone
			p.start(func() { p.pump(done) })
		}
		next, held := d.eng.Next()
		d.mu.Unlock()

		var fire <-chan time.Time
		if held {
			d.timer.Reset(next)
			fire = d.timer.C()
		}
		select {
		case <-d.kick:
		case <-fire:
		case <-d.pumpDone:
		case <-p.done:
			return 0, port.ErrClosed
		}
		if held {
			d.timer.Stop()
		}
	}
}

// popInto copies the frames due at now into bufs, as Read returns them.
func (d *inDir) popInto(now int64, bufs [][]byte, sizes []int, offset int) int {
	n := 0
	for n < len(bufs) {
		f, ok := d.eng.Pop(now)
		if !ok {
			break
		}
		copy(bufs[n][offset-header.VirtioNetLen:], f.wire())
		sizes[n] = f.n
		d.pool.put(f)
		n++
	}
	return n
}

// pump reads the inner port for the In direction and holds every frame
// until it is due. It returns when the inner port fails or is closed, or
// when the direction is no longer impaired and nothing it holds is still
// waiting; done is closed then.
func (p *Port) pump(done chan struct{}) {
	defer close(done)
	d := &p.in
	if d.bufs == nil {
		n := min(p.inner.BatchSize(), pumpBatch)
		d.bufs, d.bufSizes = make([][]byte, n), make([]int, n)
		for i := range d.bufs {
			d.bufs[i] = make([]byte, header.VirtioNetLen+port.MaxFrameSize)
		}
	}
	for {
		n, err := p.inner.Read(d.bufs, d.bufSizes, header.VirtioNetLen)
		d.mu.Lock()
		now := p.clock.Now()
		for i := range n {
			b := d.bufs[i]
			frame, vh := b[header.VirtioNetLen:header.VirtioNetLen+d.bufSizes[i]], header.VirtioNet(b[:header.VirtioNetLen])
			dec := d.eng.Admit(now, frame, vh)
			for _, c := range dec.Copy[:dec.N] {
				for _, f := range d.hold(frame, vh, c) {
					d.eng.Push(c.Due, f)
				}
			}
		}
		if err != nil {
			d.err = err
		}
		stop := err != nil || (!d.on.Load() && d.eng.HeldUntil() <= now)
		d.mu.Unlock()
		if n > 0 || stop {
			d.wake()
		}
		if stop {
			if err == nil {
				d.bufs, d.bufSizes = nil, nil // no longer impaired: let them go
			}
			return
		}
	}
}

// Close implements port.Port: it closes the inner port, stops the Port's
// goroutines and frees the frames still held.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return port.ErrClosed
	}
	close(p.done)
	err := p.inner.Close()
	// Goroutines are started under a direction's lock after checking
	// closed: once both locks have been taken, no more will start. Calls
	// from now on go straight to the closed inner port.
	for _, d := range p.dirs(Both) {
		d.mu.Lock()
		d.on.Store(false)
		d.mu.Unlock()
	}
	p.wg.Wait()
	for _, d := range p.dirs(Both) {
		d.mu.Lock()
		d.eng.Drain(d.pool.put)
		d.pool.trim()
		d.mu.Unlock()
	}
	return err
}
