package bridge

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/vlan"
)

// model is a naive MAC table with the semantics documented for Table: a map
// and linear scans, no concurrency, no laziness.
type model struct {
	capacity, portLimit int
	aging, refresh      int64
	m                   map[uint64]*modelEntry
	stats               Stats
}

type modelEntry struct {
	port   port.ID
	static bool
	seen   int64 // last-seen time, floored to a millisecond
}

func newModel(opt Options) *model {
	m := &model{
		capacity:  cmp.Or(opt.Capacity, DefaultCapacity),
		portLimit: cmp.Or(opt.PortLimit, DefaultPortLimit),
		aging:     int64(cmp.Or(opt.AgingTime, DefaultAgingTime)),
		m:         make(map[uint64]*modelEntry),
	}
	if m.aging < 0 {
		m.aging = math.MaxInt64
	}
	m.refresh = max(1, min(int64(time.Second), m.aging/8))
	return m
}

func (m *model) expired(e *modelEntry, now int64) bool {
	return !e.static && now-e.seen >= m.aging
}

// lru returns the key of the least recently seen dynamic entry (lowest key
// among equals) for which match is true.
func (m *model) lru(match func(*modelEntry) bool) (uint64, bool) {
	var best uint64
	found := false
	for k, e := range m.m {
		if e.static || !match(e) {
			continue
		}
		if b := m.m[best]; !found || e.seen < b.seen || e.seen == b.seen && k < best {
			best, found = k, true
		}
	}
	return best, found
}

func (m *model) count(match func(*modelEntry) bool) int {
	n := 0
	for _, e := range m.m {
		if !e.static && match(e) {
			n++
		}
	}
	return n
}

func (m *model) roomOnPort(port port.ID, now int64) bool {
	onPort := func(e *modelEntry) bool { return e.port == port }
	if m.portLimit < 0 || m.count(onPort) < m.portLimit {
		return true
	}
	if k, _ := m.lru(onPort); m.expired(m.m[k], now) {
		delete(m.m, k)
		m.stats.Expired++
		return true
	}
	return false
}

func (m *model) evict(now int64) bool {
	all := func(*modelEntry) bool { return true }
	if k, _ := m.lru(all); m.expired(m.m[k], now) {
		delete(m.m, k)
		m.stats.Expired++
		return false
	}
	counts := make(map[port.ID]int)
	for _, e := range m.m {
		if !e.static {
			counts[e.port]++
		}
	}
	busiest, most := port.ID(0), 0
	for p, n := range counts {
		if n > most || n == most && p < busiest {
			busiest, most = p, n
		}
	}
	k, _ := m.lru(func(e *modelEntry) bool { return e.port == busiest })
	delete(m.m, k)
	m.stats.Evicted++
	return true
}

func (m *model) Learn(vid vlan.ID, mac header.MAC, port port.ID, now int64) Event {
	if mac.IsMulticast() || mac.IsZero() || port == noPort {
		return EventIgnored
	}
	k := makeKey(vid, mac)
	if e := m.m[k]; e != nil {
		switch {
		case e.static:
			return EventStatic
		case m.expired(e, now):
			delete(m.m, k)
			m.stats.Expired++
		case e.port == port:
			if now-e.seen >= m.refresh {
				e.seen = quantize(now)
			}
			return EventNone
		case !m.roomOnPort(port, now):
			delete(m.m, k)
			m.stats.Limited++
			return EventLimited
		default:
			m.m[k] = &modelEntry{port: port, seen: quantize(now)}
			m.stats.Moved++
			return EventMoved
		}
	}
	if !m.roomOnPort(port, now) {
		m.stats.Limited++
		return EventLimited
	}
	ev := EventLearned
	if m.full() {
		if m.count(func(*modelEntry) bool { return true }) == 0 {
			m.stats.Limited++
			return EventLimited
		}
		if m.evict(now) {
			ev = EventEvicted
		}
	}
	m.m[k] = &modelEntry{port: port, seen: quantize(now)}
	m.stats.Learned++
	return ev
}

