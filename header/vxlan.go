package header

import "encoding/binary"

// VXLANLen is the length of the VXLAN header (RFC 7348 §5).
const VXLANLen = 8

// VXLANPort is the UDP destination port IANA assigned to VXLAN (RFC 7348
// §5, "Outer UDP Header").
const VXLANPort = 4789

// VXLANFlagI is the I flag of the VXLAN flags byte: the VNI is valid. RFC
// 7348 §5 says it MUST be set; the other seven bits are reserved.
const VXLANFlagI uint8 = 0x08

// MaxVNI is the largest 24-bit VXLAN Network Identifier.
const MaxVNI = 1<<24 - 1

// VXLANOverhead4 and VXLANOverhead6 are the bytes VXLAN adds in front of an
// inner Ethernet frame's IP packet on an IPv4 or IPv6 underlay: outer IP,
// UDP, VXLAN and the inner Ethernet header (RFC 7348 §4.3). The inner IP MTU
// of an overlay is the underlay MTU minus this.
const (
	VXLANOverhead4 = IPv4MinLen + UDPLen + VXLANLen + EthernetLen
	VXLANOverhead6 = IPv6Len + UDPLen + VXLANLen + EthernetLen
)

// VXLAN is the 8-byte RFC 7348 §5 VXLAN header that follows the outer UDP
// header, followed by the inner Ethernet frame:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|R|R|R|R|I|R|R|R|            Reserved                           |
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
//
// The reserved bits (the seven R flags and the two reserved fields) MUST be
// zero on transmission and MUST be ignored on receipt; the getters below
// ignore them and Encode writes them as zero.
type VXLAN []byte

// VXLANFields holds the values Encode writes.
type VXLANFields struct {
	// Flags is the flags byte; RFC 7348 requires exactly VXLANFlagI.
	Flags uint8
	// VNI is the 24-bit VXLAN Network Identifier; higher bits are dropped.
	VNI uint32
}

// IsValid reports whether v holds a full header with the I flag set (RFC
// 7348 §5: a packet without it carries no valid VNI). Reserved bits do not
// matter.
func (v VXLAN) IsValid() bool { return len(v) >= VXLANLen && v[0]&VXLANFlagI != 0 }

// Flags returns the flags byte, reserved bits included.
func (v VXLAN) Flags() uint8 { return v[0] }

// HasVNI reports whether the I flag is set.
func (v VXLAN) HasVNI() bool { return v[0]&VXLANFlagI != 0 }

// VNI returns the 24-bit VXLAN Network Identifier (bytes 4–6).
func (v VXLAN) VNI() uint32 { return binary.BigEndian.Uint32(v[4:]) >> 8 }

// Payload returns the inner Ethernet frame.
func (v VXLAN) Payload() []byte { return v[VXLANLen:] }

// SetFlags sets the flags byte.
func (v VXLAN) SetFlags(f uint8) { v[0] = f }

// SetVNI sets the VNI, keeping the reserved byte that follows it.
func (v VXLAN) SetVNI(vni uint32) {
	binary.BigEndian.PutUint32(v[4:], vni<<8|uint32(v[7]))
}

// Encode writes a header from f into v, reserved fields zero.
func (v VXLAN) Encode(f *VXLANFields) {
	binary.BigEndian.PutUint32(v[0:], uint32(f.Flags)<<24)
	binary.BigEndian.PutUint32(v[4:], f.VNI<<8)
}
