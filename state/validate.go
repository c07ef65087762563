package state

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/ipam"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// Validate checks that s is a state the daemon can rebuild: every name is
// valid as the namespace or interface name it becomes, addresses lie in
// their subnets, IDs, VLANs, names and addresses are unique, and every
// reference resolves. It is as strict as the API is with requests, so a
// hand-edited file cannot make the daemon act on something it would have
// refused.
func (s *State) Validate() error {
	if s.Prefix != "" {
		if err := validPrefix(s.Prefix); err != nil {
			return fmt.Errorf("netns_prefix: %w", err)
		}
	}
	for name, m := range map[string]header.MAC{"host_leg_mac": s.HostMAC, "uplink_mac": s.UplinkMAC} {
		if m.IsMulticast() {
			return fmt.Errorf("%s %s is not a unicast address", name, m)
		}
	}
	names := map[string]bool{}
	ids := map[router.NetworkID]string{}
	vids := map[vlan.ID]string{}
	vnis := map[uint32]string{}
	for i, n := range s.Networks {
		if n == nil {
			return fmt.Errorf("networks[%d]: null", i)
		}
		if err := validateNetwork(n); err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
		if names[n.Name] {
			return fmt.Errorf("network %q: listed twice", n.Name)
		}
		names[n.Name] = true
		if o, ok := ids[n.ID]; ok {
			return fmt.Errorf("network %q: id %d is network %q's too", n.Name, n.ID, o)
		}
		ids[n.ID] = n.Name
		if o, ok := vids[n.VLAN]; ok {
			return fmt.Errorf("network %q: vlan %d is network %q's too", n.Name, n.VLAN, o)
		}
		vids[n.VLAN] = n.Name
		if n.Overlay != nil {
			if o, ok := vnis[n.Overlay.VNI]; ok {
				return fmt.Errorf("network %q: vni %d is network %q's too", n.Name, n.Overlay.VNI, o)
			}
			vnis[n.Overlay.VNI] = n.Name
		}
		for _, o := range s.Networks[:i] {
			if o.Subnet.Overlaps(n.Subnet) {
				return fmt.Errorf("network %q: subnet %s overlaps network %q (%s)", n.Name, n.Subnet, o.Name, o.Subnet)
			}
		}
	}
	eps := map[string]bool{}
	used := map[netip.Addr]string{}
	macs := map[header.MAC]string{}
	for _, n := range s.Networks {
		macs[n.MAC] = "network " + n.Name + "'s gateway"
	}
	for i, e := range s.Endpoints {
		if e == nil {
			return fmt.Errorf("endpoints[%d]: null", i)
		}
		if err := s.validateEndpoint(e, used); err != nil {
			return fmt.Errorf("endpoint %q: %w", e.Name, err)
		}
		if eps[e.Name] {
			return fmt.Errorf("endpoint %q: listed twice", e.Name)
		}
		eps[e.Name] = true
		for _, nic := range e.NICs {
			if o, ok := macs[nic.MAC]; ok {
				return fmt.Errorf("endpoint %q: %s: mac %s is %s too", e.Name, nic.Interface, nic.MAC, o)
			}
			macs[nic.MAC] = "endpoint " + e.Name + "'s " + nic.Interface
		}
	}
	for _, e := range s.Endpoints {
		if err := s.checkPublish(e.Name, e.Publish); err != nil {
			return fmt.Errorf("endpoint %q: %w", e.Name, err)
		}
	}
	ports := map[string]bool{}
	for i, p := range s.Ports {
		if p == nil {
			return fmt.Errorf("ports[%d]: null", i)
		}
		if err := netns.ValidateIfName(p.Interface); err != nil {
			return fmt.Errorf("port %q: %w", p.Interface, err)
		}
		if ports[p.Interface] {
			return fmt.Errorf("port %q: listed twice", p.Interface)
		}
		ports[p.Interface] = true
		if _, err := p.Policy(); err != nil {
			return fmt.Errorf("port %q: %w", p.Interface, err)
		}
		if _, _, err := p.Impair.Updates(); err != nil {
			return fmt.Errorf("port %q: %w", p.Interface, err)
		}
	}
	statics := map[StaticMAC]bool{}
	for _, m := range s.StaticMACs {
		if !m.VLAN.Valid() {
			return fmt.Errorf("static mac %s: vlan %d out of range 1-%d", m.MAC, m.VLAN, vlan.MaxID)
		}
		if m.MAC.IsMulticast() || m.MAC.IsZero() {
			return fmt.Errorf("static mac %s: not a unicast address", m.MAC)
		}
		if m.Port == "" {
			return fmt.Errorf("static mac %s: no port", m.MAC)
		}
		k := StaticMAC{VLAN: m.VLAN, MAC: m.MAC}
		if statics[k] {
			return fmt.Errorf("static mac %s in vlan %d listed twice", m.MAC, m.VLAN)
		}
		statics[k] = true
	}
	remotes := map[StaticRemote]bool{}
	for _, r := range s.StaticRemotes {
		if _, err := s.NewStaticRemote(r.Network, r.MAC, r.VTEP); err != nil {
			return fmt.Errorf("static remote %s: %w", r.MAC, err)
		}
		k := StaticRemote{Network: r.Network, MAC: r.MAC}
		if remotes[k] {
			return fmt.Errorf("static remote %s in network %q listed twice", r.MAC, r.Network)
		}
		remotes[k] = true
	}
	if u := s.Uplink; u != nil {
		if err := s.validateUplink(u); err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		if ports[u.Interface] {
			return fmt.Errorf("uplink: interface %q is also a system port", u.Interface)
		}
	}
	return nil
}

