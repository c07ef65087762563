package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// complete runs cobra's hidden __complete and returns the choices (without
// descriptions) and the directive line.
func complete(t *testing.T, socket string, args ...string) (choices []string, directive string, r result) {
	t.Helper()
	r = runCLI(t, socket, "", append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	directive = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		choices = append(choices, strings.SplitN(l, "\t", 2)[0])
	}
	return choices, directive, r
}

// TestCompletion: names come from the daemon; the fake has endpoints web
// (running), job (exited), pause (no command) and flaky (restarting),
// networks front and back, ports web/eth0 (tap), veth-ovs and veth-all.
func TestCompletion(t *testing.T) {
	f := newFakeDaemon(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"exec", ""}, []string{"web", "job", "pause", "flaky"}},
		{[]string{"exec", "w"}, []string{"web"}},
		{[]string{"logs", ""}, []string{"web", "job", "pause", "flaky"}},
		{[]string{"top", "p"}, []string{"pause"}},
		{[]string{"inspect", "web", ""}, []string{"job", "pause", "flaky"}},
		{[]string{"rm", "-f", ""}, []string{"web", "job", "pause", "flaky"}},
		{[]string{"stop", ""}, []string{"web", "flaky"}},
		{[]string{"kill", ""}, []string{"web", "flaky"}},
		{[]string{"start", ""}, []string{"job", "pause"}},
		{[]string{"restart", ""}, []string{"web", "job", "pause", "flaky"}},
		{[]string{"publish", ""}, []string{"web", "job", "pause", "flaky"}},
		{[]string{"network", "inspect", ""}, []string{"front", "back"}},
		{[]string{"network", "rm", "front", ""}, []string{"back"}},
		{[]string{"network", "connect", ""}, []string{"front", "back"}},
		{[]string{"network", "connect", "back", ""}, []string{"pause", "flaky"}},
		{[]string{"network", "disconnect", "back", ""}, []string{"web", "job"}},
		{[]string{"network", "disconnect", "back", "web", ""}, nil},
		{[]string{"run", "--net", ""}, []string{"front", "back"}},
		{[]string{"run", "--network", "f"}, []string{"front"}},
		{[]string{"run", "--restart", ""}, []string{"no", "on-failure", "always", "unless-stopped"}},
		{[]string{"port", "del", ""}, []string{"veth-ovs", "veth-all"}},
		{[]string{"port", "set", "veth-a"}, []string{"veth-all"}},
		{[]string{"fdb", "add", "02:00:00:00:00:01", "--port", ""}, []string{"web/eth0", "veth-ovs", "veth-all"}},
		{[]string{"fdb", "add", "02:00:00:00:00:01", "--network", ""}, []string{"front", "back"}},
		{[]string{"conntrack", "list", "--zone", ""}, []string{"front", "back", "host", "uplink"}},
		{[]string{"log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"kill", "-s", ""}, signals},
		{[]string{"network", ""}, []string{"connect", "create", "disconnect", "inspect", "ls", "peer", "prune", "rm"}},
		{[]string{"--socket", f.socket, "exec", ""}, []string{"web", "job", "pause", "flaky"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, _, r := complete(t, f.socket, tt.args...)
			if r.code != 0 || strings.Contains(r.stderr, "Error") {
				t.Errorf("exit %d, stderr %q", r.code, r.stderr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompletionNoDaemon: without a daemon there is nothing to offer, no
// error, and exit 0.
func TestCompletionNoDaemon(t *testing.T) {
	socket := noDaemon(t)
	for _, args := range [][]string{{"exec", ""}, {"network", "connect", ""}, {"run", "--net", ""}, {"port", "del", ""}, {"stop", "w"}} {
		got, directive, r := complete(t, socket, args...)
		if r.code != 0 || len(got) != 0 || directive != ":4" || strings.Contains(r.stderr, "Error") || strings.Contains(r.stderr, "connect") {
			t.Errorf("__complete %q: %q %s, exit %d, stderr %q; want nothing, :4, exit 0", args, got, directive, r.code, r.stderr)
		}
	}
}
