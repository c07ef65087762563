package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/tap"
	"github.com/vswitchd/vswitchd/vlan"
)

// epRuntime is what the daemon holds for a live endpoint besides its
// desired state. Guarded by Daemon.mu.
type epRuntime struct {
	ports map[string]datapath.PortID // by interface name
	main  *process                   // the endpoint's command, if any
	execs map[*process]bool          // exec sessions
}

// Run implements control.Backend.
func (d *Daemon) Run(ctx context.Context, r control.Run, stdio *control.IO) (control.Endpoint, int, error) {
	d.mu.Lock()
	e, err := d.createEndpointLocked(r)
	if err != nil {
		d.mu.Unlock()
		return control.Endpoint{}, 0, err
	}
	argv := r.Cmd
	if stdio != nil && len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	var p *process
	if len(argv) > 0 {
		if stdio == nil {
			p, err = d.startDetached(e, argv)
		} else {
			p, err = d.startAttached(e, argv, r.TTY, stdio)
		}
		if err != nil {
			d.removeEndpointLocked(e, true)
			d.saveLocked()
			d.mu.Unlock()
			return control.Endpoint{}, 0, err
		}
		d.eps[e.Name].main = p
		e.PID = p.pid()
		d.saveLocked()
		d.watchMain(e.Name, p)
	}
	desc := d.describeEndpoint(e)
	d.mu.Unlock()
	if stdio == nil {
		return desc, 0, nil
	}
	code := p.wait(ctx)
	return desc, code, nil
}

// watchMain waits for an endpoint's command in the background: it records
// the exit and, for --rm, removes the endpoint.
func (d *Daemon) watchMain(name string, p *process) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-p.done:
		case <-d.closing:
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		e := d.state.endpoint(name)
		if e == nil || d.eps[name] == nil || d.eps[name].main != p {
			return
		}
		e.PID = 0
		if e.Remove {
			if err := d.removeEndpointLocked(e, true); err != nil {
				d.log.Warn("remove endpoint after exit", "endpoint", name, "err", err)
			}
		}
		d.saveLocked()
	}()
}

