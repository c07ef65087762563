// Package control is vswitchd's versioned HTTP/JSON API on a Unix socket:
// the request and response types, the framed stdio stream of exec and
// attached run, and the Client that vswitchctl and tests use. The server
// is in control/server; this package links no Prometheus, pprof or
// daemon code, so vswitchctl stays small.
//
// Every path starts with /v1. Errors are JSON {"message": "..."} with a
// status that says what went wrong: 400 bad input, 404 no such thing (or
// route), 405 a method the route does not take, 409 conflict with existing
// state, 413 a body over 1 MiB. `exec` and attached `run` upgrade the
// connection to a framed stdio stream (see stream.go).
//
// The entry point is NewClient.
package control

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// APIVersion is the path prefix of this API.
const APIVersion = "v1"

// DefaultSocket is where vswitchd listens and vswitchctl connects by
// default; VSWITCHD_SOCKET overrides it for vswitchctl.
const DefaultSocket = "/run/vswitchd/vswitchd.sock"

// SocketEnv is the environment variable vswitchctl reads for the socket.
const SocketEnv = "VSWITCHD_SOCKET"

// Errors a Backend wraps so the server can choose the HTTP status.
var (
	ErrInvalid  = errors.New("invalid")   // 400
	ErrNotFound = errors.New("not found") // 404
	ErrConflict = errors.New("conflict")  // 409
)

// Errorf returns an error with the formatted message that also matches kind
// (ErrInvalid, ErrNotFound or ErrConflict) under errors.Is, without the
// kind's word in the message. %w in format wraps a cause as fmt.Errorf does.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// The JSON schema. Every listing and answer below is stable within API v1:
// field names are snake_case; every field is always present (null or an
// empty list when there is nothing, never missing); states are typed
// fields (state, exit_code); VLAN lists are arrays of numbers. Request
// bodies are decoded strictly: an unknown field, anything after the one
// JSON value, or a NUL byte in a command or its environment is a 400.

// Version is the answer to GET /v1/version.
type Version struct {
	API     string `json:"api"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// NetworkCreate is the body of POST /v1/networks.
type NetworkCreate struct {
	Name     string `json:"name"`
	Subnet   string `json:"subnet,omitempty"`  // CIDR; empty: a free one from the default pool
	Gateway  string `json:"gateway,omitempty"` // empty: the subnet's first address
	VLAN     int    `json:"vlan,omitempty"`    // 1–4094; 0: assigned
	Internal bool   `json:"internal,omitempty"`
	// ICC, when false, keeps the network's endpoints from reaching each
	// other (they still reach the gateway, the host and the outside), as
	// Docker's enable_icc=false. Absent means true.
	ICC *bool `json:"icc,omitempty"`
	// IPRange limits automatic addresses to a part of the subnet (CIDR),
	// as Docker's --ip-range: each host of an overlay network takes its
	// own part.
	IPRange string `json:"ip_range,omitempty"`
	// MTU is the MTU of the network's NICs and of the packets the router
	// routes into it; 0: 1500, or 1450 for an overlay network.
	MTU int `json:"mtu,omitempty"`
	// Overlay, if set, makes the network span hosts over VXLAN; it then
	// needs a subnet, the same on every host.
	Overlay *OverlayCreate `json:"overlay,omitempty"`
}

// OverlayCreate is the VXLAN side of an overlay network.
type OverlayCreate struct {
	VNI   int      `json:"vni"`   // 1–16777215, the same on every host
	Peers []string `json:"peers"` // the other hosts' VTEP addresses
	// Port is the UDP port (0: 4789); Local the address to bind to (""
	// any).
	Port  int    `json:"port,omitempty"`
	Local string `json:"local,omitempty"`
}

// Overlay describes an overlay network's VXLAN side.
type Overlay struct {
	VNI   int      `json:"vni"`
	Peers []string `json:"peers"`
	Port  int      `json:"port"`
	Local string   `json:"local"` // "" for any address
	// VXLANPort is the switch port that carries the network.
	VXLANPort string `json:"vxlan_port"`
	// Remotes are the MACs learned (or added) behind the peers.
	Remotes []RemoteMAC `json:"remotes"`
}

// RemoteMAC is a MAC of an overlay network behind another host's VTEP.
type RemoteMAC struct {
	MAC    string  `json:"mac"`
	VTEP   string  `json:"vtep"`
	IP     string  `json:"ip"` // from its ARP packets; "" if not seen
	Static bool    `json:"static"`
	Age    float64 `json:"age_seconds"`
}

// Peer is the body of POST /v1/networks/{name}/peers.
type Peer struct {
	Peer string `json:"peer"`
}

// Network describes a network.
type Network struct {
	Name       string            `json:"name"`
	ID         int               `json:"id"`
	VLAN       int               `json:"vlan"`
	Subnet     string            `json:"subnet"`
	Gateway    string            `json:"gateway"`
	GatewayMAC string            `json:"gateway_mac"`
	Internal   bool              `json:"internal"`
	ICC        bool              `json:"icc"`
	Created    time.Time         `json:"created"`
	Endpoints  []NetworkEndpoint `json:"endpoints"`
	DNSNames   []DNSName         `json:"dns_names"`
	MTU        int               `json:"mtu"`      // 0: 1500
	IPRange    string            `json:"ip_range"` // "" for the whole subnet
	// Overlay is an overlay network's VXLAN side; null for others.
	Overlay *Overlay `json:"overlay"`
}

// NetworkEndpoint is an endpoint's attachment to a network.
type NetworkEndpoint struct {
	Endpoint  string   `json:"endpoint"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	IP        string   `json:"ip"` // "" for a trunk NIC without an address
	Aliases   []string `json:"aliases"`
}

