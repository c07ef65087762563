package vxlan

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Drop reasons, the keys of DeviceDrops.
const (
	// Decapsulation.
	DropShort       = "short"        // datagram shorter than a VXLAN header and an Ethernet header
	DropBadFlags    = "bad-flags"    // I flag not set (RFC 7348 §5)
	DropBadVNI      = "bad-vni"      // VNI of no network
	DropUnknownVTEP = "unknown-vtep" // sender is not a peer of the network (without AcceptAnyVTEP)
	DropInnerTagged = "inner-tagged" // inner frame carries a VLAN tag (RFC 7348 §6.1: SHOULD be discarded)
	DropRxTruncated = "rx-truncated" // datagram longer than a frame buffer
	DropRxError     = "rx-error"     // socket errors waited out

	// Encapsulation.
	DropUntagged    = "tx-untagged"   // frame without an 802.1Q tag: the port is a trunk
	DropNoVNI       = "no-vni"        // tag of a VLAN no network is mapped to
	DropTooBig      = "too-big"       // encapsulated frame longer than the underlay MTU allows
	DropNoPeer      = "no-peer"       // frame to flood on a network without peers
	DropTxOffload   = "tx-offload"    // super-frame or partial checksum that could not be finished
	DropTxQueueFull = "tx-queue-full" // socket send queue full (EAGAIN, ENOBUFS)
	DropTxError     = "tx-error"      // datagram the kernel refused for another reason
)

// counters are the port's drop counters and events, by reason.
type counters struct {
	short, badFlags, badVNI, unknownVTEP, innerTagged, rxTruncated, rxError atomic.Uint64
	untagged, noVNI, tooBig, noPeer, txOffload, txQueueFull, txError        atomic.Uint64
	gsoFallback, gsoSends, learnFull, neighFull                             atomic.Uint64
}

// Stats are the port's counters.
type Stats struct {
	// Drops counts frames dropped, by reason (the Drop* constants).
	Drops map[string]uint64
	// GSOSends counts UDP GSO messages sent: each carried the segments
	// of a super-frame to one VTEP in one sendmsg.
	GSOSends uint64
	// GSOFallbacks counts sends the kernel refused with UDP GSO, which was
	// then turned off and the segments sent one by one.
	GSOFallbacks uint64
	// LearnFull counts MACs not learned because the remote table was full.
	LearnFull uint64
	// NeighFull counts ARP senders not recorded because the neighbour
	// table was full.
	NeighFull uint64
	// Remotes is the number of entries in the remote table, static ones
	// included.
	Remotes int
	// Neighbors is the number of entries in the neighbour table.
	Neighbors int
	// GSO reports whether UDP segmentation offload is in use.
	GSO bool
}

func (c *counters) drops() map[string]uint64 {
	m := map[string]uint64{}
	for _, d := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{DropShort, &c.short}, {DropBadFlags, &c.badFlags}, {DropBadVNI, &c.badVNI},
		{DropUnknownVTEP, &c.unknownVTEP}, {DropInnerTagged, &c.innerTagged},
		{DropRxTruncated, &c.rxTruncated}, {DropRxError, &c.rxError},
		{DropUntagged, &c.untagged}, {DropNoVNI, &c.noVNI}, {DropTooBig, &c.tooBig},
		{DropNoPeer, &c.noPeer}, {DropTxOffload, &c.txOffload},
		{DropTxQueueFull, &c.txQueueFull}, {DropTxError, &c.txError},
	} {
		if v := d.v.Load(); v != 0 {
			m[d.name] = v
		}
	}
	return m
}

// VTEPStats is the traffic exchanged with one remote VTEP: datagrams and
// their UDP payload bytes (VXLAN header and inner frame), and the
// datagrams from it that were dropped, by the reasons of DeviceDrops
// (DropShort…).
type VTEPStats struct {
	Addr              netip.Addr // invalid for the VTEPs beyond MaxVTEPStats
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	// RxErrors counts the datagrams from the VTEP dropped at
	// decapsulation, by reason; reasons with no drops are left out (nil:
	// none).
	RxErrors map[string]uint64
}

type vtepCounters struct {
	rxFrames, rxBytes, txFrames, txBytes atomic.Uint64
	// Decapsulation drops of the VTEP's datagrams.
	short, badFlags, badVNI, unknownVTEP, innerTagged, rxTruncated atomic.Uint64
}

// errors returns c's decapsulation drops by reason, zeros left out; nil
// when there are none.
func (c *vtepCounters) errors() map[string]uint64 {
	var m map[string]uint64
	for _, d := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{DropShort, &c.short}, {DropBadFlags, &c.badFlags}, {DropBadVNI, &c.badVNI},
		{DropUnknownVTEP, &c.unknownVTEP}, {DropInnerTagged, &c.innerTagged}, {DropRxTruncated, &c.rxTruncated},
	} {
		if v := d.v.Load(); v != 0 {
			if m == nil {
				m = map[string]uint64{}
			}
			m[d.name] = v
		}
	}
	return m
}

// vtepRegistry holds the counters of each VTEP ever seen, copy on write:
// get of a known address takes no lock and allocates nothing.
type vtepRegistry struct {
	mu    sync.Mutex // serialises writers of m
	m     atomic.Pointer[map[netip.Addr]*vtepCounters]
	other vtepCounters // VTEPs beyond MaxVTEPStats
}

func (r *vtepRegistry) get(a netip.Addr) *vtepCounters {
	if m := r.m.Load(); m != nil {
		if c := (*m)[a]; c != nil {
			return c
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	if old != nil {
		if c := (*old)[a]; c != nil {
			return c
		}
		if len(*old) >= MaxVTEPStats {
			return &r.other
		}
	}
	m := make(map[netip.Addr]*vtepCounters, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	c := new(vtepCounters)
	m[a] = c
	r.m.Store(&m)
	return c
}

func lenMap(m *map[netip.Addr]*vtepCounters) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

func (r *vtepRegistry) list() []VTEPStats {
	var out []VTEPStats
	add := func(a netip.Addr, c *vtepCounters) {
		s := VTEPStats{Addr: a, RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(),
			TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(), RxErrors: c.errors()}
		if a.IsValid() || s.RxFrames+s.RxBytes+s.TxFrames+s.TxBytes != 0 || len(s.RxErrors) != 0 {
			out = append(out, s)
		}
	}
	if m := r.m.Load(); m != nil {
		for a, c := range *m {
			add(a, c)
		}
	}
	add(netip.Addr{}, &r.other)
	return out
}
