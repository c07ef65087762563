package header

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (IANA).
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

const (
	v4VerIHL   = 0
	v4TOS      = 1
	v4TotalLen = 2
	v4ID       = 4
	v4FlagsOff = 6
	v4TTL      = 8
	v4Proto    = 9
	v4Csum     = 10
	v4Src      = 12
	v4Dst      = 16
)

// IPv4 flag bits in the flags/fragment-offset word (RFC 791 §3.1).
const (
	IPv4FlagDF uint16 = 0x4000
	IPv4FlagMF uint16 = 0x2000
)

// IPv4 is an RFC 791 IPv4 header, options included.
type IPv4 []byte

// IPv4Fields holds the values Encode writes. The header is written without
// options; Encode computes the header checksum.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // IPv4FlagDF, IPv4FlagMF
	FragOffset  uint16 // in 8-byte units
	TTL         uint8
	Protocol    uint8
	Src, Dst    netip.Addr
}

// IsValid reports whether b is a well-formed IPv4 header: version 4, a
// header length of at least 20 bytes that fits, and a total length that
// covers the header and does not exceed len(b).
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinLen || b[v4VerIHL]>>4 != 4 {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinLen && hl <= len(b) && tl >= hl && tl <= len(b)
}

// Version returns the IP version field (4 for a valid header).
func (b IPv4) Version() uint8 { return b[v4VerIHL] >> 4 }

// HeaderLength returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLength() int { return int(b[v4VerIHL]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[v4TOS] }

// TotalLength returns the datagram length in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[v4TotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[v4ID:]) }

// Flags returns the DF and MF bits.
func (b IPv4) Flags() uint16 { return binary.BigEndian.Uint16(b[v4FlagsOff:]) & 0xe000 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[v4FlagsOff:]) & 0x1fff * 8
}

// More reports whether the MF (more fragments) bit is set.
func (b IPv4) More() bool { return b.Flags()&IPv4FlagMF != 0 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[v4TTL] }

// Protocol returns the payload's IP protocol number.
func (b IPv4) Protocol() uint8 { return b[v4Proto] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[v4Csum:]) }

// Src returns the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[v4Src : v4Src+4])) }

// Dst returns the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[v4Dst : v4Dst+4])) }

// Payload returns the bytes after the header up to TotalLength. It is valid
// only when IsValid is true.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetTotalLength sets the datagram length.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[v4TotalLen:], n) }

// SetID sets the identification field.
func (b IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(b[v4ID:], id) }

// SetTTL sets the time to live.
func (b IPv4) SetTTL(t uint8) { b[v4TTL] = t }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[v4Csum:], c) }

// SetSrc sets the source address; a must be IPv4.
func (b IPv4) SetSrc(a netip.Addr) { putAddr4(b[v4Src:], a) }

// SetDst sets the destination address; a must be IPv4.
func (b IPv4) SetDst(a netip.Addr) { putAddr4(b[v4Dst:], a) }

// CalculateChecksum returns the checksum the header should carry (the
// checksum field itself is treated as zero).
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	s := Checksum(b[:v4Csum], 0)
	s = Checksum(b[v4Csum+2:hl], s)
	return ^s
}

// IsChecksumValid reports whether the header checksum is correct.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// PseudoHeaderChecksum returns the non-inverted one's-complement sum of
// the RFC 793/768 pseudo-header for an L4 segment of length l4len.
func (b IPv4) PseudoHeaderChecksum(l4len uint16) uint16 {
	return PseudoHeaderChecksum(b.Protocol(), b[v4Src:v4Src+4], b[v4Dst:v4Dst+4], l4len)
}

// Encode writes a 20-byte header from f into b and sets its checksum.
func (b IPv4) Encode(f *IPv4Fields) {
	b[v4VerIHL] = 0x45
	b[v4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[v4TotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[v4ID:], f.ID)
	binary.BigEndian.PutUint16(b[v4FlagsOff:], f.Flags&0xe000|(f.FragOffset&0x1fff))
	b[v4TTL] = f.TTL
	b[v4Proto] = f.Protocol
	b.SetChecksum(0)
	putAddr4(b[v4Src:], f.Src)
	putAddr4(b[v4Dst:], f.Dst)
	b.SetChecksum(b.CalculateChecksum())
}

// Offsets of the IPv4 header fields that NAT rewrites in place with
// incremental checksum updates (RFC 1624), where it works on raw words.
const (
	IPv4ChecksumOffset = v4Csum
	IPv4SrcOffset      = v4Src
	IPv4DstOffset      = v4Dst
)
