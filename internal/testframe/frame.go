package testframe

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// EtherTypes and IP protocol numbers the builders use.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoFragment = 44
	protoDestOpts = 60
	protoHopByHop = 0
	protoICMPv6   = 58
)

// minFrame is the length a NIC pads a frame to, without its FCS.
const minFrame = 60

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Tag is a VLAN tag (IEEE 802.1Q §9.6): its TPID, 0x8100 for a customer
// tag or 0x88a8 for a service tag (or another, such as the pre-standard
// 0x9100), and its TCI, PCP<<13 | DEI<<12 | VID.
type Tag struct {
	TPID uint16
	TCI  uint16
}

// CTag returns an 802.1Q customer tag (TPID 0x8100).
func CTag(pcp uint8, dei bool, vid uint16) Tag { return Tag{0x8100, tci(pcp, dei, vid)} }

// STag returns an 802.1ad service tag (TPID 0x88a8), the outer tag of a
// QinQ frame.
func STag(pcp uint8, dei bool, vid uint16) Tag { return Tag{0x88a8, tci(pcp, dei, vid)} }

func tci(pcp uint8, dei bool, vid uint16) uint16 {
	t := uint16(pcp&7)<<13 | vid&0x0fff
	if dei {
		t |= 0x1000
	}
	return t
}

// Eth is an Ethernet header with its VLAN tags, outermost first.
type Eth struct {
	Src, Dst [6]byte
	Tags     []Tag
	// Type is the EtherType after the tags. IPv4, IPv6 and ARP set it
	// when it is zero.
	Type uint16
}

// Header returns the header's bytes: destination, source, each tag and
// the EtherType.
func (e Eth) Header() []byte {
	b := make([]byte, 0, 14+4*len(e.Tags))
	b = append(b, e.Dst[:]...)
	b = append(b, e.Src[:]...)
	for _, t := range e.Tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, t.TCI)
	}
	return binary.BigEndian.AppendUint16(b, e.Type)
}

// Frame returns the header followed by payload, padded with zeros to 60
// bytes as a NIC pads a short frame. For a frame as written, not padded,
// append payload to Header.
func (e Eth) Frame(payload []byte) []byte {
	b := append(e.Header(), payload...)
	if len(b) < minFrame {
		b = append(b, make([]byte, minFrame-len(b))...)
	}
	return b
}

// frame is Frame with Type defaulting to etherType.
func (e Eth) frame(etherType uint16, payload []byte) []byte {
	if e.Type == 0 {
		e.Type = etherType
	}
	return e.Frame(payload)
}

// TCP is the TCP header of a frame, less its ports.
type TCP struct {
	Flags    uint8 // as on the wire: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80
	Seq, Ack uint32
	Window   uint16
	// Options are the header's options as on the wire, padded with zeros
	// (end of option list) to a multiple of 4 bytes: SYNOptions,
	// TSOptions, or others.
	Options []byte
}

// ICMP is the ICMP (or ICMPv6) header of a frame.
type ICMP struct {
	Type, Code uint8
	// ID and Seq are an echo's identifier and sequence number. An error
	// has its unused word there, or in Seq the next-hop MTU of a
	// fragmentation needed (RFC 1191 §4).
	ID, Seq uint16
}

// IPv4 describes an Ethernet/IPv4 frame. Zero fields are zeros in the
// frame, except TTL.
type IPv4 struct {
	Eth Eth
	// Src and Dst are the addresses, and the ports of a TCP or UDP header
	// (other protocols ignore them).
	Src, Dst netip.AddrPort
	Proto    uint8
	TOS      uint8
	ID       uint16
	DF, MF   bool   // don't fragment, more fragments
	FragOff  uint16 // the fragment offset in bytes, a multiple of 8
	TTL      uint8  // 0 means 64
	// Options are the header's options as on the wire, padded with zeros
	// to a multiple of 4 bytes; for instance a router alert (RFC 2113)
	// is 148, 4, 0, 0.
	Options []byte
	// TCP and ICMP are the transport header when Proto is TCP or ICMP
	// (UDP needs only the ports).
	TCP  TCP
	ICMP ICMP
	// NoL4 leaves out the TCP, UDP or ICMP header Proto names: Payload
	// directly follows the IP header, as in a non-first fragment.
	NoL4    bool
	Payload []byte
}