func (m *model) Lookup(vid vlan.ID, mac header.MAC, now int64) (port.ID, bool) {
	e := m.m[makeKey(vid, mac)]
	if e == nil || m.expired(e, now) {
		return noPort, false
	}
	return e.port, true
}

func (m *model) Forward(vid vlan.ID, src, dst header.MAC, in port.ID, now int64) (port.ID, Decision) {
	m.Learn(vid, src, in, now)
	if dst.IsMulticast() {
		return noPort, DecisionFlood
	}
	port, ok := m.Lookup(vid, dst, now)
	switch {
	case !ok:
		return noPort, DecisionFlood
	case port == in:
		return noPort, DecisionDrop
	}
	return port, DecisionForward
}

func (m *model) AddStatic(vid vlan.ID, mac header.MAC, port port.ID) bool {
	if mac.IsMulticast() || mac.IsZero() || port == noPort {
		return false
	}
	k := makeKey(vid, mac)
	if m.m[k] == nil && m.full() {
		if m.count(func(*modelEntry) bool { return true }) == 0 {
			return false
		}
		// The busiest port's least recently seen entry, expired or not.
		m.evict(math.MinInt64 / 2)
	}
	m.m[k] = &modelEntry{port: port, static: true}
	return true
}

// full reports whether the model holds capacity entries, static ones
// included.
func (m *model) full() bool {
	return m.capacity >= 0 && len(m.m) >= m.capacity
}

func (m *model) Delete(vid vlan.ID, mac header.MAC) bool {
	k := makeKey(vid, mac)
	_, ok := m.m[k]
	delete(m.m, k)
	return ok
}

func (m *model) removeIf(match func(k uint64, e *modelEntry) bool) int {
	n := 0
	for k, e := range m.m {
		if match(k, e) {
			delete(m.m, k)
			n++
		}
	}
	return n
}

func (m *model) Entries(now int64) []Entry {
	out := []Entry{}
	for k, e := range m.m {
		if m.expired(e, now) {
			continue
		}
		x := Entry{VID: keyVID(k), MAC: keyMAC(k), Port: e.port, Static: e.static}
		if !e.static {
			x.Age = time.Duration(max(now-e.seen, 0))
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(makeKey(a.VID, a.MAC), makeKey(b.VID, b.MAC)) })
	return out
}

func (m *model) Stats() Stats {
	s := m.stats
	s.Entries = uint64(len(m.m))
	return s
}

// TestDifferential runs random operations against a Table and the model and
// compares every result.
func TestDifferential(t *testing.T) {
	configs := []struct {
		name string
		opt  Options
	}{
		{"small", Options{Capacity: 12, PortLimit: 5, AgingTime: 10 * time.Second}},
		{"capacity-only", Options{Capacity: 20, PortLimit: -1, AgingTime: 10 * time.Second}},
		{"limit-only", Options{Capacity: -1, PortLimit: 4, AgingTime: 10 * time.Second}},
		{"never-age", Options{Capacity: 16, PortLimit: 6, AgingTime: -1}},
		{"defaults", Options{}},
	}
	ops := 12000
	if testing.Short() {
		ops = 1000
	}
	for _, c := range configs {
		for _, shardBits := range []int{0, defaultShardBits} {
			for seed := range uint64(3) {
				name := fmt.Sprintf("%s/shards=%d/seed=%d", c.name, 1<<shardBits, seed)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					runDifferential(t, c.opt, shardBits, seed, ops)
				})
			}
		}
	}
}

