package header_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// decodeLayer decodes b as the given gopacket layer alone.
func decodeLayer(t *testing.T, l gopacket.DecodingLayer, b []byte) {
	t.Helper()
	if err := l.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("gopacket %T.DecodeFromBytes(%x): %v", l, b, err)
	}
}

func TestEthernetEncode(t *testing.T) {
	f := header.EthernetFields{Dst: header.Broadcast, Src: macA, Type: header.EtherTypeIPv6}
	b := make(header.Ethernet, header.EthernetLen)
	if b[:13].IsValid() || !b.IsValid() {
		t.Fatalf("IsValid wrong for 13/14 bytes")
	}
	b.Encode(&f)

	var g layers.Ethernet
	decodeLayer(t, &g, append(b, 0, 0))
	if !bytes.Equal(g.DstMAC, net.HardwareAddr(f.Dst[:])) || !bytes.Equal(g.SrcMAC, testframe.HW(f.Src)) ||
		g.EthernetType != layers.EthernetTypeIPv6 {
		t.Errorf("gopacket decoded %v %v %v, want %v", g.DstMAC, g.SrcMAC, g.EthernetType, f)
	}
	got := header.EthernetFields{Dst: b.Dst(), Src: b.Src(), Type: b.Type()}
	if got != f {
		t.Errorf("getters = %+v, want %+v", got, f)
	}
	b.SetDst(macB)
	b.SetSrc(macA)
	b.SetType(header.EtherTypeARP)
	if b.Dst() != macB || b.Src() != macA || b.Type() != header.EtherTypeARP {
		t.Errorf("setters did not round-trip: % x", b)
	}
}

func TestVLANEncode(t *testing.T) {
	for _, f := range []header.VLANFields{
		{PCP: 0, VID: 1, Type: header.EtherTypeIPv4},
		{PCP: 7, DEI: true, VID: header.MaxVID, Type: header.EtherTypeVLAN},
		{PCP: 3, VID: 0, Type: header.EtherTypeARP},
	} {
		b := make(header.VLAN, header.VLANLen)
		b.Encode(&f)
		var g layers.Dot1Q
		decodeLayer(t, &g, b)
		want := layers.Dot1Q{Priority: f.PCP, DropEligible: f.DEI, VLANIdentifier: f.VID, Type: layers.EthernetType(f.Type)}
		if g.Priority != want.Priority || g.DropEligible != want.DropEligible ||
			g.VLANIdentifier != want.VLANIdentifier || g.Type != want.Type {
			t.Errorf("Encode(%+v): gopacket decoded %+v", f, g)
		}
		got := header.VLANFields{PCP: b.PCP(), DEI: b.DEI(), VID: b.VID(), Type: b.Type()}
		if got != f {
			t.Errorf("Encode(%+v): getters = %+v", f, got)
		}
		if tci := header.MakeTCI(f.PCP, f.DEI, f.VID); b.TCI() != tci {
			t.Errorf("TCI() = %#04x, want %#04x", b.TCI(), tci)
		}
		b.SetVID(42)
		if b.VID() != 42 || b.PCP() != f.PCP || b.DEI() != f.DEI {
			t.Errorf("SetVID(42) changed PCP/DEI: % x", b)
		}
		b.SetType(header.EtherTypeIPv6)
		if b.Type() != header.EtherTypeIPv6 {
			t.Errorf("SetType did not round-trip")
		}
	}
	if header.MakeTCI(9, false, 0x1fff) != 1<<13|0x0fff {
		t.Errorf("MakeTCI does not mask out-of-range PCP and VID")
	}
	for _, tpid := range []uint16{0x8100, 0x88a8, 0x9100} {
		if !header.IsTPID(tpid) {
			t.Errorf("IsTPID(%#04x) = false", tpid)
		}
	}
	if header.IsTPID(header.EtherTypeIPv4) {
		t.Errorf("IsTPID(0x0800) = true")
	}
}

