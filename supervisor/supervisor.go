// Package supervisor runs and watches the processes of endpoints: each
// endpoint's command (in the background with its output in a capped log,
// or attached to a client's stdio, on a terminal if asked) and the exec
// sessions inside it. It has its own lock and owns every goroutine it
// starts; Stop, which may wait seconds for processes to end, is called
// without the daemon's lock held.
//
// The entry point is New; Start runs a process, Stop ends an endpoint's,
// Close stops watching.
package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// StopGrace is how long processes get between SIGTERM and SIGKILL.
const StopGrace = 3 * time.Second

// IO is the stdio of an attached command. Stdin is nil when the client
// sends none. Resize, if not nil, is closed when the stream ends.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // nil with a TTY: output goes to Stdout
	Resize <-chan WinSize
}

// WinSize is a terminal size.
type WinSize struct {
	Rows, Cols uint16
}

// Options configures New.
type Options struct {
	// Command builds the command that runs spec.Argv inside namespace
	// spec.NS (a name in /run/netns, or an absolute path) with its host
	// name, directory and user. The default runs `EXE nsexec [--hostname
	// H] [--dir D] [--user U] NS -- ARGV…`, vswitchd's own entry into a
	// namespace.
	Command func(spec Spec) *exec.Cmd
	// Exe is the vswitchd binary for the default Command.
	Exe string
	// LogDir holds endpoints' logs (LogDir/NAME.log).
	LogDir string
	// LogMax caps an endpoint's log: when it reaches LogMax bytes it is
	// rotated to NAME.log.1 (one old file kept). 0 means DefaultLogMax.
	LogMax int64
	// Pids lists the processes in namespace ns, for killing what is left
	// after an endpoint's own processes ended; nil lists none.
	Pids func(ns string) ([]int, error)
	// OnExit is called (from the supervisor's goroutine, without its
	// lock) when an endpoint's main process exits.
	OnExit func(endpoint string, p *Process)
	Logger *slog.Logger
}

// DefaultLogMax is the default log cap.
const DefaultLogMax = 16 << 20

// Supervisor runs endpoints' processes.
type Supervisor struct {
	opt Options
	log *slog.Logger

	mu   sync.Mutex // guards eps and closed
	eps  map[string]*endpointProcs
	done chan struct{} // closed by Close

	wg sync.WaitGroup // watcher goroutines
}

// endpointProcs is what the supervisor runs for one endpoint.
type endpointProcs struct {
	main  *Process
	execs map[*Process]bool
}

// New returns a supervisor.
func New(opt Options) *Supervisor {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.LogMax <= 0 {
		opt.LogMax = DefaultLogMax
	}
	s := &Supervisor{opt: opt, log: opt.Logger, eps: map[string]*endpointProcs{}, done: make(chan struct{})}
	if s.opt.Command == nil {
		s.opt.Command = func(spec Spec) *exec.Cmd {
			args := []string{"nsexec"}
			for _, o := range [][2]string{{"--hostname", spec.Hostname}, {"--dir", spec.Dir}, {"--user", spec.User},
				{"--cap-drop", strings.Join(spec.CapDrop, ",")}} {
				if o[1] != "" {
					args = append(args, o[0], o[1])
				}
			}
			args = append(append(args, spec.NS, "--"), spec.Argv...)
			return exec.Command(s.opt.Exe, args...)
		}
	}
	return s
}

// Process is a process the supervisor started.
type Process struct {
	Endpoint string
	Argv     []string
	Started  time.Time

	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the process has exited and its output is drained
	code int           // exit code, valid after done (128+N for signal N); -1: unknown
	end  time.Time
	// adopted is set for a process that survived a daemon restart: not a
	// child, so its exit code is unknown.
	adopted bool
}

// PID returns the process ID.
func (p *Process) PID() int { return p.pid }

// Adopted reports whether the process survived a daemon restart (its
// exit code will not be known).
func (p *Process) Adopted() bool { return p.adopted }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode waits for the process and returns its shell-style exit code.
func (p *Process) ExitCode() int {
	<-p.done
	return p.code
}

// Ended returns when the process exited (zero while it runs).
func (p *Process) Ended() time.Time {
	select {
	case <-p.done:
		return p.end
	default:
		return time.Time{}
	}
}

// Wait waits for the process; if ctx ends first (the client went away), it
// kills the process group and then waits.
func (p *Process) Wait(ctx context.Context) int {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Signal(syscall.SIGKILL)
		<-p.done
	}
	return p.code
}

// ExitKnown reports whether the exited process's exit code is known.
func (p *Process) ExitKnown() bool { return p.code >= 0 }

// Signal sends sig to the process's group.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return nil
	}
	return syscall.Kill(-p.pid, sig)
}

