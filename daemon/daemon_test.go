package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/host/hosttest"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// The daemon's decisions, unit-tested against a fake host (no root): each
// operation leaves the state file and the host in agreement, whether it
// succeeds or fails at any step.

const prefix = "t-"

// fakePub is a Publisher that records rules and can refuse one port.
type fakePub struct {
	mu    sync.Mutex // guards rules
	rules map[proxy.Rule]bool
	taken uint16 // a host port "already in use"
}

func (p *fakePub) Add(r proxy.Rule) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken != 0 && r.HostPort <= p.taken && p.taken <= r.HostPortEnd {
		return fmt.Errorf("listen tcp :%d: address already in use", p.taken)
	}
	if p.rules == nil {
		p.rules = map[proxy.Rule]bool{}
	}
	p.rules[r] = true
	return nil
}

func (p *fakePub) Remove(r proxy.Rule) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.rules, r)
	return nil
}

func (p *fakePub) Stats() proxy.Stats { return proxy.Stats{} }
func (p *fakePub) Close() error       { return nil }

func (p *fakePub) ports() []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint16
	for r := range p.rules {
		out = append(out, r.HostPort)
	}
	slices.Sort(out)
	return slices.Compact(out) // IPv4 and IPv6 listeners of a port count once
}

// env is a daemon on a fake host.
type env struct {
	t    *testing.T
	d    *daemon.Daemon
	h    *hosttest.Host
	pub  *fakePub
	dir  string
	fail failer
	vx   *fakeVTEPs // the vxlan ports' sockets, as the host's
	// defaultNet makes the daemon create the default network.
	defaultNet bool
	// crashed is a daemon abandoned mid-operation (crash), never closed.
	crashed *daemon.Daemon
}

// failer fails the nth step (host change or state save) when armed.
type failer struct {
	mu    sync.Mutex
	steps int
	at    int // fail this step (1-based); 0: none
	crash int // stop the operation's goroutine at this step; 0: none
	ops   []string
}

func (f *failer) step(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps++
	f.ops = append(f.ops, op)
	if f.steps == f.at {
		return fmt.Errorf("%s: %w", op, hosttest.ErrInjected)
	}
	if f.steps == f.crash {
		// The daemon dies here, as with kill -9: the goroutine doing
		// the operation stops before this step, and nothing after it
		// (no undo, no save) runs.
		f.crash = 0
		runtime.Goexit()
	}
	return nil
}

// arm makes the nth step from now fail (0: none) and resets the count.
func (f *failer) arm(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps, f.at, f.crash, f.ops = 0, n, 0, nil
}

// armCrash makes the operation's goroutine stop at the nth step from now
// (see step) and resets the count.
func (f *failer) armCrash(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps, f.at, f.crash, f.ops = 0, 0, n, nil
}

func (f *failer) count() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.steps, slices.Clone(f.ops)
}

// command runs argv directly: the fake host's namespaces are not real.
func command(s supervisor.Spec) *exec.Cmd { return exec.Command(s.Argv[0], s.Argv[1:]...) }

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, pub: &fakePub{}, dir: t.TempDir()}
	e.h = newHost(e)
	e.start()
	return e
}

// newHost returns a fake host, and the vxlan sockets of its namespace,
// whose steps e's failer can fail.
func newHost(e *env) *hosttest.Host {
	e.vx = newFakeVTEPs(func(op string) error { return e.fail.step(op) })
	h := hosttest.New()
	h.Hook = func(op string) error { return e.fail.step(op) }
	return h
}

// start starts a daemon on e's host and state directory.
func (e *env) start() {
	e.t.Helper()
	d, err := daemon.New(e.config())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.d = d
	e.t.Cleanup(func() {
		if d != e.crashed {
			d.Close()
		}
	})
}

// config is the daemon configuration of e: no default network (tests
// make theirs), everything kept at Close.
func (e *env) config() daemon.Config {
	return daemon.Config{
		StateDir: e.dir, NetnsPrefix: prefix, Host: e.h, Publisher: e.pub, Command: command,
		DNSUpstreams: []netip.AddrPort{}, NoDefaultNetwork: !e.defaultNet,
		SaveHook:  func(*state.State) error { return e.fail.step("save") },
		OpenVXLAN: e.vx.Open,
	}
}