// createEndpointLocked validates a run request and creates the endpoint:
// namespace, first NIC, /etc/netns files. Nothing is left behind on error.
func (d *Daemon) createEndpointLocked(r control.Run) (*Endpoint, error) {
	if err := netns.ValidateName(r.Name); err != nil {
		return nil, control.Errorf(control.ErrInvalid, "endpoint name: %w", err)
	}
	if d.state.endpoint(r.Name) != nil {
		return nil, control.Errorf(control.ErrConflict, "endpoint %q already exists", r.Name)
	}
	nsName := d.cfg.NetnsPrefix + r.Name
	if err := netns.ValidateName(nsName); err != nil {
		return nil, control.Errorf(control.ErrInvalid, "namespace name: %w", err)
	}
	if netns.Exists(nsName) {
		return nil, control.Errorf(control.ErrConflict, "network namespace %q already exists (not made by this vswitchd)", nsName)
	}
	nic := &NIC{Interface: "eth0", Network: r.Network, Aliases: r.Aliases}
	var n *Network
	if r.Network != "" {
		if n = d.state.network(r.Network); n == nil {
			return nil, control.Errorf(control.ErrNotFound, "network %q not found", r.Network)
		}
	} else if !r.Trunk {
		return nil, control.Errorf(control.ErrInvalid, "run needs --net NETWORK (or --trunk)")
	}
	if r.Trunk {
		set, err := vlan.ParseSet(r.VLANs)
		if err != nil {
			return nil, control.Errorf(control.ErrInvalid, "%w", err)
		}
		nic.Trunk, nic.VLANs = true, set.String()
		switch {
		case r.Native != 0:
			nic.Native = uint16(r.Native)
		case n != nil:
			nic.Native = n.VLAN
		}
		if n != nil && nic.Native != n.VLAN {
			return nil, control.Errorf(control.ErrInvalid, "--native %d differs from network %q's vlan %d: the address would be unreachable", nic.Native, n.Name, n.VLAN)
		}
		if _, err := nicPolicy(nic, 0); err != nil {
			return nil, control.Errorf(control.ErrInvalid, "%w", err)
		}
	} else if r.VLANs != "" || r.Native != 0 {
		return nil, control.Errorf(control.ErrInvalid, "--vlans and --native need --trunk")
	}
	var pubs []publishSpec
	for _, s := range r.Publish {
		ps, err := parsePublish(s)
		if err != nil {
			return nil, control.Errorf(control.ErrInvalid, "%w", err)
		}
		pubs = append(pubs, ps)
	}
	for _, a := range r.Aliases {
		if err := validateAlias(a); err != nil {
			return nil, err
		}
	}
	if len(pubs) > 0 && n == nil {
		return nil, control.Errorf(control.ErrInvalid, "published ports need --net")
	}
	if n != nil {
		ip, err := d.allocIP(n, r.IP)
		if err != nil {
			return nil, err
		}
		nic.IP = ip.String()
		nic.MAC = endpointMAC(ip).String()
	} else {
		if r.IP != "" {
			return nil, control.Errorf(control.ErrInvalid, "--ip needs --net")
		}
		nic.MAC = randomMAC().String()
	}
	e := &Endpoint{
		Name: r.Name, Netns: nsName, Cmd: r.Cmd, Env: r.Env, Remove: r.Remove,
		Created: time.Now().UTC().Truncate(time.Second), NICs: []*NIC{nic},
	}
	for _, ps := range pubs {
		e.Publish = append(e.Publish, ps.String())
	}
	release := func() {
		if n != nil {
			d.subnets[n.Name].Release(netip.MustParseAddr(nic.IP))
		}
	}
	for _, ps := range pubs {
		if err := d.publishProxy(e, ps, netip.MustParseAddr(nic.IP)); err != nil {
			d.unpublishProxy(e)
			release()
			return nil, err
		}
	}
	if err := netns.Create(nsName); err != nil {
		d.unpublishProxy(e)
		release()
		return nil, fmt.Errorf("endpoint %q: %w", r.Name, err)
	}
	d.eps[e.Name] = &epRuntime{ports: map[string]datapath.PortID{}, execs: map[*process]bool{}}
	d.state.Endpoints = append(d.state.Endpoints, e)
	fail := func(err error) (*Endpoint, error) {
		d.removeEndpointLocked(e, true)
		return nil, fmt.Errorf("endpoint %q: %w", r.Name, err)
	}
	if err := d.prepareNamespace(e); err != nil {
		return fail(err)
	}
	if err := d.attachNIC(e, nic, true); err != nil {
		return fail(err)
	}
	if err := d.writeEtc(e); err != nil {
		return fail(err)
	}
	d.syncLocked()
	if err := d.saveLocked(); err != nil {
		return fail(err)
	}
	d.log.Info("endpoint created", "endpoint", e.Name, "netns", nsName, "ip", nic.IP)
	return e, nil
}

func validateAlias(a string) error {
	if err := netns.ValidateName(a); err != nil || strings.HasPrefix(a, "@") {
		return control.Errorf(control.ErrInvalid, "alias %q: use letters, digits, '_', '.' and '-'", a)
	}
	return nil
}

func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&^1 | 2
	return m
}

// allocIP reserves want (or, if empty, the next free address) in n.
func (d *Daemon) allocIP(n *Network, want string) (netip.Addr, error) {
	sub := d.subnets[n.Name]
	if want == "" {
		ip, err := sub.Allocate()
		if err != nil {
			return netip.Addr{}, control.Errorf(control.ErrConflict, "network %q: %w", n.Name, err)
		}
		return ip, nil
	}
	ip, err := netip.ParseAddr(want)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, control.Errorf(control.ErrInvalid, "--ip %q: not an IPv4 address", want)
	}
	if err := sub.Reserve(ip); err != nil {
		kind := control.ErrInvalid
		if sub.Prefix().Contains(ip) && ip != sub.Gateway() {
			kind = control.ErrConflict
		}
		return netip.Addr{}, control.Errorf(kind, "network %q: %w", n.Name, err)
	}
	return ip, nil
}

// prepareNamespace configures a new endpoint namespace: loopback up, IPv6
// off (vswitchd networks are IPv4; no stray router solicitations).
func (d *Daemon) prepareNamespace(e *Endpoint) error {
	h, err := netns.Open(e.Netns)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := netns.Sysctl(h, k, "1"); err != nil {
			d.log.Debug("sysctl", "err", err)
		}
	}
	nh, err := netns.HandleAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	return nh.LinkSetUp(lo)
}

