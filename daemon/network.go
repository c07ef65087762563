package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/ipam"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/router"
)

// CreateNetwork implements control.Backend.
func (d *Daemon) CreateNetwork(req control.NetworkCreate) (control.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := netns.ValidateName(req.Name); err != nil {
		return control.Network{}, control.Errorf(control.ErrInvalid, "network name: %w", err)
	}
	if d.state.network(req.Name) != nil {
		return control.Network{}, control.Errorf(control.ErrConflict, "network %q already exists", req.Name)
	}
	var prefix netip.Prefix
	var err error
	if req.Subnet != "" {
		if prefix, err = ipam.ParseSubnet(req.Subnet); err != nil {
			return control.Network{}, control.Errorf(control.ErrInvalid, "%w", err)
		}
		if o := d.overlapping(prefix); o != "" {
			return control.Network{}, control.Errorf(control.ErrConflict, "subnet %s overlaps %s", prefix, o)
		}
	} else {
		used := d.usedPrefixes(true)
		if prefix, err = ipam.FreeSubnet(ipam.DefaultPools, used); err != nil {
			return control.Network{}, control.Errorf(control.ErrConflict, "%w (use --subnet)", err)
		}
	}
	var gw netip.Addr
	if req.Gateway != "" {
		if gw, err = netip.ParseAddr(req.Gateway); err != nil {
			return control.Network{}, control.Errorf(control.ErrInvalid, "gateway %q: not an IPv4 address", req.Gateway)
		}
	}
	sub, err := ipam.NewSubnet(prefix, gw)
	if err != nil {
		return control.Network{}, control.Errorf(control.ErrInvalid, "%w", err)
	}
	vid := uint16(req.VLAN)
	switch {
	case req.VLAN < 0 || req.VLAN > header.MaxVID:
		return control.Network{}, control.Errorf(control.ErrInvalid, "vlan %d out of range 1-%d", req.VLAN, header.MaxVID)
	case req.VLAN != 0:
		if o := d.networkByVLAN(vid); o != nil {
			return control.Network{}, control.Errorf(control.ErrConflict, "vlan %d is used by network %q", vid, o.Name)
		}
	default:
		if vid = d.freeVLAN(); vid == 0 {
			return control.Network{}, control.Errorf(control.ErrConflict, "no free vlan")
		}
	}
	id := d.freeNetworkID()
	n := &Network{
		Name: req.Name, ID: id, VLAN: vid, Subnet: prefix.String(), Gateway: sub.Gateway().String(),
		MAC: gatewayMAC(id).String(), Internal: req.Internal, Created: time.Now().UTC().Truncate(time.Second),
	}
	if err := d.addHostRoute(prefix); err != nil {
		return control.Network{}, err
	}
	if err := d.dp.FDB().AddStatic(vid, gatewayMAC(id), datapath.RouterPort); err != nil {
		d.delHostRoute(prefix)
		return control.Network{}, err
	}
	d.state.Networks = append(d.state.Networks, n)
	d.subnets[n.Name] = sub
	d.syncLocked()
	if err := d.saveLocked(); err != nil {
		return control.Network{}, err
	}
	d.log.Info("network created", "network", n.Name, "subnet", n.Subnet, "vlan", n.VLAN)
	return d.describeNetwork(n), nil
}

// gatewayMAC is the MAC of a network's gateway: locally administered,
// derived from the network ID ("vs" in its second and third octets).
func gatewayMAC(id uint16) header.MAC {
	return header.MAC{0x02, 0x76, 0x73, 0x00, byte(id >> 8), byte(id)}
}

