package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// An endpoint's command: run, stop, start, restart, kill, and the restart
// policy (Docker's --restart), which runs it again after it exits.

// RunSpec is a request to create an endpoint and start its command.
type RunSpec struct {
	state.EndpointSpec
	// TTY runs an attached command on a terminal.
	TTY bool
}

// Restart back-off, as Docker's: 100 ms doubling to a minute, reset when
// the command ran at least 10 s.
const (
	restartFirst = 100 * time.Millisecond
	restartMax   = time.Minute
	restartReset = 10 * time.Second
)

// restarting is an endpoint whose command waits to run again.
type restarting struct {
	count int         // back-off steps so far (reset after a long run)
	timer *time.Timer // pending, or nil
}

// basePath is the PATH of commands in endpoints (supervisor.BaseEnv).
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNotFound is wrapped when an endpoint's command does not exist; the
// CLI exits 127 for it, as Docker does.
var errCommandNotFound = errors.New("executable file not found in $PATH")

// lookCommand finds argv0 as the endpoint will (endpoints see the host's
// files), with env's PATH if it sets one.
func lookCommand(argv0 string, env []string) error {
	path := basePath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	executable := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("exec: %q: permission denied", argv0)
		}
		return nil
	}
	if strings.Contains(argv0, "/") {
		if err := executable(argv0); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return state.Errorf(state.ErrInvalid, "exec: %q: no such file or directory", argv0)
			}
			return state.Errorf(state.ErrInvalid, "%w", err)
		}
		return nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if executable(filepath.Join(dir, argv0)) == nil {
			return nil
		}
	}
	return state.Errorf(state.ErrInvalid, "exec: %q: %w", argv0, errCommandNotFound)
}

// Run creates an endpoint and starts its command: with stdio nil in the
// background (Run returns at once), otherwise attached to stdio (Run
// returns when the command exits, with its exit code). An attached run
// with no command starts /bin/sh. A command that does not exist is refused
// before anything is made. With no network and no trunk, eth0 goes on the
// default network.
func (d *Daemon) Run(ctx context.Context, spec RunSpec, stdio *supervisor.IO) (EndpointInfo, int, error) {
	argv := spec.Cmd
	if stdio != nil && len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	if len(argv) > 0 {
		if err := lookCommand(argv[0], spec.Env); err != nil {
			return EndpointInfo{}, 0, err
		}
	}
	if spec.User != "" {
		if _, err := netns.LookupUser(spec.User); err != nil {
			return EndpointInfo{}, 0, state.Errorf(state.ErrInvalid, "%w", err)
		}
	}
	if spec.Network == "" && !spec.Trunk {
		spec.Network = control.DefaultNetwork
	}
	d.mu.Lock()
	e, err := d.createEndpoint(spec.EndpointSpec)
	if err != nil {
		d.mu.Unlock()
		return EndpointInfo{}, 0, err
	}
	var p *supervisor.Process
	if len(argv) > 0 {
		p, err = d.startMain(e, argv, spec.TTY, stdio, 0)
		if err != nil {
			if rerr := d.removeEndpoint(e); rerr != nil {
				d.log.Warn("remove endpoint after its command failed to start", "endpoint", e.Name, "err", rerr)
			}
			d.mu.Unlock()
			return EndpointInfo{}, 0, err
		}
	}
	info := d.describeEndpoint(d.st.Endpoint(e.Name))
	d.mu.Unlock()
	if stdio == nil {
		return info, 0, nil
	}
	return info, p.Wait(ctx), nil
}

