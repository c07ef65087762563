package datapath

import (
	"errors"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// outCap is the initial capacity of a worker's per-port output list: a
// full batch plus as many frames again for floods and router output, so a
// steady-state batch never grows it.
const outCap = 2 * 64

// worker is the per-port receive loop's state. It is owned by one goroutine
// and made once, so the loop allocates nothing per frame.
type worker struct {
	dp *Datapath
	ps *portState

	bufs  [][]byte // the batch buffers Read fills
	sizes []int
	pk    header.Parsed
	cnt   batchCounts

	// Output of the current batch: out[id] holds the frames for port id
	// (each slice starts port.WriteOffset bytes before its frame), and
	// touched lists the ports with frames, in first-use order.
	out     [][][]byte
	touched []*portState
	// held are spare buffers taken from the pool during this batch, put
	// back after the writes.
	held []*port.Buffer
	// targets is scratch for one frame's egress set.
	targets []target
	snap    *snapshot
	// fwd is the MAC table's last answer: consecutive frames of one flow
	// (most of a batch) skip the table.
	fwd fwdCache
}

// fwdCache is one remembered bridge decision. It holds while the table's
// generation is unchanged and until until, half the table's refresh
// interval, so the table still sees the source often enough to keep it.
type fwdCache struct {
	gen      uint64
	until    int64
	vid      uint16
	in, out  PortID
	src, dst header.MAC
	d        bridge.Decision
}

// target is one egress port of a frame and how to tag the frame there.
type target struct {
	ps  *portState
	out vlan.Egress
}

// frame is a frame being processed: buf[start:end], its virtio header at
// buf[start-VirtioNetLen:start].
type frame struct {
	buf        []byte
	start, end int
	meta       vlan.Meta
	in         PortID // ingress port, or RouterPort for generated frames
}

func (f *frame) bytes() []byte { return f.buf[f.start:f.end] }

func (dp *Datapath) newWorker(ps *portState) *worker {
	n := ps.dev.BatchSize()
	w := &worker{dp: dp, ps: ps, bufs: make([][]byte, n), sizes: make([]int, n)}
	for i := range w.bufs {
		w.bufs[i] = new(port.Buffer)[:]
	}
	return w
}

// run is the receive loop of one port. It exits when the port is closed.
func (dp *Datapath) run(ps *portState) {
	defer dp.wg.Done()
	defer close(ps.done)
	w := dp.newWorker(ps)
	for {
		n, err := ps.dev.Read(w.bufs, w.sizes, port.ReadOffset)
		if n > 0 {
			w.batch(n)
		}
		if err != nil {
			if !errors.Is(err, port.ErrClosed) {
				dp.log.Error("port read failed; port stopped", "port", ps.cfg.Load().Name, "err", err)
			}
			return
		}
	}
}

// batch processes the n frames just read and writes them out.
func (w *worker) batch(n int) {
	w.snap = w.dp.snap.Load()
	cfg := w.ps.cfg.Load()
	now := w.dp.Now()
	for i := range n {
		w.cnt.rxFrames++
		w.cnt.rxBytes += uint64(w.sizes[i])
		f := frame{buf: w.bufs[i], start: port.ReadOffset, end: port.ReadOffset + w.sizes[i], in: w.ps.id}
		w.input(&f, cfg, now)
	}
	w.flush()
	w.cnt.flush(&w.ps.counters)
}

// input runs one received frame through the pipeline.
func (w *worker) input(f *frame, cfg *PortConfig, now int64) {
	pk := &w.pk
	if err := pk.Decode(f.bytes()); errors.Is(err, header.ErrTruncated) {
		w.cnt.drops[DropMalformed]++
		return
	}
	if cfg.Routed {
		w.route(f, cfg, now)
		return
	}
	in, ok := cfg.VLAN.Ingress(pk)
	if !ok {
		w.cnt.drops[DropVLANIngress]++
		return
	}
	f.meta = in.Meta
	if in.Pop {
		f.start = vlan.Pop(f.buf, f.start)
		vlan.PopParsed(pk)
	}
	if g := cfg.Guard; g != nil && !w.guard(g, f) {
		w.cnt.drops[DropSpoofed]++
		return
	}
	out, d := w.forward(f.meta.VID, f.in, pk.Src, pk.Dst, now)
	// ARP requests go to the router before they are flooded: it answers
	// for its gateways and, with suppression on, for the addresses it
	// assigned.
	if d == bridge.DecisionFlood && w.dp.router != nil && pk.EtherType == header.EtherTypeARP && pk.ARPOp == header.ARPRequest {
		if w.toRouter(f, now) {
			return
		}
	}
	switch {
	case d == bridge.DecisionForward && out == RouterPort:
		if w.dp.router == nil || !w.toRouter(f, now) {
			w.cnt.drops[DropRouter]++
		}
	case d == bridge.DecisionForward:
		w.unicast(f, out)
	case d == bridge.DecisionFlood:
		w.flood(f)
	default:
		w.cnt.drops[DropSamePort]++
	}
}

// forward asks the MAC table (learn src on in, look up dst), unless the
// answer for the same frame addresses is still cached.
func (w *worker) forward(vid uint16, in PortID, src, dst header.MAC, now int64) (PortID, bridge.Decision) {
	c := &w.fwd
	fdb := w.dp.fdb
	if now < c.until && c.src == src && c.dst == dst && c.vid == vid && c.in == in && c.gen == fdb.Generation() {
		return c.out, c.d
	}
	gen := fdb.Generation() // before asking: a change after it invalidates the answer
	out, d := fdb.Forward(vid, src, dst, in, now)
	*c = fwdCache{gen: gen, until: now + w.dp.fwdTTL, vid: vid, in: in, out: out, src: src, dst: dst, d: d}
	return out, d
}

// guard applies anti-spoofing to a frame from an endpoint port.
func (w *worker) guard(g *Guard, f *frame) bool {
	pk := &w.pk
	if pk.Src != g.MAC {
		return false
	}
	switch pk.EtherType {
	case header.EtherTypeARP:
		if pk.L3Off == 0 || !header.ARP(f.bytes()[pk.L3Off:]).IsValid() {
			return false
		}
		return header.ARP(f.bytes()[pk.L3Off:]).SenderMAC() == g.MAC && g.allows(pk.SrcIP)
	case header.EtherTypeIPv4:
		return pk.IPVersion == 4 && g.allows(pk.SrcIP)
	}
	return true
}

// toRouter hands a bridged frame to the router and acts on its verdict. It
// reports whether the router took the frame (false: bridge it as usual).
func (w *worker) toRouter(f *frame, now int64) bool {
	pkt := router.Packet{
		Frame:  f.bytes(),
		Parsed: &w.pk,
		VID:    f.meta.VID,
		InPort: f.in,
		Virtio: header.VirtioNet(f.buf[f.start-header.VirtioNetLen : f.start]),
	}
	v, t := w.dp.router.Input(&pkt, w, now)
	return w.routerVerdict(f, v, t)
}

// route handles a frame from a routed port: everything goes to the router.
func (w *worker) route(f *frame, cfg *PortConfig, now int64) {
	if w.dp.router == nil {
		w.cnt.drops[DropRouter]++
		return
	}
	pkt := router.Packet{
		Frame:    f.bytes(),
		Parsed:   &w.pk,
		InPort:   f.in,
		InRouted: true,
		Virtio:   header.VirtioNet(f.buf[f.start-header.VirtioNetLen : f.start]),
	}
	v, t := w.dp.router.Input(&pkt, w, now)
	w.routerVerdict(f, v, t)
}

func (w *worker) routerVerdict(f *frame, v router.Verdict, t router.Target) bool {
	switch v {
	case router.Pass:
		return false
	case router.Forward:
		f.in = RouterPort
		f.meta = vlan.Meta{VID: t.VID}
		w.send(f, t)
	case router.Drop:
		w.cnt.drops[DropRouter]++
	}
	return true
}

// send delivers a frame the router forwarded or generated.
func (w *worker) send(f *frame, t router.Target) {
	if t.Routed {
		ps := w.lookup(t.Port)
		if ps == nil {
			w.cnt.drops[DropRouter]++
			return
		}
		w.emit(ps, f)
		return
	}
	f.meta.VID = t.VID
	dst := header.Ethernet(f.bytes()).Dst()
	if !dst.IsMulticast() {
		if out, ok := w.dp.fdb.Lookup(t.VID, dst, w.dp.Now()); ok && out != RouterPort {
			w.unicast(f, out)
			return
		}
	}
	w.flood(f)
}

func (w *worker) lookup(id PortID) *portState {
	if int(id) >= len(w.snap.byID) {
		return nil
	}
	return w.snap.byID[id]
}

// unicast sends f to one port, tagging it in place if the port wants a tag.
// A MAC whose port was just removed is as good as unknown: flood.
func (w *worker) unicast(f *frame, id PortID) {
	ps := w.lookup(id)
	if ps == nil {
		w.flood(f)
		return
	}
	cfg := ps.cfg.Load()
	if cfg.Routed {
		w.flood(f)
		return
	}
	eg, ok := cfg.VLAN.Egress(f.meta)
	if !ok {
		w.cnt.drops[DropVLANEgress]++
		return
	}
	if eg.Push {
		f.start = vlan.Push(f.buf, f.start, eg.TPID, eg.TCI)
	}
	w.emit(ps, f)
}

// flood sends f to every other bridged port of its VLAN. Ports that take the
// frame as it is share the buffer; ports that want a tag get a copy, since
// the shared buffer must stay unchanged until it is written.
func (w *worker) flood(f *frame) {
	w.targets = w.targets[:0]
	for _, ps := range w.snap.list {
		if ps.id == f.in {
			continue
		}
		cfg := ps.cfg.Load()
		if cfg.Routed {
			continue
		}
		if eg, ok := cfg.VLAN.Egress(f.meta); ok {
			w.targets = append(w.targets, target{ps: ps, out: eg})
		}
	}
	if len(w.targets) == 1 { // a single port may have the frame itself
		t := w.targets[0]
		if t.out.Push {
			f.start = vlan.Push(f.buf, f.start, t.out.TPID, t.out.TCI)
		}
		w.emit(t.ps, f)
		return
	}
	for _, t := range w.targets {
		if !t.out.Push {
			w.emit(t.ps, f)
			continue
		}
		b := w.dp.pool.Get()
		if b == nil {
			w.cnt.drops[DropNoBuffer]++
			continue
		}
		w.held = append(w.held, b)
		c := frame{buf: b[:], start: port.ReadOffset, meta: f.meta, in: f.in}
		c.end = c.start + copy(b[c.start:], f.bytes())
		copy(b[c.start-header.VirtioNetLen:c.start], f.buf[f.start-header.VirtioNetLen:f.start])
		c.start = vlan.Push(c.buf, c.start, t.out.TPID, t.out.TCI)
		w.emit(t.ps, &c)
	}
}

// emit queues f for ps; the frames are written by flush.
func (w *worker) emit(ps *portState, f *frame) {
	id := int(ps.id)
	if id >= len(w.out) {
		grown := make([][][]byte, max(id+1, 2*len(w.out)))
		copy(grown, w.out)
		w.out = grown
	}
	if w.out[id] == nil {
		w.out[id] = make([][]byte, 0, outCap)
	}
	if len(w.out[id]) == 0 {
		w.touched = append(w.touched, ps)
	}
	w.out[id] = append(w.out[id], f.buf[f.start-port.WriteOffset:f.end])
}

// flush writes each port's frames with one Write and returns spare buffers.
func (w *worker) flush() {
	for _, ps := range w.touched {
		frames := w.out[ps.id]
		var bytes uint64
		for _, b := range frames {
			bytes += uint64(len(b) - port.WriteOffset)
		}
		n, _ := ps.dev.Write(frames, port.WriteOffset)
		if n == len(frames) {
			ps.counters.txFrames.Add(uint64(n))
			ps.counters.txBytes.Add(bytes)
		} else {
			var sent uint64
			for _, b := range frames[:n] {
				sent += uint64(len(b) - port.WriteOffset)
			}
			ps.counters.txFrames.Add(uint64(n))
			ps.counters.txBytes.Add(sent)
			ps.counters.drops[DropTxError].Add(uint64(len(frames) - n))
		}
		clear(frames) // drop references to buffers
		w.out[ps.id] = frames[:0]
	}
	clear(w.touched)
	w.touched = w.touched[:0]
	for i, b := range w.held {
		w.dp.pool.Put(b)
		w.held[i] = nil
	}
	w.held = w.held[:0]
}

// NewFrame implements router.Sink: a spare buffer for a frame the router
// builds, with a cleared virtio header (checksums complete, no GSO).
func (w *worker) NewFrame() (int, []byte, bool) {
	b := w.dp.pool.Get()
	if b == nil {
		w.cnt.drops[DropNoBuffer]++
		return 0, nil, false
	}
	w.held = append(w.held, b)
	header.VirtioNet(b[port.ReadOffset-header.VirtioNetLen:]).Clear()
	return len(w.held) - 1, b[port.ReadOffset:], true
}

// Send implements router.Sink.
func (w *worker) Send(h, n int, t router.Target) {
	f := frame{buf: w.held[h][:], start: port.ReadOffset, end: port.ReadOffset + n, in: RouterPort}
	w.send(&f, t)
}