// endpointMAC derives an endpoint NIC's MAC from its address, as Docker
// does: a re-created endpoint gets its old MAC back, so peers' caches stay
// right.
func endpointMAC(ip netip.Addr) header.MAC {
	a := ip.As4()
	return header.MAC{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// overlapping names what p overlaps, or returns "".
func (d *Daemon) overlapping(p netip.Prefix) string {
	for _, n := range d.state.Networks {
		if netip.MustParsePrefix(n.Subnet).Overlaps(p) {
			return fmt.Sprintf("network %q (%s)", n.Name, n.Subnet)
		}
	}
	if d.cfg.HostCIDR.Overlaps(p) {
		return fmt.Sprintf("the host leg (%s)", d.cfg.HostCIDR)
	}
	if u := d.state.Uplink; u != nil {
		if up, err := netip.ParsePrefix(u.Address); err == nil && up.Masked().Overlaps(p) {
			return fmt.Sprintf("the uplink (%s)", up.Masked())
		}
	}
	return ""
}

// usedPrefixes returns the networks' subnets and, with routes, the
// prefixes the daemon's namespace routes to (except the default route), so
// automatic subnets avoid the host's own networks.
func (d *Daemon) usedPrefixes(routes bool) []netip.Prefix {
	var used []netip.Prefix
	for _, n := range d.state.Networks {
		used = append(used, netip.MustParsePrefix(n.Subnet))
	}
	used = append(used, d.cfg.HostCIDR)
	if u := d.state.Uplink; u != nil {
		if up, err := netip.ParsePrefix(u.Address); err == nil {
			used = append(used, up.Masked())
		}
	}
	if routes {
		rs, _ := netlink.RouteList(nil, syscall.AF_INET)
		for _, r := range rs {
			if r.Dst == nil {
				continue
			}
			if p, ok := netipPrefix(r.Dst.IP, r.Dst.Mask); ok && p.Bits() > 0 {
				used = append(used, p)
			}
		}
		addrs, _ := netlink.AddrList(nil, syscall.AF_INET)
		for _, a := range addrs {
			if p, ok := netipPrefix(a.IP, a.Mask); ok {
				used = append(used, p.Masked())
			}
		}
	}
	return used
}

func netipPrefix(ip []byte, mask []byte) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	ones := 0
	for _, b := range mask {
		for ; b != 0; b <<= 1 {
			ones++
		}
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func (d *Daemon) networkByVLAN(vid uint16) *Network {
	for _, n := range d.state.Networks {
		if n.VLAN == vid {
			return n
		}
	}
	return nil
}

func (d *Daemon) freeVLAN() uint16 {
	for v := uint16(firstAutoVLAN); v <= header.MaxVID; v++ {
		if d.networkByVLAN(v) == nil {
			return v
		}
	}
	return 0
}

func (d *Daemon) freeNetworkID() uint16 {
	for id := uint16(1); ; id++ {
		taken := false
		for _, n := range d.state.Networks {
			taken = taken || n.ID == id
		}
		if !taken {
			return id
		}
	}
}

// addHostRoute routes p from the daemon's namespace over the host leg.
func (d *Daemon) addHostRoute(p netip.Prefix) error {
	link, err := netlink.LinkByName(d.cfg.HostIf)
	if err != nil {
		return fmt.Errorf("route %s: %w", p, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(p), Gw: d.hostLeg.Addr.AsSlice()}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s via %s: %w", p, d.hostLeg.Addr, err)
	}
	return nil
}

func (d *Daemon) delHostRoute(p netip.Prefix) {
	link, err := netlink.LinkByName(d.cfg.HostIf)
	if err != nil {
		return
	}
	netlink.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(p), Gw: d.hostLeg.Addr.AsSlice()})
}

// RemoveNetwork implements control.Backend.
func (d *Daemon) RemoveNetwork(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.state.network(name)
	if n == nil {
		return control.Errorf(control.ErrNotFound, "network %q not found", name)
	}
	var attached []*Endpoint
	for _, e := range d.state.Endpoints {
		if e.nic(name) != nil {
			attached = append(attached, e)
		}
	}
	if len(attached) > 0 && !force {
		var names []string
		for _, e := range attached {
			names = append(names, e.Name)
		}
		return control.Errorf(control.ErrConflict, "network %q has endpoints (%s): disconnect or remove them, or use --force", name, strings.Join(names, ", "))
	}
	for _, e := range attached {
		if err := d.disconnectLocked(n, e); err != nil {
			return err
		}
	}
	for _, pt := range d.state.Ports {
		if pt.VLAN == n.VLAN && pt.Mode == "access" {
			d.log.Warn("system port stays on the removed network's vlan", "port", pt.Interface, "vlan", n.VLAN)
		}
	}
	d.dp.FDB().Delete(n.VLAN, gatewayMAC(n.ID))
	d.dp.FDB().FlushVLAN(n.VLAN)
	d.delHostRoute(netip.MustParsePrefix(n.Subnet))
	d.state.Networks = slices.DeleteFunc(d.state.Networks, func(x *Network) bool { return x == n })
	delete(d.subnets, name)
	d.dns.RemoveNetwork(name)
	d.syncLocked()
	d.log.Info("network removed", "network", name)
	return d.saveLocked()
}

// Networks implements control.Backend.
func (d *Daemon) Networks() []control.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]control.Network, 0, len(d.state.Networks))
	for _, n := range d.state.Networks {
		out = append(out, d.describeNetwork(n))
	}
	return out
}

// Network implements control.Backend.
func (d *Daemon) Network(name string) (control.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.state.network(name)
	if n == nil {
		return control.Network{}, control.Errorf(control.ErrNotFound, "network %q not found", name)
	}
	return d.describeNetwork(n), nil
}

func (d *Daemon) describeNetwork(n *Network) control.Network {
	out := control.Network{
		Name: n.Name, ID: int(n.ID), VLAN: int(n.VLAN), Subnet: n.Subnet, Gateway: n.Gateway,
		GatewayMAC: n.MAC, Internal: n.Internal, Created: n.Created,
		Endpoints: []control.NetworkEndpoint{}, DNSNames: []control.DNSName{},
	}
	for _, e := range d.state.Endpoints {
		if nic := e.nic(n.Name); nic != nil {
			out.Endpoints = append(out.Endpoints, control.NetworkEndpoint{
				Endpoint: e.Name, Interface: nic.Interface, MAC: nic.MAC, IP: nic.IP, Aliases: nic.Aliases,
			})
		}
	}
	for _, r := range d.dnsRecords(n) {
		out.DNSNames = append(out.DNSNames, control.DNSName{Name: r.Name, IP: r.Addr.String()})
	}
	out.DNSNames = append(out.DNSNames, control.DNSName{Name: dns.HostName, IP: d.hostLeg.HostAddr.String()})
	return out
}