// restart closes the daemon (keeping everything) and starts a new one.
func (e *env) restart() {
	e.t.Helper()
	if err := e.d.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.start()
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) network(name, subnet string) {
	e.t.Helper()
	_, err := e.d.CreateNetwork(state.NetworkSpec{Name: name, Subnet: netip.MustParsePrefix(subnet)})
	e.must(err)
}

func (e *env) run(name, network string, publish ...string) {
	e.t.Helper()
	spec := daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: name, Network: network}}
	for _, p := range publish {
		ps, err := state.ParsePublish(p)
		e.must(err)
		spec.Publish = append(spec.Publish, ps)
	}
	_, _, err := e.d.Run(context.Background(), spec, nil)
	e.must(err)
}

// agree checks that the saved state and the fake host describe the same
// switch: one namespace per owned endpoint holding exactly its NICs (and
// the attached namespaces the test made, holding exactly the endpoints'
// NICs), /etc/netns files for owned endpoints, a route per network, and a
// published listener per published spec.
func (e *env) agree(attached ...string) {
	e.t.Helper()
	st, err := state.Load(e.dir, prefix)
	if err != nil {
		e.t.Fatalf("load state: %v", err)
	}
	removing := map[string]bool{}
	for _, ep := range st.Endpoints {
		switch ep.Phase {
		case "":
		case state.Removing:
			// A removal the host refused half-way: the state says
			// so, and rm (or the next start) finishes it.
			removing[ep.Name] = true
		default:
			e.t.Errorf("endpoint %q left in phase %q", ep.Name, ep.Phase)
		}
	}
	want := hosttest.Snapshot{Namespaces: map[string][]string{}}
	for _, p := range attached {
		want.Namespaces[p] = []string{}
	}
	var pubs []uint16
	got := e.h.Snapshot()
	for _, ep := range st.Endpoints {
		if removing[ep.Name] {
			// Whatever of it is left on the host is expected.
			path := ep.NetnsPath
			if ep.Owned() {
				path = host.Named(ep.Netns).Path
			}
			if nics, ok := got.Namespaces[path]; ok && ep.Owned() {
				want.Namespaces[path] = nics
			}
			if slices.Contains(got.Etc, ep.Netns) {
				want.Etc = append(want.Etc, ep.Netns)
			}
			if ps := e.pub.ports(); len(ps) > 0 {
				for _, p := range ep.Publish {
					if slices.Contains(ps, p.HostPort) {
						pubs = append(pubs, p.HostPort)
					}
				}
			}
			continue
		}
		path := ep.NetnsPath
		if ep.Owned() {
			path = host.Named(ep.Netns).Path
			want.Etc = append(want.Etc, ep.Netns)
		}
		nics := want.Namespaces[path]
		if nics == nil {
			nics = []string{}
		}
		for _, n := range ep.NICs {
			nics = append(nics, n.Interface)
		}
		sort.Strings(nics)
		want.Namespaces[path] = nics
		if nic, _ := st.Primary(ep); nic != nil { // dormant without an address
			for _, p := range ep.Publish {
				pubs = append(pubs, p.HostPort)
			}
		}
	}
	sort.Strings(want.Etc)
	for _, n := range st.Networks {
		want.Routes = append(want.Routes, n.Subnet)
	}
	sort.Slice(want.Routes, func(i, j int) bool { return want.Routes[i].String() < want.Routes[j].String() })
	opt := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff(want, got, opt); diff != "" {
		e.t.Errorf("host and state disagree (-state +host):\n%s", diff)
	}
	slices.Sort(pubs)
	if diff := cmp.Diff(pubs, e.pub.ports()); diff != "" {
		e.t.Errorf("published listeners and state disagree (-state +listeners):\n%s", diff)
	}
	// The vxlan ports carry the saved overlay networks.
	if diff := cmp.Diff(describeOverlays(st), e.vx.describe()); diff != "" {
		e.t.Errorf("vxlan ports and state disagree (-state +ports):\n%s", diff)
	}
	// The running daemon's view is the saved one.
	var names []string
	for _, ep := range e.d.Endpoints() {
		names = append(names, ep.Name)
	}
	var saved []string
	for _, ep := range st.Endpoints {
		saved = append(saved, ep.Name)
	}
	if diff := cmp.Diff(saved, names); diff != "" {
		e.t.Errorf("daemon's endpoints and saved state differ (-saved +daemon):\n%s", diff)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.network("beta", "10.2.0.0/24")
	e.run("web", "alpha", "8080:80")
	e.run("db", "alpha")
	e.agree()

	ns := e.h.Namespace(host.Named(prefix + "web").Path)
	if nic := ns.NICs["eth0"]; nic == nil || nic.Config.Addr != netip.MustParsePrefix("10.1.0.2/24") || nic.Config.Gateway != netip.MustParseAddr("10.1.0.1") {
		t.Fatalf("web's eth0 = %+v, want 10.1.0.2/24 via 10.1.0.1", nic)
	}
	if got := string(e.h.Etc(prefix + "web")["resolv.conf"]); !strings.Contains(got, "nameserver 10.1.0.1") {
		t.Errorf("resolv.conf = %q, want the gateway", got)
	}

	e.must(e.d.Connect("beta", state.ConnectSpec{Endpoint: "web", Aliases: []string{"www"}}))
	e.agree()
	info, err := e.d.Endpoint("web")
	e.must(err)
	if len(info.NICs) != 2 || info.NICs[1].Interface != "eth1" || info.NICs[1].IP != netip.MustParseAddr("10.2.0.2") {
		t.Errorf("after connect: NICs %+v, want eth1 10.2.0.2 on beta", info.NICs)
	}
	n, err := e.d.Network("beta")
	e.must(err)
	var names []string
	for _, r := range n.DNSNames {
		names = append(names, r.Name+"="+r.Addr.String())
	}
	if want := []string{"web=10.2.0.2", "web.beta=10.2.0.2", "www=10.2.0.2", "www.beta=10.2.0.2",
		"host.vswitchd.internal=169.254.127.1", "host.docker.internal=169.254.127.1", "gateway.docker.internal=10.2.0.1"}; !slices.Equal(names, want) {
		t.Errorf("beta's DNS names = %v, want %v", names, want)
	}

	// Disconnecting the first network moves the default route.
	e.must(e.d.Disconnect("alpha", "web"))
	e.agree()
	ns = e.h.Namespace(host.Named(prefix + "web").Path)
	if gw := ns.Routes["eth1"]; gw != netip.MustParseAddr("10.2.0.1") {
		t.Errorf("default route after disconnect: %v, want via 10.2.0.1 on eth1", ns.Routes)
	}

	if err := e.d.RemoveNetwork("alpha", false); !errors.Is(err, state.ErrConflict) {
		t.Errorf("RemoveNetwork(alpha with db) = %v, want ErrConflict", err)
	}
	e.agree()
	e.must(e.d.RemoveNetwork("alpha", true))
	e.agree()
	e.must(e.d.RemoveEndpoint("web", false))
	e.must(e.d.RemoveEndpoint("db", false))
	e.must(e.d.RemoveNetwork("beta", false))
	e.agree()
	if got := e.h.Snapshot(); len(got.Namespaces) != 0 || len(got.Routes) != 0 {
		t.Errorf("host after removing everything: %+v", got)
	}
}

// TestFailures fails each step of each operation in turn: the operation
// returns the error, the state file and the host still agree, and the same
// operation then succeeds.
func TestFailures(t *testing.T) {
	pub := func(s string) state.Publish {
		p, err := state.ParsePublish(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ops := []struct {
		name  string
		setup func(e *env)
		do    func(e *env) error
	}{
		{"network create", nil, func(e *env) error {
			_, err := e.d.CreateNetwork(state.NetworkSpec{Name: "gamma", Subnet: netip.MustParsePrefix("10.3.0.0/24")})
			return err
		}},
		{"run", nil, func(e *env) error {
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
				Name: "new", Network: "alpha", Publish: []state.Publish{pub("9090:90")}}}, nil)
			return err
		}},
		{"connect", nil, func(e *env) error {
			return e.d.Connect("beta", state.ConnectSpec{Endpoint: "web"})
		}},
		{"disconnect", func(e *env) { e.must(e.d.Connect("beta", state.ConnectSpec{Endpoint: "web"})) }, func(e *env) error {
			return e.d.Disconnect("alpha", "web")
		}},
		{"rm", nil, func(e *env) error { return e.d.RemoveEndpoint("web", true) }},
		{"network rm force", nil, func(e *env) error { return e.d.RemoveNetwork("alpha", true) }},
		{"publish", nil, func(e *env) error {
			_, err := e.d.Publish("web", pub("7070:70/udp"))
			return err
		}},
		{"publish free port", nil, func(e *env) error {
			_, err := e.d.Publish("web", pub("71"))
			return err
		}},
		{"unpublish", nil, func(e *env) error { return e.d.Unpublish("web", pub("8080:80")) }},
	}
	ops = append(ops, overlayFailureOps...)
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			steps, names := countSteps(t, op.name, op.setup, op.do)
			for k := 1; k <= steps; k++ {
				t.Run(fmt.Sprintf("fail step %d (%s)", k, names[k-1]), func(t *testing.T) {
					e := newEnv(t)
					setupEnv(e, op.setup)
					e.fail.arm(k)
					err := op.do(e)
					e.fail.arm(0)
					if err == nil {
						// A failed cleanup step may be only logged
						// when the operation's outcome stands.
						t.Logf("%s with step %d failing: succeeded", op.name, k)
					} else if !errors.Is(err, hosttest.ErrInjected) {
						t.Errorf("%s with step %d failing: %v, want the injected error", op.name, k, err)
					}
					e.agree()
					if err != nil {
						if err := op.do(e); err != nil {
							t.Errorf("%s retried: %v", op.name, err)
						}
						e.agree()
					}
					// Whatever happened survives a restart.
					e.restart()
					e.agree()
				})
			}
		})
	}
}

