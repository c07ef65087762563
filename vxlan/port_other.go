//go:build !linux

package vxlan

import (
	"errors"
	"fmt"

	"github.com/vswitchd/vswitchd/port"
)

// errUnsupported is returned by Open on systems other than Linux.
var errUnsupported = errors.New("vxlan ports need Linux (recvmmsg, sendmmsg, UDP GSO)")

// sockets holds nothing: no Port is ever opened here.
type sockets struct{}

// Open creates a vxlan port. On this system it checks opt and fails.
func Open(opt Options) (*Port, error) {
	if _, err := newPort(opt); err != nil {
		return nil, fmt.Errorf("open vxlan port: %w", err)
	}
	return nil, fmt.Errorf("open vxlan port: %w", errUnsupported)
}

// SourcePorts returns the outer UDP source ports the port sends from.
func (p *Port) SourcePorts() []uint16 { return nil }

func (p *Port) gsoEnabled() bool { return false }

// Read implements port.Port.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return 0, port.ErrClosed
}

// Write implements port.Port.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) { return 0, port.ErrClosed }

// Close implements port.Port.
func (p *Port) Close() error { return nil }
