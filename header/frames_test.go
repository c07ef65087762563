package header_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
)

// Addresses shared by the tests.
var (
	macA = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}

	ip4A = netip.MustParseAddr("10.0.0.1")
	ip4B = netip.MustParseAddr("192.168.77.2")
	ip6A = netip.MustParseAddr("fd00:1::1")
	ip6B = netip.MustParseAddr("2001:db8:dead:beef::42")
)

func hw(m header.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }
func nip(a netip.Addr) net.IP          { return net.IP(a.AsSlice()) }

// serialize builds a frame from gopacket layers with lengths and checksums
// filled in. A TCP, UDP or ICMPv6 layer takes its pseudo-header from the
// closest IP layer before it. Short frames are padded to 60 bytes by
// layers.Ethernet, as a NIC would.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			must(tb, l.SetNetworkLayerForChecksum(nl))
		case *layers.UDP:
			must(tb, l.SetNetworkLayerForChecksum(nl))
		case *layers.ICMPv6:
			must(tb, l.SetNetworkLayerForChecksum(nl))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	must(tb, gopacket.SerializeLayers(buf, opts, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: hw(macA), DstMAC: hw(macB), EthernetType: t}
}

func dot1q(pcp uint8, dei bool, vid uint16, t layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{Priority: pcp, DropEligible: dei, VLANIdentifier: vid, Type: t}
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, TOS: 0x10, Id: 0x1234, Flags: layers.IPv4DontFragment, TTL: 64,
		Protocol: proto, SrcIP: nip(ip4A), DstIP: nip(ip4B),
	}
}

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: next, HopLimit: 63,
		SrcIP: nip(ip6A), DstIP: nip(ip6B),
	}
}

// tcpOptions are the options of a Linux SYN: MSS, SACK permitted,
// timestamps, NOP, window scale (20 bytes).
func tcpOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
	}
}

// tsOptions are the options of an established Linux connection: NOP, NOP,
// timestamps (12 bytes).
func tsOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 1, 0, 2, 0, 3, 0, 4}},
	}
}

func payload(n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// ipv6FragHeader returns an RFC 8200 §4.5 fragment header (gopacket cannot
// serialize one). off is in bytes and must be a multiple of 8.
func ipv6FragHeader(next layers.IPProtocol, off uint16, more bool, id uint32) gopacket.Payload {
	b := make([]byte, 8)
	b[0] = byte(next)
	fo := off
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
	return b
}

// ipv6DestOpts returns an 8-byte destination options header holding one
// PadN option.
func ipv6DestOpts(next layers.IPProtocol) gopacket.Payload {
	return gopacket.Payload{byte(next), 0, 1, 4, 0, 0, 0, 0}
}

// Golden frames used by the allocation test, the benchmarks and the fuzz
// seed corpus.

func frameARP(tb testing.TB) []byte {
	e := eth(layers.EthernetTypeARP)
	e.DstMAC = layers.EthernetBroadcast
	return serialize(tb, e, &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: hw(macA), SourceProtAddress: nip(ip4A),
		DstHwAddress: make([]byte, 6), DstProtAddress: nip(ip4B),
	})
}

func frameTCP4(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, ACK: true, PSH: true,
			Window: 502, Options: tsOptions()},
		payload(512))
}

func frameTCP4SYN(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 999, SYN: true, Window: 64240,
			Options: tcpOptions()})
}

func frameUDP4Tagged(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeDot1Q), dot1q(5, false, 100, layers.EthernetTypeIPv4),
		ipv4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 5353, DstPort: 53}, payload(40))
}

func frameICMP4QinQ(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeQinQ), dot1q(0, false, 10, layers.EthernetTypeDot1Q),
		dot1q(3, true, 20, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x4242, Seq: 7},
		payload(56))
}

func frameICMP4Unreachable(tb testing.TB) []byte {
	inner := serialize(tb, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 5353, DstPort: 9}, payload(10))[header.EthernetLen:][:28]
	ip := ipv4(layers.IPProtocolICMPv4)
	ip.SrcIP, ip.DstIP = nip(ip4B), nip(ip4A)
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable,
			layers.ICMPv4CodePort)},
		gopacket.Payload(inner))
}

