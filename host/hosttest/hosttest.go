// Package hosttest is an in-memory host.Host for unit tests of the daemon:
// namespaces, NICs (backed by taptest ports), routes, /etc/netns files and
// ports exist as maps, and a hook can fail any operation, so a test can
// check that a failure half-way leaves the daemon's state and the host in
// agreement. The entry point is New.
package hosttest

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/tap/taptest"
)

// Depth is the queue depth of the in-memory ports the fake makes.
const Depth = 256

// Host is a fake host.Host. Its methods are safe for concurrent use.
type Host struct {
	// Hook, if set, is called with the name of each operation that
	// changes something ("CreateNamespace", "CreateNIC", …) before it
	// runs; an error fails the operation with no effect.
	Hook func(op string) error
	// PidsOf, if set, answers Pids (the processes in a namespace); the
	// default is none.
	PidsOf func(ns host.NS) []int

	mu         sync.Mutex // guards everything below
	namespaces map[string]*Namespace
	etc        map[string]map[string][]byte
	routes     map[netip.Prefix]netip.Addr
	ifaces     map[string]*taptest.Port // interfaces of the daemon's namespace
	legMAC     header.MAC
	used       []netip.Prefix
	ops        []string
	lastID     uint64 // the last namespace ID given out
}

// Namespace is a fake namespace.
type Namespace struct {
	ID     uint64 // NamespaceID's answer: new for each namespace made
	NICs   map[string]*NIC
	Routes map[string]netip.Addr // default route: interface → gateway
}

// NIC is a fake endpoint NIC.
type NIC struct {
	Config host.NICConfig
	Port   *taptest.Port // nil while no one has it open
}

var _ host.Host = (*Host)(nil)

// New returns an empty fake host.
func New() *Host {
	return &Host{
		namespaces: map[string]*Namespace{},
		etc:        map[string]map[string][]byte{},
		routes:     map[netip.Prefix]netip.Addr{},
		ifaces:     map[string]*taptest.Port{},
		legMAC:     header.MAC{0x02, 0xfe, 0, 0, 0, 1},
	}
}

// ErrInjected is what Fail-style hooks return.
var ErrInjected = errors.New("injected failure")

// FailAt returns a hook that fails the nth (from 1) change, and the
// changes counted so far.
func FailAt(n int) (hook func(op string) error, count func() int) {
	var mu sync.Mutex
	i := 0
	return func(op string) error {
			mu.Lock()
			defer mu.Unlock()
			i++
			if i == n {
				return fmt.Errorf("%s: %w", op, ErrInjected)
			}
			return nil
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return i
		}
}

func (h *Host) change(op string) error {
	h.ops = append(h.ops, op)
	if h.Hook != nil {
		return h.Hook(op)
	}
	return nil
}

// Ops returns the changing operations called so far, in order.
func (h *Host) Ops() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

func key(ns host.NS) string { return ns.Path }

// AddNamespace makes a namespace at path, as a container runtime would,
// for tests of attached endpoints.
func (h *Host) AddNamespace(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.namespaces[path] = h.newNamespace()
}

// newNamespace returns an empty namespace with a new ID. Callers hold mu.
func (h *Host) newNamespace() *Namespace {
	h.lastID++
	return &Namespace{ID: 4026531840 + h.lastID, NICs: map[string]*NIC{}, Routes: map[string]netip.Addr{}}
}

// AddInterface adds an interface to the daemon's namespace (for system
// ports and the uplink) and returns its in-memory port.
func (h *Host) AddInterface(name string) *taptest.Port {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := taptest.New(name, Depth)
	h.ifaces[name] = p
	return p
}

// SetUsedPrefixes sets what UsedPrefixes returns besides the host's routes.
func (h *Host) SetUsedPrefixes(ps []netip.Prefix) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.used = ps
}

// CreateNamespace implements host.Host.
func (h *Host) CreateNamespace(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("CreateNamespace"); err != nil {
		return err
	}
	k := key(host.Named(name))
	if _, ok := h.namespaces[k]; ok {
		return fmt.Errorf("create network namespace %q: file exists", name)
	}
	h.namespaces[k] = h.newNamespace()
	return nil
}

// DeleteNamespace implements host.Host.
func (h *Host) DeleteNamespace(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("DeleteNamespace"); err != nil {
		return err
	}
	if ns, ok := h.namespaces[key(host.Named(name))]; ok {
		for _, n := range ns.NICs {
			if n.Port != nil {
				n.Port.Close()
			}
		}
	}
	delete(h.namespaces, key(host.Named(name)))
	return nil
}

// NamespaceExists implements host.Host.
func (h *Host) NamespaceExists(ns host.NS) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.namespaces[key(ns)]
	return ok
}

// NamespaceID implements host.Host.
func (h *Host) NamespaceID(ns host.NS) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.ns(ns)
	if err != nil {
		return 0, err
	}
	return n.ID, nil
}

// TAPs implements host.Host: every fake NIC is a TAP.
func (h *Host) TAPs(ns host.NS) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.ns(ns)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(n.NICs)), nil
}

// Pids implements host.Host: fake namespaces hold no processes.
func (h *Host) Pids(ns host.NS) ([]int, error) {
	if h.PidsOf != nil {
		return h.PidsOf(ns), nil
	}
	return nil, nil
}

func (h *Host) ns(ns host.NS) (*Namespace, error) {
	n, ok := h.namespaces[key(ns)]
	if !ok {
		return nil, fmt.Errorf("open network namespace %s: no such file or directory", ns)
	}
	return n, nil
}

