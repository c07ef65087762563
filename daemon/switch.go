package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/afpacket"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/vlan"
)

// FDB implements control.Backend.
func (d *Daemon) FDB() []control.FDBEntry {
	names := d.portNames()
	var out []control.FDBEntry
	for _, e := range d.dp.FDB().Entries(d.dp.Now()) {
		out = append(out, control.FDBEntry{
			VLAN: int(e.VID), MAC: e.MAC.String(), Port: names[e.Port], Static: e.Static, Age: e.Age.Seconds(),
		})
	}
	return out
}

// portNames maps port IDs to names, the router's pseudo-port included.
func (d *Daemon) portNames() map[datapath.PortID]string {
	m := map[datapath.PortID]string{datapath.RouterPort: "router"}
	for _, p := range d.dp.Ports() {
		m[p.ID] = p.Config.Name
	}
	return m
}

// FlushFDB implements control.Backend.
func (d *Daemon) FlushFDB() int { return d.dp.FDB().Flush() }

// Ports implements control.Backend.
func (d *Daemon) Ports() []control.Port {
	var out []control.Port
	for _, p := range d.dp.Ports() {
		c := p.Config
		cp := control.Port{
			ID: int(p.ID), Name: c.Name, Kind: string(c.Kind), Endpoint: c.Endpoint, Routed: c.Routed,
			RxFrames: p.Counters.RxFrames, RxBytes: p.Counters.RxBytes,
			TxFrames: p.Counters.TxFrames, TxBytes: p.Counters.TxBytes, Drops: p.Counters.Drops,
		}
		if c.Routed {
			cp.Mode = "routed"
		} else {
			cp.Mode, cp.VLAN = c.VLAN.Mode.String(), int(c.VLAN.VID)
			if !c.VLAN.Trunks.IsEmpty() {
				cp.VLANs = c.VLAN.Trunks.String()
			} else if c.VLAN.Mode != vlan.Access && c.VLAN.Mode != vlan.Dot1QTunnel {
				cp.VLANs = "all"
			}
		}
		out = append(out, cp)
	}
	return out
}

// Stats implements control.Backend.
func (d *Daemon) Stats() control.Stats {
	st := control.Stats{Ports: d.Ports(), Drops: map[string]uint64{}}
	for _, p := range st.Ports {
		for r, n := range p.Drops {
			st.Drops[r] += n
		}
	}
	fs := d.dp.FDB().Stats()
	st.FDB = map[string]uint64{
		"entries": fs.Entries, "learned": fs.Learned, "moved": fs.Moved,
		"expired": fs.Expired, "evicted": fs.Evicted, "limited": fs.Limited,
	}
	st.Router = d.rt.Stats()
	st.NAT = natStats(d.rt.NAT().Stats())
	ds := d.dns.Stats()
	st.DNS = map[string]uint64{
		"queries": ds.Queries, "local": ds.Local, "forwarded": ds.Forwarded, "nxdomain": ds.NXDomain,
		"servfail": ds.ServFail, "refused": ds.Refused, "malformed": ds.Malformed, "dropped": ds.Dropped,
	}
	ps := d.proxy.Stats()
	st.Proxy = map[string]uint64{
		"tcp_conns": ps.TCPConns, "tcp_active": ps.TCPActive, "udp_flows": ps.UDPFlows,
		"udp_active": ps.UDPActive, "bytes_in": ps.BytesIn, "bytes_out": ps.BytesOut, "dial_errors": ps.DialErrors,
	}
	return st
}

// AddPort implements control.Backend: attach an existing interface of the
// daemon's namespace through AF_PACKET.
func (d *Daemon) AddPort(req control.PortAdd) (control.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pt, err := d.validatePort(req)
	if err != nil {
		return control.Port{}, err
	}
	if err := d.attachSysPort(pt); err != nil {
		return control.Port{}, err
	}
	d.state.Ports = append(d.state.Ports, pt)
	if err := d.saveLocked(); err != nil {
		return control.Port{}, err
	}
	for _, p := range d.Ports() {
		if p.Name == pt.Interface {
			return p, nil
		}
	}
	return control.Port{}, nil
}

