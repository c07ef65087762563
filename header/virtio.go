package header

import "encoding/binary"

// VirtioNetLen is the length of the legacy struct virtio_net_hdr that a TAP
// opened with IFF_VNET_HDR puts before every frame (virtio 1.2 §5.1.6).
const VirtioNetLen = 10

// Virtio-net header flags.
const (
	VirtioNetFlagNeedsCsum uint8 = 1 // L4 checksum left to fill: CHECKSUM_PARTIAL
	VirtioNetFlagDataValid uint8 = 2 // checksum already verified
)

// Virtio-net GSO types.
const (
	VirtioNetGSONone  uint8 = 0
	VirtioNetGSOTCPv4 uint8 = 1
	VirtioNetGSOUDP   uint8 = 3
	VirtioNetGSOTCPv6 uint8 = 4
	VirtioNetGSOUDPL4 uint8 = 5
	VirtioNetGSOECN   uint8 = 0x80
)

// VirtioNet is a little-endian struct virtio_net_hdr. On a TAP, CsumStart and
// HdrLen count from the first byte of the Ethernet frame.
type VirtioNet []byte

// VirtioNetFields holds the values Encode writes.
type VirtioNetFields struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// IsValid reports whether v holds a full header.
func (v VirtioNet) IsValid() bool { return len(v) >= VirtioNetLen }

// Flags returns the flags byte.
func (v VirtioNet) Flags() uint8 { return v[0] }

// GSOType returns the GSO type, ECN bit included.
func (v VirtioNet) GSOType() uint8 { return v[1] }

// HdrLen returns the header-length hint.
func (v VirtioNet) HdrLen() uint16 { return binary.LittleEndian.Uint16(v[2:]) }

// GSOSize returns the segment payload size (MSS) of a GSO frame.
func (v VirtioNet) GSOSize() uint16 { return binary.LittleEndian.Uint16(v[4:]) }

// CsumStart returns where checksumming starts (the L4 header offset).
func (v VirtioNet) CsumStart() uint16 { return binary.LittleEndian.Uint16(v[6:]) }

// CsumOffset returns the checksum field's offset from CsumStart.
func (v VirtioNet) CsumOffset() uint16 { return binary.LittleEndian.Uint16(v[8:]) }

// NeedsCsum reports whether the L4 checksum is left to fill.
func (v VirtioNet) NeedsCsum() bool { return v[0]&VirtioNetFlagNeedsCsum != 0 }

// IsGSO reports whether the frame is a segmentation-offload super-frame.
func (v VirtioNet) IsGSO() bool { return v[1]&^VirtioNetGSOECN != VirtioNetGSONone }

// SetFlags sets the flags byte.
func (v VirtioNet) SetFlags(f uint8) { v[0] = f }

// SetHdrLen sets the header-length hint.
func (v VirtioNet) SetHdrLen(n uint16) { binary.LittleEndian.PutUint16(v[2:], n) }

// SetCsumStart sets the checksum start offset.
func (v VirtioNet) SetCsumStart(n uint16) { binary.LittleEndian.PutUint16(v[6:], n) }

// Clear zeroes the header: no offload, checksum complete.
func (v VirtioNet) Clear() { clear(v[:VirtioNetLen]) }

// Encode writes all fields of f into v.
func (v VirtioNet) Encode(f *VirtioNetFields) {
	v[0] = f.Flags
	v[1] = f.GSOType
	binary.LittleEndian.PutUint16(v[2:], f.HdrLen)
	binary.LittleEndian.PutUint16(v[4:], f.GSOSize)
	binary.LittleEndian.PutUint16(v[6:], f.CsumStart)
	binary.LittleEndian.PutUint16(v[8:], f.CsumOffset)
}

// Shift moves the offsets of a frame whose start moved by delta bytes (+4
// when a VLAN tag is pushed, −4 when one is popped). Offsets of a header
// that asks for no checksum help stay zero.
func (v VirtioNet) Shift(delta int) {
	if v.NeedsCsum() {
		v.SetCsumStart(uint16(int(v.CsumStart()) + delta))
	}
	if h := v.HdrLen(); h != 0 {
		v.SetHdrLen(uint16(int(h) + delta))
	}
}
