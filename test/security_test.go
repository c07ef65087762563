//go:build linux

package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedAPIRefusesEndpoints: a process inside an endpoint (root,
// with the socket's path in reach) is refused by the API, with a 403
// naming the endpoint, and nothing changes; a non-root user on the host
// cannot reach the socket either. The host's root still can.
func TestPrivilegedAPIRefusesEndpoints(t *testing.T) {
	testutil.RequireTools(t, "setpriv")
	l := startLab(t, labOptions{})
	l.mustCtl("run", "-d", "--name", "inside", "--", "sleep", "300")
	ctl := filepath.Join(binDir, "vswitchctl")
	before := l.psState()

	for _, args := range [][]string{{"ps"}, {"run", "-d", "--name", "escape", "--", "sleep", "1"}} {
		r := l.exec("inside", append([]string{ctl, "--socket", l.socket}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, `forbidden: process`) || !strings.Contains(r.stderr, `is inside endpoint "inside"`) {
			t.Errorf("vswitchctl %s from inside an endpoint: %v, want it refused (forbidden, naming the endpoint)", strings.Join(args, " "), r)
		}
	}
	// Another endpoint, and a process started outside vswitchd's exec
	// (ip netns exec) are refused the same way.
	r := l.hostIn(l.prefix+"inside", ctl, "--socket", l.socket, "ps")
	if r.code == 0 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("vswitchctl ps from ip netns exec into the endpoint: %v, want forbidden", r)
	}
	// A non-root user on the host.
	r = runCmdT(t, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ctl, "--socket", l.socket, "ps")
	if r.code == 0 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("vswitchctl ps as uid 65534: %v, want permission denied", r)
	}
	if after := l.psState(); after != before {
		t.Errorf("refused requests changed the switch:\nbefore %s\nafter  %s", before, after)
	}
	if strings.Contains(l.mustCtl("ps", "-a"), "escape") {
		t.Error("an endpoint made an endpoint through the API")
	}
}

// hostIn runs a command inside the named namespace with ip netns exec,
// outside vswitchd.
func (l *lab) hostIn(ns string, args ...string) result {
	return runCmdT(l.t, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// runCmdT is runCmd with a 2-minute limit.
func runCmdT(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", name, args...)
}

// TestPrivilegedSymlinksRefused: symlinks planted at every path the daemon
// writes — the state file's temporary file, an endpoint's log, its
// /etc/netns files and directory — are refused or replaced without being
// followed: the files they point at are untouched, and the daemon goes on.
func TestPrivilegedSymlinksRefused(t *testing.T) {
	l := startLab(t, labOptions{})
	stateDir := filepath.Join(l.dir, "state")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	untouched := func(where string) {
		t.Helper()
		if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
			t.Fatalf("after %s: the symlink's target = %q, %v; want it untouched", where, b, err)
		}
	}
	plant := func(link string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(link), 0o700)
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(link) })
	}

	// The state file's temporary file: the change is refused.
	plant(filepath.Join(stateDir, "state.json.tmp"))
	if r := l.ctl("network", "create", "n1"); r.code == 0 {
		t.Errorf("network create with a symlink at state.json.tmp: %v, want it refused", r)
	}
	untouched("a save through state.json.tmp")
	if strings.Contains(l.mustCtl("network", "ls"), "n1") {
		t.Error("a network whose save failed was made anyway")
	}
	os.Remove(filepath.Join(stateDir, "state.json.tmp"))

	// An endpoint's log: its command is refused, nothing appended.
	plant(filepath.Join(stateDir, "logs", "talker.log"))
	if r := l.ctl("run", "-d", "--name", "talker", "--", "echo", "appended"); r.code == 0 {
		t.Errorf("run with a symlink at its log: %v, want it refused", r)
	}
	untouched("a run logging to a symlink")

	// /etc/netns files: replaced by the daemon's own, the target kept.
	etc := filepath.Join(netns.EtcDir, l.prefix+"e1")
	plant(filepath.Join(etc, "hosts"))
	plant(filepath.Join(etc, "resolv.conf"))
	l.mustCtl("run", "-d", "--name", "e1")
	untouched("run with symlinks at its /etc/netns files")
	if out := l.mustExec("e1", "cat", "/etc/hosts"); !strings.Contains(out, "e1") {
		t.Errorf("e1's /etc/hosts = %q, want its own", out)
	}
	l.mustCtl("rm", "-f", "e1")
	untouched("rm")

	// The /etc/netns directory itself: run is refused.
	dirVictim := t.TempDir()
	if err := os.Symlink(dirVictim, filepath.Join(netns.EtcDir, l.prefix+"e2")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(netns.EtcDir, l.prefix+"e2")) })
	if r := l.ctl("run", "-d", "--name", "e2"); r.code == 0 {
		t.Errorf("run with a symlink at its /etc/netns directory: %v, want it refused", r)
	}
	if ents, _ := os.ReadDir(dirVictim); len(ents) != 0 {
		t.Errorf("written through the /etc/netns directory symlink: %v", ents)
	}
	os.Remove(filepath.Join(netns.EtcDir, l.prefix+"e2"))
	l.mustCtl("run", "-d", "--name", "after")
}

