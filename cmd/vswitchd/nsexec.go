package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/vswitchd/vswitchd/netns"
)

// nsexec is the hidden command the daemon runs to start a process inside
// an endpoint: `vswitchd nsexec NAMESPACE -- COMMAND [ARG...]`. It sets the
// namespace up as `ip netns exec` does and execs COMMAND. Exit codes follow
// the shell: 127 command not found, 126 not runnable, 125 setup failed.
func nsexec(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: vswitchd nsexec NAMESPACE -- COMMAND [ARG...]")
		return 125
	}
	err := netns.Exec(args[0], args[2:], os.Environ())
	fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return 127
	case errors.Is(err, os.ErrPermission):
		return 126
	}
	return 125
}
