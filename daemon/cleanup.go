package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vswitchd/vswitchd/netns"
)

// Cleanup removes what a vswitchd that died without cleaning up (kill -9, a
// crash) left behind, from its state directory: the processes in its
// endpoints, their namespaces (with the TAPs inside) and /etc/netns
// files, its logs and state. The host leg is not persistent and died with
// the process. It reports each removal on w.
func Cleanup(stateDir string, w io.Writer) error {
	st, err := loadState(stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range st.Endpoints {
		if netns.Exists(e.Netns) {
			if pids, err := netns.Pids(e.Netns); err == nil {
				for _, pid := range pids {
					syscall.Kill(pid, syscall.SIGKILL)
					fmt.Fprintf(w, "killed process %d in %s\n", pid, e.Netns)
				}
			}
		}
		if err := netns.Delete(e.Netns); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "removed endpoint %s (namespace %s)\n", e.Name, e.Netns)
	}
	if err := os.Remove(filepath.Join(stateDir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	os.RemoveAll(filepath.Join(stateDir, "logs"))
	return errors.Join(errs...)
}
