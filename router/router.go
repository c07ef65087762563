// Package router is the switch's userspace L3 gateway. It owns each
// network's gateway address and MAC (no kernel interface holds them) and
// answers ARP, ICMP echo and DNS there; it suppresses ARP for the addresses
// it assigned; it routes between a network and the host's leg (the internal
// port) and the uplink, and nowhere else, which is what isolates networks;
// and it applies NAT through the conntrack table: masquerade to the uplink
// address, published ports (DNAT, with SNAT for hairpin), and ICMP errors
// translated back.
//
// The entry points are New and Configure. The datapath calls Input for
// frames addressed to a router MAC, for ARP
// requests on bridged ports and for every frame of a routed port. Input runs
// in the datapath's worker, never blocks, and either rewrites the frame in
// place for forwarding, or builds replies in buffers the worker's Sink
// provides. Configuration is published whole with Configure.
//
// Pure logic: the only goroutines are the DNS server's upstream queries,
// whose answers come back through the injector the datapath installs.
package router

import (
	"net/netip"
	"sync/atomic"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// Port is the pseudo-port number that stands for the router in the MAC
// table: each gateway MAC is a static entry pointing at it.
const Port uint16 = 0xfffe

// Conntrack zones of the router's non-network interfaces. A network's zone
// is its ID.
const (
	ZoneHost   uint16 = 0xfff0
	ZoneUplink uint16 = 0xfff1
)

// Target says where a frame the router outputs goes.
type Target struct {
	// VID is the network VLAN of a bridged destination: the datapath looks
	// up the frame's destination MAC there (and floods if it is unknown).
	VID uint16
	// Port is the routed port when Routed is set.
	Port   uint16
	Routed bool
}

// Packet is a frame handed to Input.
type Packet struct {
	// Frame is the whole frame, with no outer VLAN tag.
	Frame []byte
	// Parsed is Frame decoded.
	Parsed *header.Parsed
	// VID is the network VLAN the frame arrived in (bridged ports).
	VID uint16
	// InPort is the ingress port.
	InPort uint16
	// InRouted is set when the frame came from a routed port.
	InRouted bool
	// Virtio is the frame's virtio header: NEEDS_CSUM or GSO mean the L4
	// checksum holds only the pseudo-header sum.
	Virtio header.VirtioNet
}

func (p *Packet) partial() bool {
	return p.Virtio != nil && (p.Virtio.NeedsCsum() || p.Virtio.IsGSO())
}

// Verdict is Input's decision.
type Verdict uint8

const (
	// Pass: not for the router; bridge the frame as usual.
	Pass Verdict = iota
	// Consumed: the router handled the frame (and may have sent replies).
	Consumed
	// Forward: the frame was rewritten in place; send it to the Target.
	Forward
	// Drop: dropped, and counted in the router's Stats.
	Drop
)

// Sink is how Input sends frames it builds. The datapath's worker
// implements it; frames go out with the rest of the batch.
type Sink interface {
	// NewFrame returns a buffer for a frame of up to port.MaxFrameSize
	// bytes and a handle for Send; ok is false when no buffer is free.
	NewFrame() (h int, frame []byte, ok bool)
	// Send queues the first n bytes of frame h for t.
	Send(h, n int, t Target)
}

// Injector sends a frame built outside a worker (an upstream's DNS answer);
// the frame is copied.
type Injector func(frame []byte, t Target) error

// Network is one network as the router sees it.
type Network struct {
	ID       uint16 // conntrack zone, unique, not ZoneHost/ZoneUplink
	Name     string
	VID      uint16
	Subnet   netip.Prefix
	Gateway  netip.Addr
	MAC      header.MAC // the gateway's MAC
	Internal bool       // never routed to the uplink
	// Endpoints are the addresses the network assigned.
	Endpoints []Neighbor
}

// Neighbor is an endpoint address and its MAC.
type Neighbor struct {
	IP  netip.Addr
	MAC header.MAC
	// Scope is the DNS scope of the endpoint's queries (the names of all
	// its networks); empty means the network's own names.
	Scope string
}

// HostLeg is the router's interface toward the host: an internal TAP in the
// daemon's namespace holding HostAddr, with routes to the networks via Addr.
type HostLeg struct {
	Port     uint16
	MAC      header.MAC // the router's MAC on the leg
	Addr     netip.Addr // the router's address on the leg
	HostAddr netip.Addr // the host's address: host.vswitchd.internal
	HostMAC  header.MAC // the TAP's MAC in the daemon's namespace
	// DNSPort is the TCP port of the daemon's DNS listener on HostAddr;
	// TCP queries to a gateway are translated to it. 0: no DNS over TCP.
	DNSPort uint16
}

// Uplink is the router's outside interface.
type Uplink struct {
	Port    uint16
	MAC     header.MAC
	Addr    netip.Prefix // the switch's external address and on-link prefix
	Gateway netip.Addr   // next hop for everything off-link; may be invalid
}

// Published is a published port range: connections to HostPort..HostPortEnd
// go to the endpoint at Addr, ContPort.. onward.
type Published struct {
	Proto       uint8      // header.ProtoTCP or header.ProtoUDP
	HostIP      netip.Addr // invalid or unspecified: any of the switch's addresses
	HostPort    uint16
	HostPortEnd uint16 // == HostPort for a single port
	Addr        netip.Addr
	ContPort    uint16
	Network     uint16 // the endpoint's network ID
	Endpoint    string
}

// Config is the router's whole configuration.
type Config struct {
	Networks  []Network
	Host      *HostLeg
	Uplink    *Uplink
	Published []Published
	// NoARPSuppression turns ARP suppression off: requests for endpoint
	// addresses are flooded instead of answered by the switch.
	NoARPSuppression bool
}

// Options configures New.
type Options struct {
	// NAT is the conntrack table; nil makes one with default options.
	NAT *nat.Table
	// DNS answers queries to gateways; nil means no DNS (queries dropped).
	DNS *dns.Server
	// Neighbors is the uplink's neighbour cache; nil makes one.
	Neighbors *arp.Cache
}

// Router is the L3 stage. It is safe for concurrent use by all workers.
type Router struct {
	nat   *nat.Table
	dns   *dns.Server
	neigh *arp.Cache

	cfg    atomic.Pointer[compiled]
	inject atomic.Pointer[Injector]

	pending   pendingQueue // frames waiting for the uplink's next hop
	icmpLimit icmpLimiter  // ICMP errors sent per second
	stats     counters
}

// New returns a router with an empty configuration.
func New(opt Options) *Router {
	r := &Router{nat: opt.NAT, dns: opt.DNS, neigh: opt.Neighbors}
	if r.nat == nil {
		r.nat = nat.New(nat.Options{})
	}
	if r.neigh == nil {
		r.neigh = arp.NewCache(0)
	}
	r.cfg.Store(compile(&Config{}))
	return r
}

// NAT returns the conntrack table.
func (r *Router) NAT() *nat.Table { return r.nat }

// Neighbors returns the uplink neighbour cache.
func (r *Router) Neighbors() *arp.Cache { return r.neigh }

// SetInjector installs the function that sends frames built outside a
// worker. The datapath calls it once.
func (r *Router) SetInjector(f Injector) { r.inject.Store(&f) }

func (r *Router) injectFrame(frame []byte, t Target) {
	if f := r.inject.Load(); f != nil {
		if (*f)(frame, t) != nil {
			r.stats.inc(statNoBuffer)
		}
	}
}

// Configure replaces the configuration. It takes effect for the next frame.
func (r *Router) Configure(cfg Config) {
	r.cfg.Store(compile(&cfg))
}

// Config returns the current configuration.
func (r *Router) Config() Config { return r.cfg.Load().cfg }

// Maintain ages the neighbour cache and the conntrack table and re-resolves
// the uplink gateway. The datapath calls it about once a second.
func (r *Router) Maintain(now int64) {
	r.neigh.Age(now)
	r.nat.Sweep(now, sweepBudget)
	if n := r.pending.expire(now); n > 0 {
		r.stats[statUnresolvedDrop].Add(uint64(n))
	}
	c := r.cfg.Load()
	if u := c.cfg.Uplink; u != nil && u.Gateway.IsValid() {
		if _, ok := r.neigh.Lookup(u.Gateway, now+int64(refreshAhead)); !ok {
			r.resolve(u, u.Gateway, now)
		}
	}
}

// sweepBudget is how many conntrack entries Maintain examines per call: a
// full pass over a 262,144-entry table takes about 16 s at one call a second.
const sweepBudget = 16384

// compiled is an immutable, indexed Config.
type compiled struct {
	cfg       Config
	byVID     map[uint16]*Network
	gateways  map[netip.Addr]*Network
	endpoints map[netip.Addr]endpointRef
}

type endpointRef struct {
	net   *Network
	mac   header.MAC
	scope string
}

func compile(cfg *Config) *compiled {
	c := &compiled{
		cfg:       *cfg,
		byVID:     map[uint16]*Network{},
		gateways:  map[netip.Addr]*Network{},
		endpoints: map[netip.Addr]endpointRef{},
	}
	c.cfg.Networks = append([]Network(nil), cfg.Networks...)
	for i := range c.cfg.Networks {
		n := &c.cfg.Networks[i]
		c.byVID[n.VID] = n
		c.gateways[n.Gateway] = n
		for _, e := range n.Endpoints {
			c.endpoints[e.IP] = endpointRef{net: n, mac: e.MAC, scope: e.Scope}
		}
	}
	return c
}

// networkOf returns the network whose subnet holds ip.
func (c *compiled) networkOf(ip netip.Addr) *Network {
	for i := range c.cfg.Networks {
		if c.cfg.Networks[i].Subnet.Contains(ip) {
			return &c.cfg.Networks[i]
		}
	}
	return nil
}

// ScopeOf returns the DNS scope of queries from ip: the endpoint's scope,
// else the name of the network whose subnet holds ip, else "". The DNS
// server's TCP listener uses it.
func (r *Router) ScopeOf(ip netip.Addr) string {
	c := r.cfg.Load()
	if e, ok := c.endpoints[ip]; ok && e.scope != "" {
		return e.scope
	}
	if n := c.networkOf(ip); n != nil {
		return n.Name
	}
	return ""
}

// Input processes one frame; see the package comment.
func (r *Router) Input(pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	c := r.cfg.Load()
	if pkt.InRouted {
		switch {
		case c.cfg.Uplink != nil && pkt.InPort == c.cfg.Uplink.Port:
			return r.fromUplink(c, pkt, sink, now)
		case c.cfg.Host != nil && pkt.InPort == c.cfg.Host.Port:
			return r.fromHost(c, pkt, sink, now)
		}
		return r.drop(statNoRoute)
	}
	n := c.byVID[pkt.VID]
	if n == nil {
		if pkt.Parsed.EtherType == header.EtherTypeARP {
			return Pass, Target{}
		}
		return r.drop(statNoRoute)
	}
	return r.fromNetwork(c, n, pkt, sink, now)
}

func (r *Router) drop(s stat) (Verdict, Target) {
	r.stats.inc(s)
	return Drop, Target{}
}
