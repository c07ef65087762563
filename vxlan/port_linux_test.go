package vxlan

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

const wait = 5 * time.Second

// TestRoundTrip sends frames of two networks from port A to port B over
// loopback and checks that B reads each inner frame unchanged, tagged with
// B's own VLAN for the VNI (the two ports map VNIs to different VLANs),
// with a zero virtio header.
func TestRoundTrip(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, nil)
	a, b := ps[0], ps[1]
	setNetworks(t, a, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(2)}}, Network{VNI: 200, VID: 20, Peers: []netip.Addr{lo(2)}})
	setNetworks(t, b, Network{VNI: 100, VID: 30, Peers: []netip.Addr{lo(1)}}, Network{VNI: 200, VID: 40, Peers: []netip.Addr{lo(1)}})
	rb := startReader(t, b)

	cases := []struct {
		name  string
		vidA  uint16
		vidB  uint16
		frame []byte
	}{
		{"arp", 10, 30, arpRequest(t, macA, ipA, ipB)},
		{"udp", 20, 40, udpFrame(t, macB, macA, ipA, ipB, 1000, 2000, []byte("hello"))},
		{"udp-1450", 10, 30, udpFrame(t, macB, macA, ipA, ipB, 1000, 2000, make([]byte, 1450-28))},
		{"minimum", 20, 40, append(append([]byte(nil), macB[:]...), append(macA[:], 0x88, 0xb5)...)},
	}
	for _, c := range cases {
		write(t, a, tagged(c.frame, c.vidA))
		f := rb.next(t, wait)
		vid, inner := untag(t, f.data)
		if vid != c.vidB || !bytes.Equal(inner, c.frame) {
			t.Errorf("%s: read VLAN %d % x, want VLAN %d % x", c.name, vid, inner, c.vidB, c.frame)
		}
		if !bytes.Equal(f.vh, make([]byte, header.VirtioNetLen)) {
			t.Errorf("%s: virtio header % x, want zero", c.name, f.vh)
		}
	}
	if d := b.DeviceDrops(); len(d) != 0 {
		t.Errorf("B drops: %v", d)
	}
	want := []VTEPStats{{Addr: lo(2), TxFrames: uint64(len(cases))}}
	var txBytes uint64
	for _, c := range cases {
		txBytes += uint64(header.VXLANLen + len(c.frame))
	}
	want[0].TxBytes = txBytes
	if diff := cmp.Diff(want, a.VTEPStats(), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("A VTEPStats (-want +got):\n%s", diff)
	}
	got := b.VTEPStats()
	if len(got) != 1 || got[0].Addr != lo(1) || got[0].RxFrames != uint64(len(cases)) || got[0].RxBytes != txBytes {
		t.Errorf("B VTEPStats = %+v, want %d frames, %d bytes from %v", got, len(cases), txBytes, lo(1))
	}
}

// TestRoundTripIPv6 checks an IPv6 underlay: a port on ::1 whose peer is
// itself reads back what it writes.
func TestRoundTripIPv6(t *testing.T) {
	ps := openPorts(t, []netip.Addr{netip.IPv6Loopback()}, nil)
	p := ps[0]
	setNetworks(t, p, Network{VNI: 7, VID: 70, Peers: []netip.Addr{netip.IPv6Loopback()}})
	if got, want := p.PayloadMTU(), 1500-70; got != want {
		t.Errorf("PayloadMTU = %d, want %d", got, want)
	}
	r := startReader(t, p)
	in := udpFrame(t, macB, macA, ipA, ipB, 1, 2, []byte("six"))
	write(t, p, tagged(in, 70))
	if vid, inner := untag(t, r.next(t, wait).data); vid != 70 || !bytes.Equal(inner, in) {
		t.Errorf("read VLAN %d % x, want 70 % x", vid, inner, in)
	}
}