// validPrefix checks a namespace name prefix: a valid name start.
func validPrefix(p string) error {
	return netns.ValidateName(p + "x")
}

func validateNetwork(n *Network) error {
	if err := netns.ValidateName(n.Name); err != nil {
		return err
	}
	if n.ID == 0 || n.ID > router.MaxNetworkID {
		return fmt.Errorf("id %d out of range 1-%d", n.ID, router.MaxNetworkID)
	}
	if !n.VLAN.Valid() {
		return fmt.Errorf("vlan %d out of range 1-%d", n.VLAN, vlan.MaxID)
	}
	if err := validSubnet(n.Subnet); err != nil {
		return err
	}
	if !n.Gateway.Is4() || !n.Subnet.Contains(n.Gateway) || n.Gateway == n.Subnet.Addr() || n.Gateway == lastAddr(n.Subnet) {
		return fmt.Errorf("gateway %s is not a host address of %s", n.Gateway, n.Subnet)
	}
	if want := networkMAC(n); n.MAC != want {
		if n.Overlay != nil {
			return fmt.Errorf("gateway mac %s, want %s (derived from vni %d)", n.MAC, want, n.Overlay.VNI)
		}
		return fmt.Errorf("gateway mac %s, want %s (derived from id %d)", n.MAC, want, n.ID)
	}
	if err := validMTU(n.MTU); err != nil {
		return err
	}
	if err := validIPRange(n); err != nil {
		return err
	}
	if o := n.Overlay; o != nil {
		if err := validOverlay(o); err != nil {
			return err
		}
	}
	return nil
}

// validSubnet checks a network subnet as the API does.
func validSubnet(p netip.Prefix) error {
	switch {
	case !p.IsValid() || !p.Addr().Is4():
		return fmt.Errorf("subnet %s: not an IPv4 prefix", p)
	case p.Masked() != p:
		return fmt.Errorf("subnet %s: host bits set", p)
	case p.Bits() > 30:
		return fmt.Errorf("subnet %s: too small (at most /30)", p)
	case ipam.Reserved(p) != "":
		return fmt.Errorf("subnet %s: overlaps %s", p, ipam.Reserved(p))
	}
	return nil
}

// lastAddr returns the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// RunDirs are the directories an attached endpoint's namespace may live in:
// where ip netns, container runtimes and CNI put them.
var RunDirs = []string{"/run/netns", "/var/run/netns", "/run/user", "/proc", "/run/containers", "/var/run/docker/netns"}

// ValidNetnsPath checks the path of a namespace vswitchd attaches to: an
// absolute, clean path under one of RunDirs.
func ValidNetnsPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("netns path %q: not an absolute, clean path", p)
	}
	for _, d := range RunDirs {
		if strings.HasPrefix(p, d+"/") {
			return nil
		}
	}
	return fmt.Errorf("netns path %q: not under %s", p, strings.Join(RunDirs, ", "))
}

