package state

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/header"
)

// Publish is a published port range, Docker's -p:
// [IP:]HOST[-END]:CONT[-END][/tcp|/udp]. Host and container ranges have the
// same length and map port by port. It marshals as its canonical String
// form ("127.0.0.1:8080-8081:80-81/tcp").
type Publish struct {
	Proto             uint8      // header.ProtoTCP or header.ProtoUDP
	HostIP            netip.Addr // invalid: every address
	HostPort, HostEnd uint16
	ContPort, ContEnd uint16
}

// ParsePublish parses Docker's -p syntax. The error says what is wrong
// and, like Docker's, quotes the spec.
func ParsePublish(s string) (Publish, error) {
	ps := Publish{Proto: header.ProtoTCP}
	spec := s
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		switch spec[i+1:] {
		case "tcp":
		case "udp":
			ps.Proto = header.ProtoUDP
		default:
			return Publish{}, fmt.Errorf("publish %q: protocol %q (use tcp or udp)", s, spec[i+1:])
		}
		spec = spec[:i]
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1: // CONTAINER: a free host port is chosen
		parts = []string{"", parts[0]}
	case 2:
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil || !ip.Is4() {
			return Publish{}, fmt.Errorf("publish %q: %q is not an IPv4 address", s, parts[0])
		}
		ps.HostIP = ip
		parts = parts[1:]
	default:
		return Publish{}, fmt.Errorf("publish %q: want [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], e.g. 8080:80", s)
	}
	if parts[0] == "" { // no host port: chosen when published
		var err error
		if ps.ContPort, ps.ContEnd, err = parsePortRange(parts[1]); err != nil {
			return Publish{}, fmt.Errorf("publish %q: container port: %w", s, err)
		}
		if ps.ContEnd != ps.ContPort {
			return Publish{}, fmt.Errorf("publish %q: a container range needs its host range", s)
		}
		return ps, nil
	}
	var err error
	if ps.HostPort, ps.HostEnd, err = parsePortRange(parts[0]); err != nil {
		return Publish{}, fmt.Errorf("publish %q: host port: %w", s, err)
	}
	if ps.ContPort, ps.ContEnd, err = parsePortRange(parts[1]); err != nil {
		return Publish{}, fmt.Errorf("publish %q: container port: %w", s, err)
	}
	if ps.HostEnd-ps.HostPort != ps.ContEnd-ps.ContPort {
		return Publish{}, fmt.Errorf("publish %q: host and container ranges differ in length", s)
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

// Unbound reports whether the host port is still to be chosen (the spec
// named only the container port).
func (p Publish) Unbound() bool { return p.HostPort == 0 }

// ProtoName returns "tcp" or "udp".
func (p Publish) ProtoName() string {
	if p.Proto == header.ProtoUDP {
		return "udp"
	}
	return "tcp"
}

// String returns the canonical form of the spec.
func (p Publish) String() string {
	var b strings.Builder
	if p.HostIP.IsValid() {
		b.WriteString(p.HostIP.String() + ":")
	}
	if !p.Unbound() {
		b.WriteString(PortRange(p.HostPort, p.HostEnd) + ":")
	} else if p.HostIP.IsValid() {
		b.WriteString(":")
	}
	b.WriteString(PortRange(p.ContPort, p.ContEnd) + "/" + p.ProtoName())
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (p Publish) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. A stored spec always
// has its host port: one without is refused.
func (p *Publish) UnmarshalText(b []byte) error {
	v, err := ParsePublish(string(b))
	if err != nil {
		return err
	}
	if v.Unbound() {
		return fmt.Errorf("publish %q: no host port", b)
	}
	*p = v
	return nil
}

// Overlaps reports whether p and o claim a common host port of the same
// protocol on a common address.
func (p Publish) Overlaps(o Publish) bool {
	if p.Unbound() || o.Unbound() {
		return false
	}
	if p.Proto != o.Proto || p.HostIP.IsValid() && o.HostIP.IsValid() && p.HostIP != o.HostIP {
		return false
	}
	return p.HostPort <= o.HostEnd && o.HostPort <= p.HostEnd
}

// PortRange formats a port range: "80", or "8000-8010".
func PortRange(a, b uint16) string {
	if a == b {
		return strconv.Itoa(int(a))
	}
	return fmt.Sprintf("%d-%d", a, b)
}

// ParseExpose parses Docker's --expose: PORT[-END][/tcp|/udp]. It returns
// one unbound Publish per port, for -P to publish on free host ports.
func ParseExpose(s string) ([]Publish, error) {
	proto := header.ProtoTCP
	spec := s
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		switch spec[i+1:] {
		case "tcp":
		case "udp":
			proto = header.ProtoUDP
		default:
			return nil, fmt.Errorf("expose %q: protocol %q (use tcp or udp)", s, spec[i+1:])
		}
		spec = spec[:i]
	}
	lo, hi, err := parsePortRange(spec)
	if err != nil {
		return nil, fmt.Errorf("expose %q: %w", s, err)
	}
	var out []Publish
	for p := int(lo); p <= int(hi); p++ {
		out = append(out, Publish{Proto: proto, ContPort: uint16(p), ContEnd: uint16(p)})
	}
	return out, nil
}