// startMain starts e's command (argv) and records its PID and start time;
// restarts is the endpoint's restart count to record. Callers hold mu.
func (d *Daemon) startMain(e *state.Endpoint, argv []string, tty bool, stdio *supervisor.IO, restarts int) (*supervisor.Process, error) {
	p, err := d.sup.Start(supervisor.Spec{
		Endpoint: e.Name, NS: procNS(e), Argv: argv, Env: e.Env, TTY: tty, Stdio: stdio, Main: true,
		Hostname: e.HostnameOrName(), User: e.User, CapDrop: e.CapDrop,
	})
	if err != nil {
		return nil, err
	}
	next := d.st.Clone()
	ne := next.Endpoint(e.Name)
	ne.PID, ne.Stopped, ne.StartedAt, ne.ExitCode, ne.RestartCount = p.PID(), false, p.Started, nil, restarts
	if err := d.commit(next); err != nil {
		d.log.Warn("record the command's start", "endpoint", e.Name, "err", err)
	}
	return p, nil
}

// mainExited records the end of an endpoint's command and, for --rm,
// removes the endpoint; under a restart policy it schedules the next run.
// The supervisor calls it from its goroutine.
func (d *Daemon) mainExited(name string, p *supervisor.Process) {
	if d.isClosing() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.isClosing() {
		return // Close took the lock first
	}
	e := d.st.Endpoint(name)
	if e == nil || d.busy[name] || d.sup.Main(name) != p {
		return
	}
	if e.Remove {
		if err := d.removeEndpoint(e); err != nil {
			d.log.Warn("remove endpoint after exit", "endpoint", name, "err", err)
		}
		return
	}
	d.recordExit(name, p)
	d.scheduleRestart(d.st.Endpoint(name), p.Ended().Sub(p.Started))
}

// recordExit records in the state that p, name's command, exited. Callers
// hold mu.
func (d *Daemon) recordExit(name string, p *supervisor.Process) {
	next := d.st.Clone()
	ne := next.Endpoint(name)
	if ne == nil || ne.PID != p.PID() && ne.PID != 0 {
		return
	}
	ne.PID, ne.FinishedAt, ne.ExitCode = 0, p.Ended(), nil
	if p.ExitKnown() {
		code := p.ExitCode()
		ne.ExitCode = &code
	}
	if err := d.commit(next); err != nil {
		d.log.Warn("record the command's exit", "endpoint", name, "err", err)
	}
}

// scheduleRestart runs e's command again after a back-off if its restart
// policy says so; ran is how long the last run lasted. Callers hold mu.
func (d *Daemon) scheduleRestart(e *state.Endpoint, ran time.Duration) {
	code := -1
	if e.ExitCode != nil {
		code = *e.ExitCode
	}
	if !e.Restart.Restarts(code, e.RestartCount, e.Stopped) || len(e.Cmd) == 0 {
		return
	}
	r := d.restarts[e.Name]
	if r == nil {
		r = &restarting{}
		d.restarts[e.Name] = r
	}
	if ran >= restartReset {
		r.count = 0
	}
	delay := min(restartFirst<<min(r.count, 10), restartMax)
	r.count++
	d.log.Info("restarting endpoint command", "endpoint", e.Name, "policy", e.Restart, "exit_code", code, "in", delay, "restart", e.RestartCount+1)
	r.timer = time.AfterFunc(delay, func() { d.restartNow(e.Name, r) })
}

// restartNow runs an endpoint's command again under its restart policy.
func (d *Daemon) restartNow(name string, r *restarting) {
	if d.isClosing() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.isClosing() || d.restarts[name] != r || r.timer == nil {
		return // cancelled
	}
	r.timer = nil
	e := d.st.Endpoint(name)
	if e == nil || d.busy[name] || e.Phase != "" || e.Stopped || len(e.Cmd) == 0 {
		return
	}
	if p := d.sup.Main(name); p != nil && p.Running() {
		return
	}
	if _, err := d.startMain(e, e.Cmd, false, nil, e.RestartCount+1); err != nil {
		d.log.Warn("restart endpoint command", "endpoint", name, "err", err)
	}
}

// isClosing reports whether Close has begun.
func (d *Daemon) isClosing() bool {
	select {
	case <-d.closing:
		return true
	default:
		return false
	}
}

// restarting reports whether e waits to run its command again. Callers
// hold mu.
func (d *Daemon) restartPending(name string) bool {
	r := d.restarts[name]
	return r != nil && r.timer != nil
}

