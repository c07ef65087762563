package vxlan

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// RemoteEntry is one entry of the remote table, for listings.
type RemoteEntry struct {
	VNI uint32
	// VID is the VLAN the VNI is mapped to, 0 if no network has the VNI.
	VID    uint16
	MAC    header.MAC
	VTEP   netip.Addr
	Static bool
	// Age is the time since the last frame from MAC (0 for static entries).
	Age time.Duration
}

// remoteKey is a MAC address in one overlay network.
type remoteKey struct {
	vni uint32
	mac header.MAC
}

// remoteEntry is where a MAC lives. vtep, ctr and static are guarded by
// remoteTable.mu; seen is refreshed under its read lock.
type remoteEntry struct {
	vtep   netip.Addr
	ctr    *vtepCounters
	seen   atomic.Int64 // last frame from the MAC, on the port's clock
	static bool
}

// vniAddr is a VTEP of one network.
type vniAddr struct {
	vni  uint32
	addr netip.Addr
}

// remoteTable maps (VNI, MAC) to the VTEP behind which the MAC was last
// seen. Lookups and the refresh of a known MAC take the read lock only and
// allocate nothing; learning a new or moved MAC and every control-plane
// change take the write lock.
type remoteTable struct {
	mu        sync.RWMutex // guards everything below and the entries' vtep, ctr, static
	m         map[remoteKey]*remoteEntry
	statics   map[vniAddr]int // VTEPs of static entries, with their number of entries
	dynamic   int             // learned entries in m
	max       int             // bound on dynamic
	aging     int64           // lifetime of a learned entry in ns; < 0 never expires
	refresh   int64           // a known MAC's seen time is rewritten only if this old
	lastSweep int64           // when learning last looked for expired entries to reclaim
	free      []*remoteEntry  // removed entries, reused so learning seldom allocates
}

func newRemoteTable(max int, aging time.Duration) *remoteTable {
	t := &remoteTable{m: map[remoteKey]*remoteEntry{}, statics: map[vniAddr]int{}, max: max, aging: int64(aging)}
	// As the MAC table: a steady stream from a known MAC writes its time
	// at most every aging/8 (at most 1 s), not per frame.
	t.refresh = min(int64(time.Second), max64(int64(aging)/8, 0))
	if aging < 0 {
		t.refresh = int64(time.Second)
	}
	return t
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (t *remoteTable) expired(e *remoteEntry, now int64) bool {
	return !e.static && t.aging >= 0 && now-e.seen.Load() >= t.aging
}

// lookup returns the VTEP behind mac in network vni.
func (t *remoteTable) lookup(vni uint32, mac header.MAC, now int64) (netip.Addr, *vtepCounters, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.m[remoteKey{vni, mac}]
	if e == nil || t.expired(e, now) {
		return netip.Addr{}, nil, false
	}
	return e.vtep, e.ctr, true
}

// knows reports whether mac in vni is a fresh entry at vtep, refreshing
// its time if due; it is learn's fast path.
func (t *remoteTable) knows(k remoteKey, vtep netip.Addr, now int64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.m[k]
	if e == nil {
		return false
	}
	if e.static {
		return true // static entries are never overridden by learning
	}
	if e.vtep != vtep || t.expired(e, now) {
		return false
	}
	if now-e.seen.Load() >= t.refresh {
		e.seen.Store(now)
	}
	return true
}

// learn records that mac in vni is behind vtep, whose counters are ctr. It
// reports false if the table was full.
func (t *remoteTable) learn(k remoteKey, vtep netip.Addr, ctr *vtepCounters, now int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[k]; e != nil {
		if !e.static { // a move, or an expired entry learned again
			e.vtep, e.ctr = vtep, ctr
			e.seen.Store(now)
		}
		return true
	}
	if t.dynamic >= t.max && !t.reclaim(now) {
		return false
	}
	e := t.alloc()
	e.vtep, e.ctr, e.static = vtep, ctr, false
	e.seen.Store(now)
	t.m[k] = e
	t.dynamic++
	return true
}

// reclaim removes expired entries to make room, at most once per refresh
// interval (it walks the whole table), and reports whether there is room.
func (t *remoteTable) reclaim(now int64) bool {
	if now-t.lastSweep >= t.refresh {
		t.lastSweep = now
		t.sweep(now)
	}
	return t.dynamic < t.max
}

func (t *remoteTable) alloc() *remoteEntry {
	if n := len(t.free); n > 0 {
		e := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		return e
	}
	return new(remoteEntry)
}

// remove deletes k, whose entry is e. The caller holds mu.
func (t *remoteTable) remove(k remoteKey, e *remoteEntry) {
	delete(t.m, k)
	if e.static {
		t.unrefStatic(vniAddr{k.vni, e.vtep})
	} else {
		t.dynamic--
	}
	e.ctr = nil
	if len(t.free) < 1024 {
		t.free = append(t.free, e)
	}
}

func (t *remoteTable) unrefStatic(va vniAddr) {
	if t.statics[va]--; t.statics[va] <= 0 {
		delete(t.statics, va)
	}
}

// sweep removes expired learned entries and returns their number. The
// caller holds mu.
func (t *remoteTable) sweep(now int64) int {
	n := 0
	for k, e := range t.m {
		if t.expired(e, now) {
			t.remove(k, e)
			n++
		}
	}
	return n
}

// isStaticVTEP reports whether a static entry of vni points at addr.
func (t *remoteTable) isStaticVTEP(vni uint32, addr netip.Addr) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.statics[vniAddr{vni, addr}] > 0
}

// staticVTEPs returns the VTEPs static entries point at, per VNI.
func (t *remoteTable) staticVTEPs() map[vniAddr]bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := make(map[vniAddr]bool, len(t.statics))
	for va := range t.statics {
		m[va] = true
	}
	return m
}

func (t *remoteTable) addStatic(k remoteKey, vtep netip.Addr, ctr *vtepCounters) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[k]; e != nil {
		t.remove(k, e)
	}
	e := t.alloc()
	e.vtep, e.ctr, e.static = vtep, ctr, true
	e.seen.Store(0)
	t.m[k] = e
	t.statics[vniAddr{k.vni, vtep}]++
}

func (t *remoteTable) delete(k remoteKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e == nil {
		return false
	}
	t.remove(k, e)
	return true
}

// removeIf deletes the entries match selects and returns their number.
func (t *remoteTable) removeIf(match func(k remoteKey, e *remoteEntry) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.m {
		if match(k, e) {
			t.remove(k, e)
			n++
		}
	}
	return n
}

func (t *remoteTable) age(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweep(now)
}

func (t *remoteTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// entries lists the live entries sorted by VNI and MAC; vid maps a VNI to
// its VLAN.
func (t *remoteTable) entries(now int64, vid func(uint32) uint16) []RemoteEntry {
	t.mu.RLock()
	out := make([]RemoteEntry, 0, len(t.m))
	for k, e := range t.m {
		if t.expired(e, now) {
			continue
		}
		r := RemoteEntry{VNI: k.vni, MAC: k.mac, VTEP: e.vtep, Static: e.static}
		if !e.static {
			r.Age = time.Duration(max64(now-e.seen.Load(), 0))
		}
		out = append(out, r)
	}
	t.mu.RUnlock()
	for i := range out {
		out[i].VID = vid(out[i].VNI)
	}
	slices.SortFunc(out, func(a, b RemoteEntry) int {
		if c := cmp.Compare(a.VNI, b.VNI); c != 0 {
			return c
		}
		return slices.Compare(a.MAC[:], b.MAC[:])
	})
	return out
}