func (d *Daemon) validatePort(req control.PortAdd) (*SysPort, error) {
	if err := netns.ValidateIfName(req.Interface); err != nil {
		return nil, control.Errorf(control.ErrInvalid, "interface: %w", err)
	}
	if _, ok := d.sysPorts[req.Interface]; ok {
		return nil, control.Errorf(control.ErrConflict, "interface %q is already a port", req.Interface)
	}
	if u := d.state.Uplink; (u != nil && u.Interface == req.Interface) || req.Interface == d.cfg.HostIf {
		return nil, control.Errorf(control.ErrConflict, "interface %q is already a port (the uplink or the host leg)", req.Interface)
	}
	if req.Mode == "" {
		req.Mode = "access"
	}
	mode, err := vlan.ParseMode(req.Mode)
	if err != nil {
		return nil, control.Errorf(control.ErrInvalid, "%w", err)
	}
	pt := &SysPort{Interface: req.Interface, Mode: mode.String(), VLANs: req.VLANs}
	switch mode {
	case vlan.Access, vlan.Dot1QTunnel:
		if req.Native != 0 {
			return nil, control.Errorf(control.ErrInvalid, "--native is for trunk ports")
		}
		pt.VLAN = uint16(req.VLAN)
		if req.VLAN < 1 || req.VLAN > 4094 {
			return nil, control.Errorf(control.ErrInvalid, "--mode %s needs --vlan 1-4094, got %d", mode, req.VLAN)
		}
	default:
		if req.VLAN != 0 {
			return nil, control.Errorf(control.ErrInvalid, "--vlan is for access and dot1q-tunnel ports; trunks take --vlans and --native")
		}
		if req.Native < 0 || req.Native > 4094 {
			return nil, control.Errorf(control.ErrInvalid, "--native %d out of range 1-4094", req.Native)
		}
		pt.VLAN = uint16(req.Native)
		if pt.VLAN != 0 && mode == vlan.Trunk {
			pt.Mode = vlan.NativeUntagged.String()
		}
		if (mode == vlan.NativeTagged || mode == vlan.NativeUntagged) && pt.VLAN == 0 {
			return nil, control.Errorf(control.ErrInvalid, "--mode %s needs --native VLAN", mode)
		}
	}
	if _, err := sysPolicy(pt); err != nil {
		return nil, control.Errorf(control.ErrInvalid, "%w", err)
	}
	if _, err := netlink.LinkByName(req.Interface); err != nil {
		return nil, control.Errorf(control.ErrNotFound, "interface %q not found in vswitchd's network namespace", req.Interface)
	}
	return pt, nil
}

// sysPolicy returns a system port's VLAN policy.
func sysPolicy(pt *SysPort) (vlan.Policy, error) {
	mode, err := vlan.ParseMode(pt.Mode)
	if err != nil {
		return vlan.Policy{}, err
	}
	p := vlan.Policy{Mode: mode, VID: pt.VLAN}
	if mode != vlan.Access && mode != vlan.Dot1QTunnel {
		if p.Trunks, err = vlan.ParseSet(pt.VLANs); err != nil {
			return vlan.Policy{}, err
		}
	} else if pt.VLANs != "" {
		if mode != vlan.Dot1QTunnel {
			return vlan.Policy{}, errors.New("--vlans is for trunk ports")
		}
		if p.CVLANs, err = vlan.ParseSet(pt.VLANs); err != nil {
			return vlan.Policy{}, err
		}
	}
	return p, p.Validate()
}

// attachSysPort opens the interface and adds it to the datapath.
func (d *Daemon) attachSysPort(pt *SysPort) error {
	pol, err := sysPolicy(pt)
	if err != nil {
		return err
	}
	if l, err := netlink.LinkByName(pt.Interface); err == nil {
		netlink.LinkSetUp(l)
	}
	dev, err := afpacket.Open(pt.Interface, afpacket.Options{Promiscuous: true})
	if err != nil {
		return control.Errorf(control.ErrNotFound, "%w", err)
	}
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: pt.Interface, Kind: datapath.KindSystem, VLAN: pol})
	if err != nil {
		dev.Close()
		return err
	}
	d.sysPorts[pt.Interface] = id
	return nil
}

// RemovePort implements control.Backend.
func (d *Daemon) RemovePort(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.sysPorts[name]
	if !ok {
		if _, isPort := d.dp.PortByName(name); isPort {
			return control.Errorf(control.ErrConflict, "port %q is not a system port (remove its endpoint or the uplink instead)", name)
		}
		return control.Errorf(control.ErrNotFound, "port %q not found", name)
	}
	if err := d.dp.RemovePort(id); err != nil {
		d.log.Warn("remove port", "port", name, "err", err)
	}
	delete(d.sysPorts, name)
	d.state.Ports = slices.DeleteFunc(d.state.Ports, func(p *SysPort) bool { return p.Interface == name })
	return d.saveLocked()
}

// Uplink implements control.Backend.
func (d *Daemon) Uplink() (control.Uplink, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.state.Uplink
	if u == nil {
		return control.Uplink{}, false
	}
	return control.Uplink{Interface: u.Interface, Address: u.Address, Gateway: u.Gateway, MAC: d.uplinkMAC.String()}, true
}

// SetUplink implements control.Backend.
func (d *Daemon) SetUplink(u control.Uplink) (control.Uplink, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := d.setUplinkLocked(u)
	if err != nil {
		return control.Uplink{}, err
	}
	return out, d.saveLocked()
}

