// Package testutil holds helpers shared by vswitchd's tests: Privileged,
// the entry point of every privileged test, which skips it without root
// (or under -short) or fails it under VSWITCHD_PRIVILEGED=1,
// RequireTools, and PackageDoc.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// PrivilegedEnv is the environment variable that turns a privileged test's
// skip into a failure. CI sets it, so a privileged test can never pass there
// by quietly not running.
const PrivilegedEnv = "VSWITCHD_PRIVILEGED"

// ShortSkip is the reason privileged tests give for skipping under
// `go test -short` (make test-unit), whatever VSWITCHD_PRIVILEGED says.
const ShortSkip = "skipping privileged test under -short"

// Privileged skips t unless it runs as root with the kernel features the
// privileged tests need (network namespaces and /dev/net/tun). When
// VSWITCHD_PRIVILEGED=1 it fails instead of skipping. Under -short it
// always skips: make test-unit runs no privileged test, even as root.
func Privileged(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkip)
	}
	if reason := missing(); reason != "" {
		if os.Getenv(PrivilegedEnv) == "1" {
			t.Fatalf("privileged test cannot run (%s) but %s=1", reason, PrivilegedEnv)
		}
		t.Skipf("skipping privileged test: %s (run as root, e.g. go test -exec sudo)", reason)
	}
}

// RequireTools fails or skips t (as Privileged does) unless every named
// program is on PATH. Only privileged tests use it, so under -short it
// skips, as Privileged does. scripts/deps.sh installs every tool a test
// names here (a test in package test checks that it knows them all).
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkip)
	}
	var absent []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			absent = append(absent, tool)
		}
	}
	if len(absent) == 0 {
		return
	}
	reason := "missing tools: " + strings.Join(absent, ", ")
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("privileged test cannot run (%s) but %s=1", reason, PrivilegedEnv)
	}
	t.Skipf("skipping privileged test: %s", reason)
}

// MissingTool skips (or, with VSWITCHD_PRIVILEGED=1, fails) a test for
// a tool that is not installed, named with how to get it.
func MissingTool(t testing.TB, tool string) {
	t.Helper()
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("privileged test cannot run (missing tool: %s) but %s=1", tool, PrivilegedEnv)
	}
	t.Skipf("skipping privileged test: missing tool: %s", tool)
}

func missing() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Sprintf("no /dev/net/tun: %v", err)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Sprintf("no network namespaces: %v", err)
	}
	return ""
}
