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

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// ifindex returns the index of ifname inside the endpoint's namespace.
func ifindex(t *testing.T, ns, ifname string) string {
	t.Helper()
	r := nsRun(ns, "cat", "/sys/class/net/"+ifname+"/ifindex")
	if r.code != 0 {
		t.Fatalf("ifindex of %s in %s: %v", ifname, ns, r)
	}
	return strings.TrimSpace(r.stdout)
}

// TestPrivilegedRestartKeep: with --keep, shutdown leaves endpoints (their
// namespaces, persistent TAPs and processes); the next start re-adopts them
// with their addresses and names, and they talk again.
func TestPrivilegedRestartKeep(t *testing.T) {
	testutil.RequireTools(t, "ping", "sleep")
	l := startLab(t, labOptions{args: []string{"--keep"}})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "b", "--alias", "bee")
	ipA, ipB := l.endpoint("a").NICs[0].IP, l.endpoint("b").NICs[0].IP
	idxA := ifindex(t, l.prefix+"a", "eth0")
	l.mustExec("a", "ping", "-c1", "-W2", "bee")
	l.halt(syscall.SIGTERM)

	for _, ep := range []string{"a", "b"} {
		if !netns.Exists(l.prefix + ep) {
			t.Fatalf("--keep: namespace of %s removed at shutdown", ep)
		}
	}
	if pids, _ := netns.Pids(l.prefix + "a"); len(pids) == 0 {
		t.Fatal("--keep: a's command did not survive the shutdown")
	}

	l2 := startLab(t, labOptions{id: l.id, dir: l.dir})
	if got := l2.endpoint("a").NICs[0].IP; got != ipA {
		t.Errorf("a's address after restart = %s, want %s", got, ipA)
	}
	if got := l2.endpoint("b").NICs[0].IP; got != ipB {
		t.Errorf("b's address after restart = %s, want %s", got, ipB)
	}
	if got := ifindex(t, l.prefix+"a", "eth0"); got != idxA {
		t.Errorf("a's eth0 was re-created (ifindex %s, was %s), want it re-adopted", got, idxA)
	}
	l2.mustExec("a", "ping", "-c1", "-W2", "bee")
	l2.mustExec("b", "ping", "-c1", "-W2", "a")
	if out := l2.mustCtl("fdb", "show"); !strings.Contains(out, "a/eth0") {
		t.Errorf("after restart the switch did not learn a again:\n%s", out)
	}
	// rm ends the command the first daemon started.
	l2.mustCtl("rm", "-f", "a")
	// l2's cleanup removes b and checks that nothing is left.
}

// TestPrivilegedCleanupAfterKill: a daemon started with nsenter in another
// namespace makes namespaces the host sees; after it is killed with
// SIGKILL, `vswitchd cleanup` removes what it left.
func TestPrivilegedCleanupAfterKill(t *testing.T) {
	testutil.RequireTools(t, "nsenter", "sleep")
	l := startLab(t, labOptions{nsenter: true})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "b")
	names, _ := netns.List()
	if !contains(names, l.prefix+"a") || !contains(names, l.prefix+"b") {
		t.Fatalf("ip netns list = %v: endpoints of a daemon in another namespace must be visible", names)
	}
	l.recordNamespaces()
	l.halt(syscall.SIGKILL)
	if !netns.Exists(l.prefix + "a") {
		t.Fatal("after SIGKILL the endpoints are already gone: nothing to clean up")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := runCmd(ctx, "", filepath.Join(binDir, "vswitchd"), "cleanup", "--state-dir", filepath.Join(l.dir, "state"))
	if r.code != 0 {
		t.Fatalf("vswitchd cleanup: %v", r)
	}
	for _, want := range []string{"removed endpoint a", "removed endpoint b", "killed process"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cleanup output lacks %q:\n%s", want, r.stdout)
		}
	}
	l.checkNoLeaks()
	// A second cleanup has nothing to do and succeeds.
	if r := runCmd(ctx, "", filepath.Join(binDir, "vswitchd"), "cleanup", "--state-dir", filepath.Join(l.dir, "state")); r.code != 0 {
		t.Errorf("second cleanup: %v", r)
	}
}

