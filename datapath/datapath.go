// Package datapath is vswitchd's forwarding pipeline: it owns the ports,
// runs one goroutine per receiving port, and moves every frame through the
// feature packages, run to completion, with no channel hop per frame. The
// stages, in processing order, are listed at the top of worker.go.
//
// Tables the workers read are published as immutable snapshots through
// atomic pointers (the port set, with each VLAN's flood list precomputed);
// the MAC table and the router's tables are safe for concurrent use.
// Counters are the worker's own memory, added to the port's once per
// batch. Drops are counted per port and reason, never logged per frame.
//
// Explain runs one frame through the same code in dry-run mode and returns
// every stage's decision, changing nothing.
//
// The entry point is New; AddPort attaches a port and starts its worker.
package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// MaxPorts bounds the number of ports (and port IDs) of one datapath. IDs
// (port.ID) are not reused while other IDs are free, so a stale MAC table
// entry never points at a new port.
const MaxPorts = 4096

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
	KindVXLAN    Kind = "vxlan"    // an overlay tunnel to other hosts
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
	// Isolated ports exchange no frames with each other (a network with
	// icc=false): only with the router and ports that are not isolated.
	Isolated bool
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
	taps atomic.Pointer[taps]     // live captures; nil when none, read once per batch
	live atomic.Pointer[liveSet]  // live tracers (trace --live); nil when none, read once per batch

	mu     sync.Mutex // guards nextID and writes of snap (copy on write)
	nextID port.ID

	// retired holds the router counts of removed ports, so RouterCounts
	// never goes backwards.
	retiredMu sync.Mutex
	retired   router.Counts
	// deferred counts the frames sent with Inject, which have no ingress
	// port.
	deferred Counters

	wg     sync.WaitGroup // workers and the maintenance goroutine
	stop   chan struct{}  // closed by Close
	closed atomic.Bool
}

// snapshot is an immutable view of the port set.
type snapshot struct {
	byID []*portState // indexed by port.ID; nil for free IDs
	list []*portState // attached ports in ID order
	// flood lists, for each VLAN, the bridged ports that are members of
	// it (vlan.Policy.Member), in ID order: a flood visits only them.
	flood [vlan.MaxID + 1][]*portState
}

// newSnapshot indexes list (in ID order) into a snapshot.
func newSnapshot(list []*portState) *snapshot {
	s := &snapshot{list: list}
	for _, ps := range list {
		if int(ps.id) >= len(s.byID) {
			s.byID = append(s.byID, make([]*portState, int(ps.id)+1-len(s.byID))...)
		}
		s.byID[ps.id] = ps
		cfg := ps.cfg.Load()
		if cfg.Routed {
			continue
		}
		for id := vlan.ID(1); id <= vlan.MaxID; id++ {
			if cfg.VLAN.Member(id) {
				s.flood[id] = append(s.flood[id], ps)
			}
		}
	}
	return s
}

// portState is one attached port. Its fields other than cfg never change;
// cfg changes only together with a new snapshot.
type portState struct {
	id port.ID
	// dev is the device; it changes only by SwapDevice, to a wrapper of
	// the device it replaces (an impairment decorator), so the worker
	// reads it once per batch and writers once per Write.
	dev      atomic.Pointer[port.Port]
	cfg      atomic.Pointer[PortConfig]
	counters Counters
	done     chan struct{} // closed when the port's last worker has exited
	running  atomic.Int32  // workers still running (one per receive queue)
	queues   int           // receive queues (Queues), one worker each
}

// Queues is implemented by ports that receive on several queues, such as
// an AF_PACKET port whose sockets form a PACKET_FANOUT_HASH group: the
// datapath runs one worker per queue, and since the kernel hashes each
// flow to one queue, a flow's frames stay in order. Queue 0 is what Read
// reads. A decorator SwapDevice installs later is read on queue 0 only
// unless it implements Queues itself; the other queues keep reading the
// device given to AddPort (so an ingress impairment on such a port sees
// the flows the kernel hashes to queue 0).
type Queues interface {
	// Queues returns the number of receive queues, fixed for the port's
	// life.
	Queues() int
	// ReadQueue is port.Port's Read for queue q (0 ≤ q < Queues); one
	// goroutine per queue may call it.
	ReadQueue(q int, bufs [][]byte, sizes []int, offset int) (int, error)
}

// QueueWriter is implemented by ports that send through several queues,
// such as a multi-queue TAP. A worker writes through the queue numbered
// as the receive queue it reads (WriteQueue takes it modulo the port's
// count): one flow, which one worker handles, is always written through
// the same queue, and workers of ports with the same number of queues
// never share one. A multi-queue TAP steers a flow's replies to the queue
// it was last written on, which is read by the worker of the same number:
// the flow settles on one queue number in both directions.
type QueueWriter interface {
	// WriteQueue is port.Port's Write through queue q (q ≥ 0, taken
	// modulo the number of queues).
	WriteQueue(q int, bufs [][]byte, offset int) (int, error)
}

