package lab

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// Desired is a topology compiled: the objects it declares, with their full
// names, as the daemon's specs.
type Desired struct {
	Name, Prefix, File string
	Networks           []Network
	Endpoints          []Endpoint
	Ports              []Port
	Uplink             *Uplink
	// Impair is the impairment of each link the file impairs, by
	// LinkKey; links not in it are unimpaired.
	Impair map[LinkKey]Impairment

	lines map[string]int
}

// Network is a network the lab declares.
type Network struct {
	Spec  state.NetworkSpec
	Short string // the file's name
	path  string
}

// Endpoint is an endpoint the lab declares. Spec describes it with its
// first NIC; NICs lists every NIC in order (NICs[0] is the first), none
// for a trunk endpoint.
type Endpoint struct {
	Spec  state.EndpointSpec
	NICs  []NIC
	Short string
	path  string
}

// NIC is an attachment of an endpoint to a network (full name).
type NIC struct {
	Network string
	IP      netip.Addr
	Aliases []string
	path    string
}

// Port is a system port the lab attaches.
type Port struct {
	Spec state.PortSpec
	path string
}

// Uplink is the uplink the lab sets.
type Uplink struct {
	Spec state.UplinkSpec
	path string
}

// LinkKey names a link: an endpoint's NIC on a network, or a system port
// (Endpoint empty, Port its interface). Names are full names.
type LinkKey struct {
	Endpoint, Network, Port string
}

// String returns the link as the daemon's link target would name it.
func (k LinkKey) String() string {
	if k.Endpoint == "" {
		return k.Port
	}
	return k.Endpoint + " on " + k.Network
}

// Impairment is a link's two directions.
type Impairment struct {
	Out, In impair.Settings
	path    string
}

