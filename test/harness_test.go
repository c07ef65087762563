//go:build linux

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// binDir holds vswitchd, vswitchctl and vswitchd-cni built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "vswitchd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, c := range []string{"vswitchd", "vswitchctl", "vswitchd-cni"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "../cmd/"+c)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if os.Getenv("VSWITCHD_TEST_RACE") == "1" {
			// The race detector needs cgo; only this test build uses it.
			cmd = exec.Command("go", "build", "-race", "-o", filepath.Join(dir, c), "../cmd/"+c)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", c, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lab is one vswitchd running with --lab in its own namespace.
type lab struct {
	t      *testing.T
	id     string // names this lab's namespaces
	name   string // the lab namespace: the daemon's "host"
	prefix string // endpoint namespace prefix
	dir    string
	socket string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	client *control.Client
	// inodes of endpoint namespaces seen, to prove no process outlives them.
	nsInodes map[uint64]string
	stopped  bool
	ownsLab  bool // the test made the lab namespace (nsenter) and deletes it
	defaults bool // started with labOptions.defaults: keeps everything at SIGTERM
	extLab   bool // the lab namespace belongs to the calling test, not this lab
}

type labOptions struct {
	args []string // extra vswitchd flags
	// id and dir, if set, reuse a previous lab's namespace names and
	// state directory (a restart).
	id, dir string
	// nsenter runs the daemon with `nsenter --net=/run/netns/LAB` in a
	// namespace the test makes, instead of --lab. Such a daemon gets
	// --cleanup-on-exit (which --lab implies), so the leak check at its
	// stop holds, unless args has --keep or defaults is set.
	nsenter bool
	// defaults leaves the daemon's exit behaviour at its default (keep
	// everything), for tests of just that.
	defaults bool
}

// lastingLabNS creates the lab namespace of a new lab id (vsl-ID, with
// lo up) in the test, so that it outlives the daemons the test starts
// with labOptions{id: id, nsenter: true}, and deletes it at the end.
func lastingLabNS(t *testing.T) (id, labNS string) {
	t.Helper()
	id = randHex(3)
	labNS = "vsl-" + id
	if err := netns.Create(labNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(labNS) })
	linkUp(t, labNS, "lo")
	return id, labNS
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startLab starts vswitchd in a fresh lab namespace and registers its
// shutdown and a leak check with t.Cleanup.
func startLab(t *testing.T, o labOptions) *lab {
	t.Helper()
	testutil.Privileged(t)
	testutil.RequireTools(t, "ip")
	id := o.id
	if id == "" {
		id = randHex(3)
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	l := &lab{
		t: t, id: id, name: "vsl-" + id, prefix: "v" + id + "-", dir: dir,
		log: &bytes.Buffer{}, nsInodes: map[uint64]string{}, defaults: o.defaults,
	}
	l.socket = filepath.Join(l.dir, "vswitchd.sock")
	args := append([]string{
		"--socket", l.socket, "--state-dir", filepath.Join(l.dir, "state"),
		"--netns-prefix", l.prefix, "--log-level", "debug",
	}, o.args...)
	if o.nsenter && !o.defaults && !slices.Contains(o.args, "--keep") {
		args = append(args, "--cleanup-on-exit")
	}
	if o.nsenter {
		// A lab the test already made (to outlive a daemon) is used as
		// it is; otherwise this lab makes one and deletes it.
		if netns.Exists(l.name) {
			l.extLab = true
		} else {
			if err := netns.Create(l.name); err != nil {
				t.Fatal(err)
			}
			l.ownsLab = true
			linkUp(t, l.name, "lo")
		}
		l.cmd = exec.Command("nsenter", append([]string{"--net=" + netns.Path(l.name), filepath.Join(binDir, "vswitchd")}, args...)...)
	} else {
		l.cmd = exec.Command(filepath.Join(binDir, "vswitchd"), append([]string{"--lab", l.name}, args...)...)
	}
	l.cmd.Stdout, l.cmd.Stderr = l.log, l.log
	// A child that keeps the output pipe open must not hang Wait.
	l.cmd.WaitDelay = 10 * time.Second
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start vswitchd: %v", err)
	}
	t.Cleanup(l.stop)
	l.client = control.NewClient(l.socket)
	if err := l.client.WaitReady(context.Background(), 10*time.Second); err != nil {
		t.Fatalf("%v\ndaemon log:\n%s", err, l.log)
	}
	return l
}

// stop sends SIGTERM to the daemon (by PID) and checks that nothing it made
// is left: namespaces, /etc/netns entries, processes in its endpoints.
func (l *lab) stop() {
	if l.stopped {
		return
	}
	l.recordNamespaces()
	if l.defaults {
		// A daemon with default flags keeps everything at SIGTERM:
		// wipe it first.
		l.ctl("system", "reset", "--force")
	}
	l.halt(syscall.SIGTERM)
	l.checkNoLeaks()
}

