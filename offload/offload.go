package offload

import (
	"encoding/binary"
	"errors"

	"github.com/vswitchd/vswitchd/header"
)

// Errors returned by Finish and Segment. They are sentinels: nothing here
// allocates, and the datapath counts them as drop reasons.
var (
	// ErrBadHeader means the virtio-net header is shorter than
	// header.VirtioNetLen or its checksum offsets are unusable: csum_start
	// outside the frame, the checksum field past its end, csum_offset
	// other than 16 (TCP) or 6 (UDP), or, on a super-frame, offsets that
	// do not point at its TCP or UDP header.
	ErrBadHeader = errors.New("invalid virtio-net header")
	// ErrUnsupported means the GSO type is not TCPv4, TCPv6 or UDP_L4
	// (UFO, VIRTIO_NET_HDR_GSO_UDP, means IP fragmentation, which current
	// kernels no longer produce; it is refused).
	ErrUnsupported = errors.New("unsupported GSO type")
	// ErrMalformed means a super-frame's headers do not match its GSO
	// type, are truncated, describe an IP fragment, or the GSO size is 0.
	ErrMalformed = errors.New("malformed GSO super-frame")
	// ErrShortBuffer means out or sizes has fewer entries than the frame
	// has segments, a buffer cannot hold its segment, or offset leaves no
	// room for the virtio-net header.
	ErrShortBuffer = errors.New("output buffers too small")
)

// checksumFieldOK reports whether a partial checksum described by csum_start
// and csum_offset lies in a frame of n bytes and is a TCP or UDP checksum
// (OVS netdev_linux_parse_vnet_hdr, Linux virtio_net_hdr_to_skb).
func checksumFieldOK(n, start, off int) bool {
	return start < n && start+off+2 <= n &&
		(off == header.TCPChecksumOffset || off == header.UDPChecksumOffset)
}

// Finish completes the L4 checksum of frame, whose virtio-net header vh has
// NEEDS_CSUM: it sums frame[csum_start:] seeded with the pseudo-header sum
// the checksum field holds, and stores the complement there (a UDP result
// of 0 is sent as 0xffff, RFC 768). frame must end where the L4 datagram
// does; zero Ethernet padding after it does not change the sum. Finish
// changes neither vh nor anything but the checksum field: the caller clears
// the header (or marks it DATA_VALID) once the frame is complete. A header
// without NEEDS_CSUM leaves the frame alone; the GSO fields are ignored (use
// Segment for a super-frame). Finish returns ErrBadHeader, without touching
// frame, if the offsets are unusable.
func Finish(frame []byte, vh header.VirtioNet) error {
	if !vh.IsValid() {
		return ErrBadHeader
	}
	if !vh.NeedsCsum() {
		return nil
	}
	start, off := int(vh.CsumStart()), int(vh.CsumOffset())
	if !checksumFieldOK(len(frame), start, off) {
		return ErrBadHeader
	}
	at := start + off
	seed := binary.BigEndian.Uint16(frame[at:])
	frame[at], frame[at+1] = 0, 0
	c := ^header.Checksum(frame[start:], seed)
	if c == 0 && off == header.UDPChecksumOffset {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], c)
	return nil
}

// superFrame describes a GSO super-frame checked against its virtio-net
// header. Offsets count from the start of the Ethernet frame.
type superFrame struct {
	l3, l4  int  // IP and TCP/UDP header offsets
	hdrLen  int  // length of all headers, recomputed (the hint is not trusted)
	end     int  // end of the IP datagram; Ethernet padding is dropped
	mss     int  // payload bytes per segment
	n       int  // number of segments
	ipv4    bool // IPv4, else IPv6
	tcp     bool // TCP, else UDP
	l4Proto uint8
}

