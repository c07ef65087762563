//go:build linux

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// The vswitchd binary itself: --version and --help, one daemon per state
// directory, --detach and stop, a --lab that dies whole, cleanup, and the
// start and stop log lines.

// vswitchd runs the test's vswitchd binary with a one-minute limit.
func vswitchd(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return runCmd(ctx, "", filepath.Join(binDir, "vswitchd"), args...)
}

// TestVersionAndHelp: --version prints the version, commit and Go version
// on one line; --help goes to stdout and exits 0; a bad flag is one line on
// stderr and exit 2.
func TestVersionAndHelp(t *testing.T) {
	r := vswitchd("--version")
	if !regexp.MustCompile(`^vswitchd \S+ \(commit \S+, go\S+\)\n$`).MatchString(r.stdout) || r.code != 0 || r.stderr != "" {
		t.Errorf("vswitchd --version: %v\nwant one line like: vswitchd 0.2.0-dev (commit abc1234, go1.26.8)", r)
	}
	r = vswitchd("--help")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: vswitchd") || !strings.Contains(r.stdout, "--detach") || r.stderr != "" {
		t.Errorf("vswitchd --help: %v\nwant the usage on stdout, exit 0", r)
	}
	for _, sub := range []string{"stop", "cleanup"} {
		if r := vswitchd(sub, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: vswitchd "+sub) {
			t.Errorf("vswitchd %s --help: %v\nwant the usage on stdout, exit 0", sub, r)
		}
	}
	r = vswitchd("--no-such-flag")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
		t.Errorf("vswitchd --no-such-flag: %v\nwant one line on stderr, exit 2", r)
	}
}

// TestVersionCommitFromLinker: the commit can be set at link time, as the
// Makefile does from git.
func TestVersionCommitFromLinker(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "vswitchd")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin,
		"-ldflags", "-X github.com/vswitchd/vswitchd/internal/version.Commit=abc1234-dirty", "../cmd/vswitchd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), "(commit abc1234-dirty, go") {
		t.Errorf("vswitchd --version = %q, %v; want the commit set at link time", out, err)
	}
}

// stateDir is the lab's --state-dir.
func (l *lab) stateDir() string { return filepath.Join(l.dir, "state") }

// otherLab registers the removal of a lab namespace a test expects never
// to exist, in case a refused daemon made it after all.
func otherLab(t *testing.T, name string) string {
	t.Cleanup(func() {
		if netns.Exists(name) {
			t.Errorf("leak: network namespace %s was created", name)
			killAll(name)
			netns.Delete(name)
		}
	})
	return name
}

