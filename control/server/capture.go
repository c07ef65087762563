package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/state"
)

// Capturer is the capture part of a Backend.
type Capturer interface {
	StartCapture(daemon.CaptureSpec) (Capture, error)
}

// Capture is a running capture (*daemon.Capture).
type Capture interface {
	WritePcapng(ctx context.Context, w io.Writer, flush func()) (daemon.CaptureStats, error)
	WriteText(ctx context.Context, w io.Writer, flush func()) (daemon.CaptureStats, error)
	Close()
}

// DaemonBackend adapts *daemon.Daemon to Backend: its StartCapture
// returns the concrete *daemon.Capture.
type DaemonBackend struct{ *daemon.Daemon }

// StartCapture implements Capturer.
func (b DaemonBackend) StartCapture(spec daemon.CaptureSpec) (Capture, error) {
	c, err := b.Daemon.StartCapture(spec)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// captures are the running captures, by ID, so a client can stop one.
type captures struct {
	mu   sync.Mutex
	next int
	stop map[string]context.CancelFunc
}

func (cs *captures) add(cancel context.CancelFunc) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.next++
	id := strconv.Itoa(cs.next)
	if cs.stop == nil {
		cs.stop = map[string]context.CancelFunc{}
	}
	cs.stop[id] = cancel
	return id
}

func (cs *captures) remove(id string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.stop, id)
}

func (cs *captures) cancel(id string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	f, ok := cs.stop[id]
	if ok {
		f()
	}
	return ok
}

func (s *Server) captureRoutes(p string) {
	s.mux.HandleFunc("GET "+p+"/capture", s.capture)
	s.mux.HandleFunc("POST "+p+"/capture/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		if !s.caps.cancel(r.PathValue("id")) {
			replyErr(w, state.Errorf(state.ErrNotFound, "capture %q is not running", r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// captureSpec reads a capture's query parameters.
func captureSpec(r *http.Request) (daemon.CaptureSpec, string, error) {
	q := r.URL.Query()
	spec := daemon.CaptureSpec{Targets: q["target"], Filter: q.Get("filter")}
	for _, x := range []struct {
		name string
		to   *int
	}{{"count", &spec.Count}, {"snaplen", &spec.Snaplen}} {
		if v := q.Get(x.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return spec, "", state.Errorf(state.ErrInvalid, "%s %q: want a number, 0 or more", x.name, v)
			}
			*x.to = n
		}
	}
	if v := q.Get("duration"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return spec, "", state.Errorf(state.ErrInvalid, "duration %q: want a duration such as 10s", v)
		}
		spec.Duration = d
	}
	format := q.Get("format")
	switch format {
	case "":
		format = control.CapturePcapng
	case control.CapturePcapng, control.CaptureText:
	default:
		return spec, "", state.Errorf(state.ErrInvalid, "format %q: want %s or %s", format, control.CapturePcapng, control.CaptureText)
	}
	return spec, format, nil
}

// capture streams a capture, with its statistics in the trailers.
func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	spec, format, err := captureSpec(r)
	if err != nil {
		replyErr(w, err)
		return
	}
	c, err := s.b.StartCapture(spec)
	if err != nil {
		replyErr(w, err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	id := s.caps.add(cancel)
	defer s.caps.remove(id)

	h := w.Header()
	h.Set("Trailer", control.CaptureCapturedTrailer+", "+control.CaptureDroppedTrailer)
	h.Set(control.CaptureIDHeader, id)
	write := c.WritePcapng
	if format == control.CaptureText {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		write = c.WriteText
	} else {
		h.Set("Content-Type", "application/x-pcapng")
	}
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if f, ok := w.(http.Flusher); ok {
		flush = f.Flush
	}
	flush() // the client learns the ID at once
	st, err := write(ctx, w, flush)
	h.Set(control.CaptureCapturedTrailer, strconv.FormatUint(st.Captured, 10))
	h.Set(control.CaptureDroppedTrailer, strconv.FormatUint(st.Dropped, 10))
	if err != nil {
		s.log.Debug("capture ended", "id", id, "err", err)
	}
	s.log.Info("capture ended", "id", id, "captured", st.Captured, "dropped", st.Dropped)
}
