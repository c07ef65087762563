package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vswitchd/vswitchd/control"
)

// traceDaemon is a fake vswitchd serving only trace: POST /v1/trace
// answers a delivered trace for TO "orange-server", a dropped one for
// anything else, and 404 for FROM "nosuch"; GET /v1/trace/live streams
// two traces and the end. It records what it was asked.
type traceDaemon struct {
	socket string
	mu     sync.Mutex // guards reqs
	reqs   []string   // bodies of POST /v1/trace and queries of GET /v1/trace/live
}

func newTraceDaemon(t *testing.T) *traceDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "vswtr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &traceDaemon{socket: filepath.Join(dir, "api.sock")}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/trace", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d.record(strings.TrimSpace(string(b)))
		var req control.TraceRequest
		json.Unmarshal(b, &req)
		w.Header().Set("Content-Type", "application/json")
		if req.From == "nosuch" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(control.ErrorBody{Message: `trace from nosuch: no endpoint "nosuch"`})
			return
		}
		t := droppedTrace
		if req.To == "orange-server" {
			t = deliveredTrace
		}
		json.NewEncoder(w).Encode(t)
	})
	mux.HandleFunc("GET /v1/trace/live", func(w http.ResponseWriter, r *http.Request) {
		d.record(r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for range 2 {
			enc.Encode(control.LiveTraceEvent{Trace: &control.LiveTrace{Time: fixedNow, Run: *droppedTrace.Forward}})
		}
		enc.Encode(control.LiveTraceEvent{End: &control.LiveTraceEnd{Traced: 2, Missed: 1}})
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

func (d *traceDaemon) record(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reqs = append(d.reqs, s)
}

func (d *traceDaemon) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.reqs
	d.reqs = nil
	return r
}

var (
	// droppedTrace fills every field, so --json shows each.
	droppedTrace = control.Trace{
		From: "red-apple (eth0, 172.19.0.2)", To: "orange-server (172.18.0.3)",
		Notes: []string{"red-apple's DNS does not answer orange-server"},
		Forward: &control.TraceRun{Port: "red-apple/eth0", Packet: "172.19.0.2 → 172.18.0.3 ICMP echo request", Frame: "0102",
			Steps:     []control.TraceStep{{Stage: "ingress", Detail: "port red-apple/eth0 (tap)"}, {Stage: "router", Detail: "networks are isolated"}},
			Outputs:   []control.TraceOutput{{Port: "x", Tagging: "untagged", Packet: "p", Frame: "00"}},
			Generated: []control.TraceOutput{{Port: "red-apple/eth0", Tagging: "untagged", Packet: "ICMP destination unreachable", Frame: "03"}},
			Verdict:   "dropped", Reason: "isolation"},
		Reply:   &control.TraceRun{Port: "p", Packet: "q", Frame: "00", Steps: []control.TraceStep{}, Outputs: []control.TraceOutput{}, Generated: []control.TraceOutput{}, Verdict: "dropped", Reason: "r"},
		Verdict: "dropped — red-apple (applesonly) and orange-server (test-network) share no network; networks are isolated",
		Reason:  "isolation",
	}
	deliveredTrace = control.Trace{
		From: "apple-server (eth0, 172.18.0.2)", To: "orange-server (172.18.0.3)", Notes: []string{},
		Forward: &control.TraceRun{Port: "apple-server/eth0", Packet: "req", Steps: []control.TraceStep{{Stage: "bridge", Detail: "flood"}},
			Outputs: []control.TraceOutput{{Port: "orange-server/eth0", Tagging: "untagged", Packet: "req"}}, Generated: []control.TraceOutput{}, Verdict: "delivered"},
		Reply: &control.TraceRun{Port: "orange-server/eth0", Packet: "rep", Steps: []control.TraceStep{},
			Outputs: []control.TraceOutput{{Port: "apple-server/eth0", Tagging: "untagged", Packet: "rep"}}, Generated: []control.TraceOutput{}, Verdict: "delivered"},
		Delivered: true, Verdict: "delivered to orange-server (eth0) on test-network",
	}
)

func TestTraceCLI(t *testing.T) {
	d := newTraceDaemon(t)
	r := runCLI(t, d.socket, "", "trace", "red-apple", "orange-server:80", "--proto", "udp", "--sport", "5000", "--src", "172.19.0.9")
	want := `trace     red-apple (eth0, 172.19.0.2) → orange-server (172.18.0.3)
note      red-apple's DNS does not answer orange-server
packet    red-apple/eth0: 172.19.0.2 → 172.18.0.3 ICMP echo request
ingress   port red-apple/eth0 (tap)
router    networks are isolated
egress    x, untagged: p
answers   red-apple/eth0, untagged: ICMP destination unreachable
reply     p: q
verdict: dropped — red-apple (applesonly) and orange-server (test-network) share no network; networks are isolated
`
	if r.code != 1 || r.stderr != "" || r.stdout != want {
		t.Errorf("a dropped trace: exit %d, stderr %q, stdout\n%s\nwant exit 1 and\n%s", r.code, r.stderr, r.stdout, want)
	}
	if got, want := d.requests(), []string{`{"from":"red-apple","to":"orange-server:80","proto":"udp","sport":5000,"src":"172.19.0.9"}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}

	r = runCLI(t, d.socket, "", "trace", "apple-server", "orange-server", "--port", "80")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\nverdict: delivered to orange-server (eth0) on test-network\n") ||
		!strings.Contains(r.stdout, "\nreply     orange-server/eth0: rep\negress    apple-server/eth0, untagged: rep\n") {
		t.Errorf("a delivered trace: %+v", r)
	}
	if got, want := d.requests(), []string{`{"from":"apple-server","to":"orange-server","port":80}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}

	// --json: the API's type, every field, and the same exit status.
	r = runCLI(t, d.socket, "", "trace", "--json", "red-apple", "orange-server:80")
	if r.code != 1 || r.stderr != "" {
		t.Errorf("trace --json: %+v", r)
	}
	var tr control.Trace
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil || !reflect.DeepEqual(tr, droppedTrace) {
		t.Errorf("trace --json decodes to %+v (%v)\n%s", tr, err, r.stdout)
	}
	var raw any
	json.Unmarshal([]byte(r.stdout), &raw)
	for _, p := range missingFields(reflect.TypeFor[control.Trace](), raw, "") {
		t.Errorf("trace --json: %s missing", p)
	}

	// The daemon's refusal: one line, exit 1.
	d.requests()
	r = runCLI(t, d.socket, "", "trace", "nosuch", "orange-server")
	oneErrorLine(t, []string{"trace", "nosuch"}, r)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, `no endpoint "nosuch"`) {
		t.Errorf("trace from an unknown endpoint: %+v", r)
	}
	d.requests()

	// Bad input is refused before any request.
	for _, args := range [][]string{
		{"trace", "red-apple"},
		{"trace", "red-apple", "orange-server", "extra"},
		{"trace", "red-apple", "orange-server", "--proto", "sctp"},
		{"trace", "red-apple", "orange-server", "--port", "0"},
		{"trace", "red-apple", "orange-server", "--port", "65536"},
		{"trace", "red-apple", "orange-server", "--port", "x"},
		{"trace", "red-apple", "orange-server", "--sport", "-1"},
		{"trace", "red-apple", "orange-server", "--proto", "icmp", "--port", "80"},
		{"trace", "red-apple", "orange-server", "--src", "nope"},
		{"trace", "red-apple", "orange-server", "--src", "2001:db8::1"},
		{"trace", "red-apple", "orange-server", "--filter", "icmp"},
		{"trace", "red-apple", "orange-server", "-c", "3"},
		{"trace", "--live", "--port", "80"},
		{"trace", "--live", "-c", "-1"},
	} {
		r := runCLI(t, d.socket, "", args...)
		oneErrorLine(t, args, r)
	}
	if got := d.requests(); len(got) != 0 {
		t.Errorf("bad input sent requests: %q", got)
	}
}

func TestTraceLiveCLI(t *testing.T) {
	d := newTraceDaemon(t)
	r := runCLI(t, d.socket, "", "trace", "--live", "-c", "2", "--filter", "icmp", "red-apple", "test-network")
	block := fixedNow.Local().Format("15:04:05.000000") + ` red-apple/eth0: 172.19.0.2 → 172.18.0.3 ICMP echo request
ingress   port red-apple/eth0 (tap)
router    networks are isolated
egress    x, untagged: p
answers   red-apple/eth0, untagged: ICMP destination unreachable
verdict   dropped (isolation)

`
	if r.code != 0 || r.stdout != block+block || r.stderr != "2 frames traced\n1 matching frames not traced: the reader was behind\n" {
		t.Errorf("trace --live: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got, want := d.requests(), []string{"count=2&filter=icmp&target=red-apple&target=test-network"}; !reflect.DeepEqual(got, want) {
		t.Errorf("queries %q, want %q", got, want)
	}
	r = runCLI(t, d.socket, "", "trace", "--live", "--json")
	dec := json.NewDecoder(bytes.NewReader([]byte(r.stdout)))
	dec.DisallowUnknownFields()
	var evs []control.LiveTraceEvent
	for dec.More() {
		var ev control.LiveTraceEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("trace --live --json: %v\n%s", err, r.stdout)
		}
		evs = append(evs, ev)
	}
	if r.code != 0 || len(evs) != 3 || evs[0].Trace == nil || !evs[0].Trace.Time.Equal(fixedNow) || evs[2].End == nil || evs[2].End.Traced != 2 || r.stderr != "" {
		t.Errorf("trace --live --json: %+v\n%s", r, r.stdout)
	}
	if got, want := d.requests(), []string{""}; !reflect.DeepEqual(got, want) {
		t.Errorf("queries %q, want %q", got, want)
	}
}