// TestTrunk checks the VLAN ↔ VNI mapping on both sides: frames of a VLAN
// no network is mapped to, and untagged frames, are refused on write;
// datagrams of a VNI the receiver does not carry are dropped as bad-vni;
// SetNetworks changes the mapping for the next frame.
func TestTrunk(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, nil)
	a, b := ps[0], ps[1]
	setNetworks(t, a, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(2)}}, Network{VNI: 300, VID: 30, Peers: []netip.Addr{lo(2)}})
	setNetworks(t, b, Network{VNI: 100, VID: 11, Peers: []netip.Addr{lo(1)}})
	rb := startReader(t, b)
	in := udpFrame(t, macB, macA, ipA, ipB, 1, 2, []byte("x"))

	bufs := [][]byte{wbuf(tagged(in, 20), nil), wbuf(in, nil), wbuf(tagged(in, 10), nil)}
	n, err := a.Write(bufs, header.VirtioNetLen)
	if n != 1 || !errors.Is(err, ErrNoVNI) {
		t.Errorf("Write(VLAN 20, untagged, VLAN 10) = %d, %v; want 1, %v", n, err, ErrNoVNI)
	}
	if vid, got := untag(t, rb.next(t, wait).data); vid != 11 || !bytes.Equal(got, in) {
		t.Errorf("read VLAN %d, want 11", vid)
	}
	write(t, a, tagged(in, 30)) // VNI 300: B does not carry it
	rb.none(t, 100*time.Millisecond)

	// B now carries VNI 300 on VLAN 12, and VNI 100 no longer.
	setNetworks(t, b, Network{VNI: 300, VID: 12, Peers: []netip.Addr{lo(1)}})
	write(t, a, tagged(in, 30), tagged(in, 10))
	if vid, _ := untag(t, rb.next(t, wait).data); vid != 12 {
		t.Errorf("read VLAN %d, want 12", vid)
	}
	rb.none(t, 100*time.Millisecond)

	wantA := map[string]uint64{DropNoVNI: 1, DropUntagged: 1}
	if diff := cmp.Diff(wantA, a.DeviceDrops()); diff != "" {
		t.Errorf("A drops (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{DropBadVNI: 2}, b.DeviceDrops()); diff != "" {
		t.Errorf("B drops (-want +got):\n%s", diff)
	}
	if got := b.Networks(); len(got) != 1 || got[0].VNI != 300 || got[0].VID != 12 {
		t.Errorf("Networks = %+v", got)
	}
}

func TestSetNetworksInvalid(t *testing.T) {
	p, err := newPort(Options{})
	if err != nil {
		t.Fatal(err)
	}
	peer := []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	for _, c := range []struct {
		name string
		nets []Network
	}{
		{"VNI too large", []Network{{VNI: 1 << 24, VID: 1}}},
		{"VLAN 0", []Network{{VNI: 1, VID: 0}}},
		{"VLAN 4095", []Network{{VNI: 1, VID: 4095}}},
		{"VNI twice", []Network{{VNI: 1, VID: 1}, {VNI: 1, VID: 2}}},
		{"VLAN twice", []Network{{VNI: 1, VID: 1}, {VNI: 2, VID: 1}}},
		{"IPv6 peer on IPv4", []Network{{VNI: 1, VID: 1, Peers: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}}},
		{"multicast peer", []Network{{VNI: 1, VID: 1, Peers: []netip.Addr{netip.MustParseAddr("239.1.1.1")}}}},
		{"unspecified peer", []Network{{VNI: 1, VID: 1, Peers: []netip.Addr{netip.IPv4Unspecified()}}}},
		{"invalid peer", []Network{{VNI: 1, VID: 1, Peers: []netip.Addr{{}}}}},
	} {
		if err := p.SetNetworks(c.nets); !errors.Is(err, ErrInvalidNetwork) && !errors.Is(err, ErrInvalidVTEP) {
			t.Errorf("%s: SetNetworks = %v, want an invalid network or VTEP error", c.name, err)
		}
	}
	// Duplicate peers collapse; IPv4-mapped IPv6 addresses are IPv4.
	ok := []Network{{VNI: 0, VID: 1, Peers: []netip.Addr{peer[0], peer[0], netip.AddrFrom16(peer[0].As16())}}}
	if err := p.SetNetworks(ok); err != nil {
		t.Fatal(err)
	}
	if got := p.Networks(); len(got) != 1 || !slices.Equal(got[0].Peers, peer) {
		t.Errorf("Networks = %+v, want peers %v", got, peer)
	}
}

