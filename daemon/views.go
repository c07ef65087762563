package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"net/netip"
	"time"

	units "github.com/docker/go-units"

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
	"github.com/vswitchd/vswitchd/vxlan"
)

// What the daemon reports. These are domain values (addresses, MACs,
// VLAN IDs, durations); the API server turns them into its JSON.

// NetworkInfo describes a network.
type NetworkInfo struct {
	state.Network
	Endpoints []NetworkEndpoint
	// DNSNames are the names the network's DNS answers.
	DNSNames []dns.Record
	// Remotes are an overlay network's MACs behind other hosts' VTEPs,
	// learned or static; VXLANPort is the vxlan port that carries it.
	Remotes   []RemoteMAC
	VXLANPort string
}

// NetworkEndpoint is an endpoint's attachment to a network.
type NetworkEndpoint struct {
	Endpoint  string
	Interface string
	MAC       header.MAC
	IP        netip.Addr
	Aliases   []string
}

// Endpoint states (EndpointInfo.State).
const (
	StateCreated    = "created"    // its command never ran
	StateRunning    = "running"    // its command runs (or, without one, it is up)
	StateExited     = "exited"     // its command exited or was stopped
	StateRestarting = "restarting" // waiting to run its command again
	StateRemoving   = "removing"
)

// EndpointInfo describes an endpoint.
type EndpointInfo struct {
	Name string
	// Netns is the namespace's name (owned) or path (attached).
	Netns    string
	Attached bool // vswitchd attaches to the namespace but does not own it
	Hostname string
	NICs     []NICInfo
	Cmd      []string
	Env      []string
	// State is one of the State constants; Status says it as docker ps
	// does: "Up 3 minutes", "Exited (0) 2 seconds ago".
	State  string
	Status string
	// ExitCode is the last exit code; nil while running, before the
	// first run, or when unknown (a re-adopted command's).
	ExitCode     *int
	PID          int
	StartedAt    time.Time
	FinishedAt   time.Time
	Restart      state.RestartPolicy
	RestartCount int
	DNS          []netip.Addr
	ExtraHosts   []state.HostEntry
	Published    []state.Publish
	Created      time.Time
	// ContainerID is the runtime's container of a CNI attachment.
	ContainerID string
}

// NICInfo describes an endpoint NIC and its switch port.
type NICInfo struct {
	state.NIC
	Port      string     // the switch port's name
	Mode      string     // access, trunk, native-untagged
	PrefixLen int        // the network's prefix length; 0 without an address
	Gateway   netip.Addr // the network's gateway
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
	// Queues is the number of receive queues, each with its worker (a
	// multi-queue TAP, an uplink's PACKET_FANOUT sockets).
	Queues int
	// VTEPs are a vxlan port's counters per remote VTEP.
	VTEPs []vxlan.VTEPStats
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
	// Defrag is the reassembler's: fragments held until their datagram
	// is complete.
	Defrag nat.DefragStats
	DNS    dns.Stats
	Proxy  proxy.Stats
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
	out := NetworkInfo{Network: *n, Endpoints: []NetworkEndpoint{}, Remotes: d.remoteMACs(n)}
	if ov := d.overlayOf(n); ov != nil {
		out.VXLANPort = ov.name
	}
	for _, e := range d.st.Endpoints {
		if nic := e.NIC(n.Name); nic != nil {
			out.Endpoints = append(out.Endpoints, NetworkEndpoint{
				Endpoint: e.Name, Interface: nic.Interface, MAC: nic.MAC, IP: nic.IP, Aliases: nic.Aliases,
			})
		}
	}
	for _, r := range d.st.NetworkRecords(n) {
		out.DNSNames = append(out.DNSNames, dns.Record{Name: r.Name, Addr: r.Addr}, dns.Record{Name: r.Name + "." + r.Network, Addr: r.Addr})
	}
	fqdn := func(s string) string { return strings.TrimSuffix(s, ".") }
	out.DNSNames = append(out.DNSNames,
		dns.Record{Name: fqdn(dns.HostName), Addr: d.hostLeg.HostAddr},
		dns.Record{Name: fqdn(dns.DockerHostName), Addr: d.hostLeg.HostAddr},
		dns.Record{Name: fqdn(dns.GatewayName), Addr: n.Gateway})
	return out
}

// describeEndpoint returns e's view. Callers hold mu.
func (d *Daemon) describeEndpoint(e *state.Endpoint) EndpointInfo {
	out := EndpointInfo{
		Name: e.Name, Netns: procNS(e), Attached: !e.Owned(), Hostname: e.HostnameOrName(),
		Cmd: e.Cmd, Env: e.Env, ExitCode: e.ExitCode, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
		Restart: e.Restart, RestartCount: e.RestartCount, DNS: e.DNS, ExtraHosts: e.ExtraHosts,
		Published: e.Publish, Created: e.Created, NICs: []NICInfo{}, ContainerID: e.ContainerID,
	}
	for _, nic := range e.NICs {
		c := NICInfo{NIC: *nic, Port: e.PortName(nic), Mode: "access"}
		if nic.Trunk {
			c.Mode = "trunk"
			if nic.Native != 0 {
				c.Mode = "native-untagged"
			}
		}
		if n := d.st.Network(nic.Network); n != nil && nic.IP.IsValid() {
			c.PrefixLen, c.Gateway = n.Subnet.Bits(), n.Gateway
		}
		out.NICs = append(out.NICs, c)
	}
	var running bool
	if p := d.sup.Main(e.Name); p != nil && p.Running() {
		running, out.PID, out.ExitCode = true, p.PID(), nil
	} else if p != nil && e.PID == p.PID() {
		// Exited, not recorded yet (mainExited waits for the lock).
		e = e.Clone()
		e.PID, e.FinishedAt, e.ExitCode = 0, p.Ended(), nil
		if p.ExitKnown() {
			code := p.ExitCode()
			e.ExitCode = &code
		}
		out.FinishedAt, out.ExitCode = e.FinishedAt, e.ExitCode
	}
	out.State, out.Status = endpointState(e, running, d.busy[e.Name] || e.Phase == state.Removing, d.restartPending(e.Name), now())
	return out
}

// endpointState says where e is, as a State constant and as docker ps's
// status words.
func endpointState(e *state.Endpoint, running, removing, restarting bool, t time.Time) (string, string) {
	ago := func(at time.Time) string {
		if at.IsZero() {
			at = e.Created // a state from before times were recorded
		}
		return units.HumanDuration(t.Sub(at))
	}
	exit := "?"
	if e.ExitCode != nil {
		exit = strconv.Itoa(*e.ExitCode)
	}
	switch {
	case removing:
		return StateRemoving, "Removal In Progress"
	case running:
		return StateRunning, "Up " + ago(e.StartedAt)
	case restarting:
		return StateRestarting, fmt.Sprintf("Restarting (%s) %s ago", exit, ago(e.FinishedAt))
	case len(e.Cmd) == 0 && !e.Stopped:
		// No command: the endpoint is up as long as it exists.
		since := e.StartedAt
		if since.IsZero() {
			since = e.Created
		}
		return StateRunning, "Up " + ago(since)
	case len(e.Cmd) == 0:
		return StateExited, "Exited (0) " + ago(e.FinishedAt) + " ago"
	case e.StartedAt.IsZero():
		return StateCreated, "Created"
	}
	return StateExited, fmt.Sprintf("Exited (%s) %s ago", exit, ago(e.FinishedAt))
}
