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

// The neighbour table: which MAC each remote IPv4 address of an overlay
// network has, snooped from the ARP packets (requests, replies and
// gratuitous announcements) decapsulated from accepted VTEPs. It is what
// ARP suppression for remote endpoints answers from (Port.LookupARP), in
// the way of the Linux vxlan device's neighbour proxy (`proxy`), which
// Docker's overlay fills statically; here it fills itself.

// NeighEntry is one entry of the neighbour table, for listings.
type NeighEntry struct {
	VNI  uint32
	IP   netip.Addr
	MAC  header.MAC
	VTEP netip.Addr // the VTEP the ARP packet came from
	// Age is the time since the last ARP packet from the address.
	Age time.Duration
}

type neighKey struct {
	vni uint32
	ip  netip.Addr
}

// neighEntry is guarded by neighTable.mu but seen, refreshed under its
// read lock.
type neighEntry struct {
	mac  header.MAC
	vtep netip.Addr
	seen atomic.Int64
}

// neighTable maps (VNI, IPv4 address) to a MAC and the VTEP behind which
// it was seen. A known address is refreshed under the read lock without
// allocating; a new or changed one takes the write lock.
type neighTable struct {
	mu      sync.RWMutex // guards m and the entries' mac, vtep
	m       map[neighKey]*neighEntry
	max     int
	aging   int64 // < 0: never
	refresh int64
}

func newNeighTable(max int, aging time.Duration, refresh int64) *neighTable {
	return &neighTable{m: map[neighKey]*neighEntry{}, max: max, aging: int64(aging), refresh: refresh}
}

func (t *neighTable) expired(e *neighEntry, now int64) bool {
	return t.aging >= 0 && now-e.seen.Load() >= t.aging
}

// snoop records that ip in network vni has mac, behind vtep. It reports
// false when the table was full.
func (t *neighTable) snoop(vni uint32, ip netip.Addr, mac header.MAC, vtep netip.Addr, now int64) bool {
	k := neighKey{vni, ip}
	t.mu.RLock()
	if e := t.m[k]; e != nil && e.mac == mac && e.vtep == vtep {
		if now-e.seen.Load() >= t.refresh {
			e.seen.Store(now)
		}
		t.mu.RUnlock()
		return true
	}
	t.mu.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e == nil {
		if len(t.m) >= t.max {
			for k2, e2 := range t.m {
				if t.expired(e2, now) {
					delete(t.m, k2)
				}
			}
			if len(t.m) >= t.max {
				return false
			}
		}
		e = new(neighEntry)
		t.m[k] = e
	}
	e.mac, e.vtep = mac, vtep
	e.seen.Store(now)
	return true
}

// lookup returns the live entry of ip in network vni.
func (t *neighTable) lookup(vni uint32, ip netip.Addr, now int64) (header.MAC, netip.Addr, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.m[neighKey{vni, ip}]
	if e == nil || t.expired(e, now) {
		return header.MAC{}, netip.Addr{}, false
	}
	return e.mac, e.vtep, true
}

// removeIf deletes the entries match selects and returns their number.
func (t *neighTable) removeIf(match func(k neighKey, e *neighEntry) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.m {
		if match(k, e) {
			delete(t.m, k)
			n++
		}
	}
	return n
}

func (t *neighTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// entries lists the live entries sorted by VNI and address.
func (t *neighTable) entries(now int64) []NeighEntry {
	t.mu.RLock()
	out := make([]NeighEntry, 0, len(t.m))
	for k, e := range t.m {
		if !t.expired(e, now) {
			out = append(out, NeighEntry{VNI: k.vni, IP: k.ip, MAC: e.mac, VTEP: e.vtep, Age: time.Duration(max64(now-e.seen.Load(), 0))})
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b NeighEntry) int {
		if c := cmp.Compare(a.VNI, b.VNI); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out
}

// snoopARP records the sender of an inner ARP packet (frame is the inner
// Ethernet frame, untagged) from vtep in network vni: a valid
// Ethernet/IPv4 ARP packet whose sender MAC is the frame's source and a
// unicast address, and whose sender address is not 0.0.0.0 (a probe).
func (p *Port) snoopARP(vni uint32, frame []byte, vtep netip.Addr, now int64) {
	a := header.ARP(frame[header.EthernetLen:])
	if !a.IsValid() {
		return
	}
	mac, ip := a.SenderMAC(), a.SenderIP()
	if mac != header.MAC(frame[6:12]) || mac.IsMulticast() || mac.IsZero() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return
	}
	if !p.neigh.snoop(vni, ip, mac, vtep, now) {
		p.cnt.neighFull.Add(1)
	}
}

// LookupARP returns the MAC of the remote address ip in network vni, as
// the ARP packets of its VTEP said, if that MAC still lives behind the
// same VTEP in the remote table (learned or static): what ARP suppression
// may answer for a remote endpoint.
func (p *Port) LookupARP(vni uint32, ip netip.Addr) (header.MAC, bool) {
	now := p.clock()
	mac, vtep, ok := p.neigh.lookup(vni, ip, now)
	if !ok {
		return header.MAC{}, false
	}
	at, _, ok := p.remotes.lookup(vni, mac, now)
	if !ok || at != vtep {
		return header.MAC{}, false
	}
	return mac, true
}

// NeighEntries lists the live entries of the neighbour table at now
// (Port.Now), sorted by VNI and address.
func (p *Port) NeighEntries(now int64) []NeighEntry { return p.neigh.entries(now) }
