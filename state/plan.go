package state

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/ipam"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// Requests, validated and turned into new state by the methods below. None
// of them changes s: the daemon adds what they return to a Clone once the
// machine has been changed to match.

// FirstAutoVLAN is where automatically assigned network VLANs start, leaving
// 1–99 for VLANs users number themselves.
const FirstAutoVLAN vlan.ID = 100

// NetworkSpec is a request for a new network. Zero values are defaults: a
// free subnet, its first address as gateway, an assigned VLAN.
type NetworkSpec struct {
	Name     string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	VLAN     vlan.ID
	Internal bool
	// Isolated keeps endpoints from reaching each other (icc=false).
	Isolated bool
	// MTU is the endpoints' MTU (0: router.DefaultMTU, or for an overlay
	// network the payload MTU of its underlay, which the daemon fills in).
	MTU int
	// IPRange limits automatic addresses to a part of the subnet.
	IPRange netip.Prefix
	// Overlay, if set, makes an overlay network (VXLAN); its Port 0
	// means header.VXLANPort.
	Overlay *Overlay
	// Lab names the lab (vswitchctl lab up) that makes the network.
	Lab string
}

// MinMTU and MaxMTU bound a network's MTU: 576, the IPv4 datagram every
// host must accept (RFC 791), and 65535, the largest TAP MTU.
const (
	MinMTU = 576
	MaxMTU = 65535
)

// NewNetwork validates spec and returns the network it makes. used lists
// prefixes an automatic subnet must avoid beyond the state's own (the
// daemon namespace's routes and addresses); hostLeg is the host leg's.
func (s *State) NewNetwork(spec NetworkSpec, used []netip.Prefix, hostLeg netip.Prefix, now time.Time) (*Network, error) {
	if err := netns.ValidateName(spec.Name); err != nil {
		return nil, Errorf(ErrInvalid, "network name: %w", err)
	}
	if o := spec.Overlay; o != nil {
		o = o.Clone()
		if o.Port == 0 {
			o.Port = header.VXLANPort
		}
		if err := validOverlay(o); err != nil {
			return nil, Errorf(ErrInvalid, "%w", err)
		}
		if !spec.Subnet.IsValid() {
			return nil, Errorf(ErrInvalid, "an overlay network needs --subnet: every host of the overlay must use the same one")
		}
		spec.Overlay = o
	}
	if err := validMTU(spec.MTU); err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	if s.Network(spec.Name) != nil {
		return nil, Errorf(ErrConflict, "network %q already exists", spec.Name)
	}
	prefix := spec.Subnet
	if prefix.IsValid() {
		if _, err := ipam.ParseSubnet(prefix.String()); err != nil {
			return nil, Errorf(ErrInvalid, "%w", err)
		}
		if o := s.overlapping(prefix, hostLeg); o != "" {
			return nil, Errorf(ErrConflict, "subnet %s overlaps %s", prefix, o)
		}
	} else {
		all := append(append(s.Subnets(), hostLeg), used...)
		var err error
		if prefix, err = ipam.FreeSubnet(ipam.DefaultPools, all); err != nil {
			return nil, Errorf(ErrConflict, "%w (use --subnet)", err)
		}
	}
	if spec.Gateway.IsValid() && !spec.Gateway.Is4() {
		return nil, Errorf(ErrInvalid, "gateway %s: not an IPv4 address", spec.Gateway)
	}
	sub, err := ipam.NewSubnet(prefix, spec.Gateway)
	if err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	vid := spec.VLAN
	switch {
	case vid != 0 && !vid.Valid():
		return nil, Errorf(ErrInvalid, "vlan %d out of range 1-%d", vid, vlan.MaxID)
	case vid != 0:
		if o := s.networkByVLAN(vid); o != nil {
			return nil, Errorf(ErrConflict, "vlan %d is used by network %q", vid, o.Name)
		}
	default:
		if vid = s.freeVLAN(); vid == 0 {
			return nil, Errorf(ErrConflict, "no free vlan")
		}
	}
	id := s.freeNetworkID()
	if id == 0 {
		return nil, Errorf(ErrConflict, "no free network id")
	}
	n := &Network{
		Lab:  spec.Lab,
		Name: spec.Name, ID: id, VLAN: vid, Subnet: prefix, Gateway: sub.Gateway(),
		MAC: GatewayMAC(id), Internal: spec.Internal, Isolated: spec.Isolated, Created: now.UTC().Truncate(time.Second),
		MTU: spec.MTU, IPRange: spec.IPRange, Overlay: spec.Overlay.Clone(),
	}
	if err := validIPRange(n); err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	if o := n.Overlay; o != nil {
		if other := s.networkByVNI(o.VNI); other != nil {
			return nil, Errorf(ErrConflict, "vni %d is used by network %q", o.VNI, other.Name)
		}
		n.MAC = OverlayGatewayMAC(o.VNI)
	}
	return n, nil
}

