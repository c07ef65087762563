package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// hostNS returns the namespace of e.
func hostNS(e *state.Endpoint) host.NS {
	if e.Owned() {
		return host.Named(e.Netns)
	}
	return host.AtPath(e.NetnsPath)
}

// netnsPath is the path of e's namespace file.
func netnsPath(e *state.Endpoint) string {
	if e.Owned() {
		return netns.Path(e.Netns)
	}
	return e.NetnsPath
}

// procNS is how the supervisor names e's namespace: its name, or its path.
func procNS(e *state.Endpoint) string {
	if e.Owned() {
		return e.Netns
	}
	return e.NetnsPath
}

// createEndpoint makes an endpoint as spec says: namespace, first NIC,
// /etc/netns files, published ports. The intent is saved first, and a
// failure at any step leaves nothing behind. Callers hold mu.
func (d *Daemon) createEndpoint(spec state.EndpointSpec) (*state.Endpoint, error) {
	spec.Avoid = append(spec.Avoid, d.remoteAddrs(spec.Network)...)
	e, err := d.st.NewEndpoint(spec, now())
	if err != nil {
		return nil, err
	}
	ns := hostNS(e)
	if e.Owned() && d.host.NamespaceExists(ns) {
		return nil, state.Errorf(state.ErrConflict, "network namespace %q already exists (not made by this vswitchd)", e.Netns)
	}
	if !e.Owned() {
		if !d.host.NamespaceExists(ns) {
			return nil, state.Errorf(state.ErrInvalid, "network namespace %s does not exist", e.NetnsPath)
		}
		if d.ownNS != 0 {
			if id, err := d.host.NamespaceID(ns); err == nil && id == d.ownNS {
				return nil, state.Errorf(state.ErrInvalid, "network namespace %s is vswitchd's own: endpoints live in namespaces of their own", e.NetnsPath)
			}
		}
		if d.host.NICExists(ns, e.NICs[0].Interface) {
			return nil, state.Errorf(state.ErrConflict, "interface %s already exists in %s", e.NICs[0].Interface, e.NetnsPath)
		}
	}
	var u undo
	fail := func(err error) (*state.Endpoint, error) {
		u.run()
		if serr := d.save(d.st); serr != nil {
			d.log.Warn("forget a failed endpoint in the state", "endpoint", e.Name, "err", serr)
		}
		return nil, fmt.Errorf("endpoint %q: %w", e.Name, err)
	}
	// Published ports first: binding their listeners is how a host port
	// in use is found, and how a free one is chosen for a spec without.
	nic, _ := d.st.Primary(e)
	for i, p := range e.Publish {
		bound, err := d.openPublish(e, p, nic.IP, e.Publish[:i])
		if err != nil {
			u.run()
			return nil, err
		}
		e.Publish[i] = bound
		u.push(func() { d.closePublish(e, bound, nic.IP) })
	}
	// Write the intent, so a crash from here on is rolled back at start.
	e.Phase = state.Creating
	intent := d.st.Clone()
	intent.Endpoints = append(intent.Endpoints, e.Clone())
	if err := d.save(intent); err != nil {
		u.run()
		return nil, err
	}
	first := e.NICs[0]
	n := d.st.Network(first.Network)
	if e.Owned() {
		if err := d.host.CreateNamespace(e.Netns); err != nil {
			return fail(err)
		}
		u.push(func() { d.host.DeleteNamespace(e.Netns) })
	}
	// Which namespace this is, so a restart or cleanup never acts on
	// another that takes its name or path later.
	id, err := d.host.NamespaceID(ns)
	if err != nil {
		return fail(err)
	}
	e.NetnsID = id
	if err := d.attachNIC(e, first, n, true, &u); err != nil {
		return fail(err)
	}
	if e.Owned() {
		if err := d.host.WriteEtc(e.Netns, d.filesWith(e)); err != nil {
			return fail(err)
		}
		u.push(func() { d.host.RemoveEtc(e.Netns) })
	}
	e.Phase = ""
	next := d.st.Clone()
	next.Endpoints = append(next.Endpoints, e)
	if err := d.commit(next); err != nil {
		return fail(err)
	}
	d.announce(first, n)
	d.log.Info("endpoint created", "endpoint", e.Name, "netns", procNS(e), "ip", first.IP)
	return e, nil
}

