package server

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// From the API's JSON to the domain's types. Parse errors are ErrInvalid
// with the message the user needs.

func networkSpec(r control.NetworkCreate) (state.NetworkSpec, error) {
	spec := state.NetworkSpec{Name: r.Name, Internal: r.Internal, Isolated: r.ICC != nil && !*r.ICC}
	if r.Subnet != "" {
		p, err := netip.ParsePrefix(r.Subnet)
		if err != nil {
			return spec, state.Errorf(state.ErrInvalid, "subnet %q: not a CIDR (like 10.1.0.0/24)", r.Subnet)
		}
		spec.Subnet = p
	}
	if r.Gateway != "" {
		a, err := netip.ParseAddr(r.Gateway)
		if err != nil || !a.Is4() {
			return spec, state.Errorf(state.ErrInvalid, "gateway %q: not an IPv4 address", r.Gateway)
		}
		spec.Gateway = a
	}
	v, err := vlanID(r.VLAN, "vlan")
	spec.VLAN = v
	if err != nil {
		return spec, err
	}
	if r.IPRange != "" {
		p, err := netip.ParsePrefix(r.IPRange)
		if err != nil {
			return spec, state.Errorf(state.ErrInvalid, "ip-range %q: not a CIDR (like 10.1.0.0/25)", r.IPRange)
		}
		spec.IPRange = p
	}
	spec.MTU = r.MTU
	if o := r.Overlay; o != nil {
		if o.VNI < 1 || o.VNI > header.MaxVNI {
			return spec, state.Errorf(state.ErrInvalid, "vni %d out of range 1-%d", o.VNI, header.MaxVNI)
		}
		if o.Port < 0 || o.Port > 65535 {
			return spec, state.Errorf(state.ErrInvalid, "vxlan port %d out of range 1-65535", o.Port)
		}
		so := &state.Overlay{VNI: uint32(o.VNI), Port: uint16(o.Port)}
		if o.Local != "" {
			a, err := netip.ParseAddr(o.Local)
			if err != nil {
				return spec, state.Errorf(state.ErrInvalid, "local %q: not an IP address", o.Local)
			}
			so.Local = a
		}
		for _, p := range o.Peers {
			a, err := peerAddr(p)
			if err != nil {
				return spec, err
			}
			so.Peers = append(so.Peers, a)
		}
		spec.Overlay = so
	}
	return spec, nil
}

// peerAddr parses a peer VTEP address.
func peerAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, state.Errorf(state.ErrInvalid, "peer %q: not an IP address", s)
	}
	return a, nil
}

// vlanID converts an API VLAN number (0: none) to a vlan.ID.
func vlanID(n int, what string) (vlan.ID, error) {
	if n < 0 || n > int(vlan.MaxID) {
		return 0, state.Errorf(state.ErrInvalid, "%s %d out of range 1-%d", what, n, vlan.MaxID)
	}
	return vlan.ID(n), nil
}

func addrArg(s, what string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, state.Errorf(state.ErrInvalid, "%s %q: not an IPv4 address", what, s)
	}
	return a, nil
}

func connectSpec(r control.Connect) (state.ConnectSpec, error) {
	ip, err := addrArg(r.IP, "--ip")
	if err != nil {
		return state.ConnectSpec{}, err
	}
	spec := state.ConnectSpec{Endpoint: r.Endpoint, IP: ip, Aliases: r.Aliases, IfName: r.IfName, MTU: r.MTU}
	spec.MAC, err = macArg(r.MAC)
	return spec, err
}

// macArg parses an optional MAC.
func macArg(s string) (header.MAC, error) {
	if s == "" {
		return header.MAC{}, nil
	}
	m, err := header.ParseMAC(s)
	if err != nil {
		return m, state.Errorf(state.ErrInvalid, "mac %q: not a MAC address (like 02:00:00:00:00:01)", s)
	}
	return m, nil
}

// publishRequest is publishSpec of a request's spec.
func publishRequest(req control.PublishRequest) (state.Publish, error) { return publishSpec(req.Spec) }

func publishSpec(s string) (state.Publish, error) {
	p, err := state.ParsePublish(s)
	if err != nil {
		return p, state.Errorf(state.ErrInvalid, "%w", err)
	}
	return p, nil
}

// noNUL refuses a command, environment or option string with a NUL byte:
// no exec(2) argument can hold one.
func noNUL(cmd, env, opts []string) error {
	for what, list := range map[string][]string{"cmd": cmd, "env": env, "option": opts} {
		for _, s := range list {
			if strings.IndexByte(s, 0) >= 0 {
				return state.Errorf(state.ErrInvalid, "%s %q: contains a NUL byte", what, s)
			}
		}
	}
	return nil
}