// DNSName is a name a network's DNS answers.
type DNSName struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// NetworkPrune is the answer to POST /v1/networks/prune: the networks with
// no endpoint that were removed (the default network stays).
type NetworkPrune struct {
	Removed []string `json:"removed"`
}

// SystemReset is the answer to POST /v1/system/reset: what the reset
// removed to bring the switch back to what a fresh start has.
type SystemReset struct {
	Endpoints  []string `json:"endpoints"`
	Networks   []string `json:"networks"`
	Ports      []string `json:"ports"`
	Uplink     string   `json:"uplink"` // its interface; "" if there was none
	StaticMACs int      `json:"static_macs"`
	// Kept are CNI attachments left to their runtime (and the networks
	// they are on stay).
	Kept []string `json:"kept"`
}

// Connect is the body of POST /v1/networks/{name}/connect.
type Connect struct {
	Endpoint string   `json:"endpoint"`
	IP       string   `json:"ip,omitempty"`
	Aliases  []string `json:"aliases,omitempty"`
	// IfName, MAC and MTU are the new NIC's (defaults: the next free
	// ethN, derived from the address, 1500): a container runtime's
	// choices for a CNI attachment.
	IfName string `json:"ifname,omitempty"`
	MAC    string `json:"mac,omitempty"`
	MTU    int    `json:"mtu,omitempty"`
}

// Disconnect is the body of POST /v1/networks/{name}/disconnect.
type Disconnect struct {
	Endpoint string `json:"endpoint"`
}

// DefaultNetwork is the network run uses when none is named, made at
// start like docker0.
const DefaultNetwork = "bridge"

