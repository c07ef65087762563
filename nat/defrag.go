package nat

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// Reassembly of IPv4 datagrams, as Linux's nf_defrag_ipv4 does before
// conntrack (net/ipv4/ip_fragment.c): the router hands every fragment to
// a Defrag, which holds it until its datagram is complete and then
// returns the whole datagram, so the datagram is tracked and translated
// once, whatever order its fragments came in. The router sends it on in
// fragments no larger than the largest that arrived (Linux's
// frag_max_size) nor the egress MTU.

// Defaults of DefragOptions, Linux's ipfrag_high_thresh and ipfrag_time.
const (
	DefaultFragBudget  = 4 << 20
	DefaultFragTimeout = 30 * time.Second
)

// fragOverhead is what each held fragment is charged beyond its payload
// (Linux charges skb truesize): a flood of tiny fragments costs memory too.
const fragOverhead = 128

// maxFragsPerDatagram bounds the fragments of one datagram: a 65,535-byte
// datagram at the IPv4 minimum MTU of 68 needs 1,366 fragments of 48
// bytes; real ones need far fewer.
const maxFragsPerDatagram = 1400

// DefragOptions configures a Defrag. Zero values select the defaults.
type DefragOptions struct {
	// Budget is the memory (payload plus a fixed overhead per fragment)
	// the incomplete datagrams of one zone may hold; 0 means
	// DefaultFragBudget. When a fragment would exceed it, the zone's
	// oldest incomplete datagrams are dropped first (counted as evicted),
	// so a flood of fragments that never complete cannot block others.
	Budget int
	// Timeout is how long an incomplete datagram is kept after its first
	// fragment arrived; 0 means DefaultFragTimeout.
	Timeout time.Duration
}

// DefragResult is what Add did with a fragment.
type DefragResult uint8

const (
	// FragHeld: the fragment was kept; its datagram is not complete.
	FragHeld DefragResult = iota
	// FragComplete: the datagram is complete; Add returned it.
	FragComplete
	// FragDuplicate: the fragment repeats one already held (same offset
	// and length): dropped, as Linux does, the datagram kept.
	FragDuplicate
	// FragOverlap: the fragment overlaps one already held without
	// repeating it: the whole datagram is dropped (RFC 5722's rule, which
	// Linux applies to IPv4 too).
	FragOverlap
	// FragInvalid: the fragment cannot belong to a valid datagram (a
	// length not a multiple of 8, an end past 65,535 bytes or past the
	// datagram's last fragment, two different last fragments, too many
	// fragments): it is dropped, and with it its datagram.
	FragInvalid
	// FragNoRoom: the fragment alone exceeds the zone's budget: dropped.
	FragNoRoom
)

var defragResultNames = [...]string{"held", "complete", "duplicate", "overlap", "invalid", "no-room"}

func (r DefragResult) String() string {
	if int(r) < len(defragResultNames) {
		return defragResultNames[r]
	}
	return "unknown"
}

// DefragStats are a Defrag's counters and gauges.
type DefragStats struct {
	Fragments   uint64 // fragments handed to Add
	Reassembled uint64 // datagrams completed
	Duplicates  uint64 // fragments dropped as repeats
	Overlaps    uint64 // datagrams dropped for an overlap
	Invalid     uint64 // datagrams (or lone fragments) dropped as invalid
	Timeouts    uint64 // incomplete datagrams dropped after the timeout
	Evicted     uint64 // incomplete datagrams dropped to keep a zone within its budget
	Queues      uint64 // incomplete datagrams held now (a gauge)
	Bytes       uint64 // memory they are charged now (a gauge)
	Budget      uint64 // the memory each zone may hold (the configured budget)
}

// fragKey identifies an IPv4 datagram (RFC 791 §3.2: source, destination,
// protocol and identification) arriving in a zone.
type fragKey struct {
	zone     Zone
	proto    uint8
	id       uint16
	src, dst uint32
}

// fragPiece is one held fragment's payload, at [off, off+len(data)) of
// the datagram's payload.
type fragPiece struct {
	off  int
	data []byte
}

// fragQueue is an incomplete datagram. The pieces never overlap and are
// kept sorted by offset.
type fragQueue struct {
	key      fragKey
	deadline int64
	head     []byte // Ethernet and IPv4 header (with options) of the first fragment
	pieces   []fragPiece
	end      int // payload length, known once the last fragment arrived; -1 before
	got      int // payload bytes held
	maxLen   int // largest fragment's IPv4 total length
	mem      int // charged memory
	// prev and next link the zone's queues oldest first.
	prev, next *fragQueue
}

// zoneFrags is one zone's share of the table.
type zoneFrags struct {
	mem        int
	oldest     *fragQueue
	newest     *fragQueue
	queueCount int
}