// networkByVNI returns the overlay network with VNI vni, or nil.
func (s *State) networkByVNI(vni uint32) *Network {
	for _, n := range s.Networks {
		if n.Overlay != nil && n.Overlay.VNI == vni {
			return n
		}
	}
	return nil
}

func validMTU(mtu int) error {
	if mtu != 0 && (mtu < MinMTU || mtu > MaxMTU) {
		return fmt.Errorf("mtu %d out of range %d-%d", mtu, MinMTU, MaxMTU)
	}
	return nil
}

// validIPRange checks that n's IP range, if any, is a canonical prefix
// inside its subnet.
func validIPRange(n *Network) error {
	r := n.IPRange
	switch {
	case !r.IsValid():
		return nil
	case !r.Addr().Is4() || r.Masked() != r:
		return fmt.Errorf("ip-range %s: not a canonical IPv4 prefix", r)
	case r.Bits() < n.Subnet.Bits() || !n.Subnet.Contains(r.Addr()):
		return fmt.Errorf("ip-range %s is not inside subnet %s", r, n.Subnet)
	}
	return nil
}

// validOverlay checks an overlay's VNI, port, local address and peers.
func validOverlay(o *Overlay) error {
	if o.VNI < 1 || o.VNI > header.MaxVNI {
		return fmt.Errorf("vni %d out of range 1-%d", o.VNI, header.MaxVNI)
	}
	if o.Port == 0 {
		return fmt.Errorf("vxlan port 0: want 1-65535")
	}
	if l := o.Local; l.IsValid() && (l.Is4In6() || l.IsMulticast() || l.IsUnspecified()) {
		return fmt.Errorf("local address %s: not a unicast address", l)
	}
	seen := map[netip.Addr]bool{}
	for _, p := range o.Peers {
		if err := ValidPeer(p, o.Local); err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("peer %s listed twice", p)
		}
		if p.Is6() != o.PeerFamily() {
			return fmt.Errorf("peer %s: not of the other peers' family", p)
		}
		seen[p] = true
	}
	return nil
}

// ValidPeer checks a peer VTEP address: a unicast address, of local's
// family when local is set (all peers of a network share one family,
// which validOverlay checks).
func ValidPeer(p, local netip.Addr) error {
	switch {
	case !p.IsValid() || p.Is4In6():
		return fmt.Errorf("peer %s: not an IP address", p)
	case p.IsUnspecified() || p.IsMulticast() || p == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("peer %s: not a unicast address", p)
	case local.IsValid() && local.Is4() != p.Is4():
		return fmt.Errorf("peer %s: not of the local address %s's family", p, local)
	case p == local:
		return fmt.Errorf("peer %s is the local address", p)
	}
	return nil
}

// PeerFamily reports the address family of an overlay's VTEPs: whether
// they are IPv6. Without a local address or peers it is IPv4.
func (o *Overlay) PeerFamily() (is6 bool) {
	if o.Local.IsValid() {
		return o.Local.Is6()
	}
	return len(o.Peers) > 0 && o.Peers[0].Is6()
}

