package supervisor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// plain runs commands directly (no namespaces): the supervisor's logic is
// what is under test.
func plain(spec Spec) *exec.Cmd {
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	return cmd
}

func newSup(t *testing.T, opt Options) *Supervisor {
	t.Helper()
	opt.Command = plain
	if opt.LogDir == "" {
		opt.LogDir = t.TempDir()
	}
	s := New(opt)
	t.Cleanup(s.Close)
	return s
}

func TestExitCodes(t *testing.T) {
	s := newSup(t, Options{})
	for _, tt := range []struct {
		name string
		argv []string
		want int
	}{
		{"success", []string{"true"}, 0},
		{"failure", []string{"sh", "-c", "exit 3"}, 3},
		{"signal", []string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		// A background child still holding stdout does not turn the
		// command's own status into 255.
		{"child holds output", []string{"sh", "-c", "sleep 5 & exit 7"}, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p, err := s.Start(Spec{Endpoint: "e", Argv: tt.argv, Stdio: &IO{Stdout: &out, Stderr: &out}})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Wait(context.Background()); got != tt.want {
				t.Errorf("%v exited %d, want %d", tt.argv, got, tt.want)
			}
		})
	}
}

func TestDetachedLogAndOnExit(t *testing.T) {
	var mu sync.Mutex
	var exited []string
	s := newSup(t, Options{OnExit: func(ep string, p *Process) {
		mu.Lock()
		exited = append(exited, ep)
		mu.Unlock()
	}})
	p, err := s.Start(Spec{Endpoint: "web", Argv: []string{"sh", "-c", "echo one; echo two >&2"}, Main: true})
	if err != nil {
		t.Fatal(err)
	}
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var out bytes.Buffer
	if err := s.Logs(context.Background(), "web", LogOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "one\n") || !strings.Contains(got, "two\n") {
		t.Errorf("log = %q, want both lines", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(exited)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("OnExit not called")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.Main("web") != p {
		t.Error("Main(web) is not the process")
	}
}

// TestStop: SIGTERM first, SIGKILL after the grace for a process that
// ignores it; exec sessions end too.
func TestStop(t *testing.T) {
	s := newSup(t, Options{})
	stubborn, err := s.Start(Spec{Endpoint: "e", Argv: []string{"sh", "-c", "trap '' TERM; sleep 30"}, Main: true})
	if err != nil {
		t.Fatal(err)
	}
	polite, err := s.Start(Spec{Endpoint: "e", Argv: []string{"sleep", "30"}, Stdio: &IO{Stdout: &bytes.Buffer{}}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the trap is set
	start := time.Now()
	s.Stop("e", "", 500*time.Millisecond)
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v, want about the grace", d)
	}
	if stubborn.Running() || polite.Running() {
		t.Error("processes still running after Stop")
	}
	if got := polite.ExitCode(); got != 128+int(syscall.SIGTERM) {
		t.Errorf("polite process exited %d, want SIGTERM", got)
	}
	if got := stubborn.ExitCode(); got != 128+int(syscall.SIGKILL) {
		t.Errorf("stubborn process exited %d, want SIGKILL", got)
	}
}

// TestStopAtOnce: with no grace, Stop sends SIGKILL straight away (docker
// stop -t 0): a TERM handler never runs.
func TestStopAtOnce(t *testing.T) {
	s := newSup(t, Options{})
	p, err := s.Start(Spec{Endpoint: "e", Argv: []string{"sleep", "30"}, Main: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop("e", "", 0)
	if got := p.ExitCode(); got != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %d after Stop with no grace, want SIGKILL (137)", got)
	}
}

// TestLogRotation: a log is capped at LogMax and rotated once.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	s := newSup(t, Options{LogDir: dir, LogMax: 1000})
	p, err := s.Start(Spec{Endpoint: "chatty", Argv: []string{"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxx; i=$((i+1)); done"}, Main: true})
	if err != nil {
		t.Fatal(err)
	}
	p.ExitCode()
	for _, f := range []string{"chatty.log", "chatty.log.1"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1000 {
			t.Errorf("%s is %d bytes, over the 1000-byte cap", f, fi.Size())
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "chatty.log"))
	if !strings.Contains(string(b), "line-199-") {
		t.Errorf("the current log lacks the last line: %q", b)
	}
	var tail bytes.Buffer
	if err := s.Logs(context.Background(), "chatty", LogOptions{Tail: 2}, &tail); err != nil {
		t.Fatal(err)
	}
	if got := tail.String(); got != "line-198-xxxxxxxxxx\nline-199-xxxxxxxxxx\n" {
		t.Errorf("Logs(tail 2) = %q, want the last two lines without time stamps", got)
	}
	tail.Reset()
	s.Logs(context.Background(), "chatty", LogOptions{Tail: 1, Timestamps: true}, &tail)
	if got := tail.String(); !strings.HasSuffix(got, "Z line-199-xxxxxxxxxx\n") || got[4] != '-' || got[10] != 'T' {
		t.Errorf("Logs(tail 1, timestamps) = %q, want an RFC 3339 time stamp and the line", got)
	}
}

// TestLogSymlinkRefused: a symlink planted at an endpoint's log is not
// followed.
func TestLogSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, []byte("keep"), 0o600)
	os.Symlink(target, filepath.Join(dir, "x.log"))
	s := newSup(t, Options{LogDir: dir})
	if _, err := s.Start(Spec{Endpoint: "x", Argv: []string{"echo", "overwrite"}, Main: true}); err == nil {
		t.Error("Start with a symlinked log succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
}

func TestStartAfterClose(t *testing.T) {
	s := New(Options{Command: plain, LogDir: t.TempDir()})
	s.Close()
	if _, err := s.Start(Spec{Endpoint: "e", Argv: []string{"true"}}); err != ErrClosed {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestLogDirSymlinkRefused: a symlink planted at the log directory is not
// followed: nothing is written where it points.
func TestLogDirSymlinkRefused(t *testing.T) {
	parent, elsewhere := t.TempDir(), t.TempDir()
	dir := filepath.Join(parent, "logs")
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	s := newSup(t, Options{LogDir: dir})
	if _, err := s.Start(Spec{Endpoint: "x", Argv: []string{"echo", "overwrite"}, Main: true}); err == nil {
		t.Error("Start with a symlinked log directory succeeded")
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("written through the symlinked log directory: %v", ents)
	}
}