// filesWith returns e's /etc/netns files as they are with e in the state.
func (d *Daemon) filesWith(e *state.Endpoint) map[string][]byte {
	s := d.st.Clone()
	s.RemoveEndpoint(e.Name)
	s.Endpoints = append(s.Endpoints, e)
	return s.Files(e, d.hostLeg.HostAddr)
}

// attachNIC plugs nic of e (on network n, or none) into the switch. With
// create it makes the TAP inside e's namespace (with the default route if
// nic is e's first); otherwise it re-adopts the persistent TAP already
// there. Undo steps are pushed on u.
func (d *Daemon) attachNIC(e *state.Endpoint, nic *state.NIC, n *state.Network, create bool, u *undo) error {
	ns := hostNS(e)
	var dev port.Port
	var err error
	if create {
		cfg := host.NICConfig{Name: nic.Interface, MAC: nic.MAC, MTU: nic.MTU}
		if cfg.MTU == 0 && n != nil {
			cfg.MTU = n.MTU // an overlay network's 1450, or --mtu
		}
		if n != nil && nic.IP.IsValid() {
			cfg.Addr = netip.PrefixFrom(nic.IP, n.Subnet.Bits())
			if e.NICs[0] == nic {
				cfg.Gateway = n.Gateway
			}
		}
		if dev, err = d.host.CreateNIC(ns, cfg); err != nil {
			return err
		}
		u.push(func() { d.host.DeleteNIC(ns, nic.Interface) })
	} else if dev, err = d.host.OpenNIC(ns, nic.Interface); err != nil {
		return err
	}
	if w, err := withImpairment(dev, nic.Impair); err != nil {
		dev.Close()
		return err
	} else {
		dev = w
	}
	pcfg := datapath.PortConfig{Name: e.PortName(nic), Kind: datapath.KindTap, Endpoint: e.Name}
	pol, err := nicPolicy(nic, n)
	if err != nil {
		dev.Close()
		return err
	}
	pcfg.VLAN, pcfg.Isolated = pol.VLAN, pol.Isolated
	if pol.Guard {
		pcfg.Guard = &datapath.Guard{MAC: nic.MAC, IPs: []netip.Addr{nic.IP}}
	}
	id, err := d.dp.AddPort(dev, pcfg)
	if err != nil {
		dev.Close()
		return err
	}
	if d.nics[e.Name] == nil {
		d.nics[e.Name] = map[string]port.ID{}
	}
	d.nics[e.Name][nic.Interface] = id
	u.push(func() { d.detachPort(e.Name, nic.Interface) })
	return nil
}

// nicPolicy is state.NICPolicy for a NIC on n (or none).
func nicPolicy(nic *state.NIC, n *state.Network) (state.PortPolicy, error) {
	s := state.New("")
	if n != nil {
		s.Networks = []*state.Network{n}
	}
	return s.NICPolicy(nic)
}

// announce sends a gratuitous ARP for a new NIC, so peers' caches are
// right at once (RFC 5227 §3).
func (d *Daemon) announce(nic *state.NIC, n *state.Network) {
	if n == nil || !nic.IP.IsValid() {
		return
	}
	var b [arp.FrameLen]byte
	l := arp.Gratuitous(b[:], nic.MAC, nic.IP)
	d.dp.Inject(b[:l], router.Target{VID: n.VLAN})
}

// detachPort removes an endpoint NIC's port from the datapath.
func (d *Daemon) detachPort(endpoint, ifname string) {
	if id, ok := d.nics[endpoint][ifname]; ok {
		if err := d.dp.RemovePort(id); err != nil {
			d.log.Warn("remove port", "endpoint", endpoint, "interface", ifname, "err", err)
		}
		delete(d.nics[endpoint], ifname)
	}
}

