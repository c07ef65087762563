package daemon

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// The switch's tables as the user sees and edits them: the MAC table, a
// system port's VLANs, the connection table, and the log level.

// FDB lists the MAC table.
func (d *Daemon) FDB() []FDBEntry {
	names := d.portNames()
	vteps := d.vtepNames()
	var out []FDBEntry
	for _, e := range d.dp.FDB().Entries(d.dp.Now()) {
		name := names[e.Port]
		if v, ok := vteps[e.Port][vlanMAC{e.VID, e.MAC}]; ok {
			name = v // a MAC behind another host's VTEP: vxlan:IP
		}
		out = append(out, FDBEntry{VLAN: e.VID, MAC: e.MAC, Port: name, Static: e.Static, Age: e.Age})
	}
	return out
}

// portNames maps port IDs to names, the router's pseudo-port included.
func (d *Daemon) portNames() map[port.ID]string {
	m := map[port.ID]string{port.Router: "router"}
	for _, p := range d.dp.Ports() {
		m[p.ID] = p.Config.Name
	}
	return m
}

// FlushFDB forgets the learned MACs and returns how many.
func (d *Daemon) FlushFDB() int { return d.dp.FDB().Flush() }

// AddFDB adds a static MAC table entry: mac in VLAN vid is on the port
// named portName (bridge fdb add … static). It never ages or moves, and
// it lasts until deleted, the port goes, or the daemon's state is removed.
func (d *Daemon) AddFDB(vid vlan.ID, mac header.MAC, portName string) (FDBEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := state.StaticMAC{VLAN: vid, MAC: mac, Port: portName}
	id, err := d.staticPort(m)
	if err != nil {
		return FDBEntry{}, err
	}
	next := d.st.Clone()
	next.StaticMACs = append(next.StaticMACs[:0:0], next.StaticMACs...)
	replaced := false
	for i, o := range next.StaticMACs {
		if o.VLAN == vid && o.MAC == mac {
			next.StaticMACs[i], replaced = m, true
		}
	}
	if !replaced {
		next.StaticMACs = append(next.StaticMACs, m)
	}
	if err := next.Validate(); err != nil {
		return FDBEntry{}, state.Errorf(state.ErrInvalid, "%w", err)
	}
	if err := d.save(next); err != nil {
		return FDBEntry{}, err
	}
	if err := d.dp.FDB().AddStatic(vid, mac, id); err != nil {
		d.save(d.st)
		return FDBEntry{}, state.Errorf(state.ErrInvalid, "%w", err)
	}
	d.st = next
	d.log.Info("static mac added", "vlan", vid, "mac", mac, "port", portName)
	return FDBEntry{VLAN: vid, MAC: mac, Port: portName, Static: true}, nil
}

// staticPort checks a static entry and returns its port. Callers hold mu.
func (d *Daemon) staticPort(m state.StaticMAC) (port.ID, error) {
	if !m.VLAN.Valid() {
		return 0, state.Errorf(state.ErrInvalid, "vlan %d out of range 1-%d", m.VLAN, vlan.MaxID)
	}
	if m.MAC.IsMulticast() || m.MAC.IsZero() {
		return 0, state.Errorf(state.ErrInvalid, "mac %s: a static entry needs a unicast address", m.MAC)
	}
	for _, n := range d.st.Networks {
		if n.MAC == m.MAC {
			return 0, state.Errorf(state.ErrConflict, "mac %s is network %q's gateway", m.MAC, n.Name)
		}
	}
	for _, e := range d.st.Endpoints {
		for _, nic := range e.NICs {
			if nic.MAC == m.MAC && e.PortName(nic) != m.Port {
				return 0, state.Errorf(state.ErrConflict, "mac %s is endpoint %s's %s: a static entry on another port would cut it off", m.MAC, e.Name, nic.Interface)
			}
		}
	}
	id, ok := d.dp.PortByName(m.Port)
	if !ok {
		return 0, state.Errorf(state.ErrNotFound, "port %q not found", m.Port)
	}
	if id == d.hostPort || id == d.uplinkPort && d.uplinkPort != 0 {
		return 0, state.Errorf(state.ErrInvalid, "port %q is routed: it has no MAC table", m.Port)
	}
	for _, p := range d.dp.Ports() {
		if p.ID == id && !p.Config.VLAN.Member(m.VLAN) {
			return 0, state.Errorf(state.ErrInvalid, "port %q is not in vlan %d (%s)", m.Port, m.VLAN, p.Config.VLAN.String())
		}
	}
	return id, nil
}

