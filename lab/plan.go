package lab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/state"
)

// Op is a step's operation: one daemon call.
type Op string

// Operations, in the order Plan orders them.
const (
	OpRemoveEndpoint Op = "remove-endpoint" // Name
	OpDisconnect     Op = "disconnect"      // Name from Network
	OpUnpublish      Op = "unpublish"       // Name's Publish
	OpRemoveNetwork  Op = "remove-network"  // Name
	OpRemovePort     Op = "remove-port"     // Name
	OpRemoveUplink   Op = "remove-uplink"
	OpCreateNetwork  Op = "create-network" // Network
	OpAddPort        Op = "add-port"       // Port
	OpSetPort        Op = "set-port"       // Port
	OpSetUplink      Op = "set-uplink"     // Uplink
	OpRunEndpoint    Op = "run"            // Endpoint
	OpConnect        Op = "connect"        // Name to Network with Connect
	OpPublish        Op = "publish"        // Name's Publish
	OpSetLink        Op = "set-link"       // Link to Impair
)

// Step is one change, for the daemon to carry out.
type Step struct {
	Op       Op
	Name     string // the endpoint, network or port acted on
	Network  string // disconnect, connect
	Spec     state.NetworkSpec
	Endpoint state.EndpointSpec
	Connect  state.ConnectSpec
	Publish  state.Publish
	Port     state.PortSpec
	Uplink   state.UplinkSpec
	Link     LinkKey
	Impair   Impairment
	// Where is "FILE:LINE" of the object in the topology file ("" if
	// unknown), for the daemon's errors.
	Where string
}

// Plan is what converging the switch to a topology changes.
type Plan struct {
	Lab     string
	Steps   []Step
	Changes []control.LabChange // every object, kept ones too, for display
}