// RemoveEndpoint stops an endpoint's processes and removes it. A running
// command needs force.
func (d *Daemon) RemoveEndpoint(name string, force bool) error {
	d.mu.Lock()
	e := d.st.Endpoint(name)
	if e == nil {
		d.mu.Unlock()
		return state.Errorf(state.ErrNotFound, "endpoint %q not found", name)
	}
	if d.busy[name] {
		d.mu.Unlock()
		return state.Errorf(state.ErrConflict, "endpoint %q is being removed", name)
	}
	if p := d.sup.Main(name); !force && (p != nil && p.Running() || d.restartPending(name)) && e.Phase != state.Removing {
		d.mu.Unlock()
		return state.Errorf(state.ErrConflict, "endpoint %q is running %q: use rm -f to stop and remove it", name, strings.Join(e.Cmd, " "))
	}
	d.busy[name] = true
	d.cancelRestart(name)
	ns := procNS(e)
	d.mu.Unlock()

	// Slow: up to StopGrace, without the lock.
	d.sup.Stop(name, ns, supervisor.StopGrace)

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, name)
	if e = d.st.Endpoint(name); e == nil {
		return nil
	}
	return d.removeEndpoint(e)
}

// removeEndpoint removes a stopped endpoint: the intent is saved, then its
// NICs, published ports, namespace (if vswitchd owns it) and files go, then
// the state without it. If the host refuses a step, the endpoint stays in
// the state marked as being removed, so `rm` again (or the next start)
// finishes the job. Callers hold mu.
func (d *Daemon) removeEndpoint(e *state.Endpoint) error {
	if e.Phase != state.Removing {
		intent := d.st.Clone()
		intent.Endpoint(e.Name).Phase = state.Removing
		if err := d.save(intent); err != nil {
			return err
		}
		d.st = intent
		e = intent.Endpoint(e.Name)
	}
	if err := d.dismantle(e); err != nil {
		return fmt.Errorf("remove endpoint %q (rm again to finish): %w", e.Name, err)
	}
	next := d.st.Clone()
	next.RemoveEndpoint(e.Name)
	if err := d.commit(next); err != nil {
		return fmt.Errorf("remove endpoint %q (rm again to finish): %w", e.Name, err)
	}
	d.log.Info("endpoint removed", "endpoint", e.Name)
	return nil
}

// dismantle removes what the host has of e: its ports, NICs, published
// ports' listeners, namespace and files, and its logs. Each step is
// idempotent, so a removal interrupted half-way can be done again.
func (d *Daemon) dismantle(e *state.Endpoint) error {
	var errs []error
	ns := hostNS(e)
	check, cerr := checkNS(d.host, e)
	if check == nsForeign {
		// Not the namespace vswitchd made: leave it (and what is in
		// it) alone, and forget the endpoint.
		d.log.Warn("leaving a namespace vswitchd did not make", "endpoint", e.Name, "err", cerr)
	}
	gone := check != nsOurs // deleted (the runtime's, or by hand), or not ours: no NIC to delete
	for _, nic := range e.NICs {
		d.detachPort(e.Name, nic.Interface)
		if !e.Owned() && !gone {
			// Only what vswitchd made: the NIC, never the namespace.
			if err := d.host.DeleteNIC(ns, nic.Interface); err != nil && d.host.NICExists(ns, nic.Interface) {
				errs = append(errs, err)
			}
		}
	}
	delete(d.nics, e.Name)
	if nic, _ := d.st.Primary(e); nic != nil {
		for _, p := range e.Publish {
			d.closePublish(e, p, nic.IP)
		}
	}
	if e.Owned() {
		if check == nsOurs {
			if err := d.host.DeleteNamespace(e.Netns); err != nil {
				errs = append(errs, err)
			}
		}
		if err := d.host.RemoveEtc(e.Netns); err != nil {
			errs = append(errs, err)
		}
	}
	d.sup.Forget(e.Name)
	return errors.Join(errs...)
}

// Endpoints lists the endpoints.
func (d *Daemon) Endpoints() []EndpointInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]EndpointInfo, 0, len(d.st.Endpoints))
	for _, e := range d.st.Endpoints {
		out = append(out, d.describeEndpoint(e))
	}
	return out
}

