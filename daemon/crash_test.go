package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/state"
)

// crash runs do as the daemon would, but stops it for good before its
// step k (as kill -9 there would): the daemon is abandoned, the listeners
// that die with a process are closed, and a new daemon starts on the same
// host and state directory.
func (e *env) crash(k int, do func(*env) error) {
	e.t.Helper()
	e.fail.armCrash(k)
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(e)
	}()
	<-done
	e.fail.arm(0)
	e.crashed = e.d
	e.pub.mu.Lock()
	clear(e.pub.rules) // sockets die with the process
	e.pub.mu.Unlock()
	e.start()
}

// TestCrashAtEachStep is the kill -9 loop of the fault-injection tests,
// in-process: each operation is stopped before each of its steps in turn
// (host changes and state saves), a new daemon starts on what is left, the
// state file and the host agree, and the operation then succeeds when
// tried again (after undoing it, for run, if it had been finished).
func TestCrashAtEachStep(t *testing.T) {
	ops := []struct {
		name  string
		setup func(e *env)
		do    func(e *env) error
		// retry tries the operation again after the crash: it must
		// succeed, whatever the crash left.
		retry func(e *env) error
	}{
		{"run", nil, runNew, func(e *env) error {
			if _, err := e.d.Endpoint("new"); err == nil {
				if err := e.d.RemoveEndpoint("new", true); err != nil {
					return fmt.Errorf("rm -f of the finished run: %w", err)
				}
			}
			return runNew(e)
		}},
		{"connect", nil, connectBeta, func(e *env) error {
			if onNetwork(e, "web", "beta") {
				return nil
			}
			return connectBeta(e)
		}},
		{"disconnect", func(e *env) { e.must(connectBeta(e)) }, disconnectAlpha, func(e *env) error {
			if !onNetwork(e, "web", "alpha") {
				return nil
			}
			return disconnectAlpha(e)
		}},
		{"rm", nil, rmWeb, func(e *env) error {
			if _, err := e.d.Endpoint("web"); errors.Is(err, state.ErrNotFound) {
				return nil
			}
			return rmWeb(e)
		}},
		{"network rm", nil, rmAlpha, func(e *env) error {
			if _, err := e.d.Network("alpha"); errors.Is(err, state.ErrNotFound) {
				return nil
			}
			return rmAlpha(e)
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			steps, names := countSteps(t, op.name, op.setup, op.do)
			for k := 1; k <= steps; k++ {
				t.Run(fmt.Sprintf("crash before step %d (%s)", k, names[k-1]), func(t *testing.T) {
					e := newEnv(t)
					setupEnv(e, op.setup)
					e.crash(k, op.do)
					e.agree()
					if err := op.retry(e); err != nil {
						t.Fatalf("%s tried again after the crash: %v", op.name, err)
					}
					e.agree()
					e.restart()
					e.agree()
				})
			}
		})
	}
}

func runNew(e *env) error {
	p, err := state.ParsePublish("9090:90")
	if err != nil {
		return err
	}
	_, _, err = e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "new", Network: "alpha", Publish: []state.Publish{p}}}, nil)
	return err
}

func connectBeta(e *env) error { return e.d.Connect("beta", state.ConnectSpec{Endpoint: "web"}) }

func disconnectAlpha(e *env) error { return e.d.Disconnect("alpha", "web") }

func rmWeb(e *env) error { return e.d.RemoveEndpoint("web", true) }

func rmAlpha(e *env) error { return e.d.RemoveNetwork("alpha", true) }

// onNetwork reports whether endpoint has a NIC on network.
func onNetwork(e *env, endpoint, network string) bool {
	info, err := e.d.Endpoint(endpoint)
	e.must(err)
	for _, n := range info.NICs {
		if n.Network == network {
			return true
		}
	}
	return false
}

// TestForeignNamespace: a namespace that took the name of an owned
// endpoint's while the daemon was down is not the one vswitchd made: the
// start is refused with an error naming it, cleanup reports and keeps it
// (removing only the /etc/netns files vswitchd wrote under its name), and
// nothing in it is touched.
func TestForeignNamespace(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	e.must(e.d.Close())
	e.h.Hook = nil
	e.must(e.h.DeleteNamespace(prefix + "web"))
	e.must(e.h.CreateNamespace(prefix + "web")) // someone else's now
	before := e.h.Snapshot()
	d, err := daemon.New(e.config())
	e.must(err)
	err = d.Start(context.Background())
	if err == nil {
		d.Close()
		t.Fatal("Start with a foreign namespace at an endpoint's name succeeded")
	}
	if !strings.Contains(err.Error(), `endpoint "web": namespace t-web is not the one vswitchd made`) {
		t.Errorf("Start error = %q, want it to say which namespace is foreign", err)
	}
	if got := e.h.Snapshot(); len(got.Namespaces[host.Named(prefix+"web").Path]) != 0 {
		t.Errorf("the foreign namespace was changed: %v (before %v)", got.Namespaces, before.Namespaces)
	}
	var out strings.Builder
	e.must(daemon.CleanupHost(e.dir, e.h, &out))
	if !e.h.NamespaceExists(host.Named(prefix + "web")) {
		t.Errorf("cleanup deleted a namespace vswitchd did not make:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "kept namespace t-web of endpoint web") {
		t.Errorf("cleanup output = %q, want it to say it kept t-web", out.String())
	}
	if files := e.h.Etc(prefix + "web"); len(files) != 0 {
		t.Errorf("cleanup kept the /etc/netns files vswitchd wrote for web: %v", files)
	}
}

// TestAttachedNamespaceReplaced: an attached endpoint whose runtime
// namespace path now holds another namespace is forgotten at start; no NIC
// is made in the other namespace.
func TestAttachedNamespaceReplaced(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	const ns = "/run/netns/cni-5678"
	e.h.AddNamespace(ns)
	_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{
		Name: "pod", Network: "alpha", NetnsPath: ns}}, nil)
	e.must(err)
	e.must(e.d.Close())
	e.h.AddNamespace(ns) // the path now names a new namespace
	e.start()
	if _, err := e.d.Endpoint("pod"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Endpoint(pod) after its namespace was replaced = %v, want ErrNotFound", err)
	}
	if nics := e.h.Namespace(ns).NICs; len(nics) != 0 {
		t.Errorf("the new namespace at %s got NICs %v", ns, nics)
	}
	e.agree(ns)
}

// TestStrayTAPRemoved: a NIC a crash left in an owned endpoint's namespace
// (connect made it; the state never listed it) is deleted at start, and
// the same connect then succeeds.
func TestStrayTAPRemoved(t *testing.T) {
	e := newEnv(t)
	setupEnv(e, nil)
	e.must(e.d.Close())
	e.h.Hook = nil
	dev, err := e.h.CreateNIC(host.Named(prefix+"web"), host.NICConfig{Name: "eth1", MAC: state.EndpointMAC(netip.MustParseAddr("10.2.0.2")),
		Addr: netip.MustParsePrefix("10.2.0.2/24")})
	e.must(err)
	dev.Close()
	e.h.Hook = func(op string) error { return e.fail.step(op) }
	e.start()
	e.agree()
	e.must(connectBeta(e))
	e.agree()
}