func (s *State) validateEndpoint(e *Endpoint, used map[netip.Addr]string) error {
	if err := netns.ValidateName(e.Name); err != nil {
		return err
	}
	if e.Owned() {
		if err := netns.ValidateName(s.Prefix + e.Name); err != nil {
			return fmt.Errorf("namespace name: %w", err)
		}
		if e.Netns != s.Prefix+e.Name {
			return fmt.Errorf("netns %q, want %q (prefix %q and the endpoint's name)", e.Netns, s.Prefix+e.Name, s.Prefix)
		}
	} else if err := ValidNetnsPath(e.NetnsPath); err != nil {
		return err
	}
	if err := validateOptions(e); err != nil {
		return err
	}
	if e.ContainerID != "" && e.Owned() {
		return fmt.Errorf("container_id %q on an endpoint vswitchd owns: an attachment is in the runtime's namespace", e.ContainerID)
	}
	if strings.ContainsAny(e.ContainerID, "\x00\n/") || len(e.ContainerID) > 256 {
		return fmt.Errorf("container_id %q: not a container ID", e.ContainerID)
	}
	switch e.Phase {
	case "", Creating, Removing:
	default:
		return fmt.Errorf("phase %q: want %q, %q or none", e.Phase, Creating, Removing)
	}
	for _, p := range e.Publish {
		if p.HostPort == 0 || p.ContPort == 0 || p.HostEnd < p.HostPort || p.HostEnd-p.HostPort != p.ContEnd-p.ContPort {
			return fmt.Errorf("published port %s: inconsistent", p)
		}
	}
	ifs := map[string]bool{}
	nets := map[string]bool{}
	for i, nic := range e.NICs {
		if nic == nil {
			return fmt.Errorf("nics[%d]: null", i)
		}
		if err := netns.ValidateIfName(nic.Interface); err != nil {
			return err
		}
		if ifs[nic.Interface] {
			return fmt.Errorf("interface %s listed twice", nic.Interface)
		}
		ifs[nic.Interface] = true
		if nic.MAC.IsMulticast() || nic.MAC.IsZero() {
			return fmt.Errorf("%s: mac %s is not a unicast address", nic.Interface, nic.MAC)
		}
		if err := validateMTU(nic.MTU); err != nil {
			return fmt.Errorf("%s: %w", nic.Interface, err)
		}
		if _, _, err := nic.Impair.Updates(); err != nil {
			return fmt.Errorf("%s: %w", nic.Interface, err)
		}
		if err := validateAliases(nic.Aliases); err != nil {
			return fmt.Errorf("%s: %w", nic.Interface, err)
		}
		if !nic.Trunk && (!nic.VLANs.IsEmpty() || nic.Native != 0) {
			return fmt.Errorf("%s: --vlans and --native need --trunk", nic.Interface)
		}
		if nic.Network == "" {
			if !nic.Trunk || nic.IP.IsValid() {
				return fmt.Errorf("%s: no network (only a trunk NIC may have none, and then no address)", nic.Interface)
			}
		} else {
			n := s.Network(nic.Network)
			if n == nil {
				return fmt.Errorf("%s: network %q not found", nic.Interface, nic.Network)
			}
			if nets[n.Name] {
				return fmt.Errorf("two NICs on network %q", n.Name)
			}
			nets[n.Name] = true
			if nic.IP.IsValid() {
				if !n.Subnet.Contains(nic.IP) || nic.IP == n.Gateway || nic.IP == n.Subnet.Addr() || nic.IP == lastAddr(n.Subnet) {
					return fmt.Errorf("%s: address %s is not a free host address of %s", nic.Interface, nic.IP, n.Subnet)
				}
				if o, ok := used[nic.IP]; ok {
					return fmt.Errorf("%s: address %s is endpoint %q's too", nic.Interface, nic.IP, o)
				}
				used[nic.IP] = e.Name
			} else if !nic.Trunk {
				return fmt.Errorf("%s: no address on network %q", nic.Interface, n.Name)
			}
			if nic.Trunk && nic.Native != n.VLAN {
				return fmt.Errorf("%s: native vlan %d is not network %q's vlan %d", nic.Interface, nic.Native, n.Name, n.VLAN)
			}
		}
		if _, err := nic.Policy(0); err != nil {
			return fmt.Errorf("%s: %w", nic.Interface, err)
		}
	}
	return nil
}