// halt sends sig to the daemon (by PID), waits for it to exit and deletes
// the lab namespace if the test made it. It does not check for leaks:
// after --keep or SIGKILL, things are meant to stay.
func (l *lab) halt(sig syscall.Signal) {
	if l.stopped {
		return
	}
	l.stopped = true
	t := l.t
	l.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- l.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && sig == syscall.SIGTERM {
			t.Errorf("vswitchd exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		l.cmd.Process.Kill()
		<-done
		t.Errorf("vswitchd did not exit 30 s after %v", sig)
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", l.log)
	}
	if l.ownsLab {
		if pids, err := netns.Pids(l.name); err == nil {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		netns.Delete(l.name)
	}
}

// recordNamespaces remembers the inode of every namespace of this lab.
func (l *lab) recordNamespaces() {
	names, _ := netns.List()
	for _, n := range names {
		if strings.HasPrefix(n, l.prefix) || n == l.name {
			var st syscall.Stat_t
			if syscall.Stat(netns.Path(n), &st) == nil {
				l.nsInodes[st.Ino] = n
			}
		}
	}
}

func (l *lab) checkNoLeaks() {
	t := l.t
	names, _ := netns.List()
	for _, n := range names {
		if strings.HasPrefix(n, l.prefix) || n == l.name && !l.extLab {
			t.Errorf("leak: network namespace %s still exists", n)
		}
	}
	if ents, err := os.ReadDir(netns.EtcDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), l.prefix) {
				t.Errorf("leak: %s/%s still exists", netns.EtcDir, e.Name())
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			if ns, ok := l.nsInodes[st.Ino]; ok {
				t.Errorf("leak: process %s still runs in namespace %s", strings.Split(p, "/")[2], ns)
			}
		}
	}
}

// result is what a command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func runCmd(ctx context.Context, stdin string, name string, args ...string) result {
	cmd := exec.CommandContext(ctx, name, args...)
	// A server the command forked may hold its output open; do not wait for
	// it forever.
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code, r.stderr = -1, r.stderr+err.Error()
	}
	return r
}

// ctl runs vswitchctl against this lab (with a 2-minute limit).
func (l *lab) ctl(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", filepath.Join(binDir, "vswitchctl"), append([]string{"--socket", l.socket}, args...)...)
}

// mustCtl runs vswitchctl and fails the test unless it exits 0.
func (l *lab) mustCtl(args ...string) string {
	l.t.Helper()
	r := l.ctl(args...)
	if r.code != 0 {
		l.t.Fatalf("vswitchctl %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// ctlJSON runs a vswitchctl listing with --json into v.
func (l *lab) ctlJSON(v any, args ...string) {
	l.t.Helper()
	out := l.mustCtl(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		l.t.Fatalf("vswitchctl %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// host runs a command in the lab namespace, the daemon's "host".
func (l *lab) host(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", "ip", append([]string{"netns", "exec", l.name}, args...)...)
}

// exec runs a command in an endpoint through vswitchctl exec.
func (l *lab) exec(endpoint string, args ...string) result {
	return l.ctl(append([]string{"exec", endpoint, "--"}, args...)...)
}

// mustExec is exec that fails the test on a non-zero exit.
func (l *lab) mustExec(endpoint string, args ...string) string {
	l.t.Helper()
	r := l.exec(endpoint, args...)
	if r.code != 0 {
		l.t.Fatalf("exec %s -- %s: %v", endpoint, strings.Join(args, " "), r)
	}
	return r.stdout
}

// psState is `ps -a --json` without the fields that change with time
// alone (status: "Up 3 seconds"), for before/after comparisons.
func (l *lab) psState() string {
	l.t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(l.mustCtl("ps", "-a", "--json"), "\n") {
		if !strings.Contains(line, `"status": `) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// endpoint returns an endpoint's description.
func (l *lab) endpoint(name string) control.Endpoint {
	l.t.Helper()
	e, err := l.client.Endpoint(context.Background(), name)
	if err != nil {
		l.t.Fatal(err)
	}
	return e
}

// ports returns the switch's ports by name.
func (l *lab) ports() map[string]control.Port {
	l.t.Helper()
	ps, err := l.client.Ports(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	m := map[string]control.Port{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// background is a vswitchctl exec running in the background.
type background struct {
	done chan result
}

// execStart starts a command in an endpoint without waiting for it.
func (l *lab) execStart(t *testing.T, endpoint string, args ...string) *background {
	b := &background{done: make(chan result, 1)}
	go func() { b.done <- l.exec(endpoint, args...) }()
	return b
}

// wait returns the command's output (stdout and stderr) once it exits, or
// fails the test after timeout.
func (b *background) wait(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case r := <-b.done:
		return r.stdout + r.stderr
	case <-time.After(timeout):
		t.Fatalf("background command still running after %v", timeout)
		return ""
	}
}

var errorf = fmt.Errorf

// startProcess starts a long-lived command in its own process group; at
// cleanup the whole group (the command and whatever it forked) is killed
// by its PID and the command reaped.
func startProcess(t *testing.T, name string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
	return cmd, out
}
