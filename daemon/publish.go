package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
)

// publishSpec is a parsed -p: [IP:]HOST[-END]:CONT[-END][/tcp|/udp].
type publishSpec struct {
	proto             string
	hostIP            netip.Addr // invalid: every address
	hostPort, hostEnd uint16
	contPort, contEnd uint16
}

// parsePublish parses Docker's -p syntax. A range maps port by port, so
// both sides must be the same length.
func parsePublish(s string) (publishSpec, error) {
	ps := publishSpec{proto: "tcp"}
	spec := s
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		ps.proto = spec[i+1:]
		spec = spec[:i]
		if ps.proto != "tcp" && ps.proto != "udp" {
			return ps, fmt.Errorf("publish %q: protocol %q (use tcp or udp)", s, ps.proto)
		}
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 2:
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil || !ip.Is4() {
			return ps, fmt.Errorf("publish %q: %q is not an IPv4 address", s, parts[0])
		}
		ps.hostIP = ip
		parts = parts[1:]
	default:
		return ps, fmt.Errorf("publish %q: want [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp], e.g. 8080:80", s)
	}
	var err error
	if ps.hostPort, ps.hostEnd, err = parsePortRange(parts[0]); err != nil {
		return ps, fmt.Errorf("publish %q: host port: %w", s, err)
	}
	if ps.contPort, ps.contEnd, err = parsePortRange(parts[1]); err != nil {
		return ps, fmt.Errorf("publish %q: container port: %w", s, err)
	}
	if ps.hostEnd-ps.hostPort != ps.contEnd-ps.contPort {
		return ps, fmt.Errorf("publish %q: host and container ranges differ in length", s)
	}
	return ps, nil
}

func parsePortRange(s string) (uint16, uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return a, a, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return 0, 0, err
	}
	if b < a {
		return 0, 0, fmt.Errorf("range %s ends before it starts", s)
	}
	return a, b, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}

// String returns the canonical form of the spec.
func (ps publishSpec) String() string {
	var b strings.Builder
	if ps.hostIP.IsValid() {
		b.WriteString(ps.hostIP.String() + ":")
	}
	b.WriteString(portRange(ps.hostPort, ps.hostEnd) + ":" + portRange(ps.contPort, ps.contEnd) + "/" + ps.proto)
	return b.String()
}

func portRange(a, b uint16) string {
	if a == b {
		return strconv.Itoa(int(a))
	}
	return fmt.Sprintf("%d-%d", a, b)
}

func (ps publishSpec) protoNum() uint8 {
	if ps.proto == "udp" {
		return header.ProtoUDP
	}
	return header.ProtoTCP
}

func (ps publishSpec) routerRule(endpoint string, ip netip.Addr, network uint16) router.Published {
	return router.Published{
		Proto: ps.protoNum(), HostIP: ps.hostIP, HostPort: ps.hostPort, HostPortEnd: ps.hostEnd,
		Addr: ip, ContPort: ps.contPort, Network: network, Endpoint: endpoint,
	}
}

func (ps publishSpec) proxyRule(ip netip.Addr) proxy.Rule {
	return proxy.Rule{Proto: ps.proto, HostIP: ps.hostIP, HostPort: ps.hostPort, HostPortEnd: ps.hostEnd, Target: ip, TargetPort: ps.contPort}
}

// publishProxy opens the host-side listeners of a published port: they
// serve the host's own connections (127.0.0.1 and its addresses), which
// never reach the switch, and taking them is how a host port already in
// use is found.
func (d *Daemon) publishProxy(e *Endpoint, ps publishSpec, ip netip.Addr) error {
	if err := d.proxy.Add(ps.proxyRule(ip)); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return control.Errorf(control.ErrConflict, "publish %s for %q: host port already in use: %w", ps, e.Name, err)
		}
		return control.Errorf(control.ErrConflict, "publish %s for %q: %w", ps, e.Name, err)
	}
	return nil
}

// unpublishProxy closes the listeners of all of e's published ports.
func (d *Daemon) unpublishProxy(e *Endpoint) {
	nic, _ := d.primaryNIC(e)
	if nic == nil {
		return
	}
	for _, s := range e.Publish {
		if ps, err := parsePublish(s); err == nil {
			d.proxy.Remove(ps.proxyRule(netip.MustParseAddr(nic.IP)))
		}
	}
}

// endpointAndSpec looks up an endpoint and parses a -p spec for it.
func (d *Daemon) endpointAndSpec(name, spec string) (*Endpoint, publishSpec, error) {
	e := d.state.endpoint(name)
	if e == nil {
		return nil, publishSpec{}, control.Errorf(control.ErrNotFound, "endpoint %q not found", name)
	}
	ps, err := parsePublish(spec)
	if err != nil {
		return nil, publishSpec{}, control.Errorf(control.ErrInvalid, "%w", err)
	}
	return e, ps, nil
}

// Publish implements control.Backend: publish a port of a running endpoint.
func (d *Daemon) Publish(name, spec string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ps, err := d.endpointAndSpec(name, spec)
	if err != nil {
		return err
	}
	nic, _ := d.primaryNIC(e)
	if nic == nil {
		return control.Errorf(control.ErrInvalid, "endpoint %q has no address to publish to", name)
	}
	if err := d.publishProxy(e, ps, netip.MustParseAddr(nic.IP)); err != nil {
		return err
	}
	e.Publish = append(e.Publish, ps.String())
	d.syncLocked()
	return d.saveLocked()
}

// Unpublish implements control.Backend.
func (d *Daemon) Unpublish(name, spec string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ps, err := d.endpointAndSpec(name, spec)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(e.Publish, func(s string) bool {
		o, err := parsePublish(s)
		return err == nil && o == ps
	})
	if i < 0 {
		return control.Errorf(control.ErrNotFound, "endpoint %q does not publish %s", name, ps)
	}
	if nic, _ := d.primaryNIC(e); nic != nil {
		d.proxy.Remove(ps.proxyRule(netip.MustParseAddr(nic.IP)))
	}
	e.Publish = slices.Delete(e.Publish, i, i+1)
	d.syncLocked()
	return d.saveLocked()
}
