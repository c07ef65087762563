package daemon

import (
	"fmt"

	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
)

// restore rebuilds the switch from the loaded state: networks (routes,
// gateway MACs), system ports, the uplink, and endpoints, re-adopting a
// namespace and its persistent TAPs when they survived and re-creating
// them otherwise. An endpoint whose creation a crash interrupted is rolled
// back; one whose removal it interrupted is finished. Processes are not
// re-adopted: a command that survived keeps running in its namespace, and
// `rm` ends it. Callers hold mu.
func (d *Daemon) restore() error {
	for _, n := range d.st.Networks {
		if err := d.host.AddRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); err != nil {
			return err
		}
		if err := d.dp.FDB().AddStatic(n.VLAN, n.MAC, port.Router); err != nil {
			return err
		}
	}
	for _, pt := range d.st.Ports {
		if _, err := d.attachSysPort(pt); err != nil {
			d.log.Warn("system port not restored", "port", pt.Interface, "err", err)
		}
	}
	if u := d.st.Uplink; u != nil && d.cfg.Uplink == nil {
		spec := state.UplinkSpec{Interface: u.Interface, Address: u.Address, Gateway: u.Gateway}
		d.st.Uplink = nil
		if _, err := d.setUplinkLocked(spec); err != nil {
			d.log.Warn("uplink not restored", "interface", u.Interface, "err", err)
		}
	}
	for _, e := range append([]*state.Endpoint(nil), d.st.Endpoints...) {
		switch e.Phase {
		case state.Creating, state.Removing:
			// Undo (or finish) what a crash interrupted: the
			// endpoint goes, whatever of it exists.
			d.log.Warn("finishing an interrupted operation: removing endpoint", "endpoint", e.Name, "phase", e.Phase)
			d.sup.Stop(e.Name, procNS(e), 0)
			if err := d.dismantle(e); err != nil {
				d.log.Warn("remove endpoint", "endpoint", e.Name, "err", err)
			}
			d.st.RemoveEndpoint(e.Name)
			continue
		}
		if err := d.restoreEndpoint(e); err != nil {
			return fmt.Errorf("restore endpoint %q: %w", e.Name, err)
		}
	}
	d.sync()
	return nil
}

// restoreEndpoint brings one endpoint back.
func (d *Daemon) restoreEndpoint(e *state.Endpoint) error {
	ns := hostNS(e)
	fresh := !d.host.NamespaceExists(ns)
	if fresh {
		if !e.Owned() {
			// The runtime's namespace is gone: so is the endpoint.
			d.log.Warn("attached namespace is gone; forgetting the endpoint", "endpoint", e.Name, "netns", e.NetnsPath)
			d.st.RemoveEndpoint(e.Name)
			return nil
		}
		if err := d.host.CreateNamespace(e.Netns); err != nil {
			return err
		}
	}
	var u undo
	for _, nic := range e.NICs {
		create := fresh || !d.host.NICExists(ns, nic.Interface)
		if err := d.attachNIC(e, nic, d.st.Network(nic.Network), create, &u); err != nil {
			return err
		}
	}
	if e.Owned() {
		if err := d.host.WriteEtc(e.Netns, d.st.Files(e)); err != nil {
			return err
		}
	}
	if nic, _ := d.st.Primary(e); nic != nil {
		for _, p := range e.Publish {
			if err := d.publishProxy(e.Name, p, nic.IP); err != nil {
				d.log.Warn("published port not restored", "endpoint", e.Name, "spec", p, "err", err)
			}
		}
	}
	d.log.Info("endpoint restored", "endpoint", e.Name, "re-adopted", !fresh)
	return nil
}
