package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// runCmd runs an endpoint on network with command argv and restart
// policy restart.
func (e *env) runCmd(name, network, restart string, argv ...string) daemon.EndpointInfo {
	e.t.Helper()
	pol, err := state.ParseRestartPolicy(restart)
	e.must(err)
	info, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: name, Network: network, Cmd: argv, Restart: pol}}, nil)
	e.must(err)
	e.t.Cleanup(func() { e.d.RemoveEndpoint(name, true) })
	return info
}

// waitFor polls Endpoint(name) until ok says it is as wanted, and returns
// it; it fails the test after 10 s.
func (e *env) waitFor(name, what string, ok func(daemon.EndpointInfo) bool) daemon.EndpointInfo {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := e.d.Endpoint(name)
		e.must(err)
		if ok(info) {
			return info
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("endpoint %s: not %s after 10 s: %+v", name, what, info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func inState(s string) func(daemon.EndpointInfo) bool {
	return func(i daemon.EndpointInfo) bool { return i.State == s }
}

// TestStopStartKill: stop, start, restart and kill change the command's
// state as docker's verbs do, and the state records them.
func TestStopStartKill(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	info := e.runCmd("svc", "alpha", "", "sleep", "30")
	if info.State != daemon.StateRunning || info.PID == 0 || !strings.HasPrefix(info.Status, "Up ") || info.StartedAt.IsZero() {
		t.Fatalf("after run: %+v, want running with a PID, Up …", info)
	}
	first := info.PID

	e.must(e.d.StopEndpoint("svc", time.Second))
	info, err := e.d.Endpoint("svc")
	e.must(err)
	if info.State != daemon.StateExited || info.ExitCode == nil || *info.ExitCode != 128+int(syscall.SIGTERM) ||
		!strings.HasPrefix(info.Status, "Exited (143) ") || info.PID != 0 || info.FinishedAt.IsZero() {
		t.Errorf("after stop: %+v, want exited (143)", info)
	}
	e.agree()
	st, err := state.Load(e.dir, prefix)
	e.must(err)
	if se := st.Endpoint("svc"); !se.Stopped || se.PID != 0 || se.ExitCode == nil || *se.ExitCode != 143 {
		t.Errorf("saved after stop: stopped %v pid %d exit %v", se.Stopped, se.PID, se.ExitCode)
	}

	e.must(e.d.StartEndpoint("svc"))
	info = e.waitFor("svc", "running", inState(daemon.StateRunning))
	if info.PID == 0 || info.PID == first || info.ExitCode != nil {
		t.Errorf("after start: %+v, want a new PID and no exit code", info)
	}
	e.must(e.d.StartEndpoint("svc")) // already running: nothing happens
	if again, _ := e.d.Endpoint("svc"); again.PID != info.PID {
		t.Errorf("start of a running endpoint changed its PID %d → %d", info.PID, again.PID)
	}

	second := info.PID
	e.must(e.d.RestartEndpoint("svc", time.Second))
	info = e.waitFor("svc", "running", inState(daemon.StateRunning))
	if info.PID == second {
		t.Errorf("restart kept PID %d", second)
	}

	e.must(e.d.Kill("svc", syscall.SIGKILL))
	info = e.waitFor("svc", "exited", inState(daemon.StateExited))
	if info.ExitCode == nil || *info.ExitCode != 137 {
		t.Errorf("after kill: exit code %v, want 137", info.ExitCode)
	}
	if err := e.d.Kill("svc", syscall.SIGKILL); !errors.Is(err, state.ErrConflict) {
		t.Errorf("kill of an exited endpoint = %v, want ErrConflict", err)
	}
	for _, err := range []error{
		e.d.StopEndpoint("nope", 0), e.d.StartEndpoint("nope"), e.d.Kill("nope", syscall.SIGTERM),
	} {
		if !errors.Is(err, state.ErrNotFound) {
			t.Errorf("verb on a missing endpoint = %v, want ErrNotFound", err)
		}
	}
	e.agree()
}

// TestNoCommandEndpoint: an endpoint without a command is up while it
// exists; stop and start mark it.
func TestNoCommandEndpoint(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("ns", "alpha")
	info, err := e.d.Endpoint("ns")
	e.must(err)
	if info.State != daemon.StateRunning || !strings.HasPrefix(info.Status, "Up ") {
		t.Errorf("endpoint without command: %s %q, want running Up …", info.State, info.Status)
	}
	e.must(e.d.StopEndpoint("ns", 0))
	if info, _ = e.d.Endpoint("ns"); info.State != daemon.StateExited {
		t.Errorf("after stop: %s, want exited", info.State)
	}
	e.must(e.d.StartEndpoint("ns"))
	if info, _ = e.d.Endpoint("ns"); info.State != daemon.StateRunning {
		t.Errorf("after start: %s, want running", info.State)
	}
}

// TestRestartPolicies: on-failure:N runs a failing command N more times
// and then leaves it exited; always runs even a succeeding one again until
// stopped; no does nothing.
func TestRestartPolicies(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.runCmd("flaky", "alpha", "on-failure:2", "sh", "-c", "exit 3")
	e.runCmd("once", "alpha", "no", "sh", "-c", "exit 3")
	e.runCmd("loop", "alpha", "always", "true")

	info := e.waitFor("flaky", "restarted twice", func(i daemon.EndpointInfo) bool {
		return i.RestartCount == 2 && i.State == daemon.StateExited
	})
	if info.ExitCode == nil || *info.ExitCode != 3 || !strings.HasPrefix(info.Status, "Exited (3) ") {
		t.Errorf("flaky after its retries: %+v, want exited (3)", info)
	}
	time.Sleep(500 * time.Millisecond) // back-off is 100, 200 ms: a third would have run
	if info, _ = e.d.Endpoint("flaky"); info.RestartCount != 2 {
		t.Errorf("flaky restarted %d times, want 2", info.RestartCount)
	}
	if info, _ = e.d.Endpoint("once"); info.RestartCount != 0 || info.State != daemon.StateExited {
		t.Errorf("once: %+v, want exited, never restarted", info)
	}
	info = e.waitFor("loop", "restarted", func(i daemon.EndpointInfo) bool { return i.RestartCount >= 2 })
	if info.Restart.String() != "always" {
		t.Errorf("loop's policy = %s", info.Restart)
	}
	e.must(e.d.StopEndpoint("loop", time.Second))
	n := e.waitFor("loop", "stopped", inState(daemon.StateExited)).RestartCount
	time.Sleep(500 * time.Millisecond)
	if info, _ = e.d.Endpoint("loop"); info.State != daemon.StateExited || info.RestartCount != n {
		t.Errorf("after stop, always still restarts: %+v", info)
	}
	e.agree()
}

// TestRestoreCommands: at start a command that survived (still in its
// namespace) is re-adopted; one that did not is started again under
// always, and under unless-stopped unless the user stopped it.
func TestRestoreCommands(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	kept := e.runCmd("kept", "alpha", "no", "sleep", "30")
	e.runCmd("always", "alpha", "always", "sleep", "30")
	e.runCmd("unless", "alpha", "unless-stopped", "sleep", "30")
	e.runCmd("stopped", "alpha", "unless-stopped", "sleep", "30")
	e.must(e.d.StopEndpoint("stopped", time.Second))
	e.runCmd("gone", "alpha", "no", "sleep", "30")

	// "kept" survives the restart; the others' processes die with the
	// old daemon (the test kills them).
	before := map[string]int{}
	for _, i := range e.d.Endpoints() {
		before[i.Name] = i.PID
	}
	e.must(e.d.Close())
	for _, name := range []string{"always", "unless", "gone"} {
		syscall.Kill(-before[name], syscall.SIGKILL)
	}
	e.h.PidsOf = func(ns host.NS) []int {
		if ns == host.Named(prefix+"kept") {
			return []int{kept.PID}
		}
		return nil
	}
	time.Sleep(100 * time.Millisecond)
	e.start()

	info, err := e.d.Endpoint("kept")
	e.must(err)
	if info.State != daemon.StateRunning || info.PID != kept.PID {
		t.Errorf("kept after restart: %s pid %d, want running as %d (re-adopted)", info.State, info.PID, kept.PID)
	}
	for _, name := range []string{"always", "unless"} {
		info := e.waitFor(name, "running", inState(daemon.StateRunning))
		if info.PID == before[name] {
			t.Errorf("%s: still PID %d, want restarted", name, info.PID)
		}
	}
	for _, name := range []string{"stopped", "gone"} {
		if info, _ := e.d.Endpoint(name); info.State != daemon.StateExited {
			t.Errorf("%s after restart: %s, want exited", name, info.State)
		}
	}
	// A plain rm refuses the re-adopted command, as any running one,
	// and leaves it running.
	if err := e.d.RemoveEndpoint("kept", false); !errors.Is(err, state.ErrConflict) {
		t.Errorf("rm (no -f) of a re-adopted running command = %v, want ErrConflict", err)
	}
	if syscall.Kill(kept.PID, 0) != nil {
		t.Fatal("rm (no -f) killed the re-adopted command")
	}
	// The re-adopted command's exit is noticed; its code is unknown.
	e.must(e.d.Kill("kept", syscall.SIGKILL))
	info = e.waitFor("kept", "exited", inState(daemon.StateExited))
	if info.ExitCode != nil || !strings.HasPrefix(info.Status, "Exited (?) ") {
		t.Errorf("re-adopted command after kill: exit %v status %q, want unknown", info.ExitCode, info.Status)
	}
	e.agree()
}

// TestDefaultNetwork: the daemon makes network "bridge" (docker0's
// counterpart) once, run without a network uses it, and it cannot be
// removed or pruned.
func TestDefaultNetwork(t *testing.T) {
	e := &env{t: t, pub: &fakePub{}, dir: t.TempDir(), defaultNet: true}
	e.h = newHost(e)
	e.start()
	n, err := e.d.Network(control.DefaultNetwork)
	e.must(err)
	if n.Subnet != netip.MustParsePrefix("172.17.0.0/16") || n.VLAN != 1 {
		t.Errorf("default network = %s vlan %d, want 172.17.0.0/16 vlan 1", n.Subnet, n.VLAN)
	}
	e.network("alpha", "10.1.0.0/24")
	e.network("empty", "10.2.0.0/24")
	_, _, err = e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "x"}}, nil)
	e.must(err)
	if info, _ := e.d.Endpoint("x"); len(info.NICs) != 1 || info.NICs[0].Network != control.DefaultNetwork || info.NICs[0].IP != netip.MustParseAddr("172.17.0.2") {
		t.Errorf("run without a network: NICs %+v, want eth0 172.17.0.2 on bridge", info.NICs)
	}
	if err := e.d.RemoveNetwork(control.DefaultNetwork, true); !errors.Is(err, state.ErrConflict) {
		t.Errorf("removing the default network = %v, want ErrConflict", err)
	}
	e.run("a", "alpha")
	removed, err := e.d.PruneNetworks()
	e.must(err)
	if !slices.Equal(removed, []string{"empty"}) {
		t.Errorf("prune removed %v, want [empty]", removed)
	}
	e.agree()
	e.restart()
	if nets := e.d.Networks(); len(nets) != 2 {
		t.Errorf("after restart: %d networks, want bridge and alpha", len(nets))
	}
	e.agree()
}