// lab3 is three ports on 127.0.0.1–3 carrying VNI 100 (VLAN 10), each
// with the other two as peers and a fake clock.
type lab3 struct {
	ps     []*Port
	rs     []*reader
	clocks []*fakeClock
	seq    int
}

func newLab3(t *testing.T, mod func(i int, o *Options)) *lab3 {
	l := &lab3{}
	addrs := []netip.Addr{lo(1), lo(2), lo(3)}
	for range addrs {
		c := &fakeClock{}
		c.advance(time.Hour)
		l.clocks = append(l.clocks, c)
	}
	l.ps = openPorts(t, addrs, func(i int, o *Options) {
		o.Clock = l.clocks[i].clock
		if mod != nil {
			mod(i, o)
		}
	})
	for i, p := range l.ps {
		var peers []netip.Addr
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		setNetworks(t, p, Network{VNI: 100, VID: 10, Peers: peers})
		l.rs = append(l.rs, startReader(t, p))
	}
	return l
}

// sendFrom writes a frame from src to dst on port i and checks that
// exactly the ports in want read it: each of them within the test's
// timeout, none of the others within 100 ms (a frame arriving later is
// caught by the next sendFrom, which finds the wrong payload).
func (l *lab3) sendFrom(t *testing.T, i int, dst, src header.MAC, want ...int) {
	t.Helper()
	l.seq++
	in := udpFrame(t, dst, src, ipA, ipB, 1, 2, fmt.Appendf(nil, "frame %d from %v", l.seq, src))
	write(t, l.ps[i], tagged(in, 10))
	for j, r := range l.rs {
		if j == i {
			continue
		}
		d := 100 * time.Millisecond
		if slices.Contains(want, j) {
			d = wait
		}
		select {
		case f := <-r.c:
			if _, inner := untag(t, f.data); !bytes.Equal(inner, in) {
				t.Fatalf("frame %d: port %d read % x, want % x", l.seq, j, inner, in)
			}
			if !slices.Contains(want, j) {
				t.Errorf("frame %d from port %d to %v: read by port %d, want only %v", l.seq, i, dst, j, want)
			}
		case <-time.After(d):
			if slices.Contains(want, j) {
				t.Errorf("frame %d from port %d to %v: not read by port %d", l.seq, i, dst, j)
			}
		}
	}
}

