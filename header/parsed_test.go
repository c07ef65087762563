package header_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// setIPv4TotalLength rewrites the total length of the IPv4 header at off.
func setIPv4TotalLength(off int, n uint16) func([]byte) {
	return func(b []byte) { binary.BigEndian.PutUint16(b[off+2:], n) }
}

// garbage is what Parsed holds before each Decode, to show that Decode
// overwrites every field.
var garbage = header.Parsed{
	Len: 9999, Dst: macA, Src: macB, Tags: 2, TPID: [2]uint16{1, 2}, TCI: [2]uint16{3, 4},
	EtherType: 5, L3Off: 6, IPVersion: 7, SrcIP: ip6A, DstIP: ip4A, TTL: 8, Proto: 9,
	IPID: 10, FragOff: 11, MoreFrags: true, Fragment: true, L4Off: 12, PayloadOff: 13,
	L3End: 14, SrcPort: 15, DstPort: 16, TCPFlags: 17, ICMPType: 18, ICMPCode: 19, ARPOp: 20,
}

func TestDecode(t *testing.T) {
	const (
		v4 = header.EtherTypeIPv4
		v6 = header.EtherTypeIPv6
	)
	tcp4 := frameTCP4(t)
	tcp4syn := frameTCP4SYN(t)
	udp4tagged := frameUDP4Tagged(t)
	icmpQinQ := frameICMP4QinQ(t)
	tcp6 := frameTCP6(t)
	udp6ext := frameUDP6Ext(t)
	icmp6 := frameICMP6Echo(t)

	tests := []struct {
		name    string
		frame   []byte
		want    header.Parsed
		wantErr error
	}{
		{
			name:  "arp request padded",
			frame: frameARP(t),
			want: header.Parsed{Len: 60, Dst: header.Broadcast, Src: macA, EtherType: header.EtherTypeARP,
				L3Off: 14, SrcIP: ip4A, DstIP: ip4B, ARPOp: header.ARPRequest},
		},
		{
			name: "arp reply tagged",
			frame: testframe.ARP{Eth: l2(testframe.CTag(0, false, 4094)), Op: header.ARPReply,
				SHA: macA, SPA: ip4B, THA: macB, TPA: ip4A}.Frame(t),
			want: header.Parsed{Len: 60, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x8100}, TCI: [2]uint16{4094},
				EtherType: header.EtherTypeARP, L3Off: 18, SrcIP: ip4B, DstIP: ip4A, ARPOp: header.ARPReply},
		},
		{
			name:  "tcp4 with timestamps",
			frame: tcp4,
			want: header.Parsed{Len: 578, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 66, L3End: 578, SrcPort: 40000, DstPort: 443,
				TCPFlags: header.TCPFlagPSH | header.TCPFlagACK},
		},
		{
			name:  "tcp4 syn with options",
			frame: tcp4syn,
			want: header.Parsed{Len: 74, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 74, L3End: 74, SrcPort: 40000, DstPort: 443, TCPFlags: header.TCPFlagSYN},
		},
		{
			name:  "tcp4 tso super-frame",
			frame: frameTSO4(t),
			want: header.Parsed{Len: 4410, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 66, L3End: 4410, SrcPort: 40000, DstPort: 5201,
				TCPFlags: header.TCPFlagPSH | header.TCPFlagACK},
		},
		{
			name:  "udp4 with ip options",
			frame: frameUDP4Options(t),
			want: header.Parsed{Len: 79, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				L4Off: 38, PayloadOff: 46, L3End: 79, SrcPort: 1000, DstPort: 2000},
		},
		{
			name: "udp4 padded to 60 bytes",
			frame: func() []byte {
				f := ip4(header.ProtoUDP, 67, 68)
				f.Payload = testframe.Payload(4)
				return f.Frame(t)
			}(),
			want: header.Parsed{Len: 60, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 42, L3End: 46, SrcPort: 67, DstPort: 68},
		},
		{
			name: "udp4 gso length field not matching",
			frame: testframe.Mutate(udp4tagged, func(b []byte) {
				binary.BigEndian.PutUint16(b[38+4:], 0)
			}),
			want: header.Parsed{Len: 86, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x8100},
				TCI: [2]uint16{5<<13 | 100}, EtherType: v4, L3Off: 18, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				L4Off: 38, PayloadOff: 46, L3End: 86, SrcPort: 5353, DstPort: 53},
		},
		{
			name:  "udp4 802.1q",
			frame: udp4tagged,
			want: header.Parsed{Len: 86, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x8100},
				TCI: [2]uint16{5<<13 | 100}, EtherType: v4, L3Off: 18, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				L4Off: 38, PayloadOff: 46, L3End: 86, SrcPort: 5353, DstPort: 53},
		},
		{
			name: "udp4 pre-standard 0x9100 tag",
			frame: testframe.Mutate(udp4tagged, func(b []byte) {
				binary.BigEndian.PutUint16(b[12:], 0x9100)
			}),
			want: header.Parsed{Len: 86, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x9100},
				TCI: [2]uint16{5<<13 | 100}, EtherType: v4, L3Off: 18, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				L4Off: 38, PayloadOff: 46, L3End: 86, SrcPort: 5353, DstPort: 53},
		},
		{
			name:  "icmp4 echo qinq",
			frame: icmpQinQ,
			want: header.Parsed{Len: 106, Dst: macB, Src: macA, Tags: 2, TPID: [2]uint16{0x88a8, 0x8100},
				TCI: [2]uint16{10, 3<<13 | 0x1000 | 20}, EtherType: v4, L3Off: 22, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoICMP, IPID: 0x1234,
				L4Off: 42, PayloadOff: 50, L3End: 106, SrcPort: 0x4242, DstPort: 0x4242,
				ICMPType: header.ICMPv4Echo},
		},
		{
			name: "three tags keep the third as payload",
			frame: func() []byte {
				f := ip4(header.ProtoUDP, 1, 2)
				f.Eth = l2(testframe.STag(0, false, 10), testframe.CTag(0, false, 20), testframe.CTag(0, false, 30))
				f.Payload = testframe.Payload(8)
				return f.Frame(t)
			}(),
			want: header.Parsed{Len: 62, Dst: macB, Src: macA, Tags: 2, TPID: [2]uint16{0x88a8, 0x8100},
				TCI: [2]uint16{10, 20}, EtherType: 0x8100},
		},
		{
			name:  "icmp4 port unreachable",
			frame: frameICMP4Unreachable(t),
			want: header.Parsed{Len: 70, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4B, DstIP: ip4A, TTL: 64, Proto: header.ProtoICMP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 42, L3End: 70,
				ICMPType: header.ICMPv4DstUnreachable, ICMPCode: header.ICMPv4PortUnreachable},
		},
		{
			name: "icmp4 ttl exceeded",
			frame: func() []byte {
				f := ip4(header.ProtoICMP, 0, 0)
				f.ICMP.Type = header.ICMPv4TimeExceeded
				f.Payload = testframe.Payload(28)
				return f.Frame(t)
			}(),
			want: header.Parsed{Len: 70, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoICMP, IPID: 0x1234,
				L4Off: 34, PayloadOff: 42, L3End: 70, ICMPType: header.ICMPv4TimeExceeded},
		},
		{
			name:  "ipv4 first fragment",
			frame: frameUDP4Frag(t, 0, true),
			want: header.Parsed{Len: 1514, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				MoreFrags: true, Fragment: true, L4Off: 34, PayloadOff: 42, L3End: 1514,
				SrcPort: 4000, DstPort: 4001},
		},
		{
			name:  "ipv4 last fragment",
			frame: frameUDP4Frag(t, 1480, false),
			want: header.Parsed{Len: 134, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				FragOff: 1480, Fragment: true, L3End: 134},
		},
		{
			name:  "ipv4 middle fragment",
			frame: frameUDP4Frag(t, 8*8191, true),
			want: header.Parsed{Len: 134, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234,
				FragOff: 65528, MoreFrags: true, Fragment: true, L3End: 134},
		},
		{
			name:  "tcp6 with timestamps",
			frame: tcp6,
			want: header.Parsed{Len: 286, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoTCP,
				L4Off: 54, PayloadOff: 86, L3End: 286, SrcPort: 50000, DstPort: 22, TCPFlags: header.TCPFlagACK},
		},
		{
			name:  "udp6 hop-by-hop and destination options",
			frame: udp6ext,
			want: header.Parsed{Len: 103, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoUDP,
				L4Off: 70, PayloadOff: 78, L3End: 103, SrcPort: 546, DstPort: 547},
		},
		{
			name:  "udp6 first fragment",
			frame: frameUDP6Frag(t, 0, true),
			want: header.Parsed{Len: 1510, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoUDP, IPID: 0xbeef,
				MoreFrags: true, Fragment: true, L4Off: 62, PayloadOff: 70, L3End: 1510,
				SrcPort: 4000, DstPort: 4001},
		},
		{
			name:  "udp6 last fragment",
			frame: frameUDP6Frag(t, 1448, false),
			want: header.Parsed{Len: 126, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoUDP, IPID: 0xbeef,
				FragOff: 1448, Fragment: true, L3End: 126},
		},
		{
			name:  "icmp6 echo",
			frame: icmp6,
			want: header.Parsed{Len: 94, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoICMPv6,
				L4Off: 54, PayloadOff: 58, L3End: 94, ICMPType: 128},
		},
		{
			name: "icmp4 number in ipv6 has no l4",
			frame: func() []byte {
				f := ip6(header.ProtoICMP, 0, 0)
				f.ICMP.Type = header.ICMPv4Echo
				return f.Frame(t)
			}(),
			want: header.Parsed{Len: 62, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoICMP, L3End: 62},
		},
		{
			name:  "lldp is left alone",
			frame: testframe.Eth{Src: macA, Dst: macB, Type: 0x88cc}.Frame(testframe.Payload(50)),
			want:  header.Parsed{Len: 64, Dst: macB, Src: macA, EtherType: 0x88cc},
		},

		// Truncated and malformed frames.
		{
			name:    "empty",
			frame:   nil,
			want:    header.Parsed{},
			wantErr: header.ErrTruncated,
		},
		{
			name:    "13 bytes",
			frame:   tcp4[:13],
			want:    header.Parsed{Len: 13},
			wantErr: header.ErrTruncated,
		},
		{
			name:    "truncated tag",
			frame:   udp4tagged[:17],
			want:    header.Parsed{Len: 17, Dst: macB, Src: macA},
			wantErr: header.ErrTruncated,
		},
		{
			name:  "truncated inner tag",
			frame: icmpQinQ[:21],
			want: header.Parsed{Len: 21, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x88a8},
				TCI: [2]uint16{10}},
			wantErr: header.ErrTruncated,
		},
		{
			name:    "ethernet header only",
			frame:   tcp4[:14],
			want:    header.Parsed{Len: 14, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:  "arp truncated",
			frame: frameARP(t)[:14+27],
			want: header.Parsed{Len: 41, Dst: header.Broadcast, Src: macA, EtherType: header.EtherTypeARP,
				L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:  "arp hardware length 8",
			frame: testframe.Mutate(frameARP(t), func(b []byte) { b[14+4] = 8 }),
			want: header.Parsed{Len: 60, Dst: header.Broadcast, Src: macA, EtherType: header.EtherTypeARP,
				L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:  "arp for ipv6 protocol",
			frame: testframe.Mutate(frameARP(t), func(b []byte) { binary.BigEndian.PutUint16(b[14+2:], v6) }),
			want: header.Parsed{Len: 60, Dst: header.Broadcast, Src: macA, EtherType: header.EtherTypeARP,
				L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv4 ihl 4",
			frame:   testframe.Mutate(tcp4, func(b []byte) { b[14] = 0x44 }),
			want:    header.Parsed{Len: 578, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv4 ihl past total length",
			frame:   testframe.Mutate(tcp4, func(b []byte) { b[14] = 0x4f; binary.BigEndian.PutUint16(b[16:], 40) }),
			want:    header.Parsed{Len: 578, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv4 version 6",
			frame:   testframe.Mutate(tcp4, func(b []byte) { b[14] = 0x65 }),
			want:    header.Parsed{Len: 578, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv4 shorter than 20 bytes",
			frame:   tcp4[:14+19],
			want:    header.Parsed{Len: 33, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv4 total length past frame",
			frame:   tcp4[:100],
			want:    header.Parsed{Len: 100, Dst: macB, Src: macA, EtherType: v4, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:  "tcp4 cut by ip total length",
			frame: testframe.Mutate(tcp4, setIPv4TotalLength(14, 30)),
			want: header.Parsed{Len: 578, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234, L3End: 44},
			wantErr: header.ErrMalformedL4,
		},
		{
			name:  "tcp4 data offset past end",
			frame: testframe.Mutate(tcp4syn, func(b []byte) { b[34+12] = 0xf0 }),
			want: header.Parsed{Len: 74, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234, L3End: 74},
			wantErr: header.ErrMalformedL4,
		},
		{
			name:  "tcp4 data offset 16",
			frame: testframe.Mutate(tcp4syn, func(b []byte) { b[34+12] = 0x40 }),
			want: header.Parsed{Len: 74, Dst: macB, Src: macA, EtherType: v4, L3Off: 14, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoTCP, IPID: 0x1234, L3End: 74},
			wantErr: header.ErrMalformedL4,
		},
		{
			name:  "udp4 cut by ip total length",
			frame: testframe.Mutate(udp4tagged, setIPv4TotalLength(18, 24)),
			want: header.Parsed{Len: 86, Dst: macB, Src: macA, Tags: 1, TPID: [2]uint16{0x8100},
				TCI: [2]uint16{5<<13 | 100}, EtherType: v4, L3Off: 18, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoUDP, IPID: 0x1234, L3End: 42},
			wantErr: header.ErrMalformedL4,
		},
		{
			name:  "icmp4 cut by ip total length",
			frame: testframe.Mutate(icmpQinQ, setIPv4TotalLength(22, 27)),
			want: header.Parsed{Len: 106, Dst: macB, Src: macA, Tags: 2, TPID: [2]uint16{0x88a8, 0x8100},
				TCI: [2]uint16{10, 3<<13 | 0x1000 | 20}, EtherType: v4, L3Off: 22, IPVersion: 4,
				SrcIP: ip4A, DstIP: ip4B, TTL: 64, Proto: header.ProtoICMP, IPID: 0x1234, L3End: 49},
			wantErr: header.ErrMalformedL4,
		},
		{
			name:    "ipv6 shorter than 40 bytes",
			frame:   tcp6[:14+39],
			want:    header.Parsed{Len: 53, Dst: macB, Src: macA, EtherType: v6, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv6 payload past frame",
			frame:   tcp6[:200],
			want:    header.Parsed{Len: 200, Dst: macB, Src: macA, EtherType: v6, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:    "ipv6 version 4",
			frame:   testframe.Mutate(tcp6, func(b []byte) { b[14] = 0x40 }),
			want:    header.Parsed{Len: 286, Dst: macB, Src: macA, EtherType: v6, L3Off: 14},
			wantErr: header.ErrMalformedL3,
		},
		{
			name:  "ipv6 extension header past payload",
			frame: testframe.Mutate(udp6ext, func(b []byte) { b[54+1] = 200 }),
			want: header.Parsed{Len: 103, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, L3End: 103},
			wantErr: header.ErrMalformedL3,
		},
		{
			name: "ipv6 fragment header cut by payload length",
			frame: testframe.Mutate(frameUDP6Frag(t, 1448, false), func(b []byte) {
				binary.BigEndian.PutUint16(b[14+4:], 4)
			}),
			want: header.Parsed{Len: 126, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, L3End: 58},
			wantErr: header.ErrMalformedL3,
		},
		{
			name: "tcp6 cut by payload length",
			frame: testframe.Mutate(tcp6, func(b []byte) {
				binary.BigEndian.PutUint16(b[14+4:], 19)
			}),
			want: header.Parsed{Len: 286, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoTCP, L3End: 73},
			wantErr: header.ErrMalformedL4,
		},
		{
			name: "icmp6 cut by payload length",
			frame: testframe.Mutate(icmp6, func(b []byte) {
				binary.BigEndian.PutUint16(b[14+4:], 3)
			}),
			want: header.Parsed{Len: 94, Dst: macB, Src: macA, EtherType: v6, L3Off: 14, IPVersion: 6,
				SrcIP: ip6A, DstIP: ip6B, TTL: 63, Proto: header.ProtoICMPv6, L3End: 57},
			wantErr: header.ErrMalformedL4,
		},
	}

	opts := cmpopts.EquateComparable(netip.Addr{})
	p := garbage // one Parsed for all cases, as a worker would use it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p = garbage
			// L3Valid follows from the rest: an ARP or IP header that
			// decoded without ErrMalformedL3.
			tt.want.L3Valid = (tt.want.IPVersion != 0 || tt.want.ARPOp != 0) && !errors.Is(tt.wantErr, header.ErrMalformedL3)
			err := p.Decode(tt.frame)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode(%x) = %v, want %v", tt.frame, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, p, opts); diff != "" {
				t.Errorf("Decode(%x) mismatch (-want +got):\n%s", tt.frame, diff)
			}
			if tt.want.Tags > 0 && p.VID() != tt.want.TCI[0]&0xfff {
				t.Errorf("VID() = %d, want %d", p.VID(), tt.want.TCI[0]&0xfff)
			}
		})
	}
}

func TestParsedVID(t *testing.T) {
	var p header.Parsed
	if err := p.Decode(frameTCP4(t)); err != nil {
		t.Fatal(err)
	}
	if got := p.VID(); got != 0 {
		t.Errorf("untagged VID() = %d, want 0", got)
	}
	if err := p.Decode(frameICMP4QinQ(t)); err != nil {
		t.Fatal(err)
	}
	if got := p.VID(); got != 10 {
		t.Errorf("QinQ VID() = %d, want the outer 10", got)
	}
}

// TestDecodeAllocs fails as soon as Decode allocates (STYLE §10).
func TestDecodeAllocs(t *testing.T) {
	for _, g := range goldenFrames(t) {
		t.Run(g.name, func(t *testing.T) {
			var p header.Parsed
			frame := g.frame
			if n := testing.AllocsPerRun(1000, func() { _ = p.Decode(frame) }); n != 0 {
				t.Errorf("Decode allocates %v times per frame, want 0", n)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		var p header.Parsed
		frame := frameTCP4(t)[:100]
		if n := testing.AllocsPerRun(1000, func() { _ = p.Decode(frame) }); n != 0 {
			t.Errorf("Decode allocates %v times per frame, want 0", n)
		}
	})
}

var sinkErr error

func BenchmarkDecode(b *testing.B) {
	for _, bb := range []struct {
		name  string
		frame []byte
	}{
		{"ARP", frameARP(b)},
		{"TCPv4", frameTCP4(b)},
		{"TaggedUDP", frameUDP4Tagged(b)},
		{"TCPv6", frameTCP6(b)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			var p header.Parsed
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = p.Decode(bb.frame)
			}
		})
	}
}
