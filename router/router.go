// Package router is the switch's userspace L3 gateway. It owns each
// network's gateway address and MAC (no kernel interface holds them) and
// answers ARP, ICMP echo and DNS there; it suppresses ARP for the addresses
// it assigned; it routes between a network and the host's leg (the internal
// port) and the uplink, and nowhere else, which is what isolates networks;
// and it applies NAT through the conntrack table: masquerade to the uplink
// address, published ports (DNAT, with SNAT for hairpin), and ICMP errors
// translated back. Like a Linux router it reassembles fragments before
// tracking them, fragments or answers "fragmentation needed" for packets
// larger than the egress MTU, lowers the GSO size of super-frames and
// optionally clamps the MSS of SYNs (mtu.go), and answers segments and
// datagrams to router addresses nothing serves with a reset or a port
// unreachable.
//
// The entry points are New and Configure. The router is a port of the
// bridge: the datapath calls Input for frames addressed to a router MAC,
// for ARP requests on bridged ports and for every frame of a routed port.
// Input runs in the datapath's worker, never blocks, and has one exit: a
// Verdict and a Target. It either rewrites the frame in place for
// forwarding, or builds replies in buffers the worker's Sink provides
// (they leave with the worker's batch). Frames the router makes outside a
// worker — DNS answers from upstream resolvers, gratuitous ARP, ARP for the
// uplink gateway — take one other, documented path: the Deferred sender the
// datapath installs, whose failures are counted.
//
// With Packet.Trace set, Input is a dry run: it records every decision
// (and the NAT rule a new connection would get) and changes nothing — no
// conntrack entry, neighbour, counter or frame.
//
// Configuration is published whole with Configure. Pure logic: the only
// goroutines are the DNS resolver's upstream queries.
package router

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/trace"
	"github.com/vswitchd/vswitchd/vlan"
)

// Conntrack zones of the router's non-network interfaces. A network's zone
// is its NetworkID.
const (
	ZoneHost   nat.Zone = 0xfff0
	ZoneUplink nat.Zone = 0xfff1
)

// NetworkID identifies a network inside the switch. It is also the
// conntrack zone of the network's packets, so it stays below ZoneHost.
type NetworkID uint16

// MaxNetworkID is the highest NetworkID; IDs above it are the router's
// own zones.
const MaxNetworkID NetworkID = NetworkID(ZoneHost) - 1

// Zone returns the network's conntrack zone.
func (id NetworkID) Zone() nat.Zone { return nat.Zone(id) }

// Target says where a frame the router outputs goes.
type Target struct {
	// VID is the network VLAN of a bridged destination: the datapath looks
	// up the frame's destination MAC there (and floods if it is unknown).
	VID vlan.ID
	// Port is the routed port when Routed is set.
	Port   port.ID
	Routed bool
}

// Packet is a frame handed to Input.
type Packet struct {
	// Frame is the whole frame, with no outer VLAN tag.
	Frame []byte
	// Parsed is Frame decoded.
	Parsed *header.Parsed
	// VID is the network VLAN the frame arrived in (bridged ports).
	VID vlan.ID
	// InPort is the ingress port.
	InPort port.ID
	// InRouted is set when the frame came from a routed port.
	InRouted bool
	// Virtio is the frame's virtio header: NEEDS_CSUM or GSO mean the L4
	// checksum holds only the pseudo-header sum.
	Virtio header.VirtioNet
	// Counts receives the counters of this frame's handling; the worker
	// owns it. It must not be nil.
	Counts *Counts
	// Trace, if not nil, makes Input a dry run that records its decisions
	// there and changes nothing (see the package comment).
	Trace *trace.Trace
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
	// Drop: dropped, and counted (a drop Counter) in Packet.Counts.
	Drop
)

