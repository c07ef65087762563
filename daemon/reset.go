package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/state"
)

// ResetReport is what Reset removed.
type ResetReport struct {
	Endpoints  []string
	Networks   []string
	Ports      []string
	Uplink     string // the uplink's interface; "" if there was none
	StaticMACs int
	// Kept are the CNI attachments left alone: the runtime's (it
	// removes them with DEL); the networks they are on stay too.
	Kept []string
}

// Reset brings the switch back to what a fresh start has, leaving the
// daemon running (vswitchctl system reset): every endpoint (processes,
// namespace, TAPs, files), static MAC entry, system port, the uplink and
// every network but the default one go, and the MAC table's learned
// entries and conntrack are flushed. CNI attachments are a container
// runtime's: they stay, with the networks they are on and their ports'
// static entries. Each removal is its own transaction,
// so a failure half-way leaves the state and the host agreeing; the
// error names what stayed, and Reset again finishes the job.
func (d *Daemon) Reset() (ResetReport, error) {
	var r ResetReport
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	var endpoints, networks, ports []string
	inUse := map[string]bool{} // networks of CNI attachments
	attached := map[string]bool{}
	for _, e := range d.st.Endpoints {
		if e.ContainerID != "" {
			r.Kept = append(r.Kept, e.Name)
			attached[e.Name] = true
			for _, nic := range e.NICs {
				inUse[nic.Network] = true
			}
			continue
		}
		endpoints = append(endpoints, e.Name)
	}
	var statics []state.StaticMAC
	for _, m := range d.st.StaticMACs {
		if ep, _, _ := strings.Cut(m.Port, "/"); !attached[ep] {
			statics = append(statics, m)
		}
	}
	for _, p := range d.st.Ports {
		ports = append(ports, p.Interface)
	}
	uplink := ""
	if d.st.Uplink != nil {
		uplink = d.st.Uplink.Interface
	}
	for _, n := range d.st.Networks {
		if (n.Name != control.DefaultNetwork || d.cfg.NoDefaultNetwork) && !inUse[n.Name] {
			networks = append(networks, n.Name)
		}
	}
	d.mu.Unlock()

	for _, m := range statics {
		err := d.DeleteFDB(m.VLAN, m.MAC)
		if err == nil {
			r.StaticMACs++
		}
		keep(err)
	}
	for _, name := range endpoints {
		err := d.RemoveEndpoint(name, true)
		if err == nil {
			r.Endpoints = append(r.Endpoints, name)
		}
		keep(err)
	}
	for _, name := range ports {
		err := d.RemovePort(name)
		if err == nil {
			r.Ports = append(r.Ports, name)
		}
		keep(err)
	}
	if uplink != "" {
		err := d.RemoveUplink()
		if err == nil {
			r.Uplink = uplink
		}
		keep(err)
	}
	for _, name := range networks {
		err := d.RemoveNetwork(name, true)
		if err == nil {
			r.Networks = append(r.Networks, name)
		}
		keep(err)
	}
	d.FlushFDB()
	d.FlushConntrack()
	if len(errs) > 0 {
		return r, fmt.Errorf("reset: %d of its steps failed (reset again to finish); the first: %w", len(errs), errs[0])
	}
	d.log.Info("switch reset", "endpoints", len(r.Endpoints), "networks", len(r.Networks), "ports", len(r.Ports),
		"uplink", r.Uplink, "static_macs", r.StaticMACs, "kept_cni_attachments", len(r.Kept))
	return r, nil
}
