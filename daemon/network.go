package daemon

import (
	"net/netip"
	"strings"

	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// CreateNetwork creates a network: its route from the daemon's namespace
// over the host leg and its gateway MAC in the MAC table.
func (d *Daemon) CreateNetwork(spec state.NetworkSpec) (NetworkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var used []netip.Prefix
	if !spec.Subnet.IsValid() {
		var err error
		if used, err = d.host.UsedPrefixes(); err != nil {
			return NetworkInfo{}, err
		}
	}
	n, err := d.st.NewNetwork(spec, used, d.cfg.HostCIDR, now())
	if err != nil {
		return NetworkInfo{}, err
	}
	var u undo
	if err := d.host.AddRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); err != nil {
		return NetworkInfo{}, err
	}
	u.push(func() { d.host.DelRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf) })
	if err := d.dp.FDB().AddStatic(n.VLAN, n.MAC, port.Router); err != nil {
		u.run()
		return NetworkInfo{}, err
	}
	u.push(func() { d.dp.FDB().Delete(n.VLAN, n.MAC) })
	next := d.st.Clone()
	next.Networks = append(next.Networks, n)
	if err := d.commit(next); err != nil {
		u.run()
		return NetworkInfo{}, err
	}
	d.log.Info("network created", "network", n.Name, "subnet", n.Subnet, "vlan", n.VLAN)
	return d.describeNetwork(n), nil
}

// RemoveNetwork removes a network; one with endpoints attached needs force,
// which disconnects them first.
func (d *Daemon) RemoveNetwork(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.st.Network(name)
	if n == nil {
		return state.Errorf(state.ErrNotFound, "network %q not found", name)
	}
	attached := d.st.Attached(name)
	if len(attached) > 0 && !force {
		var names []string
		for _, e := range attached {
			names = append(names, e.Name)
		}
		return state.Errorf(state.ErrConflict, "network %q has endpoints (%s): disconnect or remove them, or use --force", name, strings.Join(names, ", "))
	}
	for _, e := range attached {
		if d.busy[e.Name] {
			return state.Errorf(state.ErrConflict, "endpoint %q is being removed", e.Name)
		}
	}
	for _, pt := range d.st.Ports {
		if pt.VLAN == n.VLAN && pt.Mode == vlan.Access {
			d.log.Warn("system port stays on the removed network's vlan", "port", pt.Interface, "vlan", n.VLAN)
		}
	}
	next := d.st.Clone()
	var done []*state.Endpoint
	restore := func() {
		for _, e := range done {
			d.reconnect(e, name)
		}
	}
	for _, e := range attached {
		if err := d.disconnect(next, next.Endpoint(e.Name), name); err != nil {
			restore()
			return err
		}
		done = append(done, e)
	}
	next.RemoveNetwork(name)
	if err := d.host.DelRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); err != nil {
		restore()
		return err
	}
	if err := d.commit(next); err != nil {
		if rerr := d.host.AddRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); rerr != nil {
			d.log.Error("restore the route of a network that could not be removed", "network", name, "err", rerr)
		}
		restore()
		return err
	}
	d.dp.FDB().Delete(n.VLAN, n.MAC)
	d.dp.FDB().FlushVLAN(n.VLAN)
	d.log.Info("network removed", "network", name)
	return nil
}

// Networks lists the networks.
func (d *Daemon) Networks() []NetworkInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]NetworkInfo, 0, len(d.st.Networks))
	for _, n := range d.st.Networks {
		out = append(out, d.describeNetwork(n))
	}
	return out
}

// Network describes one network.
func (d *Daemon) Network(name string) (NetworkInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.st.Network(name)
	if n == nil {
		return NetworkInfo{}, state.Errorf(state.ErrNotFound, "network %q not found", name)
	}
	return d.describeNetwork(n), nil
}