func TestARPEncode(t *testing.T) {
	f := header.ARPFields{Op: header.ARPReply, SenderMAC: macA, TargetMAC: macB, SenderIP: ip4A, TargetIP: ip4B}
	b := make(header.ARP, header.ARPLen)
	b.Encode(&f)
	if !b.IsValid() {
		t.Fatalf("IsValid() = false for % x", b)
	}
	var g layers.ARP
	decodeLayer(t, &g, b)
	if g.AddrType != layers.LinkTypeEthernet || g.Protocol != layers.EthernetTypeIPv4 || g.Operation != header.ARPReply ||
		!bytes.Equal(g.SourceHwAddress, testframe.HW(macA)) || !bytes.Equal(g.DstHwAddress, testframe.HW(macB)) ||
		!bytes.Equal(g.SourceProtAddress, nip(ip4A)) || !bytes.Equal(g.DstProtAddress, nip(ip4B)) {
		t.Errorf("gopacket decoded %+v", g)
	}
	got := header.ARPFields{Op: b.Op(), SenderMAC: b.SenderMAC(), TargetMAC: b.TargetMAC(),
		SenderIP: b.SenderIP(), TargetIP: b.TargetIP()}
	if got != f {
		t.Errorf("getters = %+v, want %+v", got, f)
	}
	// A non-IPv4 address is written as 0.0.0.0.
	f.TargetIP = ip6A
	b.Encode(&f)
	if b.TargetIP() != netip.IPv4Unspecified() {
		t.Errorf("TargetIP() after IPv6 Encode = %v, want 0.0.0.0", b.TargetIP())
	}
	if b[:header.ARPLen-1].IsValid() {
		t.Errorf("IsValid() = true for 27 bytes")
	}
}

func TestIPv4Encode(t *testing.T) {
	f := header.IPv4Fields{TOS: 0xb8, TotalLength: 20 + 8, ID: 0xbeef, Flags: header.IPv4FlagMF,
		FragOffset: 0x1fff, TTL: 1, Protocol: header.ProtoUDP, Src: ip4A, Dst: ip4B}
	b := make(header.IPv4, 28)
	b.Encode(&f)
	if !b.IsValid() || !b.IsChecksumValid() {
		t.Fatalf("Encode(%+v) = % x: IsValid %v, IsChecksumValid %v", f, b, b.IsValid(), b.IsChecksumValid())
	}
	var g layers.IPv4
	decodeLayer(t, &g, b)
	want := layers.IPv4{Version: 4, IHL: 5, TOS: 0xb8, Length: 28, Id: 0xbeef, Flags: layers.IPv4MoreFragments,
		FragOffset: 0x1fff, TTL: 1, Protocol: layers.IPProtocolUDP, Checksum: b.Checksum()}
	if g.Version != want.Version || g.IHL != want.IHL || g.TOS != want.TOS || g.Length != want.Length ||
		g.Id != want.Id || g.Flags != want.Flags || g.FragOffset != want.FragOffset || g.TTL != want.TTL ||
		g.Protocol != want.Protocol || !g.SrcIP.Equal(nip(ip4A)) || !g.DstIP.Equal(nip(ip4B)) {
		t.Errorf("gopacket decoded %+v, want %+v", g, want)
	}
	got := header.IPv4Fields{TOS: b.TOS(), TotalLength: b.TotalLength(), ID: b.ID(), Flags: b.Flags(),
		FragOffset: b.FragmentOffset() / 8, TTL: b.TTL(), Protocol: b.Protocol(), Src: b.Src(), Dst: b.Dst()}
	if got != f {
		t.Errorf("getters = %+v, want %+v", got, f)
	}
	if !b.More() || b.HeaderLength() != 20 || len(b.Payload()) != 8 {
		t.Errorf("More %v HeaderLength %d len(Payload) %d", b.More(), b.HeaderLength(), len(b.Payload()))
	}
	b.SetTotalLength(24)
	b.SetID(7)
	b.SetSrc(ip4B)
	b.SetDst(ip4A)
	if b.TotalLength() != 24 || b.ID() != 7 || b.Src() != ip4B || b.Dst() != ip4A {
		t.Errorf("setters did not round-trip: % x", b)
	}
	// gopacket's serializer agrees byte for byte.
	f = header.IPv4Fields{TotalLength: 20, ID: 1, Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.ProtoTCP,
		Src: ip4A, Dst: ip4B}
	b = make(header.IPv4, 20)
	b.Encode(&f)
	ip := ip4(header.ProtoTCP, 0, 0)
	ip.TOS, ip.ID, ip.NoL4 = 0, 1, true
	want2 := ip.Packet(t)
	if !bytes.Equal(b, want2) {
		t.Errorf("Encode(%+v) = % x, gopacket % x", f, []byte(b), want2)
	}
}