// Frame returns p's frame, padded to 60 bytes.
func (p IPv4) Frame(tb testing.TB) []byte {
	tb.Helper()
	return p.Eth.frame(etherTypeIPv4, p.Packet(tb))
}

// Packet returns p's IP datagram alone, without Ethernet header.
func (p IPv4) Packet(tb testing.TB) []byte {
	tb.Helper()
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.Is4() || !dst.Is4() {
		tb.Fatalf("testframe: IPv4 from %v to %v", p.Src.Addr(), p.Dst.Addr())
	}
	if p.FragOff%8 != 0 {
		tb.Fatalf("testframe: IPv4 fragment offset %d is not a multiple of 8", p.FragOff)
	}
	ip := &layers.IPv4{Version: 4, TOS: p.TOS, Id: p.ID, FragOffset: p.FragOff / 8, TTL: ttl(p.TTL),
		Protocol: layers.IPProtocol(p.Proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Options: ipv4Options(tb, p.Options)}
	if p.DF {
		ip.Flags |= layers.IPv4DontFragment
	}
	if p.MF {
		ip.Flags |= layers.IPv4MoreFragments
	}
	ls := []gopacket.SerializableLayer{ip}
	if !p.NoL4 {
		ls = append(ls, l4(tb, ip, p.Proto, p.Src.Port(), p.Dst.Port(), p.TCP, p.ICMP)...)
	}
	return serialize(tb, append(ls, gopacket.Payload(p.Payload))...)
}

// Fragments returns p's datagram split in two fragments at byte at (a
// multiple of 8) of its IP payload, L4 header included, as frames: the
// first with MF set, the second at offset at with p's own MF.
func (p IPv4) Fragments(tb testing.TB, at int) (first, rest []byte) {
	tb.Helper()
	pkt := p.Packet(tb)
	data := pkt[int(pkt[0]&0x0f)*4:]
	if at%8 != 0 || at <= 0 || at >= len(data) {
		tb.Fatalf("testframe: fragmenting %d bytes at %d", len(data), at)
	}
	f := p
	f.NoL4, f.MF, f.Payload = true, true, data[:at]
	first = f.Frame(tb)
	f.MF, f.FragOff, f.Payload = p.MF, p.FragOff+uint16(at), data[at:]
	return first, f.Frame(tb)
}

// IPv6 describes an Ethernet/IPv6 frame. Zero fields are zeros in the
// frame, except HopLimit.
type IPv6 struct {
	Eth Eth
	// Src and Dst are the addresses, and the ports of a TCP or UDP header
	// (other protocols ignore them).
	Src, Dst     netip.AddrPort
	Proto        uint8 // the upper-layer protocol, after the extension headers
	TrafficClass uint8
	FlowLabel    uint32
	HopLimit     uint8 // 0 means 64
	Ext          []Ext // extension headers, in order
	// TCP and ICMP are the transport header when Proto is TCP, ICMP or
	// ICMPv6 (UDP needs only the ports).
	TCP  TCP
	ICMP ICMP
	// NoL4 leaves out the TCP, UDP or ICMP header Proto names: Payload
	// directly follows the extension headers, as in a non-first fragment.
	NoL4    bool
	Payload []byte
}

// Ext is an IPv6 extension header (RFC 8200 §4).
type Ext struct {
	Proto uint8 // its own protocol number: 0 hop-by-hop, 60 destination options, 44 fragment…
	// Data is the whole header; the builder writes its first byte, the
	// next header.
	Data []byte
}

// HopByHop returns a hop-by-hop options header (RFC 8200 §4.3) holding
// opts, options in type-length-value form (a router alert is 5, 2, 0, 0),
// padded with Pad1 or PadN to a multiple of 8 bytes.
func HopByHop(opts ...byte) Ext { return Ext{Proto: protoHopByHop, Data: optionsHeader(opts)} }

// DestOpts returns a destination options header (RFC 8200 §4.6) holding
// opts, padded as HopByHop pads them: with none, one PadN option.
func DestOpts(opts ...byte) Ext { return Ext{Proto: protoDestOpts, Data: optionsHeader(opts)} }

func optionsHeader(opts []byte) []byte {
	b := append(make([]byte, 2, 16), opts...)
	switch pad := (8 - len(b)%8) % 8; pad {
	case 0:
	case 1:
		b = append(b, 0) // Pad1
	default:
		b = append(b, 1, byte(pad-2)) // PadN
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return b
}

// Fragment returns a fragment header (RFC 8200 §4.5) for the fragment at
// byte off (a multiple of 8) of the original packet's fragmentable part.
func Fragment(off uint16, more bool, id uint32) Ext {
	b := make([]byte, 8)
	fo := off &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
	return Ext{Proto: protoFragment, Data: b}
}

// Frame returns p's frame, padded to 60 bytes.
func (p IPv6) Frame(tb testing.TB) []byte {
	tb.Helper()
	return p.Eth.frame(etherTypeIPv6, p.Packet(tb))
}

// Packet returns p's IP datagram alone, without Ethernet header.
func (p IPv6) Packet(tb testing.TB) []byte {
	tb.Helper()
	src, dst := p.Src.Addr(), p.Dst.Addr()
	if !src.Is6() || !dst.Is6() {
		tb.Fatalf("testframe: IPv6 from %v to %v", src, dst)
	}
	next := p.Proto
	if len(p.Ext) > 0 {
		next = p.Ext[0].Proto
	}
	ip := &layers.IPv6{Version: 6, TrafficClass: p.TrafficClass, FlowLabel: p.FlowLabel, HopLimit: ttl(p.HopLimit),
		NextHeader: layers.IPProtocol(next), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	ls := []gopacket.SerializableLayer{ip}
	for i, e := range p.Ext {
		if len(e.Data) < 8 || len(e.Data)%8 != 0 {
			tb.Fatalf("testframe: IPv6 extension header of %d bytes", len(e.Data))
		}
		h := bytes.Clone(e.Data)
		h[0] = p.Proto
		if i+1 < len(p.Ext) {
			h[0] = p.Ext[i+1].Proto
		}
		ls = append(ls, gopacket.Payload(h))
	}
	if !p.NoL4 {
		ls = append(ls, l4(tb, ip, p.Proto, p.Src.Port(), p.Dst.Port(), p.TCP, p.ICMP)...)
	}
	return serialize(tb, append(ls, gopacket.Payload(p.Payload))...)
}

// ARP describes an Ethernet/IPv4 ARP packet (RFC 826).
type ARP struct {
	Eth      Eth
	Op       uint16 // 1 request, 2 reply
	SHA, THA [6]byte
	SPA, TPA netip.Addr // IPv4
}

// ARPRequest returns a broadcast request from (sha, spa) for tpa.
func ARPRequest(sha [6]byte, spa, tpa netip.Addr) ARP {
	return ARP{Eth: Eth{Src: sha, Dst: broadcast}, Op: 1, SHA: sha, SPA: spa, TPA: tpa}
}

// ARPReply returns a reply from (sha, spa) to (tha, tpa), sent to tha.
func ARPReply(sha [6]byte, spa netip.Addr, tha [6]byte, tpa netip.Addr) ARP {
	return ARP{Eth: Eth{Src: sha, Dst: tha}, Op: 2, SHA: sha, SPA: spa, THA: tha, TPA: tpa}
}

// Gratuitous returns a gratuitous ARP (RFC 5227 §3): a broadcast request
// from (sha, spa) for spa itself.
func Gratuitous(sha [6]byte, spa netip.Addr) ARP { return ARPRequest(sha, spa, spa) }

// Frame returns a's frame, padded to 60 bytes; its first 42 bytes are the
// frame as a TAP carries it.
func (a ARP) Frame(tb testing.TB) []byte {
	tb.Helper()
	if !a.SPA.Is4() || !a.TPA.Is4() {
		tb.Fatalf("testframe: ARP for IPv4 with addresses %v and %v", a.SPA, a.TPA)
	}
	return a.Eth.frame(etherTypeARP, serialize(tb, &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, Operation: a.Op,
		SourceHwAddress: a.SHA[:], SourceProtAddress: a.SPA.AsSlice(),
		DstHwAddress: a.THA[:], DstProtAddress: a.TPA.AsSlice(),
	}))
}

// l4 returns the transport layer proto names, its checksum over nl's
// pseudo-header.
func l4(tb testing.TB, nl gopacket.NetworkLayer, proto uint8, sport, dport uint16, tcp TCP, icmp ICMP) []gopacket.SerializableLayer {
	tb.Helper()
	switch proto {
	case protoTCP:
		f := tcp.Flags
		t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: tcp.Seq, Ack: tcp.Ack,
			Window: tcp.Window, FIN: f&0x01 != 0, SYN: f&0x02 != 0, RST: f&0x04 != 0, PSH: f&0x08 != 0,
			ACK: f&0x10 != 0, URG: f&0x20 != 0, ECE: f&0x40 != 0, CWR: f&0x80 != 0, Options: tcpOptions(tb, tcp.Options)}
		must(tb, t.SetNetworkLayerForChecksum(nl))
		return []gopacket.SerializableLayer{t}
	case protoUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		must(tb, u.SetNetworkLayerForChecksum(nl))
		return []gopacket.SerializableLayer{u}
	case protoICMP:
		return []gopacket.SerializableLayer{&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(icmp.Type, icmp.Code),
			Id: icmp.ID, Seq: icmp.Seq}}
	case protoICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(icmp.Type, icmp.Code)}
		must(tb, ic.SetNetworkLayerForChecksum(nl))
		rest := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, icmp.ID), icmp.Seq)
		return []gopacket.SerializableLayer{ic, gopacket.Payload(rest)}
	}
	return nil
}