func runDifferential(t *testing.T, opt Options, shardBits int, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 0x6272696467650a))
	tb := newTable(opt, shardBits)
	m := newModel(opt)
	macs := make([]header.MAC, 48)
	for i := range macs {
		macs[i] = header.MAC{0x02, 0x42, 0, 0, byte(i >> 8), byte(i)}
	}
	macs[0] = header.MAC{}                       // never learned
	macs[1] = header.Broadcast                   // never learned
	macs[2] = header.MAC{0x01, 0, 0x5e, 0, 0, 1} // multicast
	vids := []vlan.ID{0, 1, 4095}
	randMAC := func() header.MAC { return macs[r.IntN(len(macs))] }
	randVID := func() vlan.ID { return vids[r.IntN(len(vids))] }
	randPort := func() port.ID {
		if r.IntN(50) == 0 {
			return noPort
		}
		return port.ID(r.IntN(6))
	}
	// Time moves in whole 100 ms ticks, so many operations share a time
	// and eviction ties happen; now and then it jumps past the aging time
	// or steps back a little, as concurrent callers' clocks may.
	now := int64(0)
	for op := range ops {
		switch x := r.IntN(100); {
		case x < 60:
		case x < 95:
			now += int64(r.IntN(10)) * int64(100*time.Millisecond)
		case x < 98:
			now += int64(r.IntN(20)) * int64(time.Second)
		default:
			now -= int64(r.IntN(3)) * int64(100*time.Millisecond)
		}
		switch x := r.IntN(1000); {
		case x < 400:
			vid, mac, port := randVID(), randMAC(), randPort()
			got, want := tb.Learn(vid, mac, port, now), m.Learn(vid, mac, port, now)
			if got != want {
				t.Fatalf("op %d: Learn(%d, %v, %d, %d) = %v, want %v", op, vid, mac, port, now, got, want)
			}
		case x < 550:
			vid, mac := randVID(), randMAC()
			gp, gok := tb.Lookup(vid, mac, now)
			wp, wok := m.Lookup(vid, mac, now)
			if gp != wp || gok != wok {
				t.Fatalf("op %d: Lookup(%d, %v, %d) = %d, %v, want %d, %v", op, vid, mac, now, gp, gok, wp, wok)
			}
		case x < 850:
			vid, src, dst, in := randVID(), randMAC(), randMAC(), randPort()
			gp, gd := tb.Forward(vid, src, dst, in, now)
			wp, wd := m.Forward(vid, src, dst, in, now)
			if gp != wp || gd != wd {
				t.Fatalf("op %d: Forward(%d, %v, %v, %d, %d) = %d, %v, want %d, %v", op, vid, src, dst, in, now, gp, gd, wp, wd)
			}
		case x < 880:
			vid, mac, port := randVID(), randMAC(), randPort()
			err := tb.AddStatic(vid, mac, port)
			if ok := m.AddStatic(vid, mac, port); (err == nil) != ok {
				t.Fatalf("op %d: AddStatic(%d, %v, %d) = %v, want ok %v", op, vid, mac, port, err, ok)
			}
		case x < 930:
			vid, mac := randVID(), randMAC()
			if got, want := tb.Delete(vid, mac), m.Delete(vid, mac); got != want {
				t.Fatalf("op %d: Delete(%d, %v) = %v, want %v", op, vid, mac, got, want)
			}
		case x < 960:
			got := tb.Age(now)
			want := m.removeIf(func(_ uint64, e *modelEntry) bool { return m.expired(e, now) })
			m.stats.Expired += uint64(want)
			if got != want {
				t.Fatalf("op %d: Age(%d) = %d, want %d", op, now, got, want)
			}
		case x < 970:
			port := randPort()
			got := tb.FlushPort(port)
			want := m.removeIf(func(_ uint64, e *modelEntry) bool { return !e.static && e.port == port })
			if got != want {
				t.Fatalf("op %d: FlushPort(%d) = %d, want %d", op, port, got, want)
			}
		case x < 980:
			vid := randVID()
			got := tb.FlushVLAN(vid)
			want := m.removeIf(func(k uint64, e *modelEntry) bool { return !e.static && keyVID(k) == vid })
			if got != want {
				t.Fatalf("op %d: FlushVLAN(%d) = %d, want %d", op, vid, got, want)
			}
		case x < 990:
			port := randPort()
			got := tb.RemovePort(port)
			want := m.removeIf(func(_ uint64, e *modelEntry) bool { return e.port == port })
			if got != want {
				t.Fatalf("op %d: RemovePort(%d) = %d, want %d", op, port, got, want)
			}
		case x < 993:
			got := tb.Flush()
			want := m.removeIf(func(_ uint64, e *modelEntry) bool { return !e.static })
			if got != want {
				t.Fatalf("op %d: Flush() = %d, want %d", op, got, want)
			}
		default:
			if diff := gocmp.Diff(m.Entries(now), tb.Entries(now)); diff != "" {
				t.Fatalf("op %d: Entries(%d) mismatch (-want +got):\n%s", op, now, diff)
			}
		}
		if op%256 == 0 {
			checkInvariants(t, tb)
		}
	}
	checkInvariants(t, tb)
	if diff := gocmp.Diff(m.Entries(now), tb.Entries(now)); diff != "" {
		t.Errorf("final Entries(%d) mismatch (-want +got):\n%s", now, diff)
	}
	if diff := gocmp.Diff(m.Stats(), tb.Stats()); diff != "" {
		t.Errorf("final Stats() mismatch (-want +got):\n%s", diff)
	}
	if got, want := tb.Len(), len(m.m); got != want {
		t.Errorf("final Len() = %d, want %d", got, want)
	}
}

