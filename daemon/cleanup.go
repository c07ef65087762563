package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/state"
)

// Cleanup removes what a vswitchd that died without cleaning up (kill -9, a
// crash) left behind, from its state directory: the processes in the
// endpoints it owns, their namespaces (with the TAPs inside) and /etc/netns
// files, the NICs it added to namespaces it only attached to (never those
// namespaces), its logs and state. Only namespaces the state validly names
// under /run/netns with its prefix, and that are still the ones it made
// (their IDs match the state's), are touched: another namespace that took
// the name is reported and kept (only the /etc/netns files vswitchd wrote
// under that name go). The host leg is not
// persistent and died with the process. Each removal is reported on w.
func Cleanup(stateDir string, w io.Writer) error { return CleanupHost(stateDir, host.Linux{}, w) }

// CleanupHost is Cleanup on host h.
func CleanupHost(stateDir string, h host.Host, w io.Writer) error {
	st, err := state.Load(stateDir, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range st.Endpoints {
		if e.ContainerID != "" {
			// A container runtime's attachment: its NICs are the
			// runtime's to remove (CNI DEL), in its namespace.
			fmt.Fprintf(w, "kept CNI attachment %s of container %s (the runtime removes it with DEL)\n", e.Name, e.ContainerID)
			continue
		}
		check, err := checkNS(h, e)
		if check == nsForeign {
			fmt.Fprintf(w, "kept namespace %s of endpoint %s: %v\n", hostNS(e), e.Name, err)
			if e.Owned() {
				// The /etc/netns files under its name are still
				// the ones vswitchd wrote: with the state gone,
				// nothing else would ever remove them.
				h.RemoveEtc(e.Netns)
			}
			continue
		}
		if !e.Owned() {
			ns := host.AtPath(e.NetnsPath)
			for _, nic := range e.NICs {
				if h.NICExists(ns, nic.Interface) {
					if err := h.DeleteNIC(ns, nic.Interface); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintf(w, "removed interface %s of attached endpoint %s (namespace %s kept)\n", nic.Interface, e.Name, e.NetnsPath)
				}
			}
			continue
		}
		ns := host.Named(e.Netns)
		if check == nsOurs {
			if pids, err := h.Pids(ns); err == nil {
				for _, pid := range pids {
					syscall.Kill(pid, syscall.SIGKILL)
					fmt.Fprintf(w, "killed process %d in %s\n", pid, e.Netns)
				}
			}
		}
		if check == nsOurs {
			if err := h.DeleteNamespace(e.Netns); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		h.RemoveEtc(e.Netns)
		fmt.Fprintf(w, "removed endpoint %s (namespace %s)\n", e.Name, e.Netns)
	}
	if err := state.Remove(stateDir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Join(stateDir, "logs")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
