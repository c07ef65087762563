package control

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the API of a Backend.
type Server struct {
	b    Backend
	log  *slog.Logger
	mux  *http.ServeMux
	http *http.Server
}

// NewServer returns a server for b. logger may be nil.
func NewServer(b Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, log: logger, mux: http.NewServeMux()}
	s.routes()
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Handler returns the HTTP handler (for tests).
func (s *Server) Handler() http.Handler { return s.mux }

// Listen creates the Unix socket at path, readable and writable only by
// its owner (umask 077 semantics), replacing a stale socket file. It
// refuses a path where a server answers or that is not a socket.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another vswitchd is serving it", path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("listen on %s: exists and is not a socket", path) // never remove a user's file
	}
	os.Remove(path)
	old := syscall.Umask(0o077)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// Serve serves on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for ordinary requests up to ctx;
// upgraded stdio streams are the backend's to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) routes() {
	h := s.mux.HandleFunc
	p := "/" + APIVersion
	h("GET "+p+"/version", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Version(), nil) })

	h("GET "+p+"/networks", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Networks(), nil) })
	h("POST "+p+"/networks", func(w http.ResponseWriter, r *http.Request) {
		var req NetworkCreate
		if decode(w, r, &req) {
			n, err := s.b.CreateNetwork(req)
			replyStatus(w, http.StatusCreated, n, err)
		}
	})
	h("GET "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.b.Network(r.PathValue("name"))
		reply(w, n, err)
	})
	h("DELETE "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemoveNetwork(r.PathValue("name"), boolParam(r, "force")))
	})
	h("POST "+p+"/networks/{name}/connect", func(w http.ResponseWriter, r *http.Request) {
		var req Connect
		if decode(w, r, &req) {
			replyEmpty(w, s.b.Connect(r.PathValue("name"), req))
		}
	})
	h("POST "+p+"/networks/{name}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req Disconnect
		if decode(w, r, &req) {
			replyEmpty(w, s.b.Disconnect(r.PathValue("name"), req))
		}
	})

	h("GET "+p+"/endpoints", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Endpoints(), nil) })
	h("POST "+p+"/endpoints", s.run)
	h("GET "+p+"/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		e, err := s.b.Endpoint(r.PathValue("name"))
		reply(w, e, err)
	})
	h("DELETE "+p+"/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemoveEndpoint(r.PathValue("name"), boolParam(r, "force")))
	})
	h("POST "+p+"/endpoints/{name}/exec", s.exec)
	h("GET "+p+"/endpoints/{name}/logs", s.logs)
	h("POST "+p+"/endpoints/{name}/publish", func(w http.ResponseWriter, r *http.Request) {
		var req PublishRequest
		if decode(w, r, &req) {
			replyEmpty(w, s.b.Publish(r.PathValue("name"), req.Spec))
		}
	})
	h("POST "+p+"/endpoints/{name}/unpublish", func(w http.ResponseWriter, r *http.Request) {
		var req PublishRequest
		if decode(w, r, &req) {
			replyEmpty(w, s.b.Unpublish(r.PathValue("name"), req.Spec))
		}
	})

	h("GET "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.FDB(), nil) })
	h("DELETE "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]int{"flushed": s.b.FlushFDB()}, nil)
	})
	h("GET "+p+"/ports", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Ports(), nil) })
	h("POST "+p+"/ports", func(w http.ResponseWriter, r *http.Request) {
		var req PortAdd
		if decode(w, r, &req) {
			pt, err := s.b.AddPort(req)
			replyStatus(w, http.StatusCreated, pt, err)
		}
	})
	h("DELETE "+p+"/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemovePort(r.PathValue("name")))
	})
	h("GET "+p+"/stats", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Stats(), nil) })

	h("GET "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.b.Uplink()
		if !ok {
			replyErr(w, Errorf(ErrNotFound, "no uplink is set"))
			return
		}
		reply(w, u, nil)
	})
	h("PUT "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) {
		var req Uplink
		if decode(w, r, &req) {
			u, err := s.b.SetUplink(req)
			reply(w, u, err)
		}
	})
	h("DELETE "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) { replyEmpty(w, s.b.RemoveUplink()) })
	h("GET "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Conntrack(), nil) })
	h("DELETE "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]int{"flushed": s.b.FlushConntrack()}, nil)
	})
	h("GET "+p+"/nat", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.NAT(), nil) })

	// Go profiling, for looking into the datapath (the socket is root-only).
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)

	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{b: s.b})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// run creates an endpoint; with ?attach=1 the connection becomes the
