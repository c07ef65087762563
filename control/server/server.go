// Package server serves vswitchd's API (the types of package control) on
// a Unix socket, from a Backend: the daemon. It parses each request's JSON
// into the daemon's domain types (addresses, prefixes, VLAN IDs, publish
// specs), turns the answers back into the API's types, and maps the
// domain's error kinds to HTTP statuses. It also serves Prometheus
// metrics at /metrics and Go profiles at /debug/pprof/.
//
// The entry points are Listen and New.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
	"github.com/vswitchd/vswitchd/vlan"
)

// Backend is what the server serves; DaemonBackend wraps a
// *daemon.Daemon as one.
type Backend interface {
	CreateNetwork(state.NetworkSpec) (daemon.NetworkInfo, error)
	Networks() []daemon.NetworkInfo
	Network(name string) (daemon.NetworkInfo, error)
	RemoveNetwork(name string, force bool) error
	PruneNetworks() ([]string, error)
	Reset() (daemon.ResetReport, error)
	Connect(network string, spec state.ConnectSpec) error
	Disconnect(network, endpoint string) error

	Run(ctx context.Context, spec daemon.RunSpec, stdio *supervisor.IO) (daemon.EndpointInfo, int, error)
	Endpoints() []daemon.EndpointInfo
	Endpoint(name string) (daemon.EndpointInfo, error)
	RemoveEndpoint(name string, force bool) error
	StopEndpoint(name string, grace time.Duration) error
	StartEndpoint(name string) error
	RestartEndpoint(name string, grace time.Duration) error
	Kill(name string, sig syscall.Signal) error
	Top(name string) (titles []string, procs [][]string, err error)
	Exec(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error)
	Logs(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error
	Publish(name string, p state.Publish) (state.Publish, error)
	Unpublish(name string, p state.Publish) error

	FDB() []daemon.FDBEntry
	FlushFDB() int
	AddFDB(vid vlan.ID, mac header.MAC, port string) (daemon.FDBEntry, error)
	AddRemoteFDB(network string, mac header.MAC, vtep netip.Addr) (daemon.FDBEntry, error)
	AddPeer(network string, peer netip.Addr) error
	DeletePeer(network string, peer netip.Addr) error
	DeleteFDB(vid vlan.ID, mac header.MAC) error
	Ports() []daemon.PortInfo
	AddPort(state.PortSpec) (daemon.PortInfo, error)
	SetPort(name string, spec state.PortSpec) (daemon.PortInfo, error)
	RemovePort(name string) error
	Stats() daemon.Stats

	Uplink() (daemon.UplinkInfo, bool)
	SetUplink(state.UplinkSpec) (daemon.UplinkInfo, error)
	RemoveUplink() error
	ConntrackEach(daemon.ConnFilter, func(daemon.ConnInfo) error) error
	ConntrackCount() (n, max int)
	NATLimits() (perEndpoint, reserve int)
	FlushConntrack() int
	NAT() daemon.NATRules

	LogLevel() slog.Level
	SetLogLevel(slog.Level) error

	Capturer // capture.go
	Tracer   // trace.go
	Linker   // link.go
	Labber   // lab.go
}

var _ Backend = DaemonBackend{}

// Server serves the API of a Backend.
type Server struct {
	b    Backend
	log  *slog.Logger
	mux  *http.ServeMux
	http *http.Server
	caps captures // running captures, to stop by ID
	ui   uiState
}

// New returns a server for b. logger may be nil.
func New(b Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, log: logger, mux: http.NewServeMux()}
	s.routes()
	s.http = &http.Server{Handler: logRequests(jsonFallback(s.mux), logger), ReadHeaderTimeout: 10 * time.Second}
	return s
}

// jsonFallback serves mux, answering a path no route matches (404) or a
// method a path does not take (405, with Allow) with the API's JSON error
// shape instead of net/http's plain text.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w = &jsonErrorWriter{ResponseWriter: w, method: r.Method, path: r.URL.Path}
		}
		mux.ServeHTTP(w, r)
	})
}

// jsonErrorWriter turns the error net/http's mux writes for an unmatched
// request into {"message": …}.
type jsonErrorWriter struct {
	http.ResponseWriter
	method, path string
	wrote        bool
}