func (d *Daemon) setUplinkLocked(u control.Uplink) (control.Uplink, error) {
	if err := netns.ValidateIfName(u.Interface); err != nil {
		return control.Uplink{}, control.Errorf(control.ErrInvalid, "uplink interface: %w", err)
	}
	addr, err := netip.ParsePrefix(u.Address)
	if err != nil || !addr.Addr().Is4() || addr.Bits() > 30 {
		return control.Uplink{}, control.Errorf(control.ErrInvalid, "uplink address %q: want IPv4 CIDR such as 203.0.113.2/24", u.Address)
	}
	if addr.Addr() == addr.Masked().Addr() {
		return control.Uplink{}, control.Errorf(control.ErrInvalid, "uplink address %s is the network address", addr)
	}
	var gw netip.Addr
	if u.Gateway != "" {
		if gw, err = netip.ParseAddr(u.Gateway); err != nil || !gw.Is4() {
			return control.Uplink{}, control.Errorf(control.ErrInvalid, "uplink gateway %q: not an IPv4 address", u.Gateway)
		}
		if !addr.Contains(gw) || gw == addr.Addr() {
			return control.Uplink{}, control.Errorf(control.ErrInvalid, "uplink gateway %s is not another address of %s", gw, addr.Masked())
		}
	}
	for _, n := range d.state.Networks {
		if netip.MustParsePrefix(n.Subnet).Overlaps(addr.Masked()) {
			return control.Uplink{}, control.Errorf(control.ErrConflict, "uplink %s overlaps network %q (%s)", addr.Masked(), n.Name, n.Subnet)
		}
	}
	if _, ok := d.sysPorts[u.Interface]; ok || u.Interface == d.cfg.HostIf {
		return control.Uplink{}, control.Errorf(control.ErrConflict, "interface %q is already a port", u.Interface)
	}
	if _, err := netlink.LinkByName(u.Interface); err != nil {
		return control.Uplink{}, control.Errorf(control.ErrNotFound, "uplink interface %q not found in vswitchd's network namespace", u.Interface)
	}
	d.removeUplinkLocked()
	if l, err := netlink.LinkByName(u.Interface); err == nil {
		netlink.LinkSetUp(l)
	}
	dev, err := afpacket.Open(u.Interface, afpacket.Options{Promiscuous: true})
	if err != nil {
		return control.Uplink{}, fmt.Errorf("uplink: %w", err)
	}
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: u.Interface, Kind: datapath.KindSystem, Routed: true})
	if err != nil {
		dev.Close()
		return control.Uplink{}, err
	}
	d.uplinkPort = id
	d.state.Uplink = &UplinkConf{Interface: u.Interface, Address: addr.String()}
	if gw.IsValid() {
		d.state.Uplink.Gateway = gw.String()
	}
	d.syncLocked()
	d.rt.Announce(d.dp.Now())
	d.log.Info("uplink set", "interface", u.Interface, "address", addr, "gateway", gw)
	return control.Uplink{Interface: u.Interface, Address: addr.String(), Gateway: d.state.Uplink.Gateway, MAC: d.uplinkMAC.String()}, nil
}

// RemoveUplink implements control.Backend.
func (d *Daemon) RemoveUplink() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.Uplink == nil {
		return control.Errorf(control.ErrNotFound, "no uplink is set")
	}
	d.removeUplinkLocked()
	d.syncLocked()
	return d.saveLocked()
}

func (d *Daemon) removeUplinkLocked() {
	if d.uplinkPort != 0 {
		d.dp.RemovePort(d.uplinkPort)
		d.uplinkPort = 0
	}
	d.state.Uplink = nil
}

// NAT implements control.Backend: the translation rules, like
// `iptables -t nat -L -n`.
func (d *Daemon) NAT() control.NATRules {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := control.NATRules{Masquerade: []control.Masquerade{}, Published: []control.Published{}}
	for _, n := range d.state.Networks {
		m := control.Masquerade{Network: n.Name, Subnet: n.Subnet}
		switch {
		case n.Internal:
			m.Reason = "internal network: never routed out"
		case d.state.Uplink == nil:
			m.Reason = "no uplink"
		default:
			m.To = netip.MustParsePrefix(d.state.Uplink.Address).Addr().String()
		}
		out.Masquerade = append(out.Masquerade, m)
	}
	for _, p := range d.rt.Config().Published {
		hostIP := "0.0.0.0"
		if p.HostIP.IsValid() {
			hostIP = p.HostIP.String()
		}
		proto := "tcp"
		if p.Proto == 17 {
			proto = "udp"
		}
		out.Published = append(out.Published, control.Published{
			Endpoint: p.Endpoint, Proto: proto, HostIP: hostIP, HostPort: portRange(p.HostPort, p.HostPortEnd),
			Target: p.Addr.String(), ContPort: portRange(p.ContPort, p.ContPort+(p.HostPortEnd-p.HostPort)),
		})
	}
	sort.Slice(out.Published, func(i, j int) bool { return out.Published[i].Endpoint < out.Published[j].Endpoint })
	return out
}