func runSpec(r control.Run) (daemon.RunSpec, error) {
	if err := noNUL(r.Cmd, r.Env, []string{r.Hostname, r.User}); err != nil {
		return daemon.RunSpec{}, err
	}
	spec := daemon.RunSpec{TTY: r.TTY, EndpointSpec: state.EndpointSpec{
		Name: r.Name, Network: r.Network, Aliases: r.Aliases, Cmd: r.Cmd, Env: r.Env, Remove: r.Remove, Trunk: r.Trunk,
		Hostname: r.Hostname, NetnsPath: r.NetnsPath, IfName: r.IfName, MTU: r.MTU, ContainerID: r.ContainerID,
		User: r.User,
	}}
	var err error
	if spec.CapDrop, err = netns.CapDrop(r.CapAdd, r.CapDrop); err != nil {
		return spec, state.Errorf(state.ErrInvalid, "%w", err)
	}
	if spec.MAC, err = macArg(r.MAC); err != nil {
		return spec, err
	}
	if spec.IP, err = addrArg(r.IP, "--ip"); err != nil {
		return spec, err
	}
	for _, s := range r.Publish {
		p, err := publishSpec(s)
		if err != nil {
			return spec, err
		}
		spec.Publish = append(spec.Publish, p)
	}
	var exposed []state.Publish
	for _, s := range r.Expose {
		ps, err := state.ParseExpose(s)
		if err != nil {
			return spec, state.Errorf(state.ErrInvalid, "%w", err)
		}
		exposed = append(exposed, ps...)
	}
	if r.PublishAll {
		// -P: every exposed port not published already, on a free port.
	next:
		for _, x := range exposed {
			for _, p := range spec.Publish {
				if p.Proto == x.Proto && p.ContPort <= x.ContPort && x.ContPort <= p.ContEnd {
					continue next
				}
			}
			spec.Publish = append(spec.Publish, x)
		}
	}
	for _, s := range r.DNS {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return spec, state.Errorf(state.ErrInvalid, "--dns %q: not an IP address", s)
		}
		spec.DNS = append(spec.DNS, a)
	}
	for _, s := range r.ExtraHosts {
		h, err := state.ParseHostEntry(s)
		if err != nil {
			return spec, state.Errorf(state.ErrInvalid, "%w", err)
		}
		spec.ExtraHosts = append(spec.ExtraHosts, h)
	}
	if spec.Restart, err = state.ParseRestartPolicy(r.Restart); err != nil {
		return spec, state.Errorf(state.ErrInvalid, "%w", err)
	}
	if spec.VLANs, err = vlan.ParseSet(r.VLANs); err != nil {
		return spec, state.Errorf(state.ErrInvalid, "%w", err)
	}
	spec.Native, err = vlanID(r.Native, "--native")
	return spec, err
}

func portSetSpec(r control.PortSet) (state.PortSpec, error) {
	return portSpec(control.PortAdd{Mode: r.Mode, VLAN: r.VLAN, VLANs: r.VLANs, Native: r.Native})
}

func fdbAdd(r control.FDBAdd) (vlan.ID, header.MAC, error) {
	mac, err := fdbMAC(r.MAC)
	if err != nil {
		return 0, mac, err
	}
	if r.VTEP != "" {
		switch {
		case r.Port != "":
			return 0, mac, state.Errorf(state.ErrInvalid, "give a port or a vtep, not both")
		case r.Network == "":
			return 0, mac, state.Errorf(state.ErrInvalid, "fdb add --vtep needs the overlay network (--network)")
		}
		return 0, mac, nil
	}
	if r.Port == "" {
		return 0, mac, state.Errorf(state.ErrInvalid, "fdb add needs a port (or a vtep)")
	}
	if r.VLAN != 0 && r.Network != "" {
		return 0, mac, state.Errorf(state.ErrInvalid, "give a vlan or a network, not both")
	}
	if r.VLAN == 0 && r.Network == "" {
		return 0, mac, state.Errorf(state.ErrInvalid, "fdb add needs a vlan or a network")
	}
	v, err := vlanID(r.VLAN, "vlan")
	return v, mac, err
}

func fdbMAC(s string) (header.MAC, error) {
	mac, err := header.ParseMAC(s)
	if err != nil {
		return mac, state.Errorf(state.ErrInvalid, "mac %q: not a MAC address (like 02:00:00:00:00:01)", s)
	}
	return mac, nil
}