func (j *jsonErrorWriter) WriteHeader(status int) {
	if j.wrote {
		return
	}
	j.wrote = true
	msg := fmt.Sprintf("%s %s: %s", j.method, j.path, strings.ToLower(http.StatusText(status)))
	switch status {
	case http.StatusNotFound:
		msg = fmt.Sprintf("%s %s: no such API route (the API is /%s/…)", j.method, j.path, control.APIVersion)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("%s %s: method not allowed (allowed: %s)", j.method, j.path, j.Header().Get("Allow"))
	}
	h := j.Header()
	h.Del("X-Content-Type-Options")
	h.Set("Content-Type", "application/json")
	j.ResponseWriter.WriteHeader(status)
	json.NewEncoder(j.ResponseWriter).Encode(control.ErrorBody{Message: msg})
}

// Write drops the mux's plain-text body: WriteHeader wrote the JSON one.
func (j *jsonErrorWriter) Write(b []byte) (int, error) {
	if !j.wrote {
		j.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// Handler returns the HTTP handler (for tests).
func (s *Server) Handler() http.Handler { return s.http.Handler }

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
	p := "/" + control.APIVersion
	h("GET "+p+"/version", func(w http.ResponseWriter, r *http.Request) {
		reply(w, control.Version{API: control.APIVersion, Version: version.Version, Commit: version.Commit, Go: runtime.Version()}, nil)
	})

	h("GET "+p+"/networks", func(w http.ResponseWriter, r *http.Request) { reply(w, networks(s.b.Networks()), nil) })
	h("POST "+p+"/networks", func(w http.ResponseWriter, r *http.Request) {
		spec, ok := decodeAs(w, r, false, networkSpec)
		if !ok {
			return
		}
		n, err := s.b.CreateNetwork(spec)
		replyStatus(w, http.StatusCreated, network(n), err)
	})
	h("POST "+p+"/networks/prune", func(w http.ResponseWriter, r *http.Request) {
		removed, err := s.b.PruneNetworks()
		reply(w, control.NetworkPrune{Removed: strs(removed)}, err)
	})
	h("GET "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.b.Network(r.PathValue("name"))
		reply(w, network(n), err)
	})
	h("DELETE "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemoveNetwork(r.PathValue("name"), boolParam(r, "force")))
	})
	h("POST "+p+"/networks/{name}/connect", func(w http.ResponseWriter, r *http.Request) {
		spec, ok := decodeAs(w, r, false, connectSpec)
		if !ok {
			return
		}
		replyEmpty(w, s.b.Connect(r.PathValue("name"), spec))
	})
	h("POST "+p+"/networks/{name}/peers", func(w http.ResponseWriter, r *http.Request) {
		var req control.Peer
		if !decode(w, r, &req) {
			return
		}
		a, err := peerAddr(req.Peer)
		if err != nil {
			replyErr(w, err)
			return
		}
		replyEmpty(w, s.b.AddPeer(r.PathValue("name"), a))
	})
	h("DELETE "+p+"/networks/{name}/peers/{peer}", func(w http.ResponseWriter, r *http.Request) {
		a, err := peerAddr(r.PathValue("peer"))
		if err != nil {
			replyErr(w, err)
			return
		}
		replyEmpty(w, s.b.DeletePeer(r.PathValue("name"), a))
	})
	h("POST "+p+"/networks/{name}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req control.Disconnect
		if decode(w, r, &req) {
			replyEmpty(w, s.b.Disconnect(r.PathValue("name"), req.Endpoint))
		}
	})

	h("GET "+p+"/endpoints", func(w http.ResponseWriter, r *http.Request) { reply(w, endpoints(s.b.Endpoints()), nil) })
	h("POST "+p+"/endpoints", s.run)
	h("GET "+p+"/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		e, err := s.b.Endpoint(r.PathValue("name"))
		reply(w, endpoint(e), err)
	})
	h("DELETE "+p+"/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemoveEndpoint(r.PathValue("name"), boolParam(r, "force")))
	})
	h("POST "+p+"/endpoints/{name}/stop", func(w http.ResponseWriter, r *http.Request) {
		if grace, ok := s.stopBody(w, r); ok {
			replyEmpty(w, s.b.StopEndpoint(r.PathValue("name"), grace))
		}
	})
	h("POST "+p+"/endpoints/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if grace, ok := s.stopBody(w, r); ok {
			replyEmpty(w, s.b.RestartEndpoint(r.PathValue("name"), grace))
		}
	})
	h("POST "+p+"/endpoints/{name}/start", func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if decodeOptional(w, r, &req) {
			replyEmpty(w, s.b.StartEndpoint(r.PathValue("name")))
		}
	})
	h("POST "+p+"/endpoints/{name}/kill", func(w http.ResponseWriter, r *http.Request) {
		var req control.Kill
		if !decodeOptional(w, r, &req) {
			return
		}
		sig, err := daemon.ParseSignal(req.Signal)
		if err != nil {
			replyErr(w, err)
			return
		}
		replyEmpty(w, s.b.Kill(r.PathValue("name"), sig))
	})
	h("GET "+p+"/endpoints/{name}/top", func(w http.ResponseWriter, r *http.Request) {
		titles, procs, err := s.b.Top(r.PathValue("name"))
		if procs == nil {
			procs = [][]string{}
		}
		reply(w, control.Top{Titles: strs(titles), Processes: procs}, err)
	})
	h("POST "+p+"/endpoints/{name}/exec", s.exec)
	h("GET "+p+"/endpoints/{name}/logs", s.logs)
	h("POST "+p+"/endpoints/{name}/publish", func(w http.ResponseWriter, r *http.Request) {
		ps, ok := decodeAs(w, r, false, publishRequest)
		if !ok {
			return
		}
		bound, err := s.b.Publish(r.PathValue("name"), ps)
		replyStatus(w, http.StatusCreated, portMap(bound), err)
	})
	h("POST "+p+"/endpoints/{name}/unpublish", func(w http.ResponseWriter, r *http.Request) {
		ps, ok := decodeAs(w, r, false, publishRequest)
		if !ok {
			return
		}
		replyEmpty(w, s.b.Unpublish(r.PathValue("name"), ps))
	})

	h("GET "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) { reply(w, fdb(s.b.FDB()), nil) })
	h("DELETE "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]int{"flushed": s.b.FlushFDB()}, nil)
	})
	h("POST "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) {
		var req control.FDBAdd
		if !decode(w, r, &req) {
			return
		}
		vid, mac, err := fdbAdd(req)
		if err == nil && req.VTEP != "" {
			var vtep netip.Addr
			if vtep, err = netip.ParseAddr(req.VTEP); err != nil {
				replyErr(w, state.Errorf(state.ErrInvalid, "vtep %q: not an IP address", req.VTEP))
				return
			}
			e, err := s.b.AddRemoteFDB(req.Network, mac, vtep)
			replyStatus(w, http.StatusCreated, fdb([]daemon.FDBEntry{e})[0], err)
			return
		}
		if err == nil && req.Network != "" {
			var n daemon.NetworkInfo
			n, err = s.b.Network(req.Network)
			vid = n.VLAN
		}
		if err != nil {
			replyErr(w, err)
			return
		}
		e, err := s.b.AddFDB(vid, mac, req.Port)
		replyStatus(w, http.StatusCreated, fdb([]daemon.FDBEntry{e})[0], err)
	})
	h("DELETE "+p+"/fdb/{vlan}/{mac}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("vlan"))
		if err != nil {
			replyErr(w, state.Errorf(state.ErrInvalid, "vlan %q: not a number", r.PathValue("vlan")))
			return
		}
		vid, err := vlanID(n, "vlan")
		if err == nil && vid == 0 {
			err = state.Errorf(state.ErrInvalid, "vlan 0: want 1-%d", vlan.MaxID)
		}
		var mac header.MAC
		if err == nil {
			mac, err = fdbMAC(r.PathValue("mac"))
		}
		if err != nil {
			replyErr(w, err)
			return
		}
		replyEmpty(w, s.b.DeleteFDB(vid, mac))
	})
	h("GET "+p+"/ports", func(w http.ResponseWriter, r *http.Request) { reply(w, ports(s.b.Ports()), nil) })
	h("POST "+p+"/ports", func(w http.ResponseWriter, r *http.Request) {
		spec, ok := decodeAs(w, r, false, portSpec)
		if !ok {
			return
		}
		pt, err := s.b.AddPort(spec)
		replyStatus(w, http.StatusCreated, portOf(pt), err)
	})
	h("PATCH "+p+"/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		spec, ok := decodeAs(w, r, false, portSetSpec)
		if !ok {
			return
		}
		pt, err := s.b.SetPort(r.PathValue("name"), spec)
		reply(w, portOf(pt), err)
	})
	h("DELETE "+p+"/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, s.b.RemovePort(r.PathValue("name")))
	})
	h("GET "+p+"/stats", func(w http.ResponseWriter, r *http.Request) { reply(w, stats(s.b.Stats()), nil) })

	h("GET "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.b.Uplink()
		if !ok {
			replyErr(w, state.Errorf(state.ErrNotFound, "no uplink is set"))
			return
		}
		reply(w, uplink(u), nil)
	})
	h("PUT "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) {
		spec, ok := decodeAs(w, r, false, uplinkSpec)
		if !ok {
			return
		}
		u, err := s.b.SetUplink(spec)
		reply(w, uplink(u), err)
	})
	h("DELETE "+p+"/uplink", func(w http.ResponseWriter, r *http.Request) { replyEmpty(w, s.b.RemoveUplink()) })
	h("GET "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) {
		f, err := connFilter(r.URL.Query())
		if err != nil {
			replyErr(w, err)
			return
		}
		l := newListWriter(w)
		var buf []byte
		err = s.b.ConntrackEach(f, func(c daemon.ConnInfo) error {
			if err := r.Context().Err(); err != nil {
				return err
			}
			buf = appendConn(buf[:0], &c)
			return l.addRaw(buf)
		})
		l.end(err)
	})
	h("GET "+p+"/conntrack/count", func(w http.ResponseWriter, r *http.Request) {
		n, max := s.b.ConntrackCount()
		per, _ := s.b.NATLimits()
		reply(w, control.ConntrackCount{Count: n, Max: max, MaxPerEndpoint: per}, nil)
	})
	h("DELETE "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]int{"flushed": s.b.FlushConntrack()}, nil)
	})
	h("GET "+p+"/nat", func(w http.ResponseWriter, r *http.Request) { reply(w, natRules(s.b.NAT()), nil) })

	h("POST "+p+"/system/reset", func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !decodeOptional(w, r, &req) {
			return
		}
		rep, err := s.b.Reset()
		reply(w, control.SystemReset{Endpoints: strs(rep.Endpoints), Networks: strs(rep.Networks), Ports: strs(rep.Ports),
			Uplink: rep.Uplink, StaticMACs: rep.StaticMACs, Kept: strs(rep.Kept)}, err)
	})

	h("GET "+p+"/log-level", func(w http.ResponseWriter, r *http.Request) {
		reply(w, control.LogLevel{Level: levelName(s.b.LogLevel())}, nil)
	})
	h("PUT "+p+"/log-level", func(w http.ResponseWriter, r *http.Request) {
		var req control.LogLevel
		if !decode(w, r, &req) {
			return
		}
		l, ok := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[strings.ToLower(req.Level)]
		if !ok {
			replyErr(w, state.Errorf(state.ErrInvalid, "log level %q: want debug, info, warn or error", req.Level))
			return
		}
		err := s.b.SetLogLevel(l)
		reply(w, control.LogLevel{Level: levelName(s.b.LogLevel())}, err)
	})

	s.captureRoutes(p)
	s.traceRoutes(p)
	s.linkRoutes(p)
	s.labRoutes(p)
	s.uiRoutes(p)

	// Go profiling, for looking into the datapath (the socket is root-only).
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)

	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{b: s.b}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// run creates an endpoint; with ?attach=1 the connection becomes the