// command's stdio stream.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	var req Run
	if !decode(w, r, &req) {
		return
	}
	if !boolParam(r, "attach") {
		e, _, err := s.b.Run(r.Context(), req, nil)
		replyStatus(w, http.StatusCreated, e, err)
		return
	}
	s.attach(w, r, req.TTY, req.Stdin, func(ctx context.Context, stdio *IO) (int, error) {
		_, code, err := s.b.Run(ctx, req, stdio)
		return code, err
	})
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	var req Exec
	if !decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if _, err := s.b.Endpoint(name); err != nil {
		replyErr(w, err)
		return
	}
	if len(req.Cmd) == 0 {
		replyErr(w, Errorf(ErrInvalid, "exec needs a command"))
		return
	}
	s.attach(w, r, req.TTY, req.Stdin, func(ctx context.Context, stdio *IO) (int, error) {
		return s.b.Exec(ctx, name, req, stdio)
	})
}

// attach upgrades the connection to a stdio stream and runs f on it.
func (s *Server) attach(w http.ResponseWriter, r *http.Request, tty, stdin bool, f func(context.Context, *IO) (int, error)) {
	if r.Header.Get("Upgrade") != upgradeProto {
		replyErr(w, Errorf(ErrInvalid, "attach needs Upgrade: %s", upgradeProto))
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		replyErr(w, errors.New("connection cannot be upgraded"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", upgradeProto)
	if brw.Flush() != nil {
		return
	}
	// The stream outlives the request's context, which ends at Hijack:
	// this one ends when the client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := newFrameWriter(conn)
	resize := make(chan WinSize, 4)
	stdio := &IO{Stdout: fw.stream(frameStdout), Resize: resize}
	if !tty {
		stdio.Stderr = fw.stream(frameStderr)
	}
	var stdinW *io.PipeWriter
	if stdin {
		var pr *io.PipeReader
		pr, stdinW = io.Pipe()
		stdio.Stdin = pr
		// Once f returns, stdin nobody reads must not block the
		// goroutine below in stdinW.Write forever.
		defer pr.Close()
	}
	go func() {
		defer cancel()
		defer close(resize) // its only sender; backends may range over it
		defer func() {
			if stdinW != nil {
				stdinW.Close()
			}
		}()
		buf := make([]byte, 32<<10)
		for {
			typ, p, err := readFrame(brw.Reader, buf)
			if err != nil {
				return
			}
			switch typ {
			case frameStdin:
				if stdinW != nil {
					stdinW.Write(p)
				}
			case frameStdinEOF:
				if stdinW != nil {
					stdinW.Close()
				}
			case frameResize:
				if len(p) == 4 {
					select {
					case resize <- WinSize{Rows: binary.BigEndian.Uint16(p), Cols: binary.BigEndian.Uint16(p[2:])}:
					default:
					}
				}
			}
		}
	}()
	code, err := f(ctx, stdio)
	if err != nil {
		fw.frame(frameError, []byte(err.Error()))
		return
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	fw.frame(frameExit, b[:])
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.b.Endpoint(name); err != nil {
		replyErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.b.Logs(r.Context(), name, boolParam(r, "follow"), fw); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("logs", "endpoint", name, "err", err)
	}
}

type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// decode reads a JSON body into v, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		replyErr(w, Errorf(ErrInvalid, "bad request body: %v", err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) { replyStatus(w, http.StatusOK, v, err) }

func replyStatus(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		replyErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func replyEmpty(w http.ResponseWriter, err error) {
	if err != nil {
		replyErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiError is the JSON body of an error response.
type apiError struct {
	Message string `json:"message"`
}

func replyErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Message: err.Error()})
}
