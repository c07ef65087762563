package header

import (
	"encoding/binary"
	"net/netip"
)

// ARP operation codes (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARPLen is the length of an ARP packet for Ethernet and IPv4.
const ARPLen = 28

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24
)

// ARP is an RFC 826 ARP packet for Ethernet hardware and IPv4 protocol
// addresses; other combinations are not valid.
type ARP []byte

// ARPFields holds the values Encode writes.
type ARPFields struct {
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   netip.Addr // IPv4
}

// IsValid reports whether a is long enough and describes Ethernet/IPv4.
func (a ARP) IsValid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[arpHType:]) == 1 &&
		binary.BigEndian.Uint16(a[arpPType:]) == EtherTypeIPv4 &&
		a[arpHLen] == 6 && a[arpPLen] == 4
}

// Op returns the operation (ARPRequest or ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[arpSHA : arpSHA+6]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpSPA : arpSPA+4])) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[arpTHA : arpTHA+6]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpTPA : arpTPA+4])) }

// Encode writes a complete Ethernet/IPv4 ARP packet into a, which must be at
// least ARPLen long. Non-IPv4 addresses are written as 0.0.0.0.
func (a ARP) Encode(f *ARPFields) {
	binary.BigEndian.PutUint16(a[arpHType:], 1)
	binary.BigEndian.PutUint16(a[arpPType:], EtherTypeIPv4)
	a[arpHLen] = 6
	a[arpPLen] = 4
	binary.BigEndian.PutUint16(a[arpOp:], f.Op)
	copy(a[arpSHA:], f.SenderMAC[:])
	copy(a[arpTHA:], f.TargetMAC[:])
	putAddr4(a[arpSPA:], f.SenderIP)
	putAddr4(a[arpTPA:], f.TargetIP)
}

func putAddr4(b []byte, ip netip.Addr) {
	if ip.Is4() {
		a := ip.As4()
		copy(b[:4], a[:])
		return
	}
	clear(b[:4])
}
