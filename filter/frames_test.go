package filter_test

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Addresses the test frames use. The MACs are what vswitchd derives from
// an endpoint's address (02:42 + IPv4).
var (
	macA     = net.HardwareAddr{0x02, 0x42, 0x0a, 0x00, 0x00, 0x01}
	macB     = net.HardwareAddr{0x02, 0x42, 0x0a, 0x00, 0x00, 0x02}
	macBcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macMDNS4 = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	macMDNS6 = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0xfb}
	macLLDP  = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}
	macSTP   = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}

	ipA    = net.IPv4(10, 0, 0, 1).To4()
	ipB    = net.IPv4(10, 0, 0, 2).To4()
	ipDNS  = net.IPv4(8, 8, 8, 8).To4()
	ipC    = net.IPv4(192, 168, 1, 10).To4()
	ipMDNS = net.IPv4(224, 0, 0, 251).To4()
	ipZero = net.IPv4(0, 0, 0, 0).To4()
	ipAll  = net.IPv4(255, 255, 255, 255).To4()

	ip6A    = net.ParseIP("2001:db8::1")
	ip6B    = net.ParseIP("2001:db8::2")
	ip6LL   = net.ParseIP("fe80::1")
	ip6MDNS = net.ParseIP("ff02::fb")
	ip6SNM  = net.ParseIP("ff02::1:ff00:2")
)

// frame is one test frame.
type frame struct {
	name string
	data []byte
}

// serialize builds a frame from gopacket layers with lengths and checksums
// filled in; layers.Ethernet pads it to 60 bytes as a NIC would.
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

func eth(src, dst net.HardwareAddr, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
}

func dot1q(vid uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: vid, Type: next}
}

func ipv4(src, dst net.IP, p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: p, SrcIP: src, DstIP: dst}
}

func ipv6(src, dst net.IP, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src, DstIP: dst}
}

func tcp(sport, dport layers.TCPPort, flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 1000, Window: 65535, DataOffset: 5}
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'R':
			t.RST = true
		case 'F':
			t.FIN = true
		case 'P':
			t.PSH = true
		}
	}
	if t.ACK {
		t.Ack = 2000
	}
	return t
}

func udp(sport, dport layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: sport, DstPort: dport} }

func arp(op uint16, sha net.HardwareAddr, spa net.IP, tha net.HardwareAddr, tpa net.IP) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: sha, SourceProtAddress: spa, DstHwAddress: tha, DstProtAddress: tpa}
}

// dnsQuery is the payload of a DNS query for example.com A.
var dnsQuery = gopacket.Payload{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01}