// connFilter reads conntrack's query parameters.
func connFilter(q url.Values) (daemon.ConnFilter, error) {
	var f daemon.ConnFilter
	switch p := strings.ToLower(q.Get("proto")); p {
	case "":
	case "tcp":
		f.Proto = header.ProtoTCP
	case "udp":
		f.Proto = header.ProtoUDP
	case "icmp":
		f.Proto = header.ProtoICMP
	default:
		return f, state.Errorf(state.ErrInvalid, "proto %q: want tcp, udp or icmp", p)
	}
	for _, a := range []struct {
		name string
		to   *netip.Addr
	}{{"src", &f.Src}, {"dst", &f.Dst}} {
		if s := q.Get(a.name); s != "" {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return f, state.Errorf(state.ErrInvalid, "%s %q: not an IP address", a.name, s)
			}
			*a.to = ip
		}
	}
	if s := q.Get("port"); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return f, state.Errorf(state.ErrInvalid, "port %q: not a port (1-65535)", s)
		}
		f.Port = uint16(n)
	}
	if s := q.Get("state"); s != "" {
		st, err := nat.ParseTCPState(s)
		if err != nil {
			return f, state.Errorf(state.ErrInvalid, "%w", err)
		}
		f.State, f.HasState = st, true
	}
	f.Zone = q.Get("zone")
	return f, nil
}

func portSpec(r control.PortAdd) (state.PortSpec, error) {
	spec := state.PortSpec{Interface: r.Interface, Type: r.Type}
	mode := r.Mode
	if mode == "" {
		mode = "access"
	}
	m, err := vlan.ParseMode(mode)
	if err != nil {
		return spec, state.Errorf(state.ErrInvalid, "%w", err)
	}
	spec.Mode = m
	if r.VLAN < 0 || r.VLAN > int(vlan.MaxID) {
		if m != vlan.Access && m != vlan.Dot1QTunnel {
			return spec, state.Errorf(state.ErrInvalid, "--vlan is for access and dot1q-tunnel ports; trunks take --vlans and --native")
		}
		return spec, state.Errorf(state.ErrInvalid, "--mode %s needs --vlan 1-%d, got %d", m, vlan.MaxID, r.VLAN)
	}
	spec.VLAN = vlan.ID(r.VLAN)
	if r.Native < 0 || r.Native > int(vlan.MaxID) {
		return spec, state.Errorf(state.ErrInvalid, "--native %d out of range 1-%d", r.Native, vlan.MaxID)
	}
	spec.Native = vlan.ID(r.Native)
	if spec.VLANs, err = vlan.ParseSet(r.VLANs); err != nil {
		return spec, state.Errorf(state.ErrInvalid, "%w", err)
	}
	return spec, nil
}

func uplinkSpec(r control.Uplink) (state.UplinkSpec, error) {
	spec := state.UplinkSpec{Interface: r.Interface}
	a, err := netip.ParsePrefix(r.Address)
	if err != nil {
		return spec, state.Errorf(state.ErrInvalid, "uplink address %q: want IPv4 CIDR such as 203.0.113.2/24", r.Address)
	}
	spec.Address = a
	spec.Gateway, err = addrArg(r.Gateway, "uplink gateway")
	return spec, err
}

// From the domain to the API's JSON.

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func network(n daemon.NetworkInfo) control.Network {
	out := control.Network{
		Name: n.Name, ID: int(n.ID), VLAN: int(n.VLAN), Subnet: n.Subnet.String(), Gateway: n.Gateway.String(),
		GatewayMAC: n.MAC.String(), Internal: n.Internal, ICC: !n.Isolated, Created: n.Created,
		Endpoints: []control.NetworkEndpoint{}, DNSNames: []control.DNSName{},
	}
	for _, e := range n.Endpoints {
		out.Endpoints = append(out.Endpoints, control.NetworkEndpoint{
			Endpoint: e.Endpoint, Interface: e.Interface, MAC: e.MAC.String(), IP: addrString(e.IP), Aliases: strs(e.Aliases),
		})
	}
	for _, r := range n.DNSNames {
		out.DNSNames = append(out.DNSNames, control.DNSName{Name: r.Name, IP: r.Addr.String()})
	}
	out.MTU = n.MTU
	if n.IPRange.IsValid() {
		out.IPRange = n.IPRange.String()
	}
	if o := n.Overlay; o != nil {
		ov := &control.Overlay{VNI: int(o.VNI), Peers: []string{}, Port: int(o.Port), Local: addrString(o.Local),
			VXLANPort: n.VXLANPort, Remotes: []control.RemoteMAC{}}
		for _, p := range o.Peers {
			ov.Peers = append(ov.Peers, p.String())
		}
		for _, r := range n.Remotes {
			ov.Remotes = append(ov.Remotes, control.RemoteMAC{MAC: r.MAC.String(), VTEP: r.VTEP.String(), IP: addrString(r.IP),
				Static: r.Static, Age: r.Age.Seconds()})
		}
		out.Overlay = ov
	}
	return out
}