// TestPrivilegedRestartRestoresUplink: an uplink set at run time, and the
// masquerade through it, come back after a restart; disconnecting an
// endpoint's first network moves its default route to the next one.
func TestPrivilegedRestartRestoresUplink(t *testing.T) {
	testutil.RequireTools(t, "nsenter", "ping")
	id := randHex(3)
	lab := "vsl-" + id
	if err := netns.Create(lab); err != nil { // outlives both daemons
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(lab) })
	linkUp(t, lab, "lo")
	l := startLab(t, labOptions{id: id, nsenter: true, args: []string{"--keep"}})
	setupInternet(t, l)
	l.mustCtl("network", "create", "first")
	l.mustCtl("network", "create", "second")
	l.mustCtl("run", "-d", "--net", "first", "--name", "a")
	l.mustExec("a", "ping", "-c1", "-W2", srvAddr)
	l.halt(syscall.SIGTERM)

	l2 := startLab(t, labOptions{id: id, dir: l.dir, nsenter: true})
	if out := l2.mustCtl("uplink", "show"); !strings.Contains(out, uplinkAddr) {
		t.Fatalf("uplink after restart:\n%s", out)
	}
	l2.mustExec("a", "ping", "-c1", "-W2", srvAddr)

	l2.mustCtl("network", "connect", "second", "a")
	l2.mustCtl("network", "disconnect", "first", "a")
	out := l2.mustExec("a", "ip", "route", "show", "default")
	if !strings.Contains(out, "via "+gateway(t, l2, "second")) {
		t.Errorf("default route after disconnecting the first network: %q, want via second's gateway", out)
	}
	l2.mustExec("a", "ping", "-c1", "-W2", srvAddr)
}

// TestPrivilegedRestartAfterKill: after SIGKILL, the next start on the same
// state re-adopts the endpoints that survived, and its shutdown removes
// them.
func TestPrivilegedRestartAfterKill(t *testing.T) {
	testutil.RequireTools(t, "nsenter", "ping")
	id := randHex(3)
	lab := "vsl-" + id
	if err := netns.Create(lab); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(lab) })
	linkUp(t, lab, "lo")
	l := startLab(t, labOptions{id: id, nsenter: true})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	l.mustCtl("run", "-d", "--net", "n", "--name", "b")
	idx := ifindex(t, l.prefix+"a", "eth0")
	l.halt(syscall.SIGKILL)

	l2 := startLab(t, labOptions{id: id, dir: l.dir, nsenter: true})
	if got := ifindex(t, l.prefix+"a", "eth0"); got != idx {
		t.Errorf("a's eth0 re-created after the crash (ifindex %s, was %s)", got, idx)
	}
	l2.mustExec("a", "ping", "-c1", "-W2", "b")
	// l2's cleanup: SIGTERM removes everything, then the leak check.
}

// TestPrivilegedStaleNamespaceMountPoint: a crash between the unmount and
// the unlink of an endpoint's namespace (netns.Delete) leaves an empty
// file at /run/netns/NAME. Removing the endpoint clears it, so the name
// can be used again (found by TestPrivilegedKillDuringOperations).
func TestPrivilegedStaleNamespaceMountPoint(t *testing.T) {
	testutil.Privileged(t)
	l := startLab(t, labOptions{})
	l.mustCtl("run", "-d", "--name", "x")
	p := netns.Path(l.prefix + "x")
	if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	l.mustCtl("rm", "-f", "x")
	if _, err := os.Stat(p); err == nil {
		t.Fatalf("%s is still there after rm", p)
	}
	l.mustCtl("run", "-d", "--name", "x")
	l.mustCtl("rm", "-f", "x")
}