// DeleteFDB removes the static entry of mac in VLAN vid.
func (d *Daemon) DeleteFDB(vid vlan.ID, mac header.MAC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if found, err := d.deleteRemoteFDB(vid, mac); found || err != nil {
		return err
	}
	next := d.st.Clone()
	n := len(next.StaticMACs)
	next.StaticMACs = nil
	for _, m := range d.st.StaticMACs {
		if m.VLAN != vid || m.MAC != mac {
			next.StaticMACs = append(next.StaticMACs, m)
		}
	}
	if len(next.StaticMACs) == n {
		return state.Errorf(state.ErrNotFound, "no static entry for %s in vlan %d", mac, vid)
	}
	if err := d.save(next); err != nil {
		return err
	}
	d.dp.FDB().Delete(vid, mac)
	d.st = next
	d.log.Info("static mac deleted", "vlan", vid, "mac", mac)
	return nil
}

// restoreStaticMACs puts the saved static entries back in the MAC table;
// one whose port is gone is dropped. Callers hold mu.
func (d *Daemon) restoreStaticMACs() {
	kept := d.st.StaticMACs[:0:0]
	for _, m := range d.st.StaticMACs {
		id, err := d.staticPort(m)
		if err == nil {
			err = d.dp.FDB().AddStatic(m.VLAN, m.MAC, id)
		}
		if err != nil {
			d.log.Warn("static mac not restored", "vlan", m.VLAN, "mac", m.MAC, "port", m.Port, "err", err)
			continue
		}
		kept = append(kept, m)
	}
	d.st.StaticMACs = kept
}

// SetPort changes a system port's VLAN configuration live: its workers
// see the new one from their next batch, and the MACs learned on it are
// forgotten. Static entries stay.
func (d *Daemon) SetPort(name string, spec state.PortSpec) (PortInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.st.Port(name)
	if old == nil {
		if id, isPort := d.dp.PortByName(name); isPort {
			switch {
			case id == d.hostPort:
				return PortInfo{}, state.Errorf(state.ErrConflict, "port %q is the host's leg: it is routed and has no VLANs", name)
			case id == d.uplinkPort:
				return PortInfo{}, state.Errorf(state.ErrConflict, "port %q is the uplink: it is routed and has no VLANs", name)
			}
			return PortInfo{}, state.Errorf(state.ErrConflict, "port %q is not a system port: its VLANs follow its endpoint's network", name)
		}
		return PortInfo{}, state.Errorf(state.ErrNotFound, "port %q not found", name)
	}
	spec.Interface, spec.Type = name, old.Type
	without := d.st.Clone()
	without.RemovePort(name)
	pt, err := without.NewPort(spec, d.cfg.HostIf)
	if err != nil {
		return PortInfo{}, err
	}
	pt.Impair, pt.Lab = old.Impair, old.Lab
	pol, err := pt.Policy()
	if err != nil {
		return PortInfo{}, state.Errorf(state.ErrInvalid, "%w", err)
	}
	id := d.sysPorts[name]
	next := d.st.Clone()
	for i, p := range next.Ports {
		if p.Interface == name {
			next.Ports[i] = pt
		}
	}
	if err := d.save(next); err != nil {
		return PortInfo{}, err
	}
	cfg := datapath.PortConfig{Name: name, Kind: datapath.KindSystem, VLAN: pol}
	if err := d.dp.SetPortConfig(id, cfg); err != nil {
		d.save(d.st)
		return PortInfo{}, err
	}
	d.dp.FDB().FlushPort(id)
	d.st = next
	d.log.Info("port changed", "port", name, "mode", pt.Mode, "vlan", pt.VLAN, "vlans", pt.VLANs)
	for _, p := range d.Ports() {
		if p.ID == id {
			return p, nil
		}
	}
	return PortInfo{}, nil
}

// ConnInfo is a connection with its zones named.
type ConnInfo struct {
	nat.Entry
	// ZoneName and ReplyZoneName are a network's name, "host" or
	// "uplink".
	ZoneName, ReplyZoneName string
}