// countSteps returns how many steps (host changes and state saves) do
// takes from setupEnv's topology, and their names.
func countSteps(t *testing.T, name string, setup func(*env), do func(*env) error) (int, []string) {
	t.Helper()
	probe := newEnv(t)
	setupEnv(probe, setup)
	probe.fail.arm(0)
	if err := do(probe); err != nil {
		t.Fatalf("%s without failures: %v", name, err)
	}
	steps, names := probe.fail.count()
	probe.agree()
	if steps == 0 {
		t.Fatalf("%s took no steps", name)
	}
	return steps, names
}

// setupEnv makes the topology every failure test starts from: networks
// alpha and beta, endpoint web on alpha publishing 8080.
func setupEnv(e *env, extra func(*env)) {
	e.network("alpha", "10.1.0.0/24")
	e.network("beta", "10.2.0.0/24")
	e.run("web", "alpha", "8080:80")
	if extra != nil {
		extra(e)
	}
}

// TestRestartReadopts: a restart re-adopts the surviving namespaces and
// NICs (OpenNIC, not CreateNIC) and re-creates missing ones.
func TestRestartReadopts(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	e.run("other", "beta")
	// "other" loses its namespace while the daemon is down.
	e.must(e.d.Close())
	e.h.Hook = nil
	e.must(e.h.DeleteNamespace(prefix + "other"))
	e.h.Hook = func(op string) error { return e.fail.step(op) }
	e.fail.arm(0)
	e.start()
	_, ops := e.fail.count()
	want := map[string]int{"OpenNIC": 1, "CreateNamespace": 1, "CreateNIC": 1}
	got := map[string]int{}
	for _, op := range ops {
		if _, ok := want[op]; ok {
			got[op]++
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("restart did %v (of %v), want %v", got, ops, want)
	}
	e.agree()
}

// TestInterruptedCreate: an endpoint whose creation a crash interrupted
// (its intent saved, part of it on the host) is rolled back at start, and
// the same name can be used again.
func TestInterruptedCreate(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	e.must(e.d.Close())
	// What a kill -9 after the intent and the namespace leaves.
	st, err := state.Load(e.dir, prefix)
	e.must(err)
	half := st.Endpoint("web").Clone()
	half.Name, half.Netns, half.Phase, half.Publish, half.NetnsID = "half", prefix+"half", state.Creating, nil, 0
	half.NICs[0].IP = netip.MustParseAddr("10.1.0.9")
	half.NICs[0].MAC = state.EndpointMAC(half.NICs[0].IP)
	st.Endpoints = append(st.Endpoints, half)
	e.must(st.Save(e.dir))
	e.h.Hook = nil
	e.must(e.h.CreateNamespace(prefix + "half"))
	e.h.Hook = func(op string) error { return e.fail.step(op) }
	e.start()
	e.agree()
	if _, err := e.d.Endpoint("half"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("interrupted endpoint after restart: %v, want it gone", err)
	}
	e.run("half", "alpha")
	e.agree()
}

// TestCorruptState: a damaged state file stops Start with a clear error,
// never a panic, and leaves the file alone.
func TestCorruptState(t *testing.T) {
	for _, tt := range []struct {
		name, content, want string
	}{
		{"not json", "{", "not valid JSON"},
		{"wrong version", `{"version": 9}`, "version 9"},
		{"bad subnet", `{"version":1,"networks":[{"name":"a","id":1,"vlan":100,"subnet":"10.1.0.0/99","gateway":"10.1.0.1","mac":"02:76:73:00:00:01"}]}`, "10.1.0.0/99"},
		{"unknown network", `{"version":1,"netns_prefix":"t-","endpoints":[{"name":"x","netns":"t-x","nics":[{"interface":"eth0","network":"nope","ip":"10.1.0.2","mac":"02:42:0a:01:00:02"}]}]}`, `network "nope" not found`},
		{"foreign netns", `{"version":1,"netns_prefix":"t-","endpoints":[{"name":"x","netns":"victim","nics":[]}]}`, `netns "victim"`},
		{"netns path escape", `{"version":1,"netns_prefix":"t-","endpoints":[{"name":"x","netns_path":"/etc/passwd","nics":[]}]}`, "not under"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, state.File)
			e := mustWrite(t, path, tt.content)
			d, err := daemon.New(daemon.Config{StateDir: dir, NetnsPrefix: prefix, Host: hosttest.New(), Publisher: &fakePub{}, Command: command, DNSUpstreams: []netip.AddrPort{}})
			e2 := err
			if e2 == nil {
				e2 = d.Start(context.Background())
			}
			if e2 == nil || !strings.Contains(e2.Error(), tt.want) || strings.Contains(e2.Error(), "\n") {
				t.Errorf("Start with %s = %v, want one line mentioning %q", tt.name, e2, tt.want)
			}
			if b, _ := os.ReadFile(path); string(b) != e {
				t.Errorf("state file changed to %q", b)
			}
		})
	}
}

