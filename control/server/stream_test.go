package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// Goroutines of the stdio stream, for leak checks: the server's side
// (and the frame reader it starts), the server's resize forwarder, and
// the client's side.
const (
	serverStream  = "control.ServeStdio"
	serverResize  = "server.supervisorIO"
	clientStream  = "control.(*Client).attach"
	waitForResize = 5 * time.Second
)

// waitStreamsGone waits until no goroutine of a stdio stream is left.
func waitStreamsGone(t *testing.T) {
	t.Helper()
	waitGone(t, serverStream)
	waitGone(t, serverResize)
	waitGone(t, clientStream)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestExec covers the stdio stream of exec: stdout and stderr kept apart
// (or merged with a TTY), stdin up to EOF, resizes, exit codes, and
// backend failures as error frames.
func TestExec(t *testing.T) {
	tests := []struct {
		name       string
		req        control.Exec
		stdin      string
		resizes    []control.WinSize
		exec       func(ctx context.Context, stdio *supervisor.IO) (int, error)
		wantCode   int
		wantErr    string
		wantStdout string
		wantStderr string
	}{
		{
			name: "stdout and stderr", req: control.Exec{Cmd: []string{"sh"}, Env: []string{"A=1", "B=2"}},
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				if stdio.Stdin != nil {
					return 1, errors.New("stdin without Stdin set")
				}
				fmt.Fprint(stdio.Stdout, "out 1\n")
				fmt.Fprint(stdio.Stderr, "err 1\n")
				fmt.Fprint(stdio.Stdout, "out 2\n")
				return 0, nil
			},
			wantStdout: "out 1\nout 2\n", wantStderr: "err 1\n",
		},
		{
			name: "TTY merges stderr", req: control.Exec{Cmd: []string{"sh"}, TTY: true},
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				if stdio.Stderr != nil {
					return 1, errors.New("stderr with a TTY")
				}
				fmt.Fprint(stdio.Stdout, "all\n")
				return 0, nil
			},
			wantStdout: "all\n",
		},
		{
			name: "stdin to EOF", req: control.Exec{Cmd: []string{"cat"}, Stdin: true}, stdin: strings.Repeat("stdin data\n", 10000),
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				_, err := io.Copy(stdio.Stdout, stdio.Stdin)
				return 0, err
			},
			wantStdout: strings.Repeat("stdin data\n", 10000),
		},
		{
			name: "empty stdin", req: control.Exec{Cmd: []string{"cat"}, Stdin: true}, stdin: "",
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				b, err := io.ReadAll(stdio.Stdin)
				fmt.Fprintf(stdio.Stdout, "%d bytes", len(b))
				return 0, err
			},
			wantStdout: "0 bytes",
		},
		{
			name: "resize", req: control.Exec{Cmd: []string{"sh"}, TTY: true},
			resizes: []control.WinSize{{Rows: 24, Cols: 80}, {Rows: 50, Cols: 132}},
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				for range 2 {
					select {
					case ws := <-stdio.Resize:
						fmt.Fprintf(stdio.Stdout, "%dx%d\n", ws.Rows, ws.Cols)
					case <-time.After(waitForResize):
						return 1, errors.New("no resize within 5 s")
					}
				}
				return 0, nil
			},
			wantStdout: "24x80\n50x132\n",
		},
		{
			name: "exit code", req: control.Exec{Cmd: []string{"false"}},
			exec:     func(ctx context.Context, stdio *supervisor.IO) (int, error) { return 3, nil },
			wantCode: 3,
		},
		{
			name: "exit code 255", req: control.Exec{Cmd: []string{"false"}},
			exec:     func(ctx context.Context, stdio *supervisor.IO) (int, error) { return 255, nil },
			wantCode: 255,
		},
		{
			name: "negative exit code", req: control.Exec{Cmd: []string{"false"}},
			exec:     func(ctx context.Context, stdio *supervisor.IO) (int, error) { return -1, nil },
			wantCode: -1,
		},
		{
			name: "backend failure", req: control.Exec{Cmd: []string{"nope"}},
			exec: func(ctx context.Context, stdio *supervisor.IO) (int, error) {
				fmt.Fprint(stdio.Stdout, "partial")
				return 0, errors.New(`start "nope" in web: executable file not found`)
			},
			wantErr: `start "nope" in web: executable file not found`, wantStdout: "partial",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{exec: func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
				return tt.exec(ctx, stdio)
			}}
			c, _ := serve(t, b)
			var stdout, stderr syncBuffer
			stdio := &control.IO{Stdout: &stdout, Stderr: &stderr}
			if tt.req.Stdin {
				stdio.Stdin = strings.NewReader(tt.stdin)
			}
			if tt.resizes != nil {
				ch := make(chan control.WinSize, len(tt.resizes))
				for _, ws := range tt.resizes {
					ch <- ws
				}
				close(ch)
				stdio.Resize = ch
			}
			code, err := c.Exec(context.Background(), "web", tt.req, stdio)
			switch {
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("Exec(%+v) = %d, %v, want error %q", tt.req, code, err, tt.wantErr)
				}
			case err != nil || code != tt.wantCode:
				t.Errorf("Exec(%+v) = %d, %v, want %d, nil", tt.req, code, err, tt.wantCode)
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout = %.80q, want %.80q", got, tt.wantStdout)
			}
			if got := stderr.String(); got != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
			spec := daemon.ExecSpec{Cmd: tt.req.Cmd, Env: tt.req.Env, TTY: tt.req.TTY}
			want := []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Exec", Args: []any{"web", spec}}}
			if diff := diffCalls(want, b.takeCalls()); diff != "" {
				t.Errorf("backend calls (-want +got):\n%s", diff)
			}
			waitStreamsGone(t)
		})
	}
}

