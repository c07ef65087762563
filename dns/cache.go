package dns

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Bounds of the cache of forwarded answers.
const (
	// maxCacheTTL caps how long a positive answer is cached, Unbound's
	// cache-max-ttl.
	maxCacheTTL = 86400
	// maxNegativeTTL caps how long a negative answer is cached, Unbound's
	// cache-max-negative-ttl (RFC 2308 §5 suggests one to three hours).
	maxNegativeTTL = 3600
	// maxCachedLen is the largest answer cached, in bytes, so the cache
	// holds at most CacheSize × 4 KiB. Larger answers are still relayed.
	maxCachedLen = 4096
)

// optLen is the size of an OPT record with no options (RFC 6891 §6.1.2).
const optLen = 11

// cacheKey says which question a cached answer answers. The scope is not
// part of it: a forwarded name means the same to every scope.
type cacheKey struct {
	name          string // the question name, canonical
	qtype, qclass uint16
	// do (DNSSEC OK, RFC 3225 §3) and cd (Checking Disabled, RFC 4035
	// §3.2.2) change what an upstream answers.
	do, cd bool
}

// keyOf returns the cache key of req, which has one question.
func keyOf(req *mdns.Msg) cacheKey {
	q := req.Question[0]
	k := cacheKey{name: mdns.CanonicalName(q.Name), qtype: q.Qtype, qclass: q.Qclass, cd: req.CheckingDisabled}
	if opt := req.IsEdns0(); opt != nil {
		k.do = opt.Do()
	}
	return k
}

// cacheEntry is one cached answer. All but prev and next are never changed
// once the entry is in the cache.
type cacheEntry struct {
	key     cacheKey
	wire    []byte    // the answer packed with ID 0 and no OPT record
	ttls    []uint16  // offset in wire of the TTL of each record
	stored  time.Time // when the TTLs in wire were current
	expires time.Time // when the entry stops being served

	prev, next *cacheEntry // LRU list; guarded by cache.mu
}

// cache is a bounded LRU cache of forwarded answers. Its methods are safe
// for concurrent use; a nil *cache holds nothing.
type cache struct {
	size int // most entries held

	mu      sync.Mutex               // guards entries and the list through lru
	entries map[cacheKey]*cacheEntry // by key
	lru     cacheEntry               // list sentinel: lru.next is the most recently used entry, lru.prev the least
}