func mustWrite(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return content
}

// TestAttachedEndpoint: an endpoint in a namespace vswitchd did not make
// gets its NIC there; removing it deletes the NIC and never the namespace.
func TestAttachedEndpoint(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	const ns = "/run/netns/cni-1234"
	e.h.AddNamespace(ns)
	_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "pod", Network: "alpha", NetnsPath: ns, IfName: "net1"}}, nil)
	e.must(err)
	e.agree(ns)
	if nics := e.h.Namespace(ns).NICs; nics["net1"] == nil {
		t.Fatalf("runtime namespace NICs = %v, want net1", slices.Collect(maps.Keys(nics)))
	}
	info, err := e.d.Endpoint("pod")
	e.must(err)
	if !info.Attached || info.Netns != ns {
		t.Errorf("Endpoint(pod) = attached %v netns %q, want attached %s", info.Attached, info.Netns, ns)
	}
	e.restart()
	e.agree(ns)
	e.must(e.d.RemoveEndpoint("pod", false))
	e.agree(ns)
	if e.h.Namespace(ns) == nil {
		t.Fatal("removing an attached endpoint deleted the runtime's namespace")
	}
	// Cleanup after a crash leaves the namespace too.
	_, _, err = e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "pod", Network: "alpha", NetnsPath: ns}}, nil)
	e.must(err)
	e.must(e.d.Close())
	var out strings.Builder
	e.h.Hook = nil
	e.must(daemon.CleanupHost(e.dir, e.h, &out))
	if e.h.Namespace(ns) == nil || len(e.h.Namespace(ns).NICs) != 0 {
		t.Errorf("after cleanup: namespace %+v, want it kept without vswitchd's NIC\n%s", e.h.Namespace(ns), out.String())
	}
}

