package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// commands returns every command of vswitchctl's tree but the hidden ones
// (__complete), as argument paths: [] for the root, ["network", "ls"]…
func commands(t *testing.T) [][]string {
	t.Helper()
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(a.root(), []string{})
	if len(out) < 40 {
		t.Fatalf("walked %d commands, want the whole tree", len(out))
	}
	return out
}

// hasSubcommands reports whether the command at path groups others.
func hasSubcommands(path []string) bool {
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
	c, _, err := a.root().Find(path)
	return err == nil && c.HasSubCommands()
}

// oneErrorLine checks that stderr is exactly one "Error: " line.
func oneErrorLine(t *testing.T, args []string, r result) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("%q: exit 0, want an error", args)
	}
	if !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%q: stderr %q, want one Error line", args, r.stderr)
	}
}

// TestHelpEverywhere: --help, -h where it means help, and help COMMAND
// print to stdout and exit 0 for every command.
func TestHelpEverywhere(t *testing.T) {
	socket := noDaemon(t)
	for _, path := range commands(t) {
		name := strings.Join(append([]string{"vswitchctl"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				append(append([]string{}, path...), "--help"),
				append([]string{"help"}, path...),
			} {
				r := runCLI(t, socket, "", args...)
				if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
					t.Errorf("%q: exit %d, stderr %q, stdout %.80q; want usage on stdout, exit 0", args, r.code, r.stderr, r.stdout)
				}
			}
		})
	}
}

// TestUnknownSubcommand: every command that groups others fails on an
// unknown subcommand with one Error line, and prints its help without one.
func TestUnknownSubcommand(t *testing.T) {
	socket := noDaemon(t)
	parents := 0
	for _, path := range commands(t) {
		if !hasSubcommands(path) {
			continue
		}
		parents++
		name := strings.Join(append([]string{"vswitchctl"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{}, path...), "bogus")
			r := runCLI(t, socket, "", args...)
			oneErrorLine(t, args, r)
			if r.stdout != "" {
				t.Errorf("%q: stdout %q, want nothing", args, r.stdout)
			}
			if !strings.Contains(r.stderr, `unknown command "bogus"`) {
				t.Errorf("%q: stderr %q, want unknown command", args, r.stderr)
			}
			r = runCLI(t, socket, "", path...)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("%q: exit %d, stderr %q, stdout %.80q; want help on stdout, exit 0", path, r.code, r.stderr, r.stdout)
			}
		})
	}
	// root, network, fdb, port, uplink, conntrack, nat, completion
	if parents < 8 {
		t.Errorf("found %d parent commands, want at least 8", parents)
	}
}

// TestUsageErrors: other mistakes on the command line are one Error line
// too, before any request.
func TestUsageErrors(t *testing.T) {
	socket := noDaemon(t)
	for _, args := range [][]string{
		{"ps", "bogus"},
		{"ps", "--bogus"},
		{"network", "ls", "-z"},
		{"help", "network", "bogus"},
		{"help", "bogus"},
		{"fdb", "shwo"},
		{"exec", "web"},
		{"run", "--restart", "sometimes"},
		{"run", "--restart", "always:3"},
		{"run", "--restart", "on-failure:x"},
		{"run", "--rm", "--restart", "always"},
		{"run", "--add-host", "nohost"},
		{"run", "--add-host", "db:notanip"},
		{"run", "-P", "--name", "x"},
		{"run", "-d", "-t", "--name", "x"},
		{"exec", "-d", "-i", "web", "true"},
		{"stop", "-t", "-2", "web"},
		{"restart", "--timeout", "-1", "web"},
		{"logs", "--tail", "x", "web"},
		{"logs", "-f", "--tail", "0", "web"},
		{"ps", "--filter", "colour=red"},
		{"ps", "--filter", "status=paused"},
		{"ps", "--filter", "name"},
		{"ps", "--json", "-q"},
		{"fdb", "add", "02:00:00:00:00:01", "--vlan", "1"},
		{"fdb", "add", "02:00:00:00:00:01", "--port", "p"},
		{"fdb", "add", "02:00:00:00:00:01", "--port", "p", "--vlan", "1", "--network", "n"},
		{"fdb", "add", "not-a-mac", "--port", "p", "--vlan", "1"},
		{"fdb", "del", "02:00:00:00:00:01"},
		{"port", "set", "veth0"},
		{"conntrack", "list", "-p", "sctp"},
		{"conntrack", "list", "--src", "nope"},
		{"conntrack", "list", "--port", "70000"},
		{"uplink", "set", "veth0"},
		{"network", "prune"},
		{"log-level", "debug", "info"},
	} {
		r := runCLI(t, socket, "", args...)
		oneErrorLine(t, args, r)
		if strings.Contains(r.stderr, "connect to vswitchd") {
			t.Errorf("%q: %q, want it refused before any request", args, r.stderr)
		}
	}
}

// TestSuggestion: a near miss names the command meant, on the one line.
func TestSuggestion(t *testing.T) {
	r := runCLI(t, noDaemon(t), "", "netwrk")
	oneErrorLine(t, []string{"netwrk"}, r)
	if !strings.Contains(r.stderr, `did you mean "network"?`) {
		t.Errorf("stderr %q, want a suggestion", r.stderr)
	}
}

// TestVersionFlag: --version prints the client's version line.
func TestVersionFlag(t *testing.T) {
	r := runCLI(t, noDaemon(t), "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "vswitchctl 0.") || r.stderr != "" {
		t.Errorf("--version: %+v", r)
	}
}

// TestCompletionScripts: completion SHELL prints a script.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		r := runCLI(t, noDaemon(t), "", "completion", sh)
		out.WriteString(r.stdout)
		if r.code != 0 || !strings.Contains(out.String(), "__complete") {
			t.Errorf("completion %s: exit %d, %.80q", sh, r.code, out.String())
		}
	}
}