// WithPeer returns a copy of n with peer added to its overlay's peers.
func (s *State) WithPeer(n *Network, peer netip.Addr) (*Network, error) {
	if n.Overlay == nil {
		return nil, Errorf(ErrInvalid, "network %q is not an overlay network (create it with --vni)", n.Name)
	}
	if err := ValidPeer(peer, n.Overlay.Local); err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	if len(n.Overlay.Peers) > 0 && n.Overlay.PeerFamily() != peer.Is6() {
		return nil, Errorf(ErrInvalid, "peer %s: not of the other peers' family", peer)
	}
	if slices.Contains(n.Overlay.Peers, peer) {
		return nil, Errorf(ErrConflict, "peer %s is already a peer of network %q", peer, n.Name)
	}
	c := *n
	c.Overlay = n.Overlay.Clone()
	c.Overlay.Peers = append(c.Overlay.Peers, peer)
	return &c, nil
}

// WithoutPeer returns a copy of n with peer removed from its overlay's
// peers.
func (s *State) WithoutPeer(n *Network, peer netip.Addr) (*Network, error) {
	if n.Overlay == nil {
		return nil, Errorf(ErrInvalid, "network %q is not an overlay network", n.Name)
	}
	if !slices.Contains(n.Overlay.Peers, peer) {
		return nil, Errorf(ErrNotFound, "%s is not a peer of network %q", peer, n.Name)
	}
	c := *n
	c.Overlay = n.Overlay.Clone()
	c.Overlay.Peers = slices.DeleteFunc(c.Overlay.Peers, func(a netip.Addr) bool { return a == peer })
	return &c, nil
}

// ReplaceNetwork returns a clone of s with n in place of the network of
// the same name.
func (s *State) ReplaceNetwork(n *Network) *State {
	c := s.Clone()
	for i, o := range c.Networks {
		if o.Name == n.Name {
			nn := *n
			nn.Overlay = n.Overlay.Clone()
			c.Networks[i] = &nn
		}
	}
	return c
}

// NewStaticRemote validates a static remote entry: mac of overlay network
// network lives behind vtep. It may replace an entry for the same MAC.
func (s *State) NewStaticRemote(network string, mac header.MAC, vtep netip.Addr) (StaticRemote, error) {
	n := s.Network(network)
	if n == nil {
		return StaticRemote{}, Errorf(ErrNotFound, "network %q not found", network)
	}
	if n.Overlay == nil {
		return StaticRemote{}, Errorf(ErrInvalid, "network %q is not an overlay network: --vtep needs one", network)
	}
	if mac.IsMulticast() || mac.IsZero() {
		return StaticRemote{}, Errorf(ErrInvalid, "mac %s: a static entry needs a unicast address", mac)
	}
	if err := ValidPeer(vtep, n.Overlay.Local); err != nil {
		return StaticRemote{}, Errorf(ErrInvalid, "--vtep: %w", err)
	}
	if len(n.Overlay.Peers) > 0 && n.Overlay.PeerFamily() != vtep.Is6() {
		return StaticRemote{}, Errorf(ErrInvalid, "--vtep %s: not of the peers' family", vtep)
	}
	if mac == n.MAC {
		return StaticRemote{}, Errorf(ErrConflict, "mac %s is network %q's gateway", mac, network)
	}
	for _, e := range s.Endpoints {
		for _, nic := range e.NICs {
			if nic.MAC == mac {
				return StaticRemote{}, Errorf(ErrConflict, "mac %s is endpoint %s's %s, on this host", mac, e.Name, nic.Interface)
			}
		}
	}
	return StaticRemote{Network: network, MAC: mac, VTEP: vtep}, nil
}

// overlapping names what p overlaps among the networks, the host leg and
// the uplink, or returns "".
func (s *State) overlapping(p, hostLeg netip.Prefix) string {
	for _, n := range s.Networks {
		if n.Subnet.Overlaps(p) {
			return fmt.Sprintf("network %q (%s)", n.Name, n.Subnet)
		}
	}
	if hostLeg.IsValid() && hostLeg.Overlaps(p) {
		return fmt.Sprintf("the host leg (%s)", hostLeg)
	}
	if u := s.Uplink; u != nil && u.Address.Masked().Overlaps(p) {
		return fmt.Sprintf("the uplink (%s)", u.Address.Masked())
	}
	return ""
}

