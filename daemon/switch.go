package daemon

import (
	"slices"
	"sort"

	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/trace"
	"github.com/vswitchd/vswitchd/vxlan"
)

// Ports lists the switch ports with their counters.
func (d *Daemon) Ports() []PortInfo {
	vx := d.vxlanPorts()
	var out []PortInfo
	for _, p := range d.dp.Ports() {
		c := p.Config
		var vs []vxlan.VTEPStats
		if ov := vx[p.ID]; ov != nil {
			vs = ov.dev.VTEPStats()
		}
		slices.SortFunc(vs, func(a, b vxlan.VTEPStats) int { return a.Addr.Compare(b.Addr) })
		out = append(out, PortInfo{
			ID: p.ID, Name: c.Name, Kind: c.Kind, Endpoint: c.Endpoint, Routed: c.Routed,
			VLAN: c.VLAN, Counters: p.Counters, Queues: p.Queues, VTEPs: vs,
		})
	}
	return out
}

// Stats returns every counter.
func (d *Daemon) Stats() Stats {
	return Stats{
		Ports:    d.Ports(),
		Deferred: d.dp.DeferredCounts(),
		FDB:      d.dp.FDB().Stats(),
		Router:   d.dp.RouterCounts(),
		NAT:      d.rt.NAT().Stats(),
		Defrag:   d.rt.Defrag().Stats(),
		DNS:      d.dns.Stats(),
		Proxy:    d.pub.Stats(),
	}
}

// AddPort attaches an existing interface of the daemon's namespace as a
// system port (or another registered port type).
func (d *Daemon) AddPort(spec state.PortSpec) (PortInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pt, err := d.st.NewPort(spec, d.cfg.HostIf)
	if err != nil {
		return PortInfo{}, err
	}
	if !d.host.InterfaceExists(pt.Interface) {
		return PortInfo{}, state.Errorf(state.ErrNotFound, "interface %q not found in vswitchd's network namespace", pt.Interface)
	}
	id, err := d.attachSysPort(pt)
	if err != nil {
		return PortInfo{}, err
	}
	next := d.st.Clone()
	next.Ports = append(next.Ports, pt)
	if err := d.commit(next); err != nil {
		d.detachSysPort(pt.Interface)
		return PortInfo{}, err
	}
	for _, p := range d.Ports() {
		if p.ID == id {
			return p, nil
		}
	}
	return PortInfo{}, nil
}

// attachSysPort opens a system port and adds it to the datapath.
func (d *Daemon) attachSysPort(pt *state.SysPort) (port.ID, error) {
	pol, err := pt.Policy()
	if err != nil {
		return 0, state.Errorf(state.ErrInvalid, "%w", err)
	}
	dev, err := d.host.OpenPort(pt.PortType(), pt.Interface)
	if err != nil {
		return 0, state.Errorf(state.ErrNotFound, "%w", err)
	}
	if w, err := withImpairment(dev, pt.Impair); err != nil {
		dev.Close()
		return 0, err
	} else {
		dev = w
	}
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: pt.Interface, Kind: datapath.KindSystem, VLAN: pol})
	if err != nil {
		dev.Close()
		return 0, err
	}
	d.sysPorts[pt.Interface] = id
	return id, nil
}

func (d *Daemon) detachSysPort(name string) {
	if id, ok := d.sysPorts[name]; ok {
		if err := d.dp.RemovePort(id); err != nil {
			d.log.Warn("remove port", "port", name, "err", err)
		}
		delete(d.sysPorts, name)
	}
}

// RemovePort detaches a system port.
func (d *Daemon) RemovePort(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	pt := d.st.Port(name)
	if pt == nil {
		if _, isPort := d.dp.PortByName(name); isPort {
			return state.Errorf(state.ErrConflict, "port %q is not a system port (remove its endpoint or the uplink instead)", name)
		}
		return state.Errorf(state.ErrNotFound, "port %q not found", name)
	}
	next := d.st.Clone()
	next.RemovePort(name)
	if err := d.commit(next); err != nil {
		return err
	}
	d.detachSysPort(name)
	return nil
}

// Uplink returns the uplink, and false when none is set.
func (d *Daemon) Uplink() (UplinkInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Uplink == nil {
		return UplinkInfo{}, false
	}
	return UplinkInfo{Uplink: *d.st.Uplink, MAC: d.st.UplinkMAC}, true
}

