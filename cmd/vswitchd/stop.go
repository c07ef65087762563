package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// stopTimeout is how long `vswitchd stop` waits by default: the daemon
// gives endpoint processes 3 s after SIGTERM, and has endpoints to delete.
const stopTimeout = 30 * time.Second

// errNotRunning is what stopProcess returns when there is no process.
var errNotRunning = errors.New("not running")

// stop implements `vswitchd stop --pid-file PATH`: it sends SIGTERM to the
// vswitchd whose PID is in PATH and waits until that process has exited,
// and so has removed what it made. A PID file that is absent, or names a
// process that has exited, means vswitchd is not running: that is said on
// stderr and is not an error. A PID that belongs to a process other than
// vswitchd is refused.
func stop(args []string) error {
	fs := flag.NewFlagSet("vswitchd stop", flag.ContinueOnError)
	pidFile := fs.String("pid-file", "", "the `PATH` given to vswitchd --pid-file")
	timeout := fs.Duration("timeout", stopTimeout, "how long to wait for vswitchd to exit")
	if err := parseSub(fs, "vswitchd stop --pid-file PATH [--timeout D]", args); err != nil {
		return err
	}
	if *pidFile == "" {
		return usageError{errors.New("--pid-file is required")}
	}
	pid, err := readPIDFile(*pidFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "vswitchd stop: not running (no %s)\n", *pidFile)
		return nil
	}
	if err != nil {
		return err
	}
	err = stopProcess(pid, *timeout)
	if errors.Is(err, errNotRunning) {
		fmt.Fprintf(os.Stderr, "vswitchd stop: not running (pid %d has exited)\n", pid)
		return nil
	}
	return err
}
