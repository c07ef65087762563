package nat

import "sync"

// Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1): once an
// inside source (zone, protocol, address, port) is masqueraded to an
// outside address and port, its later connections to any destination get
// the same mapping while one of its connections lives, as Linux's
// find_appropriate_src gives them. The index also remembers which source
// each mapped port belongs to, so that port preservation does not hand a
// port another source is mapped to (which would make that source's next
// connection, to another destination, change its mapping).

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

type mapOwner struct {
	src srcKey
	n   int // linked connections of src using the mapping
}

type srcMapping struct {
	m mapKey
	n int // linked connections of the source using m
}

// bySource indexes masqueraded connections by inside source and by
// mapping, counting the linked connections behind each entry. Only
// Create reads it; Create and removals write it.
type bySource struct {
	mu    sync.Mutex // guards the maps
	src   map[srcKey]srcMapping
	owner map[mapKey]mapOwner
}

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

// mapping returns the port source s is mapped to on address addr (the
// SNAT address), if it has a connection.
func (b *bySource) mapping(s srcKey, addr uint32) (uint16, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.src[s]
	if !ok || e.m.addr != addr {
		return 0, false
	}
	return e.m.port, true
}

// ownedByOther reports whether the mapping m belongs to a source other
// than s.
func (b *bySource) ownedByOther(m mapKey, s srcKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.owner[m]
	return ok && o.src != s
}

// add records a newly linked connection. A source's first mapping is the
// one it keeps; a connection that had to get another one (its mapping
// was taken toward that destination) is not indexed.
func (b *bySource) add(c *Conn) {
	s, m, ok := snatKeys(c)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.src == nil {
		b.src, b.owner = map[srcKey]srcMapping{}, map[mapKey]mapOwner{}
	}
	if e, ok := b.src[s]; !ok || e.m == m {
		b.src[s] = srcMapping{m: m, n: e.n + 1}
	}
	if o, ok := b.owner[m]; !ok || o.src == s {
		b.owner[m] = mapOwner{src: s, n: o.n + 1}
	}
}

// remove forgets an unlinked connection.
func (b *bySource) remove(c *Conn) {
	s, m, ok := snatKeys(c)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.src[s]; ok && e.m == m {
		if e.n <= 1 {
			delete(b.src, s)
		} else {
			b.src[s] = srcMapping{m: m, n: e.n - 1}
		}
	}
	if o, ok := b.owner[m]; ok && o.src == s {
		if o.n <= 1 {
			delete(b.owner, m)
		} else {
			b.owner[m] = mapOwner{src: s, n: o.n - 1}
		}
	}
}

// clear forgets everything.
func (b *bySource) clear() {
	b.mu.Lock()
	clear(b.src)
	clear(b.owner)
	b.mu.Unlock()
}