// nicPolicy returns the VLAN policy of a NIC's port.
func nicPolicy(nic *NIC, vid uint16) (vlan.Policy, error) {
	if !nic.Trunk {
		return vlan.Policy{Mode: vlan.Access, VID: vid}, nil
	}
	set, err := vlan.ParseSet(nic.VLANs)
	if err != nil {
		return vlan.Policy{}, err
	}
	p := vlan.Policy{Mode: vlan.Trunk, Trunks: set}
	if nic.Native != 0 {
		p.Mode, p.VID = vlan.NativeUntagged, nic.Native
	}
	return p, p.Validate()
}

// attachNIC plugs a NIC into the switch. With create, it makes a TAP in the
// daemon's namespace, moves it into the endpoint and names, addresses and
// raises it there; otherwise it re-adopts the persistent TAP already inside
// (after a restart).
func (d *Daemon) attachNIC(e *Endpoint, nic *NIC, create bool) error {
	h, err := netns.Open(e.Netns)
	if err != nil {
		return err
	}
	defer h.Close()
	var dev *tap.Device
	if create {
		if dev, err = d.createNIC(h, e, nic); err != nil {
			return err
		}
	} else {
		err = netns.Do(h, func() error {
			var err error
			dev, err = tap.Open(nic.Interface)
			return err
		})
		if err != nil {
			return fmt.Errorf("re-adopt %s: %w", nic.Interface, err)
		}
	}
	cfg := datapath.PortConfig{Name: e.Name + "/" + nic.Interface, Kind: datapath.KindTap, Endpoint: e.Name}
	var vid uint16
	n := d.state.network(nic.Network)
	if n != nil {
		vid = n.VLAN
	}
	if cfg.VLAN, err = nicPolicy(nic, vid); err != nil {
		dev.Close()
		return err
	}
	mac, _ := header.ParseMAC(nic.MAC)
	if !nic.Trunk && nic.IP != "" {
		cfg.Guard = &datapath.Guard{MAC: mac, IPs: []netip.Addr{netip.MustParseAddr(nic.IP)}}
	}
	id, err := d.dp.AddPort(dev, cfg)
	if err != nil {
		dev.Close()
		return err
	}
	d.eps[e.Name].ports[nic.Interface] = id
	if n != nil && nic.IP != "" {
		// Announce the endpoint, so peers' caches are right at once
		// (RFC 5227 §3).
		var b [arp.FrameLen]byte
		l := arp.Gratuitous(b[:], mac, netip.MustParseAddr(nic.IP))
		d.dp.Inject(b[:l], router.Target{VID: n.VLAN})
	}
	return nil
}

// createNIC makes the TAP and configures it inside the endpoint.
func (d *Daemon) createNIC(h netns.Handle, e *Endpoint, nic *NIC) (*tap.Device, error) {
	var rnd [4]byte
	rand.Read(rnd[:])
	tmpName := "vt" + hex.EncodeToString(rnd[:])
	dev, err := tap.Create(tap.Options{Name: tmpName, Persist: true})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*tap.Device, error) {
		dev.Close()
		// Persistent: delete it wherever it ended up.
		if l, lerr := netlink.LinkByName(tmpName); lerr == nil {
			netlink.LinkDel(l)
		}
		d.deleteLinkIn(h, tmpName)
		d.deleteLinkIn(h, nic.Interface)
		return nil, err
	}
	link, err := netlink.LinkByName(tmpName)
	if err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetNsFd(link, int(h)); err != nil {
		return fail(fmt.Errorf("move %s into %s: %w", tmpName, e.Netns, err))
	}
	nh, err := netns.HandleAt(h)
	if err != nil {
		return fail(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(tmpName)
	if err != nil {
		return fail(err)
	}
	if err := nh.LinkSetName(l, nic.Interface); err != nil {
		return fail(fmt.Errorf("rename %s to %s: %w", tmpName, nic.Interface, err))
	}
	mac, _ := header.ParseMAC(nic.MAC)
	if err := nh.LinkSetHardwareAddr(l, mac.HardwareAddr()); err != nil {
		return fail(fmt.Errorf("set MAC of %s: %w", nic.Interface, err))
	}
	var n *Network
	if nic.IP != "" {
		n = d.state.network(nic.Network)
		p := netip.MustParsePrefix(n.Subnet)
		a := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(netip.MustParseAddr(nic.IP), p.Bits()))}
		if err := nh.AddrAdd(l, a); err != nil {
			return fail(fmt.Errorf("add %s to %s: %w", a, nic.Interface, err))
		}
	}
	if err := nh.LinkSetUp(l); err != nil {
		return fail(fmt.Errorf("set %s up: %w", nic.Interface, err))
	}
	if n != nil && e.NICs[0] == nic {
		gw := netip.MustParseAddr(n.Gateway)
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice(), Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
		if err := nh.RouteReplace(r); err != nil {
			return fail(fmt.Errorf("default route via %s: %w", gw, err))
		}
	}
	return dev, nil
}