// TestLearning checks head-end replication, learning, moves, aging with
// an injected clock, static entries and Flush.
func TestLearning(t *testing.T) {
	l := newLab3(t, nil)
	a := l.ps[0]
	group := header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}

	l.sendFrom(t, 1, header.Broadcast, macB, 0, 2)
	l.sendFrom(t, 2, group, macC, 0, 1)
	l.sendFrom(t, 0, header.MAC{0x02, 9, 9, 9, 9, 9}, macA, 1, 2)
	l.sendFrom(t, 0, macB, macA, 1)
	l.sendFrom(t, 0, macC, macA, 2)
	l.sendFrom(t, 0, group, macA, 1, 2)

	want := []RemoteEntry{
		{VNI: 100, VID: 10, MAC: macB, VTEP: lo(2)},
		{VNI: 100, VID: 10, MAC: macC, VTEP: lo(3)},
	}
	if diff := cmp.Diff(want, a.RemoteEntries(a.Now()), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("A's remote entries (-want +got):\n%s", diff)
	}

	// macB moves behind C.
	l.sendFrom(t, 2, header.Broadcast, macB, 0, 1)
	l.sendFrom(t, 0, macB, macA, 2)

	// Ageing: 299 s later the entries live, at 300 s they do not.
	l.clocks[0].advance(299 * time.Second)
	if e := a.RemoteEntries(a.Now()); len(e) != 2 || e[0].Age != 299*time.Second {
		t.Errorf("entries after 299 s: %+v", e)
	}
	l.sendFrom(t, 0, macC, macA, 2)
	l.clocks[0].advance(time.Second)
	l.sendFrom(t, 0, macC, macA, 1, 2)
	if e := a.RemoteEntries(a.Now()); len(e) != 0 {
		t.Errorf("entries after 300 s: %+v", e)
	}
	if n := a.Age(a.Now()); n != 2 {
		t.Errorf("Age removed %d entries, want 2", n)
	}

	// A static entry sends macC's frames to B, whatever C says, forever.
	if err := a.AddStatic(100, macC, lo(2)); err != nil {
		t.Fatal(err)
	}
	l.sendFrom(t, 2, header.Broadcast, macC, 0, 1)
	l.sendFrom(t, 0, macC, macA, 1)
	l.clocks[0].advance(24 * time.Hour)
	l.sendFrom(t, 0, macC, macA, 1)
	l.sendFrom(t, 1, header.Broadcast, macB, 0, 2)
	want = []RemoteEntry{
		{VNI: 100, VID: 10, MAC: macB, VTEP: lo(2)},
		{VNI: 100, VID: 10, MAC: macC, VTEP: lo(2), Static: true},
	}
	if diff := cmp.Diff(want, a.RemoteEntries(a.Now()), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("A's remote entries (-want +got):\n%s", diff)
	}
	if n := a.Flush(); n != 1 {
		t.Errorf("Flush = %d, want 1 (the learned entry)", n)
	}
	if e := a.RemoteEntries(a.Now()); len(e) != 1 || !e[0].Static {
		t.Errorf("entries after Flush: %+v", e)
	}
	if !a.DeleteRemote(100, macC) || a.DeleteRemote(100, macC) {
		t.Errorf("DeleteRemote of the static entry: want true, then false")
	}
	for _, err := range []error{
		a.AddStatic(100, header.Broadcast, lo(2)),
		a.AddStatic(100, header.MAC{}, lo(2)),
		a.AddStatic(100, macB, netip.IPv6Loopback()),
		a.AddStatic(1<<24, macB, lo(2)),
	} {
		if err == nil {
			t.Errorf("AddStatic accepted an invalid entry")
		}
	}
	for i, p := range l.ps {
		if d := p.DeviceDrops(); len(d) != 0 {
			t.Errorf("port %d drops: %v", i, d)
		}
	}
}

// TestLearnLimit checks that a full table learns nothing new until an
// entry expires, and counts the refusals.
func TestLearnLimit(t *testing.T) {
	l := newLab3(t, func(i int, o *Options) { o.MaxRemotes = 1 })
	a := l.ps[0]
	l.sendFrom(t, 1, header.Broadcast, macB, 0, 2)
	l.sendFrom(t, 2, header.Broadcast, macC, 0, 1)
	if e := a.RemoteEntries(a.Now()); len(e) != 1 || e[0].MAC != macB {
		t.Errorf("entries: %+v, want macB only", e)
	}
	if st := a.Stats(); st.LearnFull != 1 || st.Remotes != 1 {
		t.Errorf("Stats = %+v, want 1 refusal, 1 entry", st)
	}
	l.clocks[0].advance(DefaultAgingTime)
	l.sendFrom(t, 2, header.Broadcast, macC, 0, 1)
	if e := a.RemoteEntries(a.Now()); len(e) != 1 || e[0].MAC != macC {
		t.Errorf("entries after macB expired: %+v, want macC only", e)
	}
}

