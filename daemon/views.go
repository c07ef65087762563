package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// What the daemon reports. These are domain values (addresses, MACs,
// VLAN IDs, durations); the API server turns them into its JSON.

// NetworkInfo describes a network.
type NetworkInfo struct {
	state.Network
	Endpoints []NetworkEndpoint
	// DNSNames are the names the network's DNS answers.
	DNSNames []dns.Record
}

// NetworkEndpoint is an endpoint's attachment to a network.
type NetworkEndpoint struct {
	Endpoint  string
	Interface string
	MAC       header.MAC
	IP        netip.Addr
	Aliases   []string
}

// EndpointInfo describes an endpoint.
type EndpointInfo struct {
	Name string
	// Netns is the namespace's name (owned) or path (attached).
	Netns    string
	Attached bool // vswitchd attaches to the namespace but does not own it
	NICs     []NICInfo
	Cmd      []string
	// Status is "running", "exited (N)" or "up" (no command).
	Status    string
	ExitCode  *int
	PID       int
	Published []state.Publish
	Created   time.Time
}

// NICInfo describes an endpoint NIC and its switch port.
type NICInfo struct {
	state.NIC
	Port string // the switch port's name
	Mode string // access, trunk, native-untagged (native N)
}

// PortInfo describes a switch port and its counters.
type PortInfo struct {
	ID       port.ID
	Name     string
	Kind     datapath.Kind
	Endpoint string
	Routed   bool
	VLAN     vlan.Policy
	Counters datapath.CounterValues
}

// FDBEntry is one MAC table entry.
type FDBEntry struct {
	VLAN   vlan.ID
	MAC    header.MAC
	Port   string
	Static bool
	Age    time.Duration
}

// Stats is every counter of the switch.
type Stats struct {
	Ports []PortInfo
	// Deferred counts frames sent outside workers (injected) that were
	// dropped on their way.
	Deferred datapath.CounterValues
	FDB      bridge.Stats
	Router   router.Counts
	NAT      nat.Stats
	DNS      dns.Stats
	Proxy    proxy.Stats
}

// UplinkInfo describes the uplink.
type UplinkInfo struct {
	state.Uplink
	MAC header.MAC
}

// NATRules are the translation rules, like `iptables -t nat -L -n`.
type NATRules struct {
	Masquerade []Masquerade
	Published  []PublishedPort
}

// Masquerade is a network's outbound translation.
type Masquerade struct {
	Network string
	Subnet  netip.Prefix
	To      netip.Addr // the uplink address; invalid when none
	Reason  string     // why there is none
}

// PublishedPort is a published port range and where it goes.
type PublishedPort struct {
	Endpoint string
	state.Publish
	Target netip.Addr
}

// describeNetwork returns n's view. Callers hold mu.
func (d *Daemon) describeNetwork(n *state.Network) NetworkInfo {
	out := NetworkInfo{Network: *n, Endpoints: []NetworkEndpoint{}}
	for _, e := range d.st.Endpoints {
		if nic := e.NIC(n.Name); nic != nil {
			out.Endpoints = append(out.Endpoints, NetworkEndpoint{
				Endpoint: e.Name, Interface: nic.Interface, MAC: nic.MAC, IP: nic.IP, Aliases: nic.Aliases,
			})
		}
	}
	out.DNSNames = append(d.st.NetworkRecords(n), dns.Record{Name: dns.HostName, Addr: d.hostLeg.HostAddr})
	return out
}

// describeEndpoint returns e's view. Callers hold mu.
func (d *Daemon) describeEndpoint(e *state.Endpoint) EndpointInfo {
	out := EndpointInfo{
		Name: e.Name, Netns: procNS(e), Attached: !e.Owned(), Cmd: e.Cmd, Published: e.Publish,
		Created: e.Created, Status: "up", NICs: []NICInfo{},
	}
	for _, nic := range e.NICs {
		c := NICInfo{NIC: *nic, Port: e.Name + "/" + nic.Interface, Mode: "access"}
		if nic.Trunk {
			c.Mode = "trunk"
			if nic.Native != 0 {
				c.Mode = fmt.Sprintf("native-untagged (native %d)", nic.Native)
			}
		}
		out.NICs = append(out.NICs, c)
	}
	if p := d.sup.Main(e.Name); p != nil {
		if p.Running() {
			out.Status, out.PID = "running", p.PID()
		} else {
			code := p.ExitCode()
			out.Status, out.ExitCode = fmt.Sprintf("exited (%d)", code), &code
		}
	}
	return out
}
