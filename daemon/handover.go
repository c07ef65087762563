package daemon

import (
	"fmt"
	"syscall"

	"github.com/vswitchd/vswitchd/host"
)

// Handover prepares this daemon's replacement by a new process (vswitchd
// --takeover): it writes the connection table, duplicates the descriptors
// of the host leg's TAP, of every endpoint NIC and of the published ports'
// listening sockets, under the keys the new process looks them up by
// (host.HostLegKey, host.NICKey, proxy.ListenerKey), and makes Close keep
// everything, as a stop without --cleanup-on-exit does. The caller sends the descriptors, closes its
// copies and then stops the daemon. A device that cannot be duplicated
// (a decorator in the way) is left out: the new process reopens it.
func (d *Daemon) Handover() (keys []string, fds []int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg.CleanupOnExit = false
	fail := func(err error) ([]string, []int, error) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, nil, fmt.Errorf("handover: %w", err)
	}
	if err := d.saveConntrack(); err != nil {
		return fail(err)
	}
	type duper interface{ Dup() ([]int, error) }
	add := func(key string, dev any) error {
		dp, ok := dev.(duper)
		if !ok {
			return nil
		}
		qfds, err := dp.Dup()
		if err != nil {
			return err
		}
		for q, fd := range qfds {
			k := key
			if q > 0 {
				k = host.QueueKey(key, q)
			}
			keys, fds = append(keys, k), append(fds, fd)
		}
		return nil
	}
	if dev, ok := d.dp.Device(d.hostPort); ok {
		if err := add(host.HostLegKey(d.cfg.HostIf), dev); err != nil {
			return fail(err)
		}
	}
	for _, e := range d.st.Endpoints {
		for ifname, id := range d.nics[e.Name] {
			dev, ok := d.dp.Device(id)
			if !ok {
				continue
			}
			if err := add(host.NICKey(hostNS(e), ifname), dev); err != nil {
				return fail(err)
			}
		}
	}
	if p, ok := d.pub.(interface {
		Listeners() ([]string, []int, error)
	}); ok {
		k, f, err := p.Listeners()
		keys, fds = append(keys, k...), append(fds, f...)
		if err != nil {
			return fail(err)
		}
	}
	return keys, fds, nil
}
