package bridge

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/vlan"
)

// Defaults for the zero values of Options.
const (
	// DefaultCapacity is the number of dynamic entries a table holds:
	// 8 times Open vSwitch's default mac-table-size (MAC_DEFAULT_MAX,
	// 8192), for hosts with many namespaces. At 16-byte slots kept between
	// 1/4 and 1/2 full plus a 16-byte heap node, a full table takes 3–6 MB.
	DefaultCapacity = 65536
	// DefaultPortLimit is the number of dynamic entries one port may learn:
	// an eighth of DefaultCapacity (and Open vSwitch's whole-table
	// default), so one misbehaving port cannot push every other port's
	// addresses out.
	DefaultPortLimit = 8192
	// DefaultAgingTime is how long a dynamic entry lives without frames,
	// the default of both Linux bridges (ageing_time) and Open vSwitch
	// (mac-aging-time).
	DefaultAgingTime = 300 * time.Second
)

// noPort (port.None) is what Forward and Lookup return when there is no
// single output port. It is never learned and cannot be given to AddStatic.
const noPort = port.None

// Errors returned by AddStatic.
var (
	// ErrInvalidMAC means the address is multicast, broadcast or all-zero.
	ErrInvalidMAC = errors.New("not a unicast MAC address")
	// ErrInvalidPort means the port is port.None.
	ErrInvalidPort = errors.New("invalid port")
	// ErrFull means the table holds Capacity static entries.
	ErrFull = errors.New("MAC table full of static entries")
)

// Options configures a Table. The zero value gives the defaults.
type Options struct {
	// Capacity is the maximum number of entries in the whole table,
	// static ones included (Len and Stats.Entries never exceed it); 0
	// means DefaultCapacity and < 0 means unlimited. When the table is
	// full, learning evicts a dynamic entry; with only static entries
	// left, nothing more is learned (EventLimited) and AddStatic fails
	// with ErrFull.
	Capacity int
	// PortLimit is the maximum number of dynamic entries learned on one
	// port; 0 means DefaultPortLimit and < 0 means unlimited.
	PortLimit int
	// AgingTime is how long a dynamic entry lives after the last frame
	// from its address; 0 means DefaultAgingTime and < 0 means dynamic
	// entries never expire.
	AgingTime time.Duration
}

// Event is the result of learning a source address.
type Event uint8

// Events returned by Learn.
const (
	// EventNone means the entry existed on this port; its time was
	// refreshed.
	EventNone Event = iota
	// EventLearned means a new entry was added.
	EventLearned
	// EventMoved means the address was on another port and now is on this
	// one.
	EventMoved
	// EventLimited means the port holds PortLimit dynamic entries (or the
	// table holds Capacity static ones), so the address was not learned.
	// If it was known on another port, that entry was removed, since it
	// is wrong now.
	EventLimited
	// EventEvicted means a new entry was added and another was evicted to
	// make room for it.
	EventEvicted
	// EventStatic means a static entry exists for the address; nothing
	// changed.
	EventStatic
	// EventIgnored means the address is multicast, broadcast or all-zero,
	// or the port is port.None, and is never learned.
	EventIgnored
)

var eventNames = [...]string{"none", "learned", "moved", "limited", "evicted", "static", "ignored"}

// String returns the event's lower-case name.
func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", e)
}

// Decision is what Forward tells the datapath to do with a frame.
type Decision uint8

// Decisions returned by Forward.
const (
	// DecisionForward means send the frame to the one port returned.
	DecisionForward Decision = iota
	// DecisionFlood means send the frame to every port of the VLAN but the
	// ingress port: the destination is broadcast, multicast or unknown.
	DecisionFlood
	// DecisionDrop means the destination is on the ingress port, so the
	// frame has already reached it.
	DecisionDrop
)

var decisionNames = [...]string{"forward", "flood", "drop"}

// String returns the decision's lower-case name.
func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return fmt.Sprintf("Decision(%d)", d)
}

// Entry is one row of the table as Entries reports it.
type Entry struct {
	VID    vlan.ID
	MAC    header.MAC
	Port   port.ID
	Static bool
	// Age is the time since the last frame from MAC; 0 for static entries.
	Age time.Duration
}

