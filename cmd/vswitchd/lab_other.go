//go:build !linux

package main

import (
	"os/exec"

	"github.com/vswitchd/vswitchd/netns"
)

// startInNetns needs Linux network namespaces.
func startInNetns(netns.Handle, *exec.Cmd) (<-chan error, error) {
	return nil, netns.ErrUnsupported
}
