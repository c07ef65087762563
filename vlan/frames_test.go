package vlan

import (
	"net/netip"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
)

// tag is one VLAN tag of a test frame.
type tag struct{ tpid, tci uint16 }

var (
	srcMAC = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	dstMAC = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}
	srcIP  = netip.MustParseAddr("172.17.0.2")
	dstIP  = netip.MustParseAddr("172.17.0.3")
)

// l2 returns the Ethernet header of the test frames, tagged with tags
// (outermost first).
func l2(tags []tag) testframe.Eth {
	e := testframe.Eth{Src: srcMAC, Dst: dstMAC}
	for _, tg := range tags {
		e.Tags = append(e.Tags, testframe.Tag{TPID: tg.tpid, TCI: tg.tci})
	}
	return e
}

// tcpFrame returns an Ethernet/IPv4/TCP frame with payload n bytes long,
// tagged with tags, with correct checksums.
func tcpFrame(t testing.TB, n int, tags ...tag) []byte {
	t.Helper()
	return testframe.IPv4{Eth: l2(tags),
		Src: netip.AddrPortFrom(srcIP, 40000), Dst: netip.AddrPortFrom(dstIP, 80), Proto: header.ProtoTCP, DF: true,
		TCP:     testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH, Seq: 1, Ack: 1, Window: 502},
		Payload: testframe.Payload(n)}.Frame(t)
}

// udp6Frame returns an Ethernet/IPv6/UDP frame tagged with tags.
func udp6Frame(t testing.TB, tags ...tag) []byte {
	t.Helper()
	return testframe.IPv6{Eth: l2(tags),
		Src: netip.MustParseAddrPort("[fd00::2]:5353"), Dst: netip.MustParseAddrPort("[fd00::3]:53"), Proto: header.ProtoUDP,
		Payload: []byte("vswitchd")}.Frame(t)
}

// arpFrame returns a broadcast ARP request tagged with tags.
func arpFrame(t testing.TB, tags ...tag) []byte {
	t.Helper()
	a := testframe.ARPRequest(srcMAC, srcIP, dstIP)
	a.Eth = l2(tags)
	a.Eth.Dst = header.Broadcast
	return a.Frame(t)
}

// decode returns the header.Parsed of frame, failing t on a Decode error.
func decode(t testing.TB, frame []byte) *header.Parsed {
	t.Helper()
	var pk header.Parsed
	if err := pk.Decode(frame); err != nil {
		t.Fatalf("Decode(%x) = %v", frame, err)
	}
	return &pk
}

// place copies frame and its virtio header into a port buffer the way a
// port reads it, at port.ReadOffset, and returns the buffer and the start.
func place(frame, vnet []byte) ([]byte, int) {
	buf := make([]byte, port.ReadOffset+len(frame))
	copy(buf[port.ReadOffset-header.VirtioNetLen:port.ReadOffset], vnet)
	copy(buf[port.ReadOffset:], frame)
	return buf, port.ReadOffset
}