// Run is the body of POST /v1/endpoints: create an endpoint and start its
// command.
type Run struct {
	Name string `json:"name"`
	// Network is the network of eth0; empty means DefaultNetwork (unless
	// Trunk).
	Network string   `json:"network,omitempty"`
	IP      string   `json:"ip,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	// Publish are docker -p specs: [IP:][HOST[-END]:]CONTAINER[-END][/proto];
	// a spec without a host port gets a free one.
	Publish []string `json:"publish,omitempty"`
	// Expose are container ports (PORT[-END][/proto]) that PublishAll
	// publishes (docker --expose; an endpoint has no image to declare
	// them).
	Expose []string `json:"expose,omitempty"`
	// PublishAll (docker -P) publishes every exposed port on a free host
	// port.
	PublishAll bool     `json:"publish_all,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	// Hostname is the endpoint's host name (its own UTS namespace);
	// empty: its name.
	Hostname string `json:"hostname,omitempty"`
	// DNS are resolvers added after the gateway in the endpoint's
	// resolv.conf.
	DNS []string `json:"dns,omitempty"`
	// ExtraHosts are NAME:IP lines for the endpoint's /etc/hosts; IP may
	// be "host-gateway" (the host's address on its leg).
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// Restart is Docker's restart policy: no, on-failure[:N], always,
	// unless-stopped. Empty: no.
	Restart string `json:"restart,omitempty"`
	// User runs the command (and exec's, unless they say otherwise) as
	// USER[:GROUP], names or numbers; empty: root.
	User string `json:"user,omitempty"`
	// CapAdd and CapDrop are Linux capabilities (with or without CAP_,
	// or ALL) the endpoint's processes keep or lose, as docker run's:
	// by default they have all of root's.
	CapAdd  []string `json:"cap_add,omitempty"`
	CapDrop []string `json:"cap_drop,omitempty"`
	// Remove removes the endpoint when its command exits.
	Remove bool `json:"remove,omitempty"`
	// TTY and Stdin apply to an attached run.
	TTY   bool `json:"tty,omitempty"`
	Stdin bool `json:"stdin,omitempty"`
	// Trunk gives the endpoint a tagged NIC carrying VLANs (empty: all),
	// with Native untagged if set, instead of an access port.
	Trunk  bool   `json:"trunk,omitempty"`
	VLANs  string `json:"vlans,omitempty"`
	Native int    `json:"native,omitempty"`
	// NetnsPath attaches to an existing namespace (a container runtime's,
	// never deleted by vswitchd) instead of making one; IfName, MAC and
	// MTU are its NIC's (defaults eth0, derived, 1500). ContainerID
	// marks a CNI attachment (CNI_CONTAINERID).
	NetnsPath   string `json:"netns_path,omitempty"`
	IfName      string `json:"ifname,omitempty"`
	MAC         string `json:"mac,omitempty"`
	MTU         int    `json:"mtu,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
}

// Endpoint states (Endpoint.State).
const (
	StateCreated    = "created"    // its command never ran
	StateRunning    = "running"    // its command runs; without a command, it is up
	StateExited     = "exited"     // its command exited (or was stopped)
	StateRestarting = "restarting" // waiting to run its command again (restart policy)
	StateRemoving   = "removing"   // being removed
)

// Endpoint describes an endpoint (GET /v1/endpoints, docker ps/inspect).
type Endpoint struct {
	Name string `json:"name"`
	// Netns is the namespace's name (an endpoint vswitchd owns) or path
	// (one it attaches to: Attached).
	Netns    string `json:"netns"`
	Attached bool   `json:"attached"`
	Hostname string `json:"hostname"`
	// State is one of the State constants; Status says it as docker ps
	// does ("Up 3 minutes", "Exited (0) 2 seconds ago").
	State  string `json:"state"`
	Status string `json:"status"`
	// ExitCode is the last exit code, null while running or if it never
	// ran (128+N: killed by signal N).
	ExitCode      *int       `json:"exit_code"`
	PID           int        `json:"pid"` // 0 unless running
	StartedAt     *time.Time `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	RestartPolicy string     `json:"restart_policy"`
	RestartCount  int        `json:"restart_count"`
	Cmd           []string   `json:"cmd"`
	Env           []string   `json:"env"`
	DNS           []string   `json:"dns"`
	ExtraHosts    []string   `json:"extra_hosts"`
	NICs          []NIC      `json:"nics"`
	Ports         []PortMap  `json:"ports"`
	Created       time.Time  `json:"created"`
	// ContainerID is the runtime's container of a CNI attachment, ""
	// for an endpoint vswitchctl made.
	ContainerID string `json:"container_id"`
}

// PortMap is a published port range of an endpoint.
type PortMap struct {
	Proto         string `json:"proto"`   // tcp or udp
	HostIP        string `json:"host_ip"` // "0.0.0.0": every address
	HostPort      int    `json:"host_port"`
	HostPortEnd   int    `json:"host_port_end"` // == host_port for one port
	ContainerPort int    `json:"container_port"`
	Spec          string `json:"spec"` // canonical -p form, e.g. "8080:80/tcp"
}

// NIC is one of an endpoint's interfaces.
type NIC struct {
	Interface string   `json:"interface"`
	Network   string   `json:"network"` // "" for a trunk on no network
	MAC       string   `json:"mac"`
	IP        string   `json:"ip"`         // "" without an address
	PrefixLen int      `json:"prefix_len"` // 0 without an address
	Gateway   string   `json:"gateway"`    // the network's gateway, ""
	Aliases   []string `json:"aliases"`
	Port      string   `json:"port"` // the switch port name
	Mode      string   `json:"mode"` // access, trunk, native-untagged
	// VLANs are the VLANs a trunk carries; empty means all.
	VLANs  []int `json:"vlans"`
	Native int   `json:"native"` // a trunk's untagged VLAN, 0: none
	MTU    int   `json:"mtu"`    // 0: the default (1500)
}

// Exec is the body of POST /v1/endpoints/{name}/exec.
type Exec struct {
	Cmd   []string `json:"cmd"`
	Env   []string `json:"env,omitempty"`
	TTY   bool     `json:"tty,omitempty"`
	Stdin bool     `json:"stdin,omitempty"`
	// WorkDir is the working directory (default /).
	WorkDir string `json:"workdir,omitempty"`
	// User runs the command as USER[:GROUP] (names or numbers).
	User string `json:"user,omitempty"`
	// Detach runs it in the background: the request returns at once and
	// its output is discarded (docker exec -d).
	Detach bool `json:"detach,omitempty"`
}

