package vxlan

import (
	"encoding/binary"
	"math/bits"

	"github.com/vswitchd/vswitchd/header"
)

// protoSCTP and protoUDPLite carry ports where TCP and UDP do.
const (
	protoSCTP    = 132
	protoUDPLite = 136
)

// flowHash returns a hash of the flow an inner frame belongs to, whose
// EtherType is at frame[et:et+2] (12 untagged, 16 with one tag): source
// and destination addresses, protocol and ports of an IPv4 or IPv6 packet
// (ports only for TCP, UDP, SCTP and UDP-Lite, and not in IP fragments, so
// every fragment of a datagram hashes alike), else the MACs and EtherType.
// It reads at fixed offsets, parses no options or extension headers, and is
// keyed by seed so that the spread cannot be predicted from outside. Every
// frame of a flow hashes alike, which keeps the flow on one outer source
// port (RFC 7348 §5).
func flowHash(frame []byte, et int, seed uint64) uint64 {
	h := seed
	if len(frame) < et+2 {
		return fmix(h ^ uint64(len(frame)))
	}
	l3 := frame[et+2:]
	switch binary.BigEndian.Uint16(frame[et:]) {
	case header.EtherTypeIPv4:
		if len(l3) < header.IPv4MinLen {
			break
		}
		proto := l3[9]
		h = mix(h, binary.BigEndian.Uint64(l3[12:20]))
		ports := uint64(0)
		ihl := int(l3[0]&0x0f) * 4
		if binary.BigEndian.Uint16(l3[6:])&0x3fff == 0 && hasPorts(proto) && len(l3) >= ihl+4 && ihl >= header.IPv4MinLen {
			ports = uint64(binary.BigEndian.Uint32(l3[ihl:]))
		}
		return fmix(mix(h, uint64(proto)<<32|ports))
	case header.EtherTypeIPv6:
		if len(l3) < header.IPv6Len {
			break
		}
		nh := l3[6]
		h = mix(h, binary.BigEndian.Uint64(l3[8:]))
		h = mix(h, binary.BigEndian.Uint64(l3[16:]))
		h = mix(h, binary.BigEndian.Uint64(l3[24:]))
		h = mix(h, binary.BigEndian.Uint64(l3[32:]))
		ports := uint64(0)
		if hasPorts(nh) && len(l3) >= header.IPv6Len+4 {
			ports = uint64(binary.BigEndian.Uint32(l3[header.IPv6Len:]))
		}
		return fmix(mix(h, uint64(nh)<<32|ports))
	}
	if len(frame) < 12 {
		return fmix(h)
	}
	h = mix(h, binary.BigEndian.Uint64(frame[0:8]))
	h = mix(h, uint64(binary.BigEndian.Uint32(frame[8:12]))<<16|uint64(binary.BigEndian.Uint16(frame[et:])))
	return fmix(h)
}

func hasPorts(proto uint8) bool {
	return proto == header.ProtoTCP || proto == header.ProtoUDP || proto == protoSCTP || proto == protoUDPLite
}

// mix folds v into h (one multiply-rotate round, as in xxHash64).
func mix(h, v uint64) uint64 {
	h ^= bits.RotateLeft64(v*0xc2b2ae3d27d4eb4f, 31) * 0x9e3779b97f4a7c15
	return bits.RotateLeft64(h, 27)*0x9e3779b97f4a7c15 + 0x85ebca77c2b2ae63
}

// fmix is the MurmurHash3 64-bit finaliser: every input bit affects every
// output bit.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// pick maps a flow hash to one of n source sockets (Lemire's
// multiply-shift reduction of the hash's top 32 bits).
func pick(h uint64, n int) int {
	return int((h >> 32) * uint64(n) >> 32)
}
