package daemon

import (
	"os"

	"fmt"

	"github.com/vswitchd/vswitchd/netns"

	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/state"
)

// nsCheck is what the host has at an endpoint's namespace.
type nsCheck int

const (
	nsGone    nsCheck = iota // nothing there
	nsOurs                   // the namespace the state recorded
	nsForeign                // another namespace took its name or path
)

// checkNS tells whether e's namespace is still the one vswitchd made (or
// attached to), by the ID recorded at the time: restart, rm and cleanup
// act only on that one. An endpoint whose creation was interrupted before
// its namespace's ID was saved owns the namespace of its name: the intent
// was saved when that name was free.
func checkNS(h host.Host, e *state.Endpoint) (nsCheck, error) {
	ns := hostNS(e)
	if !h.NamespaceExists(ns) {
		return nsGone, nil
	}
	if e.NetnsID == 0 {
		if e.Phase == state.Creating {
			return nsOurs, nil
		}
		return nsForeign, fmt.Errorf("endpoint %q: namespace %s exists, and the state does not say which namespace vswitchd made (no netns_id)", e.Name, ns)
	}
	id, err := h.NamespaceID(ns)
	if err != nil {
		return nsForeign, err
	}
	if id != e.NetnsID {
		return nsForeign, fmt.Errorf("endpoint %q: namespace %s is not the one vswitchd made (id %d, the state says %d)", e.Name, ns, id, e.NetnsID)
	}
	return nsOurs, nil
}

// CheckPeer decides whether the process pid, running as uid, may use the
// API (the server asks for each connection, from SO_PEERCRED): only the
// daemon's own user (root), and never a process inside an endpoint's
// network namespace, whatever its user: the API can run anything on the
// host, so an endpoint must not be able to drive it.
func (d *Daemon) CheckPeer(pid, uid int) error {
	if uid != os.Geteuid() {
		return fmt.Errorf("uid %d: the API is for uid %d (root) only", uid, os.Geteuid())
	}
	id, err := netns.IDOf(pid)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.st.Endpoints {
		if e.NetnsID == id {
			return fmt.Errorf("process %d is inside endpoint %q: endpoints cannot use the API", pid, e.Name)
		}
	}
	return nil
}