// Spec says how to start a process.
type Spec struct {
	Endpoint string
	// NS is the endpoint's namespace: a name in /run/netns or a path.
	NS   string
	Argv []string
	Env  []string // added to the base environment
	TTY  bool
	// Hostname, Dir and User: the host name it sees (in a UTS namespace
	// of its own), its working directory (default /) and USER[:GROUP].
	Hostname, Dir, User string
	// CapDrop are the capabilities it never has (netns.Caps names).
	CapDrop []string
	// Stdio, if not nil, attaches the process to a client; otherwise it
	// runs in the background with its output appended to the endpoint's
	// log (or, with Discard, thrown away: docker exec -d).
	Stdio   *IO
	Discard bool
	// Main makes it the endpoint's main process (its command), watched
	// for OnExit; otherwise it is an exec session.
	Main bool
}

// BaseEnv is the environment of commands in endpoints, plus what the user
// adds.
func BaseEnv(name string, tty bool, extra []string) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"VSWITCHD_ENDPOINT=" + name,
	}
	if tty {
		env = append(env, "TERM=xterm")
	}
	return append(env, extra...)
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("supervisor closed")

// Start starts a process as spec says and returns once it runs.
func (s *Supervisor) Start(spec Spec) (*Process, error) {
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	if len(spec.Argv) == 0 {
		return nil, errors.New("start: no command")
	}
	cmd := s.opt.Command(spec)
	cmd.Env = BaseEnv(spec.Endpoint, spec.TTY, spec.Env)
	// Output may be held open by children that outlive the command; give
	// them a moment, then stop waiting for them.
	cmd.WaitDelay = 2 * time.Second
	p := &Process{Endpoint: spec.Endpoint, Argv: spec.Argv, cmd: cmd, done: make(chan struct{})}
	var err error
	switch {
	case spec.Stdio == nil && spec.Discard:
		err = s.startPiped(p, &IO{Stdout: io.Discard, Stderr: io.Discard})
	case spec.Stdio == nil:
		err = s.startDetached(p)
	case spec.TTY:
		err = s.startTTY(p, spec.Stdio)
	default:
		err = s.startPiped(p, spec.Stdio)
	}
	if err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", spec.Argv[0], spec.Endpoint, err)
	}
	p.Started = time.Now()
	p.pid = cmd.Process.Pid
	s.mu.Lock()
	ep := s.eps[spec.Endpoint]
	if ep == nil {
		ep = &endpointProcs{execs: map[*Process]bool{}}
		s.eps[spec.Endpoint] = ep
	}
	if spec.Main {
		ep.main = p
	} else {
		ep.execs[p] = true
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.watch(p, spec.Main)
	return p, nil
}

// watch waits for p to end, forgets an exec session, and reports the end
// of a main process.
func (s *Supervisor) watch(p *Process, main bool) {
	defer s.wg.Done()
	select {
	case <-p.done:
	case <-s.done:
		return
	}
	if main {
		s.log.Info("endpoint command exited", "endpoint", p.Endpoint, "pid", p.PID(), "status", describeExit(p.code))
		if s.opt.OnExit != nil {
			s.opt.OnExit(p.Endpoint, p)
		}
		return
	}
	s.mu.Lock()
	if ep := s.eps[p.Endpoint]; ep != nil {
		delete(ep.execs, p)
	}
	s.mu.Unlock()
}

// describeExit says how a process ended, for logs.
func describeExit(code int) string {
	if code < 0 {
		return "exit status unknown (not vswitchd's child)"
	}
	if code > 128 && code < 128+65 {
		return fmt.Sprintf("killed by signal %d (%s)", code-128, syscall.Signal(code-128))
	}
	return fmt.Sprintf("exit code %d", code)
}

// LogPath returns the log file of an endpoint.
func (s *Supervisor) LogPath(endpoint string) string {
	return filepath.Join(s.opt.LogDir, endpoint+".log")
}

func (s *Supervisor) startDetached(p *Process) error {
	w, err := openLog(s.LogPath(p.Endpoint), s.opt.LogMax)
	if err != nil {
		return err
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		w.Close()
		return err
	}
	s.log.Info("endpoint command started", "endpoint", p.Endpoint, "pid", p.cmd.Process.Pid, "cmd", p.Argv)
	go func() {
		p.code = exitStatus(p.cmd.Wait())
		p.end = time.Now()
		w.Close()
		close(p.done)
	}()
	return nil
}

func (s *Supervisor) startTTY(p *Process, stdio *IO) error {
	f, err := pty.StartWithAttrs(p.cmd, &pty.Winsize{Rows: 24, Cols: 80}, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		return err
	}
	var copies sync.WaitGroup
	copies.Add(1)
	go func() { defer copies.Done(); io.Copy(stdio.Stdout, f) }()
	if stdio.Stdin != nil {
		go io.Copy(f, stdio.Stdin)
	}
	if stdio.Resize != nil {
		go func() {
			for ws := range stdio.Resize {
				pty.Setsize(f, &pty.Winsize{Rows: ws.Rows, Cols: ws.Cols})
			}
		}()
	}
	go func() {
		p.code = exitStatus(p.cmd.Wait())
		p.end = time.Now()
		// The PTY reads EIO once the last holder of the terminal has
		// gone; bound the wait for stragglers.
		waitTimeout(&copies, 2*time.Second)
		f.Close()
		close(p.done)
	}()
	return nil
}

