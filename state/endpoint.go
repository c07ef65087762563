package state

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/netns"
)

// HostEntry is an /etc/hosts line of an endpoint (docker --add-host).
type HostEntry struct {
	Name string
	// IP is the address; HostGateway means the host's address on its
	// leg (docker's "host-gateway") instead.
	IP          netip.Addr
	HostGateway bool
}

// ParseHostEntry parses NAME:IP, where IP may be "host-gateway". An IPv6
// address may stand unbracketed after the first colon, as in Docker.
func ParseHostEntry(s string) (HostEntry, error) {
	name, addr, ok := strings.Cut(s, ":")
	if !ok || name == "" || addr == "" {
		return HostEntry{}, fmt.Errorf("add-host %q: want NAME:IP (IP may be host-gateway)", s)
	}
	if err := netns.ValidateName(name); err != nil {
		return HostEntry{}, fmt.Errorf("add-host %q: host name: %w", s, err)
	}
	if addr == "host-gateway" {
		return HostEntry{Name: name, HostGateway: true}, nil
	}
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return HostEntry{}, fmt.Errorf("add-host %q: %q is not an IP address", s, addr)
	}
	return HostEntry{Name: name, IP: ip}, nil
}

// String returns NAME:IP (or NAME:host-gateway).
func (h HostEntry) String() string {
	if h.HostGateway {
		return h.Name + ":host-gateway"
	}
	return h.Name + ":" + h.IP.String()
}

// MarshalText implements encoding.TextMarshaler.
func (h HostEntry) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HostEntry) UnmarshalText(b []byte) error {
	v, err := ParseHostEntry(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// RestartPolicy is Docker's --restart: no (the zero value), on-failure[:N],
// always, unless-stopped.
type RestartPolicy struct {
	Name string // "", "on-failure", "always", "unless-stopped"
	// MaxRetries bounds on-failure restarts; 0: no bound.
	MaxRetries int
}

// ParseRestartPolicy parses Docker's --restart values.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	switch name {
	case "", "no":
		if hasN {
			break
		}
		return RestartPolicy{}, nil
	case "always", "unless-stopped":
		if hasN {
			break
		}
		return RestartPolicy{Name: name}, nil
	case "on-failure":
		p := RestartPolicy{Name: name}
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return RestartPolicy{}, fmt.Errorf("restart %q: %q is not a retry count", s, n)
			}
			p.MaxRetries = v
		}
		return p, nil
	}
	return RestartPolicy{}, fmt.Errorf("restart %q: want no, on-failure[:N], always or unless-stopped", s)
}

// String returns the policy as --restart takes it ("no" for none).
func (p RestartPolicy) String() string {
	switch {
	case p.Name == "":
		return "no"
	case p.Name == "on-failure" && p.MaxRetries > 0:
		return fmt.Sprintf("on-failure:%d", p.MaxRetries)
	}
	return p.Name
}

// IsZero reports whether p is "no" (for omitzero).
func (p RestartPolicy) IsZero() bool { return p.Name == "" }

// MarshalText implements encoding.TextMarshaler.
func (p RestartPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *RestartPolicy) UnmarshalText(b []byte) error {
	v, err := ParseRestartPolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Restarts reports whether a command that exited with code (after
// restarts restarts) runs again under p. stopped says the user stopped it.
func (p RestartPolicy) Restarts(code, restarts int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}
