package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the RFC 1071 one's-complement sum of b added to initial,
// folded to 16 bits and not inverted. An odd final byte is padded with zero.
// Chain calls to sum discontiguous data, but only the last chunk may have odd
// length. Invert the result to get the value a header carries.
func Checksum(b []byte, initial uint16) uint16 {
	var acc uint64 = uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), 0)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), carry)
		acc += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return fold64(acc)
}

func fold64(acc uint64) uint16 {
	s := acc>>32 + acc&0xffffffff // ≤ 33 bits
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// ChecksumCombine returns the one's-complement sum of two partial sums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeaderChecksum returns the non-inverted one's-complement sum of the
// TCP/UDP pseudo-header: source and destination addresses (4 or 16 bytes
// each), protocol and upper-layer length (RFC 793 §3.1, RFC 8200 §8.1). This
// is the value a CHECKSUM_PARTIAL frame carries in its L4 checksum field.
func PseudoHeaderChecksum(proto uint8, src, dst []byte, l4len uint16) uint16 {
	s := Checksum(src, 0)
	s = Checksum(dst, s)
	s = ChecksumCombine(s, uint16(proto))
	return ChecksumCombine(s, l4len)
}

// ChecksumUpdate16 returns checksum field hc after a covered 16-bit word
// changes from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). Use it
// on complete, inverted checksums; a CHECKSUM_PARTIAL pseudo-header sum
// needs PartialChecksumUpdate16.
func ChecksumUpdate16(hc, old, new uint16) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^hc, ^old), new)
}

// ChecksumUpdate32 is ChecksumUpdate16 for a 32-bit field (an IPv4 address).
func ChecksumUpdate32(hc uint16, old, new uint32) uint16 {
	s := ChecksumCombine(^hc, ^uint16(old>>16))
	s = ChecksumCombine(s, ^uint16(old))
	s = ChecksumCombine(s, uint16(new>>16))
	s = ChecksumCombine(s, uint16(new))
	return ^s
}

// PartialChecksumUpdate16 updates a non-inverted pseudo-header sum p, as
// found in the L4 checksum field of a frame whose checksum is left to the
// receiver (virtio NEEDS_CSUM), when a pseudo-header word changes:
// p' = p + ~old + new (Linux inet_proto_csum_replace4 with pseudohdr).
func PartialChecksumUpdate16(p, old, new uint16) uint16 {
	return ChecksumCombine(ChecksumCombine(p, ^old), new)
}

// PartialChecksumUpdate32 is PartialChecksumUpdate16 for a 32-bit field.
func PartialChecksumUpdate32(p uint16, old, new uint32) uint16 {
	s := ChecksumCombine(p, ^uint16(old>>16))
	s = ChecksumCombine(s, ^uint16(old))
	s = ChecksumCombine(s, uint16(new>>16))
	return ChecksumCombine(s, uint16(new))
}
