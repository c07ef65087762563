package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
)

// A fake vswitchd: an http.Handler answering the API's routes from canned
// control values, on a Unix socket, recording every request. Tests run
// the CLI against it and check the requests sent and what was printed.

// request is one request the fake received.
type request struct {
	Method string
	Path   string // with the query, e.g. /v1/conntrack?proto=tcp
	Body   string // compact JSON, "" without a body
}

func (r request) String() string { return strings.TrimSpace(r.Method + " " + r.Path + " " + r.Body) }

// fakeDaemon holds the answers; tests change them before running the CLI.
type fakeDaemon struct {
	socket string

	mu   sync.Mutex // guards reqs and the answers below, and is held while answering
	reqs []request

	version   control.Version
	networks  []control.Network
	endpoints []control.Endpoint
	ports     []control.Port
	fdb       []control.FDBEntry
	uplink    *control.Uplink // nil: 404 "no uplink is set"
	conns     []control.Conn
	count     control.ConntrackCount
	nat       control.NATRules
	stats     control.Stats
	top       control.Top
	logLevel  string
	logs      string
	pruned    []string

	// fail answers "METHOD /v1/path" (without the query) with an error.
	fail map[string]control.APIError
	// execExit is the exit code of exec and attached run; execErr, if set,
	// is sent as the stream's error frame instead.
	execExit int
	execErr  string
	execOut  string
}

// fixedNow is the tests' clock; created is an hour before it.
var (
	fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	created  = fixedNow.Add(-time.Hour)
)

func intp(v int) *int { return &v }

// newFakeDaemon starts a fake on a socket in a fresh directory, with every
// field of every answer filled (so that --json tests see each field).
func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "vswctl") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeDaemon{socket: filepath.Join(dir, "api.sock"), fail: map[string]control.APIError{}}
	f.fill()
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return f
}

