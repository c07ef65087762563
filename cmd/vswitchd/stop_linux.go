package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// stopProcess sends SIGTERM to vswitchd process pid and waits up to timeout
// for it to exit. It works through a pidfd, so the PID cannot be reused
// by another process between the check and the signal, and the wait ends
// when the process exits even though this process is not its parent.
func stopProcess(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return errNotRunning
	}
	if err != nil {
		return fmt.Errorf("open pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return errNotRunning
	}
	if name := strings.TrimSpace(string(comm)); name != "vswitchd" {
		return fmt.Errorf("pid %d is %q, not vswitchd; not stopping it", pid, name)
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errNotRunning
		}
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("pid %d still running %v after SIGTERM", pid, timeout)
		}
		// The pidfd becomes readable when the process exits.
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for pid %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}