// checkInvariants checks the table's internal structure: every stored entry
// is reachable by its probe sequence, the counts add up and each port heap
// is a heap holding exactly that port's dynamic entries.
func checkInvariants(t *testing.T, tb *Table) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	dynamic, statics := 0, 0
	perPort := make(map[port.ID]int)
	for s := range tb.shards {
		sh := &tb.shards[s]
		if seq := sh.seq.Load(); seq&1 != 0 {
			t.Fatalf("shard %d: seq %d is odd", s, seq)
		}
		a := sh.arr.Load()
		n := 0
		for i := range a.slots {
			k, val := a.slots[i].key.Load(), a.slots[i].val.Load()
			if k == 0 {
				continue
			}
			n++
			if v, ok := tb.find(k); !ok || v != val {
				t.Fatalf("find(%#x) = %#x, %v; want %#x, true", k, v, ok, val)
			}
			if tb.shardOf(tb.hash(k)) != sh {
				t.Fatalf("key %#x stored in shard %d, not its own", k, s)
			}
			if valStatic(val) {
				statics++
				continue
			}
			dynamic++
			port, idx := valPort(val), int(a.idx[i])
			perPort[port]++
			p := tb.ports[port]
			if p == nil || idx < 0 || idx >= len(p.h) || p.h[idx] != (node{valSeen(val), k}) {
				t.Fatalf("dynamic entry %#x (port %d, idx %d) not in its port heap", k, port, idx)
			}
		}
		if n != sh.n {
			t.Fatalf("shard %d: %d entries, n = %d", s, n, sh.n)
		}
		if 2*n > len(a.slots) {
			t.Fatalf("shard %d: %d entries in %d slots", s, n, len(a.slots))
		}
	}
	if dynamic != tb.dynamic || statics != tb.statics {
		t.Fatalf("counted %d dynamic, %d static; table says %d, %d", dynamic, statics, tb.dynamic, tb.statics)
	}
	if tb.capacity >= 0 && dynamic+statics > tb.capacity {
		t.Fatalf("%d dynamic and %d static entries > capacity %d", dynamic, statics, tb.capacity)
	}
	for port, p := range tb.ports {
		if len(p.h) != perPort[port] || len(p.h) == 0 {
			t.Fatalf("port %d: heap has %d entries, table %d", port, len(p.h), perPort[port])
		}
		if tb.portLimit >= 0 && len(p.h) > tb.portLimit {
			t.Fatalf("port %d: %d entries > limit %d", port, len(p.h), tb.portLimit)
		}
		for i := 1; i < len(p.h); i++ {
			if before(p.h[i], p.h[(i-1)/2]) {
				t.Fatalf("port %d: heap order broken at %d", port, i)
			}
		}
	}
}