// Stats are the table's counters. Entries is the current number of stored
// entries (as Len); the others count events since New.
type Stats struct {
	Entries uint64
	// Learned counts new entries, including those that evicted another.
	Learned uint64
	// Moved counts addresses that moved to another port.
	Moved uint64
	// Expired counts entries removed because they aged out, by Age or
	// when learning reclaimed their place.
	Expired uint64
	// Evicted counts live entries removed to stay within Capacity.
	Evicted uint64
	// Limited counts addresses not learned because the port was at its
	// limit, once per frame.
	Limited uint64
}

// maxRefresh is the longest interval between two updates of an entry's
// last-seen time.
const maxRefresh = int64(time.Second)

// Table is a MAC table. Its methods are safe for concurrent use.
type Table struct {
	// These are immutable after New.
	capacity  int    // < 0: unlimited
	portLimit int    // < 0: unlimited
	aging     int64  // nanoseconds; math.MaxInt64: never
	refresh   int64  // nanoseconds between last-seen updates; 1 ≤ refresh ≤ aging
	seed      uint64 // hash seed
	shift     uint   // 64 - log2(shards in use)
	// testHookMoved, if set, is called by deleteSlot after each slot it
	// moves. Only tests set it, before sharing the table.
	testHookMoved func()

	// shards are read without locks; see shard.
	shards [numShards]shard

	// mu serialises all writers: it guards every field below, each
	// portState, shard.n and slotArray.idx, and every store to the shards.
	// Readers of the shards do not take it.
	mu      sync.Mutex
	dynamic int                    // number of dynamic entries
	statics int                    // number of static entries
	ports   map[port.ID]*portState // ports with dynamic entries
	stats   Stats                  // Entries is left 0; Stats fills it in
	scratch []uint64               // keys, reused by removeIf

	// gen is bumped after every change to the table, before mu is
	// released; see Generation.
	gen atomic.Uint64
}

// Generation returns a number that changes after every change to the table
// (learning, moves, refreshes, removals, statics). A caller that read it
// before a Forward or Lookup may reuse that answer for as long as the
// number stays the same and no longer than RefreshInterval/2, so that
// aging still sees the traffic.
func (t *Table) Generation() uint64 { return t.gen.Load() }

// unlock releases mu after a change, bumping the generation first.
func (t *Table) unlock() {
	t.gen.Add(1)
	t.mu.Unlock()
}

// New returns an empty table configured by opt.
func New(opt Options) *Table { return newTable(opt, defaultShardBits) }

// newTable returns a table that uses 1<<shardBits of its shards; tests use
// one shard to stress probing.
func newTable(opt Options, shardBits int) *Table {
	t := &Table{
		capacity:  cmp.Or(opt.Capacity, DefaultCapacity),
		portLimit: cmp.Or(opt.PortLimit, DefaultPortLimit),
		aging:     int64(cmp.Or(opt.AgingTime, DefaultAgingTime)),
		seed:      rand.Uint64(),
		shift:     uint(64 - shardBits),
		ports:     make(map[port.ID]*portState),
	}
	if t.aging < 0 {
		t.aging = math.MaxInt64
	}
	t.refresh = max(1, min(maxRefresh, t.aging/8))
	for i := range t.shards {
		t.shards[i].arr.Store(newSlotArray(minSlots))
	}
	return t
}

// RefreshInterval returns how old an entry's last-seen time must be before
// a frame from its address updates it: AgingTime/8, at most 1 s (at least
// 1 ns). A dynamic entry therefore expires between AgingTime −
// RefreshInterval − 1 ms and AgingTime after the last frame from its
// address.
func (t *Table) RefreshInterval() time.Duration { return time.Duration(t.refresh) }

// expired reports whether the entry with val has aged out at now.
func (t *Table) expired(val uint64, now int64) bool {
	return !valStatic(val) && now-valSeen(val) >= t.aging
}

// Learn records that a frame from mac arrived on port in VLAN vid at time
// now, and reports what changed. A frame from an address already known on
// port takes no lock and writes nothing unless the entry's last-seen time
// is at least RefreshInterval old.
func (t *Table) Learn(vid vlan.ID, mac header.MAC, port port.ID, now int64) Event {
	return t.learn(makeKey(vid, mac), port, now)
}

// learn is Learn for a key.
func (t *Table) learn(key uint64, port port.ID, now int64) Event {
	if !learnableKey(key) || port == noPort {
		return EventIgnored
	}
	if val, ok := t.find(key); ok && t.fresh(val, port, now) {
		if valStatic(val) {
			return EventStatic
		}
		return EventNone
	}
	return t.learnSlow(key, port, now)
}

