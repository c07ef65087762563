package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6Len is the length of the fixed IPv6 header (RFC 8200 §3).
const IPv6Len = 40

// IPv6 extension header numbers that Decode skips (RFC 8200 §4).
const (
	ipv6HopByHop    uint8 = 0
	ipv6Routing     uint8 = 43
	ipv6Fragment    uint8 = 44
	ipv6DestOptions uint8 = 60
)

// IPv6 is the fixed RFC 8200 IPv6 header.
type IPv6 []byte

// IPv6Fields holds the values Encode writes.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      netip.Addr
}

// IsValid reports whether b holds a version-6 header whose payload fits.
func (b IPv6) IsValid() bool {
	return len(b) >= IPv6Len && b[0]>>4 == 6 && IPv6Len+int(b.PayloadLength()) <= len(b)
}

// PayloadLength returns the payload length (extension headers included).
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// NextHeader returns the next header number.
func (b IPv6) NextHeader() uint8 { return b[6] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[7] }

// Src returns the source address.
func (b IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(b[8:24])) }

// Dst returns the destination address.
func (b IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(b[24:40])) }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(h uint8) { b[7] = h }

// SetPayloadLength sets the payload length.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[4:], n) }

// PseudoHeaderChecksum returns the non-inverted checksum of the RFC 8200 §8.1
// pseudo-header for an upper-layer packet of length l4len and protocol proto.
func (b IPv6) PseudoHeaderChecksum(proto uint8, l4len uint16) uint16 {
	return PseudoHeaderChecksum(proto, b[8:24], b[24:40], l4len)
}

// Encode writes the fixed header from f into b.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b, 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], f.PayloadLength)
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	s, d := f.Src.As16(), f.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}
