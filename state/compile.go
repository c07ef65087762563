package state

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// Compiling the state: what the datapath, the router and the DNS server
// are configured with. Pure functions of the state (and the runtime port
// IDs the caller passes), table-tested without root.

// Policy returns the VLAN policy of a NIC's port on a network of VLAN vid
// (0 for a NIC on no network): an access port of the network, or a trunk.
func (nic *NIC) Policy(vid vlan.ID) (vlan.Policy, error) {
	if !nic.Trunk {
		if nic.Network == "" {
			return vlan.Policy{}, errors.New("an access NIC needs a network")
		}
		return vlan.Policy{Mode: vlan.Access, VID: vid}, nil
	}
	p := vlan.Policy{Mode: vlan.Trunk, Trunks: nic.VLANs}
	if nic.Native != 0 {
		p.Mode, p.VID = vlan.NativeUntagged, nic.Native
	}
	return p, p.Validate()
}

// Policy returns a system port's VLAN policy.
func (p *SysPort) Policy() (vlan.Policy, error) {
	pol := vlan.Policy{Mode: p.Mode, VID: p.VLAN}
	switch p.Mode {
	case vlan.Access:
		if !p.VLANs.IsEmpty() {
			return vlan.Policy{}, errors.New("--vlans is for trunk ports")
		}
	case vlan.Dot1QTunnel:
		pol.CVLANs = p.VLANs
	default:
		pol.Trunks = p.VLANs
	}
	return pol, pol.Validate()
}

// PortPolicy is what the datapath needs for one NIC's port.
type PortPolicy struct {
	VLAN vlan.Policy
	// Guard is set for access NICs with an address: anti-spoofing allows
	// only their MAC and address.
	Guard bool
	// Isolated is set for access NICs of an icc=false network.
	Isolated bool
}

// NICPolicy returns the port policy of e's NIC nic.
func (s *State) NICPolicy(nic *NIC) (PortPolicy, error) {
	var vid vlan.ID
	isolated := false
	if nic.Network != "" {
		n := s.Network(nic.Network)
		if n == nil {
			return PortPolicy{}, fmt.Errorf("%s: network %q not found", nic.Interface, nic.Network)
		}
		vid, isolated = n.VLAN, n.Isolated && !nic.Trunk
	}
	pol, err := nic.Policy(vid)
	if err != nil {
		return PortPolicy{}, err
	}
	return PortPolicy{VLAN: pol, Guard: !nic.Trunk && nic.IP.IsValid(), Isolated: isolated}, nil
}

// Runtime is what the router configuration needs beyond the state: the
// datapath's ports of the host leg and the uplink.
type Runtime struct {
	Host *router.HostLeg
	// UplinkPort is the uplink's port; 0 when it is not attached (the
	// state may name an uplink whose interface is gone).
	UplinkPort       port.ID
	NoARPSuppression bool
	// UplinkMTU is the uplink interface's MTU (0: unknown, 1500 assumed).
	UplinkMTU int
	// MSSClamp clamps the MSS of SYNs crossing the uplink.
	MSSClamp bool
}

// RouterConfig compiles the router's configuration.
func (s *State) RouterConfig(rt Runtime) router.Config {
	cfg := router.Config{NoARPSuppression: rt.NoARPSuppression, Host: rt.Host, MSSClamp: rt.MSSClamp}
	for _, n := range s.Networks {
		rn := router.Network{
			ID: n.ID, Name: n.Name, VID: n.VLAN, Subnet: n.Subnet,
			Gateway: n.Gateway, MAC: n.MAC, Internal: n.Internal, Isolated: n.Isolated, MTU: n.MTU,
		}
		for _, e := range s.Endpoints {
			if nic := e.NIC(n.Name); nic != nil && nic.IP.IsValid() {
				rn.Endpoints = append(rn.Endpoints, router.Neighbor{IP: nic.IP, MAC: nic.MAC, Name: e.Name, Scope: Scope(e.Name)})
			}
		}
		cfg.Networks = append(cfg.Networks, rn)
	}
	sort.Slice(cfg.Networks, func(i, j int) bool { return cfg.Networks[i].ID < cfg.Networks[j].ID })
	if u := s.Uplink; u != nil && rt.UplinkPort != 0 {
		cfg.Uplink = &router.Uplink{Port: rt.UplinkPort, MAC: s.UplinkMAC, Addr: u.Address, Gateway: u.Gateway, MTU: rt.UplinkMTU}
	}
	for _, e := range s.Endpoints {
		nic, n := s.Primary(e)
		if nic == nil {
			continue
		}
		for _, p := range e.Publish {
			cfg.Published = append(cfg.Published, router.Published{
				Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, HostPortEnd: p.HostEnd,
				Addr: nic.IP, ContPort: p.ContPort, Network: n.ID, Endpoint: e.Name,
			})
		}
	}
	return cfg
}