// Defrag holds the fragments of incomplete IPv4 datagrams, per zone. It
// is safe for concurrent use; fragments are rare enough for one mutex.
// Pure logic: time is passed in, nothing runs in the background (Expire
// drops timed-out datagrams).
type Defrag struct {
	budget  int
	timeout int64

	mu     sync.Mutex // guards queues and zones
	queues map[fragKey]*fragQueue
	zones  map[Zone]*zoneFrags

	fragments, reassembled, duplicates, overlaps atomic.Uint64
	invalid, timeouts, evicted                   atomic.Uint64
	queueCount, bytes                            atomic.Int64
}

// NewDefrag returns an empty reassembly table.
func NewDefrag(opt DefragOptions) *Defrag {
	d := &Defrag{budget: opt.Budget, timeout: int64(opt.Timeout),
		queues: map[fragKey]*fragQueue{}, zones: map[Zone]*zoneFrags{}}
	if d.budget <= 0 {
		d.budget = DefaultFragBudget
	}
	if d.timeout <= 0 {
		d.timeout = int64(DefaultFragTimeout)
	}
	return d
}

// Budget returns the per-zone memory budget.
func (d *Defrag) Budget() int { return d.budget }

// Stats returns the counters.
func (d *Defrag) Stats() DefragStats {
	return DefragStats{
		Fragments: d.fragments.Load(), Reassembled: d.reassembled.Load(), Duplicates: d.duplicates.Load(),
		Overlaps: d.overlaps.Load(), Invalid: d.invalid.Load(), Timeouts: d.timeouts.Load(),
		Evicted: d.evicted.Load(), Queues: uint64(max(d.queueCount.Load(), 0)), Bytes: uint64(max(d.bytes.Load(), 0)),
		Budget: uint64(d.budget),
	}
}

// Datagram is what Add returns: with FragComplete, the complete datagram,
// no longer in the table; always, how many other incomplete datagrams Add
// dropped to keep the zone within its budget.
type Datagram struct {
	q *fragQueue
	// Evicted is the number of the zone's oldest incomplete datagrams
	// dropped to make room for this fragment.
	Evicted int
}

// Len returns the length of the frame Assemble writes: the first
// fragment's Ethernet and IPv4 headers plus the whole payload.
func (g Datagram) Len() int { return len(g.q.head) + g.q.end }

// MaxFragment returns the IPv4 total length of the largest fragment that
// made the datagram: it is sent on in fragments no larger (Linux's
// frag_max_size).
func (g Datagram) MaxFragment() int { return g.q.maxLen }

// Assemble writes the datagram as one frame to out, which must hold Len
// bytes, and returns its length: the IPv4 header's total length, flags and
// offset are those of an unfragmented datagram (DF kept), its checksum
// recomputed.
func (g Datagram) Assemble(out []byte) int {
	q := g.q
	n := copy(out, q.head)
	for _, p := range q.pieces {
		copy(out[n+p.off:], p.data)
	}
	l3 := q.headL3()
	ip := header.IPv4(out[l3:n])
	ip.SetTotalLength(uint16(n - l3 + q.end))
	fo := binary.BigEndian.Uint16(out[l3+6:]) & uint16(header.IPv4FlagDF)
	binary.BigEndian.PutUint16(out[l3+6:], fo)
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	return n + q.end
}

// headL3 returns where the IPv4 header starts in head.
func (q *fragQueue) headL3() int {
	for l3 := len(q.head) - header.IPv4MinLen; l3 >= 0; l3-- {
		if q.head[l3]>>4 == 4 && int(q.head[l3]&0x0f)*4 == len(q.head)-l3 {
			return l3
		}
	}
	return 0
}

