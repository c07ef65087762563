package vxlan

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// Port is a vxlan port: one local UDP endpoint carrying the overlay
// networks set with SetNetworks, an 802.1Q trunk toward the datapath. It
// owns its sockets, which Close releases. It implements port.Port and
// port.DeviceCounter; frames written may be GSO super-frames or have
// partial checksums (they are finished in software), frames read never are.
type Port struct {
	local    netip.Addr // bound address (unspecified: any)
	is6      bool       // IPv6 underlay
	dport    uint16     // UDP port received on and sent to
	mtu      int        // underlay MTU
	maxInner int        // longest inner frame (untagged) that fits the MTU
	batch    int
	anyVTEP  bool
	clock    func() int64
	seed     uint64 // flow hash key
	pmtu     func(vid uint16, frame []byte)

	cfgMu   sync.Mutex // serialises SetNetworks
	cfg     atomic.Pointer[config]
	remotes *remoteTable
	neigh   *neighTable // ARP-snooped remote addresses
	vteps   vtepRegistry
	cnt     counters

	sys sockets // the platform's sockets and batch state
}

var (
	_ port.Port          = (*Port)(nil)
	_ port.DeviceCounter = (*Port)(nil)
)

// newPort checks opt and makes a Port without sockets.
func newPort(opt Options) (*Port, error) {
	p := &Port{local: opt.Local.Unmap(), dport: opt.Port, mtu: opt.MTU, batch: opt.BatchSize,
		anyVTEP: opt.AcceptAnyVTEP, clock: opt.Clock, pmtu: opt.PMTU}
	if !p.local.IsValid() {
		p.local = netip.IPv4Unspecified()
	}
	p.is6 = p.local.Is6()
	if p.local.IsMulticast() {
		return nil, fmt.Errorf("local address %v: %w", p.local, ErrInvalidVTEP)
	}
	if p.dport == 0 {
		p.dport = header.VXLANPort
	}
	if p.mtu == 0 {
		p.mtu = DefaultMTU
	}
	over := header.IPv4MinLen + header.UDPLen + header.VXLANLen
	if p.is6 {
		over = header.IPv6Len + header.UDPLen + header.VXLANLen
	}
	p.maxInner = p.mtu - over
	if p.maxInner < header.EthernetLen+68 || p.mtu > 65535 {
		return nil, fmt.Errorf("underlay MTU %d outside %d–65535", p.mtu, over+header.EthernetLen+68)
	}
	if p.batch == 0 {
		p.batch = DefaultBatchSize
	}
	if p.batch < 1 || p.batch > MaxBatchSize {
		return nil, fmt.Errorf("batch size %d outside 1–%d", p.batch, MaxBatchSize)
	}
	if opt.SourcePorts < 0 || opt.SourcePorts > MaxSourcePorts {
		return nil, fmt.Errorf("%d source ports outside 1–%d", opt.SourcePorts, MaxSourcePorts)
	}
	aging := opt.AgingTime
	if aging == 0 {
		aging = DefaultAgingTime
	}
	maxRemotes := opt.MaxRemotes
	if maxRemotes <= 0 {
		maxRemotes = DefaultMaxRemotes
	}
	p.remotes = newRemoteTable(maxRemotes, aging)
	p.neigh = newNeighTable(maxRemotes, aging, p.remotes.refresh)
	if p.clock == nil {
		start := time.Now()
		p.clock = func() int64 { return int64(time.Since(start)) }
	}
	p.cfg.Store(&config{byVNI: map[uint32]*netcfg{}})
	return p, nil
}

// Now returns the port's clock (Options.Clock): the time to pass to Age
// and RemoteEntries.
func (p *Port) Now() int64 { return p.clock() }

// Local returns the address the port is bound to.
func (p *Port) Local() netip.Addr { return p.local }

// MTU returns the underlay MTU.
func (p *Port) MTU() int { return p.mtu }

// PayloadMTU returns the largest inner IP packet the port carries: the
// underlay MTU minus the outer IP, UDP, VXLAN and inner Ethernet headers
// (50 bytes on IPv4, 70 on IPv6). The overlay's interfaces should have this
// MTU; longer frames are dropped as too-big.
func (p *Port) PayloadMTU() int { return p.maxInner - header.EthernetLen }

// BatchSize implements port.Port.
func (p *Port) BatchSize() int { return p.batch }

// SetNetworks replaces the networks the port carries. VNIs and VLANs must
// each be unique, VLANs 1–4094, peers unicast addresses of the underlay's
// family. Learned entries of networks no longer carried are forgotten, and
// so are those learned at a VTEP that is no longer a peer of its network
// (unless AcceptAnyVTEP), so removing a peer stops the traffic to it at
// once; static entries stay. Read and Write see the new set from their
// next frame.
func (p *Port) SetNetworks(nets []Network) error {
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	c, err := buildConfig(nets, p.is6, &p.vteps)
	if err != nil {
		return fmt.Errorf("set vxlan networks: %w", err)
	}
	p.cfg.Store(c)
	statics := p.remotes.staticVTEPs()
	gone := func(vni uint32, vtep netip.Addr) bool {
		n := c.byVNI[vni]
		return n == nil || !p.anyVTEP && !n.hasPeer(vtep) && !statics[vniAddr{vni, vtep}]
	}
	p.remotes.removeIf(func(k remoteKey, e *remoteEntry) bool { return !e.static && gone(k.vni, e.vtep) })
	p.neigh.removeIf(func(k neighKey, e *neighEntry) bool { return gone(k.vni, e.vtep) })
	return nil
}

