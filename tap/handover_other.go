//go:build !linux

package tap

// Dup is not supported off Linux.
func (d *Device) Dup() (int, error) { return -1, ErrUnsupported }

// FromFD is not supported off Linux.
func FromFD(int, string) (*Device, error) { return nil, ErrUnsupported }
