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
