package datapath

// The pipeline. One goroutine per receiving port runs each batch to
// completion, in this order (the functions named do it):
//
//	run:      port.Read, a batch drained after one wake-up, virtio header kept
//	batch:    one snapshot load and one clock read per batch
//	input:    header.Parsed.Decode, once per frame, no allocation
//	          routed port (the uplink, the host leg)? → the router (route)
//	          vlan ingress policy of the port: accept, pop the outer tag
//	          guard: anti-spoofing on endpoint ports (source MAC, IPv4, ARP sender)
//	forward:  bridge: learn (VID, source MAC) → port, look up (VID, destination MAC),
//	          the answer reused within a flow
//	          the router is a port of the bridge: each gateway MAC is a static
//	          entry pointing at port.Router, so frames to a gateway go to the
//	          router (toRouter), and so do ARP requests before they are flooded
//	          (it answers for gateways, and for endpoints with ARP suppression)
//	router:   answers in place (ARP, echo), DNS, or routes: conntrack, NAT, TTL,
//	          MACs; its Target is a VLAN (looked up in the MAC table again) or a
//	          routed port; frames it builds come back through NewFrame/Send
//	unicast / flood: one port, or the VLAN's precomputed flood list; vlan egress
//	          policy of each destination (push a tag in the headroom; a copy only
//	          when a flooded frame needs different tagging on different ports)
//	emit:     group by egress port
//	flush:    one port.Write per egress port per batch; counters added once
//
// Every drop goes through drop(reason) (the router counts its own reasons
// in the worker's router.Counts). A dry-run worker (Explain) runs the same
// code with dry set: it records each decision instead of learning,
// counting or writing.

import (
	"errors"
	"fmt"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/trace"
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
	// q is the receive queue the worker reads (0 for all others): it
	// writes through the same queue of ports with several (QueueWriter).
	q int

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

	// dry, when not nil, makes this a dry-run worker (Explain): decisions
	// are recorded there, and nothing is learned, counted or written.
	dry *trace.Trace
	// generating is set while a dry run sends a frame the router built.
	generating bool
	// taps are the live captures of this batch, nil when there are none.
	taps *taps
	// isolated is set while the frame being handled came in by an
	// isolated port: it may not leave by another one.
	isolated bool
}

// fwdCache is one remembered bridge decision. It holds while the table's
// generation is unchanged and until until, half the table's refresh
// interval, so the table still sees the source often enough to keep it.
type fwdCache struct {
	gen      uint64
	until    int64
	vid      vlan.ID
	in, out  port.ID
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
	in         port.ID // ingress port, or port.Router for generated frames
}

func (f *frame) bytes() []byte { return f.buf[f.start:f.end] }

// virtio returns the frame's virtio-net header.
func (f *frame) virtio() []byte { return f.buf[f.start-header.VirtioNetLen : f.start] }

func (dp *Datapath) newWorker(ps *portState, q int) *worker {
	n := ps.device().BatchSize()
	w := &worker{dp: dp, ps: ps, q: q, bufs: make([][]byte, n), sizes: make([]int, n)}
	for i := range w.bufs {
		w.bufs[i] = new(port.Buffer)[:]
	}
	return w
}