// Networks returns the networks the port carries, sorted by VNI.
func (p *Port) Networks() []Network {
	nets := slices.Clone(p.cfg.Load().networks)
	for i := range nets {
		nets[i].Peers = slices.Clone(nets[i].Peers)
	}
	return nets
}

// AddStatic adds a static remote entry: frames to mac in network vni go to
// vtep, and learning never moves it. It replaces any entry for mac. The VNI
// need not be carried yet.
func (p *Port) AddStatic(vni uint32, mac header.MAC, vtep netip.Addr) error {
	if vni > header.MaxVNI {
		return fmt.Errorf("add static entry %v: VNI %d: %w", mac, vni, ErrInvalidVNI)
	}
	if mac.IsMulticast() || mac.IsZero() {
		return fmt.Errorf("add static entry %v: %w", mac, ErrInvalidMAC)
	}
	if !validVTEP(vtep, p.is6) {
		return fmt.Errorf("add static entry %v: VTEP %v: %w", mac, vtep, ErrInvalidVTEP)
	}
	vtep = vtep.Unmap()
	p.remotes.addStatic(remoteKey{vni, mac}, vtep, p.vteps.get(vtep))
	return nil
}

// DeleteRemote removes the entry for mac in network vni, static or
// learned, and reports whether there was one.
func (p *Port) DeleteRemote(vni uint32, mac header.MAC) bool {
	return p.remotes.delete(remoteKey{vni, mac})
}

// Flush forgets every learned entry, and the neighbour table, and returns
// the number of remote entries forgotten; static entries stay.
func (p *Port) Flush() int {
	p.neigh.removeIf(func(neighKey, *neighEntry) bool { return true })
	return p.remotes.removeIf(func(_ remoteKey, e *remoteEntry) bool { return !e.static })
}

// FlushVNI forgets the learned entries and neighbours of network vni.
func (p *Port) FlushVNI(vni uint32) int {
	p.neigh.removeIf(func(k neighKey, _ *neighEntry) bool { return k.vni == vni })
	return p.remotes.removeIf(func(k remoteKey, e *remoteEntry) bool { return !e.static && k.vni == vni })
}

// Age removes learned entries older than the aging time at now (Port.Now)
// and returns their number; expired neighbours go too. Expired entries are
// ignored by lookups anyway; the daemon calls Age periodically to free
// them.
func (p *Port) Age(now int64) int {
	p.neigh.removeIf(func(_ neighKey, e *neighEntry) bool { return p.neigh.expired(e, now) })
	return p.remotes.age(now)
}

// Maintain implements datapath.Maintainer: it ages the learned entries
// at the port's own clock.
func (p *Port) Maintain() { p.Age(p.Now()) }

// RemoteEntries lists the live entries of the remote table at now
// (Port.Now), sorted by VNI and MAC.
func (p *Port) RemoteEntries(now int64) []RemoteEntry {
	c := p.cfg.Load()
	return p.remotes.entries(now, func(vni uint32) uint16 {
		if n := c.byVNI[vni]; n != nil {
			return n.vid
		}
		return 0
	})
}

// VTEPStats returns the traffic exchanged with each VTEP, sorted by
// address (traffic of VTEPs beyond MaxVTEPStats last, with an invalid
// address).
func (p *Port) VTEPStats() []VTEPStats {
	s := p.vteps.list()
	slices.SortFunc(s, func(a, b VTEPStats) int {
		if a.Addr.IsValid() != b.Addr.IsValid() {
			return cmp.Compare(b.Addr.BitLen(), a.Addr.BitLen())
		}
		return a.Addr.Compare(b.Addr)
	})
	return s
}

// DeviceDrops implements port.DeviceCounter: the Drop* reasons.
func (p *Port) DeviceDrops() map[string]uint64 { return p.cnt.drops() }

// Stats returns the port's counters.
func (p *Port) Stats() Stats {
	return Stats{
		Drops:        p.cnt.drops(),
		GSOSends:     p.cnt.gsoSends.Load(),
		GSOFallbacks: p.cnt.gsoFallback.Load(),
		LearnFull:    p.cnt.learnFull.Load(),
		NeighFull:    p.cnt.neighFull.Load(),
		Remotes:      p.remotes.len(),
		Neighbors:    p.neigh.len(),
		GSO:          p.gsoEnabled(),
	}
}

// accepts reports whether a datagram for network n may come from src.
func (p *Port) accepts(n *netcfg, src netip.Addr) bool {
	return p.anyVTEP || n.hasPeer(src) || p.remotes.isStaticVTEP(n.vni, src)
}
