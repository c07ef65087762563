package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vswitchd/vswitchd/netns"
)

// runLab creates the network namespace name, runs vswitchd (these args
// without --lab) inside it, and deletes the namespace when the daemon
// exits, so nothing is ever configured in the caller's namespace.
func runLab(name string, args []string) int {
	if netns.Exists(name) {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: network namespace %q already exists\n", name)
		return 1
	}
	if err := netns.Create(name); err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: %v\n", err)
		return 1
	}
	defer netns.Delete(name)
	h, err := netns.Open(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: %v\n", err)
		return 1
	}
	defer h.Close()
	if nh, err := netns.HandleAt(h); err == nil {
		if lo, err := nh.LinkByName("lo"); err == nil {
			nh.LinkSetUp(lo)
		}
		nh.Close()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, withoutLab(args)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "VSWITCHD_LAB="+name)
	// Forked from a thread inside the lab namespace, the child starts
	// there; all its threads stay there.
	if err := netns.Do(h, cmd.Start); err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd --lab: start: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
	// Whatever is left in the lab dies with it.
	if pids, err := netns.Pids(name); err == nil {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

func withoutLab(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--lab" || a == "-lab":
			i++
		case strings.HasPrefix(a, "--lab=") || strings.HasPrefix(a, "-lab="):
		default:
			out = append(out, a)
		}
	}
	return out
}