// TestAcceptedVTEPs checks that datagrams are accepted only from a
// network's peers and its static entries' VTEPs, unless AcceptAnyVTEP.
func TestAcceptedVTEPs(t *testing.T) {
	for _, anyVTEP := range []bool{false, true} {
		ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, func(i int, o *Options) { o.AcceptAnyVTEP = anyVTEP && i == 1 })
		a, b := ps[0], ps[1]
		setNetworks(t, a, Network{VNI: 5, VID: 5, Peers: []netip.Addr{lo(2)}})
		setNetworks(t, b, Network{VNI: 5, VID: 5, Peers: []netip.Addr{lo(9)}}) // A is no peer of B
		rb := startReader(t, b)
		in := udpFrame(t, macB, macA, ipA, ipB, 1, 2, nil)
		write(t, a, tagged(in, 5))
		if anyVTEP {
			rb.next(t, wait)
			if e := b.RemoteEntries(b.Now()); len(e) != 1 || e[0].VTEP != lo(1) {
				t.Errorf("AcceptAnyVTEP: entries %+v, want macA at %v", e, lo(1))
			}
			continue
		}
		rb.none(t, 100*time.Millisecond)
		if d := b.DeviceDrops(); d[DropUnknownVTEP] != 1 {
			t.Errorf("drops %v, want 1 unknown-vtep", d)
		}
		if err := b.AddStatic(5, macC, lo(1)); err != nil {
			t.Fatal(err)
		}
		write(t, a, tagged(in, 5))
		rb.next(t, wait)
	}
}

// TestBadDatagrams sends malformed datagrams from a peer's address and
// checks each is dropped and counted by reason; reserved bits are ignored
// (RFC 7348 §5).
func TestBadDatagrams(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(2)}, nil)
	b := ps[0]
	setNetworks(t, b, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(1)}})
	rb := startReader(t, b)
	conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo(2), b.dport)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inner := udpFrame(t, macB, macA, ipA, ipB, 1, 2, []byte("inner"))
	vx := func(flags byte, vni uint32, reserved byte, inner []byte) []byte {
		h := make(header.VXLAN, header.VXLANLen)
		h.Encode(&header.VXLANFields{Flags: flags, VNI: vni})
		h[1], h[2], h[3], h[7] = reserved, reserved, reserved, reserved
		return append(h, inner...)
	}
	for _, d := range [][]byte{
		{0x08, 0, 0},                                 // short
		vx(0x08, 100, 0, inner[:13]),                 // short: no full Ethernet header
		vx(0x00, 100, 0, inner),                      // bad-flags
		vx(0xf7, 100, 0, inner),                      // bad-flags: every bit but I
		vx(0x08, 101, 0, inner),                      // bad-vni
		vx(0x08, 100, 0, tagged(inner, 7)),           // inner-tagged
		vx(0xff, 100, 0xff, inner),                   // good: reserved bits ignored
		vx(0x08, 100, 0, inner[:header.EthernetLen]), // good: a bare Ethernet header
	} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range [][]byte{inner, inner[:header.EthernetLen]} {
		if _, got := untag(t, rb.next(t, wait).data); !bytes.Equal(got, want) {
			t.Errorf("read % x, want % x", got, want)
		}
	}
	want := map[string]uint64{DropShort: 2, DropBadFlags: 2, DropBadVNI: 1, DropInnerTagged: 1}
	if diff := cmp.Diff(want, b.DeviceDrops()); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
	// The same drops, counted for the VTEP that sent them.
	vs := b.VTEPStats()
	if len(vs) != 1 || vs[0].Addr != lo(1) || vs[0].RxFrames != 2 {
		t.Fatalf("VTEPStats = %+v, want 127.0.0.1 with 2 frames", vs)
	}
	if diff := cmp.Diff(want, vs[0].RxErrors); diff != "" {
		t.Errorf("VTEP drops (-want +got):\n%s", diff)
	}
}

