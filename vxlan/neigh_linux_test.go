package vxlan

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
)

// TestNeighbors checks ARP snooping: the sender of an ARP packet
// decapsulated from a peer is recorded with its VTEP, LookupARP answers
// while its MAC lives behind that VTEP, probes and mismatched senders are
// not recorded, and entries age out with the remote table.
func TestNeighbors(t *testing.T) {
	l := newLab3(t, nil)
	a := l.ps[0]
	ipC := netip.MustParseAddr("10.50.0.3")

	// B asks for A's address; C sends a probe (sender 0.0.0.0), and a
	// request whose sender MAC is not the frame's source.
	write(t, l.ps[1], tagged(arpRequest(t, macB, ipB, ipA), 10))
	write(t, l.ps[2], tagged(arpRequest(t, macC, netip.IPv4Unspecified(), ipA), 10))
	forged := arpRequest(t, macC, ipC, ipA)
	copy(forged[6:12], macA[:]) // Ethernet source A, ARP sender C
	write(t, l.ps[2], tagged(forged, 10))
	for _, r := range []int{0, 0, 0, 1, 1, 2} { // every frame floods to both other ports
		l.rs[r].next(t, wait)
	}
	want := []NeighEntry{{VNI: 100, IP: ipB, MAC: macB, VTEP: lo(2)}}
	if diff := cmp.Diff(want, a.NeighEntries(a.Now()), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("neighbours (-want +got):\n%s", diff)
	}
	if mac, ok := a.LookupARP(100, ipB); !ok || mac != macB {
		t.Errorf("LookupARP(%v) = %v, %v; want %v", ipB, mac, ok, macB)
	}
	for _, c := range []struct {
		vni uint32
		ip  netip.Addr
	}{{100, ipC}, {100, netip.IPv4Unspecified()}, {101, ipB}} {
		if mac, ok := a.LookupARP(c.vni, c.ip); ok {
			t.Errorf("LookupARP(%d, %v) = %v, want none", c.vni, c.ip, mac)
		}
	}

	// macB moves behind C: the neighbour entry no longer answers.
	l.sendFrom(t, 2, header.Broadcast, macB, 0, 1)
	if mac, ok := a.LookupARP(100, ipB); ok {
		t.Errorf("LookupARP after macB moved to another VTEP = %v, want none", mac)
	}
	// B speaks again: back.
	write(t, l.ps[1], tagged(arpRequest(t, macB, ipB, ipA), 10))
	l.rs[0].next(t, wait)
	l.rs[2].next(t, wait)
	if _, ok := a.LookupARP(100, ipB); !ok {
		t.Errorf("LookupARP after B's new request: none")
	}
	// Aging: at 300 s the entry is gone, and Age frees it.
	l.clocks[0].advance(DefaultAgingTime)
	if _, ok := a.LookupARP(100, ipB); ok {
		t.Errorf("LookupARP after %v: still answers", DefaultAgingTime)
	}
	a.Age(a.Now())
	if st := a.Stats(); st.Neighbors != 0 {
		t.Errorf("Stats.Neighbors after Age = %d, want 0", st.Neighbors)
	}
}

// TestSetNetworksForgetsPeers checks that removing a peer forgets what
// was learned behind it (remote MACs and neighbours), so frames to those
// MACs flood to the remaining peers instead of going to the old one, and
// that the peer's datagrams are then refused.
func TestSetNetworksForgetsPeers(t *testing.T) {
	l := newLab3(t, nil)
	a := l.ps[0]
	write(t, l.ps[1], tagged(arpRequest(t, macB, ipB, ipA), 10))
	l.rs[0].next(t, wait)
	l.rs[2].next(t, wait)
	l.sendFrom(t, 2, header.Broadcast, macC, 0, 1)
	if st := a.Stats(); st.Remotes != 2 || st.Neighbors != 1 {
		t.Fatalf("A learned %d MACs and %d neighbours, want 2 and 1", st.Remotes, st.Neighbors)
	}
	setNetworks(t, a, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(3)}})
	want := []RemoteEntry{{VNI: 100, VID: 10, MAC: macC, VTEP: lo(3)}}
	got := a.RemoteEntries(a.Now())
	for i := range got {
		got[i].Age = 0
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("entries after B stopped being a peer (-want +got):\n%s", diff)
	}
	if st := a.Stats(); st.Neighbors != 0 {
		t.Errorf("neighbours after B stopped being a peer: %d, want 0", st.Neighbors)
	}
	// A frame to macB now floods to C only, and B's datagrams are refused.
	l.sendFrom(t, 0, macB, macA, 2)
	write(t, l.ps[1], tagged(udpFrame(t, macA, macB, ipB, ipA, 1, 2, nil), 10))
	l.rs[0].none(t, 100*time.Millisecond)
	l.rs[2].next(t, wait)
	if d := a.DeviceDrops(); d[DropUnknownVTEP] != 1 {
		t.Errorf("drops %v, want 1 unknown-vtep", d)
	}
	// A static entry at B makes B's datagrams welcome again, and keeps
	// what is learned there across a change of peers.
	if err := a.AddStatic(100, macA, lo(2)); err != nil {
		t.Fatal(err)
	}
	l.sendFrom(t, 1, header.Broadcast, macB, 0, 2)
	setNetworks(t, a, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(3)}})
	if _, _, ok := a.remotes.lookup(100, macB, a.Now()); !ok {
		t.Errorf("macB, learned at a static entry's VTEP, forgotten by SetNetworks")
	}
}