// Endpoint describes one endpoint.
func (d *Daemon) Endpoint(name string) (EndpointInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.st.Endpoint(name)
	if e == nil {
		return EndpointInfo{}, state.Errorf(state.ErrNotFound, "endpoint %q not found", name)
	}
	return d.describeEndpoint(e), nil
}

// Connect adds a NIC (eth1, …) on network to a running endpoint, live, with
// its address and DNS names. The default route stays on the first network.
func (d *Daemon) Connect(network string, spec state.ConnectSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.endpointForChange(spec.Endpoint)
	if err != nil {
		return err
	}
	spec.Avoid = append(spec.Avoid, d.remoteAddrs(network)...)
	nic, err := d.st.NewNIC(e, network, spec)
	if err != nil {
		return err
	}
	n := d.st.Network(network)
	next := d.st.Clone()
	ne := next.Endpoint(e.Name)
	ne.NICs = append(ne.NICs, nic)
	var u undo
	if err := d.attachNIC(ne, nic, n, true, &u); err != nil {
		u.run()
		return err
	}
	if ne.Owned() {
		if err := d.host.WriteEtc(ne.Netns, next.Files(ne, d.hostLeg.HostAddr)); err != nil {
			u.run()
			return err
		}
	}
	d.republish(d.st, e, next, ne)
	if err := d.commit(next); err != nil {
		u.run()
		if e.Owned() {
			d.host.WriteEtc(e.Netns, d.st.Files(e, d.hostLeg.HostAddr))
		}
		d.republish(next, ne, d.st, e)
		return err
	}
	d.announce(nic, n)
	d.log.Info("endpoint connected", "endpoint", e.Name, "network", network, "ip", nic.IP)
	return nil
}

// endpointForChange looks an endpoint up for a change: it must exist and
// not be being removed. Callers hold mu.
func (d *Daemon) endpointForChange(name string) (*state.Endpoint, error) {
	e := d.st.Endpoint(name)
	if e == nil {
		return nil, state.Errorf(state.ErrNotFound, "endpoint %q not found", name)
	}
	if d.busy[name] || e.Phase != "" {
		return nil, state.Errorf(state.ErrConflict, "endpoint %q is being removed", name)
	}
	return e, nil
}

// Disconnect removes an endpoint's NIC on network, its address and names.
func (d *Daemon) Disconnect(network, endpoint string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.Network(network) == nil {
		return state.Errorf(state.ErrNotFound, "network %q not found", network)
	}
	e, err := d.endpointForChange(endpoint)
	if err != nil {
		return err
	}
	if e.NIC(network) == nil {
		return state.Errorf(state.ErrNotFound, "endpoint %q is not connected to network %q", e.Name, network)
	}
	if len(e.NICs) == 1 {
		// It would be left with loopback alone: unreachable, and with
		// nothing to publish to. Docker allows it; here it is a mistake.
		return state.Errorf(state.ErrConflict, "network %q is endpoint %q's only network: connect it to another first, or rm it", network, e.Name)
	}
	next := d.st.Clone()
	if err := d.disconnect(next, next.Endpoint(e.Name), network); err != nil {
		return err
	}
	if err := d.commit(next); err != nil {
		d.reconnect(e, network)
		return err
	}
	return nil
}

// reconnect puts back e's NIC on network after a disconnect whose state
// could not be saved, so the host matches the state again. Callers hold
// mu.
func (d *Daemon) reconnect(e *state.Endpoint, network string) {
	nic, n := e.NIC(network), d.st.Network(network)
	var u undo
	if err := d.attachNIC(e, nic, n, true, &u); err != nil {
		d.log.Error("restore a NIC after a failed save", "endpoint", e.Name, "network", network, "err", err)
		return
	}
	if p, pn := d.st.Primary(e); p != nil {
		d.host.SetDefaultRoute(hostNS(e), p.Interface, pn.Gateway)
	}
	if e.Owned() {
		d.host.WriteEtc(e.Netns, d.st.Files(e, d.hostLeg.HostAddr))
	}
	if cur := d.st.Endpoint(e.Name); cur != nil {
		without := cur.Clone()
		without.NICs = slices.DeleteFunc(without.NICs, func(x *state.NIC) bool { return x.Network == network })
		d.republish(d.st, without, d.st, cur)
	}
}

