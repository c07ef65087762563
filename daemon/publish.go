package daemon

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"syscall"

	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/state"
)

// Published ports' host listeners (the proxy): they serve the host's own
// connections (127.0.0.1 and its addresses, [::1] too), which never reach
// the switch; taking them is how a host port already in use is found.

// Free host ports for specs that name none come from the kernel's default
// ephemeral range, as Docker's do.
const (
	freePortLo = 32768
	freePortHi = 60999
)

// ipv6Any is where a spec without an address also listens, as
// docker-proxy does.
var ipv6Any = netip.IPv6Unspecified()

// proxyRules returns the host listeners of e's spec p toward ip: on its
// address, or on every IPv4 and every IPv6 address when it names none.
// TCP connections are made from inside e's namespace and spliced (the
// proxy's TargetNetns), so the host's own connections cross one TCP stack
// and no TAP.
func proxyRules(e *state.Endpoint, p state.Publish, ip netip.Addr) []proxy.Rule {
	r := proxy.Rule{Proto: p.ProtoName(), HostIP: p.HostIP, HostPort: p.HostPort, HostPortEnd: p.HostEnd, Target: ip, TargetPort: p.ContPort}
	if r.Proto == "tcp" {
		r.TargetNetns = netnsPath(e)
	}
	if p.HostIP.IsValid() {
		return []proxy.Rule{r}
	}
	r6 := r
	r6.HostIP = ipv6Any
	return []proxy.Rule{r, r6}
}

// relayed reports whether e's published ports get host listeners. A CNI
// attachment's do not: the runtime reserves the host port itself (Podman
// holds it open), and the switch's DNAT serves the uplink and endpoints.
func relayed(e *state.Endpoint) bool { return e.ContainerID == "" }

// openPublish opens p's listeners toward ip for e and returns p as
// published: a spec without a host port gets a free one, avoiding the
// ports the state and pending (specs of the same request) publish. The
// IPv6 listener is best effort (a host may have no IPv6). Callers hold mu.
func (d *Daemon) openPublish(e *state.Endpoint, p state.Publish, ip netip.Addr, pending []state.Publish) (state.Publish, error) {
	endpoint := e.Name
	if !p.Unbound() {
		if !relayed(e) {
			return p, nil
		}
		return p, d.listen(e, p, ip)
	}
	taken := func(port uint16) bool {
		q := p
		q.HostPort, q.HostEnd = port, port
		for _, e := range d.st.Endpoints {
			for _, o := range e.Publish {
				if o.Overlaps(q) {
					return true
				}
			}
		}
		for _, o := range pending {
			if o.Overlaps(q) {
				return true
			}
		}
		return false
	}
	start := freePortLo + rand.IntN(freePortHi-freePortLo+1)
	for i := range freePortHi - freePortLo + 1 {
		port := uint16(freePortLo + (start-freePortLo+i)%(freePortHi-freePortLo+1))
		if taken(port) {
			continue
		}
		q := p
		q.HostPort, q.HostEnd = port, port
		if !relayed(e) {
			return q, nil
		}
		err := d.listen(e, q, ip)
		if err == nil {
			return q, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return state.Publish{}, err
		}
	}
	return state.Publish{}, state.Errorf(state.ErrConflict, "publish %s for %q: no free host port", p, endpoint)
}

// listen opens the listeners of a bound spec.
func (d *Daemon) listen(e *state.Endpoint, p state.Publish, ip netip.Addr) error {
	endpoint := e.Name
	rules := proxyRules(e, p, ip)
	if err := d.pub.Add(rules[0]); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return state.Errorf(state.ErrConflict, "publish %s for %q: host port already in use: %w", p, endpoint, err)
		}
		return state.Errorf(state.ErrConflict, "publish %s for %q: %w", p, endpoint, err)
	}
	for _, r := range rules[1:] {
		if err := d.pub.Add(r); err != nil {
			d.log.Debug("published port not listened on IPv6", "endpoint", endpoint, "spec", p, "err", err)
		}
	}
	return nil
}

// closePublish closes the listeners of e's p toward ip.
func (d *Daemon) closePublish(e *state.Endpoint, p state.Publish, ip netip.Addr) {
	if !relayed(e) {
		return
	}
	for _, r := range proxyRules(e, p, ip) {
		d.pub.Remove(r)
	}
}