// TestWriteErrors checks frames Write refuses: no peer to flood to, too
// big for the underlay MTU, and how Write reports a partly refused batch.
func TestWriteErrors(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, nil)
	a, b := ps[0], ps[1]
	setNetworks(t, a, Network{VNI: 1, VID: 1}, Network{VNI: 2, VID: 2, Peers: []netip.Addr{lo(2)}})
	setNetworks(t, b, Network{VNI: 2, VID: 2, Peers: []netip.Addr{lo(1)}}, Network{VNI: 1, VID: 1, Peers: []netip.Addr{lo(1)}})
	rb := startReader(t, b)

	// 1450 bytes of IP fit an MTU of 1500; 1451 do not.
	fits := udpFrame(t, macB, macA, ipA, ipB, 1, 2, make([]byte, a.PayloadMTU()-28))
	over := udpFrame(t, macB, macA, ipA, ipB, 1, 2, make([]byte, a.PayloadMTU()-27))
	bcast := udpFrame(t, header.Broadcast, macA, ipA, ipB, 1, 2, nil)
	bufs := [][]byte{wbuf(tagged(over, 2), nil), wbuf(tagged(bcast, 1), nil), wbuf(tagged(fits, 2), nil)}
	n, err := a.Write(bufs, header.VirtioNetLen)
	if n != 1 || !errors.Is(err, ErrTooBig) {
		t.Errorf("Write = %d, %v; want 1, %v", n, err, ErrTooBig)
	}
	if _, got := untag(t, rb.next(t, wait).data); !bytes.Equal(got, fits) {
		t.Errorf("read a frame of %d bytes, want the %d-byte one", len(got), len(fits))
	}
	// Unicast on the peerless network goes where a static entry says.
	if err := a.AddStatic(1, macB, lo(2)); err != nil {
		t.Fatal(err)
	}
	write(t, a, tagged(fits, 1))
	rb.next(t, wait)
	want := map[string]uint64{DropTooBig: 1, DropNoPeer: 1}
	if diff := cmp.Diff(want, a.DeviceDrops()); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
	// A TCP super-frame whose segments exceed the MTU.
	f, vh := tcpSuper(t, 2, 1234, 10000, 1460)
	if n, err := a.Write([][]byte{wbuf(f, vh)}, header.VirtioNetLen); n != 0 || !errors.Is(err, ErrTooBig) {
		t.Errorf("Write(super-frame, MSS 1460) = %d, %v; want 0, %v", n, err, ErrTooBig)
	}
	if _, err := a.Write(nil, 4); err == nil {
		t.Errorf("Write with offset 4: no error")
	}
}

// TestClose checks that Close ends a blocked Read and later calls.
func TestClose(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1)}, nil)
	p := ps[0]
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, port.BufferSize)}
		_, err := p.Read(bufs, []int{0}, port.ReadOffset)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, port.ErrClosed) {
			t.Errorf("Read after Close = %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Read still blocked after Close")
	}
	if _, err := p.Write([][]byte{wbuf(tagged(arpRequest(t, macA, ipA, ipB), 1), nil)}, header.VirtioNetLen); !errors.Is(err, port.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, port.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestSourcePorts(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1)}, func(_ int, o *Options) { o.SourcePorts = 32 })
	got := ps[0].SourcePorts()
	if len(got) != 32 {
		t.Fatalf("%d source ports, want 32", len(got))
	}
	seen := map[uint16]bool{}
	for _, p := range got {
		if p < MinSourcePort || seen[p] {
			t.Errorf("source ports %v: %d out of range or repeated", got, p)
		}
		seen[p] = true
	}
	for _, o := range []Options{{SourcePorts: -1}, {SourcePorts: MaxSourcePorts + 1}, {BatchSize: MaxBatchSize + 1}, {MTU: 100},
		{Local: netip.MustParseAddr("224.0.0.1")}} {
		if p, err := Open(o); err == nil {
			p.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// TestSourcePortPerFlow captures what a Port sends with a plain UDP socket
// and checks that each inner flow leaves from one source port, that flows
// spread over the sending sockets, and that the datagrams carry the VXLAN
// header and the untagged frame.
func TestSourcePortPerFlow(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1)}, func(_ int, o *Options) { o.SourcePorts = 16 })
	a := ps[0]
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo(9), a.dport)))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	setNetworks(t, a, Network{VNI: 0xabcdef, VID: 10, Peers: []netip.Addr{lo(9)}})
	const flows, rounds = 64, 3
	frames := make(map[uint16][]byte)
	for round := range rounds {
		var batch [][]byte
		for f := range flows {
			sport := uint16(10000 + f)
			in := tcpFrame(t, ipA, ipB, sport, 80, "A", make([]byte, 10*round))
			frames[sport] = in
			batch = append(batch, in)
		}
		write(t, a, batch...)
	}
	ports := map[uint16]map[uint16]bool{} // inner source port → outer source ports
	used := map[uint16]bool{}
	buf := make([]byte, 2000)
	sink.SetReadDeadline(time.Now().Add(wait))
	for range flows * rounds {
		n, from, err := sink.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		vx := header.VXLAN(buf[:n])
		if !vx.IsValid() || vx.VNI() != 0xabcdef || vx.Flags() != header.VXLANFlagI || !bytes.Equal(buf[1:4], []byte{0, 0, 0}) || buf[7] != 0 {
			t.Fatalf("datagram header % x, want I flag, VNI abcdef, reserved zero", buf[:8])
		}
		var pk header.Parsed
		if err := pk.Decode(vx.Payload()); err != nil || pk.Tags != 0 || pk.Proto != header.ProtoTCP {
			t.Fatalf("inner frame %v (tags %d): % x", err, pk.Tags, vx.Payload())
		}
		if ports[pk.SrcPort] == nil {
			ports[pk.SrcPort] = map[uint16]bool{}
		}
		ports[pk.SrcPort][from.Port()] = true
		used[from.Port()] = true
		if !slices.Contains(a.SourcePorts(), from.Port()) || from.Addr() != lo(1) {
			t.Errorf("datagram from %v, not one of %v at %v", from, a.SourcePorts(), lo(1))
		}
	}
	for sport, outer := range ports {
		if len(outer) != 1 {
			t.Errorf("flow from port %d left from source ports %v, want one", sport, outer)
		}
	}
	t.Logf("%d flows over %d of %d source ports", len(ports), len(used), len(a.SourcePorts()))
	if len(ports) != flows || len(used) < 12 {
		t.Errorf("%d flows over %d source ports, want %d flows over at least 12", len(ports), len(used), flows)
	}
}