func TestIPv6Encode(t *testing.T) {
	f := header.IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0xfedcb, PayloadLength: 8, NextHeader: header.ProtoUDP,
		HopLimit: 255, Src: ip6A, Dst: ip6B}
	b := make(header.IPv6, header.IPv6Len+8)
	b.Encode(&f)
	if !b.IsValid() {
		t.Fatalf("IsValid() = false for % x", b)
	}
	var g layers.IPv6
	decodeLayer(t, &g, b)
	if g.Version != 6 || g.TrafficClass != 0xb8 || g.FlowLabel != 0xfedcb || g.Length != 8 ||
		g.NextHeader != layers.IPProtocolUDP || g.HopLimit != 255 || !g.SrcIP.Equal(nip(ip6A)) || !g.DstIP.Equal(nip(ip6B)) {
		t.Errorf("gopacket decoded %+v", g)
	}
	if b.PayloadLength() != 8 || b.NextHeader() != header.ProtoUDP || b.HopLimit() != 255 ||
		b.Src() != ip6A || b.Dst() != ip6B {
		t.Errorf("getters disagree with %+v", f)
	}
	b.SetHopLimit(1)
	b.SetPayloadLength(9)
	if b.HopLimit() != 1 || b.PayloadLength() != 9 || b.IsValid() {
		t.Errorf("setters did not round-trip, or IsValid accepts a payload past the end")
	}
	want := ip6(59, 0, 0).Packet(t) // no next header
	b = make(header.IPv6, header.IPv6Len)
	b.Encode(&header.IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: 59, HopLimit: 63, Src: ip6A, Dst: ip6B})
	if !bytes.Equal(b, want) {
		t.Errorf("Encode = % x, gopacket % x", []byte(b), want)
	}
}

func TestTCPEncode(t *testing.T) {
	f := header.TCPFields{SrcPort: 1, DstPort: 65535, Seq: 0xdeadbeef, Ack: 0x01020304,
		Flags:  header.TCPFlagSYN | header.TCPFlagACK | header.TCPFlagECE | header.TCPFlagCWR,
		Window: 0xffff, Checksum: 0x1234, Urgent: 0x5678}
	b := make(header.TCP, header.TCPMinLen)
	b.Encode(&f)
	if !b.IsValid() {
		t.Fatalf("IsValid() = false for % x", b)
	}
	var g layers.TCP
	decodeLayer(t, &g, b)
	if g.SrcPort != 1 || g.DstPort != 65535 || g.Seq != f.Seq || g.Ack != f.Ack || g.DataOffset != 5 ||
		!g.SYN || !g.ACK || !g.ECE || !g.CWR || g.FIN || g.PSH || g.RST || g.URG || g.NS ||
		g.Window != 0xffff || g.Checksum != 0x1234 || g.Urgent != 0x5678 {
		t.Errorf("gopacket decoded %+v", g)
	}
	got := header.TCPFields{SrcPort: b.SrcPort(), DstPort: b.DstPort(), Seq: b.Seq(), Ack: b.Ack(),
		Flags: b.Flags(), Window: b.Window(), Checksum: b.Checksum(), Urgent: f.Urgent}
	if got != f || b.DataOffset() != 20 {
		t.Errorf("getters = %+v (data offset %d), want %+v", got, b.DataOffset(), f)
	}
	b.SetSrcPort(80)
	b.SetDstPort(8080)
	b.SetSeq(9)
	b.SetFlags(header.TCPFlagFIN)
	b.SetChecksum(0)
	if b.SrcPort() != 80 || b.DstPort() != 8080 || b.Seq() != 9 || b.Flags() != header.TCPFlagFIN || b.Checksum() != 0 {
		t.Errorf("setters did not round-trip: % x", b)
	}
}

func TestUDPEncode(t *testing.T) {
	f := header.UDPFields{SrcPort: 68, DstPort: 67, Length: 8, Checksum: 0xffff}
	b := make(header.UDP, header.UDPLen)
	b.Encode(&f)
	if !b.IsValid() {
		t.Fatalf("IsValid() = false for % x", b)
	}
	var g layers.UDP
	decodeLayer(t, &g, b)
	if g.SrcPort != 68 || g.DstPort != 67 || g.Length != 8 || g.Checksum != 0xffff {
		t.Errorf("gopacket decoded %+v", g)
	}
	got := header.UDPFields{SrcPort: b.SrcPort(), DstPort: b.DstPort(), Length: b.Length(), Checksum: b.Checksum()}
	if got != f {
		t.Errorf("getters = %+v, want %+v", got, f)
	}
	b.SetLength(9)
	if b.IsValid() {
		t.Errorf("IsValid() = true with a length past the end")
	}
	b.SetSrcPort(1)
	b.SetDstPort(2)
	b.SetChecksum(3)
	if b.SrcPort() != 1 || b.DstPort() != 2 || b.Checksum() != 3 || b.Length() != 9 {
		t.Errorf("setters did not round-trip: % x", b)
	}
}