func (f *fakeDaemon) fill() {
	started, finished := created.Add(time.Second), created.Add(time.Minute)
	f.version = control.Version{API: "v1", Version: "9.9.9", Commit: "0123456789ab", Go: "go1.26.8"}
	f.networks = []control.Network{{
		Name: "front", ID: 1, VLAN: 100, Subnet: "172.18.0.0/16", Gateway: "172.18.0.1", GatewayMAC: "02:76:73:00:00:01",
		Internal: true, ICC: true, Created: created,
		Endpoints: []control.NetworkEndpoint{{Endpoint: "web", Interface: "eth0", MAC: "02:42:ac:12:00:02", IP: "172.18.0.2", Aliases: []string{"www"}}},
		DNSNames:  []control.DNSName{{Name: "web", IP: "172.18.0.2"}},
	}, {
		Name: "back", ID: 2, VLAN: 101, Subnet: "172.19.0.0/16", Gateway: "172.19.0.1", GatewayMAC: "02:76:73:00:00:02",
		ICC: false, Created: created,
		Endpoints: []control.NetworkEndpoint{{Endpoint: "job", Interface: "eth0", MAC: "02:42:ac:13:00:02", IP: "172.19.0.2", Aliases: []string{}}},
		DNSNames:  []control.DNSName{},
	}}
	nic := func(iface, network, ip string) control.NIC {
		return control.NIC{
			Interface: iface, Network: network, MAC: "02:42:00:00:00:01", IP: ip, PrefixLen: 16, Gateway: "172.18.0.1",
			Aliases: []string{"alias"}, Port: "tap0", Mode: "trunk", VLANs: []int{10, 11}, Native: 5,
		}
	}
	f.endpoints = []control.Endpoint{{
		Name: "web", Netns: "vswitchd-web", Attached: true, Hostname: "webhost", State: control.StateRunning, Status: "Up 1 hour",
		ExitCode: intp(0), PID: 42, StartedAt: &started, FinishedAt: &finished, RestartPolicy: "always", RestartCount: 1,
		Cmd: []string{"httpd", "-f", "-p", "80"}, Env: []string{"A=1"}, DNS: []string{"9.9.9.9"}, ExtraHosts: []string{"db:10.0.0.1"},
		NICs:    []control.NIC{nic("eth0", "front", "172.18.0.2"), nic("eth1", "back", "172.19.0.3")},
		Ports:   []control.PortMap{{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Spec: "8080:80/tcp"}, {Proto: "udp", HostIP: "127.0.0.1", HostPort: 5000, HostPortEnd: 5002, ContainerPort: 6000, Spec: "127.0.0.1:5000-5002:6000-6002/udp"}},
		Created: created,
	}, {
		Name: "job", Netns: "vswitchd-job", State: control.StateExited, Status: "Exited (3) 5 minutes ago", ExitCode: intp(3),
		Cmd: []string{"sh", "-c", "exit 3"}, NICs: []control.NIC{nic("eth0", "back", "172.19.0.2")}, Created: created,
	}, {
		Name: "pause", Netns: "vswitchd-pause", State: control.StateCreated, Status: "Up 1 hour",
		NICs: []control.NIC{nic("eth0", "front", "172.18.0.4")}, Created: created,
	}, {
		Name: "flaky", Netns: "vswitchd-flaky", State: control.StateRestarting, Status: "Restarting (1) 2 seconds ago",
		Cmd: []string{"false"}, NICs: []control.NIC{nic("eth0", "front", "172.18.0.5")}, Created: created,
	}}
	f.ports = []control.Port{{
		ID: 1, Name: "web/eth0", Kind: "tap", Endpoint: "web", Mode: "access", VLAN: 100, VLANs: []int{}, RxFrames: 1, RxBytes: 2,
		TxFrames: 3, TxBytes: 4, Drops: map[string]uint64{"spoofed": 5},
	}, {
		ID: 2, Name: "veth-ovs", Kind: "system", Mode: "trunk", VLAN: 5, VLANs: []int{10, 20, 30, 31, 32}, AllVLANs: false, Routed: true,
		Drops: map[string]uint64{},
	}, {
		ID: 3, Name: "veth-all", Kind: "system", Mode: "trunk", VLANs: []int{}, AllVLANs: true, Drops: map[string]uint64{},
	}}
	f.fdb = []control.FDBEntry{{VLAN: 100, MAC: "02:42:ac:12:00:02", Port: "web/eth0", Static: false, Age: 12}}
	f.uplink = &control.Uplink{Interface: "veth-inet", Address: "203.0.113.2/24", Gateway: "203.0.113.1", MAC: "02:00:00:00:00:09"}
	f.conns = []control.Conn{{
		Proto: "tcp", State: "ESTABLISHED", Timeout: 431999, Zone: "front", ZoneID: 1, ReplyZone: "uplink", ReplyZoneID: 2,
		Orig:    control.Tuple{Src: "172.18.0.2", Dst: "1.1.1.1", SrcPort: 40000, DstPort: 443},
		Reply:   control.Tuple{Src: "1.1.1.1", Dst: "203.0.113.2", SrcPort: 443, DstPort: 40000},
		Assured: true, Packets: 10, Bytes: 1000,
		Windows: []control.TCPWindow{{End: 1101, MaxEnd: 74101, MaxWin: 64240, MaxAck: 9101, Scale: 7}, {End: 9101, MaxEnd: 65341, MaxWin: 65000, MaxAck: 1101, Scale: 7}},
	}}
	f.count = control.ConntrackCount{Count: 1, Max: 262144}
	f.nat = control.NATRules{
		Masquerade: []control.Masquerade{{Network: "front", Subnet: "172.18.0.0/16", To: "203.0.113.2", Reason: "x"}},
		Published:  []control.Published{{Endpoint: "web", Proto: "tcp", HostIP: "0.0.0.0", HostPort: "8080", Target: "172.18.0.2", ContPort: "80"}},
	}
	m := map[string]uint64{"a": 1}
	f.stats = control.Stats{Ports: f.ports, Drops: m, FDB: m, Router: m, NAT: m, DNS: m, Proxy: m}
	f.top = control.Top{Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{{"root", "42", "httpd -f"}}}
	f.logLevel = "info"
	f.logs = "line 1\nline 2\n"
	f.pruned = []string{"old1", "old2"}
}

