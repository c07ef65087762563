// Package datapath is vswitchd's forwarding pipeline: it owns the ports,
// runs one goroutine per receiving port, and moves every frame through the
// feature packages, run to completion, with no channel hop per frame:
//
//	port.Read (a batch, drained after one wake-up)
//	  → header.Parsed.Decode, once per frame, no allocation
//	  → vlan ingress policy of the port (accept, pop the outer tag)
//	  → guard: anti-spoofing on endpoint ports (source MAC, IPv4, ARP sender)
//	  → router, for frames from routed ports, frames to a router MAC and
//	    ARP requests (suppression): it answers, rewrites in place or passes
//	  → bridge: learn (VID, source MAC) → port, look up (VID, destination MAC)
//	  → egress set: one port, or every other port of the VLAN (flood)
//	  → vlan egress policy of each destination (push a tag; a copy only when
//	    a flooded frame needs different tagging on different ports)
//	  → group by egress port: one port.Write per port per batch
//
// Tables the workers read are published as immutable snapshots through
// atomic pointers; the MAC table and the router's tables are safe for
// concurrent use. Drops are counted per port and reason, never logged per
// frame.
//
// The entry point is New; AddPort attaches a port and starts its worker.
package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// PortID identifies a port for its whole life. IDs are not reused while
// other IDs are free, so a stale MAC table entry never points at a new port.
type PortID = uint16

// MaxPorts bounds the number of ports (and port IDs) of one datapath.
const MaxPorts = 4096

// RouterPort is the pseudo-port the MAC table returns for the router's own
// MAC addresses.
const RouterPort PortID = router.Port

// DefaultPoolSize is the number of spare frame buffers shared by all
// workers, for flood copies and frames the router generates.
const DefaultPoolSize = 1024

// Kind says what is behind a port.
type Kind string

// Port kinds (the OVS words).
const (
	KindTap      Kind = "tap"      // an endpoint's NIC
	KindInternal Kind = "internal" // a TAP in the daemon's namespace: the host's leg
	KindSystem   Kind = "system"   // an existing interface through AF_PACKET
	KindMem      Kind = "mem"      // an in-memory test port
)

// PortConfig is the immutable configuration of a port.
type PortConfig struct {
	Name string
	Kind Kind
	// VLAN is the port's 802.1Q policy. The zero value is an access port
	// of VLAN 0, which carries nothing; set it for bridged ports.
	VLAN vlan.Policy
	// Guard, if not nil, drops frames whose source MAC, IPv4 source or ARP
	// sender is not the endpoint's own.
	Guard *Guard
	// Routed makes the port an interface of the router (the uplink, the
	// host leg): its frames bypass the MAC table and go to the router,
	// which sends to it directly.
	Routed bool
	// Endpoint names the endpoint a tap port belongs to, for listings.
	Endpoint string
}

// Guard is the anti-spoofing filter of an endpoint port.
type Guard struct {
	MAC header.MAC
	IPs []netip.Addr // allowed IPv4 sources; 0.0.0.0 (ARP probes) is always allowed
}

// allows reports whether ip may be used as a source address.
func (g *Guard) allows(ip netip.Addr) bool {
	if ip.IsUnspecified() {
		return true
	}
	for _, a := range g.IPs {
		if a == ip {
			return true
		}
	}
	return false
}

// Options configures New. The zero value is usable.
type Options struct {
	// FDB configures the MAC table.
	FDB bridge.Options
	// Router, if not nil, is the L3 stage. It must not be changed later.
	Router *router.Router
	// PoolSize is the number of spare frame buffers; 0 means
	// DefaultPoolSize.
	PoolSize int
	// Logger receives port start/stop and error events (never per-frame
	// messages); nil discards them.
	Logger *slog.Logger
}

// Datapath is the switch's forwarding plane.
type Datapath struct {
	fdb    *bridge.Table
	router *router.Router // nil: no L3
	pool   *port.Pool
	log    *slog.Logger
	epoch  time.Time // origin of the monotonic nanosecond clock passed to the tables
	fwdTTL int64     // how long a worker may reuse a MAC table answer (ns)

	snap atomic.Pointer[snapshot] // ports, read by workers once per batch

	mu     sync.Mutex // guards nextID and writes of snap (copy on write)
	nextID PortID

	wg     sync.WaitGroup // workers and the maintenance goroutine
	stop   chan struct{}  // closed by Close
	closed atomic.Bool
}

// snapshot is an immutable view of the port set.
type snapshot struct {
	byID []*portState // indexed by PortID; nil for free IDs
	list []*portState // attached ports in ID order, for flooding
}

// portState is one attached port. Its fields other than cfg never change.
type portState struct {
	id       PortID
	dev      port.Port
	cfg      atomic.Pointer[PortConfig]
	counters Counters
	done     chan struct{} // closed when the worker has exited
}