func (s *State) networkByVLAN(vid vlan.ID) *Network {
	for _, n := range s.Networks {
		if n.VLAN == vid {
			return n
		}
	}
	return nil
}

func (s *State) freeVLAN() vlan.ID {
	for v := FirstAutoVLAN; v <= vlan.MaxID; v++ {
		if s.networkByVLAN(v) == nil {
			return v
		}
	}
	return 0
}

func (s *State) freeNetworkID() router.NetworkID {
	taken := map[router.NetworkID]bool{}
	for _, n := range s.Networks {
		taken[n.ID] = true
	}
	for id := router.NetworkID(1); id <= router.MaxNetworkID; id++ {
		if !taken[id] {
			return id
		}
	}
	return 0
}

// subnet returns n's address pool with the gateway and every NIC's address
// on n taken.
func (s *State) subnet(n *Network) *ipam.Subnet {
	sub, err := ipam.NewSubnet(n.Subnet, n.Gateway)
	if err != nil {
		panic(fmt.Sprintf("state: network %q: %v (Validate lets no such network in)", n.Name, err))
	}
	for _, e := range s.Endpoints {
		if nic := e.NIC(n.Name); nic != nil && nic.IP.IsValid() {
			sub.Reserve(nic.IP)
		}
	}
	return sub
}

// allocIP returns want, if free in n, or (want invalid) n's lowest free
// address, from its IP range if it has one, skipping avoid (addresses in
// use elsewhere: remote endpoints of an overlay network).
func (s *State) allocIP(n *Network, want netip.Addr, avoid []netip.Addr) (netip.Addr, error) {
	sub := s.subnet(n)
	if !want.IsValid() {
		for _, a := range avoid {
			sub.Reserve(a) // an address outside the subnet or taken: nothing to skip
		}
		var ip netip.Addr
		var err error
		if n.IPRange.IsValid() {
			ip, err = sub.AllocateIn(n.IPRange)
		} else {
			ip, err = sub.Allocate()
		}
		if err != nil {
			return netip.Addr{}, Errorf(ErrConflict, "network %q: %w", n.Name, err)
		}
		return ip, nil
	}
	if !want.Is4() {
		return netip.Addr{}, Errorf(ErrInvalid, "--ip %s: not an IPv4 address", want)
	}
	if err := sub.Reserve(want); err != nil {
		// Taken by another endpoint: a conflict. Outside the subnet,
		// the gateway, the network or broadcast address: bad input.
		kind := ErrInvalid
		if n.Subnet.Contains(want) && want != n.Gateway && want != n.Subnet.Addr() && want != lastAddr(n.Subnet) {
			kind = ErrConflict
		}
		return netip.Addr{}, Errorf(kind, "network %q: %w", n.Name, err)
	}
	return want, nil
}

// EndpointSpec is a request for a new endpoint.
type EndpointSpec struct {
	Name    string
	Network string // may be empty for a trunk
	IP      netip.Addr
	Aliases []string
	Publish []Publish
	Cmd     []string
	Env     []string
	Remove  bool
	// Trunk gives the endpoint a tagged NIC carrying VLANs (empty: all),
	// with Native untagged if set, instead of an access port.
	Trunk  bool
	VLANs  vlan.Set
	Native vlan.ID
	// NetnsPath, if set, attaches to that existing namespace instead of
	// making one (a container runtime's); IfName names the NIC there
	// (default eth0) and MAC fixes its address (default: derived).
	NetnsPath string
	IfName    string
	MAC       header.MAC
	// Hostname, DNS, ExtraHosts and Restart are the Docker options of
	// the same names (see Endpoint).
	Hostname   string
	DNS        []netip.Addr
	ExtraHosts []HostEntry
	Restart    RestartPolicy
	// Avoid are addresses an automatic address must not be: in use
	// elsewhere (remote endpoints of an overlay network).
	Avoid []netip.Addr
	// ContainerID is set for a CNI attachment: the runtime's container
	// (CNI_CONTAINERID); MTU, when not 0, is the first NIC's.
	ContainerID string
	MTU         int
	// User and CapDrop are the Endpoint fields of the same names.
	User    string
	CapDrop []string
	// Lab names the lab that makes the endpoint.
	Lab string
}

