package header

import "encoding/binary"

// EtherType values vswitchd understands (IEEE 802 numbers).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer tag (C-TAG)
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeQinQ uint16 = 0x88a8 // IEEE 802.1ad service tag (S-TAG)
)

// EthernetLen is the length of an untagged Ethernet II header.
const EthernetLen = 14

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
)

// Ethernet is an Ethernet II header: destination, source, EtherType.
type Ethernet []byte

// EthernetFields holds the values Encode writes.
type EthernetFields struct {
	Dst, Src MAC
	Type     uint16
}

// IsValid reports whether e holds at least a full header.
func (e Ethernet) IsValid() bool { return len(e) >= EthernetLen }

// Dst returns the destination MAC.
func (e Ethernet) Dst() MAC { return MAC(e[ethDst : ethDst+6]) }

// Src returns the source MAC.
func (e Ethernet) Src() MAC { return MAC(e[ethSrc : ethSrc+6]) }

// Type returns the EtherType (or TPID when the frame is tagged).
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// SetDst sets the destination MAC.
func (e Ethernet) SetDst(m MAC) { copy(e[ethDst:], m[:]) }

// SetSrc sets the source MAC.
func (e Ethernet) SetSrc(m MAC) { copy(e[ethSrc:], m[:]) }

// SetType sets the EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[ethType:], t) }

// Encode writes all fields of f into e, which must be at least EthernetLen long.
func (e Ethernet) Encode(f *EthernetFields) {
	e.SetDst(f.Dst)
	e.SetSrc(f.Src)
	e.SetType(f.Type)
}