func TestICMPv4Encode(t *testing.T) {
	f := header.ICMPv4Fields{Type: header.ICMPv4Echo, Checksum: 0xabcd, Rest: 0x4242<<16 | 7}
	b := make(header.ICMPv4, header.ICMPv4MinLen)
	b.Encode(&f)
	var g layers.ICMPv4
	decodeLayer(t, &g, b)
	if g.TypeCode != layers.CreateICMPv4TypeCode(8, 0) || g.Checksum != 0xabcd || g.Id != 0x4242 || g.Seq != 7 {
		t.Errorf("gopacket decoded %+v", g)
	}
	got := header.ICMPv4Fields{Type: b.Type(), Code: b.Code(), Checksum: b.Checksum(),
		Rest: uint32(b.Ident())<<16 | uint32(b.Seq())}
	if got != f || b.IsError() {
		t.Errorf("getters = %+v (IsError %v), want %+v", got, b.IsError(), f)
	}
	b.SetType(header.ICMPv4EchoReply)
	b.SetIdent(1)
	b.SetChecksum(2)
	if b.Type() != header.ICMPv4EchoReply || b.Ident() != 1 || b.Checksum() != 2 {
		t.Errorf("setters did not round-trip: % x", b)
	}
	for typ, isErr := range map[uint8]bool{0: false, 3: true, 4: true, 5: true, 8: false, 11: true, 12: true, 13: false} {
		b.SetType(typ)
		if b.IsError() != isErr {
			t.Errorf("type %d: IsError() = %v, want %v", typ, !isErr, isErr)
		}
	}
	if b[:7].IsValid() {
		t.Errorf("IsValid() = true for 7 bytes")
	}
}

func TestVirtioNetEncode(t *testing.T) {
	f := header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, GSOType: header.VirtioNetGSOTCPv4 | header.VirtioNetGSOECN,
		HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	b := make(header.VirtioNet, header.VirtioNetLen)
	b.Encode(&f)
	// struct virtio_net_hdr, little-endian (linux/virtio_net.h).
	want := []byte{0x01, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0}
	if !bytes.Equal(b, want) {
		t.Errorf("Encode(%+v) = % x, want % x", f, []byte(b), want)
	}
	got := header.VirtioNetFields{Flags: b.Flags(), GSOType: b.GSOType(), HdrLen: b.HdrLen(), GSOSize: b.GSOSize(),
		CsumStart: b.CsumStart(), CsumOffset: b.CsumOffset()}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("getters mismatch (-want +got):\n%s", diff)
	}
	if !b.IsValid() || b[:9].IsValid() || !b.NeedsCsum() || !b.IsGSO() {
		t.Errorf("IsValid/NeedsCsum/IsGSO wrong for % x", []byte(b))
	}
	b.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagDataValid, GSOType: header.VirtioNetGSOECN})
	if b.NeedsCsum() || b.IsGSO() {
		t.Errorf("NeedsCsum %v IsGSO %v for DATA_VALID with only the ECN bit", b.NeedsCsum(), b.IsGSO())
	}
	b.SetFlags(header.VirtioNetFlagNeedsCsum)
	b.SetHdrLen(54)
	b.SetCsumStart(34)
	if b.Flags() != 1 || b.HdrLen() != 54 || b.CsumStart() != 34 {
		t.Errorf("setters did not round-trip: % x", []byte(b))
	}
	b.Clear()
	if !bytes.Equal(b, make([]byte, header.VirtioNetLen)) {
		t.Errorf("Clear left % x", []byte(b))
	}
}

func TestVirtioNetShift(t *testing.T) {
	tests := []struct {
		name  string
		in    header.VirtioNetFields
		delta int
		want  header.VirtioNetFields
	}{
		{
			name:  "push tag on tso frame",
			in:    header.VirtioNetFields{Flags: 1, GSOType: 1, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
			delta: header.VLANTagLen,
			want:  header.VirtioNetFields{Flags: 1, GSOType: 1, HdrLen: 70, GSOSize: 1448, CsumStart: 38, CsumOffset: 16},
		},
		{
			name:  "pop tag on partial udp frame",
			in:    header.VirtioNetFields{Flags: 1, CsumStart: 38, CsumOffset: 6},
			delta: -header.VLANTagLen,
			want:  header.VirtioNetFields{Flags: 1, CsumStart: 34, CsumOffset: 6},
		},
		{
			name:  "no offload stays zero",
			in:    header.VirtioNetFields{},
			delta: header.VLANTagLen,
			want:  header.VirtioNetFields{},
		},
		{
			name:  "data valid keeps zero offsets",
			in:    header.VirtioNetFields{Flags: header.VirtioNetFlagDataValid},
			delta: 8,
			want:  header.VirtioNetFields{Flags: header.VirtioNetFlagDataValid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make(header.VirtioNet, header.VirtioNetLen)
			b.Encode(&tt.in)
			b.Shift(tt.delta)
			want := make(header.VirtioNet, header.VirtioNetLen)
			want.Encode(&tt.want)
			if !bytes.Equal(b, want) {
				t.Errorf("Shift(%d) of %+v = % x, want % x", tt.delta, tt.in, []byte(b), []byte(want))
			}
		})
	}
}
