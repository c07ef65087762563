package testframe_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/internal/testframe"
)

var (
	macA = [6]byte{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = [6]byte{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}
	ip4A = netip.MustParseAddrPort("10.0.0.1:40000")
	ip4B = netip.MustParseAddrPort("192.168.77.2:443")
	ip6A = netip.MustParseAddrPort("[fd00:1::1]:546")
	ip6B = netip.MustParseAddrPort("[2001:db8::42]:547")
)

// decode decodes frame with gopacket, failing t on an error.
func decode(t *testing.T, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode %x: %v", frame, el.Error())
	}
	return p
}

// fold is the RFC 1071 sum of b and s, folded.
func fold(b []byte, s uint32) uint16 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// l4Valid reports whether the L4 checksum of the complete datagram in
// frame verifies.
func l4Valid(t *testing.T, frame []byte) bool {
	l := testframe.Locate(t, frame)
	var s uint32
	if l.V6 {
		s = uint32(fold(frame[l.L3+8:l.L3+40], 0))
	} else {
		s = uint32(fold(frame[l.L3+12:l.L3+20], 0))
	}
	if l.Proto == 1 { // ICMPv4 has no pseudo-header
		s = 0
	} else {
		s += uint32(l.Proto) + uint32(l.End-l.L4)
	}
	return fold(frame[l.L4:l.End], s) == 0xffff
}

func TestIPv4(t *testing.T) {
	p := testframe.IPv4{
		Eth: testframe.Eth{Src: macA, Dst: macB, Tags: []testframe.Tag{testframe.STag(0, false, 10), testframe.CTag(3, true, 20)}},
		Src: ip4A, Dst: ip4B, Proto: 6, TOS: 0x10, ID: 0x1234, DF: true, TTL: 63, Options: []byte{148, 4, 0, 0},
		TCP:     testframe.TCP{Flags: 0x18, Seq: 1000, Ack: 2000, Window: 502, Options: testframe.TSOptions()},
		Payload: testframe.Payload(100),
	}
	f := p.Frame(t)
	pk := decode(t, f)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, macA[:]) || !bytes.Equal(eth.DstMAC, macB[:]) || eth.EthernetType != layers.EthernetTypeQinQ {
		t.Errorf("Ethernet %v → %v type %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
	}
	if got, want := f[12:22], []byte{0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x70, 0x14, 0x08, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("tags % x, want % x", got, want)
	}
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip.TOS != 0x10 || ip.Id != 0x1234 || ip.Flags != layers.IPv4DontFragment || ip.TTL != 63 || ip.IHL != 6 ||
		ip.Protocol != layers.IPProtocolTCP || ip.SrcIP.String() != "10.0.0.1" || ip.DstIP.String() != "192.168.77.2" {
		t.Errorf("gopacket decoded IPv4 %+v", ip)
	}
	tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp.SrcPort != 40000 || tcp.DstPort != 443 || tcp.Seq != 1000 || tcp.Ack != 2000 || tcp.Window != 502 ||
		!tcp.ACK || !tcp.PSH || tcp.SYN || tcp.DataOffset != 8 || !bytes.Equal(tcp.Payload, testframe.Payload(100)) {
		t.Errorf("gopacket decoded TCP %+v", tcp)
	}
	if fold(f[22:22+24], 0) != 0xffff || !l4Valid(t, f) {
		t.Errorf("bad checksums in %x", f)
	}
	want := testframe.Layout{L3: 22, L4: 46, Payload: 78, End: 178, Csum: 62, Proto: 6}
	if diff := cmp.Diff(want, testframe.Locate(t, f)); diff != "" {
		t.Errorf("Locate (-want +got):\n%s", diff)
	}
	if got := testframe.Datagram(t, f); !bytes.Equal(got, p.Packet(t)) || !bytes.Equal(got, f[22:]) {
		t.Errorf("Datagram = %x, want Packet %x", got, p.Packet(t))
	}
}

func TestPadding(t *testing.T) {
	udp := testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: ip4A, Dst: ip4B, Proto: 17, Payload: []byte("x")}
	f := udp.Frame(t)
	if len(f) != 60 || !bytes.Equal(f[43:], make([]byte, 17)) || f[22] != 64 {
		t.Errorf("UDP frame %x: want 43 bytes, TTL 64, zeros to 60", f)
	}
	if l := testframe.Locate(t, f); l.End != 43 || !l4Valid(t, f) {
		t.Errorf("Locate(%x) = %+v", f, l)
	}
	arp := testframe.ARPRequest(macA, ip4A.Addr(), ip4B.Addr()).Frame(t)
	want := append(append(bytes.Repeat([]byte{0xff}, 6), macA[:]...), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	want = append(append(append(want, macA[:]...), 10, 0, 0, 1), make([]byte, 6)...)
	want = append(want, 192, 168, 77, 2)
	if len(arp) != 60 || !bytes.Equal(arp[:42], want) || !bytes.Equal(arp[42:], make([]byte, 18)) {
		t.Errorf("ARP request\n %x\nwant %x and padding", arp, want)
	}
	e := testframe.Eth{Src: macA, Dst: macB, Type: 0x88b5}
	if h := e.Header(); len(h) != 14 || len(append(h, 'x')) != 15 || len(e.Frame([]byte("x"))) != 60 {
		t.Errorf("Header() = %x", h)
	}
}

