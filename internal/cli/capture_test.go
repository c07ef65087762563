package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
)

// captureDaemon is a fake vswitchd serving only capture: it records the
// query, streams "frame N" lines (count of them, or until stopped), and
// sends the statistics in the trailers.
type captureDaemon struct {
	socket string
	mu     sync.Mutex
	query  string
	stops  int
	stop   chan struct{}
}

func newCaptureDaemon(t *testing.T) *captureDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "vswcap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &captureDaemon{socket: filepath.Join(dir, "api.sock"), stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/capture", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.query = r.URL.RawQuery
		d.mu.Unlock()
		q := r.URL.Query()
		if q.Get("target") == "nosuch" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(control.ErrorBody{Message: "capture nosuch: no endpoint, port or network of that name"})
			return
		}
		w.Header().Set("Trailer", control.CaptureCapturedTrailer+", "+control.CaptureDroppedTrailer)
		w.Header().Set(control.CaptureIDHeader, "1")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		n := 0
		if q.Get("count") != "" {
			for range 2 {
				n++
				io.WriteString(w, "frame\n")
			}
		} else {
			select {
			case <-d.stop:
			case <-r.Context().Done():
			}
		}
		w.Header().Set(control.CaptureCapturedTrailer, strconv.Itoa(n))
		w.Header().Set(control.CaptureDroppedTrailer, "3")
	})
	mux.HandleFunc("POST /v1/capture/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.stops++
		d.mu.Unlock()
		close(d.stop)
		w.WriteHeader(http.StatusNoContent)
	})
	l, err := net.Listen("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return d
}

// TestCaptureCLI: flags become the query; lines go to stdout without -w
// and pcapng to the file with it; the statistics go to stderr; a refused
// capture leaves no file.
func TestCaptureCLI(t *testing.T) {
	d := newCaptureDaemon(t)
	r := runCLI(t, d.socket, "", "capture", "-c", "2", "--filter", "icmp", "--snaplen", "96", "--duration", "5s", "web", "front")
	if r.code != 0 || r.stdout != "frame\nframe\n" || r.stderr != "2 packets captured\n3 packets dropped by the switch\n" {
		t.Errorf("capture: %+v", r)
	}
	if want := "count=2&duration=5s&filter=icmp&format=text&snaplen=96&target=web&target=front"; d.query != want {
		t.Errorf("query %q, want %q", d.query, want)
	}
	file := filepath.Join(t.TempDir(), "out.pcapng")
	r = runCLI(t, d.socket, "", "capture", "-w", file, "-c", "2", "web")
	if b, _ := os.ReadFile(file); r.code != 0 || string(b) != "frame\nframe\n" || r.stdout != "" || !strings.Contains(d.query, "format=pcapng") {
		t.Errorf("capture -w: %+v, file %q, query %q", r, b, d.query)
	}
	r = runCLI(t, d.socket, "", "capture", "-w", "-", "-c", "2", "web")
	if r.code != 0 || r.stdout != "frame\nframe\n" {
		t.Errorf("capture -w -: %+v", r)
	}

	// Refused: one line, no file left behind.
	gone := filepath.Join(t.TempDir(), "never.pcapng")
	r = runCLI(t, d.socket, "", "capture", "-w", gone, "nosuch")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: capture nosuch") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("capture of an unknown target: %+v", r)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("a refused capture left its file")
	}
	// An unwritable path fails before any request.
	r = runCLI(t, d.socket, "", "capture", "-w", "/nonexistent/dir/x.pcapng", "web")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: -w /nonexistent/dir/x.pcapng: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("capture to an unwritable path: %+v", r)
	}
	for _, bad := range [][]string{{"capture"}, {"capture", "-c", "x", "web"}, {"capture", "--duration", "soon", "web"},
		{"capture", "--snaplen", "-1", "web"}, {"capture", "-c", "-2", "web"}, {"capture", "--duration", "-1s", "web"}} {
		if r := runCLI(t, d.socket, "", bad...); r.code != 1 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("vswitchctl %v: %+v, want a usage error", bad, r)
		}
	}
}

// TestCaptureInterrupt: Ctrl-C stops the capture through the API, so the
// stream still ends with its statistics.
func TestCaptureInterrupt(t *testing.T) {
	d := newCaptureDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: time.Now, isTerminal: func(io.Reader) bool { return false }}
	done := make(chan int, 1)
	go func() { done <- a.run(ctx, []string{"--socket", d.socket, "capture", "web"}) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 || stderr.String() != "0 packets captured\n3 packets dropped by the switch\n" {
			t.Errorf("interrupted capture: exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not end after the interrupt")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stops != 1 {
		t.Errorf("%d stop requests, want 1", d.stops)
	}
}