// Compile checks t on its own (names, references, addresses, overlaps,
// impairment values) and returns what it declares. Errors are one line,
// "FILE:LINE: ..." when the file and line are known, and wrap
// state.ErrInvalid.
func Compile(t control.Topology) (*Desired, error) {
	d := &Desired{Name: t.Name, File: t.File, lines: t.Lines, Impair: map[LinkKey]Impairment{}}
	if err := netns.ValidateName(t.Name); err != nil {
		return nil, d.errorf("name", "lab name: %w", err)
	}
	d.Prefix = t.Name + "-"
	if t.Prefix != nil {
		d.Prefix = *t.Prefix
		if d.Prefix != "" {
			if err := netns.ValidateName(d.Prefix + "x"); err != nil {
				return nil, d.errorf("prefix", "prefix %q: %w", d.Prefix, err)
			}
		}
	}
	nets := map[string]*Network{}
	vids := map[vlan.ID]string{}
	for _, n := range t.Networks {
		path := "networks." + n.Name
		if nets[n.Name] != nil {
			return nil, d.errorf(path, "network %q declared twice", n.Name)
		}
		spec := state.NetworkSpec{Name: d.Prefix + n.Name, Internal: n.Internal, Isolated: n.ICC != nil && !*n.ICC, Lab: t.Name}
		if err := netns.ValidateName(spec.Name); err != nil {
			return nil, d.errorf(path, "network %q: %w", spec.Name, err)
		}
		if n.Subnet != "" {
			p, err := netip.ParsePrefix(n.Subnet)
			if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Masked() != p {
				return nil, d.errorf(path+".subnet", "network %q: subnet %q: want an IPv4 network such as 10.1.0.0/24 (at most /30)", n.Name, n.Subnet)
			}
			spec.Subnet = p
		}
		if n.Gateway != "" {
			a, err := netip.ParseAddr(n.Gateway)
			if err != nil || !a.Is4() {
				return nil, d.errorf(path+".gateway", "network %q: gateway %q: not an IPv4 address", n.Name, n.Gateway)
			}
			if !spec.Subnet.IsValid() || !spec.Subnet.Contains(a) {
				return nil, d.errorf(path+".gateway", "network %q: gateway %s is not in its subnet %q", n.Name, a, n.Subnet)
			}
			spec.Gateway = a
		}
		if n.IPRange != "" {
			p, err := netip.ParsePrefix(n.IPRange)
			if err != nil {
				return nil, d.errorf(path+".ip_range", "network %q: ip_range %q: not a CIDR", n.Name, n.IPRange)
			}
			spec.IPRange = p
		}
		spec.MTU = n.MTU
		if vx := n.VXLAN; vx != nil {
			if vx.VNI < 1 || vx.VNI > header.MaxVNI {
				return nil, d.errorf(path+".vxlan.vni", "network %q: vni %d out of range 1-%d", n.Name, vx.VNI, header.MaxVNI)
			}
			if vx.Port < 0 || vx.Port > 65535 {
				return nil, d.errorf(path+".vxlan.port", "network %q: vxlan port %d out of range 1-65535", n.Name, vx.Port)
			}
			o := &state.Overlay{VNI: uint32(vx.VNI), Port: uint16(vx.Port)}
			if vx.Local != "" {
				a, err := netip.ParseAddr(vx.Local)
				if err != nil {
					return nil, d.errorf(path+".vxlan.local", "network %q: local %q: not an IP address", n.Name, vx.Local)
				}
				o.Local = a
			}
			peers, err := d.addrs(path+".vxlan.peers", fmt.Sprintf("network %q: peer", n.Name), vx.Peers)
			if err != nil {
				return nil, err
			}
			o.Peers = peers
			if !spec.Subnet.IsValid() {
				return nil, d.errorf(path+".subnet", "network %q: an overlay network needs a subnet, the same on every host", n.Name)
			}
			spec.Overlay = o
		}
		if n.VLAN != 0 {
			if n.VLAN < 1 || n.VLAN > int(vlan.MaxID) {
				return nil, d.errorf(path+".vlan", "network %q: vlan %d out of range 1-%d", n.Name, n.VLAN, vlan.MaxID)
			}
			spec.VLAN = vlan.ID(n.VLAN)
			if o, ok := vids[spec.VLAN]; ok {
				return nil, d.errorf(path+".vlan", "network %q: vlan %d is network %q's too", n.Name, n.VLAN, o)
			}
			vids[spec.VLAN] = n.Name
		}
		for _, o := range d.Networks {
			if spec.Subnet.IsValid() && o.Spec.Subnet.IsValid() && o.Spec.Subnet.Overlaps(spec.Subnet) {
				return nil, d.errorf(path+".subnet", "network %q: subnet %s overlaps network %q (%s)", n.Name, spec.Subnet, o.Short, o.Spec.Subnet)
			}
		}
		d.Networks = append(d.Networks, Network{Spec: spec, Short: n.Name, path: path})
		nets[n.Name] = &d.Networks[len(d.Networks)-1]
	}
	eps := map[string]*Endpoint{}
	ips := map[netip.Addr]string{}
	for _, e := range t.Endpoints {
		ep, err := d.endpoint(e, nets, ips)
		if err != nil {
			return nil, err
		}
		if eps[e.Name] != nil {
			return nil, d.errorf(ep.path, "endpoint %q declared twice", e.Name)
		}
		d.Endpoints = append(d.Endpoints, *ep)
		eps[e.Name] = ep
	}
	ports := map[string]bool{}
	for _, p := range t.Ports {
		path := "ports." + p.Interface
		if ports[p.Interface] {
			return nil, d.errorf(path, "port %q declared twice", p.Interface)
		}
		ports[p.Interface] = true
		spec, err := portSpec(p)
		if err != nil {
			return nil, d.errorf(path, "port %q: %w", p.Interface, err)
		}
		spec.Lab = t.Name
		if _, err := state.New("").NewPort(spec, ""); err != nil {
			return nil, d.errorf(path, "port %q: %w", p.Interface, err)
		}
		d.Ports = append(d.Ports, Port{Spec: spec, path: path})
	}
	if u := t.Uplink; u != nil {
		spec := state.UplinkSpec{Interface: u.Interface, Lab: t.Name}
		if err := netns.ValidateIfName(u.Interface); err != nil {
			return nil, d.errorf("uplink.interface", "uplink interface: %w", err)
		}
		if ports[u.Interface] {
			return nil, d.errorf("uplink.interface", "uplink interface %q is also a system port of the lab", u.Interface)
		}
		a, err := netip.ParsePrefix(u.Address)
		if err != nil || !a.Addr().Is4() {
			return nil, d.errorf("uplink.address", "uplink address %q: want an IPv4 CIDR such as 203.0.113.2/24", u.Address)
		}
		spec.Address = a
		if u.Gateway != "" {
			g, err := netip.ParseAddr(u.Gateway)
			if err != nil || !g.Is4() {
				return nil, d.errorf("uplink.gateway", "uplink gateway %q: not an IPv4 address", u.Gateway)
			}
			spec.Gateway = g
		}
		d.Uplink = &Uplink{Spec: spec, path: "uplink"}
	}
	for i, l := range t.Links {
		if err := d.link(i, l, eps, ports); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// endpoint compiles one endpoint.
func (d *Desired) endpoint(e control.LabEndpoint, nets map[string]*Network, ips map[netip.Addr]string) (*Endpoint, error) {
	path := "endpoints." + e.Name
	ep := &Endpoint{Short: e.Name, path: path}
	spec := state.EndpointSpec{
		Name: d.Prefix + e.Name, Cmd: e.Cmd, Env: e.Env, Hostname: e.Hostname, Lab: d.Name,
	}
	if err := netns.ValidateName(spec.Name); err != nil {
		return nil, d.errorf(path, "endpoint %q: %w", spec.Name, err)
	}
	if len(e.Networks) == 0 && e.Trunk == nil {
		return nil, d.errorf(path, "endpoint %q: no networks (and no trunk)", e.Name)
	}
	if len(e.Networks) > 0 && e.Trunk != nil {
		return nil, d.errorf(path+".trunk", "endpoint %q: a trunk endpoint has no networks", e.Name)
	}
	for _, kv := range e.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, d.errorf(path+".env", "endpoint %q: env %q: want KEY=VALUE", e.Name, kv)
		}
	}
	if e.Restart != "" {
		r, err := state.ParseRestartPolicy(e.Restart)
		if err != nil {
			return nil, d.errorf(path+".restart", "endpoint %q: %w", e.Name, err)
		}
		spec.Restart = r
	}
	dns, err := d.addrs(path+".dns", fmt.Sprintf("endpoint %q: dns", e.Name), e.DNS)
	if err != nil {
		return nil, err
	}
	spec.DNS = dns
	for _, s := range e.ExtraHosts {
		h, err := state.ParseHostEntry(s)
		if err != nil {
			return nil, d.errorf(path+".extra_hosts", "endpoint %q: %w", e.Name, err)
		}
		spec.ExtraHosts = append(spec.ExtraHosts, h)
	}
	for i, s := range e.Publish {
		p, err := state.ParsePublish(s)
		if err != nil {
			return nil, d.errorf(path+".publish."+strconv.Itoa(i), "endpoint %q: %w", e.Name, err)
		}
		spec.Publish = append(spec.Publish, p)
	}
	if t := e.Trunk; t != nil {
		spec.Trunk = true
		set, err := vlan.ParseSet(t.VLANs)
		if err != nil {
			return nil, d.errorf(path+".trunk.vlans", "endpoint %q: trunk: %w", e.Name, err)
		}
		spec.VLANs = set
		if t.Native < 0 || t.Native > int(vlan.MaxID) {
			return nil, d.errorf(path+".trunk.native", "endpoint %q: trunk native vlan %d out of range 1-%d", e.Name, t.Native, vlan.MaxID)
		}
		spec.Native = vlan.ID(t.Native)
	}
	seen := map[string]bool{}
	for i, a := range e.Networks {
		np := path + ".networks." + strconv.Itoa(i)
		n := nets[a.Network]
		if n == nil {
			return nil, d.errorf(np, "endpoint %q: network %q is not declared in the lab", e.Name, a.Network)
		}
		if seen[a.Network] {
			return nil, d.errorf(np, "endpoint %q: network %q listed twice", e.Name, a.Network)
		}
		seen[a.Network] = true
		nic := NIC{Network: n.Spec.Name, path: np}
		if a.IP != "" {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil || !ip.Is4() {
				return nil, d.errorf(np+".ip", "endpoint %q: ip %q: not an IPv4 address", e.Name, a.IP)
			}
			if !n.Spec.Subnet.IsValid() {
				return nil, d.errorf(np+".ip", "endpoint %q: ip %s on network %q, which has no subnet in the file", e.Name, ip, a.Network)
			}
			if !n.Spec.Subnet.Contains(ip) {
				return nil, d.errorf(np+".ip", "endpoint %q: ip %s is not in network %q's subnet %s", e.Name, ip, a.Network, n.Spec.Subnet)
			}
			if o, ok := ips[ip]; ok {
				return nil, d.errorf(np+".ip", "endpoint %q: ip %s is endpoint %q's too", e.Name, ip, o)
			}
			ips[ip] = e.Name
			nic.IP = ip
		}
		for _, al := range a.Aliases {
			if err := state.ValidateAlias(al); err != nil {
				return nil, d.errorf(np+".aliases", "endpoint %q: %w", e.Name, err)
			}
		}
		nic.Aliases = slices.Clone(a.Aliases)
		if d.Prefix != "" && !slices.Contains(nic.Aliases, e.Name) {
			// The short name answers on the lab's networks.
			nic.Aliases = append(nic.Aliases, e.Name)
		}
		ep.NICs = append(ep.NICs, nic)
	}
	if len(ep.NICs) > 0 {
		spec.Network, spec.IP, spec.Aliases = ep.NICs[0].Network, ep.NICs[0].IP, ep.NICs[0].Aliases
	}
	ep.Spec = spec
	return ep, nil
}

