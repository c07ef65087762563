package daemon

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
	"github.com/vswitchd/vswitchd/vxlan"
)

// Overlay networks (VXLAN, RFC 7348). Each overlay network of the state
// is carried by a vxlan port of the switch: one port per local UDP
// endpoint (--local, --vxlan-port), shared by every overlay network that
// uses it, as the kernel shares one socket among its vxlan devices of one
// port. The port is an 802.1Q trunk of those networks' VLANs toward the
// bridge and maps each VLAN to its VNI on the wire. Ports are opened in
// the daemon's namespace, so the underlay is whatever that namespace
// routes to; they follow the state: syncOverlays opens, reconfigures and
// closes them after every change of the overlay networks, their peers or
// their static remote entries.
//
// Each host's router is the gateway of its own endpoints on the overlay:
// every host gives the network the same gateway address and, derived from
// the VNI, the same gateway MAC (state.OverlayGatewayMAC), so an endpoint
// reaches "its" gateway on whichever host it runs (a distributed anycast
// gateway), and the masquerade and published ports of each host serve the
// endpoints that live there.

// DefaultOverlayMTU is the MTU of an overlay network's NICs when the
// network sets none: a 1500-byte underlay less the 50 bytes of outer
// Ethernet, IPv4, UDP and VXLAN headers (RFC 7348 §4.3: VTEPs must not
// fragment).
const DefaultOverlayMTU = 1450

// VXLANPort is what the daemon uses of a vxlan port (*vxlan.Port).
type VXLANPort interface {
	port.Port
	SetNetworks([]vxlan.Network) error
	AddStatic(vni uint32, mac header.MAC, vtep netip.Addr) error
	DeleteRemote(vni uint32, mac header.MAC) bool
	Now() int64
	RemoteEntries(now int64) []vxlan.RemoteEntry
	NeighEntries(now int64) []vxlan.NeighEntry
	LookupARP(vni uint32, ip netip.Addr) (header.MAC, bool)
	VTEPStats() []vxlan.VTEPStats
}

var _ VXLANPort = (*vxlan.Port)(nil)

// openVXLAN is Config.OpenVXLAN's default.
func openVXLAN(o vxlan.Options) (VXLANPort, error) { return vxlan.Open(o) }

// overlayKey is a local UDP endpoint of overlay networks.
type overlayKey struct {
	local netip.Addr
	port  uint16
}

func keyOf(o *state.Overlay) overlayKey { return overlayKey{o.Local, o.Port} }

// overlayPort is an open vxlan port.
type overlayPort struct {
	name string
	id   port.ID
	dev  VXLANPort
	nets []vxlan.Network // as last set
	// statics are the static remote entries pushed into dev (VNI, MAC).
	statics map[vniMAC]netip.Addr
}

type vniMAC struct {
	vni uint32
	mac header.MAC
}

