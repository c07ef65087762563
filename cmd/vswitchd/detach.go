package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/internal/statedir"
)

// detachLog is the file in the state directory that a detached vswitchd's
// output is appended to.
const detachLog = "vswitchd.log"

// Detach timing: how long the daemon has to answer on its socket, and,
// if it does not, how long it gets to stop after SIGTERM.
const (
	detachReadyTimeout = 30 * time.Second
	detachStopTimeout  = 10 * time.Second
)

// detach implements --detach: it starts vswitchd again, without --detach,
// in a new session with its output appended to STATE-DIR/vswitchd.log, and
// returns once that vswitchd answers on its socket. It prints nothing on
// success; if the daemon exits or does not answer within
// detachReadyTimeout, it prints what the daemon wrote and fails.
//
// The started process is the one --pid-file records: the daemon itself,
// or with --lab the parent the daemon dies with.
func detach(cfg daemon.Config, o options) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		return 1
	}
	if os.Geteuid() != 0 {
		return fail(errNotRoot)
	}
	// Refuse at once what the daemon would refuse, and a socket that
	// another vswitchd answers on (which would look like success).
	if err := statedir.Check(cfg.StateDir); err != nil {
		return fail(err)
	}
	client := control.NewClient(o.socket)
	if answers(client) {
		return fail(fmt.Errorf("socket %s is in use by another vswitchd", o.socket))
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fail(fmt.Errorf("create state directory: %w", err))
	}
	logPath := filepath.Join(cfg.StateDir, detachLog)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fail(fmt.Errorf("open log: %w", err))
	}
	defer logf.Close()
	start, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(fmt.Errorf("open log: %w", err))
	}
	cmd := exec.Command(exe, o.argsWithout("detach")...)
	cmd.Stdout, cmd.Stderr = logf, logf // stdin: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.NewTimer(detachReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			// It failed to start: show why, and exit as it did.
			printSince(logPath, start)
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				return ee.ExitCode()
			}
			return fail(fmt.Errorf("daemon exited during start-up: %v (log: %s)", err, logPath))
		case <-tick.C:
			if answers(client) {
				return 0
			}
		case <-deadline.C:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(detachStopTimeout):
				cmd.Process.Kill()
				<-exited
			}
			printSince(logPath, start)
			return fail(fmt.Errorf("daemon did not answer on %s within %v; stopped it (log: %s)", o.socket, detachReadyTimeout, logPath))
		}
	}
}

// answers reports whether a vswitchd answers on the client's socket.
func answers(c *control.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Version(ctx)
	return err == nil
}

// printSince copies what was appended to the log at path after offset to
// stderr.
func printSince(path string, offset int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err == nil {
		io.Copy(os.Stderr, f)
	}
}