// fresh reports whether a frame on port at now from the address of an
// entry with val leaves the entry as it is: the entry is static, or known
// on port and seen less than RefreshInterval ago (and so not expired,
// since RefreshInterval ≤ AgingTime).
func (t *Table) fresh(val uint64, port port.ID, now int64) bool {
	return valStatic(val) || valPort(val) == port && now-valSeen(val) < t.refresh
}

// learnSlow is Learn for anything but a recent known address: a refresh, a
// new address, a move or an expired entry.
func (t *Table) learnSlow(key uint64, port port.ID, now int64) Event {
	t.mu.Lock()
	defer t.unlock()
	if sh, i, ok := t.locate(key); ok {
		val := sh.arr.Load().slots[i].val.Load()
		switch old := valPort(val); {
		case valStatic(val):
			return EventStatic
		case t.expired(val, now):
			t.remove(key)
			t.stats.Expired++
		case old == port:
			if now-valSeen(val) >= t.refresh {
				t.store(key, pack(port, false, now))
				t.touched(port, key, quantize(now))
			}
			return EventNone
		case !t.roomOnPort(port, now):
			t.remove(key)
			t.stats.Limited++
			return EventLimited
		default:
			t.unlink(old, key)
			t.store(key, pack(port, false, now))
			t.link(port, key, quantize(now))
			t.stats.Moved++
			return EventMoved
		}
	}
	if !t.roomOnPort(port, now) {
		t.stats.Limited++
		return EventLimited
	}
	ev := EventLearned
	if t.full() {
		if t.dynamic == 0 {
			t.stats.Limited++
			return EventLimited
		}
		if t.evict(now) {
			ev = EventEvicted
		}
	}
	t.insert(key, pack(port, false, now))
	t.link(port, key, quantize(now))
	t.dynamic++
	t.stats.Learned++
	return ev
}

// store replaces the val of the stored key: one atomic store, which a
// reader sees whole or not at all. t.mu must be held.
func (t *Table) store(key, val uint64) {
	sh, i, _ := t.locate(key)
	sh.arr.Load().slots[i].val.Store(val)
}

// roomOnPort reports whether port may learn one more dynamic entry,
// reclaiming its least recently seen entry if that has expired. t.mu must
// be held.
func (t *Table) roomOnPort(port port.ID, now int64) bool {
	p := t.ports[port]
	if t.portLimit < 0 || p == nil || len(p.h) < t.portLimit {
		return true
	}
	if lru := p.h[0]; now-lru.seen >= t.aging {
		t.remove(lru.key)
		t.stats.Expired++
		return true
	}
	return false
}

// full reports whether the table holds Capacity entries, static ones
// included. t.mu must be held.
func (t *Table) full() bool {
	return t.capacity >= 0 && t.dynamic+t.statics >= t.capacity
}

// evict makes room for one dynamic entry. If an entry has expired, it
// removes the least recently seen one and returns false. Otherwise it
// evicts the least recently seen entry of the port with the most dynamic
// entries (the lowest port number among equals) and returns true. There
// must be at least one dynamic entry. t.mu must be held.
func (t *Table) evict(now int64) bool {
	var lru node
	var busiest *portState
	var busiestPort port.ID
	for port, p := range t.ports {
		if busiest == nil {
			lru, busiest, busiestPort = p.h[0], p, port
			continue
		}
		if before(p.h[0], lru) {
			lru = p.h[0]
		}
		if len(p.h) > len(busiest.h) || len(p.h) == len(busiest.h) && port < busiestPort {
			busiest, busiestPort = p, port
		}
	}
	if now-lru.seen >= t.aging {
		t.remove(lru.key)
		t.stats.Expired++
		return false
	}
	t.remove(busiest.h[0].key)
	t.stats.Evicted++
	return true
}

// evictBusiest evicts the least recently seen entry of the port with the
// most dynamic entries (the lowest port number among equals), live or not.
// There must be at least one dynamic entry. t.mu must be held.
func (t *Table) evictBusiest() {
	var busiest *portState
	var busiestPort port.ID
	for port, p := range t.ports {
		if busiest == nil || len(p.h) > len(busiest.h) || len(p.h) == len(busiest.h) && port < busiestPort {
			busiest, busiestPort = p, port
		}
	}
	t.remove(busiest.h[0].key)
	t.stats.Evicted++
}