// NewEndpoint validates spec and returns the endpoint it makes, with its
// first NIC and its address allocated.
func (s *State) NewEndpoint(spec EndpointSpec, now time.Time) (*Endpoint, error) {
	if err := netns.ValidateName(spec.Name); err != nil {
		return nil, Errorf(ErrInvalid, "endpoint name: %w", err)
	}
	if s.Endpoint(spec.Name) != nil {
		return nil, Errorf(ErrConflict, "endpoint %q already exists", spec.Name)
	}
	if reservedName(spec.Name) {
		return nil, Errorf(ErrInvalid, "endpoint name %q: a name vswitchd's DNS answers itself", spec.Name)
	}
	if o := s.aliasOwner(spec.Name); o != "" {
		return nil, Errorf(ErrConflict, "endpoint name %q is an alias of endpoint %q", spec.Name, o)
	}
	e := &Endpoint{
		Lab:  spec.Lab,
		Name: spec.Name, Cmd: spec.Cmd, Env: spec.Env, Remove: spec.Remove, Publish: spec.Publish,
		Created: now.UTC().Truncate(time.Second), Hostname: spec.Hostname, DNS: spec.DNS,
		ExtraHosts: spec.ExtraHosts, Restart: spec.Restart, ContainerID: spec.ContainerID,
		User: spec.User, CapDrop: spec.CapDrop,
	}
	if spec.ContainerID != "" && spec.NetnsPath == "" {
		return nil, Errorf(ErrInvalid, "a container attachment needs the container's network namespace")
	}
	if strings.ContainsAny(spec.ContainerID, "\x00\n/") || len(spec.ContainerID) > 256 {
		return nil, Errorf(ErrInvalid, "container ID %q: not a container ID", spec.ContainerID)
	}
	if err := validateMTU(spec.MTU); err != nil {
		return nil, err
	}
	if err := validateOptions(e); err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	if spec.Remove && !spec.Restart.IsZero() {
		return nil, Errorf(ErrInvalid, "--rm and --restart %s cannot go together", spec.Restart)
	}
	if spec.NetnsPath != "" {
		if err := ValidNetnsPath(spec.NetnsPath); err != nil {
			return nil, Errorf(ErrInvalid, "%w", err)
		}
		e.NetnsPath = spec.NetnsPath
	} else {
		e.Netns = s.Prefix + spec.Name
		if err := netns.ValidateName(e.Netns); err != nil {
			return nil, Errorf(ErrInvalid, "namespace name: %w", err)
		}
	}
	ifname := spec.IfName
	if ifname == "" {
		ifname = "eth0"
	}
	if err := netns.ValidateIfName(ifname); err != nil {
		return nil, Errorf(ErrInvalid, "interface name: %w", err)
	}
	nic := &NIC{Interface: ifname, Network: spec.Network, Aliases: spec.Aliases, MTU: spec.MTU}
	var n *Network
	if spec.Network != "" {
		if n = s.Network(spec.Network); n == nil {
			return nil, Errorf(ErrNotFound, "network %q not found", spec.Network)
		}
	} else if !spec.Trunk {
		return nil, Errorf(ErrInvalid, "run needs --net NETWORK (or --trunk)")
	}
	if spec.Trunk {
		nic.Trunk, nic.VLANs = true, spec.VLANs
		switch {
		case spec.Native != 0:
			nic.Native = spec.Native
		case n != nil:
			nic.Native = n.VLAN
		}
		if n != nil && nic.Native != n.VLAN {
			return nil, Errorf(ErrInvalid, "--native %d differs from network %q's vlan %d: the address would be unreachable", nic.Native, n.Name, n.VLAN)
		}
		if _, err := nic.Policy(0); err != nil {
			return nil, Errorf(ErrInvalid, "%w", err)
		}
	} else if !spec.VLANs.IsEmpty() || spec.Native != 0 {
		return nil, Errorf(ErrInvalid, "--vlans and --native need --trunk")
	}
	if err := s.checkAliases(spec.Name, spec.Aliases); err != nil {
		return nil, err
	}
	if len(spec.Publish) > 0 && n == nil {
		return nil, Errorf(ErrInvalid, "published ports need --net")
	}
	if len(spec.Publish) > 0 && n.Internal {
		return nil, internalPublish(n.Name)
	}
	if err := s.checkPublish(spec.Name, spec.Publish); err != nil {
		return nil, err
	}
	if n != nil {
		ip, err := s.allocIP(n, spec.IP, spec.Avoid)
		if err != nil {
			return nil, err
		}
		nic.IP, nic.MAC = ip, s.nicMAC(ip)
	} else {
		if spec.IP.IsValid() {
			return nil, Errorf(ErrInvalid, "--ip needs --net")
		}
		nic.MAC = randomMAC()
	}
	if !spec.MAC.IsZero() {
		if spec.MAC.IsMulticast() {
			return nil, Errorf(ErrInvalid, "mac %s is not a unicast address", spec.MAC)
		}
		if s.macInUse(spec.MAC) {
			return nil, Errorf(ErrConflict, "mac %s is already in use", spec.MAC)
		}
		nic.MAC = spec.MAC
	}
	e.NICs = []*NIC{nic}
	return e, nil
}

