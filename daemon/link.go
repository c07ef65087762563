package daemon

import (
	"fmt"
	"strings"

	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
)

// Link impairments (vswitchctl link): netem-style delay, loss, rate… per
// endpoint NIC or system port and per direction, done by the switch. A port
// is wrapped in an impair.Port (datapath.SwapDevice) the first time it is
// impaired and stays wrapped, costing one atomic load per batch after a
// reset; a port never impaired is never wrapped and pays nothing. The
// settings are saved in the state (state.Impairment, with the seeds in
// use) and put back when the port is made again: at the daemon's start, or
// when an endpoint is restored.

// LinkInfo is the impairment of one port.
type LinkInfo struct {
	Port      string // the switch port: ENDPOINT/IFACE, or a system port's interface
	Endpoint  string // "" for a system port
	Interface string
	Out, In   impair.Settings
	// OutStats and InStats count what the impairment did (zero if the
	// port was never impaired).
	OutStats, InStats impair.Stats
}

// linkRef is one port a link target names.
type linkRef struct {
	endpoint string // "" for a system port
	iface    string
	id       port.ID
}

// resolveLinks returns the ports target names: ENDPOINT (every NIC),
// ENDPOINT:IFACE or ENDPOINT/IFACE, or a system port's interface. Callers
// hold mu.
func (d *Daemon) resolveLinks(target string) ([]linkRef, error) {
	name, iface, hasIf := strings.Cut(target, ":")
	if !hasIf {
		name, iface, hasIf = strings.Cut(target, "/")
	}
	if e := d.st.Endpoint(name); e != nil {
		if e.Phase != "" || d.busy[e.Name] {
			return nil, state.Errorf(state.ErrConflict, "endpoint %q is being removed", e.Name)
		}
		var refs []linkRef
		for _, nic := range e.NICs {
			if hasIf && nic.Interface != iface {
				continue
			}
			id, ok := d.nics[e.Name][nic.Interface]
			if !ok {
				return nil, state.Errorf(state.ErrConflict, "endpoint %q: %s is not attached to the switch", e.Name, nic.Interface)
			}
			refs = append(refs, linkRef{endpoint: e.Name, iface: nic.Interface, id: id})
		}
		if len(refs) == 0 {
			return nil, state.Errorf(state.ErrNotFound, "endpoint %q has no interface %q", e.Name, iface)
		}
		return refs, nil
	}
	if !hasIf {
		if pt := d.st.Port(target); pt != nil {
			id, ok := d.sysPorts[pt.Interface]
			if !ok {
				return nil, state.Errorf(state.ErrConflict, "system port %q is not attached", pt.Interface)
			}
			return []linkRef{{iface: pt.Interface, id: id}}, nil
		}
	}
	return nil, state.Errorf(state.ErrNotFound, "link %q not found: want ENDPOINT, ENDPOINT:IFACE or a system port", target)
}

// impairer returns the impairment wrapper of port id, putting one around
// its device if create is set and it has none; nil if it has none.
// Callers hold mu.
func (d *Daemon) impairer(id port.ID, create bool) (*impair.Port, error) {
	dev, ok := d.dp.Device(id)
	if !ok {
		return nil, fmt.Errorf("port %d is gone", id)
	}
	if ip, ok := dev.(*impair.Port); ok || !create {
		return ip, nil
	}
	ip := impair.New(dev, impair.Options{})
	if err := d.dp.SwapDevice(id, dev, ip); err != nil {
		return nil, err // ip has started nothing: let it go, dev stays the port's
	}
	return ip, nil
}

// withImpairment wraps dev, a port being made, with the impairment m
// saved in the state; dev itself when m impairs nothing.
func withImpairment(dev port.Port, m state.Impairment) (port.Port, error) {
	if m.IsZero() {
		return dev, nil
	}
	out, in, err := m.Updates()
	if err != nil {
		return nil, err
	}
	ip := impair.New(dev, impair.Options{})
	if err := ip.Set(impair.Out, out); err != nil {
		return nil, err
	}
	if err := ip.Set(impair.In, in); err != nil {
		return nil, err
	}
	return ip, nil
}

// replace returns the update that makes a direction's settings exactly s.
func replace(s impair.Settings) impair.Update {
	return impair.Update{
		Reset: true, Delay: &s.Delay, Jitter: &s.Jitter, Distribution: &s.Distribution,
		Loss: &s.Loss, Duplicate: &s.Duplicate, Corrupt: &s.Corrupt, Reorder: &s.Reorder,
		Gap: &s.Gap, Rate: &s.Rate, Burst: &s.Burst, Limit: &s.Limit, Seed: &s.Seed,
	}
}

// SetLink changes the impairments of the ports target names (see
// resolveLinks) in dir: the fields u leaves nil keep their values, so
// setting the delay keeps the loss. It is all or nothing: every port's new
// settings are checked before any changes, and a failed save puts the old
// ones back.
func (d *Daemon) SetLink(target string, dir impair.Direction, u impair.Update) ([]LinkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.setLinkLocked(target, dir, u)
}