// TestStaticFDB: static MAC entries are added, listed, kept across a
// restart, and go with their port; bad ones are refused and change
// nothing.
func TestStaticFDB(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("web", "alpha")
	e.run("db", "alpha")
	n, err := e.d.Network("alpha")
	e.must(err)
	vid := n.VLAN
	m := header.MAC{0x02, 0, 0, 0, 0, 0x99}
	_, err = e.d.AddFDB(vid, m, "web/eth0")
	e.must(err)
	has := func() bool {
		for _, f := range e.d.FDB() {
			if f.MAC == m && f.VLAN == vid && f.Static && f.Port == "web/eth0" {
				return true
			}
		}
		return false
	}
	if !has() {
		t.Fatalf("FDB after add: %+v", e.d.FDB())
	}
	e.restart()
	if !has() {
		t.Errorf("static entry lost across a restart: %+v", e.d.FDB())
	}
	before, _ := state.Load(e.dir, prefix)
	for _, tt := range []struct {
		name string
		vid  vlan.ID
		mac  header.MAC
		port string
		kind error
	}{
		{"unknown port", vid, m, "nope", state.ErrNotFound},
		{"multicast", vid, header.MAC{0x01, 0, 0x5e, 0, 0, 1}, "web/eth0", state.ErrInvalid},
		{"a vlan the port is not in", vid + 1, m, "web/eth0", state.ErrInvalid},
		{"another endpoint's mac", vid, dbMAC(e), "web/eth0", state.ErrConflict},
		{"a gateway's mac", vid, n.MAC, "web/eth0", state.ErrConflict},
		{"vlan 0", 0, m, "web/eth0", state.ErrInvalid},
		{"vlan 4095", 4095, m, "web/eth0", state.ErrInvalid},
	} {
		if _, err := e.d.AddFDB(tt.vid, tt.mac, tt.port); !errors.Is(err, tt.kind) {
			t.Errorf("AddFDB %s = %v, want %v", tt.name, err, tt.kind)
		}
	}
	if err := e.d.DeleteFDB(vid+1, m); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("DeleteFDB of a missing entry = %v, want ErrNotFound", err)
	}
	after, _ := state.Load(e.dir, prefix)
	if !slices.Equal(before.StaticMACs, after.StaticMACs) {
		t.Errorf("refused requests changed the saved entries: %v → %v", before.StaticMACs, after.StaticMACs)
	}
	e.must(e.d.DeleteFDB(vid, m))
	if has() {
		t.Error("entry still there after delete")
	}
	_, err = e.d.AddFDB(vid, m, "web/eth0")
	e.must(err)
	e.must(e.d.RemoveEndpoint("web", true))
	if st, _ := state.Load(e.dir, prefix); len(st.StaticMACs) != 0 || has() {
		t.Errorf("static entry outlived its endpoint: saved %v", st.StaticMACs)
	}
}

