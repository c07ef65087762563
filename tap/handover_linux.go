package tap

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/header"
)

// Dup returns a new descriptor of the device's open file (close-on-exec),
// for handing it to a successor process (vswitchd --takeover): the device
// stays attached, and a non-persistent one stays in existence, as long as
// either descriptor is open. The caller owns the descriptor.
func (d *Device) Dup() (int, error) {
	fd, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return -1, fmt.Errorf("dup tap %s: %w", d.name, err)
	}
	return fd, nil
}

// FromFD wraps fd, a TAP descriptor another process opened (Create or Open)
// and handed over, as a Device named name, taking ownership of fd. The
// virtio header size and offloads are set again, as open sets them.
func FromFD(fd int, name string) (*Device, error) {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, header.VirtioNetLen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("adopt tap %s: TUNSETVNETHDRSZ: %w", name, err)
	}
	offloads, err := setOffloads(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("adopt tap %s: %w", name, err)
	}
	d, err := newDevice(fd, name)
	if err != nil {
		return nil, err
	}
	d.offloads = offloads
	return d, nil
}
