package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// ErrInvalidRule is wrapped by Add when a Rule's fields are out of range.
var ErrInvalidRule = errors.New("invalid rule")

// ErrOverlap is wrapped by Add when a rule's host addresses and ports
// overlap those of a rule already published.
var ErrOverlap = errors.New("overlaps published rule")

// ErrNoRule is wrapped by Remove when no published rule equals the one given.
var ErrNoRule = errors.New("no such published rule")

// Rule publishes host ports HostPort..HostPortEnd on HostIP, relaying port
// HostPort+i to Target:TargetPort+i.
type Rule struct {
	// Proto is "tcp" or "udp".
	Proto string
	// HostIP is the address listened on. An invalid or IPv4-unspecified
	// address means all IPv4 addresses (0.0.0.0); "::" means all IPv6
	// addresses only (the socket is IPV6_V6ONLY), so a dual-stack publish is
	// two rules, as with Docker. An IPv4-mapped IPv6 address is taken as
	// the IPv4 address.
	HostIP netip.Addr
	// HostPort is the first host port; it must not be 0.
	HostPort uint16
	// HostPortEnd is the last host port, equal to HostPort for a single
	// port; 0 also means HostPort.
	HostPortEnd uint16
	// Target is the endpoint's address.
	Target netip.Addr
	// TargetPort is the container port HostPort maps to; it must not be 0,
	// and TargetPort+(HostPortEnd-HostPort) must not pass 65535.
	TargetPort uint16
	// TargetNetns, if set, is the path of the target's network namespace
	// (/run/netns/NAME, /proc/PID/ns/net): TCP connections are then made
	// from a socket opened inside it, to Target as a local address, and
	// spliced to the client (Linux). Empty: dialled from the daemon's
	// namespace, through the switch. UDP is always relayed through the
	// switch.
	TargetNetns string
}

// String returns the rule as "0.0.0.0:8000-8010/tcp -> 10.0.0.2:8000-8010",
// with the port range shown only when the rule has more than one port.
func (r Rule) String() string {
	n := r.normal()
	b := make([]byte, 0, 64)
	b = appendHostPorts(b, n.HostIP, n.HostPort, n.HostPortEnd)
	b = append(b, '/')
	b = append(b, r.Proto...)
	b = append(b, " -> "...)
	end := n.TargetPort
	if n.HostPortEnd > n.HostPort {
		end = uint16(min(int(n.TargetPort)+int(n.HostPortEnd-n.HostPort), 65535))
	}
	b = appendHostPorts(b, n.Target, n.TargetPort, end)
	return string(b)
}

// appendHostPorts appends "ip:port" or "ip:port-end", bracketing IPv6.
func appendHostPorts(b []byte, ip netip.Addr, port, end uint16) []byte {
	b = netip.AddrPortFrom(ip, port).AppendTo(b)
	if end > port {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(end), 10)
	}
	return b
}

// normal returns r with the defaults applied: HostIP 0.0.0.0 when invalid,
// IPv4-mapped addresses unmapped, HostPortEnd = HostPort when 0. Two rules
// are the same rule when their normal forms are equal.
func (r Rule) normal() Rule {
	if !r.HostIP.IsValid() {
		r.HostIP = netip.IPv4Unspecified()
	}
	r.HostIP = r.HostIP.Unmap()
	r.Target = r.Target.Unmap()
	if r.HostPortEnd == 0 {
		r.HostPortEnd = r.HostPort
	}
	return r
}

// validate reports why the normal form n cannot be published, or nil.
func (n Rule) validate() error {
	var why string
	switch {
	case n.Proto != "tcp" && n.Proto != "udp":
		why = fmt.Sprintf("protocol %q is not tcp or udp", n.Proto)
	case n.HostPort == 0:
		why = "host port is 0"
	case n.HostPortEnd < n.HostPort:
		why = "host port range ends before it starts"
	case !n.Target.IsValid() || n.Target.IsUnspecified():
		why = "no target address"
	case n.TargetPort == 0:
		why = "target port is 0"
	case int(n.TargetPort)+int(n.HostPortEnd-n.HostPort) > 65535:
		why = "target port range ends past 65535"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidRule, why)
}

// overlaps reports whether normal rules a and b would listen on a common
// address and port of the same protocol. An unspecified address overlaps
// every address of its family; 0.0.0.0 and :: do not overlap, since IPv6
// wildcard listeners are IPV6_V6ONLY.
func (a Rule) overlaps(b Rule) bool {
	if a.Proto != b.Proto || a.HostPortEnd < b.HostPort || b.HostPortEnd < a.HostPort {
		return false
	}
	if a.HostIP.Is4() != b.HostIP.Is4() {
		return false
	}
	return a.HostIP == b.HostIP || a.HostIP.IsUnspecified() || b.HostIP.IsUnspecified()
}

// network returns the Go network name for listening on n.HostIP.
func (n Rule) network() string {
	if n.HostIP.Is4() {
		return n.Proto + "4"
	}
	return n.Proto + "6"
}

// target returns the target address for host port port of normal rule n.
func (n Rule) target(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(n.Target, n.TargetPort+(port-n.HostPort))
}