// dbMAC is endpoint db's MAC.
func dbMAC(e *env) header.MAC {
	info, err := e.d.Endpoint("db")
	e.must(err)
	return info.NICs[0].MAC
}

// TestSetPort: a system port's VLANs change live and are saved; an
// endpoint's port is refused.
func TestSetPort(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("web", "alpha")
	e.h.AddInterface("veth0")
	_, err := e.d.AddPort(state.PortSpec{Interface: "veth0", Mode: vlan.Access, VLAN: 10})
	e.must(err)
	set, _ := vlan.ParseSet("10,20")
	p, err := e.d.SetPort("veth0", state.PortSpec{Mode: vlan.Trunk, VLANs: set})
	e.must(err)
	if p.VLAN.Mode != vlan.Trunk || p.VLAN.Trunks.String() != "10,20" {
		t.Errorf("SetPort answered %+v, want trunk 10,20", p.VLAN)
	}
	e.restart()
	for _, q := range e.d.Ports() {
		if q.Name == "veth0" && (q.VLAN.Mode != vlan.Trunk || q.VLAN.Trunks.String() != "10,20") {
			t.Errorf("after restart veth0 is %+v", q.VLAN)
		}
	}
	if _, err := e.d.SetPort("web/eth0", state.PortSpec{Mode: vlan.Access, VLAN: 5}); !errors.Is(err, state.ErrConflict) {
		t.Errorf("SetPort on an endpoint's port = %v, want ErrConflict", err)
	}
	if _, err := e.d.SetPort("veth0", state.PortSpec{Mode: vlan.Access}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("SetPort access without vlan = %v, want ErrInvalid", err)
	}
	if _, err := e.d.SetPort("nope", state.PortSpec{Mode: vlan.Access, VLAN: 5}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("SetPort on a missing port = %v, want ErrNotFound", err)
	}
}

