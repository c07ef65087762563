package header

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors returned by Decode. They are sentinels: Decode never allocates.
var (
	// ErrTruncated means the frame is shorter than an Ethernet header (or a
	// VLAN tag it announces). Nothing but Len is valid.
	ErrTruncated = errors.New("frame truncated")
	// ErrMalformedL3 means the L2 fields are valid but the ARP or IP header
	// is not; L3Off is set and L4Off is 0.
	ErrMalformedL3 = errors.New("malformed network header")
	// ErrMalformedL4 means the IP header is valid but the TCP, UDP or ICMP
	// header it announces is not; L4Off is 0.
	ErrMalformedL4 = errors.New("malformed transport header")
)

// MaxTags is the number of stacked VLAN tags Decode records (802.1ad QinQ).
const MaxTags = 2

// Parsed summarises one frame: where each header starts and the fields the
// switch decides on. One Parsed is reused for every frame a worker handles;
// Decode overwrites every field, so no reset is needed.
type Parsed struct {
	// Len is the frame length in bytes.
	Len int
	// Dst and Src are the Ethernet addresses.
	Dst, Src MAC
	// Tags is the number of VLAN tags present (0 to MaxTags); TPID[i] and
	// TCI[i] describe them, outermost first.
	Tags int
	TPID [MaxTags]uint16
	TCI  [MaxTags]uint16
	// EtherType is the type after all recorded tags.
	EtherType uint16
	// L3Off is the offset of the ARP or IP header, 0 if EtherType is
	// something else.
	L3Off int
	// L3Valid reports that the ARP or IP header at L3Off is well formed
	// (ARP.IsValid, IPv4/IPv6 IsValid): later stages need not check again.
	L3Valid bool
	// IPVersion is 4 or 6 for IP frames, 0 otherwise.
	IPVersion uint8
	// SrcIP and DstIP are the IP addresses (or, for ARP, the sender and
	// target protocol addresses).
	SrcIP, DstIP netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit.
	TTL uint8
	// Proto is the transport protocol (after IPv6 extension headers).
	Proto uint8
	// IPID, FragOff (in bytes) and MoreFrags describe IPv4 fragmentation.
	// Fragment is true for any fragment, first or not.
	IPID      uint16
	FragOff   uint16
	MoreFrags bool
	Fragment  bool
	// L4Off is the offset of the TCP/UDP/ICMP header; 0 for non-first
	// fragments, other protocols, or a malformed L4 header.
	L4Off int
	// PayloadOff is the offset of the L4 payload (after the TCP, UDP or
	// ICMP header); 0 when L4Off is 0.
	PayloadOff int
	// L3End is the offset just past the IP datagram (L3Off + total
	// length), which may be less than Len when the frame is padded.
	L3End int
	// SrcPort and DstPort are the TCP/UDP ports; for ICMP echo both hold
	// the identifier.
	SrcPort, DstPort uint16
	// TCPFlags holds the TCP flag bits.
	TCPFlags uint8
	// ICMPType and ICMPCode hold the ICMPv4 type and code.
	ICMPType, ICMPCode uint8
	// ARPOp is the ARP operation for ARP frames.
	ARPOp uint16
}

// VID returns the outer tag's VLAN ID, or 0 for an untagged frame.
func (p *Parsed) VID() uint16 {
	if p.Tags == 0 {
		return 0
	}
	return p.TCI[0] & 0x0fff
}

// Decode parses frame into p. It never allocates. A nil error means every
// header present was well formed; the ErrMalformed errors still leave the
// L2 fields (and, for ErrMalformedL4, the L3 fields) valid.
func (p *Parsed) Decode(frame []byte) error {
	*p = Parsed{Len: len(frame)}
	if len(frame) < EthernetLen {
		return ErrTruncated
	}
	p.Dst = MAC(frame[0:6])
	p.Src = MAC(frame[6:12])
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for IsTPID(et) {
		if len(frame) < off+2+VLANTagLen {
			return ErrTruncated
		}
		tci := binary.BigEndian.Uint16(frame[off+2:])
		if p.Tags < MaxTags {
			p.TPID[p.Tags] = et
			p.TCI[p.Tags] = tci
			p.Tags++
		} else {
			break // deeper tags stay payload
		}
		off += VLANTagLen
		et = binary.BigEndian.Uint16(frame[off:])
	}
	off += 2
	p.EtherType = et
	switch et {
	case EtherTypeARP:
		p.L3Off = off
		a := ARP(frame[off:])
		if !a.IsValid() {
			return ErrMalformedL3
		}
		p.L3Valid = true
		p.ARPOp = a.Op()
		p.SrcIP = a.SenderIP()
		p.DstIP = a.TargetIP()
		return nil
	case EtherTypeIPv4:
		p.L3Off = off
		return p.decodeIPv4(frame, off)
	case EtherTypeIPv6:
		p.L3Off = off
		return p.decodeIPv6(frame, off)
	}
	return nil
}

