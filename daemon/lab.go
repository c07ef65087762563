package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/lab"
	"github.com/vswitchd/vswitchd/state"
)

// Labs (vswitchctl lab up/down): a topology is checked whole (lab.Compile)
// and against the running switch (lab.Desired.Plan) before anything
// changes, so a bad file changes nothing; then the plan's steps are
// carried out in one request, through the same operations as the
// Docker-like verbs. Doing it here rather than in vswitchctl makes it one
// transaction: one lock for the whole convergence (two lab up runs never
// interleave), one place that knows what the switch has, and no half
// applied lab because a client went away. A step the host refuses undoes
// what this run made (networks, endpoints, connections, published ports,
// ports, impairments) and returns the error; what it removed before stays
// removed, and lab up again converges from there.

// LabUp converges the switch to t; with dryRun it only plans.
func (d *Daemon) LabUp(t control.Topology, dryRun bool) (control.LabPlan, error) {
	d.labMu.Lock()
	defer d.labMu.Unlock()
	des, err := lab.Compile(t)
	if err != nil {
		return control.LabPlan{}, err
	}
	d.mu.Lock()
	st := d.st.Clone()
	d.mu.Unlock()
	plan, err := des.Plan(st)
	if err != nil {
		return control.LabPlan{}, err
	}
	out := control.LabPlan{Lab: t.Name, Changes: plan.Changes}
	if out.Changes == nil {
		out.Changes = []control.LabChange{}
	}
	if dryRun {
		return out, nil
	}
	var u undo
	for _, s := range plan.Steps {
		if err := d.labStep(s, &u); err != nil {
			u.run()
			where := ""
			if s.Where != "" {
				where = s.Where + ": "
			}
			return control.LabPlan{}, fmt.Errorf("%slab %s: %s %s: %w", where, t.Name, s.Op, s.Name, err)
		}
	}
	topo, err := json.Marshal(t)
	if err != nil {
		return control.LabPlan{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	next := d.st.Clone()
	rec := next.Lab(t.Name)
	if rec == nil {
		rec = &state.Lab{Name: t.Name, Created: now().UTC().Truncate(1e9)}
		next.Labs = append(next.Labs, rec)
	}
	rec.Prefix, rec.File, rec.Topology, rec.Updated = des.Prefix, t.File, topo, now().UTC().Truncate(1e9)
	if err := d.commit(next); err != nil {
		return control.LabPlan{}, err
	}
	out.Applied = true
	d.log.Info("lab up", "lab", t.Name, "file", t.File, "steps", len(plan.Steps))
	return out, nil
}

// LabDown removes what the lab named name made: its endpoints, networks,
// system ports, uplink, and its record.
func (d *Daemon) LabDown(name string) (control.LabPlan, error) {
	d.labMu.Lock()
	defer d.labMu.Unlock()
	d.mu.Lock()
	st := d.st.Clone()
	d.mu.Unlock()
	if !labExists(st, name) {
		return control.LabPlan{}, state.Errorf(state.ErrNotFound, "lab %q is not up", name)
	}
	des, err := lab.Compile(control.Topology{Name: name})
	if err != nil {
		return control.LabPlan{}, err
	}
	plan, err := des.Plan(st)
	if err != nil {
		return control.LabPlan{}, err
	}
	var u undo // removals are not undone: lab down again finishes
	for _, s := range plan.Steps {
		if err := d.labStep(s, &u); err != nil {
			return control.LabPlan{}, fmt.Errorf("lab %s: %s %s (lab down again to finish): %w", name, s.Op, s.Name, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	next := d.st.Clone()
	next.Labs = slices.DeleteFunc(next.Labs, func(l *state.Lab) bool { return l.Name == name })
	if err := d.commit(next); err != nil {
		return control.LabPlan{}, err
	}
	d.log.Info("lab down", "lab", name, "steps", len(plan.Steps))
	changes := plan.Changes
	if changes == nil {
		changes = []control.LabChange{}
	}
	return control.LabPlan{Lab: name, Changes: changes, Applied: true}, nil
}

// labExists reports whether st has the lab's record or any object of it.
func labExists(st *state.State, name string) bool {
	if st.Lab(name) != nil || st.Uplink != nil && st.Uplink.Lab == name {
		return true
	}
	for _, n := range st.Networks {
		if n.Lab == name {
			return true
		}
	}
	for _, e := range st.Endpoints {
		if e.Lab == name {
			return true
		}
	}
	for _, p := range st.Ports {
		if p.Lab == name {
			return true
		}
	}
	return false
}

// Labs describes the labs that are up, in the order they came up (a lab
// whose record a crash lost is listed after them, found by its objects).
func (d *Daemon) Labs() []control.Lab {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for _, l := range d.st.Labs {
		names = append(names, l.Name)
	}
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range d.st.Networks {
		add(n.Lab)
	}
	for _, e := range d.st.Endpoints {
		add(e.Lab)
	}
	for _, p := range d.st.Ports {
		add(p.Lab)
	}
	if d.st.Uplink != nil {
		add(d.st.Uplink.Lab)
	}
	out := make([]control.Lab, 0, len(names))
	for _, n := range names {
		out = append(out, d.describeLab(n))
	}
	return out
}

// Lab describes one lab.
func (d *Daemon) Lab(name string) (control.Lab, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !labExists(d.st, name) {
		return control.Lab{}, state.Errorf(state.ErrNotFound, "lab %q is not up", name)
	}
	return d.describeLab(name), nil
}

// describeLab describes the lab name. Callers hold mu.
func (d *Daemon) describeLab(name string) control.Lab {
	l := control.Lab{Name: name, Networks: []string{}, Endpoints: []string{}, Ports: []string{}}
	if rec := d.st.Lab(name); rec != nil {
		l.Prefix, l.File, l.Created, l.Updated = rec.Prefix, rec.File, rec.Created, rec.Updated
	}
	for _, n := range d.st.Networks {
		if n.Lab == name {
			l.Networks = append(l.Networks, n.Name)
		}
	}
	for _, e := range d.st.Endpoints {
		if e.Lab == name {
			l.Endpoints = append(l.Endpoints, e.Name)
		}
	}
	for _, p := range d.st.Ports {
		if p.Lab == name {
			l.Ports = append(l.Ports, p.Interface)
		}
	}
	if u := d.st.Uplink; u != nil && u.Lab == name {
		l.Uplink = u.Interface
	}
	return l
}

// labStep carries out one step of a lab plan, pushing its undo on u.
func (d *Daemon) labStep(s lab.Step, u *undo) error {
	switch s.Op {
	case lab.OpRemoveEndpoint:
		return d.RemoveEndpoint(s.Name, true)
	case lab.OpDisconnect:
		return d.Disconnect(s.Network, s.Name)
	case lab.OpUnpublish:
		return d.Unpublish(s.Name, s.Publish)
	case lab.OpRemoveNetwork:
		return d.RemoveNetwork(s.Name, false)
	case lab.OpRemovePort:
		return d.RemovePort(s.Name)
	case lab.OpRemoveUplink:
		return d.RemoveUplink()
	case lab.OpCreateNetwork:
		if _, err := d.CreateNetwork(s.Spec); err != nil {
			return err
		}
		u.push(func() { d.RemoveNetwork(s.Name, true) })
	case lab.OpAddPort:
		if _, err := d.AddPort(s.Port); err != nil {
			return err
		}
		u.push(func() { d.RemovePort(s.Name) })
	case lab.OpSetPort:
		d.mu.Lock()
		old := d.st.Port(s.Name)
		var prev state.PortSpec
		if old != nil {
			prev = state.PortSpec{Interface: old.Interface, Mode: old.Mode, VLAN: old.VLAN, VLANs: old.VLANs}
		}
		d.mu.Unlock()
		if _, err := d.SetPort(s.Name, s.Port); err != nil {
			return err
		}
		if old != nil {
			u.push(func() { d.SetPort(s.Name, prev) })
		}
	case lab.OpSetUplink:
		d.mu.Lock()
		old := d.st.Uplink
		d.mu.Unlock()
		if _, err := d.SetUplink(s.Uplink); err != nil {
			return err
		}
		u.push(func() {
			if old == nil {
				d.RemoveUplink()
			} else {
				d.SetUplink(state.UplinkSpec{Interface: old.Interface, Address: old.Address, Gateway: old.Gateway, Lab: old.Lab})
			}
		})
	case lab.OpRunEndpoint:
		if _, _, err := d.Run(context.Background(), RunSpec{EndpointSpec: s.Endpoint}, nil); err != nil {
			return err
		}
		u.push(func() { d.RemoveEndpoint(s.Name, true) })
	case lab.OpConnect:
		if err := d.Connect(s.Network, s.Connect); err != nil {
			return err
		}
		u.push(func() { d.Disconnect(s.Network, s.Name) })
	case lab.OpPublish:
		bound, err := d.Publish(s.Name, s.Publish)
		if err != nil {
			return err
		}
		u.push(func() { d.Unpublish(s.Name, bound) })
	case lab.OpSetLink:
		return d.labLink(s, u)
	default:
		return fmt.Errorf("unknown step %q", s.Op)
	}
	return nil
}

// labLink sets a link's impairment to exactly s.Impair.
func (d *Daemon) labLink(s lab.Step, u *undo) error {
	target := s.Link.Port
	if s.Link.Endpoint != "" {
		d.mu.Lock()
		e := d.st.Endpoint(s.Link.Endpoint)
		var nic *state.NIC
		if e != nil {
			nic = e.NIC(s.Link.Network)
		}
		d.mu.Unlock()
		if nic == nil {
			return state.Errorf(state.ErrNotFound, "endpoint %q has no NIC on network %q", s.Link.Endpoint, s.Link.Network)
		}
		target = s.Link.Endpoint + ":" + nic.Interface
	}
	old, err := d.Links(target)
	if err != nil {
		return err
	}
	if _, err := d.SetLink(target, impair.Out, replace(s.Impair.Out)); err != nil {
		return err
	}
	if _, err := d.SetLink(target, impair.In, replace(s.Impair.In)); err != nil {
		d.SetLink(target, impair.Out, replace(old[0].Out))
		return err
	}
	u.push(func() {
		d.SetLink(target, impair.Out, replace(old[0].Out))
		d.SetLink(target, impair.In, replace(old[0].In))
	})
	return nil
}
