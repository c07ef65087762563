package vxlan

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
)

var (
	macA = header.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB = header.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
	macC = header.MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0c}

	ipA = netip.MustParseAddr("10.50.0.1")
	ipB = netip.MustParseAddr("10.50.0.2")
)

// lo returns loopback address 127.0.0.x (every 127/8 address is local).
func lo(x byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, x}) }

func hw(m header.MAC) net.HardwareAddr { return m[:] }

func nip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// udpFrame is an untagged IPv4/UDP frame.
func udpFrame(tb testing.TB, dst, src header.MAC, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	eth := &layers.Ethernet{DstMAC: hw(dst), SrcMAC: hw(src), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: nip(sip), DstIP: nip(dip), Flags: layers.IPv4DontFragment}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, eth, ip, udp, gopacket.Payload(payload))
}

// arpRequest is a broadcast ARP request from (mac, sip) for tip.
func arpRequest(tb testing.TB, mac header.MAC, sip, tip netip.Addr) []byte {
	eth := &layers.Ethernet{DstMAC: hw(header.Broadcast), SrcMAC: hw(mac), EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: hw(mac), SourceProtAddress: nip(sip),
		DstHwAddress: make([]byte, 6), DstProtAddress: nip(tip)}
	return serialize(tb, eth, arp)
}

// tagged returns frame with an 802.1Q tag of vid inserted after the MACs.
func tagged(frame []byte, vid uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, header.EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, frame[12:]...)
}