func networks(ns []daemon.NetworkInfo) []control.Network {
	out := make([]control.Network, 0, len(ns))
	for _, n := range ns {
		out = append(out, network(n))
	}
	return out
}

// strs returns l, or an empty list for nil (the schema has no missing
// lists).
func strs(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// vids returns a VLAN set as numbers.
func vids(s vlan.Set) []int {
	out := []int{}
	for _, v := range s.VIDs() {
		out = append(out, int(v))
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func endpoint(e daemon.EndpointInfo) control.Endpoint {
	out := control.Endpoint{
		Name: e.Name, Netns: e.Netns, Attached: e.Attached, Hostname: e.Hostname,
		State: e.State, Status: e.Status, ExitCode: e.ExitCode, PID: e.PID,
		StartedAt: timePtr(e.StartedAt), FinishedAt: timePtr(e.FinishedAt),
		RestartPolicy: e.Restart.String(), RestartCount: e.RestartCount,
		Cmd: strs(e.Cmd), Env: strs(e.Env), DNS: []string{}, ExtraHosts: []string{},
		NICs: []control.NIC{}, Ports: []control.PortMap{}, Created: e.Created, ContainerID: e.ContainerID,
	}
	for _, a := range e.DNS {
		out.DNS = append(out.DNS, a.String())
	}
	for _, h := range e.ExtraHosts {
		out.ExtraHosts = append(out.ExtraHosts, h.String())
	}
	for _, p := range e.Published {
		out.Ports = append(out.Ports, portMap(p))
	}
	for _, n := range e.NICs {
		c := control.NIC{Interface: n.Interface, Network: n.Network, MAC: n.MAC.String(), IP: addrString(n.IP),
			PrefixLen: n.PrefixLen, Gateway: addrString(n.Gateway), Aliases: strs(n.Aliases), Port: n.Port, Mode: n.Mode,
			VLANs: []int{}, Native: int(n.Native), MTU: n.MTU}
		if n.Trunk {
			c.VLANs = vids(n.VLANs)
		}
		out.NICs = append(out.NICs, c)
	}
	return out
}

func portMap(p state.Publish) control.PortMap {
	hostIP := "0.0.0.0"
	if p.HostIP.IsValid() {
		hostIP = p.HostIP.String()
	}
	return control.PortMap{
		Proto: p.ProtoName(), HostIP: hostIP, HostPort: int(p.HostPort), HostPortEnd: int(p.HostEnd),
		ContainerPort: int(p.ContPort), Spec: p.String(),
	}
}

func endpoints(es []daemon.EndpointInfo) []control.Endpoint {
	out := make([]control.Endpoint, 0, len(es))
	for _, e := range es {
		out = append(out, endpoint(e))
	}
	return out
}

func fdb(es []daemon.FDBEntry) []control.FDBEntry {
	out := []control.FDBEntry{}
	for _, e := range es {
		out = append(out, control.FDBEntry{VLAN: int(e.VLAN), MAC: e.MAC.String(), Port: e.Port, Static: e.Static, Age: e.Age.Seconds()})
	}
	return out
}

func portOf(p daemon.PortInfo) control.Port {
	c := p.Counters
	drops := c.Drops
	if drops == nil {
		drops = map[string]uint64{}
	}
	cp := control.Port{
		ID: int(p.ID), Name: p.Name, Kind: string(p.Kind), Endpoint: p.Endpoint, Routed: p.Routed, Queues: p.Queues, VLANs: []int{},
		RxFrames: c.RxFrames, RxBytes: c.RxBytes, TxFrames: c.TxFrames, TxBytes: c.TxBytes, Drops: drops,
		VTEPs: []control.VTEP{},
	}
	for _, v := range p.VTEPs {
		addr, errs := "other", v.RxErrors
		if v.Addr.IsValid() {
			addr = v.Addr.String()
		}
		if errs == nil {
			errs = map[string]uint64{}
		}
		cp.VTEPs = append(cp.VTEPs, control.VTEP{Addr: addr, RxFrames: v.RxFrames, RxBytes: v.RxBytes,
			TxFrames: v.TxFrames, TxBytes: v.TxBytes, RxErrors: errs})
	}
	if p.Routed {
		cp.Mode = "routed"
	} else {
		cp.Mode, cp.VLAN = p.VLAN.Mode.String(), int(p.VLAN.VID)
		switch {
		case !p.VLAN.Trunks.IsEmpty():
			cp.VLANs = vids(p.VLAN.Trunks)
		case p.VLAN.Mode == vlan.Dot1QTunnel:
			cp.VLANs = vids(p.VLAN.CVLANs) // customer VLANs accepted; empty: all
		case p.VLAN.Mode != vlan.Access:
			cp.AllVLANs = true
		}
	}
	return cp
}

func ports(ps []daemon.PortInfo) []control.Port {
	out := []control.Port{}
	for _, p := range ps {
		out = append(out, portOf(p))
	}
	return out
}

func stats(s daemon.Stats) control.Stats {
	st := control.Stats{Ports: ports(s.Ports), Drops: map[string]uint64{}}
	for _, p := range st.Ports {
		for r, n := range p.Drops {
			st.Drops[r] += n
		}
	}
	for r, n := range s.Deferred.Drops {
		st.Drops[r] += n
	}
	f := s.FDB
	st.FDB = map[string]uint64{
		"entries": f.Entries, "learned": f.Learned, "moved": f.Moved,
		"expired": f.Expired, "evicted": f.Evicted, "limited": f.Limited,
	}
	st.Router = s.Router.Map()
	n := s.NAT
	st.NAT = map[string]uint64{
		"entries": n.Entries, "created": n.Created, "expired": n.Expired, "early_dropped": n.EarlyDropped, "flushed": n.Flushed,
		"table_full": n.TableFull, "endpoint_limit": n.EndpointLimit, "no_port": n.NoPort, "invalid": n.Invalid, "unsupported": n.Unsupported,
		"fragments_translated": n.FragmentsTranslated, "fragments_dropped": n.FragmentsDropped,
		"icmp_errors_translated": n.ICMPErrorsTranslated,
		"defrag_datagrams":       s.Defrag.Queues, "defrag_bytes": s.Defrag.Bytes, "defrag_zone_budget": s.Defrag.Budget,
	}
	d := s.DNS
	st.DNS = map[string]uint64{
		"queries": d.Queries, "local": d.Local, "forwarded": d.Forwarded, "nxdomain": d.NXDomain,
		"servfail": d.ServFail, "refused": d.Refused, "malformed": d.Malformed, "dropped": d.Dropped,
		"overflow": d.Overflow, "not_imp": d.NotImp, "truncated": d.Truncated, "no_forward": d.NoForward, "unmatched": d.Unmatched,
		"cache_hits": d.CacheHits, "cache_misses": d.CacheMisses, "cache_evictions": d.CacheEvictions, "cache_entries": d.CacheEntries,
	}
	p := s.Proxy
	st.Proxy = map[string]uint64{
		"tcp_conns": p.TCPConns, "tcp_active": p.TCPActive, "udp_flows": p.UDPFlows,
		"udp_active": p.UDPActive, "bytes_in": p.BytesIn, "bytes_out": p.BytesOut, "dial_errors": p.DialErrors,
		"udp_dropped": p.UDPDropped, "tcp_redirected": p.Redirected,
	}
	return st
}

func uplink(u daemon.UplinkInfo) control.Uplink {
	return control.Uplink{Interface: u.Interface, Address: u.Address.String(), Gateway: addrString(u.Gateway), MAC: u.MAC.String()}
}

func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return strconv.Itoa(int(p))
}

func natRules(r daemon.NATRules) control.NATRules {
	out := control.NATRules{Masquerade: []control.Masquerade{}, Published: []control.Published{}}
	for _, m := range r.Masquerade {
		out.Masquerade = append(out.Masquerade, control.Masquerade{Network: m.Network, Subnet: m.Subnet.String(), To: addrString(m.To), Reason: m.Reason})
	}
	for _, p := range r.Published {
		hostIP := "0.0.0.0"
		if p.HostIP.IsValid() {
			hostIP = p.HostIP.String()
		}
		out.Published = append(out.Published, control.Published{
			Endpoint: p.Endpoint, Proto: p.ProtoName(), HostIP: hostIP, HostPort: state.PortRange(p.HostPort, p.HostEnd),
			Target: p.Target.String(), ContPort: state.PortRange(p.ContPort, p.ContEnd),
		})
	}
	return out
}