// cancelRestart forgets a pending restart and the back-off. Callers hold
// mu.
func (d *Daemon) cancelRestart(name string) {
	if r := d.restarts[name]; r != nil && r.timer != nil {
		r.timer.Stop()
	}
	delete(d.restarts, name)
}

// StopEndpoint stops an endpoint's processes (SIGTERM, SIGKILL after
// grace: 0 at once, negative the default) and
// records that the user stopped it, so no restart policy runs it again.
// The endpoint and its NICs stay.
func (d *Daemon) StopEndpoint(name string, grace time.Duration) error {
	d.mu.Lock()
	e, err := d.endpointForChange(name)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	d.cancelRestart(name)
	next := d.st.Clone()
	ne := next.Endpoint(name)
	ne.Stopped = true
	if len(e.Cmd) == 0 && !e.Stopped {
		ne.FinishedAt = now()
	}
	if err := d.commit(next); err != nil {
		d.mu.Unlock()
		return err
	}
	d.busy[name] = true
	ns := procNS(e)
	d.mu.Unlock()
	if grace < 0 {
		grace = supervisor.StopGrace
	}
	// The exit is recorded by mainExited, which ignores busy endpoints:
	// record it here.
	d.sup.Stop(name, ns, grace)
	d.mu.Lock()
	delete(d.busy, name)
	if p := d.sup.Main(name); p != nil && !p.Running() {
		d.recordExit(name, p)
	}
	d.mu.Unlock()
	d.log.Info("endpoint stopped", "endpoint", name)
	return nil
}

// StartEndpoint runs an endpoint's command again (an endpoint without one is
// marked running again). Starting a running endpoint does nothing.
func (d *Daemon) StartEndpoint(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.endpointForChange(name)
	if err != nil {
		return err
	}
	d.cancelRestart(name)
	if p := d.sup.Main(name); p != nil && p.Running() {
		return nil
	}
	if len(e.Cmd) == 0 {
		if !e.Stopped {
			return nil
		}
		next := d.st.Clone()
		ne := next.Endpoint(name)
		ne.Stopped, ne.StartedAt = false, now()
		return d.commit(next)
	}
	if err := lookCommand(e.Cmd[0], e.Env); err != nil {
		return err
	}
	_, err = d.startMain(e, e.Cmd, false, nil, 0)
	return err
}

// RestartEndpoint stops an endpoint's command and runs it again.
func (d *Daemon) RestartEndpoint(name string, grace time.Duration) error {
	if err := d.StopEndpoint(name, grace); err != nil {
		return err
	}
	return d.StartEndpoint(name)
}

// Kill sends sig to an endpoint's command (its process group). The restart
// policy applies to the exit, as with docker kill.
func (d *Daemon) Kill(name string, sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.endpointForChange(name); err != nil {
		return err
	}
	p := d.sup.Main(name)
	if p == nil || !p.Running() {
		return state.Errorf(state.ErrConflict, "endpoint %q is not running", name)
	}
	return p.Signal(sig)
}

// ParseSignal reads a signal name (KILL, SIGKILL, kill) or number.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for n := syscall.Signal(1); n < 65 && name != ""; n++ {
		if sn := unix.SignalName(n); sn != "" && strings.TrimPrefix(sn, "SIG") == name {
			return n, nil
		}
	}
	return 0, state.Errorf(state.ErrInvalid, "signal %q: not a signal name or number", s)
}

// Top lists the processes in an endpoint's namespace, as ps -ef.
func (d *Daemon) Top(name string) (titles []string, procs [][]string, err error) {
	d.mu.Lock()
	e := d.st.Endpoint(name)
	d.mu.Unlock()
	if e == nil {
		return nil, nil, state.Errorf(state.ErrNotFound, "endpoint %q not found", name)
	}
	pids, err := d.host.Pids(hostNS(e))
	if err != nil {
		return nil, nil, err
	}
	return supervisor.TopTitles, supervisor.Processes(pids), nil
}