var verdictNames = [...]string{Pass: "pass", Consumed: "consumed", Forward: "forward", Drop: "drop"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Sink is how Input sends frames it builds. The datapath's worker
// implements it; frames go out with the rest of the batch.
type Sink interface {
	// NewFrame returns a buffer for a frame of up to port.MaxFrameSize
	// bytes and a handle for Send; ok is false when no buffer is free.
	NewFrame() (h int, frame []byte, ok bool)
	// Send queues the first n bytes of frame h for t.
	Send(h, n int, t Target)
}

// Deferred sends a frame the router built outside a worker (an upstream's
// DNS answer, a gratuitous ARP); the frame is copied. It reports false
// when the frame could not be queued (no buffer): the router counts it.
type Deferred func(frame []byte, t Target) bool

// Resolver answers DNS queries sent to gateways. The dns package's Server
// implements it; the router knows nothing else of DNS.
type Resolver interface {
	// ServeUDP answers query (a DNS message) from a client whose names
	// are scope's. It calls answer with the response at most once: at
	// once from the calling goroutine (local names), or from another one
	// (upstream answers), maybe before ServeUDP returns.
	ServeUDP(scope string, query []byte, answer func(resp []byte))
}

// Network is one network as the router sees it.
type Network struct {
	ID       NetworkID // conntrack zone, unique, at most MaxNetworkID
	Name     string
	VID      vlan.ID
	Subnet   netip.Prefix
	Gateway  netip.Addr
	MAC      header.MAC // the gateway's MAC
	Internal bool       // never routed to the uplink
	// Isolated keeps endpoints of the network from reaching each other
	// through the router (icc=false).
	Isolated bool
	// Endpoints are the addresses the network assigned.
	Endpoints []Neighbor
	// MTU is the IP MTU of the network's links; 0 means DefaultMTU.
	MTU int
}

// DefaultMTU is the MTU of an interface whose MTU is not configured:
// Ethernet's 1500 bytes, what endpoint NICs and the host leg are made with.
const DefaultMTU = 1500

// mtuOr returns m, or DefaultMTU for 0.
func mtuOr(m int) int {
	if m <= 0 {
		return DefaultMTU
	}
	return m
}

// RemoteNeighbors knows the endpoints of overlay networks that live on
// other hosts, as learned from their ARP packets: ARP suppression answers
// for them too.
type RemoteNeighbors interface {
	// LookupARP returns the MAC of ip, an address of the network of
	// VLAN vid on another host. in is the port the request came in by;
	// a request that came from another host must not be answered from
	// what was learned from other hosts.
	LookupARP(vid vlan.ID, ip netip.Addr, in port.ID) (header.MAC, bool)
}

// Neighbor is an endpoint address and its MAC.
type Neighbor struct {
	IP  netip.Addr
	MAC header.MAC
	// Name is the endpoint's name, for traces.
	Name string
	// Scope is the DNS scope of the endpoint's queries (the names of all
	// its networks); empty means the network's own names.
	Scope string
}

// HostLeg is the router's interface toward the host: an internal TAP in the
// daemon's namespace holding HostAddr, with routes to the networks via Addr.
type HostLeg struct {
	Port     port.ID
	MAC      header.MAC // the router's MAC on the leg
	Addr     netip.Addr // the router's address on the leg
	HostAddr netip.Addr // the host's address: host.vswitchd.internal
	HostMAC  header.MAC // the TAP's MAC in the daemon's namespace
	// DNSPort is the TCP port of the daemon's DNS listener on HostAddr;
	// TCP queries to a gateway are translated to it. 0: no DNS over TCP.
	DNSPort uint16
	// MTU is the leg's MTU; 0 means DefaultMTU.
	MTU int
}

// Uplink is the router's outside interface.
type Uplink struct {
	Port    port.ID
	MAC     header.MAC
	Addr    netip.Prefix // the switch's external address and on-link prefix
	Gateway netip.Addr   // next hop for everything off-link; may be invalid
	// MTU is the uplink interface's MTU (the daemon reads it from the
	// kernel); 0 means DefaultMTU.
	MTU int
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
	Network     NetworkID // the endpoint's network
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
	// Remote, if not nil, answers ARP suppression for endpoints on other
	// hosts (overlay networks).
	Remote RemoteNeighbors
	// MSSClamp lowers the MSS option of TCP SYNs entering or leaving by
	// the uplink to the smaller of the two sides' MTUs minus 40 bytes
	// (iptables' TCPMSS --clamp-mss-to-pmtu), so TCP never depends on
	// path MTU discovery across the uplink.
	MSSClamp bool
}

// Options configures New.
type Options struct {
	// NAT is the conntrack table; nil makes one with default options.
	NAT *nat.Table
	// DNS answers queries to gateways; nil means no DNS (queries dropped).
	DNS Resolver
	// Neighbors is the uplink's neighbour cache; nil makes one.
	Neighbors *arp.Cache
	// Defrag reassembles fragmented datagrams; nil makes one with the
	// default budget and timeout.
	Defrag *nat.Defrag
}

// Router is the L3 stage. It is safe for concurrent use by all workers.
type Router struct {
	nat   *nat.Table
	dns   Resolver
	neigh *arp.Cache
	frags *nat.Defrag

	cfg      atomic.Pointer[compiled]
	deferred atomic.Pointer[Deferred]

	pending   pendingQueue // frames waiting for the uplink's next hop
	icmpLimit icmpLimiter  // ICMP errors sent per second
	// later counts what happens outside workers: deferred frames, and
	// pending frames that expired.
	later atomicCounts
}

// New returns a router with an empty configuration.
func New(opt Options) *Router {
	r := &Router{nat: opt.NAT, dns: opt.DNS, neigh: opt.Neighbors, frags: opt.Defrag}
	if r.frags == nil {
		r.frags = nat.NewDefrag(nat.DefragOptions{})
	}
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

// Defrag returns the reassembly table.
func (r *Router) Defrag() *nat.Defrag { return r.frags }

// Neighbors returns the uplink neighbour cache.
func (r *Router) Neighbors() *arp.Cache { return r.neigh }

// SetDeferred installs the sender of frames built outside a worker. The
// datapath calls it once.
func (r *Router) SetDeferred(f Deferred) { r.deferred.Store(&f) }

// sendDeferred is the one path for frames the router makes outside a
// worker. A frame that cannot be sent is counted as DropNoBuffer.
func (r *Router) sendDeferred(frame []byte, t Target) {
	if f := r.deferred.Load(); f == nil || !(*f)(frame, t) {
		r.later.inc(DropNoBuffer)
	}
}

// Deferred returns the counters of what the router did outside workers;
// the datapath adds them to the workers' counts.
func (r *Router) Deferred() Counts { return r.later.load() }

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
	if n := r.frags.Expire(now); n > 0 {
		r.later[DropFragTimeout].Add(uint64(n))
	}
	if n := r.pending.expire(now); n > 0 {
		r.later[DropUnresolved].Add(uint64(n))
	}
	c := r.cfg.Load()
	if u := c.cfg.Uplink; u != nil && u.Gateway.IsValid() {
		if _, ok := r.neigh.Lookup(u.Gateway, now+int64(refreshAhead)); !ok {
			var b [arp.FrameLen]byte
			r.sendDeferred(b[:arp.Request(b[:], u.MAC, u.Addr.Addr(), u.Gateway)], Target{Routed: true, Port: u.Port})
		}
	}
}

// sweepBudget is how many conntrack entries Maintain examines per call: a
// full pass over a 262,144-entry table takes about 16 s at one call a second.
const sweepBudget = 16384

// compiled is an immutable, indexed Config.
type compiled struct {
	cfg Config
	// byVID is indexed by VLAN ID (a slice, not a map: it is read for
	// every frame), up to the largest VID in use.
	byVID    []*Network
	gateways map[netip.Addr]*Network
	// endpoints is keyed by IPv4 address as a number (v4key): a 4-byte
	// key hashes several times faster than a netip.Addr.
	endpoints map[uint32]endpointRef
}

type endpointRef struct {
	net   *Network
	mac   header.MAC
	name  string
	scope string
}

func compile(cfg *Config) *compiled {
	c := &compiled{
		cfg:       *cfg,
		gateways:  map[netip.Addr]*Network{},
		endpoints: map[uint32]endpointRef{},
	}
	c.cfg.Networks = append([]Network(nil), cfg.Networks...)
	for i := range c.cfg.Networks {
		n := &c.cfg.Networks[i]
		if int(n.VID) >= len(c.byVID) {
			c.byVID = append(c.byVID, make([]*Network, int(n.VID)+1-len(c.byVID))...)
		}
		c.byVID[n.VID] = n
		c.gateways[n.Gateway] = n
		for _, e := range n.Endpoints {
			if !e.IP.Is4() {
				continue // endpoints are IPv4; no other address finds one
			}
			c.endpoints[v4key(e.IP)] = endpointRef{net: n, mac: e.MAC, name: e.Name, scope: e.Scope}
		}
	}
	return c
}

// endpoint returns the endpoint whose address is ip.
func (c *compiled) endpoint(ip netip.Addr) (endpointRef, bool) {
	if !ip.Is4() {
		return endpointRef{}, false
	}
	e, ok := c.endpoints[v4key(ip)]
	return e, ok
}

// v4key is an IPv4 address as a big-endian number (0 for others).
func v4key(ip netip.Addr) uint32 {
	if !ip.Is4() {
		return 0
	}
	b := ip.As4()
	return binary.BigEndian.Uint32(b[:])
}

// network returns the network on VLAN vid, nil if none.
func (c *compiled) network(vid vlan.ID) *Network {
	if int(vid) < len(c.byVID) {
		return c.byVID[vid]
	}
	return nil
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
	if e, ok := c.endpoint(ip); ok && e.scope != "" {
		return e.scope
	}
	if n := c.networkOf(ip); n != nil {
		return n.Name
	}
	return ""
}

// Input processes one frame; see the package comment.
func (r *Router) Input(pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	// The call holds a copy of *pkt: escape analysis is not field
	// sensitive, so a pointer next to sink (which does escape, through
	// its interface calls) would make every caller's Packet a heap
	// allocation.
	// Field by field: a composite literal of this size is built in a
	// temporary and copied with wide moves that stall on its narrow
	// stores (store-to-load forwarding fails), about 10 ns a frame.
	var x call
	x.r, x.c, x.pkt, x.sink, x.now, x.tr, x.gen = r, r.cfg.Load(), *pkt, sink, now, pkt.Trace, -1
	v, t := x.input()
	if v == Forward {
		return x.output(t)
	}
	return v, t // a reassembled datagram's buffer, if any, goes back with the batch
}

// input is Input up to the routing decision.
func (x *call) input() (Verdict, Target) {
	pkt := &x.pkt
	if pkt.InRouted {
		switch c := x.c; {
		case c.cfg.Uplink != nil && pkt.InPort == c.cfg.Uplink.Port:
			return x.fromUplink()
		case c.cfg.Host != nil && pkt.InPort == c.cfg.Host.Port:
			return x.fromHost()
		}
		if x.tr != nil {
			x.tr.Add(trace.Router, "port %d is routed but neither the uplink nor the host leg", pkt.InPort)
		}
		return x.drop(DropNoRoute)
	}
	n := x.c.network(pkt.VID)
	if n == nil {
		if pkt.Parsed.EtherType == header.EtherTypeARP {
			return Pass, Target{}
		}
		if x.tr != nil {
			x.tr.Add(trace.Router, "vlan %d is no network's: the router has no gateway there", pkt.VID)
		}
		return x.drop(DropNoRoute)
	}
	return x.fromNetwork(n)
}

// call is one Input call: the frame, where frames the router builds go,
// the time, and the trace of a dry run (nil otherwise). It lives on the
// worker's stack.
type call struct {
	r    *Router
	c    *compiled
	pkt  Packet
	sink Sink
	now  int64
	tr   *trace.Trace

	// in is the side the packet came in by (set once it is IPv4).
	in side
	// conn and dir are the connection the packet was translated as,
	// and its direction; conn is nil for a packet routed untranslated.
	conn *nat.Conn
	dir  nat.Dir
	// gen is the Sink handle of the buffer holding a reassembled
	// datagram (pkt.Frame then points into it), -1 otherwise; fragMax is
	// the largest of its fragments.
	gen     int
	fragMax int
}

func (x *call) count(c Counter) { x.pkt.Counts[c]++ }

// drop counts reason c and drops the frame.
func (x *call) drop(c Counter) (Verdict, Target) {
	x.pkt.Counts[c]++
	if x.tr != nil {
		x.tr.Verdict, x.tr.Reason = trace.Dropped, c.Reason()
	}
	return Drop, Target{}
}
