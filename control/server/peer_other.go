//go:build !linux

package server

import (
	"errors"
	"net"
)

// peerOf is not supported off Linux.
func peerOf(net.Conn) (Peer, error) { return Peer{}, errors.New("SO_PEERCRED needs Linux") }