// checkAliases validates the aliases of a new NIC of endpoint: valid, at
// most MaxAliases, and none another endpoint's name (which the alias would
// shadow in DNS).
func (s *State) checkAliases(endpoint string, aliases []string) error {
	if err := validateAliases(aliases); err != nil {
		return err
	}
	for _, a := range aliases {
		for _, e := range s.Endpoints {
			if e.Name != endpoint && strings.EqualFold(e.Name, a) {
				return Errorf(ErrConflict, "alias %q is the name of endpoint %q", a, e.Name)
			}
		}
	}
	return nil
}

// aliasOwner returns the endpoint one of whose NICs has the alias name, or
// "".
func (s *State) aliasOwner(name string) string {
	for _, e := range s.Endpoints {
		for _, nic := range e.NICs {
			for _, a := range nic.Aliases {
				if strings.EqualFold(a, name) {
					return e.Name
				}
			}
		}
	}
	return ""
}

// checkPublish refuses specs that overlap each other or another
// endpoint's.
func (s *State) checkPublish(endpoint string, ps []Publish) error {
	for i, p := range ps {
		for _, q := range ps[:i] {
			if p.Overlaps(q) {
				return Errorf(ErrInvalid, "publish %s overlaps %s", p, q)
			}
		}
		for _, e := range s.Endpoints {
			if e.Name == endpoint {
				continue
			}
			for _, q := range e.Publish {
				if p.Overlaps(q) {
					return Errorf(ErrConflict, "publish %s for %q: host port already published by %q (%s)", p, endpoint, e.Name, q)
				}
			}
		}
	}
	return nil
}

// CheckPublish validates publishing p on endpoint e, which has no such
// spec yet.
func (s *State) CheckPublish(e *Endpoint, p Publish) error {
	nic, n := s.Primary(e)
	if nic == nil {
		return Errorf(ErrInvalid, "endpoint %q has no address to publish to", e.Name)
	}
	if n.Internal {
		return internalPublish(n.Name)
	}
	return s.checkPublish(e.Name, append(append([]Publish(nil), e.Publish...), p))
}

// internalPublish is the error for publishing a port of an endpoint on an
// --internal network: such a network is not reachable from outside, so
// its ports are not published (as Docker refuses them).
func internalPublish(network string) error {
	return Errorf(ErrInvalid, "network %q is --internal: its endpoints cannot publish ports", network)
}

// ConnectSpec is a request to attach an endpoint to another network.
type ConnectSpec struct {
	Endpoint string
	IP       netip.Addr
	Aliases  []string
	// Avoid is EndpointSpec.Avoid.
	Avoid []netip.Addr
	// IfName names the new NIC (default: the next free ethN), MAC fixes
	// its address, MTU its MTU: a runtime's choices for a CNI attachment.
	IfName string
	MAC    header.MAC
	MTU    int
}

// validateMTU checks a NIC MTU: 0 (the default) or 68–65535.
func validateMTU(mtu int) error {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		return Errorf(ErrInvalid, "mtu %d out of range 68-65535", mtu)
	}
	return nil
}