func TestExecRefused(t *testing.T) {
	b := &fakeBackend{}
	c, sock := serve(t, b)
	stdio := &control.IO{Stdout: io.Discard, Stderr: io.Discard}
	if _, err := c.Exec(context.Background(), "missing", control.Exec{Cmd: []string{"sh"}}, stdio); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("Exec(missing endpoint) = %v, want ErrNotFound", err)
	}
	if _, err := c.Exec(context.Background(), "web", control.Exec{}, stdio); !errors.Is(err, control.ErrInvalid) {
		t.Errorf("Exec(no command) = %v, want ErrInvalid", err)
	}
	resp, err := rawClient(sock).Post("http://vswitchd/v1/endpoints/web/exec", "application/json", strings.NewReader(`{"cmd":["sh"]}`))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("exec without Upgrade = %d, want 400", resp.StatusCode)
	}
	for _, c := range b.takeCalls() {
		if c.Method == "Exec" {
			t.Errorf("a refused exec reached the backend: %v", c)
		}
	}
	waitStreamsGone(t)
}

// TestRunAttached: an attached run streams like exec; detached runs are
// covered by TestRoutes.
func TestRunAttached(t *testing.T) {
	b := &fakeBackend{run: func(ctx context.Context, spec daemon.RunSpec, stdio *supervisor.IO) (daemon.EndpointInfo, int, error) {
		in, err := io.ReadAll(stdio.Stdin)
		fmt.Fprintf(stdio.Stdout, "run %s: %s", spec.Name, in)
		if stdio.Stderr != nil { // nil with a TTY
			fmt.Fprint(stdio.Stderr, "warning")
		}
		return cannedEndpointInfo, 7, err
	}}
	c, sock := serve(t, b)
	var stdout, stderr syncBuffer
	req := control.Run{Name: "web", Network: "alpha", Cmd: []string{"cat"}, Stdin: true, Remove: true}
	code, err := c.RunAttached(context.Background(), req, &control.IO{Stdin: strings.NewReader("input"), Stdout: &stdout, Stderr: &stderr})
	if err != nil || code != 7 {
		t.Errorf("RunAttached(%+v) = %d, %v, want 7, nil", req, code, err)
	}
	if stdout.String() != "run web: input" || stderr.String() != "warning" {
		t.Errorf("stdout, stderr = %q, %q, want %q, %q", stdout.String(), stderr.String(), "run web: input", "warning")
	}
	spec := daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "web", Network: "alpha", Cmd: []string{"cat"}, Remove: true}}
	if diff := diffCalls([]call{{Method: "Run", Args: []any{spec, true}}}, b.takeCalls()); diff != "" {
		t.Errorf("backend calls (-want +got):\n%s", diff)
	}

	t.Run("TTY", func(t *testing.T) {
		req := control.Run{Name: "web", Network: "alpha", TTY: true, Stdin: true}
		var out syncBuffer
		if code, err := c.RunAttached(context.Background(), req, &control.IO{Stdin: strings.NewReader(""), Stdout: &out}); err != nil || code != 7 || out.String() != "run web: " {
			t.Errorf("RunAttached(%+v) = %d, %v, stdout %q, want 7, nil, %q", req, code, err, out.String(), "run web: ")
		}
		spec := daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "web", Network: "alpha"}, TTY: true}
		if diff := diffCalls([]call{{Method: "Run", Args: []any{spec, true}}}, b.takeCalls()); diff != "" {
			t.Errorf("backend calls (-want +got):\n%s", diff)
		}
	})

	t.Run("backend refuses", func(t *testing.T) {
		b.errs = map[string]error{"Run": state.Errorf(state.ErrConflict, "endpoint %q exists", "web")}
		defer func() { b.errs = nil }()
		if _, err := c.RunAttached(context.Background(), req, &control.IO{Stdin: strings.NewReader(""), Stdout: io.Discard}); err == nil ||
			err.Error() != `endpoint "web" exists` {
			t.Errorf("RunAttached(failing) = %v, want the backend's error", err)
		}
		b.takeCalls()
	})

	t.Run("bad spec", func(t *testing.T) {
		bad := control.Run{Name: "web", Network: "alpha", Publish: []string{"0:80"}, Stdin: true}
		_, err := c.RunAttached(context.Background(), bad, &control.IO{Stdin: strings.NewReader(""), Stdout: io.Discard})
		if !errors.Is(err, control.ErrInvalid) || !strings.Contains(err.Error(), `"0:80"`) {
			t.Errorf("RunAttached(%+v) = %v, want ErrInvalid naming \"0:80\"", bad, err)
		}
		if calls := b.takeCalls(); len(calls) != 0 {
			t.Errorf("a bad attached run reached the backend: %v", calls)
		}
	})

	t.Run("without Upgrade", func(t *testing.T) {
		resp, err := rawClient(sock).Post("http://vswitchd/v1/endpoints?attach=1", "application/json", strings.NewReader(`{"name":"web","network":"alpha"}`))
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("attached run without Upgrade = %d, want 400", resp.StatusCode)
		}
		if calls := b.takeCalls(); len(calls) != 0 {
			t.Errorf("an attached run without Upgrade reached the backend: %v", calls)
		}
	})
	waitStreamsGone(t)
}