// defaultRoute points the endpoint's default route at the gateway of its
// first NIC with an address, which also becomes its first NIC.
func (d *Daemon) defaultRoute(e *Endpoint) error {
	nic, n := d.primaryNIC(e)
	if nic == nil {
		return nil
	}
	i := slices.Index(e.NICs, nic)
	e.NICs[0], e.NICs[i] = e.NICs[i], e.NICs[0]
	h, err := netns.Open(e.Netns)
	if err != nil {
		return err
	}
	defer h.Close()
	nh, err := netns.HandleAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	l, err := nh.LinkByName(nic.Interface)
	if err != nil {
		return err
	}
	gw := netip.MustParseAddr(n.Gateway)
	return nh.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice(), Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}})
}

// deleteLinkIn deletes the link named name inside the namespace h, if any.
func (d *Daemon) deleteLinkIn(h netns.Handle, name string) {
	nh, err := netns.HandleAt(h)
	if err != nil {
		return
	}
	defer nh.Close()
	if l, err := nh.LinkByName(name); err == nil {
		nh.LinkDel(l)
	}
}

// detachNIC unplugs a NIC and deletes its TAP.
func (d *Daemon) detachNIC(e *Endpoint, nic *NIC) {
	rt := d.eps[e.Name]
	if id, ok := rt.ports[nic.Interface]; ok {
		d.dp.RemovePort(id)
		delete(rt.ports, nic.Interface)
	}
	if h, err := netns.Open(e.Netns); err == nil {
		d.deleteLinkIn(h, nic.Interface)
		h.Close()
	}
	if nic.IP != "" {
		if sub := d.subnets[nic.Network]; sub != nil {
			sub.Release(netip.MustParseAddr(nic.IP))
		}
	}
}

// writeEtc writes the endpoint's resolv.conf (the first network's gateway)
// and hosts.
func (d *Daemon) writeEtc(e *Endpoint) error {
	var resolv, hosts strings.Builder
	resolv.WriteString("# written by vswitchd: the switch answers DNS at the gateway\n")
	if nic, n := d.primaryNIC(e); nic != nil {
		fmt.Fprintf(&resolv, "nameserver %s\noptions ndots:0\n", n.Gateway)
	}
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, nic := range e.NICs {
		if nic.IP != "" {
			fmt.Fprintf(&hosts, "%s\t%s\n", nic.IP, e.Name)
		}
	}
	if err := netns.WriteEtc(e.Netns, "resolv.conf", []byte(resolv.String())); err != nil {
		return err
	}
	return netns.WriteEtc(e.Netns, "hosts", []byte(hosts.String()))
}

// RemoveEndpoint implements control.Backend.
func (d *Daemon) RemoveEndpoint(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.state.endpoint(name)
	if e == nil {
		return control.Errorf(control.ErrNotFound, "endpoint %q not found", name)
	}
	if rt := d.eps[name]; !force && rt != nil && rt.main != nil && rt.main.running() {
		return control.Errorf(control.ErrConflict, "endpoint %q is running %q: use rm -f to stop and remove it", name, strings.Join(e.Cmd, " "))
	}
	err := d.removeEndpointLocked(e, true)
	if serr := d.saveLocked(); err == nil {
		err = serr
	}
	return err
}

// removeEndpointLocked stops an endpoint's processes and removes its NICs,
// namespace and files, and its place in the state (the caller saves).
func (d *Daemon) removeEndpointLocked(e *Endpoint, stop bool) error {
	var errs []error
	if stop {
		d.stopProcesses(e)
	}
	if d.eps[e.Name] != nil {
		for _, nic := range e.NICs {
			d.detachNIC(e, nic)
		}
	}
	d.unpublishProxy(e)
	if err := netns.Delete(e.Netns); err != nil {
		errs = append(errs, err)
	}
	removeLog(d.cfg.StateDir, e.Name)
	delete(d.eps, e.Name)
	d.state.Endpoints = slices.DeleteFunc(d.state.Endpoints, func(x *Endpoint) bool { return x == e })
	d.dns.RemoveNetwork(scopeOf(e.Name))
	d.syncLocked()
	d.log.Info("endpoint removed", "endpoint", e.Name)
	return errors.Join(errs...)
}

