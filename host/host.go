// Package host is everything vswitchd does to the machine outside its
// datapath: network namespaces, the TAP NICs in them with their addresses
// and routes, the /etc/netns files, the host's leg and its routes in the
// daemon's own namespace, system ports, and listening sockets. The daemon
// decides; a Host carries the decision out.
//
// The entry points are the Host interface, Linux (its netlink
// implementation), and hosttest.New, an in-memory fake for unit tests of
// the daemon's decisions, failures half-way included.
//
// Port types are pluggable: a package implementing port.Port registers how
// to open an interface with RegisterPortType, and OpenPort finds it by the
// type name the API uses ("system" is AF_PACKET).
package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// NS names a network namespace: a named one (Name, mounted in /run/netns),
// or any by Path (a container runtime's /var/run/netns/cni-…, a
// /proc/PID/ns/net).
type NS struct {
	Name string
	Path string
}

// Named returns the named namespace name.
func Named(name string) NS { return NS{Name: name, Path: filepath.Join("/run/netns", name)} }

// AtPath returns the namespace at path.
func AtPath(path string) NS { return NS{Path: path} }

func (ns NS) String() string {
	if ns.Name != "" {
		return ns.Name
	}
	return ns.Path
}

// NICConfig is how a new endpoint NIC is set up inside its namespace.
type NICConfig struct {
	Name string     // interface name inside the namespace: eth0, …
	MAC  header.MAC // its address
	// Addr is its IPv4 address and prefix length; invalid: none.
	Addr netip.Prefix
	// Gateway, if valid, becomes the namespace's default route via Name.
	Gateway netip.Addr
	// MTU, if not 0, is set on the interface.
	MTU int
}

// HostLegConfig is the host's leg: a TAP in the daemon's namespace.
type HostLegConfig struct {
	Name string
	// Addr is the host's address on the leg with the link's prefix
	// length (host.vswitchd.internal).
	Addr netip.Prefix
	// RouterAddr and RouterMAC are the router's end of the link, put in
	// the neighbour table at once.
	RouterAddr netip.Addr
	RouterMAC  header.MAC
}

// Host carries out the daemon's changes to the machine. Implementations
// are safe for concurrent use. Every method either does all it says or
// nothing that outlives the call (a NIC half made is removed again).
type Host interface {
	// CreateNamespace makes the named namespace and prepares it:
	// loopback up, IPv6 off. It fails if the name is taken.
	CreateNamespace(name string) error
	// DeleteNamespace removes a named namespace; a missing one is not an
	// error. Its /etc/netns files are RemoveEtc's.
	DeleteNamespace(name string) error
	// NamespaceExists reports whether ns is there.
	NamespaceExists(ns NS) bool
	// Pids lists the processes whose network namespace is ns.
	Pids(ns NS) ([]int, error)
	// NamespaceID returns what identifies ns for as long as it exists (its
	// nsfs inode number): another namespace later made under the same
	// name or path has another.
	NamespaceID(ns NS) (uint64, error)
	// TAPs lists the TAP interfaces in ns (those vswitchd may have made).
	TAPs(ns NS) ([]string, error)

	// CreateNIC makes a TAP, moves it into ns and sets it up there as
	// cfg says, and returns the open device, which is persistent (it
	// survives the daemon and OpenNIC re-adopts it).
	CreateNIC(ns NS, cfg NICConfig) (port.Port, error)
	// OpenNIC re-adopts the persistent TAP ifname inside ns.
	OpenNIC(ns NS, ifname string) (port.Port, error)
	// NICExists reports whether ns has an interface ifname.
	NICExists(ns NS, ifname string) bool
	// DeleteNIC deletes interface ifname in ns; a missing one is not an
	// error.
	DeleteNIC(ns NS, ifname string) error
	// SetDefaultRoute points ns's default route via gw on ifname.
	SetDefaultRoute(ns NS, ifname string, gw netip.Addr) error

	// WriteEtc writes /etc/netns/NAME/FILE for each file, which `ip
	// netns exec` and vswitchd's exec show as /etc/FILE, never through a
	// symlink.
	WriteEtc(name string, files map[string][]byte) error
	// RemoveEtc removes what WriteEtc wrote for name, and nothing else:
	// files someone else put in /etc/netns/NAME stay (with the
	// directory).
	RemoveEtc(name string) error

	// CreateHostLeg makes the host's leg (not persistent: it goes with
	// the daemon) and returns its device and the TAP's own MAC.
	CreateHostLeg(cfg HostLegConfig) (port.Port, header.MAC, error)
	// AddRoute routes dst via via on dev in the daemon's namespace;
	// DelRoute removes it (a missing route is not an error).
	AddRoute(dst netip.Prefix, via netip.Addr, dev string) error
	DelRoute(dst netip.Prefix, via netip.Addr, dev string) error
	// UsedPrefixes returns the prefixes the daemon's namespace routes to
	// or has addresses in (automatic subnets avoid them).
	UsedPrefixes() ([]netip.Prefix, error)
	// InterfaceExists reports whether the daemon's namespace has an
	// interface name.
	InterfaceExists(name string) bool
	// OpenPort opens interface name of the daemon's namespace as a port
	// of type typ (see RegisterPortType), bringing it up.
	OpenPort(typ, name string) (port.Port, error)
	// ListenTCP listens on addr in the daemon's namespace.
	ListenTCP(addr netip.AddrPort) (net.Listener, error)
}

// QueueDrop is the drop reason of frames the kernel dropped in a TAP's own
// queue: sent by the endpoint (or the host) faster than the switch read
// them. It is the TAP's tx_dropped counter.
const QueueDrop = "tap-queue"

// PortOpener opens interface name as a port.
type PortOpener func(name string) (port.Port, error)

var portTypes struct {
	mu sync.Mutex // guards m
	m  map[string]PortOpener
}

// ErrUnknownPortType is wrapped by OpenPort for a type nobody registered.
var ErrUnknownPortType = errors.New("unknown port type")

// RegisterPortType makes typ openable by OpenPort. Packages register in
// their init or the binary wires them; a second registration of typ
// replaces the first.
func RegisterPortType(typ string, open PortOpener) {
	portTypes.mu.Lock()
	defer portTypes.mu.Unlock()
	if portTypes.m == nil {
		portTypes.m = map[string]PortOpener{}
	}
	portTypes.m[typ] = open
}

// PortTypes returns the registered port types, sorted.
func PortTypes() []string {
	portTypes.mu.Lock()
	defer portTypes.mu.Unlock()
	var out []string
	for t := range portTypes.m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Opener returns the opener registered for typ, for Host
// implementations.
func Opener(typ string) (PortOpener, error) {
	portTypes.mu.Lock()
	defer portTypes.mu.Unlock()
	if o, ok := portTypes.m[typ]; ok {
		return o, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownPortType, typ)
}

// MTUQuerier is implemented by hosts that can read an interface's MTU
// (Linux does; the in-memory fake does not, and its interfaces count as
// 1500 bytes).
type MTUQuerier interface {
	// LinkMTU returns the MTU of the daemon namespace's interface name.
	LinkMTU(name string) (int, error)
}