// ipv4Options splits raw IPv4 options for gopacket, which writes them back
// as they were.
func ipv4Options(tb testing.TB, raw []byte) []layers.IPv4Option {
	tb.Helper()
	var opts []layers.IPv4Option
	for len(raw) > 0 {
		if raw[0] <= 1 { // end of list, no operation
			opts, raw = append(opts, layers.IPv4Option{OptionType: raw[0]}), raw[1:]
			continue
		}
		if len(raw) < 2 || raw[1] < 2 || int(raw[1]) > len(raw) {
			tb.Fatalf("testframe: malformed IPv4 option % x", raw)
		}
		n := int(raw[1])
		opts = append(opts, layers.IPv4Option{OptionType: raw[0], OptionLength: raw[1], OptionData: raw[2:n]})
		raw = raw[n:]
	}
	return opts
}

// tcpOptions splits raw TCP options for gopacket, which writes them back
// as they were.
func tcpOptions(tb testing.TB, raw []byte) []layers.TCPOption {
	tb.Helper()
	var opts []layers.TCPOption
	for len(raw) > 0 {
		if raw[0] <= 1 { // end of list, no operation
			opts, raw = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKind(raw[0])}), raw[1:]
			continue
		}
		if len(raw) < 2 || raw[1] < 2 || int(raw[1]) > len(raw) {
			tb.Fatalf("testframe: malformed TCP option % x", raw)
		}
		n := int(raw[1])
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKind(raw[0]), OptionLength: raw[1], OptionData: raw[2:n]})
		raw = raw[n:]
	}
	return opts
}

// SYNOptions returns the TCP options of a Linux SYN: MSS 1460, SACK
// permitted, timestamps, NOP, window scale 7 (20 bytes).
func SYNOptions() []byte {
	return []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
}

// TSOptions returns the TCP options of an established Linux connection:
// NOP, NOP, timestamps (12 bytes).
func TSOptions() []byte { return []byte{1, 1, 8, 10, 0, 1, 0, 2, 0, 3, 0, 4} }

// Payload returns n bytes of a recognisable pattern, byte i being i*7+3.
func Payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// Mutate returns a copy of frame changed by fn.
func Mutate(frame []byte, fn func(b []byte)) []byte {
	b := bytes.Clone(frame)
	fn(b)
	return b
}

// HW returns m as a net.HardwareAddr.
func HW(m [6]byte) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func ttl(t uint8) uint8 {
	if t == 0 {
		return 64
	}
	return t
}

// serialize builds ls with lengths and checksums filled in.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	must(tb, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return bytes.Clone(buf.Bytes())
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("testframe: %v", err)
	}
}