// set changes the answers.
func (f *fakeDaemon) set(change func(f *fakeDaemon)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// requests returns the requests received so far and forgets them.
func (f *fakeDaemon) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

func (f *fakeDaemon) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	replyErr := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(control.ErrorBody{Message: msg})
	}
	endpoint := func(w http.ResponseWriter, r *http.Request) (control.Endpoint, bool) {
		for _, e := range f.endpoints {
			if e.Name == r.PathValue("name") {
				return e, true
			}
		}
		replyErr(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %q", r.PathValue("name")))
		return control.Endpoint{}, false
	}
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	attach := func(w http.ResponseWriter, r *http.Request, tty, stdin bool) {
		control.ServeStdio(w, r, tty, stdin, func(w http.ResponseWriter, err error) {
			replyErr(w, http.StatusBadRequest, err.Error())
		}, func(ctx context.Context, stdio *control.IO) (int, error) {
			if stdin {
				b, _ := io.ReadAll(stdio.Stdin)
				stdio.Stdout.Write(b)
			}
			io.WriteString(stdio.Stdout, f.execOut)
			if f.execErr != "" {
				return 0, errors.New(f.execErr)
			}
			return f.execExit, nil
		})
	}
	routes := map[string]http.HandlerFunc{
		"GET /v1/version":   func(w http.ResponseWriter, r *http.Request) { reply(w, f.version) },
		"GET /v1/networks":  func(w http.ResponseWriter, r *http.Request) { reply(w, f.networks) },
		"POST /v1/networks": func(w http.ResponseWriter, r *http.Request) { reply(w, f.networks[0]) },
		"GET /v1/networks/{name}": func(w http.ResponseWriter, r *http.Request) {
			for _, n := range f.networks {
				if n.Name == r.PathValue("name") {
					reply(w, n)
					return
				}
			}
			replyErr(w, http.StatusNotFound, fmt.Sprintf("no such network %q", r.PathValue("name")))
		},
		"DELETE /v1/networks/{name}":          ok,
		"POST /v1/networks/{name}/connect":    ok,
		"POST /v1/networks/{name}/disconnect": ok,
		"POST /v1/networks/prune": func(w http.ResponseWriter, r *http.Request) {
			reply(w, control.NetworkPrune{Removed: f.pruned})
		},
		"POST /v1/endpoints": func(w http.ResponseWriter, r *http.Request) {
			var req control.Run
			dec := json.NewDecoder(r.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				replyErr(w, http.StatusBadRequest, err.Error())
				return
			}
			if r.URL.Query().Get("attach") == "1" {
				attach(w, r, req.TTY, req.Stdin)
				return
			}
			e := f.endpoints[0]
			e.Name = req.Name
			reply(w, e)
		},
		"GET /v1/endpoints": func(w http.ResponseWriter, r *http.Request) { reply(w, f.endpoints) },
		"GET /v1/endpoints/{name}": func(w http.ResponseWriter, r *http.Request) {
			if e, ok := endpoint(w, r); ok {
				reply(w, e)
			}
		},
		"DELETE /v1/endpoints/{name}": func(w http.ResponseWriter, r *http.Request) {
			if _, ok := endpoint(w, r); ok {
				w.WriteHeader(http.StatusNoContent)
			}
		},
		"POST /v1/endpoints/{name}/exec": func(w http.ResponseWriter, r *http.Request) {
			var req control.Exec
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				replyErr(w, http.StatusBadRequest, err.Error())
				return
			}
			if req.Detach {
				if f.execErr != "" {
					replyErr(w, http.StatusBadRequest, f.execErr)
					return
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			attach(w, r, req.TTY, req.Stdin)
		},
		"GET /v1/endpoints/{name}/logs": func(w http.ResponseWriter, r *http.Request) {
			if _, ok := endpoint(w, r); ok {
				io.WriteString(w, f.logs)
			}
		},
		"GET /v1/endpoints/{name}/top": func(w http.ResponseWriter, r *http.Request) {
			if _, ok := endpoint(w, r); ok {
				reply(w, f.top)
			}
		},
		"POST /v1/endpoints/{name}/stop":    endpointOK(endpoint),
		"POST /v1/endpoints/{name}/start":   endpointOK(endpoint),
		"POST /v1/endpoints/{name}/restart": endpointOK(endpoint),
		"POST /v1/endpoints/{name}/kill":    endpointOK(endpoint),
		"POST /v1/endpoints/{name}/publish": func(w http.ResponseWriter, r *http.Request) {
			if _, ok := endpoint(w, r); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				json.NewEncoder(w).Encode(control.PortMap{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8081, HostPortEnd: 8081, ContainerPort: 81, Spec: "8081:81/tcp"})
			}
		},
		"POST /v1/endpoints/{name}/unpublish": endpointOK(endpoint),
		"GET /v1/fdb":                         func(w http.ResponseWriter, r *http.Request) { reply(w, f.fdb) },
		"POST /v1/fdb":                        func(w http.ResponseWriter, r *http.Request) { reply(w, f.fdb[0]) },
		"DELETE /v1/fdb":                      func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]int{"flushed": 7}) },
		"DELETE /v1/fdb/{vlan}/{mac}":         ok,
		"GET /v1/ports":                       func(w http.ResponseWriter, r *http.Request) { reply(w, f.ports) },
		"POST /v1/ports":                      func(w http.ResponseWriter, r *http.Request) { reply(w, f.ports[1]) },
		"PATCH /v1/ports/{name}":              func(w http.ResponseWriter, r *http.Request) { reply(w, f.ports[1]) },
		"DELETE /v1/ports/{name}":             ok,
		"GET /v1/stats":                       func(w http.ResponseWriter, r *http.Request) { reply(w, f.stats) },
		"GET /v1/uplink": func(w http.ResponseWriter, r *http.Request) {
			if f.uplink == nil {
				replyErr(w, http.StatusNotFound, "no uplink is set")
				return
			}
			reply(w, f.uplink)
		},
		"PUT /v1/uplink":          func(w http.ResponseWriter, r *http.Request) { reply(w, f.uplink) },
		"DELETE /v1/uplink":       ok,
		"GET /v1/conntrack":       func(w http.ResponseWriter, r *http.Request) { reply(w, f.conns) },
		"GET /v1/conntrack/count": func(w http.ResponseWriter, r *http.Request) { reply(w, f.count) },
		"DELETE /v1/conntrack":    func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]int{"flushed": 2}) },
		"GET /v1/nat":             func(w http.ResponseWriter, r *http.Request) { reply(w, f.nat) },
		"GET /v1/log-level":       func(w http.ResponseWriter, r *http.Request) { reply(w, control.LogLevel{Level: f.logLevel}) },
		"PUT /v1/log-level":       func(w http.ResponseWriter, r *http.Request) { reply(w, control.LogLevel{Level: "debug"}) },
	}
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var compact bytes.Buffer
		if len(body) > 0 && json.Compact(&compact, body) != nil {
			compact.Reset()
			compact.Write(body)
		}
		f.mu.Lock() // held while answering: tests change the answers under it (set)
		defer f.mu.Unlock()
		f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.RequestURI(), Body: compact.String()})
		if e, failing := f.fail[r.Method+" "+r.URL.Path]; failing {
			replyErr(w, e.Status, e.Message)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	})
}

// endpointOK answers 204 for a known endpoint, 404 for another.
func endpointOK(endpoint func(http.ResponseWriter, *http.Request) (control.Endpoint, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := endpoint(w, r); ok {
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

// result is what one vswitchctl run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs vswitchctl against socket with stdin and a fixed clock.
func runCLI(t *testing.T, socket, stdin string, args ...string) result {
	t.Helper()
	return runCLITerm(t, socket, stdin, false, args...)
}

// runCLITerm is runCLI with stdin a terminal or not.
func runCLITerm(t *testing.T, socket, stdin string, terminal bool, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		now: func() time.Time { return fixedNow }, isTerminal: func(io.Reader) bool { return terminal }}
	code := a.run(context.Background(), append([]string{"--socket", socket}, args...))
	return result{stdout.String(), stderr.String(), code}
}

// noDaemon returns a socket path nothing listens on.
func noDaemon(t *testing.T) string {
	return filepath.Join(t.TempDir(), "none.sock")
}