// TestSegmentation writes a TCP super-frame (and a frame with a partial
// checksum) and checks that the receiving Port reads exactly the frames
// offload.Segment makes of it, tagged with the receiver's VLAN: with UDP
// GSO and without, and flooded to two peers.
func TestSegmentation(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(map[bool]string{true: "gso", false: "nogso"}[gso], func(t *testing.T) {
			ps := openPorts(t, []netip.Addr{lo(1), lo(2), lo(3)}, func(i int, o *Options) { o.NoGSO = !gso })
			a := ps[0]
			setNetworks(t, a, Network{VNI: 9, VID: 2, Peers: []netip.Addr{lo(2), lo(3)}})
			var rs []*reader
			for _, p := range ps[1:] {
				setNetworks(t, p, Network{VNI: 9, VID: 3, Peers: []netip.Addr{lo(1)}})
				rs = append(rs, startReader(t, p))
			}
			if a.Stats().GSO != gso {
				t.Fatalf("GSO = %v, want %v", a.Stats().GSO, gso)
			}
			super, vh := tcpSuper(t, 2, 777, 60000, 1400) // 43 segments: one GSO message
			huge, hvh := tcpSuper(t, 2, 778, 65000, 300)  // 217 segments: four GSO messages
			small, svh := tcpSuper(t, 2, 779, 100, 1400)
			svh.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, CsumStart: svh.CsumStart(), CsumOffset: svh.CsumOffset()})
			for _, c := range []struct {
				name  string
				frame []byte
				vh    header.VirtioNet
			}{{"super-frame", super, vh}, {"super-frame of 217 segments", huge, hvh}, {"partial checksum", small, svh}} {
				want := segments(t, c.frame, c.vh)
				if n, err := a.Write([][]byte{wbuf(c.frame, c.vh)}, header.VirtioNetLen); n != 1 || err != nil {
					t.Fatalf("%s: Write = %d, %v", c.name, n, err)
				}
				for i, r := range rs {
					for k, w := range want {
						f := r.next(t, wait)
						vid, got := untag(t, f.data)
						if vid != 3 || !bytes.Equal(got, w) {
							t.Fatalf("%s: port %d segment %d: VLAN %d\n% x\nwant\n% x", c.name, i+1, k, vid, got, w)
						}
					}
					r.none(t, 50*time.Millisecond)
				}
				t.Logf("%s: %d segments to each of 2 peers", c.name, len(want))
			}
			// With GSO: 1 message for 43 segments, 4 for 217, to each peer.
			wantSends := map[bool]uint64{true: 2 * (1 + 4), false: 0}[gso]
			if st := a.Stats(); len(st.Drops) != 0 || st.GSOFallbacks != 0 || st.GSOSends != wantSends {
				t.Errorf("stats %+v, want no drops, no fallback, %d GSO sends", st, wantSends)
			}
		})
	}
}

