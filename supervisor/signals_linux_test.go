package supervisor

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDefaultSignals starts a command from a process that ignores SIGHUP
// (as under nohup) and checks that the command does not inherit it.
func TestDefaultSignals(t *testing.T) {
	ignoredIn := func(pid int) uint64 {
		t.Helper()
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatal("no SigIgn in /proc/PID/status")
		return 0
	}
	child := func() uint64 {
		t.Helper()
		cmd := exec.Command("sleep", "5")
		if err := cmd.Start(); err != nil {
			t.Skip("no sleep command:", err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		// Wait until the child has exec'd (its comm is sleep).
		for range 1000 {
			if b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"); string(b) == "sleep\n" {
				break
			}
			syscall.Nanosleep(&syscall.Timespec{Nsec: 1e6}, nil)
		}
		return ignoredIn(cmd.Process.Pid)
	}
	const hup = 1 << (syscall.SIGHUP - 1)

	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	if child()&hup == 0 {
		t.Fatal("the test's premise fails: an ignored SIGHUP is not inherited")
	}
	DefaultSignals()
	if m := child(); m&hup != 0 {
		t.Errorf("after DefaultSignals the command still ignores SIGHUP (SigIgn %#x)", m)
	}
}