// Stop is the body of POST /v1/endpoints/{name}/stop and /restart.
type Stop struct {
	// Timeout is how long the command gets between SIGTERM and SIGKILL,
	// in seconds: 0 sends SIGKILL at once; absent (null): the default,
	// 3.
	Timeout *int `json:"timeout,omitempty"`
}

// Kill is the body of POST /v1/endpoints/{name}/kill.
type Kill struct {
	// Signal is a name (KILL, SIGTERM, HUP) or a number; empty: KILL.
	Signal string `json:"signal,omitempty"`
}

// Top is the answer to GET /v1/endpoints/{name}/top: the processes in the
// endpoint, as ps -ef shows them.
type Top struct {
	Titles    []string   `json:"titles"`
	Processes [][]string `json:"processes"`
}

// PublishRequest is the body of POST /v1/endpoints/{name}/publish and
// /unpublish.
type PublishRequest struct {
	Spec string `json:"spec"` // docker -p syntax
}

// FDBEntry is one MAC table entry.
type FDBEntry struct {
	VLAN   int     `json:"vlan"`
	MAC    string  `json:"mac"`
	Port   string  `json:"port"`
	Static bool    `json:"static"`
	Age    float64 `json:"age_seconds"` // 0 for static entries
}

// FDBAdd is the body of POST /v1/fdb: a static entry.
type FDBAdd struct {
	MAC string `json:"mac"`
	// Port is the port the MAC is on; VLAN or Network gives its VLAN.
	Port    string `json:"port"`
	VLAN    int    `json:"vlan,omitempty"`
	Network string `json:"network,omitempty"`
	// VTEP, instead of Port, puts the MAC behind another host's VTEP on
	// overlay network Network.
	VTEP string `json:"vtep,omitempty"`
}

// Port describes a switch port and its counters.
type Port struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`     // tap, system, internal, vxlan
	Endpoint string `json:"endpoint"` // "" unless an endpoint NIC
	// Mode is the VLAN mode (access, trunk, native-untagged,
	// native-tagged, dot1q-tunnel) or "routed" (the uplink, the host
	// leg).
	Mode string `json:"mode"`
	// VLAN is the access VLAN, a native VLAN, or a dot1q-tunnel's
	// service VLAN; 0: none.
	VLAN int `json:"vlan"`
	// VLANs are a trunk's VLANs (empty with AllVLANs) or a dot1q-tunnel's
	// customer VLANs (empty: all).
	VLANs    []int `json:"vlans"`
	AllVLANs bool  `json:"all_vlans"`
	Routed   bool  `json:"routed"`
	// Queues is the number of receive queues, each read by its own worker:
	// an endpoint NIC's TAP queues (vswitchd --tap-queues), an uplink's
	// PACKET_FANOUT_HASH sockets; 1 for other ports.
	Queues   int               `json:"queues"`
	RxFrames uint64            `json:"rx_frames"`
	RxBytes  uint64            `json:"rx_bytes"`
	TxFrames uint64            `json:"tx_frames"`
	TxBytes  uint64            `json:"tx_bytes"`
	Drops    map[string]uint64 `json:"drops"` // by reason; {} when none
	// VTEPs are a vxlan port's counters per remote VTEP; [] for others.
	VTEPs []VTEP `json:"vteps"`
}

// VTEP is the traffic a vxlan port exchanged with one remote VTEP:
// datagrams and their UDP payload bytes, and the datagrams from it
// dropped at decapsulation by reason (short, bad-flags, bad-vni…).
type VTEP struct {
	Addr     string            `json:"addr"` // "other" for VTEPs beyond the counted ones
	RxFrames uint64            `json:"rx_frames"`
	RxBytes  uint64            `json:"rx_bytes"`
	TxFrames uint64            `json:"tx_frames"`
	TxBytes  uint64            `json:"tx_bytes"`
	RxErrors map[string]uint64 `json:"rx_errors"`
}

// PortAdd is the body of POST /v1/ports: attach an existing interface.
type PortAdd struct {
	Interface string `json:"interface"`
	Type      string `json:"type,omitempty"` // registered port type; default system
	Mode      string `json:"mode"`           // access, trunk, native-tagged, native-untagged, dot1q-tunnel
	VLAN      int    `json:"vlan,omitempty"`
	VLANs     string `json:"vlans,omitempty"`
	Native    int    `json:"native,omitempty"`
}

// PortSet is the body of PATCH /v1/ports/{name}: a system port's new VLAN
// configuration, applied live (the fields of PortAdd but the interface).
type PortSet struct {
	Mode   string `json:"mode"`
	VLAN   int    `json:"vlan,omitempty"`
	VLANs  string `json:"vlans,omitempty"`
	Native int    `json:"native,omitempty"`
}

// Stats is the answer to GET /v1/stats.
type Stats struct {
	Ports  []Port            `json:"ports"`
	Drops  map[string]uint64 `json:"drops"` // summed over ports
	FDB    map[string]uint64 `json:"fdb"`
	Router map[string]uint64 `json:"router"`
	NAT    map[string]uint64 `json:"nat"`
	DNS    map[string]uint64 `json:"dns"`
	Proxy  map[string]uint64 `json:"proxy"`
}

// Uplink is the router's outside interface (PUT /v1/uplink, GET answer).
type Uplink struct {
	Interface string `json:"interface"`
	Address   string `json:"address"` // CIDR
	Gateway   string `json:"gateway"` // "" for none
	MAC       string `json:"mac"`     // answers only
}

// Conn is one conntrack entry.
type Conn struct {
	Proto string `json:"proto"` // tcp, udp, icmp
	// State is the TCP state (ESTABLISHED…), "" for other protocols.
	State   string `json:"state"`
	Timeout int    `json:"timeout_seconds"`
	// Zone and ReplyZone name where the original and the reply packets
	// arrive: a network's name, "host" or "uplink"; the IDs are the
	// conntrack zone numbers.
	Zone        string `json:"zone"`
	ZoneID      int    `json:"zone_id"`
	ReplyZone   string `json:"reply_zone"`
	ReplyZoneID int    `json:"reply_zone_id"`
	Orig        Tuple  `json:"original"`
	Reply       Tuple  `json:"reply"`
	Assured     bool   `json:"assured"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	// Windows is a TCP connection's window tracking state, by direction
	// (original sender, then reply sender); empty for other protocols.
	Windows []TCPWindow `json:"tcp_windows"`
}