// remove deletes key, which is stored. t.mu must be held.
func (t *Table) remove(key uint64) {
	sh, _, _ := t.locate(key)
	sh.seq.Add(1)
	t.drop(key)
	sh.seq.Add(1)
	t.maybeShrink(sh)
}

// drop deletes key, which is stored, and updates the counts and heaps.
// t.mu must be held and the shard's seq must be odd.
func (t *Table) drop(key uint64) {
	t.forget(key)
	sh, i, _ := t.locate(key)
	t.deleteSlot(sh, i)
}

// forget updates the counts and heaps for the removal of key, which is
// stored and stays so. t.mu must be held.
func (t *Table) forget(key uint64) {
	sh, i, _ := t.locate(key)
	val := sh.arr.Load().slots[i].val.Load()
	if valStatic(val) {
		t.statics--
		return
	}
	t.unlink(valPort(val), key)
	t.dynamic--
}

// Lookup returns the port of mac in VLAN vid. Expired dynamic entries
// count as absent.
func (t *Table) Lookup(vid vlan.ID, mac header.MAC, now int64) (port port.ID, ok bool) {
	val, ok := t.find(makeKey(vid, mac))
	if !ok || t.expired(val, now) {
		return noPort, false
	}
	return valPort(val), true
}

// Forward learns src on port in and looks up dst, both in VLAN vid: the one
// call the datapath makes per frame. out is the output port for
// DecisionForward and noPort otherwise. Forward does not allocate.
func (t *Table) Forward(vid vlan.ID, src, dst header.MAC, in port.ID, now int64) (out port.ID, d Decision) {
	// This is Learn's fast path, inline to save a call per frame.
	skey := makeKey(vid, src)
	if val, ok := t.find(skey); !ok || !t.fresh(val, in, now) {
		t.learn(skey, in, now)
	}
	key := makeKey(vid, dst)
	if key&multicastBit != 0 {
		return noPort, DecisionFlood
	}
	val, ok := t.find(key)
	switch {
	case !ok || t.expired(val, now):
		return noPort, DecisionFlood
	case valPort(val) == in:
		return noPort, DecisionDrop
	}
	return valPort(val), DecisionForward
}

// Peek is Forward without learning: the decision Forward would take for a
// frame to dst arriving on in, with nothing changed. Dry runs
// (vswitchctl trace) use it, with Lookup for where src is known.
func (t *Table) Peek(vid vlan.ID, dst header.MAC, in port.ID, now int64) (out port.ID, d Decision) {
	key := makeKey(vid, dst)
	if key&multicastBit != 0 {
		return noPort, DecisionFlood
	}
	val, ok := t.find(key)
	switch {
	case !ok || t.expired(val, now):
		return noPort, DecisionFlood
	case valPort(val) == in:
		return noPort, DecisionDrop
	}
	return valPort(val), DecisionForward
}

// AddStatic adds a static entry sending mac in VLAN vid to port, replacing
// any entry for it. Static entries never age, never move and do not count
// toward PortLimit; they count toward Capacity, and adding one to a full
// table evicts a dynamic entry (ErrFull if there is none). mac must be
// unicast and not all-zero.
func (t *Table) AddStatic(vid vlan.ID, mac header.MAC, port port.ID) error {
	key := makeKey(vid, mac)
	if !learnableKey(key) {
		return fmt.Errorf("add static entry %v vlan %d: %w", mac, vid, ErrInvalidMAC)
	}
	if port == noPort {
		return fmt.Errorf("add static entry %v vlan %d port %d: %w", mac, vid, port, ErrInvalidPort)
	}
	val := pack(port, true, 0)
	t.mu.Lock()
	defer t.unlock()
	sh, i, ok := t.locate(key)
	if !ok {
		if t.full() {
			if t.dynamic == 0 {
				return fmt.Errorf("add static entry %v vlan %d: %w (capacity %d)", mac, vid, ErrFull, t.capacity)
			}
			t.evictBusiest()
		}
		t.insert(key, val)
		t.statics++
		return nil
	}
	if old := sh.arr.Load().slots[i].val.Load(); !valStatic(old) {
		t.unlink(valPort(old), key)
		t.dynamic--
		t.statics++
	}
	t.store(key, val)
	return nil
}

