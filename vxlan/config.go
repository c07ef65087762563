package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// DefaultBatchSize is the number of datagrams one Read receives at most
// when Options.BatchSize is 0: one recvmmsg of up to 64 messages, as
// afpacket.DefaultBatchSize, so a datapath worker's buffers serve every
// kind of port.
const DefaultBatchSize = 64

// MaxBatchSize is the largest Options.BatchSize: the kernel caps one
// recvmmsg at UIO_MAXIOV messages.
const MaxBatchSize = 1024

// DefaultSourcePorts is the number of sending sockets, and so of distinct
// outer UDP source ports flows are spread over, when Options.SourcePorts is
// 0. Sixteen covers the ECMP widths of common underlays; each costs one
// file descriptor and no memory beyond the socket.
const DefaultSourcePorts = 16

// MaxSourcePorts is the largest Options.SourcePorts.
const MaxSourcePorts = 256

// Source ports come from the dynamic range RFC 7348 §5 recommends.
const (
	MinSourcePort = 49152
	MaxSourcePort = 65535
)

// DefaultMTU is the underlay MTU assumed when Options.MTU is 0.
const DefaultMTU = 1500

// DefaultAgingTime is how long a learned remote entry lives after the last
// frame from its MAC, as the MAC table's default.
const DefaultAgingTime = 300 * time.Second

// DefaultMaxRemotes bounds the learned remote entries when
// Options.MaxRemotes is 0.
const DefaultMaxRemotes = 65536

// MaxVTEPStats bounds the number of VTEPs counted one by one; traffic of
// any further VTEP is counted under the invalid address.
const MaxVTEPStats = 4096

// Errors returned by SetNetworks and AddStatic.
var (
	ErrInvalidNetwork = errors.New("invalid network")
	ErrInvalidVTEP    = errors.New("invalid VTEP address")
	ErrInvalidMAC     = errors.New("not a unicast MAC address")
	ErrInvalidVNI     = errors.New("VNI above 2^24-1")
)

// Errors Write returns, unwrapped, for frames it drops; DeviceDrops counts
// them too.
var (
	ErrUntagged = errors.New("vxlan: frame without an 802.1Q tag")
	ErrNoVNI    = errors.New("vxlan: no network on the frame's VLAN")
	ErrNoPeer   = errors.New("vxlan: no peer VTEP to flood to")
	ErrTooBig   = errors.New("vxlan: encapsulated frame exceeds the underlay MTU")
)

// Options configures Open. The zero value listens on 0.0.0.0:4789 with
// the defaults below.
type Options struct {
	// Local is the local VTEP address the sockets bind to. The zero value
	// means 0.0.0.0 (IPv4, any address: the kernel picks the source address
	// by route). An IPv6 address makes an IPv6 underlay; peers must be of
	// the same family.
	Local netip.Addr
	// Port is the UDP port to receive on and to send to; 0 means 4789.
	Port uint16
	// MTU is the underlay MTU; 0 means DefaultMTU.
	MTU int
	// SourcePorts is the number of sending sockets (distinct source
	// ports), 1 to MaxSourcePorts; 0 means DefaultSourcePorts.
	SourcePorts int
	// BatchSize is the largest number of datagrams one Read receives, 1
	// to MaxBatchSize; 0 means DefaultBatchSize.
	BatchSize int
	// AgingTime is how long a learned remote entry lives after the last
	// frame from its MAC; 0 means DefaultAgingTime, < 0 never.
	AgingTime time.Duration
	// MaxRemotes bounds the learned remote entries; 0 means
	// DefaultMaxRemotes. When full, new MACs are not learned (frames to
	// them flood) until entries expire.
	MaxRemotes int
	// AcceptAnyVTEP accepts datagrams from any source address, as the
	// Linux vxlan device does. By default only a network's peers and the
	// VTEPs of its static entries are accepted, so nobody else on the
	// underlay can inject frames.
	AcceptAnyVTEP bool
	// NoGSO disables UDP segmentation offload on send.
	NoGSO bool
	// PMTU, if set, is called with an ICMPv4 "fragmentation needed" frame
	// (untagged) for the network of VLAN vid, answering an IPv4 frame
	// with DF set that Write dropped as too big for the underlay (see
	// pmtu.go), at most 100 per second. It is called by Write after it
	// released the port, so it may write to the port again; frame is
	// the callee's.
	PMTU func(vid uint16, frame []byte)
	// Clock returns the time in nanoseconds on a monotonic clock, for
	// learning and aging; nil means the time since Open. Methods taking a
	// now argument expect a value of this clock (Port.Now).
	Clock func() int64
}

