package vxlan

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// modelEntry is an entry of the naive remote table model.
type modelEntry struct {
	vtep   netip.Addr
	seen   int64
	static bool
}

// model is the remote table written as plainly as possible, with the same
// refresh rule (a known MAC's time is rewritten only when it is at least
// refresh old).
type model struct {
	m       map[remoteKey]modelEntry
	aging   int64
	refresh int64
}

func (m *model) live(e modelEntry, now int64) bool { return e.static || now-e.seen < m.aging }

func (m *model) learn(k remoteKey, vtep netip.Addr, now int64) {
	e, ok := m.m[k]
	switch {
	case ok && e.static:
	case ok && e.vtep == vtep && m.live(e, now):
		if now-e.seen >= m.refresh {
			e.seen = now
		}
		m.m[k] = e
	default:
		m.m[k] = modelEntry{vtep: vtep, seen: now}
	}
}

func (m *model) entries(now int64) []RemoteEntry {
	var out []RemoteEntry
	for k, e := range m.m {
		if !m.live(e, now) {
			continue
		}
		r := RemoteEntry{VNI: k.vni, MAC: k.mac, VTEP: e.vtep, Static: e.static}
		if !e.static {
			r.Age = time.Duration(now - e.seen)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RemoteEntry) int {
		if c := cmp.Compare(a.VNI, b.VNI); c != 0 {
			return c
		}
		return slices.Compare(a.MAC[:], b.MAC[:])
	})
	return out
}

// TestRemoteTableModel runs random learning, lookups, static entries,
// deletions, flushes, ageing and clock steps on the remote table and on
// the model, and compares every lookup and, now and then, the listing.
func TestRemoteTableModel(t *testing.T) {
	const aging = 10 * time.Second
	r := rand.New(rand.NewPCG(7, 11))
	tab := newRemoteTable(1000, aging)
	mod := &model{m: map[remoteKey]modelEntry{}, aging: int64(aging), refresh: tab.refresh}
	vteps := []netip.Addr{lo(1), lo(2), lo(3)}
	ctr := new(vtepCounters)
	key := func() remoteKey {
		return remoteKey{vni: uint32(r.IntN(3)), mac: header.MAC{2, 0, 0, 0, 0, byte(r.IntN(20))}}
	}
	now := int64(time.Hour)
	for step := range 20000 {
		switch op := r.IntN(100); {
		case op < 45: // a frame from a MAC, as decap learns it
			k, v := key(), vteps[r.IntN(len(vteps))]
			if !tab.knows(k, v, now) && !tab.learn(k, v, ctr, now) {
				t.Fatalf("step %d: table full", step)
			}
			mod.learn(k, v, now)
		case op < 75: // a lookup, as encap does
			k := key()
			a, _, ok := tab.lookup(k.vni, k.mac, now)
			e, mok := mod.m[k]
			mok = mok && mod.live(e, now)
			if ok != mok || ok && a != e.vtep {
				t.Fatalf("step %d: lookup(%v) = %v, %v; model %v, %v", step, k, a, ok, e.vtep, mok)
			}
		case op < 80:
			k, v := key(), vteps[r.IntN(len(vteps))]
			tab.addStatic(k, v, ctr)
			mod.m[k] = modelEntry{vtep: v, static: true}
		case op < 84:
			k := key()
			_, had := mod.m[k]
			if got := tab.delete(k); got != had {
				t.Fatalf("step %d: delete(%v) = %v, model had it: %v", step, k, got, had)
			}
			delete(mod.m, k)
		case op < 85:
			n := 0
			for k, e := range mod.m {
				if !e.static {
					delete(mod.m, k)
					n++
				}
			}
			if got := tab.removeIf(func(_ remoteKey, e *remoteEntry) bool { return !e.static }); got != n {
				t.Fatalf("step %d: flush removed %d, model %d", step, got, n)
			}
		case op < 88:
			n := 0
			for k, e := range mod.m {
				if !mod.live(e, now) {
					delete(mod.m, k)
					n++
				}
			}
			if got := tab.age(now); got != n {
				t.Fatalf("step %d: age removed %d, model %d", step, got, n)
			}
		default:
			now += r.Int64N(int64(3 * time.Second))
		}
		if step%100 == 0 {
			got := tab.entries(now, func(uint32) uint16 { return 0 })
			if want := mod.entries(now); !slices.Equal(got, want) {
				t.Fatalf("step %d: entries\n%v\nmodel\n%v", step, got, want)
			}
		}
	}
	// Static VTEPs are tracked through every replacement and deletion.
	for k, e := range mod.m {
		if e.static && !tab.isStaticVTEP(k.vni, e.vtep) {
			t.Errorf("static entry %v at %v not known as a static VTEP", k, e.vtep)
		}
	}
	n := 0
	for _, c := range tab.statics {
		n += c
	}
	want := 0
	for _, e := range mod.m {
		if e.static {
			want++
		}
	}
	if n != want {
		t.Errorf("static VTEP references %d, static entries %d", n, want)
	}
}