// corpus returns the frames every differential test runs: one of each
// kind a switch carries, tagged and not, and short ones that make some
// loads fall off the end.
func corpus(tb testing.TB) []frame {
	tb.Helper()
	syn := serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "S"))
	tcp6 := serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ipv6(ip6A, ip6B, layers.IPProtocolTCP), tcp(40000, 443, "S"))
	tagged := serialize(tb, eth(macA, macB, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4),
		ipv4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "S"))

	// A first fragment of a UDP datagram to port 53, and a later one whose
	// payload happens to hold port 80 where a transport header would be.
	first := ipv4(ipA, ipDNS, layers.IPProtocolUDP)
	first.Flags = layers.IPv4MoreFragments
	later := ipv4(ipA, ipDNS, layers.IPProtocolUDP)
	later.FragOffset = 185
	middle := ipv4(ipA, ipB, layers.IPProtocolTCP)
	middle.Flags = layers.IPv4MoreFragments
	middle.FragOffset = 100
	withOpts := ipv4(ipA, ipB, layers.IPProtocolTCP)
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}

	get := tcp(40001, 80, "PA")
	big := make([]byte, 65000) // a TSO super-frame's payload
	for i := range big {
		big[i] = byte(i)
	}

	// IPv6 extension headers built by hand: a fragment header before TCP,
	// a hop-by-hop header before UDP.
	tcpHdr := serialize(tb, ipv6(ip6A, ip6B, layers.IPProtocolTCP), tcp(40000, 80, "S"))[40:]
	frag6 := append([]byte{byte(layers.IPProtocolTCP), 0, 0, 1, 0, 0, 0, 7}, tcpHdr...)
	udpHdr := []byte{0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00}
	hbh6 := append([]byte{byte(layers.IPProtocolUDP), 0, 1, 4, 0, 0, 0, 0}, udpHdr...)

	llc := func(sap byte) []byte {
		b := make([]byte, 60)
		copy(b, macSTP)
		copy(b[6:], macA)
		binary.BigEndian.PutUint16(b[12:], 38)
		b[14], b[15], b[16] = sap, sap, 0x03
		return b
	}

	fs := []frame{
		{"arp request", serialize(tb, eth(macA, macBcast, layers.EthernetTypeARP),
			arp(layers.ARPRequest, macA, ipA, make(net.HardwareAddr, 6), ipB))},
		{"arp reply", serialize(tb, eth(macB, macA, layers.EthernetTypeARP), arp(layers.ARPReply, macB, ipB, macA, ipA))},
		{"rarp request", serialize(tb, eth(macA, macBcast, layers.EthernetType(0x8035)),
			arp(3, macA, ipZero, macA, ipZero))},
		{"icmp echo request", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))},
		{"icmp echo reply", serialize(tb, eth(macB, macA, layers.EthernetTypeIPv4), ipv4(ipB, ipA, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))},
		{"icmp port unreachable", serialize(tb, eth(macB, macA, layers.EthernetTypeIPv4), ipv4(ipB, ipA, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(make([]byte, 28)))},
		{"tcp syn", syn},
		{"tcp syn-ack", serialize(tb, eth(macB, macA, layers.EthernetTypeIPv4), ipv4(ipB, ipA, layers.IPProtocolTCP), tcp(80, 40000, "SA"))},
		{"tcp http get", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolTCP), get,
			gopacket.Payload("GET / HTTP/1.1\r\nHost: b\r\n\r\n"))},
		{"tcp rst", serialize(tb, eth(macB, macA, layers.EthernetTypeIPv4), ipv4(ipB, ipA, layers.IPProtocolTCP), tcp(443, 40002, "R"))},
		{"tcp fin-ack 443", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolTCP), tcp(40002, 443, "FA"))},
		{"tcp ssh with ip options", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), withOpts, tcp(40003, 22, "PA"), gopacket.Payload("SSH-2.0"))},
		{"udp dns query", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipDNS, layers.IPProtocolUDP), udp(40000, 53), dnsQuery)},
		{"udp dns response", serialize(tb, eth(macB, macA, layers.EthernetTypeIPv4), ipv4(ipDNS, ipA, layers.IPProtocolUDP), udp(53, 40000), dnsQuery)},
		{"udp dhcp discover", serialize(tb, eth(macA, macBcast, layers.EthernetTypeIPv4), ipv4(ipZero, ipAll, layers.IPProtocolUDP), udp(68, 67),
			gopacket.Payload(make([]byte, 240)))},
		{"udp mdns ipv4", serialize(tb, eth(macA, macMDNS4, layers.EthernetTypeIPv4), ipv4(ipA, ipMDNS, layers.IPProtocolUDP), udp(5353, 5353), dnsQuery)},
		{"udp to 192.168.1.10", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipC, layers.IPProtocolUDP), udp(5000, 6000), dnsQuery)},
		{"ipv4 first fragment", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), first, udp(40000, 53), gopacket.Payload(make([]byte, 1472)))},
		{"ipv4 later fragment", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), later,
			gopacket.Payload(append([]byte{0x00, 0x50, 0x00, 0x50, 0x00, 0x10}, make([]byte, 100)...)))},
		{"ipv4 middle fragment tcp", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), middle,
			gopacket.Payload(append([]byte{0x00, 0x50, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12}, make([]byte, 50)...)))},
		{"igmp", serialize(tb, eth(macA, macMDNS4, layers.EthernetTypeIPv4), ipv4(ipA, ipMDNS, layers.IPProtocolIGMP),
			gopacket.Payload{0x16, 0, 0xfa, 0x04, 224, 0, 0, 251})},
		{"sctp to 80", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolSCTP),
			&layers.SCTP{SrcPort: 5000, DstPort: 80, VerificationTag: 1})},
		{"gre", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipC, layers.IPProtocolGRE), gopacket.Payload{0, 0, 0x08, 0x00, 0x45})},
		{"esp", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipC, layers.IPProtocolESP), gopacket.Payload(make([]byte, 32)))},
		{"vlan 100 tcp syn", tagged},
		{"vlan 200 udp dns", serialize(tb, eth(macA, macB, layers.EthernetTypeDot1Q), dot1q(200, layers.EthernetTypeIPv4),
			ipv4(ipA, ipDNS, layers.IPProtocolUDP), udp(40000, 53), dnsQuery)},
		{"vlan 100 arp", serialize(tb, eth(macA, macBcast, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeARP),
			arp(layers.ARPRequest, macA, ipA, make(net.HardwareAddr, 6), ipB))},
		{"qinq 88a8 10 / 200 tcp", serialize(tb, eth(macA, macB, layers.EthernetTypeQinQ), dot1q(10, layers.EthernetTypeDot1Q),
			dot1q(200, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolTCP), tcp(40000, 80, "S"))},
		{"double 8100 100 / 200 icmp", serialize(tb, eth(macA, macB, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeDot1Q),
			dot1q(200, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 9, Seq: 2})},
		{"9100 300 udp", serialize(tb, eth(macA, macB, layers.EthernetType(0x9100)), dot1q(300, layers.EthernetTypeIPv4),
			ipv4(ipA, ipB, layers.IPProtocolUDP), udp(5353, 53), dnsQuery)},
		{"vlan 100 ipv6 tcp", serialize(tb, eth(macA, macB, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv6),
			ipv6(ip6A, ip6B, layers.IPProtocolTCP), tcp(40000, 80, "S"))},
		{"ipv6 tcp syn 443", tcp6},
		{"ipv6 udp mdns", serialize(tb, eth(macA, macMDNS6, layers.EthernetTypeIPv6), ipv6(ip6LL, ip6MDNS, layers.IPProtocolUDP), udp(5353, 5353), dnsQuery)},
		{"ipv6 icmp echo", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ipv6(ip6A, ip6B, layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload{0, 1, 0, 1})},
		{"ipv6 neighbor solicit", serialize(tb, eth(macA, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}, layers.EthernetTypeIPv6),
			ipv6(ip6A, ip6SNM, layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)},
			gopacket.Payload(append(make([]byte, 4), ip6B...)))},
		{"ipv6 fragment header tcp", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ipv6(ip6A, ip6B, layers.IPProtocolIPv6Fragment),
			gopacket.Payload(frag6))},
		{"ipv6 hop-by-hop udp 53", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ipv6(ip6A, ip6B, layers.IPProtocolIPv6HopByHop),
			gopacket.Payload(hbh6))},
		{"lldp", serialize(tb, eth(macA, macLLDP, layers.EthernetTypeLinkLayerDiscovery), gopacket.Payload(make([]byte, 46)))},
		{"broadcast non-ip", serialize(tb, eth(macA, macBcast, layers.EthernetType(0x88b5)), gopacket.Payload("local experimental"))},
		{"802.3 llc stp", llc(0x42)},
		{"802.3 llc sap 06", llc(0x06)},
		{"tso super-frame tcp 80", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolTCP),
			tcp(40004, 80, "A"), gopacket.Payload(big))},
		{"ipv6 tso super-frame", serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ipv6(ip6A, ip6B, layers.IPProtocolTCP),
			tcp(40005, 443, "A"), gopacket.Payload(big[:60000]))},
	}
	// Short frames: every load past the end must drop the frame.
	fs = append(fs,
		frame{"empty", []byte{}},
		frame{"10 bytes", syn[:10]},
		frame{"13 bytes", syn[:13]},
		frame{"ethernet header only", syn[:14]},
		frame{"ipv4 cut at 20", syn[:20]},
		frame{"ipv4 cut at 24", syn[:24]},
		frame{"ipv4 header only", syn[:34]},
		frame{"tcp cut in ports", syn[:36]},
		frame{"ipv6 cut at 30", tcp6[:30]},
		frame{"ipv6 header only", tcp6[:54]},
		frame{"vlan tag cut", tagged[:16]},
		frame{"vlan ipv4 cut at 30", tagged[:30]},
	)
	return fs
}
