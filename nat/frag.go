package nat

import (
	"sync"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

const (
	// maxFrags bounds the datagrams whose later fragments can be mapped.
	maxFrags = 1000
	// fragTimeout is how long a first fragment's mapping lives (Linux's
	// ipfrag_time is 30 s too).
	fragTimeout = int64(30 * time.Second)
)

// fragKey identifies an IPv4 datagram (RFC 791 §3.2: source, destination,
// protocol and identification) arriving in a zone.
type fragKey struct {
	zone     Zone
	proto    uint8
	id       uint16
	src, dst uint32
}

type fragVal struct {
	c        *Conn
	d        Dir
	deadline int64 // ns
}

// fragTable maps a fragmented datagram, from its first fragment, to its
// connection so its non-first fragments can be translated. Fragments are
// rare, so one mutex suffices.
type fragTable struct {
	mu sync.Mutex // guards m
	m  map[fragKey]fragVal
}

func fragKeyOf(zone Zone, p *header.Parsed) fragKey {
	return fragKey{zone: zone, proto: p.Proto, id: p.IPID, src: u32(p.SrcIP), dst: u32(p.DstIP)}
}

// add remembers that p, a first fragment that arrived in zone, belongs to
// c in direction d. When the table is full of live entries the datagram is
// not remembered and its other fragments will be dropped.
func (f *fragTable) add(zone Zone, p *header.Parsed, c *Conn, d Dir, now int64) {
	k := fragKeyOf(zone, p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[fragKey]fragVal)
	}
	if _, ok := f.m[k]; !ok && len(f.m) >= maxFrags {
		f.purgeLocked(now)
		if len(f.m) >= maxFrags {
			return
		}
	}
	f.m[k] = fragVal{c: c, d: d, deadline: now + fragTimeout}
}

// lookup returns the connection of the non-first fragment p.
func (f *fragTable) lookup(zone Zone, p *header.Parsed, now int64) (*Conn, Dir, bool) {
	k := fragKeyOf(zone, p)
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[k]
	if !ok {
		return nil, 0, false
	}
	if now >= v.deadline || v.c.st.Load()&flagRemoved != 0 {
		delete(f.m, k)
		return nil, 0, false
	}
	return v.c, v.d, true
}

func (f *fragTable) purge(now int64) {
	f.mu.Lock()
	f.purgeLocked(now)
	f.mu.Unlock()
}

func (f *fragTable) purgeLocked(now int64) {
	for k, v := range f.m {
		if now >= v.deadline || v.c.st.Load()&flagRemoved != 0 {
			delete(f.m, k)
		}
	}
}

func (f *fragTable) flush() {
	f.mu.Lock()
	clear(f.m)
	f.mu.Unlock()
}