func (p *Parsed) decodeIPv4(frame []byte, off int) error {
	ip := IPv4(frame[off:])
	if !ip.IsValid() {
		return ErrMalformedL3
	}
	p.L3Valid = true
	p.IPVersion = 4
	p.SrcIP = ip.Src()
	p.DstIP = ip.Dst()
	p.TTL = ip.TTL()
	p.Proto = ip.Protocol()
	p.IPID = ip.ID()
	p.FragOff = ip.FragmentOffset()
	p.MoreFrags = ip.More()
	p.Fragment = p.FragOff != 0 || p.MoreFrags
	p.L3End = off + int(ip.TotalLength())
	if p.FragOff != 0 {
		return nil // no L4 header in a non-first fragment
	}
	return p.decodeL4(frame[:p.L3End], off+ip.HeaderLength())
}

func (p *Parsed) decodeIPv6(frame []byte, off int) error {
	ip := IPv6(frame[off:])
	if !ip.IsValid() {
		return ErrMalformedL3
	}
	p.IPVersion = 6
	p.SrcIP = ip.Src()
	p.DstIP = ip.Dst()
	p.TTL = ip.HopLimit()
	p.L3End = off + IPv6Len + int(ip.PayloadLength())
	next := ip.NextHeader()
	l4 := off + IPv6Len
	for i := 0; i < 8; i++ { // bounded walk of extension headers
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOptions:
			if l4+8 > p.L3End {
				return ErrMalformedL3
			}
			next = frame[l4]
			l4 += (int(frame[l4+1]) + 1) * 8
			continue
		case ipv6Fragment:
			if l4+8 > p.L3End {
				return ErrMalformedL3
			}
			next = frame[l4]
			fo := binary.BigEndian.Uint16(frame[l4+2:])
			p.FragOff = fo &^ 7
			p.MoreFrags = fo&1 != 0
			p.IPID = uint16(binary.BigEndian.Uint32(frame[l4+4:]))
			p.Fragment = true
			l4 += 8
			continue
		}
		break
	}
	if l4 > p.L3End {
		return ErrMalformedL3
	}
	p.L3Valid = true
	p.Proto = next
	if p.FragOff != 0 {
		return nil
	}
	return p.decodeL4(frame[:p.L3End], l4)
}

// decodeL4 parses the transport header at off; frame ends at the IP
// datagram's end.
func (p *Parsed) decodeL4(frame []byte, off int) error {
	b := frame[off:]
	switch p.Proto {
	case ProtoTCP:
		t := TCP(b)
		if !t.IsValid() {
			return ErrMalformedL4
		}
		p.SrcPort, p.DstPort = t.SrcPort(), t.DstPort()
		p.TCPFlags = t.Flags()
		p.L4Off = off
		p.PayloadOff = off + t.DataOffset()
	case ProtoUDP:
		u := UDP(b)
		// A GSO super-frame's UDP length may not match; accept the
		// header as long as it is present.
		if len(u) < UDPLen {
			return ErrMalformedL4
		}
		p.SrcPort, p.DstPort = u.SrcPort(), u.DstPort()
		p.L4Off = off
		p.PayloadOff = off + UDPLen
	case ProtoICMP:
		if p.IPVersion != 4 {
			return nil
		}
		c := ICMPv4(b)
		if !c.IsValid() {
			return ErrMalformedL4
		}
		p.ICMPType, p.ICMPCode = c.Type(), c.Code()
		if p.ICMPType == ICMPv4Echo || p.ICMPType == ICMPv4EchoReply {
			p.SrcPort, p.DstPort = c.Ident(), c.Ident()
		}
		p.L4Off = off
		p.PayloadOff = off + ICMPv4MinLen
	case ProtoICMPv6:
		if len(b) < 4 {
			return ErrMalformedL4
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.L4Off = off
		p.PayloadOff = off + 4
	}
	return nil
}