// republish moves the host listeners of e's published ports from where
// they pointed in before (e's primary address in state s1) to where they
// point in after (in s2): a published port follows the endpoint's first
// network. Callers hold mu.
func (d *Daemon) republish(s1 *state.State, before *state.Endpoint, s2 *state.State, after *state.Endpoint) {
	rules := func(s *state.State, e *state.Endpoint) map[proxy.Rule]bool {
		m := map[proxy.Rule]bool{}
		if nic, _ := s.Primary(e); nic != nil && relayed(e) {
			for _, p := range e.Publish {
				for _, r := range proxyRules(e, p, nic.IP) {
					m[r] = true
				}
			}
		}
		return m
	}
	was, now := rules(s1, before), rules(s2, after)
	for r := range was {
		if !now[r] {
			d.pub.Remove(r)
		}
	}
	for r := range now {
		if !was[r] {
			if err := d.pub.Add(r); err != nil {
				d.log.Warn("published port not moved to the new address", "endpoint", after.Name, "port", r.HostPort, "err", err)
			}
		}
	}
}

// disconnect removes e's NIC on network in next (a clone of d.st) and on
// the host. The default route moves to the next network with an address,
// as Docker does. Callers hold mu and commit next.
func (d *Daemon) disconnect(next *state.State, e *state.Endpoint, network string) error {
	nic := e.NIC(network)
	hadDefault := e.NICs[0] == nic
	ns := hostNS(e)
	old := e.Clone()
	d.detachPort(e.Name, nic.Interface)
	if err := d.host.DeleteNIC(ns, nic.Interface); err != nil && d.host.NICExists(ns, nic.Interface) {
		// Plug the NIC, still there, back in.
		var u undo
		if aerr := d.attachNIC(e, nic, next.Network(network), false, &u); aerr != nil {
			d.log.Error("re-adopt a NIC that could not be deleted", "endpoint", e.Name, "interface", nic.Interface, "err", aerr)
		}
		return err
	}
	e.NICs = slices.DeleteFunc(e.NICs, func(x *state.NIC) bool { return x == nic })
	next.DropStaticMACs(e.PortName(nic))
	d.republish(d.st, old, next, e)
	if hadDefault {
		if p, n := next.Primary(e); p != nil {
			i := slices.Index(e.NICs, p)
			e.NICs[0], e.NICs[i] = e.NICs[i], e.NICs[0]
			if err := d.host.SetDefaultRoute(ns, p.Interface, n.Gateway); err != nil {
				d.log.Warn("move default route", "endpoint", e.Name, "err", err)
			}
		}
	}
	if e.Owned() {
		if err := d.host.WriteEtc(e.Netns, next.Files(e, d.hostLeg.HostAddr)); err != nil {
			d.log.Warn("write /etc files", "endpoint", e.Name, "err", err)
		}
	}
	d.log.Info("endpoint disconnected", "endpoint", e.Name, "network", network)
	return nil
}

// ExecSpec is a command to run in an endpoint.
type ExecSpec struct {
	Cmd []string
	Env []string
	TTY bool
	// Dir is the working directory (default /); User is USER[:GROUP]
	// (default root).
	Dir, User string
	// Detach runs it in the background with its output discarded: Exec
	// returns at once (docker exec -d).
	Detach bool
}

// Exec runs a command inside an endpoint attached to stdio and returns its
// exit code; with spec.Detach it returns as soon as the command runs.
func (d *Daemon) Exec(ctx context.Context, name string, spec ExecSpec, stdio *supervisor.IO) (int, error) {
	d.mu.Lock()
	e, err := d.endpointForChange(name)
	if err != nil {
		d.mu.Unlock()
		return 0, err
	}
	if len(spec.Cmd) == 0 {
		d.mu.Unlock()
		return 0, state.Errorf(state.ErrInvalid, "exec needs a command")
	}
	if st := d.describeEndpoint(e).State; st != StateRunning {
		d.mu.Unlock()
		return 0, state.Errorf(state.ErrConflict, "endpoint %q is not running (%s): start it first", name, st)
	}
	env := append(append([]string(nil), e.Env...), spec.Env...)
	if err := checkExec(spec, env); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	user := spec.User
	if user == "" {
		user = e.User // as docker exec: the container's user unless -u
	}
	ps := supervisor.Spec{Endpoint: name, NS: procNS(e), Argv: spec.Cmd, Env: env, TTY: spec.TTY, Stdio: stdio,
		Hostname: e.HostnameOrName(), Dir: spec.Dir, User: user, CapDrop: e.CapDrop}
	if spec.Detach {
		ps.Stdio, ps.TTY, ps.Discard = nil, false, true
	}
	p, err := d.sup.Start(ps)
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if spec.Detach {
		return 0, nil
	}
	return p.Wait(ctx), nil
}