func frameUDP4Options(tb testing.TB) []byte {
	ip := ipv4(layers.IPProtocolUDP)
	ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip, &layers.UDP{SrcPort: 1000, DstPort: 2000}, payload(33))
}

func frameTCP6(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 50000, DstPort: 22, Seq: 0xfffffff0, Ack: 1, ACK: true, Window: 1000,
			Options: tsOptions()},
		payload(200))
}

func frameUDP6Ext(tb testing.TB) []byte {
	// gopacket v1.1.19 pads IPv6HopByHop wrongly, so the hop-by-hop header
	// (router alert, PadN) is written by hand.
	hbh := gopacket.Payload{byte(layers.IPProtocolIPv6Destination), 0, 5, 2, 0, 0, 1, 0}
	return serialize(tb, eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), hbh,
		ipv6DestOpts(layers.IPProtocolUDP), &layers.UDP{SrcPort: 546, DstPort: 547}, payload(25))
}

func frameUDP6Frag(tb testing.TB, off uint16, more bool) []byte {
	if off != 0 {
		return serialize(tb, eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment),
			ipv6FragHeader(layers.IPProtocolUDP, off, more, 0xdeadbeef), payload(64))
	}
	return serialize(tb, eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment),
		ipv6FragHeader(layers.IPProtocolUDP, off, more, 0xdeadbeef),
		&layers.UDP{SrcPort: 4000, DstPort: 4001}, payload(1440))
}

func frameUDP4Frag(tb testing.TB, off uint16, more bool) []byte {
	ip := ipv4(layers.IPProtocolUDP)
	ip.Flags = 0
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	ip.FragOffset = off / 8
	if off != 0 {
		return serialize(tb, eth(layers.EthernetTypeIPv4), ip, payload(100))
	}
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip, &layers.UDP{SrcPort: 4000, DstPort: 4001}, payload(1472))
}

func frameICMP6Echo(tb testing.TB) []byte {
	return serialize(tb, eth(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, payload(32))
}

// frameTSO4 returns a TCP/IPv4 TSO super-frame as a TAP delivers it: three
// 1448-byte segments' worth of payload behind one set of headers, the IP
// total length covering all of it and the TCP checksum field holding the
// folded, non-inverted pseudo-header sum (CHECKSUM_PARTIAL).
func frameTSO4(tb testing.TB) []byte {
	f := serialize(tb, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502,
			Options: tsOptions()},
		payload(3*1448))
	ip := header.IPv4(f[header.EthernetLen:])
	l4 := len(f) - header.EthernetLen - ip.HeaderLength()
	header.TCP(ip[ip.HeaderLength():]).SetChecksum(ip.PseudoHeaderChecksum(uint16(l4)))
	return f
}

// goldenFrames lists the frames of the fuzz seed corpus.
func goldenFrames(tb testing.TB) []struct {
	name  string
	frame []byte
} {
	return []struct {
		name  string
		frame []byte
	}{
		{"arp", frameARP(tb)},
		{"tcp4", frameTCP4(tb)},
		{"tcp4-syn", frameTCP4SYN(tb)},
		{"udp4-tagged", frameUDP4Tagged(tb)},
		{"icmp4-qinq", frameICMP4QinQ(tb)},
		{"icmp4-unreachable", frameICMP4Unreachable(tb)},
		{"udp4-options", frameUDP4Options(tb)},
		{"udp4-frag-first", frameUDP4Frag(tb, 0, true)},
		{"udp4-frag-last", frameUDP4Frag(tb, 1480, false)},
		{"tcp6", frameTCP6(tb)},
		{"udp6-ext", frameUDP6Ext(tb)},
		{"udp6-frag-first", frameUDP6Frag(tb, 0, true)},
		{"udp6-frag-last", frameUDP6Frag(tb, 1448, false)},
		{"icmp6-echo", frameICMP6Echo(tb)},
		{"tso4-superframe", frameTSO4(tb)},
	}
}