// command's stdio stream.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	var req control.Run
	if !decode(w, r, &req) {
		return
	}
	spec, err := runSpec(req)
	if err != nil {
		replyErr(w, err)
		return
	}
	if !boolParam(r, "attach") {
		e, _, err := s.b.Run(r.Context(), spec, nil)
		replyStatus(w, http.StatusCreated, endpoint(e), err)
		return
	}
	control.ServeStdio(w, r, req.TTY, req.Stdin, replyErr, func(ctx context.Context, stdio *control.IO) (int, error) {
		_, code, err := s.b.Run(ctx, spec, supervisorIO(stdio))
		return code, err
	})
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	var req control.Exec
	if !decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if _, err := s.b.Endpoint(name); err != nil {
		replyErr(w, err)
		return
	}
	if len(req.Cmd) == 0 {
		replyErr(w, state.Errorf(state.ErrInvalid, "exec needs a command"))
		return
	}
	if err := noNUL(req.Cmd, req.Env, []string{req.WorkDir, req.User}); err != nil {
		replyErr(w, err)
		return
	}
	spec := daemon.ExecSpec{Cmd: req.Cmd, Env: req.Env, TTY: req.TTY, Dir: req.WorkDir, User: req.User, Detach: req.Detach}
	if req.Detach {
		_, err := s.b.Exec(r.Context(), name, spec, nil)
		replyEmpty(w, err)
		return
	}
	control.ServeStdio(w, r, req.TTY, req.Stdin, replyErr, func(ctx context.Context, stdio *control.IO) (int, error) {
		return s.b.Exec(ctx, name, spec, supervisorIO(stdio))
	})
}

