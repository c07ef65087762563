//go:build !linux

package tap

// Dup is not supported off Linux.
func (d *Device) Dup() ([]int, error) { return nil, ErrUnsupported }

// FromFD is not supported off Linux.
func FromFD(string, ...int) (*Device, error) { return nil, ErrUnsupported }