// TestExecCancel: cancelling the client's context ends the stream, and the
// backend's context with it.
func TestExecCancel(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	b := &fakeBackend{exec: func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return 130, nil
	}}
	c, _ := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, "web", control.Exec{Cmd: []string{"sleep", "inf"}}, &control.IO{Stdout: io.Discard, Stderr: io.Discard})
		errc <- err
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Exec() after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Exec did not return within 5 s of its context's cancel")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's context was not cancelled within 5 s")
	}
	waitStreamsGone(t)
}

// TestExecUnreadStdin: a command that exits without reading all its
// stdin leaves no goroutine behind in the server.
func TestExecUnreadStdin(t *testing.T) {
	b := &fakeBackend{exec: func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
		var one [1]byte
		_, err := io.ReadFull(stdio.Stdin, one[:]) // the rest of the first stdin frame stays unread
		return 0, err
	}}
	c, _ := serve(t, b)
	stdio := &control.IO{Stdin: strings.NewReader("more than one byte"), Stdout: io.Discard, Stderr: io.Discard}
	req := control.Exec{Cmd: []string{"head", "-c1"}, Stdin: true}
	if code, err := c.Exec(context.Background(), "web", req, stdio); err != nil || code != 0 {
		t.Fatalf("Exec(%+v) = %d, %v, want 0, nil", req, code, err)
	}
	waitGone(t, serverStream)
	waitGone(t, serverResize)
}

