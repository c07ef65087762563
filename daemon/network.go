package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vswitchd/vswitchd/control"

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
	spec.MTU = overlayMTU(spec)
	n, err := d.st.NewNetwork(spec, used, d.cfg.HostCIDR, now())
	if err != nil {
		return NetworkInfo{}, err
	}
	if err := d.addNetwork(n); err != nil {
		return NetworkInfo{}, err
	}
	if o := n.Overlay; o != nil {
		d.log.Info("overlay network created", "network", n.Name, "subnet", n.Subnet, "vlan", n.VLAN, "vni", o.VNI, "peers", o.Peers, "mtu", n.MTU)
		return d.describeNetwork(n), nil
	}
	d.log.Info("network created", "network", n.Name, "subnet", n.Subnet, "vlan", n.VLAN)
	return d.describeNetwork(n), nil
}

// addNetwork makes n: its route over the host leg, its gateway MAC in the
// MAC table, and its place in the state. Callers hold mu.
func (d *Daemon) addNetwork(n *state.Network) error {
	var u undo
	if err := d.host.AddRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); err != nil {
		return err
	}
	u.push(func() { d.host.DelRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf) })
	if err := d.dp.FDB().AddStatic(n.VLAN, n.MAC, port.Router); err != nil {
		u.run()
		return state.Errorf(state.ErrConflict, "network %q: gateway mac: %w (raise --fdb-capacity)", n.Name, err)
	}
	u.push(func() { d.dp.FDB().Delete(n.VLAN, n.MAC) })
	next := d.st.Clone()
	next.Networks = append(next.Networks, n)
	if n.Overlay != nil {
		if err := d.syncOverlays(next); err != nil {
			d.syncOverlays(d.st)
			u.run()
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
		u.push(func() { d.syncOverlays(d.st) })
	}
	if err := d.commit(next); err != nil {
		u.run()
		return err
	}
	return nil
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
	if name == control.DefaultNetwork && !d.cfg.NoDefaultNetwork {
		return state.Errorf(state.ErrConflict, "%s is a pre-defined network and cannot be removed", name)
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
	if n.Overlay != nil {
		if err := d.syncOverlays(d.st); err != nil {
			d.log.Warn("close the vxlan port of a removed network", "network", name, "err", err)
		}
	}
	d.dp.FDB().Delete(n.VLAN, n.MAC)
	d.dp.FDB().FlushVLAN(n.VLAN)
	d.log.Info("network removed", "network", name)
	return nil
}

// PruneNetworks removes every network no endpoint is attached to, but the
// default one, and returns their names.
func (d *Daemon) PruneNetworks() ([]string, error) {
	d.mu.Lock()
	var names []string
	for _, n := range d.st.Networks {
		if n.Name != control.DefaultNetwork && len(d.st.Attached(n.Name)) == 0 {
			names = append(names, n.Name)
		}
	}
	d.mu.Unlock()
	var removed []string
	for _, name := range names {
		if err := d.RemoveNetwork(name, false); err != nil {
			if errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
				continue // an endpoint joined it meanwhile, or it went
			}
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// ensureDefaultNetwork makes the default network, as Docker's docker0, if
// the state has none: VLAN 1 and 172.17.0.0/16 when they are free, else
// the next free ones. Callers hold mu.
func (d *Daemon) ensureDefaultNetwork() error {
	if d.cfg.NoDefaultNetwork || d.st.Network(control.DefaultNetwork) != nil {
		return nil
	}
	spec := state.NetworkSpec{Name: control.DefaultNetwork}
	used, err := d.host.UsedPrefixes()
	if err != nil {
		return err
	}
	if p := netip.MustParsePrefix("172.17.0.0/16"); !overlapsAny(p, append(append(used, d.st.Subnets()...), d.cfg.HostCIDR)) {
		spec.Subnet = p
	}
	free1 := true
	for _, n := range d.st.Networks {
		free1 = free1 && n.VLAN != 1
	}
	if free1 {
		spec.VLAN = 1
	}
	n, err := d.st.NewNetwork(spec, used, d.cfg.HostCIDR, now())
	if err != nil {
		return fmt.Errorf("default network: %w", err)
	}
	if err := d.addNetwork(n); err != nil {
		return fmt.Errorf("default network: %w", err)
	}
	d.log.Info("default network created", "network", n.Name, "subnet", n.Subnet, "vlan", n.VLAN)
	return nil
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
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