// supervisorIO is the stream's stdio as the supervisor takes it.
func supervisorIO(stdio *control.IO) *supervisor.IO {
	resize := make(chan supervisor.WinSize, 4)
	go func() {
		defer close(resize)
		for ws := range stdio.Resize {
			select {
			case resize <- supervisor.WinSize{Rows: ws.Rows, Cols: ws.Cols}:
			default:
			}
		}
	}()
	return &supervisor.IO{Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr, Resize: resize}
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.b.Endpoint(name); err != nil {
		replyErr(w, err)
		return
	}
	o := supervisor.LogOptions{Follow: boolParam(r, "follow"), Timestamps: boolParam(r, "timestamps")}
	if t := r.URL.Query().Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			replyErr(w, state.Errorf(state.ErrInvalid, "tail %q: want a number of lines or all", t))
			return
		}
		o.Tail = n
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.b.Logs(r.Context(), name, o, fw); err != nil && !errors.Is(err, context.Canceled) {
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

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// errTooLarge marks a request body over maxBody (413).
var errTooLarge = errors.New("request body too large")

// decodeAs decodes the body as a Req (it may be empty if optional) and
// converts it with conv to what the daemon takes; on an error it answers
// it and returns false.
func decodeAs[Req, Spec any](w http.ResponseWriter, r *http.Request, optional bool, conv func(Req) (Spec, error)) (Spec, bool) {
	var req Req
	var spec Spec
	if !decodeBody(w, r, &req, optional) {
		return spec, false
	}
	spec, err := conv(req)
	if err != nil {
		replyErr(w, err)
		return spec, false
	}
	return spec, true
}

// decode reads a JSON body into v: one JSON value, no unknown fields, no
// more than maxBody bytes and nothing after it but white space. It answers
// 400 (413 for a body too large) itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBody(w, r, v, false)
}