// Network is one overlay network carried by the port.
type Network struct {
	// VNI is the 24-bit VXLAN Network Identifier on the wire.
	VNI uint32
	// VID is the VLAN the network has inside the switch, 1–4094.
	VID uint16
	// Peers are the remote VTEPs of the network: broadcast, multicast and
	// unknown unicast frames are sent to each (head-end replication), and
	// datagrams from them are accepted.
	Peers []netip.Addr
}

// config is the immutable mapping snapshot Read and Write load.
type config struct {
	networks []Network          // as set, sorted by VNI
	byVNI    map[uint32]*netcfg // decapsulation
	byVID    [4096]*netcfg      // encapsulation
}

// netcfg is one network in a snapshot.
type netcfg struct {
	vni   uint32
	vid   uint16
	peers []dest
}

// dest is a VTEP to send to and its counters.
type dest struct {
	addr netip.Addr
	ctr  *vtepCounters
}

// hasPeer reports whether a is a peer of n.
func (n *netcfg) hasPeer(a netip.Addr) bool {
	for i := range n.peers {
		if n.peers[i].addr == a {
			return true
		}
	}
	return false
}

// validVTEP reports whether a can be a remote VTEP of a port on family
// is6: a unicast address of that family.
func validVTEP(a netip.Addr, is6 bool) bool {
	a = a.Unmap()
	return a.IsValid() && a.Is6() == is6 && !a.IsUnspecified() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// buildConfig validates nets and returns their snapshot; vteps resolves a
// peer's counters.
func buildConfig(nets []Network, is6 bool, vteps *vtepRegistry) (*config, error) {
	c := &config{byVNI: make(map[uint32]*netcfg, len(nets))}
	for _, n := range nets {
		if n.VNI > header.MaxVNI {
			return nil, fmt.Errorf("network VNI %d: %w: VNI above %d", n.VNI, ErrInvalidNetwork, header.MaxVNI)
		}
		if n.VID < 1 || n.VID > header.MaxVID {
			return nil, fmt.Errorf("network VNI %d: %w: VLAN %d outside 1–%d", n.VNI, ErrInvalidNetwork, n.VID, header.MaxVID)
		}
		if c.byVNI[n.VNI] != nil {
			return nil, fmt.Errorf("network VNI %d: %w: VNI listed twice", n.VNI, ErrInvalidNetwork)
		}
		if o := c.byVID[n.VID]; o != nil {
			return nil, fmt.Errorf("network VNI %d: %w: VLAN %d already carries VNI %d", n.VNI, ErrInvalidNetwork, n.VID, o.vni)
		}
		nc := &netcfg{vni: n.VNI, vid: n.VID}
		peers := make([]netip.Addr, 0, len(n.Peers))
		for _, a := range n.Peers {
			if !validVTEP(a, is6) {
				return nil, fmt.Errorf("network VNI %d: peer %v: %w", n.VNI, a, ErrInvalidVTEP)
			}
			a = a.Unmap()
			if slices.Contains(peers, a) {
				continue
			}
			peers = append(peers, a)
			nc.peers = append(nc.peers, dest{addr: a, ctr: vteps.get(a)})
		}
		c.byVNI[n.VNI] = nc
		c.byVID[n.VID] = nc
		c.networks = append(c.networks, Network{VNI: n.VNI, VID: n.VID, Peers: peers})
	}
	slices.SortFunc(c.networks, func(a, b Network) int { return int(a.VNI) - int(b.VNI) })
	return c, nil
}