func killAll(ns string) {
	if pids, err := netns.Pids(ns); err == nil {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestPrivilegedStateDirInUse: a second vswitchd on a state directory in
// use is refused at once — through --lab, --detach, or run directly (in
// the first one's lab, so a mistake would configure nothing outside it) —
// with one line naming the first one's PID and exit status 1, and changes
// nothing; the first one goes on answering.
func TestPrivilegedStateDirInUse(t *testing.T) {
	testutil.RequireTools(t, "nsenter")
	l := startLab(t, labOptions{})
	want := fmt.Sprintf("vswitchd: state directory %s is in use by vswitchd pid %d\n", l.stateDir(), l.cmd.Process.Pid)
	if b, err := os.ReadFile(filepath.Join(l.stateDir(), "lock")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(l.cmd.Process.Pid) {
		t.Errorf("lock file holds %q, %v; want the --lab process's PID %d", b, err, l.cmd.Process.Pid)
	}
	if b, err := os.ReadFile(filepath.Join(l.stateDir(), "lab")); err != nil || strings.TrimSpace(string(b)) != l.name {
		t.Errorf("lab record holds %q, %v; want %s", b, err, l.name)
	}
	other := otherLab(t, "vsl-"+l.id+"-2")
	sock2 := filepath.Join(l.dir, "second.sock")
	common := []string{"--socket", sock2, "--state-dir", l.stateDir(), "--netns-prefix", l.prefix + "2-"}
	ways := map[string][]string{
		"--lab":    append([]string{filepath.Join(binDir, "vswitchd"), "--lab", other}, common...),
		"--detach": append([]string{filepath.Join(binDir, "vswitchd"), "--detach", "--lab", other, "--pid-file", filepath.Join(l.dir, "second.pid")}, common...),
		"direct":   append([]string{"nsenter", "--net=" + netns.Path(l.name), filepath.Join(binDir, "vswitchd")}, common...),
	}
	for name, argv := range ways {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			r := runCmd(ctx, "", argv[0], argv[1:]...)
			if r.code != 1 || r.stderr != want || r.stdout != "" {
				t.Errorf("second vswitchd (%s): %v\nwant exit 1 and only %q", name, r, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("second vswitchd took %v to give up, want at once", d)
			}
			for _, p := range []string{sock2, filepath.Join(l.dir, "second.pid")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("the refused vswitchd made %s", p)
				}
			}
		})
	}
	if netns.Exists(other) {
		t.Errorf("a refused vswitchd created namespace %s", other)
	}
	if _, err := l.client.Version(context.Background()); err != nil {
		t.Errorf("the first vswitchd no longer answers: %v", err)
	}
	l.mustCtl("network", "create", "still-mine")
}

// TestPrivilegedCleanupRefusedWhileRunning: cleanup refuses a state
// directory whose daemon is alive, in one line, and touches nothing.
func TestPrivilegedCleanupRefusedWhileRunning(t *testing.T) {
	testutil.RequireTools(t, "sleep")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a", "--", "sleep", "300")
	r := vswitchd("cleanup", "--state-dir", l.stateDir())
	want := fmt.Sprintf("vswitchd cleanup: state directory %s is in use by vswitchd pid %d", l.stateDir(), l.cmd.Process.Pid)
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, want) || r.stdout != "" {
		t.Errorf("cleanup of a running daemon's state: %v\nwant one line starting %q, non-zero exit", r, want)
	}
	if !netns.Exists(l.prefix+"a") || !netns.Exists(l.name) {
		t.Error("cleanup refused but removed namespaces")
	}
	// The command enters its namespace a moment after it starts.
	eventually(t, 5*time.Second, func() error {
		if pids, _ := netns.Pids(l.prefix + "a"); len(pids) == 0 {
			return fmt.Errorf("no process in a's namespace: its command is gone")
		}
		return nil
	})
	l.mustExec("a", "true")
}

