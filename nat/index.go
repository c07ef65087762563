package nat

import (
	"sync"
	"sync/atomic"
)

// shard is one part of the index: an open-addressing hash table with
// linear probing and backward-shift deletion (no tombstones), keyed by the
// low 32 bits of the key hash.
//
// Readers take no lock: they run a seqlock, reading seq, probing with
// atomic loads, and reading seq again; a change means a writer interfered
// and they retry, falling back to mu when a writer is active. Writers hold
// mu and make seq odd while they modify the table. So the per-packet path
// writes nothing shared.
//
// A connection has a slot in the shard of each of its two keys. Linking
// and unlinking it holds both shards' mu (lower index first), so its two
// slots and its flagRemoved bit change together.
type shard struct {
	mu  sync.Mutex             // serializes writers; guards n and the contents of *tab
	seq atomic.Uint32          // odd while a writer modifies the table
	tab atomic.Pointer[[]slot] // len is a power of two ≥ minSlots, load ≤ 3/4; nil when empty
	n   int                    // occupied slots
	_   [32]byte               // pad to 64 bytes: one cache line per shard
}

// slot is one entry; its fields are atomics so that readers may race with
// writers (the seqlock discards what they saw).
type slot struct {
	c  atomic.Pointer[Conn] // nil: empty
	hd atomic.Uint64        // hash<<1 | dir: home position and tag, and which of c's tuples is the key
}

func packHD(h uint32, d Dir) uint64 { return uint64(h)<<1 | uint64(d&Reply) }

// probe returns the index of k's slot in tab, or -1. It tolerates a table
// that changes underneath (the loop is bounded); callers without mu
// validate the result with seq.
func probe(tab []slot, k *key, h uint32) int {
	mask := len(tab) - 1
	for n, i := 0, int(h)&mask; n < len(tab); n, i = n+1, (i+1)&mask {
		c := tab[i].c.Load()
		if c == nil {
			return -1
		}
		hd := tab[i].hd.Load()
		if uint32(hd>>1) == h && c.tuple[hd&1] == *k {
			return i
		}
	}
	return -1
}

// lookup finds k without locking.
func (s *shard) lookup(k *key, h uint32) (*Conn, Dir) {
	for try := 0; try < 2; try++ {
		s1 := s.seq.Load()
		if s1&1 != 0 {
			break // a writer is active: wait for it on mu
		}
		var c *Conn
		var d Dir
		if tp := s.tab.Load(); tp != nil {
			tab := *tp
			if i := probe(tab, k, h); i >= 0 {
				c, d = tab[i].c.Load(), Dir(tab[i].hd.Load()&1)
			}
		}
		if s.seq.Load() == s1 {
			return c, d
		}
	}
	s.mu.Lock()
	c, d, _ := s.find(k, h)
	s.mu.Unlock()
	return c, d
}

// slots returns the current table. The caller holds mu.
func (s *shard) slots() []slot {
	if tp := s.tab.Load(); tp != nil {
		return *tp
	}
	return nil
}

// find returns k's connection, direction and slot index (-1 if absent).
// The caller holds mu.
func (s *shard) find(k *key, h uint32) (*Conn, Dir, int) {
	tab := s.slots()
	if len(tab) == 0 {
		return nil, 0, -1
	}
	i := probe(tab, k, h)
	if i < 0 {
		return nil, 0, -1
	}
	return tab[i].c.Load(), Dir(tab[i].hd.Load() & 1), i
}

// insert adds a slot for c's tuple d, which must be absent. The caller
// holds mu.
func (s *shard) insert(c *Conn, d Dir, h uint32) {
	s.seq.Add(1)
	if tab := s.slots(); (s.n+1)*4 > len(tab)*3 {
		s.resize(max(minSlots, 2*len(tab)))
	}
	place(s.slots(), c, packHD(h, d))
	s.n++
	s.seq.Add(1)
}

func place(tab []slot, c *Conn, hd uint64) {
	mask := len(tab) - 1
	for i := int(hd>>1) & mask; ; i = (i + 1) & mask {
		if tab[i].c.Load() == nil {
			tab[i].hd.Store(hd)
			tab[i].c.Store(c)
			return
		}
	}
}

// resize moves the entries to a new table of n slots (nil for 0) and
// publishes it. The caller holds mu with seq odd.
func (s *shard) resize(n int) {
	old := s.slots()
	if n == 0 {
		s.tab.Store(nil)
		return
	}
	tab := make([]slot, n)
	for i := range old {
		if c := old[i].c.Load(); c != nil {
			place(tab, c, old[i].hd.Load())
		}
	}
	s.tab.Store(&tab)
}

// deleteAt empties slot i and shifts later members of its probe run back,
// then shrinks a sparse table. The caller holds mu.
func (s *shard) deleteAt(i int) {
	s.seq.Add(1)
	defer s.seq.Add(1)
	tab := s.slots()
	mask := len(tab) - 1
	for {
		tab[i].c.Store(nil)
		j := i
		for {
			j = (j + 1) & mask
			c := tab[j].c.Load()
			if c == nil {
				s.n--
				if s.n == 0 {
					s.resize(0)
				} else if len(tab) > minSlots && s.n*8 < len(tab) {
					s.resize(len(tab) / 2)
				}
				return
			}
			hd := tab[j].hd.Load()
			home := int(hd>>1) & mask
			// The entry at j may fill the hole if the hole lies on its
			// probe path, i.e. closer to its home than j is.
			if (i-home)&mask < (j-home)&mask {
				tab[i].hd.Store(hd)
				tab[i].c.Store(c)
				i = j
				break
			}
		}
	}
}

// clear empties the shard. The caller holds mu.
func (s *shard) clear() {
	s.seq.Add(1)
	s.resize(0)
	s.n = 0
	s.seq.Add(1)
}

func (t *Table) lock2(a, b int) {
	if a > b {
		a, b = b, a
	}
	t.shards[a].mu.Lock()
	if a != b {
		t.shards[b].mu.Lock()
	}
}

func (t *Table) unlock2(a, b int) {
	t.shards[a].mu.Unlock()
	if a != b {
		t.shards[b].mu.Unlock()
	}
}

// get looks k up and returns its connection and direction, removing it
// instead if it has expired.
func (t *Table) get(k *key, now int64) (*Conn, Dir) {
	h := t.hash(k)
	c, d := t.shards[shardOf(h)].lookup(k, uint32(h))
	if c == nil {
		return nil, 0
	}
	if expired(c.st.Load(), now) {
		t.remove(c, now, removeExpired)
		return nil, 0
	}
	return c, d
}
