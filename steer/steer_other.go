//go:build !linux

package steer

import (
	"errors"
	"io"
	"net"
	"net/netip"
)

// Listener is not supported off Linux: the caller listens per port.
func Listener(netip.Addr, uint16, uint16, net.Listener) (io.Closer, error) {
	return nil, errors.New("steer: sk_lookup needs Linux")
}

// Redirect is not supported off Linux: NewRedirect fails.
type Redirect struct{}

// NewRedirect fails off Linux: the host's connections are relayed.
func NewRedirect() (*Redirect, error) {
	return nil, errors.New("redirect: cgroup/connect4 needs Linux")
}

func (*Redirect) Add(from, to netip.AddrPort) error { return errors.New("redirect: needs Linux") }
func (*Redirect) Remove(netip.AddrPort) error       { return nil }
func (*Redirect) Redirected() uint64                { return 0 }
func (*Redirect) Close() error                      { return nil }