// Add takes fragment p (decoded from frame, IPv4 with Fragment set) that
// arrived in zone. When it completes its datagram, Add returns the
// datagram (FragComplete); otherwise it keeps a copy of the fragment or
// drops it, as the result says. Add never keeps frame.
func (d *Defrag) Add(zone Zone, frame []byte, p *header.Parsed, now int64) (g Datagram, res DefragResult) {
	d.fragments.Add(1)
	if p.IPVersion != 4 || !p.Fragment || p.L3Off <= 0 || p.L3End > len(frame) {
		d.invalid.Add(1)
		return Datagram{}, FragInvalid
	}
	ip := header.IPv4(frame[p.L3Off:p.L3End])
	hl := ip.HeaderLength()
	off, n := int(p.FragOff), p.L3End-p.L3Off-hl
	end := off + n
	if n <= 0 || p.MoreFrags && n%8 != 0 || hl+end > 65535 {
		d.invalid.Add(1)
		return Datagram{}, FragInvalid
	}
	cost := n + fragOverhead
	if off == 0 {
		cost += p.L3Off + hl
	}
	if cost > d.budget {
		d.invalid.Add(1)
		return Datagram{}, FragNoRoom
	}
	k := fragKey{zone: zone, proto: p.Proto, id: p.IPID, src: u32(p.SrcIP), dst: u32(p.DstIP)}

	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[k]
	if q != nil && now >= q.deadline {
		d.drop(q)
		d.timeouts.Add(1)
		q = nil
	}
	if q == nil {
		q = &fragQueue{key: k, deadline: now + d.timeout, end: -1}
		d.queues[k] = q
		d.link(q)
	}
	// Where the fragment goes, and whether it fits with its neighbours.
	i := sort.Search(len(q.pieces), func(i int) bool { return q.pieces[i].off >= off })
	if i < len(q.pieces) && q.pieces[i].off == off && len(q.pieces[i].data) == n {
		d.duplicates.Add(1)
		return Datagram{}, FragDuplicate
	}
	if i > 0 {
		if prev := q.pieces[i-1]; prev.off+len(prev.data) > off {
			d.drop(q)
			d.overlaps.Add(1)
			return Datagram{}, FragOverlap
		}
	}
	if i < len(q.pieces) && end > q.pieces[i].off {
		d.drop(q)
		d.overlaps.Add(1)
		return Datagram{}, FragOverlap
	}
	switch {
	case !p.MoreFrags && q.end >= 0 && end != q.end, // a second, different last fragment
		!p.MoreFrags && len(q.pieces) > 0 && q.pieces[len(q.pieces)-1].off+len(q.pieces[len(q.pieces)-1].data) > end,
		q.end >= 0 && end > q.end, // past the last fragment
		len(q.pieces) >= maxFragsPerDatagram:
		d.drop(q)
		d.invalid.Add(1)
		return Datagram{}, FragInvalid
	}
	var fits bool
	if g.Evicted, fits = d.charge(q, cost); !fits {
		// Its own datagram alone would exceed the budget.
		d.drop(q)
		d.evicted.Add(1)
		g.Evicted++
		return g, FragNoRoom
	}
	data := make([]byte, n)
	copy(data, frame[p.L3Off+hl:p.L3End])
	q.pieces = append(q.pieces, fragPiece{})
	copy(q.pieces[i+1:], q.pieces[i:])
	q.pieces[i] = fragPiece{off: off, data: data}
	q.got += n
	q.maxLen = max(q.maxLen, p.L3End-p.L3Off)
	if !p.MoreFrags {
		q.end = end
	}
	if off == 0 {
		q.head = append([]byte(nil), frame[:p.L3Off+hl]...)
	}
	if q.end < 0 || q.got != q.end || q.head == nil {
		return g, FragHeld
	}
	d.drop(q)
	d.reassembled.Add(1)
	g.q = q
	return g, FragComplete
}

// charge adds cost to q's zone, first dropping the zone's oldest other
// datagrams while the budget would be exceeded, and returns how many it
// dropped; it charges nothing and reports false when q's datagram alone
// would exceed the budget. The caller holds mu.
func (d *Defrag) charge(q *fragQueue, cost int) (evicted int, fits bool) {
	z := d.zones[q.key.zone]
	for z.mem+cost > d.budget {
		victim := z.oldest
		if victim == q {
			victim = q.next
		}
		if victim == nil {
			return evicted, false
		}
		d.drop(victim)
		d.evicted.Add(1)
		evicted++
	}
	q.mem += cost
	z.mem += cost
	d.bytes.Add(int64(cost))
	return evicted, true
}

// link adds a new queue as its zone's newest. The caller holds mu.
func (d *Defrag) link(q *fragQueue) {
	z := d.zones[q.key.zone]
	if z == nil {
		z = &zoneFrags{}
		d.zones[q.key.zone] = z
	}
	q.prev = z.newest
	if z.newest != nil {
		z.newest.next = q
	} else {
		z.oldest = q
	}
	z.newest = q
	z.queueCount++
	d.queueCount.Add(1)
}

// drop removes q from the table and releases its memory. The caller holds
// mu.
func (d *Defrag) drop(q *fragQueue) {
	if d.queues[q.key] != q {
		return
	}
	delete(d.queues, q.key)
	z := d.zones[q.key.zone]
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		z.oldest = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		z.newest = q.prev
	}
	q.prev, q.next = nil, nil
	z.mem -= q.mem
	d.bytes.Add(-int64(q.mem))
	q.mem = 0
	z.queueCount--
	d.queueCount.Add(-1)
	if z.queueCount == 0 {
		delete(d.zones, q.key.zone)
	}
}

// Expire drops the incomplete datagrams whose timeout has passed and
// returns how many. The router calls it about once a second. A datagram
// that times out is not answered with ICMP time exceeded (code 1): the
// router is not its destination.
func (d *Defrag) Expire(now int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, z := range d.zones {
		for q := z.oldest; q != nil && now >= q.deadline; q = z.oldest {
			d.drop(q)
			n++
			if d.zones[q.key.zone] == nil {
				break
			}
		}
	}
	d.timeouts.Add(uint64(n))
	return n
}

// Flush drops every incomplete datagram.
func (d *Defrag) Flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		d.drop(q)
	}
}

// ZoneBytes returns the memory charged to zone now.
func (d *Defrag) ZoneBytes(zone Zone) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if z := d.zones[zone]; z != nil {
		return z.mem
	}
	return 0
}