// TestLogLevel: the level changes at run time when the daemon has a
// level variable, and is refused otherwise.
func TestLogLevel(t *testing.T) {
	e := newEnv(t)
	if err := e.d.SetLogLevel(slog.LevelDebug); !errors.Is(err, state.ErrConflict) {
		t.Errorf("SetLogLevel without a LevelVar = %v, want ErrConflict", err)
	}
	e.must(e.d.Close())
	cfg := e.config()
	cfg.LogLevel = new(slog.LevelVar)
	d, err := daemon.New(cfg)
	e.must(err)
	e.must(d.Start(context.Background()))
	defer d.Close()
	e.must(d.SetLogLevel(slog.LevelDebug))
	if d.LogLevel() != slog.LevelDebug || cfg.LogLevel.Level() != slog.LevelDebug {
		t.Errorf("level after SetLogLevel(debug) = %v", d.LogLevel())
	}
}

// TestPublishFreePort: a spec without a host port gets a free one, which
// unpublish finds again by the container port alone.
func TestPublishFreePort(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("web", "alpha")
	spec, err := state.ParsePublish("82")
	e.must(err)
	bound, err := e.d.Publish("web", spec)
	e.must(err)
	if bound.HostPort < 32768 || bound.HostPort > 60999 || bound.ContPort != 82 {
		t.Fatalf("published %s, want a host port in 32768-60999 for 82", bound)
	}
	e.agree()
	e.must(e.d.Unpublish("web", spec))
	if info, _ := e.d.Endpoint("web"); len(info.Published) != 0 {
		t.Errorf("after unpublish 82: %v", info.Published)
	}
	e.agree()
}

