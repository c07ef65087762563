package nat

import (
	"math/bits"
	"sync"
)

// Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1): once an
// inside source (zone, protocol, address, port) is masqueraded to an
// outside address and port, its later connections to any destination get
// the same mapping while one of its connections lives, as Linux's
// find_appropriate_src gives them. The index also remembers which source
// each mapped port belongs to, so that port preservation does not hand a
// port another source is mapped to (which would make that source's next
// connection, to another destination, change its mapping).
//
// Like Linux's nf_nat_bysource, the index is intrusive: connections are
// chained through their own bsLink in two fixed arrays of buckets, one
// hashed by inside source and one by mapping, so that indexing a
// connection allocates nothing, the index never grows or rehashes, and a
// lookup reads a chain of about one connection.

// srcKey is an inside source of a masqueraded connection.
type srcKey struct {
	zone  Zone
	proto uint8
	addr  uint32
	port  uint16
}

// mapKey is an outside mapping: the translated source address and port.
type mapKey struct {
	proto uint8
	addr  uint32
	port  uint16
}

// addrKey is an outside address of one protocol.
type addrKey struct {
	proto uint8
	addr  uint32
}

// bsLink is a connection's place in the index. A connection is in the
// source chain when it uses its source's mapping (a source's connections
// there all share one), and in the mapping chain when its source owns
// the mapping (the first source to use it, while one of its connections
// does). Guarded by the stripe lock of the chain.
type bsLink struct {
	srcNext, mapNext *Conn
	inSrc, inMap     bool
}

// bsStripes is how many locks guard the buckets: bucket i is guarded by
// lock i % bsStripes.
const bsStripes = 64

// bySource indexes masqueraded connections by inside source and by
// mapping. Only Create reads it; Create and removals write it.
type bySource struct {
	srcB, mapB []*Conn // chains, a power of two long
	seed       uint64
	locks      [bsStripes]sync.Mutex

	ownedMu sync.Mutex // taken inside a bucket's lock, never the other way
	// owned counts the owned mappings per protocol and address, so that
	// Create skips looking for an unowned port where nearly all are owned.
	owned map[addrKey]uint32
}

// init sizes the buckets for a table of max connections: one bucket per
// two connections, so chains stay about one connection long.
func (b *bySource) init(maxConns int64, seed uint64) {
	n := 1 << bits.Len64(uint64(max(maxConns/2, bsStripes)-1))
	b.srcB, b.mapB = make([]*Conn, n), make([]*Conn, n)
	b.seed = seed
	b.owned = map[addrKey]uint32{}
}

func (b *bySource) bucket(w0, w1 uint64) int {
	hi, lo := bits.Mul64(w0^b.seed, w1^0x9e3779b97f4a7c15)
	return int((hi ^ lo) & uint64(len(b.srcB)-1))
}

func (b *bySource) srcBucket(s srcKey) int {
	return b.bucket(uint64(s.zone)|uint64(s.proto)<<16|uint64(s.port)<<32, uint64(s.addr))
}

func (b *bySource) mapBucket(m mapKey) int {
	return b.bucket(uint64(m.proto)<<16|uint64(m.port)<<32|1<<63, uint64(m.addr))
}

func (b *bySource) lock(i int) *sync.Mutex { return &b.locks[i%bsStripes] }

// snatKeys returns the inside source and the mapping of c, and whether c
// translates its source at all.
func snatKeys(c *Conn) (srcKey, mapKey, bool) {
	o, r := &c.tuple[Original], &c.tuple[Reply]
	if o.src == r.dst && o.sport == r.dport {
		return srcKey{}, mapKey{}, false
	}
	return srcKey{zone: o.zone, proto: o.proto, addr: o.src, port: o.sport},
		mapKey{proto: o.proto, addr: r.dst, port: r.dport}, true
}

func srcOf(c *Conn) srcKey {
	o := &c.tuple[Original]
	return srcKey{zone: o.zone, proto: o.proto, addr: o.src, port: o.sport}
}

func mapOf(c *Conn) mapKey {
	o, r := &c.tuple[Original], &c.tuple[Reply]
	return mapKey{proto: o.proto, addr: r.dst, port: r.dport}
}

// sourceConn returns an indexed connection of source s in bucket i. The
// caller holds the bucket's lock.
func (b *bySource) sourceConn(i int, s srcKey) *Conn {
	for c := b.srcB[i]; c != nil; c = c.bs.srcNext {
		if srcOf(c) == s {
			return c
		}
	}
	return nil
}

// mappingConn returns a connection of m's owner in bucket i. The caller
// holds the bucket's lock.
func (b *bySource) mappingConn(i int, m mapKey) *Conn {
	for c := b.mapB[i]; c != nil; c = c.bs.mapNext {
		if mapOf(c) == m {
			return c
		}
	}
	return nil
}