// TestPrivilegedRunUserAndCaps: run --user runs the command as that user
// (and exec too, unless -u says otherwise); --cap-drop takes capabilities
// from every process of the endpoint, bounding set included, and
// --cap-add keeps one of those --cap-drop ALL drops.
func TestPrivilegedRunUserAndCaps(t *testing.T) {
	testutil.RequireTools(t, "sleep", "id", "grep", "ip")
	l := startLab(t, labOptions{})
	l.mustCtl("run", "-d", "--name", "nob", "--user", "65534:65534", "--", "sleep", "300")
	if out := l.mustExec("nob", "id", "-u"); strings.TrimSpace(out) != "65534" {
		t.Errorf("exec in an endpoint run --user 65534: id -u = %q, want 65534", out)
	}
	if out := l.mustCtl("exec", "-u", "root", "nob", "--", "id", "-u"); strings.TrimSpace(out) != "0" {
		t.Errorf("exec -u root: id -u = %q, want 0", out)
	}
	capLine := func(ep, field string) string {
		t.Helper()
		out := l.mustExec(ep, "grep", "^"+field+":", "/proc/self/status")
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), field+":"))
	}

	l.mustCtl("run", "-d", "--name", "nonet", "--cap-drop", "NET_ADMIN", "--", "sleep", "300")
	if r := l.exec("nonet", "ip", "link", "set", "lo", "mtu", "1400"); r.code == 0 {
		t.Errorf("ip link set in an endpoint without NET_ADMIN: %v, want it refused", r)
	}
	if eff := capLine("nonet", "CapBnd"); eff == "000001ffffffffff" || eff == "" {
		t.Errorf("CapBnd with --cap-drop NET_ADMIN = %q, want NET_ADMIN (bit 12) gone", eff)
	}

	l.mustCtl("run", "-d", "--name", "bare", "--cap-drop", "ALL", "--cap-add", "net_bind_service", "--", "sleep", "300")
	for _, f := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if got := capLine("bare", f); got != "0000000000000400" {
			t.Errorf("%s with --cap-drop ALL --cap-add NET_BIND_SERVICE = %q, want 0000000000000400", f, got)
		}
	}
	if r := l.ctl("run", "-d", "--name", "bad", "--cap-drop", "FLY", "--", "sleep", "1"); r.code == 0 || !strings.Contains(r.stderr, `capability "FLY"`) {
		t.Errorf("run --cap-drop FLY: %v, want a one-line refusal", r)
	}
	if r := l.ctl("run", "-d", "--name", "bad", "--user", "no-such-user-here", "--", "sleep", "1"); r.code == 0 || !strings.Contains(r.stderr, "no such user") {
		t.Errorf("run --user no-such-user-here: %v, want a one-line refusal", r)
	}
	if strings.Contains(l.mustCtl("ps", "-a"), "bad") {
		t.Error("a refused run made an endpoint")
	}
}

// TestPrivilegedForeignNamespaceRefused: a namespace that took an
// endpoint's name while the daemon was stopped is not the one vswitchd
// made: the next start refuses it with one line naming it, and touches
// nothing in it. Once it is gone the start succeeds and re-creates the
// endpoint. `vswitchd cleanup` keeps a foreign namespace too, and removes
// the /etc/netns files vswitchd wrote under its name. Attaching an endpoint
// to the daemon's own namespace is refused.
func TestPrivilegedForeignNamespaceRefused(t *testing.T) {
	testutil.RequireTools(t, "nsenter", "ip")
	id, labNS := lastingLabNS(t)
	l := startLab(t, labOptions{id: id, nsenter: true, defaults: true})
	_, err := l.client.Run(context.Background(), control.Run{Name: "own", NetnsPath: netns.Path(labNS)})
	if err == nil || !strings.Contains(err.Error(), "is vswitchd's own") {
		t.Errorf("run attached to the daemon's own namespace: %v, want it refused", err)
	}
	l.mustCtl("run", "-d", "--name", "a")
	l.halt(syscall.SIGTERM)

	foreign := l.prefix + "a"
	replace := func() {
		t.Helper()
		if err := netns.Delete(foreign); err != nil {
			t.Fatal(err)
		}
		if r := runCmdT(t, "ip", "netns", "add", foreign); r.code != 0 {
			t.Fatal(r)
		}
	}
	replace()
	t.Cleanup(func() { netns.Delete(foreign) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := runCmd(ctx, "", "nsenter", "--net="+netns.Path(labNS), filepath.Join(binDir, "vswitchd"),
		"--socket", l.socket, "--state-dir", filepath.Join(l.dir, "state"), "--netns-prefix", l.prefix)
	if r.code == 0 || !strings.Contains(r.stderr, `endpoint "a": namespace `+foreign+` is not the one vswitchd made`) {
		t.Errorf("start with a foreign namespace at an endpoint's name: %v, want a refusal naming it", r)
	}
	if out := runCmdT(t, "ip", "-n", foreign, "-o", "link").stdout; strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("the foreign namespace was changed: %s", out)
	}

	// Once it is gone, the next start re-creates the endpoint.
	if err := netns.Delete(foreign); err != nil {
		t.Fatal(err)
	}
	l = startLab(t, labOptions{id: id, dir: l.dir, nsenter: true, defaults: true})
	if !netns.Exists(foreign) {
		t.Errorf("start after the foreign namespace went: endpoint namespace %s not re-created", foreign)
	}
	l.halt(syscall.SIGTERM)

	// `vswitchd cleanup` keeps a foreign namespace too, but removes the
	// /etc/netns files vswitchd wrote under its name: once the state is
	// gone nothing else would.
	replace()
	r = runCmd(ctx, "", filepath.Join(binDir, "vswitchd"), "cleanup", "--state-dir", filepath.Join(l.dir, "state"))
	if !netns.Exists(foreign) || !strings.Contains(r.stdout, "kept namespace "+foreign) {
		t.Errorf("vswitchd cleanup and a foreign namespace: %v; want it kept and said so", r)
	}
	if err := netns.Delete(foreign); err != nil {
		t.Fatal(err)
	}
	l.checkNoLeaks()
}
