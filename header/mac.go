package header

import (
	"errors"
	"fmt"
	"net"
)

// MAC is an IEEE 802 MAC-48 address. It is comparable and usable as a map
// key without allocation; net.HardwareAddr appears only at the netlink and
// CLI edges.
type MAC [6]byte

// Broadcast is the all-ones MAC address ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == Broadcast }

// IsMulticast reports whether the group bit (I/G, the least significant bit
// of the first octet) is set. Broadcast is also multicast.
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats m as six colon-separated lower-case hex octets.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// HardwareAddr returns m as a newly allocated net.HardwareAddr.
func (m MAC) HardwareAddr() net.HardwareAddr { return append(net.HardwareAddr(nil), m[:]...) }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. Empty text is the
// zero MAC, as for netip.Addr.
func (m *MAC) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = MAC{}
		return nil
	}
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMAC parses a MAC-48 address such as "02:42:ac:11:00:02".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, fmt.Errorf("parse MAC %q: %w", s, err)
	}
	if len(hw) != 6 {
		return MAC{}, fmt.Errorf("parse MAC %q: %w", s, errNotMAC48)
	}
	return MAC(hw), nil
}

var errNotMAC48 = errors.New("not a 6-octet MAC-48 address")
