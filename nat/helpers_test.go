package nat

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// Addresses used across the tests: an endpoint network behind the
// router, the uplink (masquerade) address and a remote server.
var (
	inner1  = netip.MustParseAddr("172.18.0.2")
	inner2  = netip.MustParseAddr("172.18.0.3")
	gateway = netip.MustParseAddr("172.18.0.1")
	uplink  = netip.MustParseAddr("198.51.100.7")
	server  = netip.MustParseAddr("203.0.113.9")
	router2 = netip.MustParseAddr("192.0.2.254") // a router on the path
	client  = netip.MustParseAddr("192.0.2.77")  // an outside client of a published port
)

const (
	zoneNet    Zone = 10
	zoneUplink Zone = 1
)

func sec(n float64) int64 { return int64(n * float64(time.Second)) }

var (
	macA = header.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = header.MAC{0x02, 0, 0, 0, 0, 0x0b}
)

// ip4 describes the tests' IPv4 frames, from macA to macB: IP ID 0x4242,
// and a TCP segment's sequence numbers and window those of a connection
// under way.
func ip4(src, dst netip.AddrPort, proto, tcpFlags uint8, payload string) testframe.IPv4 {
	return testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: src, Dst: dst, Proto: proto, ID: 0x4242,
		TCP:     testframe.TCP{Flags: tcpFlags, Seq: 0x01020304, Ack: 0x01020305, Window: 64240},
		Payload: []byte(payload)}
}

func tcpFrame(t testing.TB, src, dst netip.AddrPort, flags uint8, payload string) []byte {
	t.Helper()
	return ip4(src, dst, header.ProtoTCP, flags, payload).Frame(t)
}

func udpFrame(t testing.TB, src, dst netip.AddrPort, payload string) []byte {
	t.Helper()
	return ip4(src, dst, header.ProtoUDP, 0, payload).Frame(t)
}

func echoFrame(t testing.TB, src, dst netip.Addr, typ uint8, id, seq uint16) []byte {
	t.Helper()
	f := ip4(ap(src, 0), ap(dst, 0), header.ProtoICMP, 0, "abcdefgh")
	f.ICMP = testframe.ICMP{Type: typ, ID: id, Seq: seq}
	return f.Frame(t)
}

// icmpErrorFrame builds an ICMP error from src to dst quoting quote (an IP
// packet, possibly truncated). rest is the 4-byte rest-of-header.
func icmpErrorFrame(t testing.TB, src, dst netip.Addr, typ, code uint8, rest uint32, quote []byte) []byte {
	t.Helper()
	f := ip4(ap(src, 0), ap(dst, 0), header.ProtoICMP, 0, string(quote))
	f.ICMP = testframe.ICMP{Type: typ, Code: code, ID: uint16(rest >> 16), Seq: uint16(rest)}
	return f.Frame(t)
}