// TestConntrackZones: a filter's zone must name a network, host or
// uplink.
func TestConntrackZones(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	for _, z := range []string{"", "alpha", "host", "uplink"} {
		if _, err := e.d.Conntrack(daemon.ConnFilter{Zone: z}); err != nil {
			t.Errorf("Conntrack(zone %q): %v", z, err)
		}
	}
	if _, err := e.d.Conntrack(daemon.ConnFilter{Zone: "nosuch"}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Conntrack(zone nosuch) = %v, want ErrNotFound", err)
	}
	if n, max := e.d.ConntrackCount(); n != 0 || max <= 0 {
		t.Errorf("ConntrackCount = %d, %d", n, max)
	}
}

// TestExecChecks: exec needs a running endpoint, and its command, working
// directory and user must exist; each refusal comes before anything runs.
func TestExecChecks(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.runCmd("svc", "alpha", "", "sleep", "30")
	exec := func(spec daemon.ExecSpec) error {
		_, err := e.d.Exec(context.Background(), "svc", spec, nil)
		return err
	}
	for _, tt := range []struct {
		name string
		spec daemon.ExecSpec
		want string
	}{
		{"missing command", daemon.ExecSpec{Cmd: []string{"no-such-command"}}, "executable file not found"},
		{"relative workdir", daemon.ExecSpec{Cmd: []string{"true"}, Dir: "tmp"}, "absolute path"},
		{"missing workdir", daemon.ExecSpec{Cmd: []string{"true"}, Dir: "/no/such/dir"}, "no such directory"},
		{"unknown user", daemon.ExecSpec{Cmd: []string{"true"}, User: "no-such-user"}, "no such user"},
		{"unknown group", daemon.ExecSpec{Cmd: []string{"true"}, User: "root:no-such-group"}, "no such group"},
	} {
		if err := exec(tt.spec); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("exec with %s = %v, want ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}
	e.must(exec(daemon.ExecSpec{Cmd: []string{"true"}, Dir: "/tmp", User: "nobody", Detach: true}))
	e.must(e.d.StopEndpoint("svc", 0))
	if err := exec(daemon.ExecSpec{Cmd: []string{"true"}}); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec in a stopped endpoint = %v, want ErrConflict: not running", err)
	}
}
