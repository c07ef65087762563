package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/netns"
)

// startInNetns starts cmd inside the network namespace ns, with SIGKILL as
// its parent-death signal, and returns a channel that receives cmd.Wait's
// result.
//
// A child starts in the namespace of the thread that forks it, so the fork
// happens on a thread switched into ns. The parent-death signal is tied to
// that thread too, not to the process: the kernel sends it when the
// forking thread exits. So the thread is never handed back to the Go
// runtime (which might retire it, as netns.Do does with a thread it cannot
// switch back): this goroutine keeps it locked, waits for the child on it,
// and only then lets it exit. The child therefore dies when this process
// dies, for any reason, and not before.
func startInNetns(ns netns.Handle, cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		// Locked for good: the thread exits with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}