// NewNIC validates connecting e to network and returns the NIC it gets
// (the next free ethN, an address, its MAC).
func (s *State) NewNIC(e *Endpoint, network string, spec ConnectSpec) (*NIC, error) {
	n := s.Network(network)
	if n == nil {
		return nil, Errorf(ErrNotFound, "network %q not found", network)
	}
	if e.NIC(network) != nil {
		return nil, Errorf(ErrConflict, "endpoint %q is already connected to network %q", e.Name, network)
	}
	if err := s.checkAliases(e.Name, spec.Aliases); err != nil {
		return nil, err
	}
	if err := validateMTU(spec.MTU); err != nil {
		return nil, err
	}
	ifname := spec.IfName
	if ifname == "" {
		ifname = nextIfName(e)
	} else {
		if err := netns.ValidateIfName(ifname); err != nil {
			return nil, Errorf(ErrInvalid, "interface name: %w", err)
		}
		for _, nic := range e.NICs {
			if nic.Interface == ifname {
				return nil, Errorf(ErrConflict, "endpoint %q already has interface %s", e.Name, ifname)
			}
		}
	}
	ip, err := s.allocIP(n, spec.IP, spec.Avoid)
	if err != nil {
		return nil, err
	}
	nic := &NIC{Interface: ifname, Network: network, IP: ip, MAC: s.nicMAC(ip), Aliases: spec.Aliases, MTU: spec.MTU}
	if !spec.MAC.IsZero() {
		if spec.MAC.IsMulticast() {
			return nil, Errorf(ErrInvalid, "mac %s is not a unicast address", spec.MAC)
		}
		if s.macInUse(spec.MAC) {
			return nil, Errorf(ErrConflict, "mac %s is already in use", spec.MAC)
		}
		nic.MAC = spec.MAC
	}
	return nic, nil
}

// nicMAC returns the MAC of a new NIC with address ip: derived from it (as
// Docker does), unless another NIC or a gateway has that MAC already (a
// MAC given by hand), then a random one.
func (s *State) nicMAC(ip netip.Addr) header.MAC {
	m := EndpointMAC(ip)
	for s.macInUse(m) {
		m = randomMAC()
	}
	return m
}

// macInUse reports whether a gateway or a NIC has MAC m.
func (s *State) macInUse(m header.MAC) bool {
	for _, n := range s.Networks {
		if n.MAC == m {
			return true
		}
	}
	for _, e := range s.Endpoints {
		for _, nic := range e.NICs {
			if nic.MAC == m {
				return true
			}
		}
	}
	return false
}

func nextIfName(e *Endpoint) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if e.Interface(name) == nil {
			return name
		}
	}
}

// PortSpec is a request to attach an existing interface as a system port.
type PortSpec struct {
	Interface string
	Type      string // registered port type; empty: "system"
	Mode      vlan.Mode
	VLAN      vlan.ID // access VLAN or S-VID
	VLANs     vlan.Set
	Native    vlan.ID
	// Lab names the lab that attaches the port.
	Lab string
}

