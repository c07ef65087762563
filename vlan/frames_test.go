package vlan

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// tag is one VLAN tag of a test frame.
type tag struct{ tpid, tci uint16 }

var (
	srcMAC = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	dstMAC = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}
	srcIP  = net.IPv4(172, 17, 0, 2)
	dstIP  = net.IPv4(172, 17, 0, 3)
)

// serialize builds a frame from ls with lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	b := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(b, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return b.Bytes()
}

// l2 returns the Ethernet layer and Dot1Q layers for tags (outermost
// first) in front of a payload of EtherType inner.
func l2(inner layers.EthernetType, tags ...tag) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: inner}
	ls := []gopacket.SerializableLayer{eth}
	for i, tg := range tags {
		if i == 0 {
			eth.EthernetType = layers.EthernetType(tg.tpid)
		}
		next := inner
		if i+1 < len(tags) {
			next = layers.EthernetType(tags[i+1].tpid)
		}
		ls = append(ls, &layers.Dot1Q{
			Priority:       uint8(tg.tci >> 13),
			DropEligible:   tg.tci&0x1000 != 0,
			VLANIdentifier: tg.tci & 0x0fff,
			Type:           next,
		})
	}
	return ls
}

// tcpFrame returns an Ethernet/IPv4/TCP frame with payload n bytes long,
// tagged with tags, with correct checksums.
func tcpFrame(t testing.TB, n int, tags ...tag) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: srcIP, DstIP: dstIP, Flags: layers.IPv4DontFragment}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	ls := append(l2(layers.EthernetTypeIPv4, tags...), ip, tcp, gopacket.Payload(payload))
	return serialize(t, ls...)
}

// udp6Frame returns an Ethernet/IPv6/UDP frame tagged with tags.
func udp6Frame(t testing.TB, tags ...tag) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("fd00::2"), DstIP: net.ParseIP("fd00::3")}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls := append(l2(layers.EthernetTypeIPv6, tags...), ip, udp, gopacket.Payload("vswitchd"))
	return serialize(t, ls...)
}

// arpFrame returns a broadcast ARP request tagged with tags.
func arpFrame(t testing.TB, tags ...tag) []byte {
	t.Helper()
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: srcMAC, SourceProtAddress: srcIP.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: dstIP.To4()}
	ls := l2(layers.EthernetTypeARP, tags...)
	ls[0].(*layers.Ethernet).DstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	return serialize(t, append(ls, arp)...)
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