// choose picks the port a new connection of source s, masqueraded to
// addr, tries first: the source's existing mapping if it has one in
// [lo, hi]; else tsport (port preservation, when keep) unless another
// source owns it. crowded reports that at least 7/8 of the range's ports
// on addr are owned: a random port is then unlikely to be free of owners,
// and looking for one costs more than it is worth.
func (b *bySource) choose(s srcKey, addr uint32, tsport uint16, keep bool, lo, hi uint32) (port uint16, keepIt, crowded bool) {
	i := b.srcBucket(s)
	mu := b.lock(i)
	mu.Lock()
	var m mapKey
	c := b.sourceConn(i, s)
	if c != nil {
		m = mapOf(c)
	}
	mu.Unlock()
	if c != nil && m.addr == addr && lo <= uint32(m.port) && uint32(m.port) <= hi {
		tsport, keep = m.port, true
	} else if keep && b.ownedByOther(mapKey{proto: s.proto, addr: addr, port: tsport}, s) {
		keep = false
	}
	size := hi - lo + 1
	b.ownedMu.Lock()
	n := b.owned[addrKey{s.proto, addr}]
	b.ownedMu.Unlock()
	return tsport, keep, n >= size-size/8
}

// ownedByOther reports whether the mapping m belongs to a source other
// than s.
func (b *bySource) ownedByOther(m mapKey, s srcKey) bool {
	i := b.mapBucket(m)
	mu := b.lock(i)
	mu.Lock()
	defer mu.Unlock()
	c := b.mappingConn(i, m)
	return c != nil && srcOf(c) != s
}

// add indexes a newly linked connection, unless it was removed meanwhile.
// A source's first mapping is the one it keeps; a connection that had to
// get another one (its mapping was taken toward that destination) is not
// in the source chain, and one whose mapping another source owns is not
// in the mapping chain.
func (b *bySource) add(c *Conn) {
	s, m, ok := snatKeys(c)
	if !ok {
		return
	}
	i := b.srcBucket(s)
	mu := b.lock(i)
	mu.Lock()
	if c.st.Load()&flagRemoved != 0 {
		mu.Unlock()
		return
	}
	if o := b.sourceConn(i, s); o == nil || mapOf(o) == m {
		c.bs.srcNext, b.srcB[i] = b.srcB[i], c
		c.bs.inSrc = true
	}
	mu.Unlock()

	j := b.mapBucket(m)
	mu = b.lock(j)
	mu.Lock()
	if c.st.Load()&flagRemoved != 0 {
		mu.Unlock()
		return
	}
	o := b.mappingConn(j, m)
	if o == nil || srcOf(o) == s {
		c.bs.mapNext, b.mapB[j] = b.mapB[j], c
		c.bs.inMap = true
	}
	if o == nil { // under the bucket's lock, so that a removal counts after
		b.ownedMu.Lock()
		b.owned[addrKey{m.proto, m.addr}]++
		b.ownedMu.Unlock()
	}
	mu.Unlock()
}

// remove takes an unlinked connection (flagRemoved set) out of the index.
func (b *bySource) remove(c *Conn) {
	s, m, ok := snatKeys(c)
	if !ok {
		return
	}
	i := b.srcBucket(s)
	mu := b.lock(i)
	mu.Lock()
	if c.bs.inSrc {
		for p := &b.srcB[i]; *p != nil; p = &(*p).bs.srcNext {
			if *p == c {
				*p = c.bs.srcNext
				break
			}
		}
		c.bs.srcNext, c.bs.inSrc = nil, false
	}
	mu.Unlock()

	j := b.mapBucket(m)
	mu = b.lock(j)
	mu.Lock()
	if c.bs.inMap {
		for p := &b.mapB[j]; *p != nil; p = &(*p).bs.mapNext {
			if *p == c {
				*p = c.bs.mapNext
				break
			}
		}
		c.bs.mapNext, c.bs.inMap = nil, false
		if b.mappingConn(j, m) == nil { // the mapping's last: no owner now
			k := addrKey{m.proto, m.addr}
			b.ownedMu.Lock()
			if b.owned[k] <= 1 {
				delete(b.owned, k)
			} else {
				b.owned[k]--
			}
			b.ownedMu.Unlock()
		}
	}
	mu.Unlock()
}

// clear forgets everything (Flush, after marking every connection
// removed).
func (b *bySource) clear() {
	for i := range b.locks {
		b.locks[i].Lock()
	}
	clear(b.srcB)
	clear(b.mapB)
	for i := range b.locks {
		b.locks[i].Unlock()
	}
	b.ownedMu.Lock()
	clear(b.owned)
	b.ownedMu.Unlock()
}
