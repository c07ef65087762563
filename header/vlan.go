package header

import "encoding/binary"

// VLANTagLen is the length of one 802.1Q/802.1ad tag (TPID + TCI).
const VLANTagLen = 4

// MaxVID is the largest usable VLAN ID; 0 means priority-tagged and 4095
// is reserved (IEEE 802.1Q-2018 §9.6, table 9-2).
const MaxVID = 4094

// VLAN is the part of an 802.1Q tag that follows the TPID: the tag control
// information (PCP, DEI, VID) and the encapsulated EtherType. The TPID itself
// sits in the preceding Ethernet type field, as in IEEE 802.1Q-2018 §9.5.
type VLAN []byte

// VLANFields holds the values Encode writes.
type VLANFields struct {
	PCP  uint8 // priority code point, 0–7
	DEI  bool  // drop eligible indicator
	VID  uint16
	Type uint16 // encapsulated EtherType
}

// VLANLen is the length of a VLAN view (TCI + EtherType).
const VLANLen = 4

// IsValid reports whether v holds a TCI and an EtherType.
func (v VLAN) IsValid() bool { return len(v) >= VLANLen }

// TCI returns the 16-bit tag control information.
func (v VLAN) TCI() uint16 { return binary.BigEndian.Uint16(v) }

// VID returns the 12-bit VLAN identifier.
func (v VLAN) VID() uint16 { return v.TCI() & 0x0fff }

// PCP returns the 3-bit priority code point.
func (v VLAN) PCP() uint8 { return uint8(v.TCI() >> 13) }

// DEI returns the drop eligible indicator.
func (v VLAN) DEI() bool { return v.TCI()&0x1000 != 0 }

// Type returns the encapsulated EtherType.
func (v VLAN) Type() uint16 { return binary.BigEndian.Uint16(v[2:]) }

// SetTCI sets the tag control information.
func (v VLAN) SetTCI(tci uint16) { binary.BigEndian.PutUint16(v, tci) }

// SetVID sets the VLAN identifier, keeping PCP and DEI.
func (v VLAN) SetVID(vid uint16) { v.SetTCI(v.TCI()&0xf000 | vid&0x0fff) }

// SetType sets the encapsulated EtherType.
func (v VLAN) SetType(t uint16) { binary.BigEndian.PutUint16(v[2:], t) }

// Encode writes all fields of f into v.
func (v VLAN) Encode(f *VLANFields) {
	v.SetTCI(MakeTCI(f.PCP, f.DEI, f.VID))
	v.SetType(f.Type)
}

// MakeTCI assembles a tag control information word.
func MakeTCI(pcp uint8, dei bool, vid uint16) uint16 {
	tci := uint16(pcp&7)<<13 | vid&0x0fff
	if dei {
		tci |= 0x1000
	}
	return tci
}

// IsTPID reports whether t is an EtherType that introduces a VLAN tag:
// 0x8100 (802.1Q), 0x88a8 (802.1ad) or the pre-standard 0x9100.
func IsTPID(t uint16) bool { return t == EtherTypeVLAN || t == EtherTypeQinQ || t == 0x9100 }
