package tap

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Dup returns a new descriptor of each of the device's queues (close-on-
// exec), in queue order, for handing them to a successor process (vswitchd
// --takeover): the device stays attached, and a non-persistent one stays
// in existence, as long as any descriptor is open. The caller owns the
// descriptors.
func (d *Device) Dup() ([]int, error) {
	fds := make([]int, 0, len(d.qs))
	for _, q := range d.qs {
		fd, err := unix.FcntlInt(uintptr(q.fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("dup tap %s: %w", d.name, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// FromFD wraps fds, the queues (in order) of a TAP another process opened
// (Create or Open) and handed over, as a Device named name, taking
// ownership of fds. The virtio header size and offloads are set again on
// every queue, as open sets them.
func FromFD(name string, fds ...int) (*Device, error) {
	fail := func(err error) (*Device, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("adopt tap %s: %w", name, err)
	}
	if len(fds) == 0 || len(fds) > MaxQueues {
		return fail(fmt.Errorf("%d descriptors: want 1 to %d", len(fds), MaxQueues))
	}
	offloads := 0
	for _, fd := range fds {
		var err error
		if offloads, err = setupQueue(fd); err != nil {
			return fail(err)
		}
	}
	return device(name, fds, offloads)
}
