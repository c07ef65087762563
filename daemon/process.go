package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/netns"
)

// process is a command running inside an endpoint, started through
// `vswitchd nsexec`, which sets the namespace up as `ip netns exec` does.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is drained
	code int           // exit code, valid after done (128+N for signal N)
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) exitCode() int {
	<-p.done
	return p.code
}

// wait waits for the process; if ctx ends first (the client went away), it
// kills the process group and then waits.
func (p *process) wait(ctx context.Context) int {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		<-p.done
	}
	return p.code
}

// signal sends sig to the process's group.
func (p *process) signal(sig syscall.Signal) {
	syscall.Kill(-p.cmd.Process.Pid, sig)
}

// baseEnv is the environment of commands in endpoints, plus what the user
// adds.
func baseEnv(name string, tty bool, extra []string) []string {
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

func (d *Daemon) command(e *Endpoint, argv []string) *exec.Cmd {
	args := append([]string{"nsexec", e.Netns, "--"}, argv...)
	cmd := exec.Command(d.cfg.Exe, args...)
	cmd.Dir = "/"
	// Output may be held open by children that outlive the command; give
	// them a moment, then stop waiting for them.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func logPath(stateDir, name string) string { return filepath.Join(stateDir, "logs", name+".log") }

func removeLog(stateDir, name string) { os.Remove(logPath(stateDir, name)) }

// startDetached starts an endpoint's command in the background with its
// output appended to the endpoint's log.
func (d *Daemon) startDetached(e *Endpoint, argv []string) (*process, error) {
	lp := logPath(d.cfg.StateDir, e.Name)
	if err := os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(lp, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := d.command(e, argv)
	cmd.Env = baseEnv(e.Name, false, e.Env)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %q in %s: %w", argv[0], e.Name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.code = exitStatus(cmd.Wait())
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// startAttached starts a command with the client's stdio, on a PTY if asked.
func (d *Daemon) startAttached(e *Endpoint, argv []string, tty bool, stdio *control.IO) (*process, error) {
	cmd := d.command(e, argv)
	cmd.Env = baseEnv(e.Name, tty, e.Env)
	p := &process{cmd: cmd, done: make(chan struct{})}
	if tty {
		f, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 24, Cols: 80}, &syscall.SysProcAttr{Setsid: true, Setctty: true})
		if err != nil {
			return nil, fmt.Errorf("start %q in %s: %w", argv[0], e.Name, err)
		}
		var copies sync.WaitGroup
		copies.Add(1)
		go func() { defer copies.Done(); io.Copy(stdio.Stdout, f) }()
		if stdio.Stdin != nil {
			go io.Copy(f, stdio.Stdin)
		}
		go func() {
			for ws := range stdio.Resize {
				pty.Setsize(f, &pty.Winsize{Rows: ws.Rows, Cols: ws.Cols})
			}
		}()
		go func() {
			p.code = exitStatus(cmd.Wait())
			// The PTY reads EIO once the last holder of the terminal
			// has gone; bound the wait for stragglers.
			waitTimeout(&copies, 2*time.Second)
			f.Close()
			close(p.done)
		}()
		return p, nil
	}
	cmd.Stdin = stdio.Stdin
	cmd.Stdout, cmd.Stderr = stdio.Stdout, stdio.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", argv[0], e.Name, err)
	}
	go func() {
		p.code = exitStatus(cmd.Wait())
		close(p.done)
	}()
	return p, nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
	case <-time.After(d):
	}
}

// exitStatus maps Wait's error to a shell-style exit code.
func exitStatus(err error) int {
	if err == nil {
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

// Exec implements control.Backend.
func (d *Daemon) Exec(ctx context.Context, name string, x control.Exec, stdio *control.IO) (int, error) {
	d.mu.Lock()
	e := d.state.endpoint(name)
	if e == nil {
		d.mu.Unlock()
		return 0, control.Errorf(control.ErrNotFound, "endpoint %q not found", name)
	}
	ee := *e
	ee.Env = append(append([]string(nil), e.Env...), x.Env...)
	p, err := d.startAttached(&ee, x.Cmd, x.TTY, stdio)
	if err != nil {
		d.mu.Unlock()
		return 0, err
	}
	rt := d.eps[name]
	rt.execs[p] = true
	d.mu.Unlock()
	code := p.wait(ctx)
	d.mu.Lock()
	delete(rt.execs, p)
	d.mu.Unlock()
	return code, nil
}

// stopProcesses ends everything running in an endpoint: its command and
// exec sessions get SIGTERM, then SIGKILL after stopGrace; whatever else is
// left in the namespace (started by `ip netns exec`, or orphaned) is
// killed.
func (d *Daemon) stopProcesses(e *Endpoint) {
	var ps []*process
	if rt := d.eps[e.Name]; rt != nil {
		if rt.main != nil && rt.main.running() {
			ps = append(ps, rt.main)
		}
		for p := range rt.execs {
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		p.signal(syscall.SIGTERM)
	}
	deadline := time.After(stopGrace)
	for _, p := range ps {
		select {
		case <-p.done:
		case <-deadline:
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
	for range 10 {
		pids, err := netns.Pids(e.Netns)
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs implements control.Backend: the output of the endpoint's detached
// command, followed until ctx ends or the command exits if follow is set.
func (d *Daemon) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	d.mu.Lock()
	var p *process
	if rt := d.eps[name]; rt != nil {
		p = rt.main
	}
	d.mu.Unlock()
	f, err := os.Open(logPath(d.cfg.StateDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if !follow || p == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			_, err := io.Copy(w, f)
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