func decode(t testing.TB, frame []byte) *header.Parsed {
	t.Helper()
	p := new(header.Parsed)
	if err := p.Decode(frame); err != nil {
		t.Fatalf("Decode(%x) = %v", frame, err)
	}
	return p
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// recompute returns frame with every checksum (IPv4 header, TCP, UDP or
// ICMP) computed from scratch by gopacket. frame starts with Ethernet,
// or with IPv4 if ipOnly.
func recompute(t testing.TB, frame []byte, ipOnly bool) []byte {
	t.Helper()
	first := gopacket.LayerType(layers.LayerTypeEthernet)
	if ipOnly {
		first = layers.LayerTypeIPv4
	}
	pk := gopacket.NewPacket(frame, first, gopacket.Default)
	if pk.Layer(layers.LayerTypeIPv4) == nil {
		t.Fatalf("gopacket decode %x: no IPv4 layer (%v)", frame, pk.ErrorLayer())
	}
	var ls []gopacket.SerializableLayer
	if !ipOnly {
		e := *pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ls = append(ls, &e)
	}
	ip := *pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ls = append(ls, &ip)
	var payload []byte
	switch {
	case pk.Layer(layers.LayerTypeTCP) != nil:
		tcp := *pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &tcp)
		payload = tcp.LayerPayload()
	case pk.Layer(layers.LayerTypeUDP) != nil:
		udp := *pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if err := udp.SetNetworkLayerForChecksum(&ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &udp)
		payload = udp.LayerPayload()
	case pk.Layer(layers.LayerTypeICMPv4) != nil:
		ic := *pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		ls = append(ls, &ic)
		payload = ic.LayerPayload()
	default:
		payload = ip.LayerPayload()
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

// checkChecksums fails unless every checksum in frame equals gopacket's
// from-scratch computation.
func checkChecksums(t testing.TB, frame []byte) {
	t.Helper()
	want := recompute(t, frame, false)
	if !bytes.Equal(frame, want) {
		t.Errorf("checksums differ from a from-scratch computation:\n got %x\nwant %x", frame, want)
	}
}

// tuple5 reads addresses and ports (ICMP: identifier twice) from frame
// with gopacket.
type tuple5 struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

func wireTuple(t testing.TB, frame []byte) tuple5 {
	t.Helper()
	pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	var tu tuple5
	tu.Src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
	tu.Dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
	switch l := pk.TransportLayer().(type) {
	case *layers.TCP:
		tu.SrcPort, tu.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.UDP:
		tu.SrcPort, tu.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
	default:
		if ic, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			tu.SrcPort, tu.DstPort = ic.Id, ic.Id
		}
	}
	return tu
}

// sum is an independent RFC 1071 sum of the concatenation of bs, folded.
func sum(bs ...[]byte) uint16 {
	var all []byte
	for _, b := range bs {
		all = append(all, b...)
	}
	var s uint64
	for i := 0; i+1 < len(all); i += 2 {
		s += uint64(all[i])<<8 | uint64(all[i+1])
	}
	if len(all)%2 == 1 {
		s += uint64(all[len(all)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// pseudo returns the IPv4 pseudo-header for ip's L4 segment.
func pseudo(ip []byte) []byte {
	hl := int(ip[0]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:]))
	ph := make([]byte, 12)
	copy(ph, ip[12:20])
	ph[9] = ip[9]
	binary.BigEndian.PutUint16(ph[10:], uint16(tl-hl))
	return ph
}

// l4Valid reports whether a complete (unfragmented) IPv4 packet's header
// and L4 checksums verify; UDP checksum 0 counts as valid. ICMP checks
// the ICMP checksum.
func l4Valid(ip []byte) (ipOK, l4OK bool) {
	hl := int(ip[0]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:]))
	ipOK = sum(ip[:hl]) == 0xffff
	seg := ip[hl:tl]
	switch ip[9] {
	case header.ProtoTCP:
		l4OK = len(seg) >= 20 && sum(pseudo(ip), seg) == 0xffff
	case header.ProtoUDP:
		l4OK = len(seg) >= 8 && (binary.BigEndian.Uint16(seg[6:]) == 0 || sum(pseudo(ip), seg) == 0xffff)
	case header.ProtoICMP:
		l4OK = len(seg) >= 8 && sum(seg) == 0xffff
	default:
		l4OK = true
	}
	return ipOK, l4OK
}

// mustCreate creates a connection for frame and applies it.
func mustCreate(t testing.TB, tb *Table, zone, replyZone Zone, frame []byte, a Action, now int64) *Conn {
	t.Helper()
	p := decode(t, frame)
	if c, d, ok := tb.Lookup(zone, frame, p, now); ok {
		t.Fatalf("Lookup before Create found %v (%v)", c.Tuple(d), d)
	}
	c, err := tb.Create(zone, replyZone, p, a, now)
	if err != nil {
		t.Fatalf("Create(%v) = %v", c, err)
	}
	if v := tb.Apply(frame, p, c, Original, false, now); v != VerdictAccept {
		t.Fatalf("Apply(original) = %v", v)
	}
	return c
}

// mustApply looks frame up in zone, expects direction want, and applies.
func mustApply(t testing.TB, tb *Table, zone Zone, frame []byte, want Dir, now int64) *Conn {
	t.Helper()
	p := decode(t, frame)
	c, d, ok := tb.Lookup(zone, frame, p, now)
	if !ok {
		t.Fatalf("Lookup(zone %d, %v) found nothing", zone, wireTuple(t, frame))
	}
	if d != want {
		t.Fatalf("Lookup direction = %v, want %v", d, want)
	}
	if v := tb.Apply(frame, p, c, d, false, now); v != VerdictAccept {
		t.Fatalf("Apply(%v) = %v", d, v)
	}
	return c
}

func masq() Action { return Action{SNAT: true, SNATAddr: uplink} }