// overlayName returns the port name of k: vxlan4789, or with a local
// address vxlan4789-2, -3… when the plain name is taken.
func (d *Daemon) overlayName(k overlayKey) string {
	base := "vxlan" + strconv.Itoa(int(k.port))
	name := base
	for i := 2; ; i++ {
		if _, taken := d.dp.PortByName(name); !taken {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// syncOverlays makes the vxlan ports match st: opens ports st needs,
// gives each its networks (VNI, VLAN, peers) and static remote entries,
// adjusts its trunk VLANs, and closes ports no network uses any more.
// On error the ports may be half-way; callers undo with
// syncOverlays(d.st). Callers hold mu.
func (d *Daemon) syncOverlays(st *state.State) error {
	want := map[overlayKey][]vxlan.Network{}
	for _, n := range st.Networks {
		if o := n.Overlay; o != nil {
			k := keyOf(o)
			want[k] = append(want[k], vxlan.Network{VNI: o.VNI, VID: uint16(n.VLAN), Peers: slices.Clone(o.Peers)})
		}
	}
	for k, ov := range d.overlays {
		if _, ok := want[k]; !ok {
			if err := d.dp.RemovePort(ov.id); err != nil {
				d.log.Warn("remove vxlan port", "port", ov.name, "err", err)
			}
			delete(d.overlays, k)
			d.log.Info("vxlan port closed", "port", ov.name)
		}
	}
	keys := make([]overlayKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b overlayKey) int {
		return cmp.Or(cmp.Compare(a.port, b.port), a.local.Compare(b.local))
	})
	for _, k := range keys {
		nets := want[k]
		slices.SortFunc(nets, func(a, b vxlan.Network) int { return cmp.Compare(a.VNI, b.VNI) })
		ov := d.overlays[k]
		if ov == nil {
			open := d.cfg.OpenVXLAN
			if open == nil {
				open = openVXLAN
			}
			dp := d.dp
			dev, err := open(vxlan.Options{Local: k.local, Port: k.port, AgingTime: d.cfg.FDB.AgingTime,
				// Bridged frames too big for the underlay: tell the sender
				// (ICMP fragmentation needed into its network's VLAN).
				PMTU: func(vid uint16, f []byte) { dp.Inject(f, router.Target{VID: vlan.ID(vid)}) }})
			if err != nil {
				return state.Errorf(state.ErrConflict, "%w", err)
			}
			if err := dev.SetNetworks(nets); err != nil {
				dev.Close()
				return state.Errorf(state.ErrInvalid, "%w", err)
			}
			name := d.overlayName(k)
			id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: name, Kind: datapath.KindVXLAN, VLAN: trunkOf(nets)})
			if err != nil {
				dev.Close()
				return err
			}
			ov = &overlayPort{name: name, id: id, dev: dev, nets: nets, statics: map[vniMAC]netip.Addr{}}
			d.overlays[k] = ov
			d.log.Info("vxlan port opened", "port", name, "local", k.local, "udp", k.port)
		} else if !slices.EqualFunc(ov.nets, nets, sameNetwork) {
			if err := ov.dev.SetNetworks(nets); err != nil {
				return state.Errorf(state.ErrInvalid, "%w", err)
			}
			if err := d.dp.SetPortConfig(ov.id, datapath.PortConfig{Name: ov.name, Kind: datapath.KindVXLAN, VLAN: trunkOf(nets)}); err != nil {
				return err
			}
			ov.nets = nets
		}
	}
	d.syncStaticRemotes(st)
	d.publishRemote()
	return nil
}

func sameNetwork(a, b vxlan.Network) bool {
	return a.VNI == b.VNI && a.VID == b.VID && slices.Equal(a.Peers, b.Peers)
}

// trunkOf is the VLAN policy of a vxlan port carrying nets.
func trunkOf(nets []vxlan.Network) vlan.Policy {
	p := vlan.Policy{Mode: vlan.Trunk}
	for _, n := range nets {
		p.Trunks.Add(vlan.ID(n.VID))
	}
	return p
}

// syncStaticRemotes pushes st's static remote entries (fdb add --vtep)
// into the vxlan ports and the MAC table, and removes those st no longer
// has. Callers hold mu.
func (d *Daemon) syncStaticRemotes(st *state.State) {
	want := map[*overlayPort]map[vniMAC]netip.Addr{}
	for _, r := range st.StaticRemotes {
		n := st.Network(r.Network)
		if n == nil || n.Overlay == nil {
			continue
		}
		ov := d.overlays[keyOf(n.Overlay)]
		if ov == nil {
			continue
		}
		if want[ov] == nil {
			want[ov] = map[vniMAC]netip.Addr{}
		}
		want[ov][vniMAC{n.Overlay.VNI, r.MAC}] = r.VTEP
	}
	for _, ov := range d.overlays {
		w := want[ov]
		for k := range ov.statics {
			if _, ok := w[k]; !ok {
				ov.dev.DeleteRemote(k.vni, k.mac)
				if vid, ok := vidOf(ov.nets, k.vni); ok {
					d.dp.FDB().Delete(vid, k.mac)
				}
				delete(ov.statics, k)
			}
		}
		for k, vtep := range w {
			if old, ok := ov.statics[k]; ok && old == vtep {
				continue
			}
			if err := ov.dev.AddStatic(k.vni, k.mac, vtep); err != nil {
				d.log.Warn("static remote entry not added", "vni", k.vni, "mac", k.mac, "vtep", vtep, "err", err)
				continue
			}
			if vid, ok := vidOf(ov.nets, k.vni); ok {
				if err := d.dp.FDB().AddStatic(vid, k.mac, ov.id); err != nil {
					d.log.Warn("static remote entry not in the mac table", "vlan", vid, "mac", k.mac, "err", err)
				}
			}
			ov.statics[k] = vtep
		}
	}
}

func vidOf(nets []vxlan.Network, vni uint32) (vlan.ID, bool) {
	for _, n := range nets {
		if n.VNI == vni {
			return vlan.ID(n.VID), true
		}
	}
	return 0, false
}

