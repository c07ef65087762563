//go:build linux

package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// The Docker verbs of vswitchctl as a user types them: run and exec with
// their options, the endpoint life cycle, logs, restart policies,
// published ports, isolation, the gateway as the host, and DNS. Every
// check goes through the real binary (l.ctl) and real tools inside the
// endpoints; --json output is decoded strictly (cliDecode).

// cliDecode decodes data into v as a strict client would: an unknown
// field, trailing data or a field of v's type missing from the JSON (the
// README: "always present, null or empty, never missing") is an error.
func cliDecode(data string, v any) error {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	var raw any
	if err := json.Unmarshal([]byte(data), &raw); err != nil {
		return err
	}
	if missing := cliMissingFields(reflect.TypeOf(v), raw, "$"); len(missing) > 0 {
		return fmt.Errorf("fields missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

var cliTimeType = reflect.TypeFor[time.Time]()

// cliMissingFields lists the JSON paths where raw lacks a field of typ.
func cliMissingFields(typ reflect.Type, raw any, path string) []string {
	if raw == nil {
		return nil // null: allowed for pointers, slices and maps
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	var out []string
	switch typ.Kind() {
	case reflect.Struct:
		if typ == cliTimeType {
			return nil
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return []string{path + " (not an object)"}
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			v, ok := m[name]
			if !ok {
				if !strings.Contains(opts, "omitempty") {
					out = append(out, path+"."+name)
				}
				continue
			}
			out = append(out, cliMissingFields(f.Type, v, path+"."+name)...)
		}
	case reflect.Slice, reflect.Array:
		if l, ok := raw.([]any); ok {
			for i, v := range l {
				out = append(out, cliMissingFields(typ.Elem(), v, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case reflect.Map:
		if m, ok := raw.(map[string]any); ok {
			for k, v := range m {
				out = append(out, cliMissingFields(typ.Elem(), v, path+"["+k+"]")...)
			}
		}
	}
	return out
}

// cliJSON runs vswitchctl ARGS --json and decodes its output strictly
// into v.
func cliJSON(t *testing.T, l *lab, v any, args ...string) {
	t.Helper()
	out := l.mustCtl(append(args, "--json")...)
	if err := cliDecode(out, v); err != nil {
		t.Fatalf("vswitchctl %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliFailed reports how r is not the failure of a vswitchctl request as
// the README describes it: a non-zero exit status and exactly one line on
// stderr, starting "Error: ". It returns "" when r is such a failure.
func cliFailed(r result) string {
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	switch {
	case r.code == 0:
		return "exited 0"
	case r.code < 0:
		return "did not run: " + r.stderr
	case r.stderr == "" || len(lines) != 1:
		return fmt.Sprintf("want exactly one line on stderr, got %d", len(lines))
	case !strings.HasPrefix(lines[0], "Error: "):
		return "stderr does not start with \"Error: \""
	}
	return ""
}

// cliMustFail fails the test unless r is a one-line failure with status
// code (0: any non-zero status).
func cliMustFail(t *testing.T, what string, r result, code int) {
	t.Helper()
	if why := cliFailed(r); why != "" {
		t.Errorf("%s: %s\n%v", what, why, r)
	} else if code != 0 && r.code != code {
		t.Errorf("%s: exit status %d, want %d\n%v", what, r.code, code, r)
	}
}

// cliField runs inspect -f TEMPLATE on an endpoint.
func cliField(t *testing.T, l *lab, ep, tmpl string) string {
	t.Helper()
	return strings.TrimSpace(l.mustCtl("inspect", "-f", tmpl, ep))
}

// cliEndpoints returns ps -a --json, decoded strictly, by name.
func cliEndpoints(t *testing.T, l *lab, args ...string) map[string]control.Endpoint {
	t.Helper()
	var es []control.Endpoint
	cliJSON(t, l, &es, append([]string{"ps"}, args...)...)
	m := map[string]control.Endpoint{}
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

// cliNames returns the first column of each line of out but the header.
func cliNames(out string) []string {
	var names []string
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); i > 0 && len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// cliNsPids returns the PIDs `ip netns pids` lists for an endpoint.
func cliNsPids(t *testing.T, l *lab, ep string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runCmd(ctx, "", "ip", "netns", "pids", l.prefix+ep)
	if r.code != 0 {
		t.Fatalf("ip netns pids %s: %v", l.prefix+ep, r)
	}
	return strings.Fields(r.stdout)
}

// TestPrivilegedDockerRunMissingCommand: run -d of a command that does not
// exist exits 127 (126: not executable) with one error line and leaves no
// endpoint, namespace or file behind; exec of one exits 127 too.
func TestPrivilegedDockerRunMissingCommand(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	before := cliEndpoints(t, l, "-a")

	r := l.ctl("run", "-d", "--net", "n", "--name", "ghost", "--", "no-such-command-xyz", "arg")
	cliMustFail(t, "run -d of a missing command", r, 127)
	if !strings.Contains(r.stderr, "no-such-command-xyz") {
		t.Errorf("the error does not name the command: %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("run -d of a missing command printed %q", r.stdout)
	}
	noexec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(noexec, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = l.ctl("run", "-d", "--net", "n", "--name", "ghost", "--", noexec)
	cliMustFail(t, "run -d of a file that is not executable", r, 126)

	after := cliEndpoints(t, l, "-a")
	if len(after) != len(before) {
		t.Errorf("endpoints after failed runs: %v, before %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
	}
	if netns.Exists(l.prefix + "ghost") {
		t.Error("the namespace of the failed run is left")
	}
	if _, err := os.Stat(filepath.Join(netns.EtcDir, l.prefix+"ghost")); err == nil {
		t.Error("the /etc/netns entry of the failed run is left")
	}
	var n []control.Network
	cliJSON(t, l, &n, "network", "inspect", "n")
	if len(n) != 1 || len(n[0].Endpoints) != 0 {
		t.Errorf("network n after failed runs: %+v", n)
	}
	if _, ok := l.ports()["ghost/eth0"]; ok {
		t.Error("the switch port of the failed run is left")
	}
	// The name is free again, and the address it had is given out again.
	l.mustCtl("run", "-d", "--net", "n", "--name", "ghost", "--", "sleep", "300")
	first := netip.MustParsePrefix(n[0].Subnet).Addr().Next().Next() // after the gateway
	if ip := cliField(t, l, "ghost", "{{(index .NICs 0).IP}}"); ip != first.String() {
		t.Errorf("ghost has %s: a failed run kept an address of %s", ip, n[0].Subnet)
	}

	if r := l.exec("ghost", "no-such-command-xyz"); r.code != 127 {
		t.Errorf("exec of a missing command: %v, want exit 127", r)
	}
	if r := l.exec("ghost", noexec); r.code != 126 {
		t.Errorf("exec of a file that is not executable: %v, want exit 126", r)
	}
	if r := l.exec("ghost", "sh", "-c", "exit 42"); r.code != 42 {
		t.Errorf("exec sh -c 'exit 42': %v", r)
	}
}

// TestPrivilegedDockerDefaultNetwork: the default network bridge (made at
// start: 172.17.0.0/16, VLAN 1) takes a run without --network; a run
// without --name gets a made-up name, printed; bridge cannot be removed
// and prune leaves it.
func TestPrivilegedDockerDefaultNetwork(t *testing.T) {
	testutil.RequireTools(t, "ping")
	l := startLab(t, labOptions{})

	var ns []control.Network
	cliJSON(t, l, &ns, "network", "ls")
	if len(ns) != 1 || ns[0].Name != "bridge" || ns[0].Subnet != "172.17.0.0/16" || ns[0].VLAN != 1 || ns[0].Gateway != "172.17.0.1" || !ns[0].ICC || ns[0].Internal {
		t.Fatalf("networks at start: %+v, want only bridge, 172.17.0.0/16, VLAN 1", ns)
	}
	for _, args := range [][]string{{"network", "rm", "bridge"}, {"network", "rm", "-f", "bridge"}} {
		cliMustFail(t, strings.Join(args, " "), l.ctl(args...), 1)
	}

	// prune: bridge is empty too, but stays.
	l.mustCtl("network", "create", "empty1")
	l.mustCtl("network", "create", "empty2")
	l.mustCtl("network", "create", "used")
	l.mustCtl("run", "-d", "--net", "used", "--name", "u")
	var p control.NetworkPrune
	cliJSON(t, l, &p, "network", "prune", "-f")
	sort.Strings(p.Removed)
	if !slices.Equal(p.Removed, []string{"empty1", "empty2"}) {
		t.Errorf("prune removed %v, want empty1 and empty2", p.Removed)
	}
	if got := strings.Fields(l.mustCtl("network", "ls", "-q")); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"bridge", "used"}) {
		t.Errorf("networks after prune: %v, want bridge and used", got)
	}
	if out := l.mustCtl("network", "prune", "-f"); strings.TrimSpace(out) != "" {
		t.Errorf("a prune with nothing to remove printed %q", out)
	}

	// run without --name and --network.
	name := strings.TrimSpace(l.mustCtl("run", "-d", "--", "sleep", "300"))
	if !regexp.MustCompile(`^[a-z]+_[a-z_]+$`).MatchString(name) {
		t.Fatalf("run -d without --name printed %q, want a made-up adjective_surname", name)
	}
	other := strings.TrimSpace(l.mustCtl("run", "-d"))
	if other == name || !regexp.MustCompile(`^[a-z]+_[a-z_]+$`).MatchString(other) {
		t.Errorf("a second run without --name printed %q (first %q)", other, name)
	}
	if !netns.Exists(l.prefix + name) {
		t.Errorf("no namespace %s for the made-up name", l.prefix+name)
	}
	e := l.endpoint(name)
	if len(e.NICs) != 1 || e.NICs[0].Network != "bridge" || e.NICs[0].Gateway != "172.17.0.1" {
		t.Fatalf("%s NICs: %+v, want one on bridge", name, e.NICs)
	}
	if ip, err := netip.ParseAddr(e.NICs[0].IP); err != nil || !netip.MustParsePrefix("172.17.0.0/16").Contains(ip) {
		t.Errorf("%s has address %q, not in 172.17.0.0/16", name, e.NICs[0].IP)
	}
	if out := l.mustCtl("ps", "--filter", "network=bridge", "--format", "{{.Name}}"); !slices.Contains(strings.Fields(out), name) {
		t.Errorf("ps --filter network=bridge does not list %s:\n%s", name, out)
	}
	if out := l.mustExec(name, "hostname"); strings.TrimSpace(out) != name {
		t.Errorf("hostname in %s: %q", name, out)
	}
	l.mustExec(name, "ping", "-c1", "-W2", "172.17.0.1")
	l.mustExec(name, "ping", "-c1", "-W2", other)
	if out := l.mustExec(name, "ip", "-4", "route", "show", "default"); !strings.Contains(out, "via 172.17.0.1 dev eth0") {
		t.Errorf("default route in %s: %q", name, out)
	}
	// Now in use, bridge is not pruned either; neither is used.
	cliJSON(t, l, &p, "network", "prune", "-f")
	if len(p.Removed) != 0 {
		t.Errorf("second prune removed %v", p.Removed)
	}
}

// TestPrivilegedDockerLifecycle: stop, start, restart and kill as ps -a,
// inspect -f and the namespace's processes show them; top lists the
// command's processes.
func TestPrivilegedDockerLifecycle(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "s", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "n", "--name", "other", "--", "sleep", "300")
	state := func() string { return cliField(t, l, "s", "{{.State}} {{.ExitCode}}") }
	pid := func() string { return cliField(t, l, "s", "{{.PID}}") }
	// sleeping waits until s's command is sleep itself (no longer the
	// daemon's helper that execs it), so that how a signal ends it does
	// not depend on when it arrives.
	sleeping := func() {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			p := pid()
			b, err := os.ReadFile("/proc/" + p + "/comm")
			if err != nil || string(b) != "sleep\n" {
				return errorf("s's command (PID %s) is %q (%v), not sleep yet", p, b, err)
			}
			return nil
		})
	}
	sleeping()
	ip := cliField(t, l, "s", "{{(index .NICs 0).IP}}")

	if got := state(); got != "running <nil>" {
		t.Fatalf("after run: %q, want running <nil>", got)
	}
	pid1 := pid()
	if pids := cliNsPids(t, l, "s"); !slices.Contains(pids, pid1) {
		t.Errorf("ip netns pids does not list the command's PID %s: %v", pid1, pids)
	}

	// top lists the command (table and JSON).
	out := l.mustCtl("top", "s")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "PID") || !strings.Contains(lines[0], "CMD") {
		t.Fatalf("top s:\n%s", out)
	}
	found := false
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == pid1 && strings.HasSuffix(line, "sleep 300") {
			found = true
		}
	}
	if !found {
		t.Errorf("top s does not list PID %s running sleep 300:\n%s", pid1, out)
	}
	var top control.Top
	cliJSON(t, l, &top, "top", "s")
	pidCol := slices.Index(top.Titles, "PID")
	if pidCol < 0 || !slices.ContainsFunc(top.Processes, func(p []string) bool { return len(p) > pidCol && p[pidCol] == pid1 }) {
		t.Errorf("top s --json: %+v, want PID %s", top, pid1)
	}
	if out := l.mustCtl("top", "other"); strings.Contains(out, " "+pid1+" ") {
		t.Errorf("top other lists s's command:\n%s", out)
	}

	// stop: exited with SIGTERM's status, hidden from ps, listed by ps -a;
	// no process left in the namespace, which stays.
	if out := l.mustCtl("stop", "s"); strings.TrimSpace(out) != "s" {
		t.Errorf("stop printed %q, want the name", out)
	}
	if got := state(); got != "exited 143" {
		t.Errorf("after stop: %q, want exited 143", got)
	}
	if got := pid(); got != "0" {
		t.Errorf("PID after stop: %s", got)
	}
	if names := cliNames(l.mustCtl("ps")); slices.Contains(names, "s") || !slices.Contains(names, "other") {
		t.Errorf("ps after stop lists %v: want other and not s", names)
	}
	if out := l.mustCtl("ps", "-a", "--filter", "name=s", "--format", "{{.Name}}|{{.State}}|{{.ExitCode}}|{{.Status}}"); !strings.Contains(out, "s|exited|143|Exited (143) ") {
		t.Errorf("ps -a after stop:\n%s", out)
	}
	if _, ok := cliEndpoints(t, l)["s"]; ok {
		t.Error("ps --json lists the stopped endpoint")
	}
	if e := cliEndpoints(t, l, "-a")["s"]; e.State != control.StateExited || e.ExitCode == nil || *e.ExitCode != 143 || e.FinishedAt == nil {
		t.Errorf("ps -a --json: s = %+v", e)
	}
	if pids := cliNsPids(t, l, "s"); len(pids) != 0 {
		t.Errorf("processes left in s after stop: %v", pids)
	}
	if !netns.Exists(l.prefix + "s") {
		t.Fatal("stop removed the namespace")
	}

	// start: the command again, a new PID, the same endpoint and address.
	l.mustCtl("start", "s")
	if got := state(); got != "running <nil>" {
		t.Errorf("after start: %q", got)
	}
	sleeping()
	pid2 := pid()
	if pid2 == pid1 || pid2 == "0" {
		t.Errorf("start: PID %s, before %s", pid2, pid1)
	}
	if got := cliField(t, l, "s", "{{(index .NICs 0).IP}}"); got != ip {
		t.Errorf("start changed the address %s to %s", ip, got)
	}
	if pids := cliNsPids(t, l, "s"); !slices.Contains(pids, pid2) {
		t.Errorf("the restarted command %s is not in the namespace: %v", pid2, pids)
	}
	l.mustExec("other", "ping", "-c1", "-W2", "s")
	// start of a running endpoint changes nothing.
	l.mustCtl("start", "s")
	if got := pid(); got != pid2 {
		t.Errorf("start of a running endpoint: PID %s, was %s", got, pid2)
	}

	// restart: a new PID again.
	l.mustCtl("restart", "-t", "1", "s")
	sleeping()
	pid3 := pid()
	if got := state(); got != "running <nil>" || pid3 == pid2 || pid3 == "0" {
		t.Errorf("after restart: %q PID %s (was %s)", got, pid3, pid2)
	}

	// kill -s: the status is 128 + the signal, by name or number.
	for _, c := range []struct{ sig, want string }{
		{"TERM", "exited 143"}, {"SIGHUP", "exited 129"}, {"2", "exited 130"}, {"", "exited 137"},
	} {
		args := []string{"kill", "s"}
		if c.sig != "" {
			args = []string{"kill", "-s", c.sig, "s"}
		}
		if out := l.mustCtl(args...); strings.TrimSpace(out) != "s" {
			t.Errorf("%v printed %q", args, out)
		}
		eventually(t, 5*time.Second, func() error {
			if got := state(); got != c.want {
				return errorf("after kill -s %q: %q, want %q", c.sig, got, c.want)
			}
			return nil
		})
		l.mustCtl("start", "s")
		sleeping()
	}
	// kill of a stopped endpoint is refused.
	l.mustCtl("stop", "-t", "0", "s")
	cliMustFail(t, "kill of a stopped endpoint", l.ctl("kill", "s"), 1)

	// stop -t 0 kills a command that ignores SIGTERM at once.
	l.mustCtl("run", "-d", "--net", "n", "--name", "stubborn", "--", "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`)
	// ready is printed once the shell ignores SIGTERM.
	ready := func(n int) {
		t.Helper()
		eventually(t, 5*time.Second, func() error {
			if out := l.mustCtl("logs", "stubborn"); strings.Count(out, "ready") != n {
				return errorf("stubborn's logs: %q, want ready %d times", out, n)
			}
			return nil
		})
	}
	ready(1)
	start := time.Now()
	l.mustCtl("stop", "-t", "0", "stubborn")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop -t 0 took %v", d)
	}
	if got := cliField(t, l, "stubborn", "{{.State}} {{.ExitCode}}"); got != "exited 137" {
		t.Errorf("stop -t 0 of a command that ignores SIGTERM: %q, want exited 137", got)
	}
	if pids := cliNsPids(t, l, "stubborn"); len(pids) != 0 {
		t.Errorf("processes left after stop -t 0: %v", pids)
	}
	// ... and the default grace is a few seconds, then SIGKILL.
	l.mustCtl("start", "stubborn")
	ready(2)
	start = time.Now()
	l.mustCtl("stop", "stubborn")
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("stop of a command that ignores SIGTERM took %v, want the grace of about 3 s", d)
	}
	if got := cliField(t, l, "stubborn", "{{.State}} {{.ExitCode}}"); got != "exited 137" {
		t.Errorf("stop of a command that ignores SIGTERM: %q, want exited 137", got)
	}

	// The API and the README: "-t 0: SIGKILL at once" (control.Stop:
	// "0 sends SIGKILL at once"), so even a command that would die of
	// SIGTERM is killed by SIGKILL: 137, not 143.
	l.mustCtl("start", "s")
	sleeping()
	l.mustCtl("stop", "-t", "0", "s")
	if got := state(); got != "exited 137" {
		t.Errorf("stop -t 0: %q, want exited 137 (SIGKILL at once, as control.Stop and the README say)", got)
	}
}

// TestPrivilegedDockerLogs: logs --tail N keeps the last N lines, -t
// prefixes RFC 3339 time stamps.
func TestPrivilegedDockerLogs(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	before := time.Now().Add(-time.Minute)
	l.mustCtl("run", "-d", "--net", "n", "--name", "lg", "--", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done; sleep 300")
	eventually(t, 5*time.Second, func() error {
		if out := l.mustCtl("logs", "lg"); out != "line1\nline2\nline3\nline4\nline5\n" {
			return errorf("logs lg = %q", out)
		}
		return nil
	})
	for _, flag := range []string{"--tail", "-n"} {
		if out := l.mustCtl("logs", flag, "2", "lg"); out != "line4\nline5\n" {
			t.Errorf("logs %s 2: %q", flag, out)
		}
	}
	if out := l.mustCtl("logs", "--tail", "9", "lg"); out != "line1\nline2\nline3\nline4\nline5\n" {
		t.Errorf("logs --tail 9 of 5 lines: %q", out)
	}
	if out := l.mustCtl("logs", "--tail", "0", "lg"); out != "" {
		t.Errorf("logs --tail 0: %q", out)
	}
	check := func(args []string, want []string) {
		t.Helper()
		out := l.mustCtl(append(args, "lg")...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(want) {
			t.Errorf("%v: %q, want %d lines", args, out, len(want))
			return
		}
		after := time.Now().Add(time.Minute)
		var prev time.Time
		for i, line := range lines {
			ts, text, _ := strings.Cut(line, " ")
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || text != want[i] || tm.Before(before) || tm.After(after) {
				t.Errorf("%v line %q: time %v (%v), text %q, want an RFC 3339 time of now and %q", args, line, tm, err, text, want[i])
			}
			// The lines were printed 0.1 s apart.
			if i > 0 && tm.Sub(prev) < 50*time.Millisecond {
				t.Errorf("%v: line %q is stamped %v after the one before, want about 0.1 s", args, line, tm.Sub(prev))
			}
			prev = tm
		}
	}
	check([]string{"logs", "-t"}, []string{"line1", "line2", "line3", "line4", "line5"})
	check([]string{"logs", "-t", "--tail", "1"}, []string{"line5"})
	check([]string{"logs", "--timestamps", "-n", "3"}, []string{"line3", "line4", "line5"})
	cliMustFail(t, "logs --tail x", l.ctl("logs", "--tail", "x", "lg"), 1)
	cliMustFail(t, "logs of an unknown endpoint", l.ctl("logs", "nosuch"), 1)
}

// TestPrivilegedDockerHostname: run -h sets the host name the command and
// exec see (the endpoint's own UTS namespace); without it, the endpoint's
// name. The machine's own host name does not change.
func TestPrivilegedDockerHostname(t *testing.T) {
	l := startLab(t, labOptions{})
	own, _ := os.Hostname()
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "hn", "-h", "h1", "--", "sh", "-c", "hostname; sleep 300")
	l.mustCtl("run", "-d", "--net", "n", "--name", "hn2", "--hostname", "h2.example")
	l.mustCtl("run", "-d", "--net", "n", "--name", "plain")
	eventually(t, 5*time.Second, func() error {
		if out := l.mustCtl("logs", "hn"); out != "h1\n" {
			return errorf("the command's hostname printed %q, want h1", out)
		}
		return nil
	})
	for ep, want := range map[string]string{"hn": "h1", "hn2": "h2.example", "plain": "plain"} {
		if out := l.mustExec(ep, "hostname"); strings.TrimSpace(out) != want {
			t.Errorf("exec %s hostname: %q, want %s", ep, out, want)
		}
		if out := l.mustExec(ep, "cat", "/proc/sys/kernel/hostname"); strings.TrimSpace(out) != want {
			t.Errorf("exec %s cat /proc/sys/kernel/hostname: %q, want %s", ep, out, want)
		}
		if got := cliField(t, l, ep, "{{.Hostname}}"); got != want {
			t.Errorf("inspect %s .Hostname = %q, want %s", ep, got, want)
		}
	}
	// A restarted command sees the name too.
	l.mustCtl("restart", "-t", "0", "hn")
	eventually(t, 5*time.Second, func() error {
		if out := l.mustCtl("logs", "--tail", "1", "hn"); out != "h1\n" {
			return errorf("after restart the command's hostname printed %q", out)
		}
		return nil
	})
	if now, _ := os.Hostname(); now != own {
		t.Errorf("the machine's host name changed from %q to %q", own, now)
	}
	if r := l.host("hostname"); strings.TrimSpace(r.stdout) != own {
		t.Errorf("the lab's host name is %q, want the machine's %q", r.stdout, own)
	}
	cliMustFail(t, "run -h with a bad host name", l.ctl("run", "-d", "--net", "n", "--name", "badh", "-h", "bad name!"), 1)
	if _, ok := cliEndpoints(t, l, "-a")["badh"]; ok {
		t.Error("a run with a bad host name left its endpoint")
	}
}

// TestPrivilegedDockerExecOptions: exec -w, -u, -e and -d; exec returns
// with the command's status while a background child still holds its
// output.
func TestPrivilegedDockerExecOptions(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "e", "--", "sleep", "300")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-w", "/tmp", "e", "pwd"}, "/tmp"},
		{[]string{"--workdir", "/etc", "e", "--", "pwd"}, "/etc"},
		{[]string{"e", "pwd"}, "/"},
		{[]string{"-u", "nobody", "e", "id", "-u"}, "65534"},
		{[]string{"-u", "nobody:nogroup", "e", "id", "-g"}, "65534"},
		{[]string{"--user", "1234:1235", "e", "sh", "-c", "echo $(id -u):$(id -g)"}, "1234:1235"},
		{[]string{"e", "id", "-u"}, "0"},
		{[]string{"-e", "FOO=bar baz", "e", "sh", "-c", "echo $FOO"}, "bar baz"},
	} {
		r := l.ctl(append([]string{"exec"}, c.args...)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("exec %v: %v, want %q", c.args, r, c.want)
		}
	}

	// exec -d returns at once; the command runs on.
	marker := filepath.Join(t.TempDir(), "exec-d-"+l.id)
	start := time.Now()
	r := l.ctl("exec", "-d", "e", "--", "sh", "-c", "sleep 2; touch "+marker)
	if d := time.Since(start); r.code != 0 || r.stdout != "" || d > 1500*time.Millisecond {
		t.Errorf("exec -d: %v after %v, want exit 0 at once with no output", r, d)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := os.Stat(marker); err != nil {
			return err
		}
		return nil
	})
	os.Remove(marker)
	cliMustFail(t, "exec -d -i", l.ctl("exec", "-d", "-i", "e", "true"), 1)

	// A background child holding stdout does not keep exec waiting.
	for _, c := range []struct {
		script, out string
		code        int
	}{
		{"sleep 30 & exit 5", "", 5},
		{"sleep 30 & echo fg-out; exit 6", "fg-out\n", 6},
		{"(sleep 30; echo late) & echo early", "early\n", 0},
	} {
		start := time.Now()
		r := l.exec("e", "sh", "-c", c.script)
		if d := time.Since(start); r.code != c.code || r.stdout != c.out || d > 5*time.Second {
			t.Errorf("exec sh -c %q: %v after %v, want exit %d and %q within 5 s", c.script, r, d, c.code, c.out)
		}
	}
}

// TestPrivilegedDockerResolvAndHosts: --dns servers follow the gateway in
// resolv.conf; --add-host lines (host-gateway: the host's leg address)
// are in /etc/hosts and resolve.
func TestPrivilegedDockerResolvAndHosts(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "r", "--dns", "192.0.2.53", "--dns", "192.0.2.54",
		"--add-host", "foo:10.9.9.9", "--add-host", "bar:host-gateway", "--", "sleep", "300")
	gw := gateway(t, l, "n")

	conf := l.mustExec("r", "cat", "/etc/resolv.conf")
	var servers []string
	ndots := false
	for _, line := range strings.Split(conf, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
		if len(f) >= 2 && f[0] == "options" && slices.Contains(f[1:], "ndots:0") {
			ndots = true
		}
	}
	if !slices.Equal(servers, []string{gw, "192.0.2.53", "192.0.2.54"}) || !ndots {
		t.Errorf("resolv.conf in r: nameservers %v, want %s then the --dns servers, with ndots:0:\n%s", servers, gw, conf)
	}
	if b, err := os.ReadFile(filepath.Join(netns.EtcDir, l.prefix+"r", "resolv.conf")); err != nil || string(b) != conf {
		t.Errorf("/etc/netns/%sr/resolv.conf (%v) differs from what exec sees:\n%s", l.prefix, err, b)
	}

	hosts := l.mustExec("r", "cat", "/etc/hosts")
	want := map[string]string{"foo": "10.9.9.9", "bar": "169.254.127.1", "r": nicOn(t, l, "r", "n").IP}
	for _, line := range strings.Split(hosts, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && want[f[1]] == f[0] {
			delete(want, f[1])
		}
	}
	if len(want) != 0 {
		t.Errorf("/etc/hosts in r lacks %v:\n%s", want, hosts)
	}
	for name, ip := range map[string]string{"foo": "10.9.9.9", "bar": "169.254.127.1"} {
		if out := l.mustExec("r", "getent", "hosts", name); !strings.HasPrefix(out, ip+" ") {
			t.Errorf("getent hosts %s: %q, want %s", name, out, ip)
		}
	}
	e := l.endpoint("r")
	if !slices.Equal(e.DNS, []string{"192.0.2.53", "192.0.2.54"}) || !slices.Equal(e.ExtraHosts, []string{"foo:10.9.9.9", "bar:host-gateway"}) {
		t.Errorf("inspect r: dns %v extra_hosts %v", e.DNS, e.ExtraHosts)
	}
	// Without --dns the gateway is the only server.
	l.mustCtl("run", "-d", "--net", "n", "--name", "q")
	if conf := l.mustExec("q", "cat", "/etc/resolv.conf"); strings.Count(conf, "nameserver") != 1 || !strings.Contains(conf, "nameserver "+gw) {
		t.Errorf("resolv.conf without --dns:\n%s", conf)
	}
	cliMustFail(t, "run --dns not-an-ip", l.ctl("run", "-d", "--net", "n", "--name", "x", "--dns", "not-an-ip"), 1)
	cliMustFail(t, "run --add-host foo", l.ctl("run", "-d", "--net", "n", "--name", "x", "--add-host", "foo"), 1)
	cliMustFail(t, "run --add-host foo:bar", l.ctl("run", "-d", "--net", "n", "--name", "x", "--add-host", "foo:bar"), 1)
	if _, ok := cliEndpoints(t, l, "-a")["x"]; ok {
		t.Error("a refused run left its endpoint")
	}
}

// TestPrivilegedDockerRestartPolicy: on-failure:N runs a failing command N
// more times; always survives kill; stop holds it for good.
func TestPrivilegedDockerRestartPolicy(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")

	l.mustCtl("run", "-d", "--net", "n", "--name", "of", "--restart", "on-failure:2", "--", "sh", "-c", "echo ran; exit 3")
	show := func(ep string) string {
		return cliField(t, l, ep, "{{.State}} {{.ExitCode}} {{.RestartCount}}")
	}
	eventually(t, 15*time.Second, func() error {
		if got := show("of"); got != "exited 3 2" {
			return errorf("of: %q, want exited 3 2", got)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond) // more than the back-off so far
	if got := show("of"); got != "exited 3 2" {
		t.Errorf("of ran again after its 2 retries: %q", got)
	}
	if out := l.mustCtl("logs", "of"); out != "ran\nran\nran\n" {
		t.Errorf("logs of on-failure:2: %q, want 3 runs", out)
	}
	if got := cliField(t, l, "of", "{{.RestartPolicy}}"); got != "on-failure:2" {
		t.Errorf("restart policy: %q", got)
	}
	if out := l.mustCtl("ps", "-a", "--filter", "name=of", "--format", "{{.Status}}"); !strings.HasPrefix(out, "Exited (3) ") {
		t.Errorf("ps -a status: %q", out)
	}

	// on-failure does not run a command that succeeded.
	l.mustCtl("run", "-d", "--net", "n", "--name", "ok", "--restart", "on-failure:5", "--", "true")
	eventually(t, 5*time.Second, func() error {
		if got := show("ok"); got != "exited 0 0" {
			return errorf("ok: %q, want exited 0 0", got)
		}
		return nil
	})

	// always: kill is survived, stop is not.
	l.mustCtl("run", "-d", "--net", "n", "--name", "al", "--restart", "always", "--", "sleep", "300")
	pid1 := cliField(t, l, "al", "{{.PID}}")
	l.mustCtl("kill", "al")
	eventually(t, 10*time.Second, func() error {
		got := cliField(t, l, "al", "{{.State}} {{.PID}} {{.RestartCount}}")
		f := strings.Fields(got)
		if len(f) != 3 || f[0] != "running" || f[1] == pid1 || f[1] == "0" || f[2] != "1" {
			return errorf("al after kill: %q, want running with a new PID, restart count 1", got)
		}
		return nil
	})
	if names := cliNames(l.mustCtl("ps")); !slices.Contains(names, "al") {
		t.Errorf("ps does not list al after its restart: %v", names)
	}
	l.mustCtl("stop", "-t", "1", "al")
	time.Sleep(1500 * time.Millisecond)
	if got := cliField(t, l, "al", "{{.State}} {{.PID}}"); got != "exited 0" {
		t.Errorf("al after stop: %q, want exited for good", got)
	}
	if pids := cliNsPids(t, l, "al"); len(pids) != 0 {
		t.Errorf("processes in al after stop: %v", pids)
	}
	if names := cliNames(l.mustCtl("ps")); slices.Contains(names, "al") {
		t.Errorf("ps lists the stopped al: %v", names)
	}
	// start brings it back under its policy.
	l.mustCtl("start", "al")
	if got := cliField(t, l, "al", "{{.State}}"); got != "running" {
		t.Errorf("al after start: %q", got)
	}
	for _, p := range []string{"bogus", "always:3", "on-failure:-1"} {
		cliMustFail(t, "run --restart "+p, l.ctl("run", "-d", "--net", "n", "--name", "x", "--restart", p, "--", "true"), 1)
	}
	cliMustFail(t, "run --restart always --rm", l.ctl("run", "-d", "--net", "n", "--name", "x", "--rm", "--restart", "always", "--", "true"), 1)
}

// cliHostPort checks a published port as inspect shows it and returns its
// host port: one port from the ephemeral range on every address.
func cliHostPort(t *testing.T, ports []control.PortMap, container int) int {
	t.Helper()
	for _, p := range ports {
		if p.ContainerPort != container {
			continue
		}
		if p.Proto != "tcp" || p.HostIP != "0.0.0.0" || p.HostPort < 32768 || p.HostPort > 60999 || p.HostPortEnd != p.HostPort ||
			p.Spec != fmt.Sprintf("%d:%d/tcp", p.HostPort, container) {
			t.Errorf("published port for %d: %+v, want one tcp host port in 32768-60999 on 0.0.0.0", container, p)
		}
		return p.HostPort
	}
	t.Fatalf("port %d is not published: %+v", container, ports)
	return 0
}

// TestPrivilegedDockerPublishFreePort: -p CONTAINER and --expose with -P
// publish on free host ports, shown by inspect, ps and nat show, and
// reached from the host at 127.0.0.1 and [::1]; publish and unpublish of
// a running endpoint.
func TestPrivilegedDockerPublishFreePort(t *testing.T) {
	testutil.RequireTools(t, "nc", "socat", "ss")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "web", "-p", "80", "--expose", "81", "-P", "--", "sh", "-c",
		"socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hi-80' & socat TCP-LISTEN:81,fork,reuseaddr SYSTEM:'echo hi-81' & socat TCP-LISTEN:82,fork,reuseaddr SYSTEM:'echo hi-82'")
	waitListening(t, l.epRunner("web"), "tcp", 80)
	waitListening(t, l.epRunner("web"), "tcp", 81)
	waitListening(t, l.epRunner("web"), "tcp", 82)

	var es []control.Endpoint
	cliJSON(t, l, &es, "inspect", "web")
	if len(es) != 1 || len(es[0].Ports) != 2 {
		t.Fatalf("inspect web: %+v, want 2 published ports", es)
	}
	h80, h81 := cliHostPort(t, es[0].Ports, 80), cliHostPort(t, es[0].Ports, 81)
	if h80 == h81 {
		t.Errorf("both ports got host port %d", h80)
	}
	psPorts := l.mustCtl("ps", "--filter", "name=web", "--format", "{{.Ports}}")
	for _, want := range []string{fmt.Sprintf("0.0.0.0:%d->80/tcp", h80), fmt.Sprintf("0.0.0.0:%d->81/tcp", h81)} {
		if !strings.Contains(psPorts, want) {
			t.Errorf("ps shows ports %q, want %s", psPorts, want)
		}
	}
	if out := l.mustCtl("ps"); !strings.Contains(out, fmt.Sprintf("0.0.0.0:%d->80/tcp", h80)) {
		t.Errorf("ps table does not show the port:\n%s", out)
	}
	var nat control.NATRules
	cliJSON(t, l, &nat, "nat", "show")
	for _, h := range []int{h80, h81} {
		if !slices.ContainsFunc(nat.Published, func(p control.Published) bool {
			return p.Endpoint == "web" && p.HostPort == strconv.Itoa(h)
		}) {
			t.Errorf("nat show --json has no rule for host port %d: %+v", h, nat.Published)
		}
	}
	for port, want := range map[int]string{h80: "hi-80", h81: "hi-81"} {
		for _, addr := range []string{"127.0.0.1", "::1"} {
			if r := l.host("nc", "-w", "3", addr, strconv.Itoa(port)); strings.TrimSpace(r.stdout) != want {
				t.Errorf("nc %s %d from the host: %v, want %s", addr, port, r, want)
			}
		}
	}

	// publish on a running endpoint, then withdraw it.
	r := l.ctl("publish", "web", "82")
	if r.code != 0 {
		t.Fatalf("publish web 82: %v", r)
	}
	cliJSON(t, l, &es, "inspect", "web")
	h82 := cliHostPort(t, es[0].Ports, 82)
	if !strings.Contains(r.stdout, strconv.Itoa(h82)) {
		t.Errorf("publish web 82 printed %q: the README says the free host port it got (%d) is printed", r.stdout, h82)
	}
	if r := l.host("nc", "-w", "3", "127.0.0.1", strconv.Itoa(h82)); strings.TrimSpace(r.stdout) != "hi-82" {
		t.Errorf("nc 127.0.0.1 %d after publish: %v", h82, r)
	}
	l.mustCtl("unpublish", "web", fmt.Sprintf("%d:82", h82))
	if r := l.host("nc", "-z", "-w", "2", "127.0.0.1", strconv.Itoa(h82)); r.code == 0 {
		t.Errorf("host port %d still answers after unpublish", h82)
	}
	if out := l.mustCtl("ps", "--filter", "name=web", "--format", "{{.Ports}}"); strings.Contains(out, "->82/") {
		t.Errorf("ps still shows port 82 after unpublish: %q", out)
	}
	cliMustFail(t, "publish of a port already published", l.ctl("publish", "web", fmt.Sprintf("%d:82", h80)), 1)
	cliMustFail(t, "-P without --expose", l.ctl("run", "-d", "--net", "n", "--name", "x", "-P"), 1)
}

// TestPrivilegedDockerICC: endpoints of an --icc=false network do not
// reach each other but reach their gateway; a normal network is not
// affected.
func TestPrivilegedDockerICC(t *testing.T) {
	testutil.RequireTools(t, "ping", "nc", "socat", "ss")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "--icc=false", "isol")
	l.mustCtl("network", "create", "open")
	for _, ep := range []struct{ name, net string }{{"a1", "isol"}, {"a2", "isol"}, {"b1", "open"}, {"b2", "open"}} {
		l.mustCtl("run", "-d", "--net", ep.net, "--name", ep.name)
	}
	if got := strings.TrimSpace(l.mustCtl("network", "inspect", "-f", "{{.ICC}}", "isol", "open")); got != "false\ntrue" {
		t.Errorf("network inspect -f {{.ICC}} isol open: %q", got)
	}
	var ns []control.Network
	cliJSON(t, l, &ns, "network", "inspect", "isol")
	if len(ns) != 1 || ns[0].ICC || len(ns[0].Endpoints) != 2 {
		t.Errorf("network inspect isol --json: %+v", ns)
	}
	if out := l.mustCtl("network", "inspect", "isol"); !regexp.MustCompile(`(?m)^ICC:\s+false$`).MatchString(out) {
		t.Errorf("network inspect isol:\n%s", out)
	}
	gw := gateway(t, l, "isol")
	a2 := nicOn(t, l, "a2", "isol").IP
	for _, c := range [][]string{{"a1", "a2"}, {"a1", a2}, {"a2", "a1"}} {
		if r := l.exec(c[0], "ping", "-c1", "-W1", c[1]); r.code == 0 {
			t.Errorf("%s reached %s on an --icc=false network", c[0], c[1])
		}
	}
	// TCP neither: a2 and b2 serve, a1 does not reach a2, b1 reaches b2.
	for _, ep := range []string{"a2", "b2"} {
		l.mustCtl("exec", "-d", ep, "--", "socat", "TCP-LISTEN:2222,fork,reuseaddr", "SYSTEM:echo served-by-"+ep)
		waitListening(t, l.epRunner(ep), "tcp", 2222)
	}
	if r := l.exec("a1", "nc", "-w", "2", a2, "2222"); strings.Contains(r.stdout, "served") {
		t.Errorf("TCP between endpoints of an --icc=false network: %v", r)
	}
	if r := l.exec("b1", "nc", "-w", "2", "b2", "2222"); strings.TrimSpace(r.stdout) != "served-by-b2" {
		t.Errorf("TCP between endpoints of a normal network: %v", r)
	}
	l.mustExec("a1", "ping", "-c1", "-W2", gw)
	l.mustExec("a2", "ping", "-c1", "-W2", gw)
	l.mustExec("b1", "ping", "-c1", "-W2", "b2")
	l.mustExec("b2", "ping", "-c1", "-W2", gateway(t, l, "open"))
	// Names still resolve on the isolated network.
	if out := l.mustExec("a1", "getent", "hosts", "a2"); !strings.HasPrefix(out, a2+" ") {
		t.Errorf("getent hosts a2 in a1: %q", out)
	}
}

// TestPrivilegedDockerGatewayIsHost: a service of the host is reached at
// the gateway; a closed port there is refused at once; a published port
// is reached at GATEWAY:HOST-PORT from another network.
func TestPrivilegedDockerGatewayIsHost(t *testing.T) {
	testutil.RequireTools(t, "nc", "socat", "ss")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("network", "create", "n2")
	l.mustCtl("run", "-d", "--net", "n", "--name", "e")
	l.mustCtl("run", "-d", "--net", "n2", "--name", "web", "-p", "80", "--", "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo from-web")
	startProcess(t, "ip", "netns", "exec", l.name, "socat", "TCP-LISTEN:7777,fork,reuseaddr", "SYSTEM:echo from-host")
	waitListening(t, l.host, "tcp", 7777)
	waitListening(t, l.epRunner("web"), "tcp", 80)
	gw := gateway(t, l, "n")

	for _, addr := range []string{gw, "host.vswitchd.internal", "host.docker.internal", "gateway.docker.internal"} {
		if r := l.exec("e", "nc", "-w", "3", addr, "7777"); strings.TrimSpace(r.stdout) != "from-host" {
			t.Errorf("nc %s 7777 from e: %v, want the host's listener", addr, r)
		}
	}
	start := time.Now()
	r := l.exec("e", "nc", "-z", "-w", "3", gw, "1")
	if d := time.Since(start); r.code == 0 || d > 1500*time.Millisecond {
		t.Errorf("nc -z -w 3 %s 1 (closed): %v after %v, want refused at once", gw, r, d)
	}
	start = time.Now()
	r = l.exec("e", "nc", "-v", "-w", "3", gw, "1")
	if d := time.Since(start); r.code == 0 || !strings.Contains(r.stderr, "refused") || d > 1500*time.Millisecond {
		t.Errorf("nc -w 3 %s 1 (closed): %v after %v, want connection refused", gw, r, d)
	}

	var es []control.Endpoint
	cliJSON(t, l, &es, "inspect", "web")
	hp := strconv.Itoa(cliHostPort(t, es[0].Ports, 80))
	for _, addr := range []string{gw, "host.vswitchd.internal"} {
		if r := l.exec("e", "nc", "-w", "3", addr, hp); strings.TrimSpace(r.stdout) != "from-web" {
			t.Errorf("nc %s %s (web's published port) from e on another network: %v", addr, hp, r)
		}
	}
	// ... and from web's own network (hairpin).
	l.mustCtl("run", "-d", "--net", "n2", "--name", "peer")
	if r := l.exec("peer", "nc", "-w", "3", gateway(t, l, "n2"), hp); strings.TrimSpace(r.stdout) != "from-web" {
		t.Errorf("nc GATEWAY %s from web's own network: %v", hp, r)
	}
}

// TestPrivilegedDockerDNS: the gateway's DNS answers host and gateway
// names, aliases as ALIAS.NETWORK, reverse lookups, and NXDOMAIN at once
// for unknown names under a network.
func TestPrivilegedDockerDNS(t *testing.T) {
	testutil.RequireTools(t, "dig")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "dn")
	l.mustCtl("network", "create", "other")
	l.mustCtl("run", "-d", "--net", "dn", "--name", "server1", "--network-alias", "web-alias", "--network-alias", "second")
	l.mustCtl("run", "-d", "--net", "dn", "--name", "cli")
	l.mustCtl("run", "-d", "--net", "other", "--name", "stranger")
	gw := gateway(t, l, "dn")
	srv := nicOn(t, l, "server1", "dn").IP

	dig := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(l.mustExec("cli", append([]string{"dig", "+short", "+tries=1", "+time=2"}, args...)...))
	}
	for name, want := range map[string]string{
		"host.docker.internal":    "169.254.127.1",
		"host.vswitchd.internal":  "169.254.127.1",
		"gateway.docker.internal": gw,
		"server1":                 srv,
		"server1.dn":              srv,
		"web-alias":               srv,
		"web-alias.dn":            srv,
		"second.dn":               srv,
	} {
		if got := dig(name); got != want {
			t.Errorf("dig +short %s: %q, want %s", name, got, want)
		}
	}
	if got := dig("-x", srv); got != "server1.dn." {
		t.Errorf("dig -x %s: %q, want server1.dn.", srv, got)
	}
	if got := dig("stranger"); got != "" {
		t.Errorf("a name of another network resolves: %q", got)
	}
	for _, name := range []string{"nosuch.dn", "nosuch.vswitchd.internal", "nosuch.docker.internal"} {
		start := time.Now()
		out := l.mustExec("cli", "dig", "+tries=1", "+time=3", name)
		if d := time.Since(start); !strings.Contains(out, "status: NXDOMAIN") || d > 1500*time.Millisecond {
			t.Errorf("dig %s: after %v:\n%s\nwant NXDOMAIN at once", name, d, out)
		}
	}
	// The alias is shown by network inspect.
	var ns []control.Network
	cliJSON(t, l, &ns, "network", "inspect", "dn")
	if len(ns) != 1 || !slices.ContainsFunc(ns[0].Endpoints, func(e control.NetworkEndpoint) bool {
		return e.Endpoint == "server1" && slices.Equal(e.Aliases, []string{"web-alias", "second"})
	}) {
		t.Errorf("network inspect dn: %+v", ns)
	}
}