func TestARP(t *testing.T) {
	for _, tt := range []struct {
		name     string
		a        testframe.ARP
		op       uint16
		dst, tha [6]byte
		tpa      netip.Addr
	}{
		{"request", testframe.ARPRequest(macA, ip4A.Addr(), ip4B.Addr()), 1, [6]byte{255, 255, 255, 255, 255, 255}, [6]byte{}, ip4B.Addr()},
		{"reply", testframe.ARPReply(macA, ip4A.Addr(), macB, ip4B.Addr()), 2, macB, macB, ip4B.Addr()},
		{"gratuitous", testframe.Gratuitous(macA, ip4A.Addr()), 1, [6]byte{255, 255, 255, 255, 255, 255}, [6]byte{}, ip4A.Addr()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pk := decode(t, tt.a.Frame(t))
			eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			a := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !bytes.Equal(eth.DstMAC, tt.dst[:]) || !bytes.Equal(eth.SrcMAC, macA[:]) || a.Operation != tt.op ||
				!bytes.Equal(a.SourceHwAddress, macA[:]) || !bytes.Equal(a.SourceProtAddress, ip4A.Addr().AsSlice()) ||
				!bytes.Equal(a.DstHwAddress, tt.tha[:]) || !bytes.Equal(a.DstProtAddress, tt.tpa.AsSlice()) {
				t.Errorf("gopacket decoded %v %+v", eth, a)
			}
		})
	}
}

func TestIPv6Ext(t *testing.T) {
	p := testframe.IPv6{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: ip6A, Dst: ip6B, Proto: 17, TrafficClass: 0xb8,
		FlowLabel: 0x12345, HopLimit: 63, Ext: []testframe.Ext{testframe.HopByHop(5, 2, 0, 0), testframe.DestOpts()},
		Payload: testframe.Payload(25)}
	f := p.Frame(t)
	if got, want := f[54:70], []byte{60, 0, 5, 2, 0, 0, 1, 0, 17, 0, 1, 4, 0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("extension headers % x, want % x", got, want)
	}
	if l := testframe.Locate(t, f); l.L4 != 70 || l.Payload != 78 || l.End != len(f) || l.Proto != 17 || !l4Valid(t, f) {
		t.Errorf("Locate = %+v, checksum valid %v", l, l4Valid(t, f))
	}
	if h := testframe.DestOpts(1, 8, 0, 0, 0, 0, 0, 0, 0, 0).Data; len(h) != 16 || h[1] != 1 || h[12] != 1 || h[13] != 2 {
		t.Errorf("DestOpts with a 10-byte option = % x", h)
	}
	if h := testframe.HopByHop(5, 3, 0, 0, 0).Data; len(h) != 8 || h[7] != 0 {
		t.Errorf("HopByHop with a 5-byte option = % x, want one Pad1", h)
	}

	frag := testframe.IPv6{Eth: p.Eth, Src: ip6A, Dst: ip6B, Proto: 17,
		Ext: []testframe.Ext{testframe.Fragment(1448, true, 0xdeadbeef)}, NoL4: true, Payload: testframe.Payload(8)}
	f = frag.Frame(t)
	if got, want := f[54:62], []byte{17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef}; !bytes.Equal(got, want) || len(f) != 70 {
		t.Errorf("fragment %x: header % x, want % x", f, got, want)
	}
	pk := decode(t, f)
	if fr, ok := pk.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); !ok || fr.FragmentOffset != 181 || !fr.MoreFragments || fr.Identification != 0xdeadbeef {
		t.Errorf("gopacket decoded fragment header %+v", pk.Layer(layers.LayerTypeIPv6Fragment))
	}
}