// remoteARP answers the router's ARP suppression for endpoints on other
// hosts from the neighbour tables the vxlan ports snoop. It is an
// immutable snapshot, rebuilt by publishRemote.
type remoteARP map[vlan.ID]remoteNet

type remoteNet struct {
	vni uint32
	id  port.ID
	dev VXLANPort
}

// LookupARP implements router.RemoteNeighbors. A request that came in by
// the vxlan port itself is not answered: the endpoint it asks for is on
// this host or another remote one, which answer for themselves.
func (r remoteARP) LookupARP(vid vlan.ID, ip netip.Addr, in port.ID) (header.MAC, bool) {
	n, ok := r[vid]
	if !ok || in == n.id {
		return header.MAC{}, false
	}
	return n.dev.LookupARP(n.vni, ip)
}

// publishRemote rebuilds the router's view of the overlay networks and
// hands it to the router. Callers hold mu.
func (d *Daemon) publishRemote() {
	r := remoteARP{}
	byID := map[port.ID]*overlayPort{}
	for _, ov := range d.overlays {
		byID[ov.id] = ov
		for _, n := range ov.nets {
			r[vlan.ID(n.VID)] = remoteNet{vni: n.VNI, id: ov.id, dev: ov.dev}
		}
	}
	d.remote = r
	d.vxlanByID.Store(&byID)
}

// overlayOf returns the vxlan port of overlay network n, or nil.
func (d *Daemon) overlayOf(n *state.Network) *overlayPort {
	if n == nil || n.Overlay == nil {
		return nil
	}
	return d.overlays[keyOf(n.Overlay)]
}

// remoteAddrs returns the addresses of network's endpoints on other hosts
// that this host has seen (their ARP packets): automatic addresses avoid
// them, besides the network's --ip-range. Callers hold mu.
func (d *Daemon) remoteAddrs(network string) []netip.Addr {
	n := d.st.Network(network)
	ov := d.overlayOf(n)
	if ov == nil {
		return nil
	}
	var out []netip.Addr
	for _, e := range ov.dev.NeighEntries(ov.dev.Now()) {
		if e.VNI == n.Overlay.VNI {
			out = append(out, e.IP)
		}
	}
	return out
}

// RemoteMAC is a MAC of an overlay network behind another host's VTEP.
type RemoteMAC struct {
	MAC  header.MAC
	VTEP netip.Addr
	// IP is the address the MAC announced in ARP, if seen.
	IP     netip.Addr
	Static bool
	Age    time.Duration
}

// remoteMACs lists the remote MACs of overlay network n. Callers hold mu.
func (d *Daemon) remoteMACs(n *state.Network) []RemoteMAC {
	ov := d.overlayOf(n)
	if ov == nil {
		return nil
	}
	now := ov.dev.Now()
	ips := map[header.MAC]netip.Addr{}
	for _, e := range ov.dev.NeighEntries(now) {
		if e.VNI == n.Overlay.VNI {
			ips[e.MAC] = e.IP
		}
	}
	out := []RemoteMAC{}
	for _, e := range ov.dev.RemoteEntries(now) {
		if e.VNI == n.Overlay.VNI {
			out = append(out, RemoteMAC{MAC: e.MAC, VTEP: e.VTEP, IP: ips[e.MAC], Static: e.Static, Age: e.Age})
		}
	}
	return out
}

// vxlanPorts returns the open vxlan ports by port ID, without mu.
func (d *Daemon) vxlanPorts() map[port.ID]*overlayPort {
	if m := d.vxlanByID.Load(); m != nil {
		return *m
	}
	return nil
}

// vtepNames returns the port names to show for MAC table entries on vxlan
// ports: "vxlan:VTEP" for each (VLAN, MAC) a port knows the VTEP of.
func (d *Daemon) vtepNames() map[port.ID]map[vlanMAC]string {
	out := map[port.ID]map[vlanMAC]string{}
	for _, ov := range d.vxlanPorts() {
		m := map[vlanMAC]string{}
		for _, e := range ov.dev.RemoteEntries(ov.dev.Now()) {
			m[vlanMAC{vlan.ID(e.VID), e.MAC}] = "vxlan:" + e.VTEP.String()
		}
		out[ov.id] = m
	}
	return out
}

type vlanMAC struct {
	vid vlan.ID
	mac header.MAC
}

