package daemon

import (
	"fmt"
	"slices"

	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
)

// restore rebuilds the switch from the loaded state: networks (routes,
// gateway MACs), system ports, the uplink, and endpoints, re-adopting a
// namespace and its persistent TAPs when they survived and re-creating
// them otherwise. An endpoint whose creation a crash interrupted is rolled
// back; one whose removal it interrupted is finished. A command that
// survived (still running in its endpoint's namespace) is re-adopted;
// one that did not is started again if its restart policy is always, or
// unless-stopped and the user did not stop it, as dockerd does at its
// start. Callers hold mu.
func (d *Daemon) restore() error {
	for _, n := range d.st.Networks {
		if err := d.host.AddRoute(n.Subnet, d.hostLeg.Addr, d.cfg.HostIf); err != nil {
			return err
		}
		if err := d.dp.FDB().AddStatic(n.VLAN, n.MAC, port.Router); err != nil {
			return err
		}
	}
	if err := d.syncOverlays(d.st); err != nil {
		return fmt.Errorf("overlay networks: %w", err)
	}
	for _, pt := range d.st.Ports {
		if _, err := d.attachSysPort(pt); err != nil {
			d.log.Warn("system port not restored", "port", pt.Interface, "err", err)
		}
	}
	if u := d.st.Uplink; u != nil && d.cfg.Uplink == nil {
		spec := state.UplinkSpec{Interface: u.Interface, Address: u.Address, Gateway: u.Gateway, Lab: u.Lab}
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
	d.restoreStaticMACs()
	d.sync()
	for _, e := range append([]*state.Endpoint(nil), d.st.Endpoints...) {
		d.restoreCommand(e)
	}
	return nil
}

// restoreCommand re-adopts e's command if it survived, or records that it
// did not and starts it again if its restart policy says so. Callers hold
// mu.
func (d *Daemon) restoreCommand(e *state.Endpoint) {
	if e.PID != 0 {
		pids, err := d.host.Pids(hostNS(e))
		if err == nil && slices.Contains(pids, e.PID) {
			_, err := d.sup.Adopt(e.Name, e.PID, e.Cmd)
			if err == nil {
				d.log.Info("endpoint command re-adopted", "endpoint", e.Name, "pid", e.PID)
				return
			}
			d.log.Warn("re-adopt endpoint command", "endpoint", e.Name, "pid", e.PID, "err", err)
		}
		// It died with the old daemon (or the machine): exit unknown.
		e.PID, e.FinishedAt, e.ExitCode = 0, now(), nil
	}
	if len(e.Cmd) == 0 || !(e.Restart.Name == "always" || e.Restart.Name == "unless-stopped" && !e.Stopped) {
		return
	}
	if err := lookCommand(e.Cmd[0], e.Env); err != nil {
		d.log.Warn("endpoint command not restarted", "endpoint", e.Name, "err", err)
		return
	}
	if _, err := d.startMain(e, e.Cmd, false, nil, e.RestartCount); err != nil {
		d.log.Warn("endpoint command not restarted", "endpoint", e.Name, "err", err)
		return
	}
	d.log.Info("endpoint command restarted by its policy", "endpoint", e.Name, "policy", e.Restart)
}

// restoreEndpoint brings one endpoint back.
// A namespace that is not the one vswitchd made (another took its name)
// stops the start with an error, for an owned endpoint; for an attached
// one (a runtime's namespace path reused) the endpoint is forgotten. TAPs
// in an owned namespace that the state does not list (a NIC whose
// connect a crash interrupted) are deleted.
func (d *Daemon) restoreEndpoint(e *state.Endpoint) error {
	ns := hostNS(e)
	check, err := checkNS(d.host, e)
	switch {
	case check == nsForeign && e.Owned():
		return fmt.Errorf("%w: refusing to adopt it (remove the endpoint from %s/%s, or that namespace)", err, d.cfg.StateDir, state.File)
	case check != nsOurs && !e.Owned():
		// The runtime's namespace is gone: so is the endpoint.
		d.log.Warn("attached namespace is gone; forgetting the endpoint", "endpoint", e.Name, "netns", e.NetnsPath, "err", err)
		d.st.RemoveEndpoint(e.Name)
		return nil
	}
	fresh := check == nsGone
	if fresh {
		if err := d.host.CreateNamespace(e.Netns); err != nil {
			return err
		}
		if e.NetnsID, err = d.host.NamespaceID(ns); err != nil {
			return err
		}
	} else if e.Owned() {
		if err := d.dropStrayTAPs(e); err != nil {
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
		if err := d.host.WriteEtc(e.Netns, d.st.Files(e, d.hostLeg.HostAddr)); err != nil {
			return err
		}
	}
	if nic, _ := d.st.Primary(e); nic != nil {
		for _, p := range e.Publish {
			if _, err := d.openPublish(e, p, nic.IP, nil); err != nil {
				d.log.Warn("published port not restored", "endpoint", e.Name, "spec", p, "err", err)
			}
		}
	}
	d.log.Info("endpoint restored", "endpoint", e.Name, "re-adopted", !fresh)
	return nil
}

// dropStrayTAPs deletes the TAPs in e's (owned) namespace that the state
// does not list: what a crash left of a connect that was never saved,
// which would block the same connect.
func (d *Daemon) dropStrayTAPs(e *state.Endpoint) error {
	ns := hostNS(e)
	taps, err := d.host.TAPs(ns)
	if err != nil {
		return err
	}
	for _, t := range taps {
		if slices.ContainsFunc(e.NICs, func(n *state.NIC) bool { return n.Interface == t }) {
			continue
		}
		d.log.Warn("deleting a NIC the state does not list (an interrupted connect)", "endpoint", e.Name, "interface", t)
		if err := d.host.DeleteNIC(ns, t); err != nil {
			return err
		}
	}
	return nil
}