// Plan compares d with st, the daemon's state, and returns the steps that
// make the switch match d, checking first that d takes nothing another
// lab or the user owns: names, subnets, VLANs, interfaces.
func (d *Desired) Plan(st *state.State) (*Plan, error) {
	p := &Plan{Lab: d.Name}
	var removes, creates, changes, links []Step
	change := func(action, kind, name, detail string) {
		p.Changes = append(p.Changes, control.LabChange{Action: action, Kind: kind, Name: name, Detail: detail})
	}

	// Networks.
	recreatedNet := map[string]bool{}
	goneNet := map[string]bool{} // this lab's networks removed (or recreated)
	wantNet := map[string]*Network{}
	for i := range d.Networks {
		wantNet[d.Networks[i].Spec.Name] = &d.Networks[i]
	}
	for _, n := range st.Networks {
		if n.Lab == d.Name && wantNet[n.Name] == nil {
			goneNet[n.Name] = true
			removes = append(removes, Step{Op: OpRemoveNetwork, Name: n.Name})
			change(control.ActionRemove, "network", n.Name, n.Subnet.String())
		}
	}
	for _, w := range d.Networks {
		n := st.Network(w.Spec.Name)
		switch {
		case n == nil:
			creates = append(creates, Step{Op: OpCreateNetwork, Name: w.Spec.Name, Spec: w.Spec, Where: d.where(w.path)})
			change(control.ActionCreate, "network", w.Spec.Name, networkDetail(w.Spec))
		case n.Lab != d.Name:
			return nil, d.errorf(w.path, "network %q already exists and is not lab %q's", w.Spec.Name, d.Name)
		default:
			if diff := networkDiff(w.Spec, n); diff != "" {
				recreatedNet[n.Name], goneNet[n.Name] = true, true
				removes = append(removes, Step{Op: OpRemoveNetwork, Name: n.Name, Where: d.where(w.path)})
				creates = append(creates, Step{Op: OpCreateNetwork, Name: w.Spec.Name, Spec: w.Spec, Where: d.where(w.path)})
				change(control.ActionRecreate, "network", n.Name, diff)
			} else {
				change(control.ActionKeep, "network", n.Name, networkDetail(w.Spec))
			}
		}
	}
	// New subnets and VLANs must not clash with networks that stay.
	for _, w := range d.Networks {
		if n := st.Network(w.Spec.Name); n != nil && !recreatedNet[n.Name] {
			continue
		}
		for _, o := range st.Networks {
			if wantNet[o.Name] != nil && !recreatedNet[o.Name] || goneNet[o.Name] {
				continue // the lab's own: checked by Compile, or going
			}
			if w.Spec.Subnet.IsValid() && o.Subnet.Overlaps(w.Spec.Subnet) {
				return nil, d.errorf(w.path+".subnet", "network %q: subnet %s overlaps network %q (%s)", w.Short, w.Spec.Subnet, o.Name, o.Subnet)
			}
			if w.Spec.VLAN != 0 && o.VLAN == w.Spec.VLAN {
				return nil, d.errorf(w.path+".vlan", "network %q: vlan %d is network %q's", w.Short, w.Spec.VLAN, o.Name)
			}
		}
	}

	// Endpoints.
	wantEp := map[string]*Endpoint{}
	for i := range d.Endpoints {
		wantEp[d.Endpoints[i].Spec.Name] = &d.Endpoints[i]
	}
	goneEp := map[string]bool{}
	for _, e := range st.Endpoints {
		if e.Lab == d.Name && wantEp[e.Name] == nil {
			goneEp[e.Name] = true
			removes = append(removes, Step{Op: OpRemoveEndpoint, Name: e.Name})
			change(control.ActionRemove, "endpoint", e.Name, "")
		}
	}
	for _, w := range d.Endpoints {
		e := st.Endpoint(w.Spec.Name)
		where := d.where(w.path)
		run := func() {
			creates = append(creates, Step{Op: OpRunEndpoint, Name: w.Spec.Name, Endpoint: w.Spec, Where: where})
			for _, nic := range w.NICs[min(1, len(w.NICs)):] {
				creates = append(creates, Step{Op: OpConnect, Name: w.Spec.Name, Network: nic.Network,
					Connect: state.ConnectSpec{Endpoint: w.Spec.Name, IP: nic.IP, Aliases: nic.Aliases}, Where: d.where(nic.path)})
			}
		}
		switch {
		case e == nil:
			run()
			change(control.ActionCreate, "endpoint", w.Spec.Name, endpointDetail(w))
			continue
		case e.Lab != d.Name:
			return nil, d.errorf(w.path, "endpoint %q already exists and is not lab %q's", w.Spec.Name, d.Name)
		}
		if diff := endpointDiff(w, e, recreatedNet); diff != "" {
			goneEp[e.Name] = true
			removes = append(removes, Step{Op: OpRemoveEndpoint, Name: e.Name, Where: where})
			run()
			change(control.ActionRecreate, "endpoint", e.Name, diff)
			continue
		}
		steps, detail := nicChanges(w, e, recreatedNet, d)
		if len(steps) == 0 {
			change(control.ActionKeep, "endpoint", e.Name, endpointDetail(w))
			continue
		}
		for _, s := range steps {
			if s.Op == OpDisconnect || s.Op == OpUnpublish {
				removes = append(removes, s)
			} else {
				changes = append(changes, s)
			}
		}
		change(control.ActionUpdate, "endpoint", e.Name, detail)
	}
	// A network the lab removes may hold no endpoint from outside it (the
	// lab's own endpoints on it are removed or disconnected by the plan).
	for name := range goneNet {
		var foreign []string
		for _, e := range st.Attached(name) {
			if e.Lab != d.Name {
				foreign = append(foreign, e.Name)
			}
		}
		if len(foreign) > 0 {
			where := ""
			if w := wantNet[name]; w != nil {
				where = w.path
			}
			return nil, d.errorf(where, "network %q has endpoints that are not the lab's (%s): disconnect them first", name, strings.Join(foreign, ", "))
		}
	}

	// System ports and the uplink.
	wantPort := map[string]*Port{}
	for i := range d.Ports {
		wantPort[d.Ports[i].Spec.Interface] = &d.Ports[i]
	}
	for _, pt := range st.Ports {
		if pt.Lab == d.Name && wantPort[pt.Interface] == nil {
			removes = append(removes, Step{Op: OpRemovePort, Name: pt.Interface})
			change(control.ActionRemove, "port", pt.Interface, "")
		}
	}
	for _, w := range d.Ports {
		pt := st.Port(w.Spec.Interface)
		norm, _ := state.New("").NewPort(w.Spec, "") // as the daemon would record it; checked by Compile
		switch {
		case pt == nil:
			if u := st.Uplink; u != nil && u.Interface == w.Spec.Interface {
				return nil, d.errorf(w.path, "port %q is the uplink", w.Spec.Interface)
			}
			creates = append(creates, Step{Op: OpAddPort, Name: w.Spec.Interface, Port: w.Spec, Where: d.where(w.path)})
			change(control.ActionCreate, "port", w.Spec.Interface, w.Spec.Mode.String())
		case pt.Lab != d.Name:
			return nil, d.errorf(w.path, "port %q is already attached and is not lab %q's", w.Spec.Interface, d.Name)
		case pt.Mode != norm.Mode || pt.VLAN != norm.VLAN || pt.VLANs != norm.VLANs:
			changes = append(changes, Step{Op: OpSetPort, Name: w.Spec.Interface, Port: w.Spec, Where: d.where(w.path)})
			change(control.ActionUpdate, "port", w.Spec.Interface, w.Spec.Mode.String())
		default:
			change(control.ActionKeep, "port", w.Spec.Interface, w.Spec.Mode.String())
		}
	}
	u := st.Uplink
	switch w := d.Uplink; {
	case w == nil && u != nil && u.Lab == d.Name:
		removes = append(removes, Step{Op: OpRemoveUplink, Name: u.Interface})
		change(control.ActionRemove, "uplink", u.Interface, u.Address.String())
	case w == nil:
	case u != nil && u.Lab != d.Name:
		return nil, d.errorf(w.path, "the uplink is already set (%s) and is not lab %q's", u.Interface, d.Name)
	case u == nil || u.Interface != w.Spec.Interface || u.Address != w.Spec.Address || u.Gateway != w.Spec.Gateway:
		creates = append(creates, Step{Op: OpSetUplink, Name: w.Spec.Interface, Uplink: w.Spec, Where: d.where(w.path)})
		change(control.ActionCreate, "uplink", w.Spec.Interface, w.Spec.Address.String())
	default:
		change(control.ActionKeep, "uplink", w.Spec.Interface, w.Spec.Address.String())
	}

	// Impairments: exactly what the file says, on every link of the lab.
	fresh := map[string]bool{} // endpoints made by this plan
	for _, s := range creates {
		if s.Op == OpRunEndpoint {
			fresh[s.Name] = true
		}
	}
	for _, w := range d.Endpoints {
		e := st.Endpoint(w.Spec.Name)
		for _, nic := range w.NICs {
			k := LinkKey{Endpoint: w.Spec.Name, Network: nic.Network}
			var cur state.Impairment
			if e != nil && !fresh[e.Name] && !recreatedNet[nic.Network] {
				if n := e.NIC(nic.Network); n != nil {
					cur = n.Impair
				}
			}
			links = d.linkStep(links, k, cur, change)
		}
	}
	for _, w := range d.Ports {
		var cur state.Impairment
		if pt := st.Port(w.Spec.Interface); pt != nil && pt.Lab == d.Name {
			cur = pt.Impair
		}
		links = d.linkStep(links, LinkKey{Port: w.Spec.Interface}, cur, change)
	}
	p.Steps = slices.Concat(orderRemoves(removes), creates, changes, links)
	return p, nil
}

