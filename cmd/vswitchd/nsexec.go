package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/vswitchd/vswitchd/netns"
)

// nsexec is the hidden command the daemon runs to start a process inside
// an endpoint: `vswitchd nsexec [--hostname H] [--dir D] [--user U]
// [--cap-drop CAP,…] NAMESPACE -- COMMAND [ARG...]`. It sets the namespace up as `ip netns
// exec` does (plus the host name, directory and user) and execs COMMAND.
// Exit codes follow the shell: 127 command not found, 126 not runnable,
// 125 setup failed.
func nsexec(args []string) int {
	var o netns.ExecOptions
	for len(args) >= 2 && strings.HasPrefix(args[0], "--") && args[0] != "--" {
		switch args[0] {
		case "--hostname":
			o.Hostname = args[1]
		case "--dir":
			o.Dir = args[1]
		case "--user":
			o.User = args[1]
		case "--cap-drop":
			o.CapDrop = strings.Split(args[1], ",")
		default:
			fmt.Fprintf(os.Stderr, "vswitchd nsexec: unknown option %s\n", args[0])
			return 125
		}
		args = args[2:]
	}
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: vswitchd nsexec [--hostname H] [--dir D] [--user U] [--cap-drop CAP,…] NAMESPACE -- COMMAND [ARG...]")
		return 125
	}
	err := netns.ExecWith(args[0], args[2:], os.Environ(), o)
	fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return 127
	case errors.Is(err, os.ErrPermission):
		return 126
	}
	return 125
}
