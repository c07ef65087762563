package nat

import (
	"sync"
	"sync/atomic"
)

// Per-endpoint limits (OVS's zone limits, keyed finer). An endpoint is the
// source address of a connection's original direction in its zone: an
// endpoint's NIC on a network, the host leg, or one remote client on the
// uplink. The limiter keeps each endpoint's connections in creation order
// and its count, so that
//
//   - an endpoint at Options.MaxPerEndpoint makes room for a new
//     connection by evicting its own oldest evictable connection, and is
//     refused (ErrEndpointLimit) when it has none;
//   - while the table is in its reserve (Options.Reserve entries short of
//     full), an endpoint holding at least a reserve's worth of connections
//     makes room the same way, so the last entries stay for the others;
//   - a full table evicts first from the endpoint holding the most
//     connections (the flooder), oldest first, before it falls back to an
//     early drop near the new connection's hash.
//
// Evictable means expired, closing (TCP) or not assured: assured is traffic both ways
// that went on after the first reply (TCP: ESTABLISHED; UDP: a packet
// after the first reply), so a flood of request/response flows, each
// replied once, is evictable although each keeps the 120 s replied
// timeout RFC 4787 REQ-5 asks for.

// Defaults derived from Options.MaxEntries.
const (
	// DefaultMaxPerEndpointDiv divides MaxEntries into the default
	// per-endpoint limit: one endpoint may hold a quarter of the table.
	DefaultMaxPerEndpointDiv = 4
	// DefaultReserveDiv divides MaxEntries into the default reserve: the
	// last eighth of the table is kept for endpoints holding less.
	DefaultReserveDiv = 8
	// evictScan bounds how many of an endpoint's oldest connections one
	// eviction examines; assured ones it passes are moved to the back, so
	// the next eviction looks further.
	evictScan = 64
	limShards = 64
)

// evictable reports whether a connection with state word w may be
// evicted at now: expired, not assured, or a TCP connection that is
// closing (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE: Linux's
// tcp_can_early_drop).
func evictable(w uint64, now int64) bool {
	if expired(w, now) || w&flagAssured == 0 {
		return true
	}
	switch TCPState(w & stateMask) {
	case TCPFinWait, TCPCloseWait, TCPLastAck, TCPTimeWait, TCPClose:
		return true
	}
	return false
}

// epKey is an endpoint: a source address in a zone.
type epKey struct {
	zone Zone
	addr uint32
}

// endpoint is one endpoint's connections, oldest first. Its list and
// count are guarded by its limiter shard's mutex; n is also read without
// it (atomically) to compare endpoints.
type endpoint struct {
	key        epKey
	n          atomic.Int64
	head, tail *Conn
}

// epLink is a connection's place in its endpoint's list.
type epLink struct {
	e          *endpoint
	prev, next *Conn
}

type limShard struct {
	mu sync.Mutex // guards m and the lists and links of its endpoints
	m  map[epKey]*endpoint
	_  [48]byte
}

// limiter is the per-endpoint accounting of a Table.
type limiter struct {
	max     int64 // connections per endpoint; 0: unlimited
	reserve int64 // entries kept for endpoints holding fewer than this; 0: none
	shards  [limShards]limShard
	heavy   atomic.Pointer[endpoint] // the endpoint with the most connections, approximately
}

func (t *Table) limShard(k epKey) *limShard {
	hk := key{zone: k.zone, src: k.addr, proto: 0xff}
	return &t.lim.shards[t.hash(&hk)%limShards]
}

func epOf(c *Conn) epKey {
	return epKey{zone: c.tuple[Original].zone, addr: c.tuple[Original].src}
}

// count returns the connections endpoint k holds.
func (t *Table) count(k epKey) int64 {
	s := t.limShard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[k]; e != nil {
		return e.n.Load()
	}
	return 0
}

// admit makes room for a new connection of endpoint k under its limit and
// the reserve. It reports false when k is over a limit and has nothing
// to evict.
func (t *Table) admit(k epKey, now int64) bool {
	l := &t.lim
	if l.max == 0 && l.reserve == 0 {
		return true
	}
	// While the whole table holds fewer than an endpoint's limit and is
	// short of its reserve, no endpoint can be over either: no lookup.
	if total := t.n.Load(); (l.max == 0 || total < l.max) && total < t.max-l.reserve {
		return true
	}
	n := t.count(k)
	over := l.max > 0 && n >= l.max
	if !over && l.reserve > 0 && n >= l.reserve && t.n.Load() >= t.max-l.reserve {
		over = true
	}
	if !over {
		return true
	}
	return t.evictOwn(k, now)
}