// linkStep appends a step setting link k to its desired impairment if cur
// (the saved one) differs.
func (d *Desired) linkStep(links []Step, k LinkKey, cur state.Impairment, change func(a, kind, name, detail string)) []Step {
	want := d.Impair[k]
	out, in, err := cur.Updates()
	var curOut, curIn impair.Settings
	if err == nil {
		curOut, _ = impair.Settings{}.Apply(out)
		curIn, _ = impair.Settings{}.Apply(in)
	}
	if sameSettings(want.Out, curOut) && sameSettings(want.In, curIn) {
		if want.Out.Active() || want.In.Active() {
			change(control.ActionKeep, "link", k.String(), impairDetail(want))
		}
		return links
	}
	action := control.ActionUpdate
	if !want.Out.Active() && !want.In.Active() {
		action = control.ActionRemove
	}
	change(action, "link", k.String(), impairDetail(want))
	return append(links, Step{Op: OpSetLink, Name: k.String(), Link: k, Impair: want, Where: d.where(want.path)})
}

// sameSettings compares desired settings with saved ones; a desired seed
// of 0 (random) matches any.
func sameSettings(want, cur impair.Settings) bool {
	if !want.Active() && !cur.Active() {
		return true
	}
	if want.Seed == 0 {
		cur.Seed = 0
	}
	return want == cur
}