func newCache(size int) *cache {
	c := &cache{size: size, entries: make(map[cacheKey]*cacheEntry)}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// get returns the entry of k unless it has expired at now, and marks it the
// most recently used.
func (c *cache) get(k cacheKey, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	switch {
	case e == nil:
		return nil
	case !now.Before(e.expires):
		c.remove(e)
		return nil
	}
	c.unlink(e)
	c.pushFront(e)
	return e
}

// put caches r, an upstream's good answer to the question of k received at
// now, if it may be cached. Entries that have not expired and are dropped
// to make room count in evictions.
func (c *cache) put(k cacheKey, r *mdns.Msg, now time.Time, evictions *atomic.Uint64) {
	e := newEntry(k, r, now)
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[k]; old != nil {
		c.remove(old)
	}
	c.entries[k] = e
	c.pushFront(e)
	for len(c.entries) > c.size {
		lru := c.lru.prev
		if now.Before(lru.expires) {
			evictions.Add(1)
		}
		c.remove(lru)
	}
}

// remove drops e from the cache. c.mu must be held.
func (c *cache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
}

// unlink takes e out of the list. c.mu must be held.
func (c *cache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// pushFront puts e first in the list. c.mu must be held.
func (c *cache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// newEntry returns the entry caching r, an answer to the question of k
// received at now, or nil when r may not be cached: truncated, larger than
// maxCachedLen, or with a TTL of 0 (see cacheTTL).
func newEntry(k cacheKey, r *mdns.Msg, now time.Time) *cacheEntry {
	ttl := cacheTTL(r)
	if ttl == 0 || r.Truncated {
		return nil
	}
	m := *r // shallow: packing reads the records, and OPT is left out
	m.Id, m.Compress = 0, true
	m.Extra = make([]mdns.RR, 0, len(r.Extra))
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	wire, err := m.Pack()
	if err != nil || len(wire) > maxCachedLen {
		return nil
	}
	ttls, ok := ttlOffsets(wire)
	if !ok {
		return nil
	}
	// No TTL served outlives the entry: this also gives the SOA of a
	// negative answer the TTL RFC 2308 §3 asks for.
	for _, off := range ttls {
		binary.BigEndian.PutUint32(wire[off:], min(ttlOf(binary.BigEndian.Uint32(wire[off:])), ttl))
	}
	return &cacheEntry{key: k, wire: wire, ttls: ttls, stored: now, expires: now.Add(time.Duration(ttl) * time.Second)}
}

// cacheTTL returns how many seconds r, a NOERROR or NXDOMAIN answer, may be
// cached. A positive answer, one with a record of the type asked, is cached
// for the smallest TTL of its answer records (RFC 2181 §5.2), at most
// maxCacheTTL. A negative answer, NXDOMAIN or NODATA, is cached for the
// smallest of its SOA's TTL and MINIMUM (RFC 2308 §5) and the TTLs of its
// answer records (a CNAME chain, RFC 2308 §2.1), at most maxNegativeTTL; one
// without an SOA in its authority section is not cached (0). A TTL with the
// top bit set counts as 0 (RFC 2181 §8).
func cacheTTL(r *mdns.Msg) uint32 {
	q := r.Question[0]
	ttl, negative := uint32(maxCacheTTL), r.Rcode == mdns.RcodeNameError
	answered := false
	for _, rr := range r.Answer {
		h := rr.Header()
		ttl = min(ttl, ttlOf(h.Ttl))
		answered = answered || h.Rrtype == q.Qtype || q.Qtype == mdns.TypeANY
	}
	if answered && !negative {
		return ttl
	}
	for _, rr := range r.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			return min(ttl, ttlOf(soa.Hdr.Ttl), ttlOf(soa.Minttl), maxNegativeTTL)
		}
	}
	return 0
}

// ttlOf returns ttl, or 0 when its top bit is set (RFC 2181 §8).
func ttlOf(ttl uint32) uint32 {
	if ttl > 1<<31-1 {
		return 0
	}
	return ttl
}

// answer returns e as the answer to req at now: req's ID, RD bit and
// question case, every TTL less the whole seconds e has been cached, and an
// OPT record advertising udpSize with req's DO bit exactly when req has one
// (RFC 6891 §7, RFC 3225 §3).
func (e *cacheEntry) answer(req *mdns.Msg, udpSize uint16, now time.Time) []byte {
	opt := req.IsEdns0()
	b := make([]byte, len(e.wire), len(e.wire)+optLen)
	copy(b, e.wire)
	binary.BigEndian.PutUint16(b[0:], req.Id)
	const rd = 1 // in the third byte (RFC 1035 §4.1.1)
	b[2] &^= rd
	if req.RecursionDesired {
		b[2] |= rd
	}
	setQuestionName(b, req.Question[0].Name)
	age := uint32(max(now.Sub(e.stored), 0) / time.Second)
	for _, off := range e.ttls {
		ttl := binary.BigEndian.Uint32(b[off:])
		binary.BigEndian.PutUint32(b[off:], ttl-min(ttl, age))
	}
	if opt != nil {
		var flags byte
		if opt.Do() {
			flags = 0x80 // DO, the top bit of the OPT TTL's flags (RFC 3225 §3)
		}
		b = append(b,
			0,     // owner: the root
			0, 41, // type OPT
			byte(udpSize>>8), byte(udpSize), // class: the payload size
			0, 0, flags, 0, // TTL: extended RCODE, version 0, flags
			0, 0) // RDLENGTH: no options
		binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1) // ARCOUNT
	}
	return b
}

// setQuestionName overwrites the name of the first question of the packed
// message b with name when they differ only in case.
func setQuestionName(b []byte, name string) {
	var buf [256]byte
	n, err := mdns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil || headerLen+n > len(b) {
		return
	}
	q := b[headerLen : headerLen+n]
	for i := range n {
		if lower(q[i]) != lower(buf[i]) {
			return
		}
	}
	copy(q, buf[:n])
}

// lower returns the lower case of an ASCII letter, and any other byte as is.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// ttlOffsets returns the offset of the TTL of every record of the packed
// message b, and false when b is not a well-formed message.
func ttlOffsets(b []byte) ([]uint16, bool) {
	if len(b) < headerLen || len(b) > 1<<16-1 {
		return nil, false
	}
	be := binary.BigEndian
	qd := int(be.Uint16(b[4:]))
	rrs := int(be.Uint16(b[6:])) + int(be.Uint16(b[8:])) + int(be.Uint16(b[10:]))
	off := headerLen
	for range qd {
		if off = skipName(b, off); off < 0 || off+4 > len(b) {
			return nil, false
		}
		off += 4 // type, class
	}
	ttls := make([]uint16, 0, rrs)
	for range rrs {
		if off = skipName(b, off); off < 0 || off+10 > len(b) {
			return nil, false
		}
		ttls = append(ttls, uint16(off+4)) // after type and class
		off += 10 + int(be.Uint16(b[off+8:]))
		if off > len(b) {
			return nil, false
		}
	}
	return ttls, off == len(b)
}

// skipName returns the offset just past the domain name at off in b
// (RFC 1035 §4.1.4), or -1 when it runs past the end or is not a name.
func skipName(b []byte, off int) int {
	for off < len(b) {
		c := b[off]
		switch {
		case c == 0:
			return off + 1
		case c&0xC0 == 0xC0: // a pointer ends the name
			if off+2 > len(b) {
				return -1
			}
			return off + 2
		case c&0xC0 != 0:
			return -1
		}
		off += 1 + int(c)
	}
	return -1
}
