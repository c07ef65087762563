package offload_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

var (
	macA = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}

	ip4A = netip.MustParseAddr("10.0.0.1")
	ip4B = netip.MustParseAddr("192.168.77.2")
	ip6A = netip.MustParseAddr("fd00:1::1")
	ip6B = netip.MustParseAddr("2001:db8:dead:beef::42")
)

// spec describes a frame as a TAP with IFF_VNET_HDR and TSO/USO would hand
// it to vswitchd.
type spec struct {
	name    string
	v6      bool
	udp     bool
	tags    int  // 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q)
	ipOpts  bool // IPv4 router-alert option, or an IPv6 destination options header
	payload int
	mss     int   // GSO size; 0 builds a frame that is not a super-frame
	flags   uint8 // TCP flags
	seq     uint32
	id      uint16
	noCsum  bool // GSO without NEEDS_CSUM (Linux accepts it) and a stale checksum
	hdrHint int  // the hdr_len hint to write; it must be ignored
	trailer int  // bytes after the IP datagram, e.g. an FCS (beyond gopacket's padding to 60)
}

// built is a frame made from a spec, with its virtio-net header and offsets.
type built struct {
	frame          []byte // as received: partial checksum unless noCsum
	full           []byte // the same frame with a complete checksum (gopacket's)
	vh             header.VirtioNet
	l3, l4, hdrLen int
	end            int // end of the IP datagram
	csumAt         int // offset of the L4 checksum field
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// build builds s with testframe, then sets the virtio-net header and the
// checksum field the way Linux does for a CHECKSUM_PARTIAL skb read from a
// TAP (virtio_net_hdr_from_skb): NEEDS_CSUM, csum_start at the L4 header,
// csum_offset 16 or 6, and the folded pseudo-header sum over the whole
// super-frame's L4 length in the checksum field.
func build(tb testing.TB, s spec) built {
	tb.Helper()
	r := rand.New(rand.NewPCG(uint64(s.payload), uint64(s.mss)))
	pl := make([]byte, s.payload)
	for i := range pl {
		pl[i] = byte(r.Uint32())
	}

	eth := testframe.Eth{Src: macA, Dst: macB}
	switch s.tags {
	case 1:
		eth.Tags = []testframe.Tag{testframe.CTag(5, false, 100)}
	case 2:
		eth.Tags = []testframe.Tag{testframe.STag(0, false, 10), testframe.CTag(3, true, 20)}
	}
	proto, sport, dport := header.ProtoTCP, uint16(40000), uint16(5201)
	if s.udp {
		proto, sport, dport = header.ProtoUDP, 4433, 9999
	}
	tcp := testframe.TCP{Flags: s.flags, Seq: s.seq, Ack: 77, Window: 502, Options: testframe.TSOptions()}
	var b built
	if s.v6 {
		f := testframe.IPv6{Eth: eth, Src: netip.AddrPortFrom(ip6A, sport), Dst: netip.AddrPortFrom(ip6B, dport), Proto: proto,
			TrafficClass: 0x02, FlowLabel: 0xabcde, TCP: tcp, Payload: pl}
		if s.ipOpts {
			f.Ext = []testframe.Ext{testframe.DestOpts()}
		}
		b.full = f.Frame(tb)
	} else {
		f := testframe.IPv4{Eth: eth, Src: netip.AddrPortFrom(ip4A, sport), Dst: netip.AddrPortFrom(ip4B, dport), Proto: proto,
			TOS: 0x02, ID: s.id, DF: true, TCP: tcp, Payload: pl}
		if s.ipOpts {
			f.Options = []byte{148, 4, 0, 0} // router alert
		}
		b.full = f.Frame(tb)
	}
	l := testframe.Locate(tb, b.full)
	b.l3, b.l4, b.hdrLen, b.end, b.csumAt = l.L3, l.L4, l.Payload, l.End, l.Csum
	partial, vf := testframe.Partial(tb, b.full, s.mss)
	trailer := bytes.Repeat([]byte{0xee}, s.trailer)
	b.full = append(b.full, trailer...)
	b.frame = append(partial, trailer...)
	if s.noCsum {
		copy(b.frame, b.full)
		binary.BigEndian.PutUint16(b.frame[b.csumAt:], 0xdead)
		vf.Flags, vf.CsumStart, vf.CsumOffset = 0, 0, 0
	}
	vf.HdrLen = uint16(s.hdrHint)
	b.vh = header.VirtioNet(vf.Bytes())
	return b
}

// naiveSum adds b to s as 16-bit big-endian words (RFC 1071 §4.1).
func naiveSum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func naiveFold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// naivePseudo returns the folded pseudo-header sum (RFC 793 §3.1, RFC 8200
// §8.1) of the L4 datagram frame[l4:end].
func naivePseudo(frame []byte, l3, l4, end int, v6 bool) uint16 {
	var s uint32
	var proto byte
	if v6 {
		s = naiveSum(frame[l3+8:l3+40], 0)
		proto = frame[l4-8] // next header of the last extension header
		if l4 == l3+header.IPv6Len {
			proto = frame[l3+6]
		}
	} else {
		s = naiveSum(frame[l3+12:l3+20], 0)
		proto = frame[l3+9]
	}
	s += uint32(proto) + uint32(end-l4)
	return naiveFold(s)
}

// l4ChecksumOK reports whether the L4 checksum of frame[l4:end] is right.
func l4ChecksumOK(frame []byte, l3, l4, end int, v6 bool) bool {
	return naiveFold(naiveSum(frame[l4:end], uint32(naivePseudo(frame, l3, l4, end, v6)))) == 0xffff
}

// superFrames are the super-frames TestSegment splits.
var superFrames = []spec{
	{name: "tcp4 64KiB", payload: 65535 - 20 - 32, mss: 1448, flags: header.TCPFlagACK | header.TCPFlagPSH,
		seq: 0xffffff00, id: 0xfffe, hdrHint: 128},
	{name: "tcp4 ip options 802.1q fin cwr ece", tags: 1, ipOpts: true, payload: 10000, mss: 1000, seq: 1, id: 7,
		flags: header.TCPFlagACK | header.TCPFlagPSH | header.TCPFlagFIN | header.TCPFlagCWR | header.TCPFlagECE},
	{name: "tcp6 qinq", v6: true, tags: 2, payload: 60000, mss: 1428,
		flags: header.TCPFlagACK | header.TCPFlagPSH, seq: 12345, hdrHint: 200},
	{name: "tcp6 destination options", v6: true, ipOpts: true, payload: 5000, mss: 1220,
		flags: header.TCPFlagACK | header.TCPFlagCWR, seq: 0x7fffffff, hdrHint: 86},
	{name: "udp4 uso", udp: true, payload: 8000, mss: 1400, id: 100},
	{name: "udp6 uso 802.1q", v6: true, udp: true, tags: 1, payload: 2800, mss: 1400},
	{name: "udp6 uso destination options", v6: true, udp: true, ipOpts: true, payload: 3001, mss: 1000},
	{name: "tcp4 payload below mss", payload: 500, mss: 1448,
		flags: header.TCPFlagACK | header.TCPFlagPSH | header.TCPFlagFIN},
	{name: "tcp4 no payload", payload: 0, mss: 1448, flags: header.TCPFlagACK | header.TCPFlagFIN},
	{name: "tcp4 without NEEDS_CSUM", noCsum: true, payload: 3000, mss: 1448, flags: header.TCPFlagACK},
	{name: "tcp4 trailing fcs", trailer: 4, payload: 3000, mss: 1448, flags: header.TCPFlagACK},
	{name: "udp4 one-byte segments", udp: true, payload: 10, mss: 1},
}