func (d *Daemon) setLinkLocked(target string, dir impair.Direction, u impair.Update) ([]LinkInfo, error) {
	if dir&^impair.Both != 0 || dir == 0 {
		return nil, state.Errorf(state.ErrInvalid, "invalid direction %v", dir)
	}
	refs, err := d.resolveLinks(target)
	if err != nil {
		return nil, err
	}
	type change struct {
		ref     linkRef
		ip      *impair.Port
		out, in impair.Settings // before
	}
	var changes []change
	for _, r := range refs {
		ip, err := d.impairer(r.id, false)
		if err != nil {
			return nil, err
		}
		c := change{ref: r, ip: ip}
		if ip != nil {
			c.out, c.in = ip.Settings(impair.Out), ip.Settings(impair.In)
		}
		for _, x := range []struct {
			d impair.Direction
			s impair.Settings
		}{{impair.Out, c.out}, {impair.In, c.in}} {
			if dir&x.d == 0 {
				continue
			}
			if _, err := x.s.Apply(u); err != nil {
				return nil, state.Errorf(state.ErrInvalid, "%s: %w", d.linkName(r), err)
			}
		}
		changes = append(changes, c)
	}
	var undo undo
	for i := range changes {
		c := &changes[i]
		if c.ip == nil {
			if u.IsEmpty() || isResetOnly(u) {
				continue // nothing to take off a port never impaired
			}
			if c.ip, err = d.impairer(c.ref.id, true); err != nil {
				undo.run()
				return nil, err
			}
		}
		if err := c.ip.Set(dir, u); err != nil { // checked above
			undo.run()
			return nil, state.Errorf(state.ErrInvalid, "%s: %w", d.linkName(c.ref), err)
		}
		ip, out, in := c.ip, c.out, c.in
		undo.push(func() {
			ip.Set(impair.Out, replace(out))
			ip.Set(impair.In, replace(in))
		})
	}
	next := d.st.Clone()
	for _, c := range changes {
		m := state.Impairment{}
		if c.ip != nil {
			m = state.ImpairmentOf(c.ip.Settings(impair.Out), c.ip.Settings(impair.In))
		}
		if c.ref.endpoint != "" {
			next.Endpoint(c.ref.endpoint).Interface(c.ref.iface).Impair = m
		} else {
			next.Port(c.ref.iface).Impair = m
		}
	}
	if err := d.commit(next); err != nil {
		undo.run()
		return nil, err
	}
	out := make([]LinkInfo, 0, len(refs))
	for _, r := range refs {
		out = append(out, d.linkInfo(r))
	}
	d.log.Info("link impairment set", "link", target, "direction", dir, "out", out[0].Out.String(), "in", out[0].In.String())
	return out, nil
}

// isResetOnly reports whether u only resets.
func isResetOnly(u impair.Update) bool { return u == impair.Update{Reset: true} }

// ResetLink removes the impairments of the ports target names in dir.
func (d *Daemon) ResetLink(target string, dir impair.Direction) ([]LinkInfo, error) {
	return d.SetLink(target, dir, impair.Update{Reset: true})
}

// Links returns the impairments of every endpoint NIC and system port, or
// of those target names when it is not empty.
func (d *Daemon) Links(target string) ([]LinkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var refs []linkRef
	if target != "" {
		var err error
		if refs, err = d.resolveLinks(target); err != nil {
			return nil, err
		}
	} else {
		for _, e := range d.st.Endpoints {
			for _, nic := range e.NICs {
				if id, ok := d.nics[e.Name][nic.Interface]; ok {
					refs = append(refs, linkRef{endpoint: e.Name, iface: nic.Interface, id: id})
				}
			}
		}
		for _, pt := range d.st.Ports {
			if id, ok := d.sysPorts[pt.Interface]; ok {
				refs = append(refs, linkRef{iface: pt.Interface, id: id})
			}
		}
	}
	out := make([]LinkInfo, 0, len(refs))
	for _, r := range refs {
		out = append(out, d.linkInfo(r))
	}
	return out, nil
}

// linkInfo describes one port's impairment. Callers hold mu.
func (d *Daemon) linkInfo(r linkRef) LinkInfo {
	li := LinkInfo{Port: d.linkName(r), Endpoint: r.endpoint, Interface: r.iface}
	if ip, _ := d.impairer(r.id, false); ip != nil {
		li.Out, li.In = ip.Settings(impair.Out), ip.Settings(impair.In)
		li.OutStats, li.InStats = ip.Stats(impair.Out), ip.Stats(impair.In)
	}
	return li
}

// linkName is the switch port name of r.
func (d *Daemon) linkName(r linkRef) string {
	if r.endpoint == "" {
		return r.iface
	}
	return r.endpoint + "/" + r.iface
}