// run is the receive loop of one port's queue q (0: Read; others of a
// port with Queues). It exits when the port is closed.
func (dp *Datapath) run(ps *portState, q int) {
	defer dp.wg.Done()
	defer func() {
		if ps.running.Add(-1) == 0 {
			close(ps.done)
		}
	}()
	w := dp.newWorker(ps, q)
	orig, _ := ps.device().(Queues)
	read := func(bufs [][]byte, sizes []int, offset int) (int, error) {
		dev := ps.device()
		if q == 0 {
			return dev.Read(bufs, sizes, offset)
		}
		if mq, ok := dev.(Queues); ok {
			return mq.ReadQueue(q, bufs, sizes, offset)
		}
		return orig.ReadQueue(q, bufs, sizes, offset)
	}
	for {
		n, err := read(w.bufs, w.sizes, port.ReadOffset)
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
	w.taps = w.dp.taps.Load()
	w.liveBatch(n) // live traces (trace --live): one atomic load when none
	cfg := w.ps.cfg.Load()
	now := w.dp.Now()
	for i := range n {
		w.cnt.rxFrames++
		w.cnt.rxBytes += uint64(w.sizes[i])
		f := frame{buf: w.bufs[i], start: port.ReadOffset, end: port.ReadOffset + w.sizes[i], in: w.ps.id}
		if w.taps != nil {
			w.taps.offer(w.ps.id, In, f.bytes(), f.virtio())
		}
		w.input(&f, cfg, now)
	}
	w.flush()
	w.cnt.flush(&w.ps.counters)
}

// drop counts a frame the datapath drops, for the port it arrived on.
func (w *worker) drop(r Reason) {
	w.cnt.drops[r]++
	if w.dry != nil {
		w.dry.Verdict, w.dry.Reason = trace.Dropped, r.String()
	}
}

// input runs one received frame through the pipeline.
func (w *worker) input(f *frame, cfg *PortConfig, now int64) {
	pk := &w.pk
	if err := pk.Decode(f.bytes()); errors.Is(err, header.ErrTruncated) {
		if w.dry != nil {
			w.dry.Add(trace.Ingress, "%d bytes: shorter than an Ethernet header or a tag it announces", f.end-f.start)
		}
		w.drop(DropMalformed)
		return
	}
	if cfg.Routed {
		if w.dry != nil {
			w.dry.Add(trace.Ingress, "port %s (%s, routed): every frame goes to the router", cfg.Name, cfg.Kind)
		}
		w.route(f, now)
		return
	}
	w.isolated = cfg.Isolated
	in, ok := cfg.VLAN.Ingress(pk)
	if !ok {
		if w.dry != nil {
			w.dry.Add(trace.Ingress, "port %s (%s): %s refuses the frame (%s)", cfg.Name, cfg.Kind, cfg.VLAN.String(), tagString(pk))
		}
		w.drop(DropVLANIngress)
		return
	}
	if w.dry != nil {
		pop := ""
		if in.Pop {
			pop = ", outer tag popped"
		}
		w.dry.Add(trace.Ingress, "port %s (%s): %s: vlan %d (%s%s)", cfg.Name, cfg.Kind, cfg.VLAN.String(), in.Meta.VID, tagString(pk), pop)
	}
	f.meta = in.Meta
	if in.Pop {
		f.start = vlan.Pop(f.buf, f.start)
		vlan.PopParsed(pk)
	}
	if g := cfg.Guard; g != nil {
		if !w.guard(g, f) {
			if w.dry != nil {
				w.dry.Add(trace.Guard, "source %s %s is not the endpoint's own (%s %v): spoofed", pk.Src, pk.SrcIP, g.MAC, g.IPs)
			}
			w.drop(DropSpoofed)
			return
		}
		if w.dry != nil {
			w.dry.Add(trace.Guard, "source %s %s is the endpoint's own", pk.Src, pk.SrcIP)
		}
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
	case d == bridge.DecisionForward && out == port.Router:
		if w.dp.router == nil {
			w.drop(DropNoRouter)
			return
		}
		w.toRouter(f, now)
	case d == bridge.DecisionForward:
		w.unicast(f, out)
	case d == bridge.DecisionFlood:
		w.flood(f)
	default:
		if w.dry != nil {
			w.dry.Add(trace.Bridge, "%s is on the ingress port itself", pk.Dst)
		}
		w.drop(DropSamePort)
	}
}

// forward asks the MAC table (learn src on in, look up dst), unless the
// answer for the same frame addresses is still cached. A dry run looks
// without learning.
func (w *worker) forward(vid vlan.ID, in port.ID, src, dst header.MAC, now int64) (port.ID, bridge.Decision) {
	if w.dry != nil {
		return w.explainForward(vid, in, src, dst, now)
	}
	fdb := w.dp.fdb
	c := &w.fwd
	if now < c.until && c.src == src && c.dst == dst && c.vid == vid && c.in == in && c.gen == fdb.Generation() {
		return c.out, c.d
	}
	gen := fdb.Generation() // before asking: a change after it invalidates the answer
	out, d := fdb.Forward(vid, src, dst, in, now)
	*c = fwdCache{gen: gen, until: now + w.dp.fwdTTL, vid: vid, in: in, out: out, src: src, dst: dst, d: d}
	return out, d
}

// explainForward is forward for a dry run: what the MAC table knows and
// would decide, with nothing learned. What the frame would teach the table
// is kept in the trace instead (learned), so later lookups of the same
// trace — an answer, the traced reply — find it, as they would for real.
func (w *worker) explainForward(vid vlan.ID, in port.ID, src, dst header.MAC, now int64) (port.ID, bridge.Decision) {
	t := w.dry
	switch at, ok := w.dryLookup(vid, src, now); {
	case !ok:
		t.Add(trace.Bridge, "vlan %d: source %s not yet known: it would be learned on %s", vid, src, w.portName(in))
	case at != in:
		t.Add(trace.Bridge, "vlan %d: source %s is known on %s: it would move to %s", vid, src, w.portName(at), w.portName(in))
	}
	if !src.IsMulticast() && !src.IsZero() {
		t.Hypothetical = append(t.Hypothetical, learned{vid: vid, mac: src, port: in})
	}
	var out port.ID
	var d bridge.Decision
	if at, ok := w.dryLookup(vid, dst, now); ok && !dst.IsMulticast() {
		out, d = at, bridge.DecisionForward
		if at == in {
			out, d = port.None, bridge.DecisionDrop
		}
	} else {
		out, d = port.None, bridge.DecisionFlood
	}
	switch {
	case d == bridge.DecisionForward && out == port.Router:
		t.Add(trace.Bridge, "vlan %d: %s is a gateway MAC: to the router", vid, dst)
	case d == bridge.DecisionForward:
		t.Add(trace.Bridge, "vlan %d: %s is on %s", vid, dst, w.portName(out))
	case d == bridge.DecisionFlood && dst.IsMulticast():
		t.Add(trace.Bridge, "vlan %d: %s is broadcast/multicast: flood", vid, dst)
	case d == bridge.DecisionFlood:
		t.Add(trace.Bridge, "vlan %d: %s not in the MAC table: flood", vid, dst)
	}
	return out, d
}

// learned is a MAC a dry run would have taught the table, kept in the
// trace's Hypothetical state.
type learned struct {
	vid  vlan.ID
	mac  header.MAC
	port port.ID
}

// dryLookup looks mac up as the table would after the trace's frames:
// what they taught it first (latest first), then the table itself.
func (w *worker) dryLookup(vid vlan.ID, mac header.MAC, now int64) (port.ID, bool) {
	h := w.dry.Hypothetical
	for i := len(h) - 1; i >= 0; i-- {
		if l, ok := h[i].(learned); ok && l.vid == vid && l.mac == mac {
			return l.port, true
		}
	}
	return w.dp.fdb.Lookup(vid, mac, now)
}

// portName names a port (or the router) for traces.
func (w *worker) portName(id port.ID) string {
	if id == port.Router {
		return "the router"
	}
	if ps := w.lookup(id); ps != nil {
		return ps.cfg.Load().Name
	}
	return fmt.Sprintf("port %d (gone)", id)
}

// guard applies anti-spoofing to a frame from an endpoint port.
func (w *worker) guard(g *Guard, f *frame) bool {
	pk := &w.pk
	if pk.Src != g.MAC {
		return false
	}
	switch pk.EtherType {
	case header.EtherTypeARP:
		return pk.L3Valid && header.ARP(f.bytes()[pk.L3Off:]).SenderMAC() == g.MAC && g.allows(pk.SrcIP)
	case header.EtherTypeIPv4:
		return pk.IPVersion == 4 && g.allows(pk.SrcIP)
	}
	return true
}

// toRouter hands a bridged frame to the router and acts on its verdict. It
// reports whether the router took the frame (false: bridge it as usual).
func (w *worker) toRouter(f *frame, now int64) bool {
	if w.taps != nil {
		w.taps.offer(port.Router, Out, f.bytes(), f.virtio())
	}
	pkt := router.Packet{
		Frame:  f.bytes(),
		Parsed: &w.pk,
		VID:    f.meta.VID,
		InPort: f.in,
		Virtio: header.VirtioNet(f.buf[f.start-header.VirtioNetLen : f.start]),
		Counts: &w.cnt.router,
		Trace:  w.dry,
	}
	v, t := w.dp.router.Input(&pkt, w, now)
	return w.routerVerdict(f, v, t)
}

// route handles a frame from a routed port: everything goes to the router.
func (w *worker) route(f *frame, now int64) {
	if w.dp.router == nil {
		w.drop(DropNoRouter)
		return
	}
	if w.taps != nil {
		w.taps.offer(port.Router, Out, f.bytes(), f.virtio())
	}
	pkt := router.Packet{
		Frame:    f.bytes(),
		Parsed:   &w.pk,
		InPort:   f.in,
		InRouted: true,
		Virtio:   header.VirtioNet(f.buf[f.start-header.VirtioNetLen : f.start]),
		Counts:   &w.cnt.router,
		Trace:    w.dry,
	}
	v, t := w.dp.router.Input(&pkt, w, now)
	w.routerVerdict(f, v, t)
}

// routerVerdict acts on the router's decision: the router's one exit. A
// Drop was counted by the router, in this worker's counts.
func (w *worker) routerVerdict(f *frame, v router.Verdict, t router.Target) bool {
	switch v {
	case router.Pass:
		return false
	case router.Forward:
		f.in = port.Router
		f.meta = vlan.Meta{VID: t.VID}
		w.isolated = false
		if w.taps != nil {
			w.taps.offer(port.Router, In, f.bytes(), f.virtio())
		}
		w.send(f, t)
	}
	return true
}

// send delivers a frame the router forwarded or generated.
func (w *worker) send(f *frame, t router.Target) {
	if t.Routed {
		ps := w.lookup(t.Port)
		if ps == nil {
			w.cnt.router[router.DropNoRoute]++
			if w.dry != nil {
				w.dry.Drop(trace.Egress, router.DropNoRoute.Reason(), "routed port %d is gone", t.Port)
			}
			return
		}
		w.emit(ps, f, vlan.Egress{})
		return
	}
	f.meta.VID = t.VID
	dst := header.Ethernet(f.bytes()).Dst()
	if !dst.IsMulticast() {
		lookup := w.dp.fdb.Lookup
		if w.dry != nil {
			lookup = w.dryLookup
		}
		if out, ok := lookup(t.VID, dst, w.dp.Now()); ok && out != port.Router {
			w.unicast(f, out)
			return
		}
	}
	w.flood(f)
}

func (w *worker) lookup(id port.ID) *portState { return w.snap.port(id) }

// unicast sends f to one port, tagging it in place if the port wants a tag.
// A MAC whose port was just removed is as good as unknown: flood.
func (w *worker) unicast(f *frame, id port.ID) {
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
	if w.isolated && cfg.Isolated {
		if w.dry != nil {
			w.dry.Add(trace.Egress, "%s and the ingress port are both isolated (icc=false)", cfg.Name)
		}
		w.drop(DropICC)
		return
	}
	eg, ok := cfg.VLAN.Egress(f.meta)
	if !ok {
		if w.dry != nil {
			w.dry.Add(trace.Egress, "port %s (%s) is not in vlan %d", cfg.Name, cfg.VLAN.String(), f.meta.VID)
		}
		w.drop(DropVLANEgress)
		return
	}
	if eg.Push {
		f.start = vlan.Push(f.buf, f.start, eg.TPID, eg.TCI)
	}
	w.emit(ps, f, eg)
}

// flood sends f to every other member of its VLAN (the snapshot's flood
// list). Ports that take the frame as it is share the buffer; ports that
// want a tag get a copy, since the shared buffer must stay unchanged until
// it is written.
func (w *worker) flood(f *frame) {
	w.targets = w.targets[:0]
	var members []*portState
	if f.meta.VID.Valid() {
		members = w.snap.flood[f.meta.VID]
	}
	for _, ps := range members {
		if ps.id == f.in {
			continue
		}
		cfg := ps.cfg.Load()
		if w.isolated && cfg.Isolated {
			continue
		}
		if eg, ok := cfg.VLAN.Egress(f.meta); ok {
			w.targets = append(w.targets, target{ps: ps, out: eg})
		}
	}
	if w.dry != nil && len(w.targets) == 0 {
		w.dry.Add(trace.Egress, "no other port in vlan %d", f.meta.VID)
	}
	if len(w.targets) == 1 { // a single port may have the frame itself
		t := w.targets[0]
		if t.out.Push {
			f.start = vlan.Push(f.buf, f.start, t.out.TPID, t.out.TCI)
		}
		w.emit(t.ps, f, t.out)
		return
	}
	for _, t := range w.targets {
		if !t.out.Push {
			w.emit(t.ps, f, t.out)
			continue
		}
		b := w.spare()
		if b == nil {
			w.drop(DropNoBuffer)
			continue
		}
		c := frame{buf: b, start: port.ReadOffset, meta: f.meta, in: f.in}
		c.end = c.start + copy(b[c.start:], f.bytes())
		copy(b[c.start-header.VirtioNetLen:c.start], f.buf[f.start-header.VirtioNetLen:f.start])
		c.start = vlan.Push(c.buf, c.start, t.out.TPID, t.out.TCI)
		w.emit(t.ps, &c, t.out)
	}
}

// spare returns a buffer for a copy, held until the batch is written, or
// nil when the pool is empty. A dry run allocates its own.
func (w *worker) spare() []byte {
	if w.dry != nil {
		return new(port.Buffer)[:]
	}
	b := w.dp.pool.Get()
	if b == nil {
		return nil
	}
	w.held = append(w.held, b)
	return b[:]
}

// emit queues f for ps, tagged as eg says (already done to f); the frames
// are written by flush. A dry run records the output instead.
func (w *worker) emit(ps *portState, f *frame, eg vlan.Egress) {
	if w.dry != nil {
		w.record(ps, f, eg)
		return
	}
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
		if w.taps != nil {
			for _, b := range frames {
				w.taps.offer(ps.id, Out, b[port.WriteOffset:], b[port.WriteOffset-header.VirtioNetLen:port.WriteOffset])
			}
		}
		n := w.write(ps.device(), frames)
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

// write writes frames to dev, through the worker's queue if dev has
// several (QueueWriter), and returns how many dev accepted.
func (w *worker) write(dev port.Port, frames [][]byte) int {
	if qw, ok := dev.(QueueWriter); ok && w.q > 0 {
		n, _ := qw.WriteQueue(w.q, frames, port.WriteOffset)
		return n
	}
	n, _ := dev.Write(frames, port.WriteOffset)
	return n
}

// NewFrame implements router.Sink: a spare buffer for a frame the router
// builds, with a cleared virtio header (checksums complete, no GSO).
func (w *worker) NewFrame() (int, []byte, bool) {
	if w.dry != nil {
		b := new(port.Buffer)
		w.held = append(w.held, b) // a dry worker never returns them to the pool
		header.VirtioNet(b[port.ReadOffset-header.VirtioNetLen:]).Clear()
		return len(w.held) - 1, b[port.ReadOffset:], true
	}
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
	f := frame{buf: w.held[h][:], start: port.ReadOffset, end: port.ReadOffset + n, in: port.Router}
	w.isolated = false
	if w.taps != nil {
		w.taps.offer(port.Router, In, f.bytes(), f.virtio())
	}
	w.generating = w.dry != nil
	w.send(&f, t)
	w.generating = false
}