// evictOwn removes endpoint k's oldest evictable connection.
func (t *Table) evictOwn(k epKey, now int64) bool {
	s := t.limShard(k)
	for range 4 { // a victim removed meanwhile, or only streams seen: look again
		s.mu.Lock()
		e := s.m[k]
		var victim *Conn
		if e != nil {
			c := e.head
			for i := 0; c != nil && i < evictScan; i++ {
				next := c.ep.next
				w := c.st.Load()
				if evictable(w, now) {
					victim = c
					break
				}
				if next != nil { // rotate the assured one to the back
					unlinkEP(e, c)
					appendEP(e, c)
				}
				c = next
			}
		}
		s.mu.Unlock()
		if victim == nil {
			if e == nil || e.n.Load() <= evictScan {
				return false
			}
			continue // the streams passed are at the back now: look further
		}
		if t.remove(victim, now, removeEarlyDrop) {
			return true
		}
	}
	return false
}

// evictHeavy evicts the oldest evictable connection of the endpoint
// holding the most connections.
func (t *Table) evictHeavy(now int64) bool {
	h := t.lim.heavy.Load()
	return h != nil && h.n.Load() > 0 && t.evictOwn(h.key, now)
}

// limAdd appends a newly linked connection to its endpoint's list.
func (t *Table) limAdd(c *Conn) {
	k := epOf(c)
	s := t.limShard(k)
	s.mu.Lock()
	if c.st.Load()&flagRemoved != 0 || c.ep.e != nil {
		s.mu.Unlock()
		return // removed before it was added
	}
	if s.m == nil {
		s.m = map[epKey]*endpoint{}
	}
	e := s.m[k]
	if e == nil {
		e = &endpoint{key: k}
		s.m[k] = e
	}
	appendEP(e, c)
	n := e.n.Add(1)
	s.mu.Unlock()
	if h := t.lim.heavy.Load(); h != e && (h == nil || n > h.n.Load()) {
		t.lim.heavy.Store(e)
	}
}

// limRemove takes an unlinked connection off its endpoint's list.
func (t *Table) limRemove(c *Conn) {
	k := epOf(c)
	s := t.limShard(k)
	s.mu.Lock()
	e := c.ep.e
	if e == nil {
		s.mu.Unlock()
		return
	}
	unlinkEP(e, c)
	if e.n.Add(-1) == 0 {
		delete(s.m, k)
		t.lim.heavy.CompareAndSwap(e, nil)
	}
	s.mu.Unlock()
}

// limClear forgets every endpoint (Flush).
func (t *Table) limClear() {
	for i := range t.lim.shards {
		s := &t.lim.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			for c := e.head; c != nil; {
				next := c.ep.next
				c.ep = epLink{}
				c = next
			}
		}
		clear(s.m)
		s.mu.Unlock()
	}
	t.lim.heavy.Store(nil)
}

func appendEP(e *endpoint, c *Conn) {
	c.ep = epLink{e: e, prev: e.tail}
	if e.tail != nil {
		e.tail.ep.next = c
	} else {
		e.head = c
	}
	e.tail = c
}

func unlinkEP(e *endpoint, c *Conn) {
	if c.ep.prev != nil {
		c.ep.prev.ep.next = c.ep.next
	} else {
		e.head = c.ep.next
	}
	if c.ep.next != nil {
		c.ep.next.ep.prev = c.ep.prev
	} else {
		e.tail = c.ep.prev
	}
	c.ep = epLink{}
}

// EndpointCount returns how many connections the endpoint with source
// address addr in zone holds (connections it opened).
func (t *Table) EndpointCount(zone Zone, addr [4]byte) int {
	return int(t.count(epKey{zone: zone, addr: uint32(addr[0])<<24 | uint32(addr[1])<<16 | uint32(addr[2])<<8 | uint32(addr[3])}))
}

// MaxPerEndpoint returns the per-endpoint limit (0: unlimited) and the
// reserve.
func (t *Table) MaxPerEndpoint() (limit, reserve int) {
	return int(t.lim.max), int(t.lim.reserve)
}