func (s *State) validateUplink(u *Uplink) error {
	if err := netns.ValidateIfName(u.Interface); err != nil {
		return err
	}
	if u.Interface == "lo" {
		return fmt.Errorf("interface lo: loopback cannot be an uplink")
	}
	a := u.Address
	if !a.IsValid() || !a.Addr().Is4() || a.Bits() > 30 {
		return fmt.Errorf("address %s: want an IPv4 prefix of /30 or wider", a)
	}
	if a.Addr() == a.Masked().Addr() || a.Addr() == lastAddr(a) {
		return fmt.Errorf("address %s is the network or broadcast address", a)
	}
	if u.Gateway.IsValid() && (!u.Gateway.Is4() || !a.Contains(u.Gateway) || u.Gateway == a.Addr()) {
		return fmt.Errorf("gateway %s is not another address of %s", u.Gateway, a.Masked())
	}
	for _, n := range s.Networks {
		if n.Subnet.Overlaps(a.Masked()) {
			return fmt.Errorf("%s overlaps network %q (%s)", a.Masked(), n.Name, n.Subnet)
		}
	}
	return nil
}

// validateOptions checks an endpoint's Docker options: a host name usable
// by sethostname and in /etc/hosts, resolver and host entry addresses.
func validateOptions(e *Endpoint) error {
	if strings.ContainsAny(e.User, "\x00\n") || len(e.User) > 256 {
		return fmt.Errorf("user %q: not USER[:GROUP]", e.User)
	}
	for _, c := range e.CapDrop {
		if _, ok := netns.Caps[c]; !ok {
			return fmt.Errorf("cap_drop %q: not a capability name", c)
		}
	}
	if e.Hostname != "" {
		if err := netns.ValidateName(e.Hostname); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	for _, a := range e.DNS {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("dns %s: not a resolver's address", a)
		}
	}
	for _, h := range e.ExtraHosts {
		if err := netns.ValidateName(h.Name); err != nil {
			return fmt.Errorf("add-host %s: %w", h, err)
		}
		if !h.HostGateway && !h.IP.IsValid() {
			return fmt.Errorf("add-host %s: no address", h)
		}
	}
	switch e.Restart.Name {
	case "", "always", "unless-stopped", "on-failure":
	default:
		return fmt.Errorf("restart %q: unknown policy", e.Restart.Name)
	}
	return nil
}

// MaxAliases is the most DNS aliases one NIC may have: enough for any
// real use, and few enough that the names of thousands of endpoints stay
// cheap to rebuild on every change.
const MaxAliases = 64

// ReservedNames are the names vswitchd's DNS answers itself at every
// gateway; no endpoint or alias may take them, nor any name under their
// zones (vswitchd.internal, docker.internal), which the DNS answers
// NXDOMAIN.
var ReservedNames = []string{"host.vswitchd.internal", "host.docker.internal", "gateway.docker.internal"}

// reservedZones are the zones the DNS keeps to itself.
var reservedZones = []string{"vswitchd.internal", "docker.internal"}

// reservedName reports whether name is one the DNS keeps to itself (in
// any letter case, as DNS compares names).
func reservedName(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, z := range reservedZones {
		if n == z || strings.HasSuffix(n, "."+z) {
			return true
		}
	}
	return false
}

// ValidateAlias checks a DNS alias: a valid name, not starting with '@'
// (the prefix of endpoint DNS scopes), and not a name the DNS answers
// itself (ReservedNames, and anything under their zones).
func ValidateAlias(a string) error {
	if err := netns.ValidateName(a); err != nil || strings.HasPrefix(a, "@") {
		return Errorf(ErrInvalid, "alias %q: use letters, digits, '_', '.' and '-'", a)
	}
	if reservedName(a) {
		return Errorf(ErrInvalid, "alias %q: a name vswitchd's DNS answers itself (%s…)", a, strings.Join(ReservedNames, ", "))
	}
	return nil
}

// validateAliases checks a NIC's aliases: each valid, none twice, at most
// MaxAliases.
func validateAliases(aliases []string) error {
	if len(aliases) > MaxAliases {
		return Errorf(ErrInvalid, "%d aliases: at most %d per network", len(aliases), MaxAliases)
	}
	seen := map[string]bool{}
	for _, a := range aliases {
		if err := ValidateAlias(a); err != nil {
			return err
		}
		k := strings.ToLower(a)
		if seen[k] {
			return Errorf(ErrInvalid, "alias %q given twice", a)
		}
		seen[k] = true
	}
	return nil
}