// TestNoLockAcrossStop: removing an endpoint whose command ignores SIGTERM
// takes the stop grace, and other API calls answer meanwhile.
func TestNoLockAcrossStop(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "stubborn", Network: "alpha", Cmd: []string{"sh", "-c", "trap '' TERM; sleep 30"}}}, nil)
	e.must(err)
	time.Sleep(100 * time.Millisecond) // let the shell set its trap
	done := make(chan error, 1)
	go func() { done <- e.d.RemoveEndpoint("stubborn", true) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	e.d.Networks()
	e.run("other", "alpha")
	if d := time.Since(start); d > time.Second {
		t.Errorf("API calls during a slow rm took %v", d)
	}
	if err := e.d.Connect("alpha", state.ConnectSpec{Endpoint: "stubborn"}); !errors.Is(err, state.ErrConflict) {
		t.Errorf("Connect to an endpoint being removed = %v, want ErrConflict", err)
	}
	if err := <-done; err != nil {
		t.Errorf("RemoveEndpoint: %v", err)
	}
	e.agree()
}

// TestRemoveRunning: rm of a running command needs force; --rm endpoints
// go when their command exits.
func TestRemoveRunning(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "busy", Network: "alpha", Cmd: []string{"sleep", "30"}}}, nil)
	e.must(err)
	if err := e.d.RemoveEndpoint("busy", false); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "rm -f") {
		t.Errorf("RemoveEndpoint(running, no force) = %v, want ErrConflict suggesting rm -f", err)
	}
	e.must(e.d.RemoveEndpoint("busy", true))
	_, _, err = e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "once", Network: "alpha", Cmd: []string{"true"}, Remove: true}}, nil)
	e.must(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.d.Endpoint("once"); errors.Is(err, state.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("--rm endpoint still there 10 s after its command exited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.agree()
}

// TestBadRequests: refused requests change nothing.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	e.pub.taken = 8181
	before := e.h.Snapshot()
	for _, tt := range []struct {
		name string
		do   func() error
		kind error
	}{
		{"duplicate network", func() error {
			_, err := e.d.CreateNetwork(state.NetworkSpec{Name: "alpha"})
			return err
		}, state.ErrConflict},
		{"overlapping subnet", func() error {
			_, err := e.d.CreateNetwork(state.NetworkSpec{Name: "x", Subnet: netip.MustParsePrefix("10.1.0.128/25")})
			return err
		}, state.ErrConflict},
		{"unknown network", func() error {
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "x", Network: "nope"}}, nil)
			return err
		}, state.ErrNotFound},
		{"taken name", func() error {
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "web", Network: "alpha"}}, nil)
			return err
		}, state.ErrConflict},
		{"host port in use", func() error {
			p, _ := state.ParsePublish("8181:80")
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "x", Network: "alpha", Publish: []state.Publish{p}}}, nil)
			return err
		}, state.ErrConflict},
		{"port published by another", func() error {
			p, _ := state.ParsePublish("8080:81")
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "x", Network: "alpha", Publish: []state.Publish{p}}}, nil)
			return err
		}, state.ErrConflict},
		{"connect twice", func() error { return e.d.Connect("alpha", state.ConnectSpec{Endpoint: "web"}) }, state.ErrConflict},
		{"disconnect unknown", func() error { return e.d.Disconnect("beta", "web") }, state.ErrNotFound},
		{"disconnect the only network", func() error { return e.d.Disconnect("alpha", "web") }, state.ErrConflict},
		{"alias is another endpoint's name", func() error {
			_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "x", Network: "alpha", Aliases: []string{"web"}}}, nil)
			return err
		}, state.ErrConflict},
		{"alias is the host's name", func() error {
			return e.d.Connect("beta", state.ConnectSpec{Endpoint: "web", Aliases: []string{"host.vswitchd.internal"}})
		}, state.ErrInvalid},
		{"reserved subnet", func() error {
			_, err := e.d.CreateNetwork(state.NetworkSpec{Name: "lo", Subnet: netip.MustParsePrefix("127.10.0.0/16")})
			return err
		}, state.ErrInvalid},
		{"uplink on lo", func() error {
			_, err := e.d.SetUplink(state.UplinkSpec{Interface: "lo", Address: netip.MustParsePrefix("198.51.100.2/24")})
			return err
		}, state.ErrInvalid},
		{"rm unknown", func() error { return e.d.RemoveEndpoint("nope", false) }, state.ErrNotFound},
		{"exec unknown", func() error {
			_, err := e.d.Exec(context.Background(), "nope", daemon.ExecSpec{Cmd: []string{"true"}}, nil)
			return err
		}, state.ErrNotFound},
		{"port on missing interface", func() error {
			_, err := e.d.AddPort(state.PortSpec{Interface: "nope0", VLAN: 10})
			return err
		}, state.ErrNotFound},
		{"uplink overlapping a network", func() error {
			e.h.AddInterface("up0")
			_, err := e.d.SetUplink(state.UplinkSpec{Interface: "up0", Address: netip.MustParsePrefix("10.1.0.200/24")})
			return err
		}, state.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.kind) {
				t.Errorf("%s = %v, want %v", tt.name, err, tt.kind)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %q is not one line", tt.name, err)
			}
			if diff := cmp.Diff(before, e.h.Snapshot(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("%s changed the host (-before +after):\n%s", tt.name, diff)
			}
			e.agree()
		})
	}
}

