package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// logRecord is what a test checks of a log record: the duration only for
// being one.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// recorder is a slog.Handler that sends the records at level or above to
// a channel.
type recorder struct {
	level   slog.Level
	records chan logRecord
}

func newRecorder(level slog.Level) *recorder {
	return &recorder{level: level, records: make(chan logRecord, 64)}
}

// Enabled implements slog.Handler.
func (h *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

// Handle implements slog.Handler.
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.String()
		if a.Key == "duration" && a.Value.Kind() == slog.KindDuration && a.Value.Duration() >= 0 {
			v = "a duration"
		}
		rec.Attrs[a.Key] = v
		return true
	})
	h.records <- rec
	return nil
}

// WithAttrs implements slog.Handler.
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { panic("not used") }

// WithGroup implements slog.Handler.
func (h *recorder) WithGroup(string) slog.Handler { panic("not used") }

// next returns the next record, failing the test if none comes within 5 s.
// A request is logged when its handler returns, which for a stream can be
// just after the client saw its end.
func (h *recorder) next(t *testing.T) logRecord {
	t.Helper()
	select {
	case r := <-h.records:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no log record")
		return logRecord{}
	}
}

// none fails the test if a record is waiting.
func (h *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-h.records:
		t.Errorf("unexpected log record %+v", r)
	default:
	}
}

// logBackend answers the few Backend methods these tests call; the others
// panic.
type logBackend struct {
	Backend
	release chan struct{} // Logs writes its second line once closed
}

// Networks implements Backend.
func (b *logBackend) Networks() []daemon.NetworkInfo { return nil }

// CreateNetwork implements Backend.
func (b *logBackend) CreateNetwork(spec state.NetworkSpec) (daemon.NetworkInfo, error) {
	return daemon.NetworkInfo{Network: state.Network{Name: spec.Name}}, nil
}

// RemoveNetwork implements Backend.
func (b *logBackend) RemoveNetwork(name string, force bool) error {
	if name == "busy" {
		return state.Errorf(state.ErrConflict, "network %q has endpoints", name)
	}
	return nil
}

// Endpoint implements Backend.
func (b *logBackend) Endpoint(name string) (daemon.EndpointInfo, error) {
	if name == "missing" {
		return daemon.EndpointInfo{}, state.Errorf(state.ErrNotFound, "no endpoint %q", name)
	}
	return daemon.EndpointInfo{Name: name}, nil
}

// Exec implements Backend: it echoes stdin and exits with 3.
func (b *logBackend) Exec(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
	_, err := io.Copy(stdio.Stdout, stdio.Stdin)
	return 3, err
}

// Logs implements Backend: one line, then another once release is closed.
func (b *logBackend) Logs(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error {
	io.WriteString(w, "line 1\n")
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err := io.WriteString(w, "line 2\n")
	return err
}

// serveLogged serves b's API through logRequests with a logger writing to
// h on a Unix socket until the test ends, and returns the socket's path.
func serveLogged(t *testing.T, b Backend, h slog.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vswitchd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: logRequests(New(b, nil).mux, slog.New(h))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	})
	return sock
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// TestLogRequests: requests that change state are logged at info, failed
// ones at warn with the error's message, others at debug; each with what
// it was about.
func TestLogRequests(t *testing.T) {
	const ok = "api request"
	const failed = "api request failed"
	tests := []struct {
		name         string
		method, path string
		body         string
		wantStatus   int
		want         logRecord
	}{
		{
			name: "get", method: "GET", path: "/v1/networks", wantStatus: 200,
			want: logRecord{slog.LevelDebug, ok, map[string]string{"method": "GET", "path": "/v1/networks", "status": "200"}},
		},
		{
			name: "create names what it made", method: "POST", path: "/v1/networks", body: `{"name":"alpha"}`, wantStatus: 201,
			want: logRecord{slog.LevelInfo, ok, map[string]string{"method": "POST", "path": "/v1/networks", "name": "alpha", "status": "201"}},
		},
		{
			name: "delete with a query", method: "DELETE", path: "/v1/networks/alpha?force=true", wantStatus: 204,
			want: logRecord{slog.LevelInfo, ok, map[string]string{"method": "DELETE", "path": "/v1/networks/alpha", "query": "force=true", "name": "alpha", "status": "204"}},
		},
		{
			name: "conflict", method: "DELETE", path: "/v1/networks/busy", wantStatus: 409,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "DELETE", "path": "/v1/networks/busy", "name": "busy", "status": "409", "err": `network "busy" has endpoints`}},
		},
		{
			name: "failed get", method: "GET", path: "/v1/endpoints/missing", wantStatus: 404,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "GET", "path": "/v1/endpoints/missing", "name": "missing", "status": "404", "err": `no endpoint "missing"`}},
		},
		{
			name: "exec refused before the upgrade", method: "POST", path: "/v1/endpoints/missing/exec", body: `{"cmd":["sh"]}`, wantStatus: 404,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "POST", "path": "/v1/endpoints/missing/exec", "name": "missing", "status": "404", "err": `no endpoint "missing"`}},
		},
		{
			name: "bad body", method: "POST", path: "/v1/networks", body: `{"name":`, wantStatus: 400,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "POST", "path": "/v1/networks", "status": "400", "err": "bad request body: unexpected EOF"}},
		},
		{
			name: "no such path", method: "GET", path: "/v1/nothing", wantStatus: 404,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "GET", "path": "/v1/nothing", "status": "404", "err": "404 page not found"}},
		},
		{
			name: "no such method", method: "PATCH", path: "/v1/networks", wantStatus: 405,
			want: logRecord{slog.LevelWarn, failed, map[string]string{"method": "PATCH", "path": "/v1/networks", "status": "405", "err": "Method Not Allowed"}},
		},
	}
	rec := newRecorder(slog.LevelDebug)
	c := unixClient(serveLogged(t, &logBackend{}, rec))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
			}
			tt.want.Attrs["duration"] = "a duration"
			if diff := cmp.Diff(tt.want, rec.next(t)); diff != "" {
				t.Errorf("%s %s logged (-want +got):\n%s", tt.method, tt.path, diff)
			}
			rec.none(t)
		})
	}
}