// SetUplink sets (or replaces) the uplink.
func (d *Daemon) SetUplink(spec state.UplinkSpec) (UplinkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.st.Uplink
	u, err := d.setUplinkLocked(spec)
	if err != nil {
		return UplinkInfo{}, err
	}
	if err := d.save(d.st); err != nil {
		// Put the old uplink back, so the host matches the saved state.
		d.removeUplink()
		d.st.Uplink = nil
		if old != nil {
			d.setUplinkLocked(state.UplinkSpec{Interface: old.Interface, Address: old.Address, Gateway: old.Gateway, Lab: old.Lab})
		}
		d.sync()
		return UplinkInfo{}, err
	}
	return u, nil
}

// setUplinkLocked attaches the uplink and records it in d.st (the caller
// saves). Callers hold mu.
func (d *Daemon) setUplinkLocked(spec state.UplinkSpec) (UplinkInfo, error) {
	without := d.st.Clone()
	without.Uplink = nil
	u, err := without.NewUplink(spec, d.cfg.HostIf, d.cfg.HostCIDR)
	if err != nil {
		return UplinkInfo{}, err
	}
	if !d.host.InterfaceExists(u.Interface) {
		return UplinkInfo{}, state.Errorf(state.ErrNotFound, "uplink interface %q not found in vswitchd's network namespace", u.Interface)
	}
	dev, err := d.host.OpenPort("system", u.Interface)
	if err != nil {
		return UplinkInfo{}, err
	}
	d.removeUplink()
	d.spreadUplink(dev, u.Interface)
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: u.Interface, Kind: datapath.KindSystem, Routed: true})
	if err != nil {
		dev.Close()
		return UplinkInfo{}, err
	}
	d.uplinkPort = id
	next := d.st.Clone()
	next.Uplink = u
	d.st = next
	d.sync()
	d.rt.Announce(d.dp.Now())
	d.log.Info("uplink set", "interface", u.Interface, "address", u.Address, "gateway", u.Gateway)
	return UplinkInfo{Uplink: *u, MAC: d.st.UplinkMAC}, nil
}

// RemoveUplink removes the uplink.
func (d *Daemon) RemoveUplink() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Uplink == nil {
		return state.Errorf(state.ErrNotFound, "no uplink is set")
	}
	next := d.st.Clone()
	next.Uplink = nil
	if err := d.save(next); err != nil {
		return err
	}
	d.removeUplink()
	d.st = next
	d.sync()
	return nil
}

func (d *Daemon) removeUplink() {
	if d.uplinkPort != 0 {
		d.dp.RemovePort(d.uplinkPort)
		d.uplinkPort = 0
	}
}

// NAT returns the translation rules, like `iptables -t nat -L -n`.
func (d *Daemon) NAT() NATRules {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := NATRules{Masquerade: []Masquerade{}, Published: []PublishedPort{}}
	for _, n := range d.st.Networks {
		m := Masquerade{Network: n.Name, Subnet: n.Subnet}
		switch {
		case n.Internal:
			m.Reason = "internal network: never routed out"
		case d.st.Uplink == nil:
			m.Reason = "no uplink"
		default:
			m.To = d.st.Uplink.Address.Addr()
		}
		out.Masquerade = append(out.Masquerade, m)
	}
	for _, e := range d.st.Endpoints {
		nic, _ := d.st.Primary(e)
		if nic == nil {
			continue
		}
		for _, p := range e.Publish {
			out.Published = append(out.Published, PublishedPort{Endpoint: e.Name, Publish: p, Target: nic.IP})
		}
	}
	sort.SliceStable(out.Published, func(i, j int) bool { return out.Published[i].Endpoint < out.Published[j].Endpoint })
	return out
}

// Explain runs frame through the switch as if it arrived on the port
// named in, in dry-run mode (see datapath.Explain), recording into t.
func (d *Daemon) Explain(in string, frame []byte, t *trace.Trace) error {
	id, ok := d.dp.PortByName(in)
	if !ok {
		return state.Errorf(state.ErrNotFound, "port %q not found", in)
	}
	return d.dp.Explain(id, frame, nil, t)
}
