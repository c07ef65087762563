package vlan

import "github.com/vswitchd/vswitchd/header"

// ID is a VLAN identifier (VID) inside the switch: a network, an access
// port's VLAN, a trunk's member. Valid IDs are 1–MaxID; 0 means none (the
// null VID of priority tags, IEEE 802.1Q-2018 §9.6). On the wire a VID is
// the low 12 bits of a tag's TCI (header.Parsed.TCI).
type ID uint16

// MaxID is the highest usable VLAN ID; 4095 is reserved.
const MaxID ID = header.MaxVID

// Valid reports whether id is a usable VLAN, 1–MaxID.
func (id ID) Valid() bool { return id >= 1 && id <= MaxID }