// TestReset: system reset removes every endpoint, network but the default
// one, static entry and the uplink, leaving what a fresh start has, on the
// host and in the state; the daemon goes on working and a restart finds
// the same.
func TestReset(t *testing.T) {
	e := &env{t: t, pub: &fakePub{}, dir: t.TempDir(), defaultNet: true}
	e.h = newHost(e)
	e.start()
	fresh := e.h.Snapshot()
	setupEnv(e, nil)
	e.run("other", "beta")
	e.must(e.d.Connect("beta", state.ConnectSpec{Endpoint: "web"}))
	e.h.AddInterface("up0")
	_, err := e.d.SetUplink(state.UplinkSpec{Interface: "up0", Address: netip.MustParsePrefix("198.51.100.2/24")})
	e.must(err)
	_, err = e.d.AddFDB(e.d.Networks()[1].VLAN, header.MAC{0x02, 0, 0, 0, 0, 9}, "web/eth0")
	e.must(err)

	r, err := e.d.Reset()
	e.must(err)
	slices.Sort(r.Endpoints)
	slices.Sort(r.Networks)
	want := daemon.ResetReport{Endpoints: []string{"other", "web"}, Networks: []string{"alpha", "beta"}, Uplink: "up0", StaticMACs: 1}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Reset() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fresh, e.h.Snapshot(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("host after Reset, against a fresh start (-fresh +after):\n%s", diff)
	}
	if n := e.d.Networks(); len(n) != 1 || n[0].Name != "bridge" || len(e.d.Endpoints()) != 0 {
		t.Errorf("after Reset: networks %v, %d endpoints; want bridge alone", n, len(e.d.Endpoints()))
	}
	if _, ok := e.d.Uplink(); ok {
		t.Error("uplink still set after Reset")
	}
	e.agree()
	e.run("again", "bridge")
	e.restart()
	if eps := e.d.Endpoints(); len(eps) != 1 || eps[0].Name != "again" {
		t.Errorf("after Reset, run and a restart: endpoints %v, want again alone", eps)
	}
}

// TestResetKeepsCNIAttachments: system reset leaves a container runtime's
// attachment alone (its NIC in the runtime's namespace, the network it is
// on), and says so.
func TestResetKeepsCNIAttachments(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	const ns = "/run/netns/cni-4242"
	e.h.AddNamespace(ns)
	_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "pod", Network: "beta", NetnsPath: ns, ContainerID: "c0ffee"}}, nil)
	e.must(err)
	r, err := e.d.Reset()
	e.must(err)
	if !slices.Equal(r.Kept, []string{"pod"}) || !slices.Equal(r.Endpoints, []string{"web"}) || !slices.Equal(r.Networks, []string{"alpha"}) {
		t.Errorf("Reset() = %+v, want web and alpha removed, pod kept (with beta)", r)
	}
	if nics := e.h.Namespace(ns).NICs; nics["eth0"] == nil {
		t.Errorf("the runtime's namespace after reset: NICs %v, want eth0 kept", nics)
	}
	e.agree(ns)
}