// VTEPInfo is the traffic of one remote VTEP of a vxlan port.
type VTEPInfo struct {
	Port string // the vxlan port
	vxlan.VTEPStats
}

// VTEPs lists the per-VTEP counters of every vxlan port. It does not
// take mu.
func (d *Daemon) VTEPs() []VTEPInfo {
	var out []VTEPInfo
	for _, ov := range d.vxlanPorts() {
		for _, s := range ov.dev.VTEPStats() {
			out = append(out, VTEPInfo{Port: ov.name, VTEPStats: s})
		}
	}
	slices.SortFunc(out, func(a, b VTEPInfo) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), a.Addr.Compare(b.Addr))
	})
	return out
}

// AddPeer adds a peer VTEP to overlay network name, live.
func (d *Daemon) AddPeer(name string, peer netip.Addr) error {
	return d.changePeers(name, func(n *state.Network) (*state.Network, error) { return d.st.WithPeer(n, peer) })
}

// DeletePeer removes a peer VTEP from overlay network name, live: frames
// no longer go to it or come from it, and the MACs learned behind it are
// forgotten.
func (d *Daemon) DeletePeer(name string, peer netip.Addr) error {
	return d.changePeers(name, func(n *state.Network) (*state.Network, error) { return d.st.WithoutPeer(n, peer) })
}

func (d *Daemon) changePeers(name string, change func(*state.Network) (*state.Network, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.st.Network(name)
	if n == nil {
		return state.Errorf(state.ErrNotFound, "network %q not found", name)
	}
	c, err := change(n)
	if err != nil {
		return err
	}
	next := d.st.ReplaceNetwork(c)
	if err := d.syncOverlays(next); err != nil {
		d.syncOverlays(d.st)
		return err
	}
	if err := d.commit(next); err != nil {
		d.syncOverlays(d.st)
		return err
	}
	d.log.Info("overlay peers changed", "network", name, "peers", c.Overlay.Peers)
	return nil
}

// AddRemoteFDB adds a static remote entry: mac of overlay network
// network lives behind VTEP vtep (fdb add MAC --network N --vtep IP).
func (d *Daemon) AddRemoteFDB(network string, mac header.MAC, vtep netip.Addr) (FDBEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.st.NewStaticRemote(network, mac, vtep)
	if err != nil {
		return FDBEntry{}, err
	}
	n := d.st.Network(network)
	for _, m := range d.st.StaticMACs {
		if m.VLAN == n.VLAN && m.MAC == mac {
			return FDBEntry{}, state.Errorf(state.ErrConflict, "mac %s has a static entry on port %s: delete it first", mac, m.Port)
		}
	}
	next := d.st.Clone()
	next.StaticRemotes = slices.DeleteFunc(next.StaticRemotes, func(o state.StaticRemote) bool {
		return o.Network == network && o.MAC == mac
	})
	next.StaticRemotes = append(next.StaticRemotes, r)
	if err := d.commit(next); err != nil {
		return FDBEntry{}, err
	}
	d.syncStaticRemotes(d.st)
	d.log.Info("static remote entry added", "network", network, "mac", mac, "vtep", vtep)
	return FDBEntry{VLAN: n.VLAN, MAC: mac, Port: "vxlan:" + vtep.String(), Static: true}, nil
}

// deleteRemoteFDB removes the static remote entry of mac in the overlay
// network of VLAN vid; it reports whether there was one. Callers hold mu.
func (d *Daemon) deleteRemoteFDB(vid vlan.ID, mac header.MAC) (bool, error) {
	var network string
	for _, n := range d.st.Networks {
		if n.VLAN == vid && n.Overlay != nil {
			network = n.Name
		}
	}
	if network == "" {
		return false, nil
	}
	next := d.st.Clone()
	before := len(next.StaticRemotes)
	next.StaticRemotes = slices.DeleteFunc(next.StaticRemotes, func(o state.StaticRemote) bool {
		return o.Network == network && o.MAC == mac
	})
	if len(next.StaticRemotes) == before {
		return false, nil
	}
	if err := d.commit(next); err != nil {
		return true, err
	}
	d.syncStaticRemotes(d.st)
	return true, nil
}

// overlayMTU returns the MTU an overlay network gets when its spec sets
// none.
func overlayMTU(spec state.NetworkSpec) int {
	if spec.Overlay != nil && spec.MTU == 0 {
		return DefaultOverlayMTU
	}
	return spec.MTU
}