// Maintainer is implemented by ports with tables of their own to age,
// such as a vxlan port's remote MACs: the maintenance goroutine calls
// Maintain once a second.
type Maintainer interface {
	// Maintain does the port's periodic housekeeping, on its own clock.
	Maintain()
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
	dp.snap.Store(newSnapshot(nil))
	if dp.router != nil {
		dp.router.SetDeferred(func(frame []byte, t router.Target) bool { return dp.Inject(frame, t) == nil })
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
func (dp *Datapath) AddPort(dev port.Port, cfg PortConfig) (port.ID, error) {
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
	ps := &portState{id: id, done: make(chan struct{})}
	ps.dev.Store(&dev)
	queues := 1
	if mq, ok := dev.(Queues); ok {
		queues = max(1, mq.Queues())
	}
	ps.running.Store(int32(queues))
	ps.queues = queues
	c := cfg
	ps.cfg.Store(&c)
	list := append([]*portState(nil), old.list...)
	i := 0
	for i < len(list) && list[i].id < id {
		i++
	}
	dp.snap.Store(newSnapshot(slices.Insert(list, i, ps)))
	for q := range queues {
		dp.wg.Add(1)
		go dp.run(ps, q)
	}
	dp.log.Info("port added", "port", cfg.Name, "id", id, "kind", cfg.Kind, "queues", queues)
	return id, nil
}

// allocID returns the next free ID after the last one handed out, wrapping
// around, so IDs are reused as late as possible.
func (dp *Datapath) allocID(s *snapshot) (port.ID, bool) {
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
func (dp *Datapath) SetPortConfig(id port.ID, cfg PortConfig) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	old := dp.snap.Load()
	ps := old.port(id)
	if ps == nil {
		return fmt.Errorf("set port %d: no such port", id)
	}
	c := cfg
	ps.cfg.Store(&c)
	dp.snap.Store(newSnapshot(old.list))
	return nil
}

// RemovePort detaches a port: it closes the device, waits for its worker to
// exit and forgets the MACs learned on it.
func (dp *Datapath) RemovePort(id port.ID) error {
	dp.mu.Lock()
	old := dp.snap.Load()
	ps := old.port(id)
	if ps == nil {
		dp.mu.Unlock()
		return fmt.Errorf("remove port %d: no such port", id)
	}
	var list []*portState
	for _, p := range old.list {
		if p != ps {
			list = append(list, p)
		}
	}
	dp.snap.Store(newSnapshot(list))
	dev := ps.device() // no SwapDevice from now on: the port is not in the snapshot
	dp.mu.Unlock()

	// Forget its MACs now, so other workers stop sending to it, and again
	// once its worker has exited, which may have learned in a last batch.
	dp.fdb.RemovePort(id)
	err := dev.Close()
	<-ps.done
	dp.fdb.RemovePort(id)
	v := ps.counters.Values()
	dp.retiredMu.Lock()
	dp.retired.Add(&v.Router)
	dp.retiredMu.Unlock()
	dp.log.Info("port removed", "port", ps.cfg.Load().Name, "id", id)
	return err
}

// device returns the port's current device.
func (ps *portState) device() port.Port { return *ps.dev.Load() }

// Device returns the device of port id (the one given to AddPort, or the
// wrapper SwapDevice installed).
func (dp *Datapath) Device(id port.ID) (port.Port, bool) {
	ps := dp.snap.Load().port(id)
	if ps == nil {
		return nil, false
	}
	return ps.device(), true
}

// SwapDevice replaces the device of port id, if it is still old, with
// next, which must wrap old: a decorator that reads and writes old, such
// as an impairment (package impair). The port keeps its ID, counters, MAC
// table entries and worker; writes go to next from the next Write, and
// the worker reads next from its next batch (a Read already blocked in
// old returns its frames as old read them). The datapath owns next from
// now on and closes it (and so old) with the port; old must not be
// closed separately. A decorator may not be swapped back out: a
// goroutine of next may be reading old.
func (dp *Datapath) SwapDevice(id port.ID, old, next port.Port) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	ps := dp.snap.Load().port(id)
	if ps == nil {
		return fmt.Errorf("swap device of port %d: no such port", id)
	}
	if ps.device() != old {
		return fmt.Errorf("swap device of port %d: the device changed", id)
	}
	ps.dev.Store(&next)
	return nil
}

// port returns the port with id, or nil.
func (s *snapshot) port(id port.ID) *portState {
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
	dp.snap.Store(newSnapshot(nil))
	dp.mu.Unlock()
	var errs []error
	for _, ps := range s.list {
		if err := ps.device().Close(); err != nil {
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
			for _, ps := range dp.snap.Load().list {
				if m, ok := ps.device().(Maintainer); ok {
					m.Maintain()
				}
			}
		}
	}
}

// PortInfo describes a port for listings.
type PortInfo struct {
	ID       port.ID
	Config   PortConfig
	Counters CounterValues
	// Queues is the number of receive queues, each with its worker.
	Queues int
}

// RouterCounts returns what the router did: the per-port counts of every
// port, removed ones included, and the router's own deferred ones.
func (dp *Datapath) RouterCounts() router.Counts {
	var c router.Counts
	if dp.router != nil {
		c = dp.router.Deferred()
	}
	dp.retiredMu.Lock()
	c.Add(&dp.retired)
	dp.retiredMu.Unlock()
	d := dp.deferred.Values()
	c.Add(&d.Router)
	for _, ps := range dp.snap.Load().list {
		v := ps.counters.Values()
		c.Add(&v.Router)
	}
	return c
}

// Ports returns every attached port in ID order.
func (dp *Datapath) Ports() []PortInfo {
	s := dp.snap.Load()
	out := make([]PortInfo, 0, len(s.list))
	for _, ps := range s.list {
		pi := PortInfo{ID: ps.id, Config: *ps.cfg.Load(), Counters: ps.counters.Values(), Queues: ps.queues}
		if dc, ok := ps.device().(port.DeviceCounter); ok {
			for k, v := range dc.DeviceDrops() {
				pi.Counters.Drops[k] += v
			}
		}
		out = append(out, pi)
	}
	return out
}

// PortByName returns the ID of the port named name.
func (dp *Datapath) PortByName(name string) (port.ID, bool) {
	for _, ps := range dp.snap.Load().list {
		if ps.cfg.Load().Name == name {
			return ps.id, true
		}
	}
	return 0, false
}
