package control

import "time"

// Labs: a topology file (vswitchctl lab up FILE) is parsed by vswitchctl
// into a Topology and sent whole to PUT /v1/labs/{name}, where the daemon
// validates it against what runs, computes the difference and converges
// the switch to it in one request. POST /v1/labs/{name}/plan computes the
// difference without changing anything; DELETE /v1/labs/{name} removes
// what the lab made; GET /v1/labs lists the labs.

// Topology is a lab as a topology file declares it. Names are the file's:
// the daemon prefixes networks and endpoints with Prefix.
type Topology struct {
	Name string `json:"name"`
	// Prefix is put before the names of the lab's networks and
	// endpoints; nil means Name + "-" (containerlab's clab-NAME-), ""
	// none.
	Prefix    *string       `json:"prefix"`
	File      string        `json:"file"` // the file's path, for messages
	Networks  []LabNetwork  `json:"networks"`
	Endpoints []LabEndpoint `json:"endpoints"`
	Ports     []LabPort     `json:"ports"`
	Uplink    *LabUplink    `json:"uplink"`
	Links     []LabLink     `json:"links"`
	// Lines maps a place in the topology to its line in File, so errors
	// found by the daemon name it: "networks.lan", "networks.lan.subnet",
	// "endpoints.web.networks.0.ip", "links.2.loss", "uplink.address".
	Lines map[string]int `json:"lines"`
}

// LabNetwork is a network of a lab (network create's options).
type LabNetwork struct {
	Name     string `json:"name"`
	Subnet   string `json:"subnet"`  // CIDR; "": a free one
	Gateway  string `json:"gateway"` // "": the subnet's first address
	VLAN     int    `json:"vlan"`    // 0: assigned
	Internal bool   `json:"internal"`
	ICC      *bool  `json:"icc"`      // nil: true
	IPRange  string `json:"ip_range"` // CIDR inside the subnet; "": all of it
	MTU      int    `json:"mtu"`      // 0: the default
	// VXLAN, if set, makes an overlay network reaching its peers.
	VXLAN *LabVXLAN `json:"vxlan"`
}

// LabVXLAN is the overlay side of a lab network: its VNI and the other
// hosts' VTEPs (network create --vni --peer --vxlan-port --local).
type LabVXLAN struct {
	VNI   int      `json:"vni"`
	Peers []string `json:"peers"`
	Port  int      `json:"port"`  // 0: 4789
	Local string   `json:"local"` // "": any address
}

// LabEndpoint is an endpoint of a lab (run's options).
type LabEndpoint struct {
	Name string `json:"name"`
	// Networks are its NICs in order: the first is eth0, with the
	// default route.
	Networks   []LabAttachment `json:"networks"`
	Publish    []string        `json:"publish"`
	Cmd        []string        `json:"cmd"`
	Env        []string        `json:"env"` // K=V
	Hostname   string          `json:"hostname"`
	Restart    string          `json:"restart"`
	DNS        []string        `json:"dns"`
	ExtraHosts []string        `json:"extra_hosts"`
	// Trunk, instead of Networks, gives the endpoint one tagged NIC.
	Trunk *LabTrunk `json:"trunk"`
}

// LabAttachment is one NIC of a lab endpoint.
type LabAttachment struct {
	Network string   `json:"network"`
	IP      string   `json:"ip"` // "": the lowest free address
	Aliases []string `json:"aliases"`
}

// LabTrunk is a tagged NIC: VLANs it carries ("10,20-30"; "": all) and
// the untagged one (0: none).
type LabTrunk struct {
	VLANs  string `json:"vlans"`
	Native int    `json:"native"`
}

// LabPort is a system port of a lab (port add's options).
type LabPort struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"`
	VLAN      int    `json:"vlan"`
	VLANs     string `json:"vlans"`
	Native    int    `json:"native"`
}

// LabUplink is a lab's uplink (uplink set's options).
type LabUplink struct {
	Interface string `json:"interface"`
	Address   string `json:"address"`
	Gateway   string `json:"gateway"`
}

// LabLink impairs the NICs of Endpoint (its NIC on Network only, when
// given) or the system port Port, in Direction, with the settings of
// LinkSet (strings in tc's units).
type LabLink struct {
	Endpoint string `json:"endpoint"`
	Network  string `json:"network"`
	Port     string `json:"port"`
	LinkSet
}

// Lab describes a lab that is up (GET /v1/labs).
type Lab struct {
	Name    string    `json:"name"`
	Prefix  string    `json:"prefix"`
	File    string    `json:"file"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// The switch's objects the lab made, by their full names.
	Networks  []string `json:"networks"`
	Endpoints []string `json:"endpoints"`
	Ports     []string `json:"ports"`
	Uplink    string   `json:"uplink"` // its interface, "" for none
}

// LabPlan is what lab up did (PUT /v1/labs/{name}) or would do (POST
// /v1/labs/{name}/plan), and lab down did (DELETE).
type LabPlan struct {
	Lab     string      `json:"lab"`
	Changes []LabChange `json:"changes"`
	// Applied says the changes were made (false for a plan).
	Applied bool `json:"applied"`
}

// LabChange is one object of a lab and what converging does to it.
type LabChange struct {
	// Action is create, update, recreate, remove or keep.
	Action string `json:"action"`
	// Kind is network, endpoint, port, uplink or link.
	Kind string `json:"kind"`
	Name string `json:"name"` // the full name (with the prefix)
	// Detail says what differs, or what the object is.
	Detail string `json:"detail"`
}

// Lab change actions.
const (
	ActionCreate   = "create"
	ActionUpdate   = "update"
	ActionRecreate = "recreate"
	ActionRemove   = "remove"
	ActionKeep     = "keep"
)

// PingAll is what vswitchctl lab pingall --json prints: every ordered pair
// of the lab's endpoints, pinged from inside the first.
type PingAll struct {
	Lab        string     `json:"lab"` // "" for every endpoint of the switch
	Pairs      []PingPair `json:"pairs"`
	Mismatches int        `json:"mismatches"`
}

// PingPair is one ping.
type PingPair struct {
	From string `json:"from"`
	To   string `json:"to"`
	IP   string `json:"ip"` // the address pinged
	// Expected says the topology lets From reach To (they share a
	// network that does not isolate its endpoints).
	Expected bool `json:"expected"`
	Reached  bool `json:"reached"`
	Match    bool `json:"match"`
	// Error says why the ping could not be run ("" when it ran).
	Error string `json:"error"`
}

// UI is the answer to GET /v1/ui: where the web view is.
type UI struct {
	// Path is the web view's path on the API socket (and on HTTP).
	Path string `json:"path"`
	// HTTP is the daemon's --http address, "" when it has none; URL is
	// the web view there.
	HTTP string `json:"http"`
	URL  string `json:"url"`
}
