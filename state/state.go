// Package state is vswitchd's desired state: the networks, endpoints,
// system ports, uplink and published ports the daemon makes the machine
// match, as typed values (netip addresses and prefixes, header.MAC, VLAN
// IDs, parsed publish specs) that marshal to the JSON of state.json.
//
// Everything here is pure: Load and Save read and write the file, and the
// rest validates requests, allocates VLANs, network IDs and addresses, and
// compiles the state into what the datapath needs (the router
// configuration, DNS records, each NIC's port policy). A hand-edited or
// corrupt state.json gives a clear error from Load, never a panic.
//
// The entry points are Load and the State type's methods; the daemon
// changes a State only through Clone, so a failed save leaves it as it was.
package state

import (
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// Version is the version of the state file format this package writes.
const Version = 1

// File is the name of the desired-state file in the state directory.
const File = "state.json"

// State is the daemon's desired state: everything needed to rebuild the
// switch after a restart.
type State struct {
	Version   int         `json:"version"`
	Prefix    string      `json:"netns_prefix"` // namespace name prefix of owned endpoints
	HostMAC   header.MAC  `json:"host_leg_mac"` // the router's MAC on the host leg
	UplinkMAC header.MAC  `json:"uplink_mac"`   // the router's MAC on the uplink
	Networks  []*Network  `json:"networks"`
	Endpoints []*Endpoint `json:"endpoints"`
	Ports     []*SysPort  `json:"ports"`
	Uplink    *Uplink     `json:"uplink,omitempty"`
	// StaticMACs are MAC table entries added by hand (fdb add).
	StaticMACs []StaticMAC `json:"static_macs,omitempty"`
	// StaticRemotes are remote entries of overlay networks added by hand
	// (fdb add --vtep).
	StaticRemotes []StaticRemote `json:"static_remotes,omitempty"`
	// Labs are the labs brought up from topology files (vswitchctl lab
	// up), in the order they were first brought up.
	Labs []*Lab `json:"labs,omitempty"`
}

// StaticRemote is a static remote entry of an overlay network: MAC lives
// behind the VTEP at VTEP.
type StaticRemote struct {
	Network string     `json:"network"`
	MAC     header.MAC `json:"mac"`
	VTEP    netip.Addr `json:"vtep"`
}

// Lab is a lab brought up from a topology file. The objects it made carry
// its name (their Lab field); this records the rest.
type Lab struct {
	Name string `json:"name"`
	// Prefix is prepended to the names of its networks and endpoints.
	Prefix string `json:"prefix"`
	// File is the topology file's path as given to lab up.
	File    string    `json:"file"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Topology is the topology last applied (the API's JSON, opaque here).
	Topology json.RawMessage `json:"topology,omitempty"`
}

// Lab returns the lab named name, or nil.
func (s *State) Lab(name string) *Lab {
	for _, l := range s.Labs {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// StaticMAC is a static MAC table entry: MAC in VLAN is on the port named
// Port.
type StaticMAC struct {
	VLAN vlan.ID    `json:"vlan"`
	MAC  header.MAC `json:"mac"`
	Port string     `json:"port"`
}

// Network is a network: an L2 domain on one VLAN with a subnet and a
// gateway owned by the router.
type Network struct {
	Name     string           `json:"name"`
	ID       router.NetworkID `json:"id"` // also its conntrack zone
	VLAN     vlan.ID          `json:"vlan"`
	Subnet   netip.Prefix     `json:"subnet"`
	Gateway  netip.Addr       `json:"gateway"`
	MAC      header.MAC       `json:"mac"` // the gateway's
	Internal bool             `json:"internal"`
	// Isolated keeps the network's endpoints from reaching each other
	// (Docker's enable_icc=false); the gateway, the host and the outside
	// stay reachable.
	Isolated bool      `json:"isolated,omitempty"`
	Created  time.Time `json:"created"`
	// MTU is the MTU of the network's endpoint NICs, and the largest IP
	// packet the router routes into it; 0 means router.DefaultMTU.
	MTU int `json:"mtu,omitempty"`
	// IPRange, if set, is the part of Subnet automatic addresses come
	// from (Docker's --ip-range); --ip may still name any address.
	IPRange netip.Prefix `json:"ip_range,omitzero"`
	// Overlay, if set, makes the network span hosts over VXLAN.
	Overlay *Overlay `json:"overlay,omitempty"`
	// Lab names the lab (vswitchctl lab up) that made the network;
	// lab down removes it.
	Lab string `json:"lab,omitempty"`
}

// Overlay is how a network reaches the other hosts it spans: VXLAN (RFC
// 7348) with one VNI, to a static list of peer VTEPs (head-end
// replication), from a UDP port of the daemon's namespace.
type Overlay struct {
	VNI uint32 `json:"vni"`
	// Peers are the other hosts' VTEP addresses.
	Peers []netip.Addr `json:"peers"`
	// Port is the UDP port received on and sent to (4789, the IANA
	// port, unless set otherwise).
	Port uint16 `json:"port"`
	// Local, if valid, is the address the VTEP binds to; otherwise any
	// address of the daemon's namespace, the kernel choosing the source
	// address of each datagram by route.
	Local netip.Addr `json:"local,omitzero"`
}

// Clone returns a deep copy of o (nil for nil).
func (o *Overlay) Clone() *Overlay {
	if o == nil {
		return nil
	}
	c := *o
	c.Peers = slices.Clone(o.Peers)
	return &c
}

// Endpoint is an endpoint: a network namespace with one NIC per attached
// network, and the command running in it.
type Endpoint struct {
	Name string `json:"name"`
	// Netns is the name of the namespace in /run/netns for an endpoint
	// vswitchd owns (made and deleted by it): Prefix + Name.
	Netns string `json:"netns"`
	// NetnsPath is the namespace of an endpoint vswitchd only attaches
	// to (a container runtime's, given by path); vswitchd never deletes
	// it. Empty for owned endpoints.
	NetnsPath string `json:"netns_path,omitempty"`
	// NetnsID identifies the namespace this vswitchd made (or attached
	// to): its nsfs inode number, recorded when it was made. A restart or
	// cleanup acts on a namespace only if it is still that one, never on
	// another that took its name or path. 0 while the endpoint is being
	// created (the intent is saved before the namespace exists); a
	// created endpoint without one is refused at start.
	NetnsID uint64    `json:"netns_id,omitempty"`
	NICs    []*NIC    `json:"nics"`
	Cmd     []string  `json:"cmd,omitempty"`
	Env     []string  `json:"env,omitempty"`
	Remove  bool      `json:"remove,omitempty"` // --rm
	Publish []Publish `json:"publish,omitempty"`
	Created time.Time `json:"created"`
	// Hostname is the host name its processes see (their own UTS
	// namespace); empty: the endpoint's name.
	Hostname string `json:"hostname,omitempty"`
	// DNS are resolvers listed after the gateway in its resolv.conf.
	DNS []netip.Addr `json:"dns,omitempty"`
	// ExtraHosts are lines added to its /etc/hosts.
	ExtraHosts []HostEntry `json:"extra_hosts,omitempty"`
	// User is who its command runs as (USER[:GROUP], docker run --user;
	// "": root), and exec's default.
	User string `json:"user,omitempty"`
	// CapDrop are the capabilities its processes never have (netns.Caps
	// names), from docker's --cap-add and --cap-drop.
	CapDrop []string `json:"cap_drop,omitempty"`
	// Restart is its command's restart policy.
	Restart RestartPolicy `json:"restart,omitzero"`
	// Stopped records a stop by the user (docker stop): its command is
	// not started again by the restart policy, nor at the daemon's start
	// for unless-stopped.
	Stopped bool `json:"stopped,omitempty"`
	// PID is the main process's PID while it runs: a restarted daemon
	// re-adopts it if it still runs in the endpoint's namespace.
	PID int `json:"pid,omitempty"`
	// StartedAt and FinishedAt are when its command last started and
	// exited; ExitCode is how it exited (nil: never, or unknown).
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	ExitCode   *int      `json:"exit_code,omitempty"`
	// RestartCount counts runs by the restart policy since the last
	// start by the user.
	RestartCount int `json:"restart_count,omitempty"`
	// ContainerID is the runtime's container of a CNI attachment
	// (CNI_CONTAINERID); "" for endpoints vswitchctl made.
	ContainerID string `json:"container_id,omitempty"`
	// Phase is set while the endpoint is being made or removed: the
	// intent is saved before the host is touched, so a crash half-way is
	// rolled back (creating) or finished (removing) at the next start.
	Phase Phase `json:"phase,omitempty"`
	// Lab names the lab that made the endpoint.
	Lab string `json:"lab,omitempty"`
}

// Phase is an endpoint operation in progress.
type Phase string

// Phases.
const (
	Creating Phase = "creating"
	Removing Phase = "removing"
)

// HostnameOrName returns the host name the endpoint's processes see.
func (e *Endpoint) HostnameOrName() string {
	if e.Hostname != "" {
		return e.Hostname
	}
	return e.Name
}

// Owned reports whether vswitchd made the endpoint's namespace (and so
// deletes it with the endpoint).
func (e *Endpoint) Owned() bool { return e.NetnsPath == "" }

// NIC is one of an endpoint's interfaces.
type NIC struct {
	Interface string     `json:"interface"` // eth0, eth1, …
	Network   string     `json:"network,omitempty"`
	IP        netip.Addr `json:"ip,omitzero"`
	MAC       header.MAC `json:"mac"`
	Aliases   []string   `json:"aliases,omitempty"`
	Trunk     bool       `json:"trunk,omitempty"`
	VLANs     vlan.Set   `json:"vlans,omitzero"`
	Native    vlan.ID    `json:"native,omitempty"`
	// MTU is the NIC's MTU; 0: the kernel's default (1500).
	MTU int `json:"mtu,omitempty"`
	// Impair is the NIC's link impairment (vswitchctl link set).
	Impair Impairment `json:"impair,omitzero"`
}

// SysPort is an attached existing interface of the daemon's namespace.
type SysPort struct {
	Interface string `json:"interface"`
	// Type is the port type that opens it ("system": AF_PACKET); empty
	// means "system".
	Type  string    `json:"type,omitempty"`
	Mode  vlan.Mode `json:"mode"`
	VLAN  vlan.ID   `json:"vlan,omitempty"` // access VLAN, native VLAN or S-VID
	VLANs vlan.Set  `json:"vlans,omitzero"` // trunks, or a dot1q-tunnel's customer VLANs
	// Impair is the port's link impairment (vswitchctl link set).
	Impair Impairment `json:"impair,omitzero"`
	// Lab names the lab that attached the port.
	Lab string `json:"lab,omitempty"`
}

// PortType returns the port's type, "system" by default.
func (p *SysPort) PortType() string {
	if p.Type == "" {
		return "system"
	}
	return p.Type
}

// Uplink is the router's outside interface.
type Uplink struct {
	Interface string       `json:"interface"`
	Address   netip.Prefix `json:"address"`
	Gateway   netip.Addr   `json:"gateway,omitzero"`
	// Lab names the lab that set the uplink.
	Lab string `json:"lab,omitempty"`
}

// New returns an empty state for namespace prefix.
func New(prefix string) *State { return &State{Version: Version, Prefix: prefix} }

// Network returns the network named name, or nil.
func (s *State) Network(name string) *Network {
	for _, n := range s.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Endpoint returns the endpoint named name, or nil.
func (s *State) Endpoint(name string) *Endpoint {
	for _, e := range s.Endpoints {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Port returns the system port on interface name, or nil.
func (s *State) Port(name string) *SysPort {
	for _, p := range s.Ports {
		if p.Interface == name {
			return p
		}
	}
	return nil
}

// NIC returns e's NIC on network, or nil.
func (e *Endpoint) NIC(network string) *NIC {
	for _, n := range e.NICs {
		if n.Network == network {
			return n
		}
	}
	return nil
}

// Interface returns e's NIC named ifname, or nil.
func (e *Endpoint) Interface(ifname string) *NIC {
	for _, n := range e.NICs {
		if n.Interface == ifname {
			return n
		}
	}
	return nil
}

// Attached returns the endpoints with a NIC on network, in state order.
func (s *State) Attached(network string) []*Endpoint {
	var out []*Endpoint
	for _, e := range s.Endpoints {
		if e.NIC(network) != nil {
			out = append(out, e)
		}
	}
	return out
}

// Primary returns e's first NIC with an address on a known network, and
// that network: where its default route and published ports go.
func (s *State) Primary(e *Endpoint) (*NIC, *Network) {
	for _, nic := range e.NICs {
		if !nic.IP.IsValid() {
			continue
		}
		if n := s.Network(nic.Network); n != nil {
			return nic, n
		}
	}
	return nil, nil
}

// Clone returns a deep copy of s. The daemon changes a clone and adopts it
// only once it is saved.
func (s *State) Clone() *State {
	c := *s
	c.Networks = cloneNil(s.Networks, make([]*Network, len(s.Networks)))
	for i, n := range s.Networks {
		nn := *n
		nn.Overlay = n.Overlay.Clone()
		c.Networks[i] = &nn
	}
	c.Endpoints = cloneNil(s.Endpoints, make([]*Endpoint, len(s.Endpoints)))
	for i, e := range s.Endpoints {
		c.Endpoints[i] = e.Clone()
	}
	c.Ports = cloneNil(s.Ports, make([]*SysPort, len(s.Ports)))
	for i, p := range s.Ports {
		pp := *p
		c.Ports[i] = &pp
	}
	if s.Uplink != nil {
		u := *s.Uplink
		c.Uplink = &u
	}
	c.StaticMACs = slices.Clone(s.StaticMACs)
	c.StaticRemotes = slices.Clone(s.StaticRemotes)
	c.Labs = cloneNil(s.Labs, make([]*Lab, len(s.Labs)))
	for i, l := range s.Labs {
		ll := *l
		ll.Topology = slices.Clone(l.Topology)
		c.Labs[i] = &ll
	}
	return &c
}

// Clone returns a deep copy of e.
func (e *Endpoint) Clone() *Endpoint {
	c := *e
	c.Cmd = slices.Clone(e.Cmd)
	c.Env = slices.Clone(e.Env)
	c.Publish = slices.Clone(e.Publish)
	c.DNS = slices.Clone(e.DNS)
	c.ExtraHosts = slices.Clone(e.ExtraHosts)
	if e.ExitCode != nil {
		code := *e.ExitCode
		c.ExitCode = &code
	}
	c.NICs = cloneNil(e.NICs, make([]*NIC, len(e.NICs)))
	for i, n := range e.NICs {
		nn := *n
		nn.Aliases = slices.Clone(n.Aliases)
		c.NICs[i] = &nn
	}
	return &c
}

// cloneNil returns made, or nil when orig is nil (a nil list stays nil).
func cloneNil[T any](orig, made []T) []T {
	if orig == nil {
		return nil
	}
	return made
}

// RemoveEndpoint deletes the endpoint named name from s, with the static
// MAC entries on its ports.
func (s *State) RemoveEndpoint(name string) {
	if e := s.Endpoint(name); e != nil {
		for _, nic := range e.NICs {
			s.DropStaticMACs(e.PortName(nic))
		}
	}
	s.Endpoints = slices.DeleteFunc(s.Endpoints, func(e *Endpoint) bool { return e.Name == name })
}

// PortName is the name of nic's switch port: ENDPOINT/INTERFACE.
func (e *Endpoint) PortName(nic *NIC) string { return e.Name + "/" + nic.Interface }

// DropStaticMACs deletes the static MAC entries on the port named port.
func (s *State) DropStaticMACs(port string) {
	s.StaticMACs = slices.DeleteFunc(s.StaticMACs, func(m StaticMAC) bool { return m.Port == port })
}

// RemoveNetwork deletes the network named name from s, with its static
// remote entries.
func (s *State) RemoveNetwork(name string) {
	s.Networks = slices.DeleteFunc(s.Networks, func(n *Network) bool { return n.Name == name })
	s.StaticRemotes = slices.DeleteFunc(s.StaticRemotes, func(r StaticRemote) bool { return r.Network == name })
}

// RemovePort deletes the system port on interface name from s, with its
// static MAC entries.
func (s *State) RemovePort(name string) {
	s.DropStaticMACs(name)
	s.Ports = slices.DeleteFunc(s.Ports, func(p *SysPort) bool { return p.Interface == name })
}

// GatewayMAC is the MAC of a network's gateway: locally administered,
// derived from the network ID ("vs" in its second and third octets).
func GatewayMAC(id router.NetworkID) header.MAC {
	return header.MAC{0x02, 0x76, 0x73, 0x00, byte(id >> 8), byte(id)}
}

// OverlayGatewayMAC is the gateway MAC of an overlay network: derived from
// its VNI ("vx" in the second and third octets), so every host's router
// has the same gateway MAC as well as the same gateway address — a
// distributed anycast gateway — and endpoints keep their ARP entry
// whichever host they are on.
func OverlayGatewayMAC(vni uint32) header.MAC {
	return header.MAC{0x02, 0x76, 0x78, byte(vni >> 16), byte(vni >> 8), byte(vni)}
}

// networkMAC returns the gateway MAC n must have.
func networkMAC(n *Network) header.MAC {
	if n.Overlay != nil {
		return OverlayGatewayMAC(n.Overlay.VNI)
	}
	return GatewayMAC(n.ID)
}

// EndpointMAC derives an endpoint NIC's MAC from its address, as Docker
// does: a re-created endpoint gets its old MAC back, so peers' caches stay
// right.
func EndpointMAC(ip netip.Addr) header.MAC {
	a := ip.As4()
	return header.MAC{0x02, 0x42, a[0], a[1], a[2], a[3]}
}
