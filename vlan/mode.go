package vlan

import (
	"errors"
	"fmt"
)

// Mode is a port's VLAN mode, named as in the Open vSwitch Port table's
// vlan_mode column.
type Mode uint8

// Port VLAN modes; see the package comment for what each does.
const (
	Access         Mode = iota // one VLAN, untagged
	Trunk                      // tagged VLANs from Trunks
	NativeTagged               // trunk; untagged ingress → native VLAN, tagged on egress
	NativeUntagged             // trunk; native VLAN untagged both ways
	Dot1QTunnel                // one service VLAN; customer tags kept as payload
	numModes
)

var modeNames = [numModes]string{
	Access:         "access",
	Trunk:          "trunk",
	NativeTagged:   "native-tagged",
	NativeUntagged: "native-untagged",
	Dot1QTunnel:    "dot1q-tunnel",
}

// ErrMode is wrapped by the errors of ParseMode and Policy.Validate for an
// unknown mode.
var ErrMode = errors.New("unknown vlan mode")

// ParseMode parses a mode name: "access", "trunk", "native-tagged",
// "native-untagged" or "dot1q-tunnel".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("parse vlan mode %q: %w", s, ErrMode)
}

// String returns the mode's name as ParseMode accepts it, or "Mode(n)" for
// an unknown value.
func (m Mode) String() string {
	if m < numModes {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) {
	if m >= numModes {
		return nil, fmt.Errorf("marshal vlan mode %d: %w", uint8(m), ErrMode)
	}
	return []byte(modeNames[m]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// tagged reports whether m is a trunk-like mode: tagged VLANs from Trunks.
func (m Mode) tagged() bool { return m == Trunk || m == NativeTagged || m == NativeUntagged }