// ConnFilter selects connections as conntrack -L's options do; zero
// fields match everything.
type ConnFilter struct {
	Proto uint8
	// Src and Dst match either tuple's source and destination.
	Src, Dst netip.Addr
	// Port matches any port of either tuple.
	Port uint16
	// State matches TCP connections in it (HasState set).
	State    nat.TCPState
	HasState bool
	// Zone matches either zone's name.
	Zone string
}

func (f ConnFilter) match(c ConnInfo) bool {
	o, r := c.Original, c.Reply
	switch {
	case f.Proto != 0 && c.Proto != f.Proto,
		f.Src.IsValid() && o.Src != f.Src && r.Src != f.Src,
		f.Dst.IsValid() && o.Dst != f.Dst && r.Dst != f.Dst,
		f.Port != 0 && o.SrcPort != f.Port && o.DstPort != f.Port && r.SrcPort != f.Port && r.DstPort != f.Port,
		f.HasState && (c.Proto != header.ProtoTCP || c.State != f.State),
		f.Zone != "" && c.ZoneName != f.Zone && c.ReplyZoneName != f.Zone:
		return false
	}
	return true
}

// Conntrack lists the connections f selects; a zone that names no
// network (nor host, uplink, zone-N) is refused.
func (d *Daemon) Conntrack(f ConnFilter) ([]ConnInfo, error) {
	out := []ConnInfo{}
	err := d.ConntrackEach(f, func(c ConnInfo) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// ConntrackEach calls each with the connections f selects, one at a time
// (nat.Table.Range), until it returns an error, which it returns: a
// listing of the whole table holds neither the table nor the workers. A
// zone that names no network (nor host, uplink, zone-N) is refused before
// the first call.
func (d *Daemon) ConntrackEach(f ConnFilter, each func(ConnInfo) error) error {
	d.mu.Lock()
	names := map[nat.Zone]string{router.ZoneHost: "host", router.ZoneUplink: "uplink"}
	for _, n := range d.st.Networks {
		names[n.ID.Zone()] = n.Name
	}
	d.mu.Unlock()
	if f.Zone != "" && !slices.Contains(slices.Collect(maps.Values(names)), f.Zone) && !strings.HasPrefix(f.Zone, "zone-") {
		return state.Errorf(state.ErrNotFound, "zone %q: no network of that name (zones are networks, host and uplink)", f.Zone)
	}
	var err error
	d.rt.NAT().Range(d.dp.Now(), func(e *nat.Entry) bool {
		c := ConnInfo{Entry: *e, ZoneName: zoneName(names, e.Zone), ReplyZoneName: zoneName(names, e.ReplyZone)}
		if f.match(c) {
			err = each(c)
		}
		return err == nil
	})
	return err
}

func zoneName(names map[nat.Zone]string, z nat.Zone) string {
	if n, ok := names[z]; ok {
		return n
	}
	return "zone-" + strconv.Itoa(int(z))
}

// ConntrackCount returns how many connections the table holds, and how
// many it can.
func (d *Daemon) ConntrackCount() (n, max int) {
	t := d.rt.NAT()
	return t.Len(), t.Max()
}

// NATLimits returns the per-endpoint connection limit (0: unlimited) and
// the reserve kept for light endpoints.
func (d *Daemon) NATLimits() (perEndpoint, reserve int) { return d.rt.NAT().MaxPerEndpoint() }

// FlushConntrack removes every connection and returns how many.
func (d *Daemon) FlushConntrack() int { return d.rt.NAT().Flush() }

// LogLevel returns the daemon's log level.
func (d *Daemon) LogLevel() slog.Level {
	if d.cfg.LogLevel == nil {
		return slog.LevelInfo
	}
	return d.cfg.LogLevel.Level()
}

// SetLogLevel changes the daemon's log level at run time.
func (d *Daemon) SetLogLevel(l slog.Level) error {
	if d.cfg.LogLevel == nil {
		return state.Errorf(state.ErrConflict, "the log level is fixed: this daemon was started without a level variable")
	}
	d.cfg.LogLevel.Set(l)
	d.log.Info("log level changed", "level", l)
	return nil
}
