package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/state"
)

// fakeCapture writes "pcapng" or "text" and a frame count's worth of
// lines, then, unless it has a count, waits for the end of its context.
type fakeCapture struct {
	spec   daemon.CaptureSpec
	closed chan struct{}
}

func (c *fakeCapture) write(ctx context.Context, w io.Writer, flush func(), head string) (daemon.CaptureStats, error) {
	io.WriteString(w, head+"\n")
	flush()
	if c.spec.Count == 0 {
		<-ctx.Done()
	}
	for range c.spec.Count {
		io.WriteString(w, "frame\n")
	}
	return daemon.CaptureStats{Captured: uint64(c.spec.Count), Dropped: 7}, nil
}

func (c *fakeCapture) WritePcapng(ctx context.Context, w io.Writer, flush func()) (daemon.CaptureStats, error) {
	return c.write(ctx, w, flush, "pcapng")
}

func (c *fakeCapture) WriteText(ctx context.Context, w io.Writer, flush func()) (daemon.CaptureStats, error) {
	return c.write(ctx, w, flush, "text")
}

func (c *fakeCapture) Close() { close(c.closed) }

// StartCapture implements server.Backend; the target "nosuch" is not
// found.
func (b *fakeBackend) StartCapture(spec daemon.CaptureSpec) (server.Capture, error) {
	if err := b.record("StartCapture", spec); err != nil {
		return nil, err
	}
	for _, t := range spec.Targets {
		if t == "nosuch" {
			return nil, state.Errorf(state.ErrNotFound, "capture nosuch: no endpoint, port or network of that name")
		}
	}
	c := &fakeCapture{spec: spec, closed: make(chan struct{})}
	b.mu.Lock()
	b.lastCapture = c
	b.mu.Unlock()
	return c, nil
}

// TestCapture: the query becomes the daemon's spec, the stream is
// copied, the statistics arrive in the trailers, and the capture is
// closed at the end.
func TestCapture(t *testing.T) {
	for _, format := range []string{"", control.CaptureText} {
		t.Run("format "+format, func(t *testing.T) {
			b := &fakeBackend{}
			c, _ := serve(t, b)
			var out bytes.Buffer
			var id string
			st, err := c.Capture(context.Background(), control.CaptureOptions{
				Targets: []string{"web", "alpha"}, Filter: "tcp port 80", Count: 3, For: 5 * time.Second, Snaplen: 96, Format: format,
			}, &out, func(s string) { id = s })
			must(t, err)
			want := "pcapng\n"
			if format == control.CaptureText {
				want = "text\n"
			}
			want += strings.Repeat("frame\n", 3)
			if out.String() != want || id == "" {
				t.Errorf("stream %q (id %q), want %q", out.String(), id, want)
			}
			if st != (control.CaptureStats{Captured: 3, Dropped: 7, Complete: true}) {
				t.Errorf("stats %+v, want 3 captured, 7 dropped", st)
			}
			wantCalls := []call{{Method: "StartCapture", Args: []any{daemon.CaptureSpec{
				Targets: []string{"web", "alpha"}, Filter: "tcp port 80", Count: 3, Duration: 5 * time.Second, Snaplen: 96}}}}
			if diff := diffCalls(wantCalls, b.takeCalls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			select {
			case <-b.lastCapture.closed:
			case <-time.After(5 * time.Second):
				t.Error("capture not closed")
			}
		})
	}
}

// TestCaptureStop: a running capture ends when stopped by its ID, with
// its trailers; an unknown ID is a 404.
func TestCaptureStop(t *testing.T) {
	b := &fakeBackend{}
	c, _ := serve(t, b)
	ids := make(chan string, 1)
	done := make(chan error, 1)
	var st control.CaptureStats
	go func() {
		var err error
		st, err = c.Capture(context.Background(), control.CaptureOptions{Targets: []string{"web"}}, io.Discard, func(id string) { ids <- id })
		done <- err
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(5 * time.Second):
		t.Fatal("capture did not start")
	}
	must(t, c.StopCapture(context.Background(), id))
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("capture did not end after stop")
	}
	if !st.Complete || st.Dropped != 7 {
		t.Errorf("stats after stop %+v, want the trailers", st)
	}
	if err := c.StopCapture(context.Background(), id); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("stop of an ended capture = %v, want not found", err)
	}
}

// TestCaptureBadQueries: bad parameters are refused before the backend
// is asked; the backend's refusal keeps its status.
func TestCaptureBadQueries(t *testing.T) {
	b := &fakeBackend{}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	for _, tt := range []struct {
		query  string
		status int
		want   string
	}{
		{"target=web&count=x", http.StatusBadRequest, `count \"x\"`},
		{"target=web&count=-1", http.StatusBadRequest, `count \"-1\"`},
		{"target=web&snaplen=big", http.StatusBadRequest, `snaplen \"big\"`},
		{"target=web&duration=forever", http.StatusBadRequest, `duration \"forever\"`},
		{"target=web&format=pcap", http.StatusBadRequest, `format \"pcap\"`},
		{"target=nosuch", http.StatusNotFound, "nosuch"},
	} {
		resp, err := hc.Get("http://x/v1/capture?" + tt.query)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET /v1/capture?%s = %d %s, want %d mentioning %s", tt.query, resp.StatusCode, body, tt.status, tt.want)
		}
	}
	var started []call
	for _, c := range b.takeCalls() {
		if c.Method == "StartCapture" {
			started = append(started, c)
		}
	}
	if diff := cmp.Diff(1, len(started)); diff != "" {
		t.Errorf("StartCapture called %d times, want once (for the unknown target only)", len(started))
	}
}
