package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes this test binary run one helper test that calls the
// function under test, in a child process with its own flags.
const helperEnv = "VSWITCHD_TESTUTIL_HELPER"

// TestHelperProcess does nothing unless run as TestSkipRules's child.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "privileged":
		Privileged(t)
	case "tools":
		RequireTools(t, "vswitchd-no-such-tool")
	default:
		return
	}
	t.Log("ran")
}

// runHelper runs TestHelperProcess in a child with the given mode and go test
// flags and returns its output.
func runHelper(t *testing.T, mode string, privilegedEnv string, flags ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "-test.v"}, flags...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, PrivilegedEnv+"="+privilegedEnv)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestSkipRules: under -short privileged tests skip, even when mandatory;
// a missing tool fails a mandatory privileged test and skips it otherwise.
func TestSkipRules(t *testing.T) {
	tests := []struct {
		name, mode, env string
		flags           []string
		want            string // in the output
		pass            bool   // the child passes (skip or run)
	}{
		{"short skips privileged", "privileged", "1", []string{"-test.short"}, ShortSkip, true},
		{"short skips tools", "tools", "1", []string{"-test.short"}, ShortSkip, true},
		{"missing tool fails when mandatory", "tools", "1", nil, "missing tools: vswitchd-no-such-tool", false},
		{"missing tool skips otherwise", "tools", "", nil, "skipping privileged test: missing tools", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, pass := runHelper(t, tt.mode, tt.env, tt.flags...)
			if pass != tt.pass || !strings.Contains(out, tt.want) {
				t.Errorf("helper %s %v with %s=%q: passed %v, want %v, with %q in:\n%s", tt.mode, tt.flags, PrivilegedEnv, tt.env, pass, tt.pass, tt.want, out)
			}
		})
	}
}