// Scope is the DNS scope of an endpoint's queries: the names of every
// network it is attached to.
func Scope(endpoint string) string { return "@" + endpoint }

// NetworkRecords returns the names network n answers: each endpoint's
// name, NAME.NETWORK and its aliases.
func (s *State) NetworkRecords(n *Network) []dns.Record {
	var rs []dns.Record
	for _, e := range s.Endpoints {
		nic := e.NIC(n.Name)
		if nic == nil || !nic.IP.IsValid() {
			continue
		}
		rs = append(rs, dns.Record{Name: e.Name, Addr: nic.IP, Network: n.Name})
		for _, a := range nic.Aliases {
			rs = append(rs, dns.Record{Name: a, Addr: nic.IP, Network: n.Name})
		}
	}
	return rs
}

// EndpointRecords returns the names an endpoint's queries see: those of
// every network it is attached to, its first network first. The DNS
// server answers a name found in several networks with its address in
// the first, as Docker's resolver does, and NAME.NETWORK in any of them.
func (s *State) EndpointRecords(e *Endpoint) []dns.Record {
	var rs []dns.Record
	for _, nic := range e.NICs {
		if n := s.Network(nic.Network); n != nil {
			rs = append(rs, s.NetworkRecords(n)...)
		}
	}
	return rs
}

// DNSScopes returns every DNS scope's records: one per network (by name)
// and one per endpoint (Scope(name)).
func (s *State) DNSScopes() map[string][]dns.Record {
	m := make(map[string][]dns.Record, len(s.Networks)+len(s.Endpoints))
	for _, n := range s.Networks {
		m[n.Name] = s.NetworkRecords(n)
	}
	for _, e := range s.Endpoints {
		m[Scope(e.Name)] = s.EndpointRecords(e)
	}
	return m
}

// DNSOptions returns every DNS scope's options: an --internal network's
// scope, and the scope of an endpoint on internal networks only, forward
// nothing (Docker's rule); GatewayName names the scope's gateway (an
// endpoint's first network's).
func (s *State) DNSOptions() map[string]dns.NetworkOptions {
	m := make(map[string]dns.NetworkOptions, len(s.Networks)+len(s.Endpoints))
	for _, n := range s.Networks {
		m[n.Name] = dns.NetworkOptions{NoForward: n.Internal, Gateway: n.Gateway}
	}
	for _, e := range s.Endpoints {
		o := dns.NetworkOptions{}
		internal := 0
		for _, nic := range e.NICs {
			n := s.Network(nic.Network)
			if n == nil {
				continue
			}
			if !o.Gateway.IsValid() {
				o.Gateway = n.Gateway
			}
			if n.Internal {
				internal++
			}
		}
		o.NoForward = o.Gateway.IsValid() && internal == len(e.NICs)
		m[Scope(e.Name)] = o
	}
	return m
}

// Files returns the /etc/netns files of an endpoint: resolv.conf naming the
// gateway of its first network (the switch answers DNS there) and then its
// own --dns servers, and hosts with its addresses under its name and host
// name and its --add-host lines (host-gateway is hostAddr, the host's
// address on its leg).
func (s *State) Files(e *Endpoint, hostAddr netip.Addr) map[string][]byte {
	resolv := "# written by vswitchd: the switch answers DNS at the gateway\n"
	if _, n := s.Primary(e); n != nil {
		resolv += "nameserver " + n.Gateway.String() + "\n"
	}
	for _, a := range e.DNS {
		resolv += "nameserver " + a.String() + "\n"
	}
	if len(e.DNS) > 0 || s.hasPrimary(e) {
		resolv += "options ndots:0\n"
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	names := e.Name
	if h := e.HostnameOrName(); h != e.Name {
		names += " " + h
	}
	for _, nic := range e.NICs {
		if nic.IP.IsValid() {
			hosts += nic.IP.String() + "\t" + names + "\n"
		}
	}
	for _, h := range e.ExtraHosts {
		ip := h.IP
		if h.HostGateway {
			ip = hostAddr
		}
		if ip.IsValid() {
			hosts += ip.String() + "\t" + h.Name + "\n"
		}
	}
	return map[string][]byte{"resolv.conf": []byte(resolv), "hosts": []byte(hosts)}
}

func (s *State) hasPrimary(e *Endpoint) bool {
	nic, _ := s.Primary(e)
	return nic != nil
}

// Subnets returns the prefixes the state's networks and uplink use.
func (s *State) Subnets() []netip.Prefix {
	var ps []netip.Prefix
	for _, n := range s.Networks {
		ps = append(ps, n.Subnet)
	}
	if u := s.Uplink; u != nil {
		ps = append(ps, u.Address.Masked())
	}
	return ps
}
