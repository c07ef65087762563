//go:build !linux

package tap

import (
	"errors"

	"github.com/vswitchd/vswitchd/port"
)

// BatchSize is the number of frames one Read returns at most.
const BatchSize = 64

// ErrUnsupported is returned off Linux.
var ErrUnsupported = errors.New("TAP devices with a virtio-net header need Linux")

// MaxQueues bounds Options.Queues.
const MaxQueues = 16

// Options configures Create.
type Options struct {
	Name    string
	Persist bool
	Queues  int
}

// Device is a TAP device; off Linux none can be opened.
type Device struct{}

var _ port.Port = (*Device)(nil)

// Create is not supported off Linux.
func Create(Options) (*Device, error) { return nil, ErrUnsupported }

// Open is not supported off Linux.
func Open(string, int) (*Device, error) { return nil, ErrUnsupported }

// Name returns "".
func (d *Device) Name() string { return "" }

// UDPOffload reports false.
func (d *Device) UDPOffload() bool { return false }

// BatchSize implements port.Port.
func (d *Device) BatchSize() int { return BatchSize }

// Queues returns 1.
func (d *Device) Queues() int { return 1 }

// ReadQueue is not supported off Linux.
func (d *Device) ReadQueue(int, [][]byte, []int, int) (int, error) { return 0, ErrUnsupported }

// WriteQueue is not supported off Linux.
func (d *Device) WriteQueue(int, [][]byte, int) (int, error) { return 0, ErrUnsupported }

// Read implements port.Port.
func (d *Device) Read([][]byte, []int, int) (int, error) { return 0, ErrUnsupported }

// Write implements port.Port.
func (d *Device) Write([][]byte, int) (int, error) { return 0, ErrUnsupported }

// Close implements port.Port.
func (d *Device) Close() error { return nil }