// dnsRecords returns the names network n answers: each endpoint's name,
// NAME.NETWORK and its aliases.
func (d *Daemon) dnsRecords(n *Network) []dns.Record {
	var rs []dns.Record
	for _, e := range d.state.Endpoints {
		nic := e.nic(n.Name)
		if nic == nil || nic.IP == "" {
			continue
		}
		ip := netip.MustParseAddr(nic.IP)
		rs = append(rs, dns.Record{Name: e.Name, Addr: ip}, dns.Record{Name: e.Name + "." + n.Name, Addr: ip})
		for _, a := range nic.Aliases {
			rs = append(rs, dns.Record{Name: a, Addr: ip})
		}
	}
	return rs
}

// scopeOf is the DNS scope of an endpoint's queries.
func scopeOf(endpoint string) string { return "@" + endpoint }

// endpointRecords returns the names an endpoint's queries see: those of
// every network it is attached to, its first network first; a name found
// in several networks answers with its address in the first, as Docker's
// resolver does.
func (d *Daemon) endpointRecords(e *Endpoint) []dns.Record {
	var rs []dns.Record
	seen := map[string]bool{}
	for _, nic := range e.NICs {
		n := d.state.network(nic.Network)
		if n == nil {
			continue
		}
		byName := map[string][]dns.Record{}
		var order []string
		for _, r := range d.dnsRecords(n) {
			if _, ok := byName[r.Name]; !ok {
				order = append(order, r.Name)
			}
			byName[r.Name] = append(byName[r.Name], r)
		}
		for _, name := range order {
			if !seen[name] {
				seen[name] = true
				rs = append(rs, byName[name]...)
			}
		}
	}
	return rs
}

func newSubnet(p netip.Prefix, gateway string) (*ipam.Subnet, error) {
	gw, err := netip.ParseAddr(gateway)
	if err != nil {
		return nil, fmt.Errorf("gateway %q: %w", gateway, err)
	}
	return ipam.NewSubnet(p, gw)
}

// syncLocked pushes the desired state into the router and the DNS server.
// Callers hold mu.
func (d *Daemon) syncLocked() {
	cfg := router.Config{NoARPSuppression: d.cfg.NoARPSuppression}
	hl := d.hostLeg
	cfg.Host = &hl
	for _, n := range d.state.Networks {
		rn := router.Network{
			ID: n.ID, Name: n.Name, VID: n.VLAN, Subnet: netip.MustParsePrefix(n.Subnet),
			Gateway: netip.MustParseAddr(n.Gateway), MAC: gatewayMAC(n.ID), Internal: n.Internal,
		}
		for _, e := range d.state.Endpoints {
			if nic := e.nic(n.Name); nic != nil && nic.IP != "" {
				mac, _ := header.ParseMAC(nic.MAC)
				rn.Endpoints = append(rn.Endpoints, router.Neighbor{IP: netip.MustParseAddr(nic.IP), MAC: mac, Scope: scopeOf(e.Name)})
			}
		}
		cfg.Networks = append(cfg.Networks, rn)
		d.dns.SetNetwork(n.Name, d.dnsRecords(n))
	}
	for _, e := range d.state.Endpoints {
		d.dns.SetNetwork(scopeOf(e.Name), d.endpointRecords(e))
	}
	if u := d.state.Uplink; u != nil && d.uplinkPort != 0 {
		p, _ := netip.ParsePrefix(u.Address)
		gw, _ := netip.ParseAddr(u.Gateway)
		cfg.Uplink = &router.Uplink{Port: d.uplinkPort, MAC: d.uplinkMAC, Addr: p, Gateway: gw}
	}
	for _, e := range d.state.Endpoints {
		for _, spec := range e.Publish {
			ps, err := parsePublish(spec)
			if err != nil {
				continue
			}
			nic, n := d.primaryNIC(e)
			if nic == nil {
				continue
			}
			cfg.Published = append(cfg.Published, ps.routerRule(e.Name, netip.MustParseAddr(nic.IP), n.ID))
		}
	}
	sort.Slice(cfg.Networks, func(i, j int) bool { return cfg.Networks[i].ID < cfg.Networks[j].ID })
	d.rt.Configure(cfg)
}

// primaryNIC returns the NIC published ports go to: the first one with an
// address.
func (d *Daemon) primaryNIC(e *Endpoint) (*NIC, *Network) {
	for _, nic := range e.NICs {
		if nic.IP == "" {
			continue
		}
		if n := d.state.network(nic.Network); n != nil {
			return nic, n
		}
	}
	return nil, nil
}