// New returns a datapath with no ports and starts its maintenance goroutine
// (MAC aging, router table sweeps). Close stops it.
func New(opt Options) *Datapath {
	if opt.PoolSize <= 0 {
		opt.PoolSize = DefaultPoolSize
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dp := &Datapath{
		fdb:    bridge.New(opt.FDB),
		router: opt.Router,
		pool:   port.NewPool(opt.PoolSize),
		log:    log,
		epoch:  time.Now(),
		stop:   make(chan struct{}),
		nextID: 1,
	}
	dp.fwdTTL = int64(dp.fdb.RefreshInterval() / 2)
	dp.snap.Store(&snapshot{})
	if dp.router != nil {
		dp.router.SetInjector(dp.Inject)
	}
	dp.wg.Add(1)
	go dp.maintain()
	return dp
}

// Now returns the datapath clock: monotonic nanoseconds since New. It is the
// time passed to the MAC table and the router.
func (dp *Datapath) Now() int64 { return int64(time.Since(dp.epoch)) }

// FDB returns the MAC table.
func (dp *Datapath) FDB() *bridge.Table { return dp.fdb }

// Router returns the router, or nil.
func (dp *Datapath) Router() *router.Router { return dp.router }

// PoolInUse returns the number of spare buffers currently handed out (0
// when the datapath is idle: a test checks nothing leaks).
func (dp *Datapath) PoolInUse() int { return dp.pool.Out() }

// ErrClosed is returned by AddPort after Close.
var ErrClosed = errors.New("datapath closed")

// AddPort attaches dev with cfg and starts its worker. The datapath owns
// dev from now on and closes it in RemovePort or Close.
func (dp *Datapath) AddPort(dev port.Port, cfg PortConfig) (PortID, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.closed.Load() {
		return 0, ErrClosed
	}
	old := dp.snap.Load()
	id, ok := dp.allocID(old)
	if !ok {
		return 0, fmt.Errorf("add port %q: all %d port IDs in use", cfg.Name, MaxPorts)
	}
	ps := &portState{id: id, dev: dev, done: make(chan struct{})}
	c := cfg
	ps.cfg.Store(&c)
	n := &snapshot{byID: make([]*portState, max(len(old.byID), int(id)+1))}
	copy(n.byID, old.byID)
	n.byID[id] = ps
	n.list = append(append([]*portState(nil), old.list...), ps)
	dp.snap.Store(n)
	dp.wg.Add(1)
	go dp.run(ps)
	dp.log.Info("port added", "port", cfg.Name, "id", id, "kind", cfg.Kind)
	return id, nil
}

// allocID returns the next free ID after the last one handed out, wrapping
// around, so IDs are reused as late as possible.
func (dp *Datapath) allocID(s *snapshot) (PortID, bool) {
	for range MaxPorts {
		id := dp.nextID
		dp.nextID++
		if dp.nextID >= MaxPorts {
			dp.nextID = 1
		}
		if int(id) >= len(s.byID) || s.byID[id] == nil {
			return id, true
		}
	}
	return 0, false
}

// SetPortConfig replaces the configuration of a port. Workers see it from
// their next batch.
func (dp *Datapath) SetPortConfig(id PortID, cfg PortConfig) error {
	ps := dp.port(id)
	if ps == nil {
		return fmt.Errorf("set port %d: no such port", id)
	}
	c := cfg
	ps.cfg.Store(&c)
	return nil
}

// RemovePort detaches a port: it closes the device, waits for its worker to
// exit and forgets the MACs learned on it.
func (dp *Datapath) RemovePort(id PortID) error {
	dp.mu.Lock()
	old := dp.snap.Load()
	if int(id) >= len(old.byID) || old.byID[id] == nil {
		dp.mu.Unlock()
		return fmt.Errorf("remove port %d: no such port", id)
	}
	ps := old.byID[id]
	n := &snapshot{byID: append([]*portState(nil), old.byID...)}
	n.byID[id] = nil
	for _, p := range old.list {
		if p != ps {
			n.list = append(n.list, p)
		}
	}
	dp.snap.Store(n)
	dp.mu.Unlock()

	// Forget its MACs now, so other workers stop sending to it, and again
	// once its worker has exited, which may have learned in a last batch.
	dp.fdb.RemovePort(id)
	err := ps.dev.Close()
	<-ps.done
	dp.fdb.RemovePort(id)
	dp.log.Info("port removed", "port", ps.cfg.Load().Name, "id", id)
	return err
}

func (dp *Datapath) port(id PortID) *portState {
	s := dp.snap.Load()
	if int(id) >= len(s.byID) {
		return nil
	}
	return s.byID[id]
}

// Close detaches every port and stops all goroutines.
func (dp *Datapath) Close() error {
	if dp.closed.Swap(true) {
		return nil
	}
	dp.mu.Lock()
	s := dp.snap.Load()
	dp.snap.Store(&snapshot{})
	dp.mu.Unlock()
	var errs []error
	for _, ps := range s.list {
		if err := ps.dev.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	close(dp.stop)
	dp.wg.Wait()
	return errors.Join(errs...)
}

// maintain ages the MAC table and sweeps the router's tables once a second.
func (dp *Datapath) maintain() {
	defer dp.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-dp.stop:
			return
		case <-t.C:
			now := dp.Now()
			dp.fdb.Age(now)
			if dp.router != nil {
				dp.router.Maintain(now)
			}
		}
	}
}

// PortInfo describes a port for listings.
type PortInfo struct {
	ID       PortID
	Config   PortConfig
	Counters CounterValues
}

// Ports returns every attached port in ID order.
func (dp *Datapath) Ports() []PortInfo {
	s := dp.snap.Load()
	out := make([]PortInfo, 0, len(s.list))
	for _, ps := range s.list {
		pi := PortInfo{ID: ps.id, Config: *ps.cfg.Load(), Counters: ps.counters.Values()}
		if dc, ok := ps.dev.(port.DeviceCounter); ok {
			for k, v := range dc.DeviceDrops() {
				pi.Counters.Drops[k] += v
			}
		}
		out = append(out, pi)
	}
	return out
}

// PortByName returns the ID of the port named name.
func (dp *Datapath) PortByName(name string) (PortID, bool) {
	for _, ps := range dp.snap.Load().list {
		if ps.cfg.Load().Name == name {
			return ps.id, true
		}
	}
	return 0, false
}
