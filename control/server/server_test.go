package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
)

// TestListen: the socket is created (with its directory) readable only by
// its owner; a live server's socket is refused, a stale one replaced, and
// anything else at the path left alone.
func TestListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "vswitchd.sock")
	l, err := server.Listen(sock)
	if err != nil {
		t.Fatalf("Listen(%s) = %v", sock, err)
	}
	fi, err := os.Lstat(sock)
	must(t, err)
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}

	srv := server.New(&fakeBackend{}, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c := control.NewClient(sock)
	if err := c.WaitReady(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("WaitReady() = %v", err)
	}
	if c.Socket() != sock {
		t.Errorf("Socket() = %q, want %q", c.Socket(), sock)
	}
	if l2, err := server.Listen(sock); err == nil {
		l2.Close()
		t.Errorf("Listen(%s) with a live server = nil error, want a refusal", sock)
	}
	if _, err := c.Version(context.Background()); err != nil {
		t.Errorf("after the refused Listen: Version() = %v, want the first server still serving", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve() after Shutdown = %v, want nil", err)
	}

	// A socket file left by a crashed daemon.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ls, err := net.Listen("unix", stale)
	must(t, err)
	ls.(*net.UnixListener).SetUnlinkOnClose(false)
	ls.Close()
	if _, err := os.Lstat(stale); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	l, err = server.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket = %v", err)
	}
	l.Close()

	// Anything else at the path is left alone.
	dir := t.TempDir()
	file := filepath.Join(dir, "precious")
	must(t, os.WriteFile(file, []byte("data"), 0o644))
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(file, link))
	for _, path := range []string{file, link, dir} {
		if l, err := server.Listen(path); err == nil {
			l.Close()
			t.Errorf("Listen(%s), not a socket = nil error, want a refusal", path)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Errorf("Listen over a regular file changed it: %q, %v", b, err)
	}
	if target, err := os.Readlink(link); err != nil || target != file {
		t.Errorf("Listen over a symlink changed it: %q, %v", target, err)
	}
}

func TestClientNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	c := control.NewClient(sock)
	_, err := c.Version(context.Background())
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("Version() without a daemon = %v, want an error naming %s", err, sock)
	}
	if _, err := c.Exec(context.Background(), "web", control.Exec{Cmd: []string{"sh"}}, &control.IO{Stdout: io.Discard}); err == nil {
		t.Errorf("Exec() without a daemon = nil error")
	}
	t.Setenv(control.SocketEnv, sock)
	if got := control.NewClient("").Socket(); got != sock {
		t.Errorf("NewClient(\"\") with %s set: Socket() = %q, want %q", control.SocketEnv, got, sock)
	}
	t.Setenv(control.SocketEnv, "")
	if got := control.NewClient("").Socket(); got != control.DefaultSocket {
		t.Errorf("NewClient(\"\"): Socket() = %q, want %q", got, control.DefaultSocket)
	}
}

// TestMetrics scrapes /metrics, parses it as Prometheus' text format, and
// checks every port counter and a few section counters of the canned
// Stats.
func TestMetrics(t *testing.T) {
	_, sock := serve(t, &fakeBackend{})
	resp, err := rawClient(sock).Get("http://vswitchd/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}

	// Every sample of the vswitchd families, as name{label="value",…}.
	got := map[string]float64{}
	types := map[string]string{}
	for name, mf := range families {
		if !strings.HasPrefix(name, "vswitchd_") {
			continue
		}
		types[name] = mf.GetType().String()
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := m.GetUntyped().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			got[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	wantTypes := map[string]string{
		"vswitchd_port_frames_total": "COUNTER", "vswitchd_port_bytes_total": "COUNTER",
		"vswitchd_port_drops_total": "COUNTER", "vswitchd_counter": "UNTYPED",
	}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("/metrics families (-want +got):\n%s", diff)
	}
	ports := map[string]float64{}
	for k, v := range got {
		if strings.HasPrefix(k, "vswitchd_port_") {
			ports[k] = v
		}
	}
	wantPorts := map[string]float64{
		"vswitchd_port_frames_total{direction=rx,kind=tap,port=tap0}":       5,
		"vswitchd_port_frames_total{direction=tx,kind=tap,port=tap0}":       7,
		"vswitchd_port_bytes_total{direction=rx,kind=tap,port=tap0}":        500,
		"vswitchd_port_bytes_total{direction=tx,kind=tap,port=tap0}":        700,
		"vswitchd_port_drops_total{port=tap0,reason=vlan-ingress}":          2,
		"vswitchd_port_frames_total{direction=rx,kind=system,port=uplink0}": 1,
		"vswitchd_port_frames_total{direction=tx,kind=system,port=uplink0}": 0,
		"vswitchd_port_bytes_total{direction=rx,kind=system,port=uplink0}":  0,
		"vswitchd_port_bytes_total{direction=tx,kind=system,port=uplink0}":  0,
	}
	if diff := cmp.Diff(wantPorts, ports); diff != "" {
		t.Errorf("/metrics port counters (-want +got):\n%s", diff)
	}
	for k, want := range map[string]float64{
		"vswitchd_counter{name=routed,section=router}":         11,
		"vswitchd_counter{name=drop-isolation,section=router}": 2,
		"vswitchd_counter{name=drop-no-route,section=router}":  0,
		"vswitchd_counter{name=queries,section=dns}":           4,
		"vswitchd_counter{name=learned,section=fdb}":           9,
		"vswitchd_counter{name=created,section=nat}":           1,
		"vswitchd_counter{name=tcp_conns,section=proxy}":       6,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("/metrics %s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	sections := 0
	for k := range got {
		if strings.HasPrefix(k, "vswitchd_counter{") {
			sections++
		}
	}
	want := len(cannedStats.FDB) + len(cannedStats.Router) + len(cannedStats.NAT) + len(cannedStats.DNS) + len(cannedStats.Proxy)
	if sections != want {
		t.Errorf("/metrics has %d vswitchd_counter samples, want %d (every counter of every section)", sections, want)
	}
}