// checkExec refuses, before anything runs, an exec whose command, working
// directory or user does not exist (endpoints see the host's files and
// users).
func checkExec(spec ExecSpec, env []string) error {
	if err := lookCommand(spec.Cmd[0], env); err != nil {
		return err
	}
	if spec.Dir != "" {
		if !filepath.IsAbs(spec.Dir) {
			return state.Errorf(state.ErrInvalid, "workdir %q: want an absolute path", spec.Dir)
		}
		if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
			return state.Errorf(state.ErrInvalid, "workdir %s: no such directory", spec.Dir)
		}
	}
	if spec.User != "" {
		if _, err := netns.LookupUser(spec.User); err != nil {
			return state.Errorf(state.ErrInvalid, "%w", err)
		}
	}
	return nil
}

// Logs copies the output of an endpoint's background command to w as o
// says (the last lines, time stamps, following until ctx ends or the
// command exits).
func (d *Daemon) Logs(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error {
	d.mu.Lock()
	if d.st.Endpoint(name) == nil {
		d.mu.Unlock()
		return state.Errorf(state.ErrNotFound, "endpoint %q not found", name)
	}
	d.mu.Unlock()
	return d.sup.Logs(ctx, name, o, w)
}

// Publish publishes a port of a running endpoint (Docker cannot). A spec
// without a host port gets a free one; the spec as published is returned.
func (d *Daemon) Publish(name string, p state.Publish) (state.Publish, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.endpointForChange(name)
	if err != nil {
		return state.Publish{}, err
	}
	if err := d.st.CheckPublish(e, p); err != nil {
		return state.Publish{}, err
	}
	nic, _ := d.st.Primary(e)
	bound, err := d.openPublish(e, p, nic.IP, nil)
	if err != nil {
		return state.Publish{}, err
	}
	next := d.st.Clone()
	ne := next.Endpoint(name)
	ne.Publish = append(ne.Publish, bound)
	if err := d.commit(next); err != nil {
		d.closePublish(e, bound, nic.IP)
		return state.Publish{}, err
	}
	return bound, nil
}

// Unpublish withdraws a published port: p as published, or only its
// container port (and protocol) when the endpoint publishes that once.
func (d *Daemon) Unpublish(name string, p state.Publish) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.endpointForChange(name)
	if err != nil {
		return err
	}
	i := slices.Index(e.Publish, p)
	if i < 0 && p.Unbound() {
		var found []int
		for j, q := range e.Publish {
			if q.Proto == p.Proto && q.ContPort == p.ContPort && q.ContEnd == p.ContEnd && (!p.HostIP.IsValid() || q.HostIP == p.HostIP) {
				found = append(found, j)
			}
		}
		switch len(found) {
		case 1:
			i, p = found[0], e.Publish[found[0]]
		case 0:
		default:
			return state.Errorf(state.ErrConflict, "endpoint %q publishes %s more than once: name the host port too", name, p)
		}
	}
	if i < 0 {
		return state.Errorf(state.ErrNotFound, "endpoint %q does not publish %s", name, p)
	}
	next := d.st.Clone()
	ne := next.Endpoint(name)
	ne.Publish = slices.Delete(ne.Publish, i, i+1)
	if err := d.commit(next); err != nil {
		return err
	}
	if nic, _ := d.st.Primary(e); nic != nil {
		d.closePublish(e, p, nic.IP)
	}
	return nil
}