// parse checks a super-frame against its header, which must have a GSO type.
func (s *superFrame) parse(frame []byte, vh header.VirtioNet) error {
	var p header.Parsed
	if p.Decode(frame) != nil || p.Fragment || p.L4Off == 0 {
		return ErrMalformed
	}
	switch vh.GSOType() &^ header.VirtioNetGSOECN {
	case header.VirtioNetGSOTCPv4:
		if p.IPVersion != 4 || p.Proto != header.ProtoTCP {
			return ErrMalformed
		}
	case header.VirtioNetGSOTCPv6:
		if p.IPVersion != 6 || p.Proto != header.ProtoTCP {
			return ErrMalformed
		}
	case header.VirtioNetGSOUDPL4:
		if p.Proto != header.ProtoUDP {
			return ErrMalformed
		}
	default:
		return ErrUnsupported
	}
	csumOff := header.UDPChecksumOffset
	if p.Proto == header.ProtoTCP {
		csumOff = header.TCPChecksumOffset
	}
	// Linux accepts a super-frame without NEEDS_CSUM by dissecting it;
	// so do we, having parsed it. With the flag, the offsets must be exact.
	if vh.NeedsCsum() && (int(vh.CsumStart()) != p.L4Off || int(vh.CsumOffset()) != csumOff) {
		return ErrBadHeader
	}
	mss := int(vh.GSOSize())
	if mss == 0 {
		return ErrMalformed
	}
	*s = superFrame{
		l3:      p.L3Off,
		l4:      p.L4Off,
		hdrLen:  p.PayloadOff,
		end:     p.L3End,
		mss:     mss,
		n:       max(1, (p.L3End-p.PayloadOff+mss-1)/mss),
		ipv4:    p.IPVersion == 4,
		tcp:     p.Proto == header.ProtoTCP,
		l4Proto: p.Proto,
	}
	return nil
}

// MaxSegments returns the number of frames Segment will write for frame
// and its virtio-net header vh: the number of segments of a GSO
// super-frame, 1 for any other frame, 0 if Segment would reject the frame.
func MaxSegments(frame []byte, vh header.VirtioNet) int {
	if !vh.IsValid() {
		return 0
	}
	if !vh.IsGSO() {
		if vh.NeedsCsum() && !checksumFieldOK(len(frame), int(vh.CsumStart()), int(vh.CsumOffset())) {
			return 0
		}
		return 1
	}
	var s superFrame
	if s.parse(frame, vh) != nil {
		return 0
	}
	return s.n
}

