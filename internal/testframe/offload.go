package testframe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Layout is where the headers of a frame holding an IP datagram start, in
// bytes from the frame's first.
type Layout struct {
	L3      int // the IPv4 or IPv6 header
	L4      int // the transport header, after any IPv6 extension headers
	Payload int // the transport payload: L4 plus the TCP, UDP or ICMP header
	End     int // the end of the IP datagram; padding or an FCS may follow
	// Csum is the offset of the TCP, UDP or ICMP checksum field, 0 for
	// other protocols.
	Csum  int
	V6    bool
	Proto uint8 // the transport protocol
}

// Locate returns the layout of frame, which must hold an IPv4 or IPv6
// datagram (behind any number of tags with TPID 0x8100, 0x88a8 or 0x9100)
// that is not a non-first fragment. It is the tests' own parser, not
// header's.
func Locate(tb testing.TB, frame []byte) Layout {
	tb.Helper()
	bad := func(what string) {
		tb.Helper()
		tb.Fatalf("testframe: Locate(%x): %s", frame, what)
	}
	var l Layout
	l.L3, l.End, l.V6 = network(tb, frame)
	ip := frame[l.L3:]
	if !l.V6 {
		l.Proto = ip[9]
		l.L4 = l.L3 + int(ip[0]&0x0f)*4
		if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
			bad("a non-first fragment")
		}
	} else {
		l.Proto, l.L4 = ip[6], l.L3+40
		for l.Proto == protoHopByHop || l.Proto == 43 || l.Proto == protoDestOpts || l.Proto == protoFragment {
			if l.L4+8 > l.End {
				bad("truncated IPv6 extension header")
			}
			h := frame[l.L4:]
			if l.Proto == protoFragment {
				if binary.BigEndian.Uint16(h[2:])&^7 != 0 {
					bad("a non-first fragment")
				}
				l.Proto, l.L4 = h[0], l.L4+8
				continue
			}
			l.Proto, l.L4 = h[0], l.L4+(int(h[1])+1)*8 // routing (43) is laid out as options are
		}
	}
	l.Payload = l.L4
	switch l.Proto {
	case protoTCP:
		if l.L4+20 > l.End {
			bad("truncated TCP header")
		}
		l.Payload, l.Csum = l.L4+int(frame[l.L4+12]>>4)*4, l.L4+16
	case protoUDP:
		l.Payload, l.Csum = l.L4+8, l.L4+6
	case protoICMP, protoICMPv6:
		l.Payload, l.Csum = l.L4+8, l.L4+2
	}
	if l.Payload > l.End {
		bad("headers past the datagram's end")
	}
	return l
}

// network returns where the IP header in frame starts and where its
// datagram ends.
func network(tb testing.TB, frame []byte) (l3, end int, v6 bool) {
	tb.Helper()
	off := 12
	for off+2 <= len(frame) && isTPID(binary.BigEndian.Uint16(frame[off:])) {
		off += 4
	}
	l3 = off + 2
	switch {
	case l3 > len(frame):
		tb.Fatalf("testframe: frame %x: truncated Ethernet header", frame)
	case binary.BigEndian.Uint16(frame[off:]) == etherTypeIPv4 && l3+20 <= len(frame):
		end = l3 + int(binary.BigEndian.Uint16(frame[l3+2:]))
	case binary.BigEndian.Uint16(frame[off:]) == etherTypeIPv6 && l3+40 <= len(frame):
		end, v6 = l3+40+int(binary.BigEndian.Uint16(frame[l3+4:])), true
	default:
		tb.Fatalf("testframe: frame %x: no IPv4 or IPv6 header", frame)
	}
	if end > len(frame) {
		tb.Fatalf("testframe: frame %x: IP datagram past the frame's end", frame)
	}
	return l3, end, v6
}

func isTPID(t uint16) bool { return t == 0x8100 || t == 0x88a8 || t == 0x9100 }

// Datagram returns a copy of the IP datagram (or fragment) in frame,
// without the Ethernet header and tags before it or the padding after it.
func Datagram(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	l3, end, _ := network(tb, frame)
	return bytes.Clone(frame[l3:end])
}

// Virtio is a virtio-net header (struct virtio_net_hdr, virtio 1.2
// §5.1.6), as a TAP opened with IFF_VNET_HDR puts it before each frame.
type Virtio struct {
	Flags      uint8 // 1: NEEDS_CSUM
	GSOType    uint8 // 1 TCPv4, 4 TCPv6, 5 UDP_L4; 0x80 ECN
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Bytes returns v's 10 bytes, little-endian.
func (v Virtio) Bytes() []byte {
	b := []byte{v.Flags, v.GSOType}
	for _, x := range []uint16{v.HdrLen, v.GSOSize, v.CsumStart, v.CsumOffset} {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// Partial returns a copy of frame, a TCP or UDP frame with a complete
// checksum, as Linux hands a CHECKSUM_PARTIAL packet to a TAP
// (virtio_net_hdr_from_skb), and the virtio-net header it comes with. The
// checksum field holds the folded pseudo-header sum (RFC 793 §3.1, RFC 8200
// §8.1) over the L4 length, not inverted; the header has NEEDS_CSUM,
// csum_start at the L4 header and csum_offset 16 or 6. With mss > 0 the
// frame is a GSO super-frame: the header also has the GSO type (TCPv4,
// TCPv6 or UDP_L4, with ECN if the TCP header has CWR), gso_size mss and
// hdr_len the length of all headers (Linux may write another hint there).
func Partial(tb testing.TB, frame []byte, mss int) ([]byte, Virtio) {
	tb.Helper()
	l := Locate(tb, frame)
	if l.Proto != protoTCP && l.Proto != protoUDP {
		tb.Fatalf("testframe: Partial of a frame carrying protocol %d, not TCP or UDP", l.Proto)
	}
	out := bytes.Clone(frame)
	var s uint32
	if l.V6 {
		s = sum(out[l.L3+8:l.L3+40], 0)
	} else {
		s = sum(out[l.L3+12:l.L3+20], 0)
	}
	s += uint32(l.Proto) + uint32(l.End-l.L4)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(out[l.Csum:], uint16(s))

	v := Virtio{Flags: 1, CsumStart: uint16(l.L4), CsumOffset: uint16(l.Csum - l.L4)}
	if mss > 0 {
		switch {
		case l.Proto == protoUDP:
			v.GSOType = 5
		case l.V6:
			v.GSOType = 4
		default:
			v.GSOType = 1
		}
		if l.Proto == protoTCP && frame[l.L4+13]&0x80 != 0 {
			v.GSOType |= 0x80
		}
		v.GSOSize, v.HdrLen = uint16(mss), uint16(l.Payload)
	}
	return out, v
}

// sum adds b to s as 16-bit big-endian words (RFC 1071 §4.1).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}