// decodeOptional is decode for a body that may be empty (all defaults),
// of known length or chunked.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBody(w, r, v, true)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One value only: trailing garbage is a malformed request, not
		// something to ignore.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("unexpected data after the JSON value")
			if terr != nil {
				err = fmt.Errorf("after the JSON value: %w", terr)
			}
		}
	} else if optional && errors.Is(err, io.EOF) {
		err = nil
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		replyErr(w, fmt.Errorf("%w (limit %d bytes)", errTooLarge, tooLarge.Limit))
	default:
		replyErr(w, state.Errorf(state.ErrInvalid, "bad request body: %v", err))
	}
	return false
}

// stopBody reads a stop or restart body: the grace period.
func (s *Server) stopBody(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	var req control.Stop
	if !decodeOptional(w, r, &req) {
		return 0, false
	}
	switch t := req.Timeout; {
	case t == nil:
		return -1, true // the daemon's default
	case *t < 0:
		replyErr(w, state.Errorf(state.ErrInvalid, "timeout %d: want seconds, 0 or more", *t))
		return 0, false
	default:
		return time.Duration(*t) * time.Second, true
	}
}

// levelName is a log level as the API says it: debug, info, warn, error.
func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

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

// replyErr answers err with the status its kind says: the domain's
// (state.ErrInvalid…) or the API's own (control.ErrInvalid…).
func replyErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, state.ErrInvalid), errors.Is(err, control.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, state.ErrNotFound), errors.Is(err, control.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, state.ErrConflict), errors.Is(err, control.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(control.ErrorBody{Message: err.Error()})
}