// detachEndpoint lets go of an endpoint without touching the kernel (Keep):
// its ports are closed, its persistent TAPs and namespace stay.
func (d *Daemon) detachEndpoint(e *Endpoint) {
	if rt := d.eps[e.Name]; rt != nil {
		for ifname, id := range rt.ports {
			d.dp.RemovePort(id)
			delete(rt.ports, ifname)
		}
	}
}

// Endpoints implements control.Backend.
func (d *Daemon) Endpoints() []control.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]control.Endpoint, 0, len(d.state.Endpoints))
	for _, e := range d.state.Endpoints {
		out = append(out, d.describeEndpoint(e))
	}
	return out
}

// Endpoint implements control.Backend.
func (d *Daemon) Endpoint(name string) (control.Endpoint, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.state.endpoint(name)
	if e == nil {
		return control.Endpoint{}, control.Errorf(control.ErrNotFound, "endpoint %q not found", name)
	}
	return d.describeEndpoint(e), nil
}

func (d *Daemon) describeEndpoint(e *Endpoint) control.Endpoint {
	out := control.Endpoint{
		Name: e.Name, Netns: e.Netns, Cmd: e.Cmd, Published: e.Publish, Created: e.Created, Status: "up",
		NICs: []control.NIC{},
	}
	for _, nic := range e.NICs {
		c := control.NIC{Interface: nic.Interface, Network: nic.Network, MAC: nic.MAC, IP: nic.IP, Aliases: nic.Aliases,
			Port: e.Name + "/" + nic.Interface, Mode: "access"}
		if nic.Trunk {
			c.Mode, c.VLANs = "trunk", nic.VLANs
			if nic.Native != 0 {
				c.Mode = fmt.Sprintf("native-untagged (native %d)", nic.Native)
			}
		}
		out.NICs = append(out.NICs, c)
	}
	if rt := d.eps[e.Name]; rt != nil && rt.main != nil {
		if rt.main.running() {
			out.Status, out.PID = "running", rt.main.pid()
		} else {
			code := rt.main.exitCode()
			out.Status, out.ExitCode = fmt.Sprintf("exited (%d)", code), &code
		}
	}
	return out
}

// Connect implements control.Backend: a new NIC (eth1, …) on the network,
// live, with its address and DNS names. The default route stays on the
// first network.
func (d *Daemon) Connect(network string, c control.Connect) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, e, err := d.networkAndEndpoint(network, c.Endpoint)
	if err != nil {
		return err
	}
	if e.nic(network) != nil {
		return control.Errorf(control.ErrConflict, "endpoint %q is already connected to network %q", e.Name, network)
	}
	for _, a := range c.Aliases {
		if err := validateAlias(a); err != nil {
			return err
		}
	}
	ip, err := d.allocIP(n, c.IP)
	if err != nil {
		return err
	}
	nic := &NIC{Interface: nextIfName(e), Network: network, IP: ip.String(), MAC: endpointMAC(ip).String(), Aliases: c.Aliases}
	e.NICs = append(e.NICs, nic)
	if err := d.attachNIC(e, nic, true); err != nil {
		e.NICs = e.NICs[:len(e.NICs)-1]
		d.subnets[network].Release(ip)
		return err
	}
	if err := d.writeEtc(e); err != nil {
		d.log.Warn("write /etc files", "endpoint", e.Name, "err", err)
	}
	d.syncLocked()
	d.log.Info("endpoint connected", "endpoint", e.Name, "network", network, "ip", ip)
	return d.saveLocked()
}

// networkAndEndpoint looks both up by name.
func (d *Daemon) networkAndEndpoint(network, endpoint string) (*Network, *Endpoint, error) {
	n := d.state.network(network)
	if n == nil {
		return nil, nil, control.Errorf(control.ErrNotFound, "network %q not found", network)
	}
	e := d.state.endpoint(endpoint)
	if e == nil {
		return nil, nil, control.Errorf(control.ErrNotFound, "endpoint %q not found", endpoint)
	}
	return n, e, nil
}

func nextIfName(e *Endpoint) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(e.NICs, func(n *NIC) bool { return n.Interface == name }) {
			return name
		}
	}
}

