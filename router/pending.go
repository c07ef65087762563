package router

import (
	"net/netip"
	"sync"
	"time"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
)

// Limits of the queue of frames waiting for the uplink's next hop, like
// Linux's unres_qlen: a few frames per neighbour, a few neighbours.
const (
	pendingPerHop  = 3
	pendingHops    = 64
	pendingTimeout = 3 * time.Second // then the frames are dropped
	arpRetry       = time.Second     // between requests for one neighbour
	refreshAhead   = 5 * time.Second // Maintain re-resolves the gateway this long before its entry expires
)

// pendingQueue holds copies of frames for neighbours being resolved.
type pendingQueue struct {
	mu   sync.Mutex // guards hops
	hops map[netip.Addr]*pendingHop
}

type pendingHop struct {
	frames  [][]byte
	since   int64 // first frame queued
	lastReq int64 // last ARP request sent
}

// add queues a copy of pkt's frame for hop. It reports whether the frame
// was queued, and whether an ARP request should be sent now. Super-frames
// are not queued (they belong to established TCP flows, which retransmit);
// a checksum left to fill is completed, since the frame leaves the worker
// without its virtio header.
func (q *pendingQueue) add(hop netip.Addr, pkt *Packet, now int64) (queued, request bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.hops == nil {
		q.hops = map[netip.Addr]*pendingHop{}
	}
	h := q.hops[hop]
	if h == nil {
		if len(q.hops) >= pendingHops {
			return false, false
		}
		h = &pendingHop{since: now, lastReq: now - int64(arpRetry)}
		q.hops[hop] = h
	}
	gso := pkt.Virtio != nil && pkt.Virtio.IsGSO()
	if len(h.frames) < pendingPerHop && !gso {
		f := append([]byte(nil), pkt.Frame...)
		if pkt.Virtio != nil && pkt.Virtio.NeedsCsum() && offload.Finish(f, pkt.Virtio) != nil {
			f = nil
		}
		if f != nil {
			h.frames = append(h.frames, f)
			queued = true
		}
	}
	if now-h.lastReq >= int64(arpRetry) {
		h.lastReq = now
		request = true
	}
	return queued, request
}

// request reports whether an ARP request for hop is due (none was sent in
// the last arpRetry), noting one as sent; it queues nothing.
func (q *pendingQueue) request(hop netip.Addr, now int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.hops == nil {
		q.hops = map[netip.Addr]*pendingHop{}
	}
	h := q.hops[hop]
	if h == nil {
		if len(q.hops) >= pendingHops {
			return false
		}
		h = &pendingHop{since: now, lastReq: now - int64(arpRetry)}
		q.hops[hop] = h
	}
	if now-h.lastReq < int64(arpRetry) {
		return false
	}
	h.lastReq = now
	return true
}

// take removes and returns the frames waiting for hop.
func (q *pendingQueue) take(hop netip.Addr) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hops[hop]
	if h == nil {
		return nil
	}
	delete(q.hops, hop)
	return h.frames
}

// expire drops the frames of neighbours that did not answer in time and
// returns how many.
func (q *pendingQueue) expire(now int64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for ip, h := range q.hops {
		if now-h.since >= int64(pendingTimeout) {
			n += len(h.frames)
			delete(q.hops, ip)
		}
	}
	return n
}

// flushPending sends the frames that waited for ip, now known to be at
// mac, with the worker's batch.
func (x *call) flushPending(u *Uplink, ip netip.Addr, mac header.MAC) {
	for _, f := range x.r.pending.take(ip) {
		h, b, ok := x.sink.NewFrame()
		if !ok {
			x.count(DropNoBuffer)
			continue
		}
		header.Ethernet(f).SetDst(mac)
		x.sink.Send(h, copy(b, f), Target{Routed: true, Port: u.Port})
		x.count(Routed)
	}
}

// resolve sends an ARP request for ip out of the uplink, with the worker's
// batch.
func (x *call) resolve(u *Uplink, ip netip.Addr) {
	h, b, ok := x.sink.NewFrame()
	if !ok {
		x.count(DropNoBuffer)
		return
	}
	x.sink.Send(h, arp.Request(b, u.MAC, u.Addr.Addr(), ip), Target{Routed: true, Port: u.Port})
}

// Announce sends a gratuitous ARP for the uplink address, so the next hop
// learns (or relearns) the switch's MAC, and asks for the gateway's. The
// daemon calls it when the uplink is set; the frames take the deferred
// path.
func (r *Router) Announce(now int64) {
	u := r.cfg.Load().cfg.Uplink
	if u == nil {
		return
	}
	var b [arp.FrameLen]byte
	r.sendDeferred(b[:arp.Gratuitous(b[:], u.MAC, u.Addr.Addr())], Target{Routed: true, Port: u.Port})
	if u.Gateway.IsValid() {
		r.sendDeferred(b[:arp.Request(b[:], u.MAC, u.Addr.Addr(), u.Gateway)], Target{Routed: true, Port: u.Port})
	}
}
