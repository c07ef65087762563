package bridge

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/vlan"
)

// The table is split into numShards shards, each an open-addressing array
// with linear probing and backward-shift deletion (no tombstones), kept at
// most half full.
//
// Readers never lock and never write. Writers hold Table.mu. Inserting into
// an empty slot stores the key last, so a reader that sees the key sees its
// val; growing or shrinking builds a new array, leaving the old one intact
// for readers still probing it, and publishes it with one pointer store;
// any change to an entry is one store of its val. Only deletion, which
// moves slots, makes the shard's seq odd; a reader whose probe overlaps one
// retries.
const (
	defaultShardBits = 6
	numShards        = 1 << defaultShardBits
	// minSlots is the smallest slot array of a shard.
	minSlots = 8
	// spinLimit is how many times a reader retries a shard that is being
	// written before it yields its P to the writer.
	spinLimit = 16
)

// slot is one cell of a shard's array: 16 bytes, four to a cache line.
type slot struct {
	// key is vid<<48 | mac, 0 when the slot is empty: the all-zero MAC is
	// never stored, so no real key is 0.
	key atomic.Uint64
	// val packs the entry: see pack.
	val atomic.Uint64
}

// tick is the resolution of stored last-seen times.
const tick = int64(time.Millisecond)

const (
	staticBit = 1 << 16
	seenShift = 17
)

// pack returns the val of an entry: the port in the low 16 bits, then the
// static flag, then the last-seen time in whole milliseconds (floored) as a
// signed 47-bit number, enough for any int64 nanosecond time.
func pack(port port.ID, static bool, seen int64) uint64 {
	v := uint64(floorTick(seen))<<seenShift | uint64(port)
	if static {
		v |= staticBit
	}
	return v
}

// valPort, valStatic and valSeen unpack a val; quantize floors a time to
// the stored resolution, as pack does.
func valPort(v uint64) port.ID { return port.ID(v) }
func valStatic(v uint64) bool  { return v&staticBit != 0 }
func valSeen(v uint64) int64   { return int64(v) >> seenShift * tick }
func quantize(now int64) int64 { return floorTick(now) * tick }
func floorTick(ns int64) int64 {
	q := ns / tick
	if ns%tick < 0 {
		q--
	}
	return q
}

// slotArray is a shard's array; len(slots) is a power of two.
type slotArray struct {
	mask  uint64
	slots []slot
	// idx[i] is the index in its port's heap of the dynamic entry in
	// slots[i]. Only writers use it; guarded by Table.mu.
	idx []int32
}

// shard is a part of the hash table.
type shard struct {
	// seq is odd while a writer deletes from arr.
	// Written under Table.mu, read by lock-free readers.
	seq atomic.Uint64
	// arr is the current slot array. Stored under Table.mu; its slots are
	// written only under Table.mu.
	arr atomic.Pointer[slotArray]
	// n is the number of entries in arr. Guarded by Table.mu.
	n int
	_ [40]byte // keep shards on separate cache lines
}

func newSlotArray(size int) *slotArray {
	return &slotArray{mask: uint64(size - 1), slots: make([]slot, size), idx: make([]int32, size)}
}

// makeKey packs a VLAN ID and a MAC into the table key vid<<48 | mac, which
// sorts by VID and then by MAC.
func makeKey(vid vlan.ID, m header.MAC) uint64 {
	return uint64(vid)<<48 | uint64(binary.BigEndian.Uint32(m[:4]))<<16 | uint64(binary.BigEndian.Uint16(m[4:]))
}

const (
	macMask      = 1<<48 - 1
	multicastBit = 1 << 40 // the I/G bit of the MAC's first octet
)

// learnableKey reports whether the MAC of k may be learned: it is neither
// multicast (nor broadcast) nor all-zero.
func learnableKey(k uint64) bool { return k&multicastBit == 0 && k&macMask != 0 }

// keyVID returns the VLAN ID of k.
func keyVID(k uint64) vlan.ID { return vlan.ID(k >> 48) }