// Segment writes frame, whose virtio-net header is vh, as frames that need
// no offload: frame i to out[i][offset:offset+sizes[i]], with a zeroed
// virtio-net header at out[i][offset-header.VirtioNetLen:offset]. A GSO
// super-frame (TCPv4, TCPv6, UDP_L4) is split into segments of at most
// GSOSize payload bytes, each with its own Ethernet, VLAN, IP and L4 headers
// and a complete L4 checksum (see the package comment for the fields
// rewritten). Any other frame is copied to out[0], its checksum finished if
// it has NEEDS_CSUM. The header length is recomputed from the frame, and
// csum_start already counts any VLAN tags.
//
// frame and vh are not modified, so a frame can be segmented for several
// ports; out must not overlap frame. MaxSegments gives the number of out
// and sizes entries needed; each out[i] must hold offset plus the frame's
// length. Segment returns the number of frames written, or 0 and one of the
// package's errors, in which case nothing was written to out.
func Segment(frame []byte, vh header.VirtioNet, out [][]byte, sizes []int, offset int) (int, error) {
	if !vh.IsValid() {
		return 0, ErrBadHeader
	}
	if !vh.IsGSO() {
		if vh.NeedsCsum() && !checksumFieldOK(len(frame), int(vh.CsumStart()), int(vh.CsumOffset())) {
			return 0, ErrBadHeader
		}
		if offset < header.VirtioNetLen || len(out) < 1 || len(sizes) < 1 || len(out[0])-offset < len(frame) {
			return 0, ErrShortBuffer
		}
		dst := out[0][offset : offset+len(frame)]
		copy(dst, frame)
		if err := Finish(dst, vh); err != nil {
			return 0, err
		}
		header.VirtioNet(out[0][offset-header.VirtioNetLen : offset]).Clear()
		sizes[0] = len(frame)
		return 1, nil
	}

	var s superFrame
	if err := s.parse(frame, vh); err != nil {
		return 0, err
	}
	if offset < header.VirtioNetLen || len(out) < s.n || len(sizes) < s.n {
		return 0, ErrShortBuffer
	}
	for i := range s.n {
		if len(out[i])-offset < s.segmentLen(i) {
			return 0, ErrShortBuffer
		}
	}

	hdr := frame[:s.hdrLen]
	var id uint16
	if s.ipv4 {
		id = header.IPv4(frame[s.l3:]).ID()
	}
	var seq uint32
	var flags uint8
	if s.tcp {
		t := header.TCP(frame[s.l4:])
		seq, flags = t.Seq(), t.Flags()
	}
	for i := range s.n {
		size := s.segmentLen(i)
		seg := out[i][offset : offset+size]
		copy(seg, hdr)
		data := s.hdrLen + i*s.mss
		copy(seg[s.hdrLen:], frame[data:data+size-s.hdrLen])

		// RFC 791 §3.1 / RFC 8200 §3: lengths and, for IPv4, a new
		// identification and header checksum per datagram.
		var phs uint16
		l4len := uint16(size - s.l4)
		if s.ipv4 {
			ip := header.IPv4(seg[s.l3:])
			ip.SetTotalLength(uint16(size - s.l3))
			ip.SetID(id + uint16(i))
			ip.SetChecksum(ip.CalculateChecksum())
			phs = ip.PseudoHeaderChecksum(l4len)
		} else {
			ip := header.IPv6(seg[s.l3:])
			ip.SetPayloadLength(uint16(size - s.l3 - header.IPv6Len))
			phs = ip.PseudoHeaderChecksum(s.l4Proto, l4len)
		}

		l4 := seg[s.l4:]
		if s.tcp {
			t := header.TCP(l4)
			t.SetSeq(seq + uint32(i*s.mss))
			f := flags
			if i != s.n-1 {
				f &^= header.TCPFlagFIN | header.TCPFlagPSH
			}
			if i != 0 {
				f &^= header.TCPFlagCWR // RFC 3168 §6.1.2: once per window
			}
			t.SetFlags(f)
			t.SetChecksum(0)
			t.SetChecksum(^header.Checksum(l4, phs))
		} else {
			u := header.UDP(l4)
			u.SetLength(l4len)
			u.SetChecksum(0)
			c := ^header.Checksum(l4, phs)
			if c == 0 {
				c = 0xffff // RFC 768: 0 means no checksum
			}
			u.SetChecksum(c)
		}

		header.VirtioNet(out[i][offset-header.VirtioNetLen : offset]).Clear()
		sizes[i] = size
	}
	return s.n, nil
}

// segmentLen returns the length of segment i: the headers plus its share of
// the payload.
func (s *superFrame) segmentLen(i int) int {
	return s.hdrLen + min(s.mss, s.end-s.hdrLen-i*s.mss)
}

// SegmentLen returns the IP length of the largest segment a GSO
// super-frame would be cut into: its IP and L4 headers plus the GSO size
// (or the whole datagram, if shorter); 0 for a frame that is not a valid
// super-frame.
func SegmentLen(frame []byte, vh header.VirtioNet) int {
	if !vh.IsValid() || !vh.IsGSO() {
		return 0
	}
	var s superFrame
	if s.parse(frame, vh) != nil {
		return 0
	}
	return s.hdrLen - s.l3 + min(s.mss, s.end-s.hdrLen)
}

// ClampGSO lowers the GSO size of a super-frame so that each segment's IP
// datagram fits mtu, and reports whether it changed it. The frame itself
// is not touched: the device (or Segment) cuts it into more, smaller
// segments. A frame whose headers alone leave no room is left as it is.
func ClampGSO(frame []byte, vh header.VirtioNet, mtu int) bool {
	if !vh.IsValid() || !vh.IsGSO() {
		return false
	}
	var s superFrame
	if s.parse(frame, vh) != nil {
		return false
	}
	room := mtu - (s.hdrLen - s.l3)
	if room <= 0 || s.mss <= room {
		return false
	}
	binary.LittleEndian.PutUint16(vh[4:], uint16(room))
	return true
}