// segments returns what offload.Segment makes of frame, without tags.
func segments(t *testing.T, frame []byte, vh header.VirtioNet) [][]byte {
	t.Helper()
	n := offload.MaxSegments(frame, vh)
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, header.VirtioNetLen+len(frame))
	}
	sizes := make([]int, n)
	if _, err := offload.Segment(frame, vh, out, sizes, header.VirtioNetLen); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		_, out[i] = untag(t, out[i][header.VirtioNetLen:header.VirtioNetLen+sizes[i]])
		var pk header.Parsed
		if pk.Decode(out[i]) != nil || pk.L4Off == 0 {
			t.Fatalf("segment %d does not decode", i)
		}
		tcp := header.TCP(out[i][pk.L4Off:pk.L3End])
		if header.Checksum(tcp, header.IPv4(out[i][pk.L3Off:]).PseudoHeaderChecksum(uint16(len(tcp)))) != 0xffff {
			t.Fatalf("segment %d: bad TCP checksum", i)
		}
	}
	return out
}

// TestGSOFallback makes the kernel refuse UDP GSO (EINVAL: SO_NO_CHECK on
// the sending sockets; Linux ≥ 6.11 no longer refuses it for a device
// without checksum offload, which was the usual cause): the segments of
// the first super-frame must still arrive, sent one by one, and GSO must
// stay off afterwards.
func TestGSOFallback(t *testing.T) {
	ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, nil)
	a, b := ps[0], ps[1]
	setNetworks(t, a, Network{VNI: 9, VID: 2, Peers: []netip.Addr{lo(2)}})
	setNetworks(t, b, Network{VNI: 9, VID: 3, Peers: []netip.Addr{lo(1)}})
	rb := startReader(t, b)
	for _, fd := range a.sys.src {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1); err != nil {
			t.Fatal(err)
		}
	}
	if !a.Stats().GSO {
		t.Fatal("GSO not in use at start")
	}
	super, vh := tcpSuper(t, 2, 777, 20000, 1400)
	want := segments(t, super, vh)
	for round := range 2 {
		if n, err := a.Write([][]byte{wbuf(super, vh)}, header.VirtioNetLen); n != 1 || err != nil {
			t.Fatalf("round %d: Write = %d, %v", round, n, err)
		}
		for k, w := range want {
			if _, got := untag(t, rb.next(t, wait).data); !bytes.Equal(got, w) {
				t.Fatalf("round %d: segment %d differs", round, k)
			}
		}
	}
	st := a.Stats()
	if st.GSO || st.GSOFallbacks != 1 || st.GSOSends != 0 || len(st.Drops) != 0 {
		t.Errorf("stats %+v, want GSO off after 1 fallback, no GSO send, no drops", st)
	}
}

// TestCloseReleasesSockets checks that Close, and an Open that fails half
// way, leave no file descriptor behind.
func TestCloseReleasesSockets(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	before := fds()
	ps := openPorts(t, []netip.Addr{lo(1)}, func(_ int, o *Options) { o.SourcePorts = 8 })
	if got := fds() - before; got != 9 {
		t.Errorf("an open Port holds %d descriptors, want 9 (1 receiving, 8 sending)", got)
	}
	// A second Port on the same address and port fails to bind.
	if p, err := Open(Options{Local: lo(1), Port: ps[0].dport}); err == nil || !errors.Is(err, unix.EADDRINUSE) {
		if p != nil {
			p.Close()
		}
		t.Errorf("Open on a bound port: %v, want EADDRINUSE", err)
	}
	ps[0].Close()
	if got := fds(); got != before {
		t.Errorf("%d descriptors after Close, %d before Open", got, before)
	}
}