// NewPort validates spec and returns the port it makes. hostIf is the host
// leg's interface, which is never a system port.
func (s *State) NewPort(spec PortSpec, hostIf string) (*SysPort, error) {
	if err := netns.ValidateIfName(spec.Interface); err != nil {
		return nil, Errorf(ErrInvalid, "interface: %w", err)
	}
	if s.Port(spec.Interface) != nil {
		return nil, Errorf(ErrConflict, "interface %q is already a port", spec.Interface)
	}
	if u := s.Uplink; u != nil && u.Interface == spec.Interface || spec.Interface == hostIf {
		return nil, Errorf(ErrConflict, "interface %q is already a port (the uplink or the host leg)", spec.Interface)
	}
	pt := &SysPort{Interface: spec.Interface, Type: spec.Type, Mode: spec.Mode, VLANs: spec.VLANs, Lab: spec.Lab}
	if pt.Type == "system" {
		pt.Type = ""
	}
	switch spec.Mode {
	case vlan.Access, vlan.Dot1QTunnel:
		if spec.Native != 0 {
			return nil, Errorf(ErrInvalid, "--native is for trunk ports")
		}
		if !spec.VLAN.Valid() {
			return nil, Errorf(ErrInvalid, "--mode %s needs --vlan 1-%d, got %d", spec.Mode, vlan.MaxID, spec.VLAN)
		}
		pt.VLAN = spec.VLAN
	default:
		if spec.VLAN != 0 {
			return nil, Errorf(ErrInvalid, "--vlan is for access and dot1q-tunnel ports; trunks take --vlans and --native")
		}
		if spec.Native > vlan.MaxID {
			return nil, Errorf(ErrInvalid, "--native %d out of range 1-%d", spec.Native, vlan.MaxID)
		}
		pt.VLAN = spec.Native
		if pt.VLAN != 0 && spec.Mode == vlan.Trunk {
			pt.Mode = vlan.NativeUntagged
		}
		if (spec.Mode == vlan.NativeTagged || spec.Mode == vlan.NativeUntagged) && pt.VLAN == 0 {
			return nil, Errorf(ErrInvalid, "--mode %s needs --native VLAN", spec.Mode)
		}
	}
	if _, err := pt.Policy(); err != nil {
		return nil, Errorf(ErrInvalid, "%w", err)
	}
	return pt, nil
}

// UplinkSpec is a request to set the uplink.
type UplinkSpec struct {
	Interface string
	Address   netip.Prefix
	Gateway   netip.Addr
	// Lab names the lab that sets the uplink.
	Lab string
}

// NewUplink validates spec and returns the uplink it makes. hostIf is the
// host leg's interface and hostLeg its prefix, which the uplink's may not
// overlap.
func (s *State) NewUplink(spec UplinkSpec, hostIf string, hostLeg netip.Prefix) (*Uplink, error) {
	if err := netns.ValidateIfName(spec.Interface); err != nil {
		return nil, Errorf(ErrInvalid, "uplink interface: %w", err)
	}
	if spec.Interface == "lo" {
		return nil, Errorf(ErrInvalid, "uplink interface lo: loopback cannot be an uplink")
	}
	a := spec.Address
	if !a.IsValid() || !a.Addr().Is4() || a.Bits() > 30 {
		return nil, Errorf(ErrInvalid, "uplink address %q: want IPv4 CIDR such as 203.0.113.2/24", a)
	}
	if a.Addr() == a.Masked().Addr() {
		return nil, Errorf(ErrInvalid, "uplink address %s is the network address", a)
	}
	if a.Addr() == lastAddr(a) {
		return nil, Errorf(ErrInvalid, "uplink address %s is the broadcast address", a)
	}
	if g := spec.Gateway; g.IsValid() {
		if !g.Is4() {
			return nil, Errorf(ErrInvalid, "uplink gateway %q: not an IPv4 address", g)
		}
		if !a.Contains(g) || g == a.Addr() {
			return nil, Errorf(ErrInvalid, "uplink gateway %s is not another address of %s", g, a.Masked())
		}
		if g == a.Masked().Addr() || g == lastAddr(a) {
			return nil, Errorf(ErrInvalid, "uplink gateway %s is the network or broadcast address of %s", g, a.Masked())
		}
	}
	if r := ipam.Reserved(a.Masked()); r != "" {
		return nil, Errorf(ErrInvalid, "uplink address %s: overlaps %s", a, r)
	}
	if hostLeg.IsValid() && hostLeg.Masked().Overlaps(a.Masked()) {
		return nil, Errorf(ErrConflict, "uplink %s overlaps the host leg (%s)", a.Masked(), hostLeg.Masked())
	}
	for _, n := range s.Networks {
		if n.Subnet.Overlaps(a.Masked()) {
			return nil, Errorf(ErrConflict, "uplink %s overlaps network %q (%s)", a.Masked(), n.Name, n.Subnet)
		}
	}
	if s.Port(spec.Interface) != nil || spec.Interface == hostIf {
		return nil, Errorf(ErrConflict, "interface %q is already a port", spec.Interface)
	}
	return &Uplink{Interface: spec.Interface, Address: a, Gateway: spec.Gateway, Lab: spec.Lab}, nil
}