// keyMAC returns the MAC of k.
func keyMAC(k uint64) header.MAC {
	return header.MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

// hash mixes k with the table's random seed (one 64×64→128-bit multiply,
// as in wyhash). MAC addresses are chosen by whoever sends frames; the seed
// keeps an attacker from aiming them at one probe sequence, and the port
// limit bounds how many they can place at all.
func (t *Table) hash(k uint64) uint64 {
	hi, lo := bits.Mul64(k^t.seed, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// shardOf returns the shard of a key with hash h. The shard comes from the
// top bits of h and the slot from the bottom bits. Tests may use fewer
// shards than numShards; the rest stay empty.
func (t *Table) shardOf(h uint64) *shard { return &t.shards[h>>t.shift&(numShards-1)] }

// find returns the val stored for key. It takes no lock: it probes the
// shard and checks that no write overlapped the probe. The common cases,
// key or an empty slot at its home slot, come first.
func (t *Table) find(key uint64) (val uint64, ok bool) {
	h := t.hash(key)
	sh := t.shardOf(h)
	seq := sh.seq.Load()
	a := sh.arr.Load()
	s := &a.slots[h&a.mask]
	switch s.key.Load() {
	case 0:
		if seq&1 == 0 && sh.seq.Load() == seq {
			return 0, false
		}
	case key:
		val = s.val.Load()
		if seq&1 == 0 && sh.seq.Load() == seq {
			return val, true
		}
	}
	return sh.findSlow(h, key)
}

// findSlow is find past the home slot, or after a probe overlapped a write:
// it probes until one does not, yielding now and then to let the writer
// finish.
func (sh *shard) findSlow(h, key uint64) (val uint64, ok bool) {
	for spins := 0; ; spins++ {
		if spins > spinLimit {
			runtime.Gosched()
		}
		seq := sh.seq.Load()
		if seq&1 != 0 {
			continue
		}
		val, ok, done := sh.arr.Load().probe(h, key)
		if done && sh.seq.Load() == seq {
			return val, ok
		}
	}
}

// probe looks key up in a. done is false if the probe ran through the
// whole array without finding key or an empty slot, which can happen only
// while a writer is deleting; the caller retries.
func (a *slotArray) probe(h, key uint64) (val uint64, ok, done bool) {
	mask := a.mask
	i := h & mask
	for range a.slots {
		s := &a.slots[i]
		switch s.key.Load() {
		case 0: // first: key 0 is never stored
			return 0, false, true
		case key:
			return s.val.Load(), true, true
		}
		i = (i + 1) & mask
	}
	return 0, false, false
}

// locate returns the shard of key and its slot index, and whether key is
// there; if not, i is where the probe for it ended. t.mu must be held.
func (t *Table) locate(key uint64) (sh *shard, i uint64, ok bool) {
	h := t.hash(key)
	sh = t.shardOf(h)
	a := sh.arr.Load()
	for i = h & a.mask; ; i = (i + 1) & a.mask {
		switch a.slots[i].key.Load() {
		case 0: // first: key 0 is never stored
			return sh, i, false
		case key:
			return sh, i, true
		}
	}
}

// insert stores key, which is absent, growing the shard first if it would
// become more than half full, and returns its shard and slot index. t.mu
// must be held.
func (t *Table) insert(key, val uint64) (*shard, uint64) {
	h := t.hash(key)
	sh := t.shardOf(h)
	a := sh.arr.Load()
	if (sh.n+1)*2 > len(a.slots) {
		a = t.resize(sh, 2*len(a.slots))
	}
	i := h & a.mask
	for a.slots[i].key.Load() != 0 {
		i = (i + 1) & a.mask
	}
	a.slots[i].val.Store(val)
	a.idx[i] = -1
	a.slots[i].key.Store(key) // last: publishes the slot
	sh.n++
	return sh, i
}

// resize rebuilds sh into a new array of size slots and publishes it.
// t.mu must be held.
func (t *Table) resize(sh *shard, size int) *slotArray {
	return t.rebuild(sh, size, nil)
}

// rebuild copies the entries of sh for which drop is false (all, if drop
// is nil) into a new array of size slots and publishes it with one store.
// Readers still probing the old array see it unchanged, so they never wait.
// It does not update sh.n. t.mu must be held.
func (t *Table) rebuild(sh *shard, size int, drop func(key uint64) bool) *slotArray {
	old := sh.arr.Load()
	a := newSlotArray(size)
	for j := range old.slots {
		k := old.slots[j].key.Load()
		if k == 0 || drop != nil && drop(k) {
			continue
		}
		i := t.hash(k) & a.mask
		for a.slots[i].key.Load() != 0 {
			i = (i + 1) & a.mask
		}
		a.move(i, old, uint64(j))
	}
	sh.arr.Store(a)
	return a
}

// move copies slot j of src to slot i of a, key last. t.mu must be held.
func (a *slotArray) move(i uint64, src *slotArray, j uint64) {
	a.slots[i].val.Store(src.slots[j].val.Load())
	a.idx[i] = src.idx[j]
	a.slots[i].key.Store(src.slots[j].key.Load())
}

// maybeShrink shrinks sh's array once it is less than 1/8 full. t.mu must
// be held.
func (t *Table) maybeShrink(sh *shard) {
	if size := len(sh.arr.Load().slots); fitSize(sh.n, size) != size {
		t.resize(sh, fitSize(sh.n, size))
	}
}

// fitSize returns the array size for n entries in an array of size slots:
// size, unless that is more than 8 times too big, in which case the
// smallest size that is at most 1/4 full.
func fitSize(n, size int) int {
	if size <= minSlots || n*8 >= size {
		return size
	}
	for size > minSlots && n*4 <= size/2 {
		size /= 2
	}
	return size
}

// deleteSlot empties slot i of sh and shifts later members of its cluster
// back so that no probe sequence is broken. t.mu must be held and sh.seq
// must be odd.
func (t *Table) deleteSlot(sh *shard, i uint64) {
	a := sh.arr.Load()
	mask := a.mask
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		k := a.slots[j].key.Load()
		if k == 0 {
			break
		}
		// The entry at j may fill the hole at i if its home slot is not
		// in the cyclic range (i, j].
		if home := t.hash(k) & mask; (j-home)&mask >= (j-i)&mask {
			a.move(i, a, j)
			i = j
			if t.testHookMoved != nil {
				t.testHookMoved()
			}
		}
	}
	a.slots[i].key.Store(0)
	sh.n--
}