// TestLogRequestsInfo: at info, reads that succeed are not logged.
func TestLogRequestsInfo(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	c := unixClient(serveLogged(t, &logBackend{}, rec))
	for _, r := range []struct{ method, path string }{{"GET", "/v1/networks"}, {"DELETE", "/v1/networks/alpha"}} {
		req, err := http.NewRequest(r.method, "http://vswitchd"+r.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		resp.Body.Close()
	}
	if got := rec.next(t); got.Level != slog.LevelInfo || got.Attrs["method"] != "DELETE" {
		t.Errorf("first record at info = %+v, want the DELETE's (the GET unlogged)", got)
	}
	rec.none(t)
}

// TestLogRequestsUpgrade: exec's stdio stream works through the logging
// writer (Hijack passes through), and is logged when it ends.
func TestLogRequestsUpgrade(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	sock := serveLogged(t, &logBackend{}, rec)
	var stdout bytes.Buffer
	code, err := control.NewClient(sock).Exec(context.Background(), "web", control.Exec{Cmd: []string{"cat"}, Stdin: true},
		&control.IO{Stdin: strings.NewReader("hello through the log\n"), Stdout: &stdout})
	if err != nil || code != 3 {
		t.Fatalf("Exec() = %d, %v; want 3, nil", code, err)
	}
	if got, want := stdout.String(), "hello through the log\n"; got != want {
		t.Errorf("Exec() stdout = %q, want %q", got, want)
	}
	want := logRecord{slog.LevelInfo, "api request", map[string]string{
		"method": "POST", "path": "/v1/endpoints/web/exec", "name": "web", "status": "101", "duration": "a duration",
	}}
	if diff := cmp.Diff(want, rec.next(t)); diff != "" {
		t.Errorf("exec logged (-want +got):\n%s", diff)
	}
	rec.none(t)
}

// TestLogRequestsFlush: a followed log reaches the client line by line
// through the logging writer (Flush passes through, nothing is held
// back), and is logged when it ends.
func TestLogRequestsFlush(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	b := &logBackend{release: make(chan struct{})}
	c := unixClient(serveLogged(t, b, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a held-back line fails, not hangs
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://vswitchd/v1/endpoints/web/logs?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	// The backend writes line 2 only after this read: a writer that held
	// line 1 back would block here.
	if line, err := r.ReadString('\n'); err != nil || line != "line 1\n" {
		t.Fatalf("first line = %q, %v; want %q", line, err, "line 1\n")
	}
	rec.none(t)
	close(b.release)
	if rest, err := io.ReadAll(r); err != nil || string(rest) != "line 2\n" {
		t.Errorf("rest = %q, %v; want %q", rest, err, "line 2\n")
	}
	want := logRecord{slog.LevelDebug, "api request", map[string]string{
		"method": "GET", "path": "/v1/endpoints/web/logs", "query": "follow=true", "name": "web", "status": "200", "duration": "a duration",
	}}
	if diff := cmp.Diff(want, rec.next(t)); diff != "" {
		t.Errorf("logs logged (-want +got):\n%s", diff)
	}
}

// TestLogRequestsNil: a nil logger logs nothing, and serves.
func TestLogRequestsNil(t *testing.T) {
	h := logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, state.Errorf(state.ErrInvalid, "no"))
	}), nil)
	req, err := http.NewRequest("POST", "/v1/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &recordingWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != 400 || !strings.Contains(w.body.String(), `"no"`) {
		t.Errorf("through logRequests(h, nil): %d %q, want 400 and h's body", w.status, w.body.String())
	}
}

// recordingWriter is a minimal http.ResponseWriter: neither a Flusher nor
// a Hijacker.
type recordingWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) Header() http.Header         { return w.header }
func (w *recordingWriter) WriteHeader(code int)        { w.status = code }
func (w *recordingWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

// TestLogWriterUnsupported: over a writer that cannot flush or hijack,
// Flush does nothing and Hijack reports it.
func TestLogWriterUnsupported(t *testing.T) {
	lw := &logWriter{w: &recordingWriter{header: http.Header{}}}
	lw.Flush()
	if _, _, err := lw.Hijack(); err == nil {
		t.Errorf("Hijack() over a writer without Hijack = nil error")
	}
	if lw.status != http.StatusOK {
		t.Errorf("status after Flush = %d, want 200 (Flush sends the header)", lw.status)
	}
}

func TestJSONString(t *testing.T) {
	tests := []struct {
		body, key, want string
	}{
		{`{"name":"web","nics":[{"name":"eth0"}]}`, "name", "web"},
		{`{"nics":[{"name":"eth0"}],"id":{"name":"x"},"name":"web"}`, "name", "web"},
		{`{"name":"web","nics":[{"interf`, "name", "web"}, // cut at maxLoggedBody
		{`{"message":"no endpoint \"x\""}` + "\n", "message", `no endpoint "x"`},
		{`{"name":3}`, "name", ""},
		{`{"other":"x"}`, "name", ""},
		{`["name","web"]`, "name", ""},
		{"404 page not found\n", "message", ""},
		{"", "name", ""},
	}
	for _, tt := range tests {
		if got := jsonString([]byte(tt.body), tt.key); got != tt.want {
			t.Errorf("jsonString(%q, %q) = %q, want %q", tt.body, tt.key, got, tt.want)
		}
	}
}