// TestExecResizeClosed: the backend's Resize channel is closed when the
// stream ends, so a goroutine ranging over it (as a PTY's does) returns;
// and the client's resize goroutine returns although the caller never
// closes its channel.
func TestExecResizeClosed(t *testing.T) {
	ranged := make(chan struct{})
	b := &fakeBackend{exec: func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
		go func() {
			defer close(ranged)
			for range stdio.Resize {
			}
		}()
		return 0, nil
	}}
	c, _ := serve(t, b)
	resize := make(chan control.WinSize) // never closed, like a CLI's
	if _, err := c.Exec(context.Background(), "web", control.Exec{Cmd: []string{"sh"}, TTY: true}, &control.IO{Stdout: io.Discard, Resize: resize}); err != nil {
		t.Fatalf("Exec() = %v", err)
	}
	select {
	case <-ranged:
	case <-time.After(5 * time.Second):
		t.Error("the backend's Resize channel was not closed within 5 s of the stream's end")
	}
	waitStreamsGone(t)
}

// TestLogs covers logs with and without follow.
func TestLogs(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		b := &fakeBackend{}
		c, _ := serve(t, b)
		var out bytes.Buffer
		if err := c.Logs(context.Background(), "web", false, &out); err != nil {
			t.Fatalf("Logs() = %v", err)
		}
		if out.String() != "line 1\nline 2\n" {
			t.Errorf("Logs wrote %q, want %q", out.String(), "line 1\nline 2\n")
		}
		want := []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Logs", Args: []any{"web", supervisor.LogOptions{}}}}
		if diff := diffCalls(want, b.takeCalls()); diff != "" {
			t.Errorf("backend calls (-want +got):\n%s", diff)
		}
	})
	t.Run("missing endpoint", func(t *testing.T) {
		b := &fakeBackend{}
		c, _ := serve(t, b)
		if err := c.Logs(context.Background(), "missing", false, io.Discard); !errors.Is(err, control.ErrNotFound) {
			t.Errorf("Logs(missing) = %v, want ErrNotFound", err)
		}
		if diff := diffCalls([]call{{Method: "Endpoint", Args: []any{"missing"}}}, b.takeCalls()); diff != "" {
			t.Errorf("backend calls (-want +got):\n%s", diff)
		}
	})
	t.Run("follow", func(t *testing.T) {
		more, done := make(chan string), make(chan struct{})
		b := &fakeBackend{logs: func(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error {
			defer close(done)
			for {
				select {
				case line := <-more:
					if _, err := io.WriteString(w, line); err != nil {
						return err
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}}
		c, _ := serve(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pr, pw := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			errc <- c.Logs(ctx, "web", true, pw)
			pw.Close()
		}()
		buf := make([]byte, 64)
		for _, line := range []string{"first\n", "second\n"} {
			more <- line
			n, err := io.ReadAtLeast(pr, buf, len(line))
			if err != nil || string(buf[:n]) != line {
				t.Fatalf("followed %q, %v, want %q as soon as it is written", buf[:n], err, line)
			}
		}
		cancel()
		go io.Copy(io.Discard, pr)
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Logs() after cancel = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Logs did not return within 5 s of its context's cancel")
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend's Logs did not end within 5 s of the client's cancel")
		}
		if diff := diffCalls([]call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Logs", Args: []any{"web", supervisor.LogOptions{Follow: true}}}}, b.takeCalls()); diff != "" {
			t.Errorf("backend calls (-want +got):\n%s", diff)
		}
	})
}

// TestLogsOptions: logs' query parameters reach the backend as
// LogOptions: follow, tail (a number of lines, or all), timestamps; a bad
// tail is a 400 and Logs is not called.
func TestLogsOptions(t *testing.T) {
	b := &fakeBackend{}
	c, sock := serve(t, b)
	hc := rawClient(sock)

	t.Run("client", func(t *testing.T) {
		for _, o := range []control.LogOptions{
			{},
			{Tail: 5},
			{Timestamps: true},
			{Tail: 1, Timestamps: true},
		} {
			var out bytes.Buffer
			if err := c.LogsWith(context.Background(), "web", o, &out); err != nil || out.String() != "line 1\nline 2\n" {
				t.Errorf("LogsWith(%+v) = %v, wrote %q", o, err, out.String())
			}
			want := []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Logs", Args: []any{"web", supervisor.LogOptions{Tail: o.Tail, Timestamps: o.Timestamps}}}}
			if diff := diffCalls(want, b.takeCalls()); diff != "" {
				t.Errorf("LogsWith(%+v) backend calls (-want +got):\n%s", o, diff)
			}
		}
	})

	tests := []struct {
		query   string
		want    supervisor.LogOptions
		wantErr string // in the 400's message
	}{
		{query: "", want: supervisor.LogOptions{}},
		{query: "tail=10", want: supervisor.LogOptions{Tail: 10}},
		{query: "tail=all", want: supervisor.LogOptions{}},
		{query: "tail=0", want: supervisor.LogOptions{}},
		{query: "timestamps=1", want: supervisor.LogOptions{Timestamps: true}},
		{query: "timestamps=true&tail=3", want: supervisor.LogOptions{Tail: 3, Timestamps: true}},
		{query: "timestamps=false", want: supervisor.LogOptions{}},
		{query: "follow=1&tail=2&timestamps=1", want: supervisor.LogOptions{Follow: true, Tail: 2, Timestamps: true}},
		{query: "tail=ten", wantErr: `tail "ten"`},
		{query: "tail=-1", wantErr: `tail "-1"`},
		{query: "tail=1.5", wantErr: `tail "1.5"`},
		{query: "tail=ALL", wantErr: `tail "ALL"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			path := "/v1/endpoints/web/logs"
			if tt.query != "" {
				path += "?" + tt.query
			}
			if tt.wantErr != "" {
				status, msg, err := errorReply(t, hc, "GET", path, "")
				if status != http.StatusBadRequest || err != nil || !strings.Contains(msg, tt.wantErr) {
					t.Errorf("GET %s = %d %q (%v), want 400 naming %s", path, status, msg, err, tt.wantErr)
				}
				if diff := diffCalls([]call{{Method: "Endpoint", Args: []any{"web"}}}, b.takeCalls()); diff != "" {
					t.Errorf("GET %s backend calls (-want +got):\n%s", path, diff)
				}
				return
			}
			resp, err := hc.Get("http://vswitchd" + path)
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "line 1\nline 2\n" {
				t.Errorf("GET %s = %d %q, want 200 with the log", path, resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("GET %s Content-Type = %q, want text/plain", path, ct)
			}
			want := []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Logs", Args: []any{"web", tt.want}}}
			if diff := diffCalls(want, b.takeCalls()); diff != "" {
				t.Errorf("GET %s backend calls (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestExecDetached: exec with detach is a plain POST (no upgrade) answered
// 204 once the backend has started the command, which gets no stdio.
func TestExecDetached(t *testing.T) {
	var gotStdio *supervisor.IO
	ran := false
	b := &fakeBackend{exec: func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
		ran, gotStdio = true, stdio
		return 0, nil
	}}
	_, sock := serve(t, b)
	body := `{"cmd":["sh","-c","sleep 1"],"env":["A=1"],"tty":true,"stdin":true,"workdir":"/srv","user":"1000:1000","detach":true}`
	resp, err := rawClient(sock).Post("http://vswitchd/v1/endpoints/web/exec", "application/json", strings.NewReader(body))
	must(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(answer) != 0 {
		t.Errorf("detached exec = %d %q, want 204 without a body", resp.StatusCode, answer)
	}
	if !ran || gotStdio != nil {
		t.Errorf("detached exec: backend ran %v with stdio %v, want it run without stdio", ran, gotStdio)
	}
	spec := daemon.ExecSpec{Cmd: []string{"sh", "-c", "sleep 1"}, Env: []string{"A=1"}, TTY: true, Dir: "/srv", User: "1000:1000", Detach: true}
	want := []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Exec", Args: []any{"web", spec}}}
	if diff := diffCalls(want, b.takeCalls()); diff != "" {
		t.Errorf("backend calls (-want +got):\n%s", diff)
	}

	// The client's ExecDetached, and its refusals.
	c := control.NewClient(sock)
	if err := c.ExecDetached(context.Background(), "web", control.Exec{Cmd: []string{"true"}}); err != nil {
		t.Errorf("ExecDetached() = %v", err)
	}
	b.takeCalls()
	if err := c.ExecDetached(context.Background(), "missing", control.Exec{Cmd: []string{"true"}}); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("ExecDetached(missing endpoint) = %v, want ErrNotFound", err)
	}
	if err := c.ExecDetached(context.Background(), "web", control.Exec{}); !errors.Is(err, control.ErrInvalid) {
		t.Errorf("ExecDetached(no command) = %v, want ErrInvalid", err)
	}
	for _, call := range b.takeCalls() {
		if call.Method == "Exec" {
			t.Errorf("a refused detached exec reached the backend: %v", call)
		}
	}
	waitStreamsGone(t)
}