// Delete removes the entry, static or dynamic, for mac in VLAN vid and
// reports whether there was one.
func (t *Table) Delete(vid vlan.ID, mac header.MAC) bool {
	key := makeKey(vid, mac)
	t.mu.Lock()
	defer t.unlock()
	if _, _, ok := t.locate(key); !ok {
		return false
	}
	t.remove(key)
	return true
}

// Flush removes every dynamic entry and returns how many it removed.
func (t *Table) Flush() int {
	return t.removeIf(func(_, val uint64) bool { return !valStatic(val) }, nil)
}

// FlushPort removes the dynamic entries on port and returns how many it
// removed.
func (t *Table) FlushPort(port port.ID) int {
	return t.removeIf(func(_, val uint64) bool { return !valStatic(val) && valPort(val) == port }, nil)
}

// FlushVLAN removes the dynamic entries in VLAN vid and returns how many it
// removed.
func (t *Table) FlushVLAN(vid vlan.ID) int {
	return t.removeIf(func(key, val uint64) bool { return !valStatic(val) && keyVID(key) == vid }, nil)
}

// RemovePort removes every entry, dynamic and static, on port (which is
// being deleted) and returns how many it removed.
func (t *Table) RemovePort(port port.ID) int {
	return t.removeIf(func(_, val uint64) bool { return valPort(val) == port }, nil)
}

// Age removes the dynamic entries that have expired at now and returns how
// many it removed. The datapath calls it periodically, every few seconds.
func (t *Table) Age(now int64) int {
	return t.removeIf(func(_, val uint64) bool { return t.expired(val, now) }, &t.stats.Expired)
}

// bulkRebuild is the number of entries a bulk removal takes out of one
// shard above which it rebuilds the shard's array rather than delete them
// one by one: readers wait for in-place deletions, never for a rebuild.
const bulkRebuild = 16

// removeIf removes the entries for which match is true, adds their number
// to *count (if count is not nil) and returns it. It locks t.mu for one
// shard at a time, so it is not atomic: an entry learned during the sweep
// may survive it.
func (t *Table) removeIf(match func(key, val uint64) bool, count *uint64) int {
	total := 0
	for s := range t.shards {
		sh := &t.shards[s]
		t.mu.Lock()
		victims := t.scratch[:0]
		a := sh.arr.Load()
		for i := range a.slots {
			if k := a.slots[i].key.Load(); k != 0 && match(k, a.slots[i].val.Load()) {
				victims = append(victims, k)
			}
		}
		switch {
		case len(victims) > bulkRebuild:
			for _, k := range victims {
				t.forget(k)
			}
			sh.n -= len(victims)
			slices.Sort(victims)
			t.rebuild(sh, fitSize(sh.n, len(a.slots)), func(k uint64) bool {
				_, found := slices.BinarySearch(victims, k)
				return found
			})
		case len(victims) > 0:
			sh.seq.Add(1)
			for _, k := range victims {
				t.drop(k)
			}
			sh.seq.Add(1)
			t.maybeShrink(sh)
		}
		if count != nil {
			*count += uint64(len(victims))
		}
		total += len(victims)
		t.scratch = victims[:0]
		t.unlock()
	}
	return total
}

// Entries returns the live entries sorted by VID and then MAC. It locks
// t.mu for one shard at a time, so it is a consistent snapshot of each
// shard, not of the whole table.
func (t *Table) Entries(now int64) []Entry {
	out := make([]Entry, 0, t.Len())
	for s := range t.shards {
		t.mu.Lock()
		a := t.shards[s].arr.Load()
		for i := range a.slots {
			k, val := a.slots[i].key.Load(), a.slots[i].val.Load()
			if k == 0 || t.expired(val, now) {
				continue
			}
			e := Entry{VID: keyVID(k), MAC: keyMAC(k), Port: valPort(val), Static: valStatic(val)}
			if !e.Static {
				e.Age = time.Duration(max(now-valSeen(val), 0))
			}
			out = append(out, e)
		}
		t.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Compare(makeKey(a.VID, a.MAC), makeKey(b.VID, b.MAC))
	})
	return out
}

// Len returns the number of stored entries, static and dynamic, including
// dynamic entries that have expired but not yet been removed.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dynamic + t.statics
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Entries = uint64(t.dynamic + t.statics)
	return s
}