// Disconnect implements control.Backend.
func (d *Daemon) Disconnect(network string, c control.Disconnect) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, e, err := d.networkAndEndpoint(network, c.Endpoint)
	if err != nil {
		return err
	}
	if e.nic(network) == nil {
		return control.Errorf(control.ErrNotFound, "endpoint %q is not connected to network %q", e.Name, network)
	}
	if err := d.disconnectLocked(n, e); err != nil {
		return err
	}
	return d.saveLocked()
}

func (d *Daemon) disconnectLocked(n *Network, e *Endpoint) error {
	nic := e.nic(n.Name)
	hadDefault := e.NICs[0] == nic
	d.detachNIC(e, nic)
	e.NICs = slices.DeleteFunc(e.NICs, func(x *NIC) bool { return x == nic })
	if hadDefault {
		// The default route left with the NIC: the next network with an
		// address takes it, as Docker does.
		if err := d.defaultRoute(e); err != nil {
			d.log.Warn("move default route", "endpoint", e.Name, "err", err)
		}
	}
	if err := d.writeEtc(e); err != nil {
		d.log.Warn("write /etc files", "endpoint", e.Name, "err", err)
	}
	d.syncLocked()
	d.log.Info("endpoint disconnected", "endpoint", e.Name, "network", n.Name)
	return nil
}

// restore rebuilds the switch from the loaded state: networks (subnets,
// routes, gateway MACs), system ports, and endpoints, re-adopting a
// namespace and its persistent TAPs when they survived, re-creating them
// otherwise. Processes are not re-adopted: a command that survived keeps
// running in its namespace, and `rm` ends it.
func (d *Daemon) restore() error {
	for _, n := range d.state.Networks {
		p := netip.MustParsePrefix(n.Subnet)
		sub, err := newSubnet(p, n.Gateway)
		if err != nil {
			return err
		}
		d.subnets[n.Name] = sub
		if err := d.addHostRoute(p); err != nil {
			return err
		}
		if err := d.dp.FDB().AddStatic(n.VLAN, gatewayMAC(n.ID), datapath.RouterPort); err != nil {
			return err
		}
	}
	for _, pt := range d.state.Ports {
		if err := d.attachSysPort(pt); err != nil {
			d.log.Warn("system port not restored", "port", pt.Interface, "err", err)
		}
	}
	if u := d.state.Uplink; u != nil && d.cfg.Uplink == nil {
		up := control.Uplink{Interface: u.Interface, Address: u.Address, Gateway: u.Gateway}
		if _, err := d.setUplinkLocked(up); err != nil {
			d.log.Warn("uplink not restored", "interface", u.Interface, "err", err)
			d.state.Uplink = nil
		}
	}
	for _, e := range d.state.Endpoints {
		d.eps[e.Name] = &epRuntime{ports: map[string]datapath.PortID{}, execs: map[*process]bool{}}
		for _, nic := range e.NICs {
			if nic.IP != "" {
				d.subnets[nic.Network].Reserve(netip.MustParseAddr(nic.IP))
			}
		}
		fresh := !netns.Exists(e.Netns)
		if fresh {
			if err := netns.Create(e.Netns); err != nil {
				return fmt.Errorf("restore endpoint %q: %w", e.Name, err)
			}
			if err := d.prepareNamespace(e); err != nil {
				return fmt.Errorf("restore endpoint %q: %w", e.Name, err)
			}
		}
		for _, nic := range e.NICs {
			if err := d.attachNIC(e, nic, fresh || !d.linkExists(e, nic.Interface)); err != nil {
				return fmt.Errorf("restore endpoint %q: %w", e.Name, err)
			}
		}
		if err := d.writeEtc(e); err != nil {
			return err
		}
		for _, s := range e.Publish {
			if ps, err := parsePublish(s); err == nil {
				if nic, _ := d.primaryNIC(e); nic != nil {
					if err := d.publishProxy(e, ps, netip.MustParseAddr(nic.IP)); err != nil {
						d.log.Warn("published port not restored", "endpoint", e.Name, "spec", s, "err", err)
					}
				}
			}
		}
		d.log.Info("endpoint restored", "endpoint", e.Name, "re-adopted", !fresh)
	}
	d.syncLocked()
	return nil
}

func (d *Daemon) linkExists(e *Endpoint, ifname string) bool {
	h, err := netns.Open(e.Netns)
	if err != nil {
		return false
	}
	defer h.Close()
	nh, err := netns.HandleAt(h)
	if err != nil {
		return false
	}
	defer nh.Close()
	_, err = nh.LinkByName(ifname)
	return err == nil
}
