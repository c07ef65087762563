//go:build !linux

package afpacket

import (
	"errors"
	"fmt"

	"github.com/vswitchd/vswitchd/port"
)

// errUnsupported is returned by Open on systems without AF_PACKET.
var errUnsupported = errors.New("system ports need Linux (AF_PACKET)")

// Port is a system port. AF_PACKET exists only on Linux; elsewhere Open
// fails and no Port is ever made.
type Port struct{}

var _ port.Port = (*Port)(nil)

// Open attaches the interface named ifname as a system port. On this system
// it always fails.
func Open(ifname string, opt Options) (*Port, error) {
	return nil, fmt.Errorf("open system port %q: %w", ifname, errUnsupported)
}

// Name returns the name of the interface the port is attached to.
func (p *Port) Name() string { return "" }

// Offloads reports whether offloaded frames pass through the port.
func (p *Port) Offloads() bool { return false }

// Stats returns the port's drop counters.
func (p *Port) Stats() Stats { return Stats{} }

// BatchSize implements port.Port.
func (p *Port) BatchSize() int { return DefaultBatchSize }

// Read implements port.Port.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return 0, port.ErrClosed
}

// Write implements port.Port.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) { return 0, port.ErrClosed }

// Close implements port.Port.
func (p *Port) Close() error { return nil }
