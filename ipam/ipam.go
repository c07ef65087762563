// Package ipam allocates IPv4 subnets for networks and addresses for
// endpoints, as Docker's default IPAM does: a network without --subnet
// gets the first free subnet of the default pools that overlaps neither
// another network nor a route of the host, its gateway is the first host
// address, and endpoints get the lowest free address.
//
// The entry points are FreeSubnet and NewSubnet. Pure logic.
package ipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// Pool is a range of subnets of one size.
type Pool struct {
	Base netip.Prefix
	Bits int // prefix length of the subnets cut from Base
}

// DefaultPools are Docker's default address pools (moby
// ipamutils.DefaultPools): 172.17–172.31/16 as /16s, 192.168.0.0/16 as /20s.
var DefaultPools = []Pool{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Bits: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/16"), Bits: 16},
	{Base: netip.MustParsePrefix("172.19.0.0/16"), Bits: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Bits: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/14"), Bits: 16},
	{Base: netip.MustParsePrefix("172.28.0.0/14"), Bits: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Bits: 20},
}

// Errors.
var (
	ErrExhausted = errors.New("no free address")
	ErrNoSubnet  = errors.New("no free subnet in the address pools")
)

// FreeSubnet returns the first subnet of pools that overlaps none of used.
func FreeSubnet(pools []Pool, used []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		step := uint64(1) << (32 - p.Bits)
		base := toUint(p.Base.Masked().Addr())
		n := uint64(1) << (p.Bits - p.Base.Bits())
		for i := range n {
			cand := netip.PrefixFrom(fromUint(uint32(uint64(base)+i*step)), p.Bits)
			if !overlapsAny(cand, used) {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, ErrNoSubnet
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

// ParseSubnet parses an IPv4 CIDR for a network: it must be canonical
// (no host bits) and leave room for a gateway and at least one endpoint.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %q: not a CIDR (like 10.1.0.0/24)", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q: only IPv4 subnets are supported", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("subnet %q: host bits set (did you mean %s?)", s, p.Masked())
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("subnet %q: too small (at most /30)", s)
	}
	if r := Reserved(p); r != "" {
		return netip.Prefix{}, fmt.Errorf("subnet %q: overlaps %s, which no network can use", s, r)
	}
	return p, nil
}

// reserved are the IPv4 blocks a network's subnet may not overlap: their
// addresses are never a host's on a link (RFC 6890).
var reserved = []struct {
	p    netip.Prefix
	name string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "0.0.0.0/8 (this network)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "127.0.0.0/8 (loopback)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "224.0.0.0/4 (multicast)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "240.0.0.0/4 (reserved, and broadcast)"},
}

// Reserved names the reserved block p overlaps (loopback, this network,
// multicast, class E and broadcast), or returns "".
func Reserved(p netip.Prefix) string {
	for _, r := range reserved {
		if r.p.Overlaps(p) {
			return r.name
		}
	}
	return ""
}

// Subnet hands out the addresses of one network. It is not safe for
// concurrent use; the daemon serialises changes.
type Subnet struct {
	prefix  netip.Prefix
	gateway netip.Addr
	used    map[netip.Addr]bool
}

// NewSubnet returns an allocator for prefix with gateway reserved. An
// invalid gateway means the first host address.
func NewSubnet(prefix netip.Prefix, gateway netip.Addr) (*Subnet, error) {
	first, last := hostRange(prefix)
	if !gateway.IsValid() {
		gateway = first
	}
	if !prefix.Contains(gateway) || gateway.Less(first) || last.Less(gateway) {
		return nil, fmt.Errorf("gateway %s is not a host address of %s", gateway, prefix)
	}
	return &Subnet{prefix: prefix, gateway: gateway, used: map[netip.Addr]bool{gateway: true}}, nil
}

// Prefix returns the subnet.
func (s *Subnet) Prefix() netip.Prefix { return s.prefix }

// Gateway returns the reserved gateway address.
func (s *Subnet) Gateway() netip.Addr { return s.gateway }

// Allocate returns the lowest free host address.
func (s *Subnet) Allocate() (netip.Addr, error) {
	first, last := hostRange(s.prefix)
	for a := first; !last.Less(a); a = a.Next() {
		if !s.used[a] {
			s.used[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in %s", ErrExhausted, s.prefix)
}

// AllocateIn returns the lowest free host address of the subnet inside r
// (Docker's --ip-range), which must lie within the subnet.
func (s *Subnet) AllocateIn(r netip.Prefix) (netip.Addr, error) {
	first, last := hostRange(s.prefix)
	lo, hi := r.Masked().Addr(), lastOf(r)
	if first.Less(lo) {
		first = lo
	}
	if hi.Less(last) {
		last = hi
	}
	for a := first; a.IsValid() && !last.Less(a); a = a.Next() {
		if !s.used[a] {
			s.used[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in ip-range %s", ErrExhausted, r)
}

// lastOf returns the last address of an IPv4 prefix.
func lastOf(p netip.Prefix) netip.Addr {
	return fromUint(toUint(p.Masked().Addr()) | uint32(uint64(1)<<(32-p.Bits())-1))
}

// Reserve marks a specific address used; it must be a free host address.
func (s *Subnet) Reserve(a netip.Addr) error {
	first, last := hostRange(s.prefix)
	switch {
	case !s.prefix.Contains(a):
		return fmt.Errorf("address %s is outside the subnet %s", a, s.prefix)
	case a.Less(first) || last.Less(a):
		return fmt.Errorf("address %s is the network or broadcast address of %s", a, s.prefix)
	case a == s.gateway:
		return fmt.Errorf("address %s is the gateway of %s", a, s.prefix)
	case s.used[a]:
		return fmt.Errorf("address %s is already in use", a)
	}
	s.used[a] = true
	return nil
}

// Release frees an address (the gateway stays reserved).
func (s *Subnet) Release(a netip.Addr) {
	if a != s.gateway {
		delete(s.used, a)
	}
}

// hostRange returns the first and last host addresses of p.
func hostRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	base := toUint(p.Masked().Addr())
	size := uint32(1) << (32 - p.Bits())
	return fromUint(base + 1), fromUint(base + size - 2)
}

func toUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromUint(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