// TCPWindow is what conntrack's window tracking knows of one direction's
// sender (Linux's struct ip_ct_tcp_state, which tcp_in_window checks every
// segment against): sequence numbers are the sender's own.
type TCPWindow struct {
	End    uint64 `json:"end"`     // the highest sequence it sent, plus its length
	MaxEnd uint64 `json:"max_end"` // the highest sequence the receiver's window lets it send
	MaxWin uint64 `json:"max_win"` // its largest window (scaled)
	MaxAck uint64 `json:"max_ack"` // the highest ACK it sent
	Scale  int    `json:"wscale"`  // its window scale (RFC 7323), 0 when not negotiated
}

// Tuple is a conntrack tuple. For ICMP echo both ports hold the
// identifier.
type Tuple struct {
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	SrcPort int    `json:"sport"`
	DstPort int    `json:"dport"`
}

// ConntrackCount is the answer to GET /v1/conntrack/count.
type ConntrackCount struct {
	Count int `json:"count"`
	Max   int `json:"max"`
	// MaxPerEndpoint is the most connections one endpoint (a source
	// address in a zone) opens; 0 means unlimited.
	MaxPerEndpoint int `json:"max_per_endpoint"`
}

// NATRules is the answer to GET /v1/nat.
type NATRules struct {
	Masquerade []Masquerade `json:"masquerade"`
	Published  []Published  `json:"published"`
}

// Masquerade is a network's outbound translation.
type Masquerade struct {
	Network string `json:"network"`
	Subnet  string `json:"subnet"`
	To      string `json:"to"`     // uplink address; "" when none or internal
	Reason  string `json:"reason"` // why there is none
}

// Published is a published port range.
type Published struct {
	Endpoint string `json:"endpoint"`
	Proto    string `json:"proto"`
	HostIP   string `json:"host_ip"`
	HostPort string `json:"host_port"` // "8000" or "8000-8010"
	Target   string `json:"target"`    // endpoint IP
	ContPort string `json:"container_port"`
}

// LogLevel is the body of PUT /v1/log-level and its answer.
type LogLevel struct {
	Level string `json:"level"` // debug, info, warn, error
}

// IO is the stdio of an attached command. Stdin is nil when the client
// sends none. On the server, Resize is closed when the stream ends.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // nil with a TTY: output goes to Stdout
	Resize <-chan WinSize
}

// WinSize is a terminal size.
type WinSize struct {
	Rows, Cols uint16
}