func (s *Supervisor) startPiped(p *Process, stdio *IO) error {
	p.cmd.Stdin = stdio.Stdin
	p.cmd.Stdout, p.cmd.Stderr = stdio.Stdout, stdio.Stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.code = exitStatus(p.cmd.Wait())
		p.end = time.Now()
		close(p.done)
	}()
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
	case <-t.C:
	}
}

// exitStatus maps Wait's error to a shell-style exit code. A command whose
// output a lingering child still held (exec.ErrWaitDelay) exited with its
// own status.
func exitStatus(err error) int {
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 255
}

// Main returns the endpoint's main process, or nil.
func (s *Supervisor) Main(endpoint string) *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep := s.eps[endpoint]; ep != nil {
		return ep.main
	}
	return nil
}

// Stop ends everything the supervisor runs in an endpoint: its command
// and exec sessions get SIGTERM, then SIGKILL after grace (at once, with
// no SIGTERM, when grace is 0 or less); then whatever
// else is left in its namespace ns (started by `ip netns exec`, or
// orphaned) is killed. It may take grace and more: call it without other
// locks held.
func (s *Supervisor) Stop(endpoint, ns string, grace time.Duration) {
	s.mu.Lock()
	var ps []*Process
	if ep := s.eps[endpoint]; ep != nil {
		if ep.main != nil && ep.main.Running() {
			ps = append(ps, ep.main)
		}
		for p := range ep.execs {
			ps = append(ps, p)
		}
	}
	s.mu.Unlock()
	first := syscall.SIGTERM
	if grace <= 0 {
		first = syscall.SIGKILL
	}
	for _, p := range ps {
		p.Signal(first)
	}
	deadline := time.NewTimer(max(grace, 0))
	defer deadline.Stop()
	for _, p := range ps {
		select {
		case <-p.done:
		case <-deadline.C:
			p.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if s.opt.Pids == nil || ns == "" {
		return
	}
	for range 10 {
		pids, err := s.opt.Pids(ns)
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Forget drops what the supervisor knows of an endpoint (after Stop) and
// removes its logs.
func (s *Supervisor) Forget(endpoint string) {
	s.mu.Lock()
	delete(s.eps, endpoint)
	s.mu.Unlock()
	os.Remove(s.LogPath(endpoint))
	os.Remove(s.LogPath(endpoint) + ".1")
}

// Close stops watching: OnExit is not called any more, and Start fails.
// Processes keep running (the daemon stops them first if it means to).
// It waits for OnExit calls in progress: callers must not hold a lock
// OnExit takes (see Shutdown).
func (s *Supervisor) Close() {
	s.Shutdown()
	s.wg.Wait()
}

// Shutdown is Close without the wait: OnExit calls in progress may still
// be running when it returns.
func (s *Supervisor) Shutdown() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
}

// LogOptions select what Logs shows.
type LogOptions struct {
	Follow     bool // keep copying until ctx ends or the command exits
	Tail       int  // only the last Tail lines; 0: all
	Timestamps bool // keep each line's time stamp
}

// Logs copies an endpoint's log (the rotated file first) to w as o says.
func (s *Supervisor) Logs(ctx context.Context, endpoint string, o LogOptions, w io.Writer) error {
	p := s.Main(endpoint)
	path := s.LogPath(endpoint)
	var old []byte
	if f, err := openRegular(path + ".1"); err == nil {
		old, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	f, err := openRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		return s.writeLines(w, old, o)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	cur, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	all := append(old, cur...)
	var partial []byte // a last line still being written
	if i := bytes.LastIndexByte(all, '\n'); i < len(all)-1 && o.Follow && p != nil && p.Running() {
		partial = bytes.Clone(all[i+1:])
		all = all[:i+1]
	}
	if err := s.writeLines(w, all, o); err != nil {
		return err
	}
	if !o.Follow || p == nil {
		return nil
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	lo := o
	lo.Tail = 0
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			data := append(partial, buf[:n]...)
			i := bytes.LastIndexByte(data, '\n')
			if i >= 0 {
				if err := s.writeLines(w, data[:i+1], lo); err != nil {
					return err
				}
				partial = bytes.Clone(data[i+1:])
			} else {
				partial = data
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			// Whatever the command wrote last.
			rest, _ := io.ReadAll(f)
			return s.writeLines(w, append(partial, rest...), lo)
		case <-t.C:
		}
	}
}

// writeLines writes the log lines in b, the last tail of them if o.Tail,
// with or without their time stamps.
func (s *Supervisor) writeLines(w io.Writer, b []byte, o LogOptions) error {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	if o.Tail > 0 && len(lines) > o.Tail {
		lines = lines[len(lines)-o.Tail:]
	}
	var out []byte
	for _, l := range lines {
		if !o.Timestamps && len(l) >= stampLen && l[stampLen-1] == ' ' && l[4] == '-' && l[10] == 'T' {
			l = l[stampLen:]
		}
		out = append(out, l...)
	}
	_, err := w.Write(out)
	return err
}

// openRegular opens a log file for reading, not through a symlink.
func openRegular(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}