// TestPrivilegedLabKill9: kill -9 of the --lab process takes the daemon
// down with it within seconds; `vswitchd cleanup` then removes the lab
// namespace, the endpoints and their processes.
func TestPrivilegedLabKill9(t *testing.T) {
	testutil.RequireTools(t, "sleep")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "b")
	daemons, err := netns.Pids(l.name)
	if err != nil || len(daemons) != 1 {
		t.Fatalf("processes in the lab: %v, %v; want the daemon alone", daemons, err)
	}
	l.recordNamespaces()
	l.halt(syscall.SIGKILL) // the --lab process, by PID

	eventually(t, 5*time.Second, func() error {
		if !isZombie(strconv.Itoa(daemons[0])) {
			return fmt.Errorf("daemon pid %d still runs after its --lab parent was killed", daemons[0])
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := l.client.Version(ctx); err == nil {
		t.Error("the API still answers")
	}
	// Nothing removed the lab: that is cleanup's job.
	if !netns.Exists(l.name) || !netns.Exists(l.prefix+"a") {
		t.Fatalf("lab or endpoint namespace gone before cleanup")
	}
	r := vswitchd("cleanup", "--state-dir", l.stateDir())
	if r.code != 0 {
		t.Fatalf("vswitchd cleanup: %v", r)
	}
	for _, want := range []string{"removed endpoint a", "removed endpoint b", "removed lab namespace " + l.name} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cleanup output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(l.stateDir(), "lab")); err == nil {
		t.Error("cleanup left the lab record")
	}
	l.checkNoLeaks()
	if r := vswitchd("cleanup", "--state-dir", l.stateDir()); r.code != 0 || r.stdout != "" {
		t.Errorf("second cleanup: %v; want nothing to do", r)
	}
}

// TestPrivilegedDetach: --detach returns once the API answers, with the
// daemon in the background and its PID in --pid-file; `vswitchd stop`
// stops it and waits until it has removed everything. A daemon that fails
// to start makes --detach fail with the daemon's error.
func TestPrivilegedDetach(t *testing.T) {
	testutil.RequireTools(t, "sleep")
	id := randHex(3)
	dir := t.TempDir()
	lab := otherLab(t, "vsl-"+id)
	prefix := "v" + id + "-"
	sock, pidFile, state := filepath.Join(dir, "sock"), filepath.Join(dir, "pid"), filepath.Join(dir, "state")
	r := vswitchd("--detach", "--lab", lab, "--socket", sock, "--pid-file", pidFile, "--state-dir", state,
		"--netns-prefix", prefix, "--dns-upstream", "127.0.0.1:53")
	pid, perr := readPID(pidFile)
	t.Cleanup(func() {
		// If stop did not happen or failed: end it by its PID.
		if perr == nil && !isZombie(strconv.Itoa(pid)) {
			syscall.Kill(pid, syscall.SIGTERM)
			time.Sleep(2 * time.Second)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("vswitchd --detach: %v\nwant exit 0 and no output", r)
	}
	if perr != nil {
		t.Fatalf("pid file: %v", perr)
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "vswitchd" {
		t.Fatalf("pid file names %d (%q), want a vswitchd", pid, comm)
	}
	// Ready when --detach returned: no waiting here.
	ctl := func(args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return runCmd(ctx, "", filepath.Join(binDir, "vswitchctl"), append([]string{"--socket", sock}, args...)...)
	}
	if r := ctl("version"); r.code != 0 {
		t.Fatalf("vswitchctl version right after --detach: %v", r)
	}
	for _, args := range [][]string{{"network", "create", "test-network"}, {"run", "-d", "--net", "test-network", "--name", "a", "--", "sleep", "300"}} {
		if r := ctl(args...); r.code != 0 {
			t.Fatalf("vswitchctl %v: %v", args, r)
		}
	}
	log, _ := os.ReadFile(filepath.Join(state, "vswitchd.log"))
	if !strings.Contains(string(log), `msg="vswitchd starting"`) {
		t.Errorf("the detached daemon's log lacks its start line:\n%s", log)
	}
	// It outlives the process that started it and is in a session of its own.
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("detached vswitchd %d is in session %d, want its own", pid, sid)
	}

	start := time.Now()
	if r := vswitchd("stop", "--pid-file", pidFile); r.code != 0 || r.stdout != "" {
		t.Fatalf("vswitchd stop: %v", r)
	}
	t.Logf("vswitchd stop took %v", time.Since(start))
	if !isZombie(strconv.Itoa(pid)) {
		t.Errorf("vswitchd %d still runs after stop returned", pid)
	}
	for _, p := range []string{pidFile, sock, filepath.Join(state, "lab")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left after stop", p)
		}
	}
	names, _ := netns.List()
	for _, n := range names {
		if n == lab || strings.HasPrefix(n, prefix) {
			t.Errorf("leak: namespace %s after stop", n)
		}
	}
	if r := vswitchd("stop", "--pid-file", pidFile); r.code != 0 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("second stop: %v; want exit 0, not running", r)
	}

	// A daemon that cannot start: --detach shows why and fails.
	r = vswitchd("--detach", "--lab", lab, "--socket", sock, "--state-dir", state, "--netns-prefix", prefix,
		"--uplink", "nosuch0", "--uplink-address", "198.51.100.2/24")
	if r.code == 0 || !strings.Contains(r.stderr, "nosuch0") {
		t.Errorf("--detach of a daemon that fails to start: %v\nwant non-zero and the daemon's error", r)
	}
	if netns.Exists(lab) {
		t.Errorf("the failed daemon left its lab %s", lab)
	}
}

// readPID reads a PID file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// TestPrivilegedStartStopLog: the daemon logs one line at start with its
// version and effective configuration, and one at stop with the reason and
// its uptime.
func TestPrivilegedStartStopLog(t *testing.T) {
	l := startLab(t, labOptions{args: []string{"--dns-upstream", "127.0.0.1:53", "--fdb-capacity", "4096"}})
	l.stop()
	log := l.log.String()
	var start, stop string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="vswitchd starting"`) {
			start += line
		}
		if strings.Contains(line, `msg="vswitchd stopped"`) {
			stop += line
		}
	}
	for _, want := range []string{
		"version=", "commit=", "socket=" + l.socket, "state_dir=" + l.stateDir(), "lab=" + l.name,
		"netns_prefix=" + l.prefix, "host_if=vswitch0", "host_cidr=169.254.127.0/30", "uplink=none",
		"dns_upstreams=127.0.0.1:53", "fdb_capacity=4096", "fdb_port_limit=", "fdb_aging=", "conntrack_max=",
	} {
		if !strings.Contains(start, want) {
			t.Errorf("start line lacks %q: %q", want, start)
		}
	}
	if !strings.Contains(stop, `reason="terminated signal received"`) || !strings.Contains(stop, "uptime=") {
		t.Errorf("stop line %q: want the signal as reason and the uptime\nlog:\n%s", stop, log)
	}
}
