// Package control is vswitchd's versioned HTTP/JSON API on a Unix socket:
// the request and response types, the framed stdio stream of exec and
// attached run, and the Client that vswitchctl and tests use. The server
// is in control/server; this package links no Prometheus, pprof or
// daemon code, so vswitchctl stays small.
//
// Every path starts with /v1. Errors are JSON {"message": "..."} with a
// status that says what went wrong: 400 bad input, 404 no such thing, 409
// conflict with existing state. `exec` and attached `run` upgrade the
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

// Version is the answer to GET /v1/version.
type Version struct {
	API     string `json:"api"`
	Version string `json:"version"`
}

// NetworkCreate is the body of POST /v1/networks.
type NetworkCreate struct {
	Name     string `json:"name"`
	Subnet   string `json:"subnet,omitempty"`  // CIDR; empty: a free one from the default pool
	Gateway  string `json:"gateway,omitempty"` // empty: the subnet's first address
	VLAN     int    `json:"vlan,omitempty"`    // 1–4094; 0: assigned
	Internal bool   `json:"internal,omitempty"`
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
	Created    time.Time         `json:"created"`
	Endpoints  []NetworkEndpoint `json:"endpoints"`
	DNSNames   []DNSName         `json:"dns_names"`
}

// NetworkEndpoint is an endpoint's attachment to a network.
type NetworkEndpoint struct {
	Endpoint  string   `json:"endpoint"`
	Interface string   `json:"interface"`
	MAC       string   `json:"mac"`
	IP        string   `json:"ip"`
	Aliases   []string `json:"aliases,omitempty"`
}

// DNSName is a name a network's DNS answers.
type DNSName struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// Connect is the body of POST /v1/networks/{name}/connect.
type Connect struct {
	Endpoint string   `json:"endpoint"`
	IP       string   `json:"ip,omitempty"`
	Aliases  []string `json:"aliases,omitempty"`
}

// Disconnect is the body of POST /v1/networks/{name}/disconnect.
type Disconnect struct {
	Endpoint string `json:"endpoint"`
}

// Run is the body of POST /v1/endpoints: create an endpoint and start its
// command.
type Run struct {
	Name    string   `json:"name"`
	Network string   `json:"network"`
	IP      string   `json:"ip,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	Publish []string `json:"publish,omitempty"` // docker -p specs
	Cmd     []string `json:"cmd,omitempty"`
	Env     []string `json:"env,omitempty"`
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
}

// Endpoint describes an endpoint.
type Endpoint struct {
	Name      string    `json:"name"`
	Netns     string    `json:"netns"`
	NICs      []NIC     `json:"nics"`
	Cmd       []string  `json:"cmd,omitempty"`
	Status    string    `json:"status"` // running, exited, created
	ExitCode  *int      `json:"exit_code,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Published []string  `json:"published,omitempty"`
	Created   time.Time `json:"created"`
}

// NIC is one of an endpoint's interfaces.
type NIC struct {
	Interface string   `json:"interface"`
	Network   string   `json:"network"`
	MAC       string   `json:"mac"`
	IP        string   `json:"ip"`
	Aliases   []string `json:"aliases,omitempty"`
	Port      string   `json:"port"` // the switch port name
	Mode      string   `json:"mode"` // access, trunk, native-untagged…
	VLANs     string   `json:"vlans,omitempty"`
}

// Exec is the body of POST /v1/endpoints/{name}/exec.
type Exec struct {
	Cmd   []string `json:"cmd"`
	Env   []string `json:"env,omitempty"`
	TTY   bool     `json:"tty,omitempty"`
	Stdin bool     `json:"stdin,omitempty"`
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
	Age    float64 `json:"age_seconds"`
}

// Port describes a switch port and its counters.
type Port struct {
	ID       int               `json:"id"`
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Endpoint string            `json:"endpoint,omitempty"`
	Mode     string            `json:"mode,omitempty"`
	VLAN     int               `json:"vlan,omitempty"`
	VLANs    string            `json:"vlans,omitempty"`
	Routed   bool              `json:"routed,omitempty"`
	RxFrames uint64            `json:"rx_frames"`
	RxBytes  uint64            `json:"rx_bytes"`
	TxFrames uint64            `json:"tx_frames"`
	TxBytes  uint64            `json:"tx_bytes"`
	Drops    map[string]uint64 `json:"drops,omitempty"`
}

// PortAdd is the body of POST /v1/ports: attach an existing interface.
type PortAdd struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"` // access, trunk, native-tagged, native-untagged, dot1q-tunnel
	VLAN      int    `json:"vlan,omitempty"`
	VLANs     string `json:"vlans,omitempty"`
	Native    int    `json:"native,omitempty"`
}

// Stats is the answer to GET /v1/stats.
type Stats struct {
	Ports  []Port            `json:"ports"`
	Drops  map[string]uint64 `json:"drops"` // datapath drops summed over ports
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
	Gateway   string `json:"gateway,omitempty"`
	MAC       string `json:"mac,omitempty"`
}

// Conn is one conntrack entry.
type Conn struct {
	Proto     string `json:"proto"`
	State     string `json:"state,omitempty"`
	Timeout   int    `json:"timeout_seconds"`
	Zone      int    `json:"zone"`
	ReplyZone int    `json:"reply_zone"`
	Orig      Tuple  `json:"original"`
	Reply     Tuple  `json:"reply"`
	Assured   bool   `json:"assured"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
}

// Tuple is a conntrack tuple.
type Tuple struct {
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	SrcPort int    `json:"sport,omitempty"`
	DstPort int    `json:"dport,omitempty"`
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
	To      string `json:"to,omitempty"` // uplink address; empty when none or internal
	Reason  string `json:"reason,omitempty"`
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
