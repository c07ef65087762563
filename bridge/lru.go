package bridge

import "github.com/vswitchd/vswitchd/port"

// portState is what the table knows about one port with dynamic entries.
// It is guarded by Table.mu.
//
// h is a binary min-heap of the port's dynamic entries ordered by last-seen
// time and then key, so h[0] is the entry eviction takes from this port.
// The slot array records each entry's index in h (slotArray.idx).
// Last-seen times change only under Table.mu, so the heap is always exact.
type portState struct {
	h []node
}

// node is a heap element: a copy of the entry's last-seen time and its key.
type node struct {
	seen int64
	key  uint64
}

// before reports whether a sorts before b in eviction order.
func before(a, b node) bool {
	return a.seen < b.seen || a.seen == b.seen && a.key < b.key
}

// link adds the dynamic entry key, stored with last-seen time seen, to the
// heap of port. t.mu must be held.
func (t *Table) link(port port.ID, key uint64, seen int64) {
	p := t.ports[port]
	if p == nil {
		p = new(portState)
		t.ports[port] = p
	}
	p.h = append(p.h, node{})
	t.heapUp(p, len(p.h)-1, node{seen, key})
}

// unlink removes the dynamic entry key from the heap of port. t.mu must be
// held.
func (t *Table) unlink(port port.ID, key uint64) {
	p := t.ports[port]
	i, last := t.heapIndex(key), len(p.h)-1
	moved := p.h[last]
	p.h = p.h[:last]
	if i != last {
		t.heapFix(p, i, moved)
	}
	if len(p.h) == 0 {
		delete(t.ports, port)
	}
}

// touched moves the dynamic entry key of port after its last-seen time was
// raised to seen. t.mu must be held.
func (t *Table) touched(port port.ID, key uint64, seen int64) {
	p := t.ports[port]
	t.heapDown(p, t.heapIndex(key), node{seen, key})
}

// heapIndex returns the heap index of the stored dynamic entry key.
func (t *Table) heapIndex(key uint64) int {
	sh, i, _ := t.locate(key)
	return int(sh.arr.Load().idx[i])
}

// heapFix places n at index i, moving it up or down as needed.
func (t *Table) heapFix(p *portState, i int, n node) {
	if i > 0 && before(n, p.h[(i-1)/2]) {
		t.heapUp(p, i, n)
	} else {
		t.heapDown(p, i, n)
	}
}

// heapUp places n at index i or above.
func (t *Table) heapUp(p *portState, i int, n node) {
	for i > 0 {
		parent := (i - 1) / 2
		if !before(n, p.h[parent]) {
			break
		}
		t.heapSet(p, i, p.h[parent])
		i = parent
	}
	t.heapSet(p, i, n)
}

// heapDown places n at index i or below.
func (t *Table) heapDown(p *portState, i int, n node) {
	for {
		c := 2*i + 1
		if c >= len(p.h) {
			break
		}
		if r := c + 1; r < len(p.h) && before(p.h[r], p.h[c]) {
			c = r
		}
		if !before(p.h[c], n) {
			break
		}
		t.heapSet(p, i, p.h[c])
		i = c
	}
	t.heapSet(p, i, n)
}

// heapSet stores n at index i and records i in n's slot.
func (t *Table) heapSet(p *portState, i int, n node) {
	p.h[i] = n
	sh, j, _ := t.locate(n.key)
	sh.arr.Load().idx[j] = int32(i)
}