// CreateNIC implements host.Host.
func (h *Host) CreateNIC(ns host.NS, cfg host.NICConfig) (port.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("CreateNIC"); err != nil {
		return nil, err
	}
	n, err := h.ns(ns)
	if err != nil {
		return nil, err
	}
	if _, ok := n.NICs[cfg.Name]; ok {
		return nil, fmt.Errorf("rename to %s: file exists", cfg.Name)
	}
	p := taptest.New(ns.String()+"/"+cfg.Name, Depth)
	n.NICs[cfg.Name] = &NIC{Config: cfg, Port: p}
	if cfg.Gateway.IsValid() {
		n.Routes[cfg.Name] = cfg.Gateway
	}
	return p, nil
}

// OpenNIC implements host.Host.
func (h *Host) OpenNIC(ns host.NS, ifname string) (port.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("OpenNIC"); err != nil {
		return nil, err
	}
	n, err := h.ns(ns)
	if err != nil {
		return nil, err
	}
	nic, ok := n.NICs[ifname]
	if !ok {
		return nil, fmt.Errorf("re-adopt %s in %s: no such device", ifname, ns)
	}
	nic.Port = taptest.New(ns.String()+"/"+ifname, Depth)
	return nic.Port, nil
}

// NICExists implements host.Host.
func (h *Host) NICExists(ns host.NS, ifname string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.ns(ns)
	if err != nil {
		return false
	}
	_, ok := n.NICs[ifname]
	return ok
}

// DeleteNIC implements host.Host.
func (h *Host) DeleteNIC(ns host.NS, ifname string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("DeleteNIC"); err != nil {
		return err
	}
	n, err := h.ns(ns)
	if err != nil {
		return nil // gone with its namespace
	}
	delete(n.NICs, ifname)
	delete(n.Routes, ifname)
	return nil
}

// SetDefaultRoute implements host.Host.
func (h *Host) SetDefaultRoute(ns host.NS, ifname string, gw netip.Addr) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("SetDefaultRoute"); err != nil {
		return err
	}
	n, err := h.ns(ns)
	if err != nil {
		return err
	}
	if _, ok := n.NICs[ifname]; !ok {
		return fmt.Errorf("default route via %s: no device %s", gw, ifname)
	}
	clear(n.Routes)
	n.Routes[ifname] = gw
	return nil
}

// WriteEtc implements host.Host.
func (h *Host) WriteEtc(name string, files map[string][]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("WriteEtc"); err != nil {
		return err
	}
	h.etc[name] = maps.Clone(files)
	return nil
}

// RemoveEtc implements host.Host.
func (h *Host) RemoveEtc(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("RemoveEtc"); err != nil {
		return err
	}
	delete(h.etc, name)
	return nil
}

// CreateHostLeg implements host.Host.
func (h *Host) CreateHostLeg(cfg host.HostLegConfig) (port.Port, header.MAC, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("CreateHostLeg"); err != nil {
		return nil, header.MAC{}, err
	}
	p := taptest.New(cfg.Name, Depth)
	h.ifaces[cfg.Name] = p
	return p, h.legMAC, nil
}

// AddRoute implements host.Host.
func (h *Host) AddRoute(dst netip.Prefix, via netip.Addr, dev string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("AddRoute"); err != nil {
		return err
	}
	h.routes[dst] = via
	return nil
}

// DelRoute implements host.Host.
func (h *Host) DelRoute(dst netip.Prefix, via netip.Addr, dev string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("DelRoute"); err != nil {
		return err
	}
	delete(h.routes, dst)
	return nil
}

// UsedPrefixes implements host.Host.
func (h *Host) UsedPrefixes() ([]netip.Prefix, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.used)
	for p := range h.routes {
		out = append(out, p)
	}
	return out, nil
}

// InterfaceExists implements host.Host.
func (h *Host) InterfaceExists(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.ifaces[name]
	return ok
}

// OpenPort implements host.Host: the interface's in-memory port, whatever
// the type.
func (h *Host) OpenPort(typ, name string) (port.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.change("OpenPort"); err != nil {
		return nil, err
	}
	p, ok := h.ifaces[name]
	if !ok {
		return nil, fmt.Errorf("interface %q: Link not found", name)
	}
	// A port the datapath closed cannot be read again: give a fresh
	// one under the same name.
	np := taptest.New(name, Depth)
	h.ifaces[name] = np
	_ = p
	return np, nil
}

// ListenTCP implements host.Host on loopback, port chosen by the kernel.
func (h *Host) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

// Snapshot is the fake host's content, for comparing with the daemon's
// state.
type Snapshot struct {
	Namespaces map[string][]string // namespace path → its NICs, sorted
	Etc        []string            // names with /etc/netns files, sorted
	Routes     []netip.Prefix      // routes in the daemon's namespace, sorted
}

// Snapshot returns the host's content.
func (h *Host) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Snapshot{Namespaces: map[string][]string{}}
	for k, ns := range h.namespaces {
		nics := slices.Sorted(maps.Keys(ns.NICs))
		if nics == nil {
			nics = []string{}
		}
		s.Namespaces[k] = nics
	}
	s.Etc = slices.Sorted(maps.Keys(h.etc))
	for p := range h.routes {
		s.Routes = append(s.Routes, p)
	}
	sort.Slice(s.Routes, func(i, j int) bool { return s.Routes[i].String() < s.Routes[j].String() })
	return s
}

// Namespace returns a copy of the namespace at path, or nil.
func (h *Host) Namespace(path string) *Namespace {
	h.mu.Lock()
	defer h.mu.Unlock()
	ns, ok := h.namespaces[path]
	if !ok {
		return nil
	}
	return &Namespace{NICs: maps.Clone(ns.NICs), Routes: maps.Clone(ns.Routes)}
}

// Etc returns the /etc/netns files written for name.
func (h *Host) Etc(name string) map[string][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.etc[name])
}