func portSpec(p control.LabPort) (state.PortSpec, error) {
	spec := state.PortSpec{Interface: p.Interface}
	if err := netns.ValidateIfName(p.Interface); err != nil {
		return spec, err
	}
	mode := p.Mode
	if mode == "" {
		mode = "access"
	}
	m, err := vlan.ParseMode(mode)
	if err != nil {
		return spec, err
	}
	spec.Mode = m
	for _, v := range []struct {
		name string
		n    int
	}{{"vlan", p.VLAN}, {"native", p.Native}} {
		if v.n < 0 || v.n > int(vlan.MaxID) {
			return spec, fmt.Errorf("%s %d out of range 1-%d", v.name, v.n, vlan.MaxID)
		}
	}
	spec.VLAN, spec.Native = vlan.ID(p.VLAN), vlan.ID(p.Native)
	if spec.VLANs, err = vlan.ParseSet(p.VLANs); err != nil {
		return spec, err
	}
	if (m == vlan.Access || m == vlan.Dot1QTunnel) && spec.VLAN == 0 {
		return spec, fmt.Errorf("mode %s needs a vlan", m)
	}
	return spec, nil
}

// link compiles links[i] into d.Impair.
func (d *Desired) link(i int, l control.LabLink, eps map[string]*Endpoint, ports map[string]bool) error {
	path := "links." + strconv.Itoa(i)
	dir := impair.Out
	if l.Direction != "" {
		var err error
		if dir, err = impair.ParseDirection(l.Direction); err != nil {
			return d.errorf(path+".direction", "link: %w", err)
		}
	}
	var u impair.Update
	for _, kv := range l.Settings() {
		if err := u.SetFlag(kv[0], kv[1]); err != nil {
			return d.errorf(path+"."+kv[0], "link: %w", err)
		}
	}
	if u.IsEmpty() {
		return d.errorf(path, "link: no impairment (want delay, jitter, loss, rate, ...)")
	}
	var keys []LinkKey
	switch {
	case l.Port != "" && (l.Endpoint != "" || l.Network != ""):
		return d.errorf(path, "link: give either an endpoint (and maybe a network) or a port")
	case l.Port != "":
		if !ports[l.Port] {
			return d.errorf(path+".port", "link to port %q, which is not a port of the lab", l.Port)
		}
		keys = append(keys, LinkKey{Port: l.Port})
	case l.Endpoint != "":
		ep := eps[l.Endpoint]
		if ep == nil {
			return d.errorf(path+".endpoint", "link to endpoint %q, which is not declared in the lab", l.Endpoint)
		}
		if ep.Spec.Trunk {
			return d.errorf(path+".endpoint", "link to endpoint %q: trunk endpoints cannot be impaired from a lab file (use vswitchctl link set)", l.Endpoint)
		}
		for _, nic := range ep.NICs {
			if l.Network == "" || nic.Network == d.Prefix+l.Network {
				keys = append(keys, LinkKey{Endpoint: ep.Spec.Name, Network: nic.Network})
			}
		}
		if len(keys) == 0 {
			return d.errorf(path+".network", "link to endpoint %q on network %q, which it is not on", l.Endpoint, l.Network)
		}
	default:
		return d.errorf(path, "link: no endpoint or port")
	}
	for _, k := range keys {
		m, had := d.Impair[k]
		if had && m.path != path {
			for _, x := range []struct {
				d impair.Direction
				s impair.Settings
			}{{impair.Out, m.Out}, {impair.In, m.In}} {
				if dir&x.d != 0 && x.s.Active() {
					return d.errorf(path, "link %s: direction %s impaired twice (also at %s)", k, x.d, d.where(m.path))
				}
			}
		}
		for _, x := range []struct {
			d impair.Direction
			s *impair.Settings
		}{{impair.Out, &m.Out}, {impair.In, &m.In}} {
			if dir&x.d == 0 {
				continue
			}
			s, err := x.s.Apply(u)
			if err != nil {
				return d.errorf(path, "link %s: %w", k, err)
			}
			*x.s = s
		}
		m.path = path
		d.Impair[k] = m
	}
	return nil
}

// errorf returns an invalid-input error for the place path of the
// topology: "FILE:LINE: message".
func (d *Desired) errorf(path, format string, args ...any) error {
	return state.Errorf(state.ErrInvalid, "%s"+format, append([]any{d.prefixAt(path)}, args...)...)
}

// prefixAt is "FILE:LINE: " for path (its closest enclosing place with a
// known line), "FILE: " without one, "" without a file.
func (d *Desired) prefixAt(path string) string {
	if w := d.where(path); w != "" {
		return w + ": "
	}
	return ""
}

// where is "FILE:LINE" for path.
func (d *Desired) where(path string) string {
	for p := path; p != ""; {
		if n, ok := d.lines[p]; ok && d.File != "" {
			return d.File + ":" + strconv.Itoa(n)
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return d.File
}

// addrs parses a list of IP addresses; what names the list in the error
// about a bad one (`endpoint "x": dns`).
func (d *Desired) addrs(path, what string, list []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, d.errorf(path, "%s %q: not an IP address", what, s)
		}
		out = append(out, a)
	}
	return out, nil
}