func impairDetail(m Impairment) string {
	var parts []string
	str := func(s impair.Settings) string { return strings.TrimSuffix(s.String(), " seed 0") } // 0: random
	if m.Out.Active() {
		parts = append(parts, "out "+str(m.Out))
	}
	if m.In.Active() {
		parts = append(parts, "in "+str(m.In))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// orderRemoves puts endpoint removals first, then disconnects and
// unpublishes, then networks, ports and the uplink.
func orderRemoves(steps []Step) []Step {
	rank := map[Op]int{OpRemoveEndpoint: 0, OpDisconnect: 1, OpUnpublish: 1, OpRemoveNetwork: 2, OpRemovePort: 3, OpRemoveUplink: 3}
	slices.SortStableFunc(steps, func(a, b Step) int { return rank[a.Op] - rank[b.Op] })
	return steps
}

func networkDetail(s state.NetworkSpec) string {
	var parts []string
	if s.Subnet.IsValid() {
		parts = append(parts, "subnet "+s.Subnet.String())
	}
	if s.VLAN != 0 {
		parts = append(parts, fmt.Sprintf("vlan %d", s.VLAN))
	}
	if s.Internal {
		parts = append(parts, "internal")
	}
	if s.Isolated {
		parts = append(parts, "icc=false")
	}
	if o := s.Overlay; o != nil {
		parts = append(parts, fmt.Sprintf("vni %d peers %v", o.VNI, o.Peers))
	}
	return strings.Join(parts, ", ")
}

// networkDiff says how n differs from spec ("" if it does not): what the
// file leaves out (an automatic subnet or VLAN) matches anything.
func networkDiff(spec state.NetworkSpec, n *state.Network) string {
	var d []string
	if spec.Subnet.IsValid() && spec.Subnet != n.Subnet {
		d = append(d, fmt.Sprintf("subnet %s → %s", n.Subnet, spec.Subnet))
	}
	if spec.Gateway.IsValid() && spec.Gateway != n.Gateway {
		d = append(d, fmt.Sprintf("gateway %s → %s", n.Gateway, spec.Gateway))
	}
	if spec.VLAN != 0 && spec.VLAN != n.VLAN {
		d = append(d, fmt.Sprintf("vlan %d → %d", n.VLAN, spec.VLAN))
	}
	if spec.Internal != n.Internal {
		d = append(d, fmt.Sprintf("internal %t → %t", n.Internal, spec.Internal))
	}
	if spec.Isolated != n.Isolated {
		d = append(d, fmt.Sprintf("icc %t → %t", !n.Isolated, !spec.Isolated))
	}
	if spec.IPRange != n.IPRange {
		d = append(d, fmt.Sprintf("ip_range %s → %s", n.IPRange, spec.IPRange))
	}
	if spec.MTU != 0 && spec.MTU != n.MTU {
		d = append(d, fmt.Sprintf("mtu %d → %d", n.MTU, spec.MTU))
	}
	if !sameOverlay(spec.Overlay, n.Overlay) {
		d = append(d, "vxlan changed")
	}
	return strings.Join(d, ", ")
}

func endpointDetail(w Endpoint) string {
	var nets []string
	for _, n := range w.NICs {
		s := n.Network
		if n.IP.IsValid() {
			s += " " + n.IP.String()
		}
		nets = append(nets, s)
	}
	if w.Spec.Trunk {
		nets = append(nets, "trunk")
	}
	return strings.Join(nets, ", ")
}

// endpointDiff says why e must be made again to match w ("" if it need
// not): its command, environment or options differ, or its first NIC.
func endpointDiff(w Endpoint, e *state.Endpoint, recreatedNet map[string]bool) string {
	s := w.Spec
	var d []string
	if !slices.Equal(s.Cmd, e.Cmd) {
		d = append(d, "cmd")
	}
	if !slices.Equal(s.Env, e.Env) {
		d = append(d, "env")
	}
	if s.Hostname != e.Hostname {
		d = append(d, "hostname")
	}
	if s.Restart != e.Restart {
		d = append(d, "restart")
	}
	if !slices.Equal(s.DNS, e.DNS) {
		d = append(d, "dns")
	}
	if !slices.Equal(s.ExtraHosts, e.ExtraHosts) {
		d = append(d, "extra_hosts")
	}
	if len(e.NICs) == 0 {
		return "no NIC"
	}
	first := e.NICs[0]
	switch {
	case s.Trunk != first.Trunk || s.Trunk && (s.VLANs != first.VLANs || s.Native != first.Native):
		d = append(d, "trunk")
	case !s.Trunk && first.Network != s.Network:
		d = append(d, "first network "+first.Network+" → "+s.Network)
	case !s.Trunk && recreatedNet[s.Network]:
		d = append(d, "network "+s.Network+" recreated")
	case !s.Trunk && (s.IP.IsValid() && s.IP != first.IP || !slices.Equal(s.Aliases, first.Aliases)):
		d = append(d, "first network's address or aliases")
	}
	return strings.Join(d, ", ")
}

// nicChanges returns the live changes that make e's other NICs and
// published ports match w, and a description.
func nicChanges(w Endpoint, e *state.Endpoint, recreatedNet map[string]bool, d *Desired) ([]Step, string) {
	var steps []Step
	var detail []string
	want := map[string]NIC{}
	extra := w.NICs[min(1, len(w.NICs)):] // none for a trunk endpoint
	for _, n := range extra {
		want[n.Network] = n
	}
	for _, nic := range e.NICs[1:] {
		n, ok := want[nic.Network]
		if !ok || recreatedNet[nic.Network] || n.IP.IsValid() && n.IP != nic.IP || !slices.Equal(n.Aliases, nic.Aliases) {
			steps = append(steps, Step{Op: OpDisconnect, Name: e.Name, Network: nic.Network})
			if !ok {
				detail = append(detail, "disconnect "+nic.Network)
			}
		}
	}
	for _, n := range extra {
		cur := e.NIC(n.Network)
		if cur != nil && !recreatedNet[n.Network] && (!n.IP.IsValid() || n.IP == cur.IP) && slices.Equal(n.Aliases, cur.Aliases) {
			continue
		}
		steps = append(steps, Step{Op: OpConnect, Name: e.Name, Network: n.Network,
			Connect: state.ConnectSpec{Endpoint: e.Name, IP: n.IP, Aliases: n.Aliases}, Where: d.where(n.path)})
		if cur == nil {
			detail = append(detail, "connect "+n.Network)
		} else {
			detail = append(detail, "reconnect "+n.Network)
		}
	}
	// Published ports: a spec without a host port matches one bound to
	// any.
	matches := func(want, cur state.Publish) bool {
		if want == cur {
			return true
		}
		return want.Unbound() && want.Proto == cur.Proto && want.ContPort == cur.ContPort &&
			want.ContEnd == cur.ContEnd && want.HostIP == cur.HostIP
	}
	used := make([]bool, len(e.Publish))
	for _, p := range w.Spec.Publish {
		found := false
		for i, c := range e.Publish {
			if !used[i] && matches(p, c) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			steps = append(steps, Step{Op: OpPublish, Name: e.Name, Publish: p, Where: d.where(w.path)})
			detail = append(detail, "publish "+p.String())
		}
	}
	for i, c := range e.Publish {
		if !used[i] {
			steps = append(steps, Step{Op: OpUnpublish, Name: e.Name, Publish: c})
			detail = append(detail, "unpublish "+c.String())
		}
	}
	return steps, strings.Join(detail, ", ")
}

// sameOverlay reports whether a file's overlay (its port 0 meaning 4789)
// is the network's.
func sameOverlay(want, have *state.Overlay) bool {
	if want == nil || have == nil {
		return want == nil && have == nil
	}
	port := want.Port
	if port == 0 {
		port = header.VXLANPort
	}
	return want.VNI == have.VNI && port == have.Port && want.Local == have.Local && slices.Equal(want.Peers, have.Peers)
}
