package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/internal/statedir"
	"github.com/vswitchd/vswitchd/netns"
)

// runLab creates the network namespace o.lab, runs vswitchd (the same
// flags without --lab and --pid-file) inside it, and deletes the namespace
// when the daemon exits, so nothing is ever configured in the caller's
// namespace.
//
// This process takes the state directory's lock before it creates
// anything, records the lab in the state directory (for `vswitchd cleanup`
// after a crash) and hands the lock to the daemon; the daemon dies with
// this process (SIGKILL as its parent-death signal), so `kill -9` of the
// PID a user sees never leaves a headless daemon behind.
func runLab(cfg daemon.Config, o options) int {
	name := o.lab
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: %v\n", err)
		return 1
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", errNotRoot)
		return 1
	}
	lock, err := statedir.Acquire(cfg.StateDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		return 1
	}
	defer lock.Release()
	if netns.Exists(name) {
		return fail(fmt.Errorf("network namespace %q already exists", name))
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	if o.pidFile != "" {
		if err := writePIDFile(o.pidFile); err != nil {
			return fail(err)
		}
		defer removePIDFile(o.pidFile)
	}
	// Signals that arrive while the lab is being made are kept and passed
	// on once the daemon runs.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if err := netns.Create(name); err != nil {
		return fail(err)
	}
	defer func() {
		killAll(name)
		if err := netns.Delete(name); err != nil {
			fmt.Fprintf(os.Stderr, "vswitchd --lab: %v\n", err)
			return // keep the record: cleanup can still find the lab
		}
		lock.RemoveLab()
	}()
	if err := lock.WriteLab(name); err != nil {
		return fail(err)
	}
	h, err := netns.Open(name)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	if nh, err := netns.HandleAt(h); err == nil {
		if lo, err := nh.LinkByName("lo"); err == nil {
			nh.LinkSetUp(lo)
		}
		nh.Close()
	}

	cmd := exec.Command(exe, o.argsWithout("lab", "pid-file", "detach")...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(withoutEnv(os.Environ(), labEnv, lockFDEnv), labEnv+"="+name, lockFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{lock.File()} // descriptor 3 in the daemon
	done, err := startInNetns(h, cmd)
	if err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
wait:
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err = <-done:
			break wait
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// killAll kills whatever still runs in the named namespace, except this
// process, and returns the PIDs it killed.
func killAll(name string) []int {
	pids, err := netns.Pids(name)
	if err != nil {
		return nil
	}
	var killed []int
	for _, pid := range pids {
		if pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
	}
	return killed
}

// withoutEnv returns env without the named variables.
func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