func TestICMP(t *testing.T) {
	echo6 := testframe.IPv6{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: ip6A, Dst: ip6B, Proto: 58,
		ICMP: testframe.ICMP{Type: 128, ID: 9, Seq: 1}, Payload: []byte("ping")}.Frame(t)
	pk := decode(t, echo6)
	if e, ok := pk.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); !ok || e.Identifier != 9 || e.SeqNumber != 1 || !l4Valid(t, echo6) {
		t.Errorf("ICMPv6 echo %x: gopacket decoded %+v", echo6, pk.Layer(layers.LayerTypeICMPv6Echo))
	}

	quoted := testframe.IPv4{Src: ip4A, Dst: ip4B, Proto: 17, Payload: testframe.Payload(10)}.Packet(t)
	e := testframe.IPv4{Eth: testframe.Eth{Src: macB, Dst: macA}, Src: ip4B, Dst: ip4A, Proto: 1,
		ICMP: testframe.ICMP{Type: 3, Code: 4, Seq: 1400}, Payload: quoted[:28]}.Frame(t)
	ic := decode(t, e).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || ic.Seq != 1400 || !bytes.Equal(ic.Payload, quoted[:28]) || !l4Valid(t, e) {
		t.Errorf("ICMP error %x: gopacket decoded %+v", e, ic)
	}
}

func TestFragments(t *testing.T) {
	p := testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: ip4A, Dst: ip4B, Proto: 17, ID: 7, Payload: testframe.Payload(30)}
	first, rest := p.Fragments(t, 16)
	ip1, ip2 := testframe.Datagram(t, first), testframe.Datagram(t, rest)
	if len(rest) != 60 || len(ip2) != 20+22 {
		t.Errorf("second fragment %x: want its 42-byte datagram padded to 60", rest)
	}
	if ip1[6] != 0x20 || ip1[7] != 0 || ip2[6] != 0 || ip2[7] != 2 || ip1[5] != 7 || ip2[5] != 7 {
		t.Errorf("fragment headers % x and % x", ip1[:20], ip2[:20])
	}
	if fold(ip1[:20], 0) != 0xffff || fold(ip2[:20], 0) != 0xffff {
		t.Errorf("bad IPv4 header checksums")
	}
	whole := p.Packet(t)
	if got := append(ip1[20:], ip2[20:]...); !bytes.Equal(got, whole[20:]) {
		t.Errorf("fragments hold %x, want %x", got, whole[20:])
	}
}

func TestPartial(t *testing.T) {
	tcp := testframe.TCP{Flags: 0x80 | 0x10, Seq: 1, Window: 502, Options: testframe.SYNOptions()}
	for _, tt := range []struct {
		name  string
		frame []byte
		mss   int
		want  testframe.Virtio
	}{
		{"tcp4 gso ecn", testframe.IPv4{Src: ip4A, Dst: ip4B, Proto: 6, TCP: tcp, Payload: testframe.Payload(3000)}.Frame(t), 1448,
			testframe.Virtio{Flags: 1, GSOType: 0x81, HdrLen: 74, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}},
		{"udp4 padded", testframe.IPv4{Src: ip4A, Dst: ip4B, Proto: 17, Payload: []byte("x")}.Frame(t), 0,
			testframe.Virtio{Flags: 1, CsumStart: 34, CsumOffset: 6}},
		{"udp6 uso tagged", testframe.IPv6{Eth: testframe.Eth{Tags: []testframe.Tag{testframe.CTag(0, false, 5)}},
			Src: ip6A, Dst: ip6B, Proto: 17, Ext: []testframe.Ext{testframe.DestOpts()}, Payload: testframe.Payload(2000)}.Frame(t), 1000,
			testframe.Virtio{Flags: 1, GSOType: 5, HdrLen: 74, GSOSize: 1000, CsumStart: 66, CsumOffset: 6}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, v := testframe.Partial(t, tt.frame, tt.mss)
			if v != tt.want {
				t.Errorf("Virtio = %+v, want %+v", v, tt.want)
			}
			// Finishing the checksum as a NIC would gives the full one back.
			l := testframe.Locate(t, got)
			binary.BigEndian.PutUint16(got[l.Csum:], ^fold(got[l.L4:l.End], 0))
			if !bytes.Equal(got, tt.frame) {
				t.Errorf("finished partial frame\n %x\nwant %x", got, tt.frame)
			}
		})
	}
	v := testframe.Virtio{Flags: 1, GSOType: 4, HdrLen: 0x0102, GSOSize: 0x0304, CsumStart: 0x0506, CsumOffset: 0x0708}
	if got, want := v.Bytes(), []byte{1, 4, 2, 1, 4, 3, 6, 5, 8, 7}; !bytes.Equal(got, want) {
		t.Errorf("Bytes() = % x, want % x", got, want)
	}
}

func TestMutateHW(t *testing.T) {
	f := []byte{1, 2, 3}
	g := testframe.Mutate(f, func(b []byte) { b[0] = 9 })
	if f[0] != 1 || g[0] != 9 {
		t.Errorf("Mutate changed its input or not its copy: %v, %v", f, g)
	}
	if s := testframe.HW(macA).String(); s != "02:42:ac:11:00:02" {
		t.Errorf("HW = %s", s)
	}
}
