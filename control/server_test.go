package control_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
)

// TestListen: the socket is created (with its directory) readable only by
// its owner; a live server's socket is refused, a stale one replaced.
func TestListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "vswitchd.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatalf("Listen(%s) = %v", sock, err)
	}
	fi, err := os.Lstat(sock)
	must(t, err)
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}

	srv := control.NewServer(&fakeBackend{}, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c := control.NewClient(sock)
	if err := c.WaitReady(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("WaitReady() = %v", err)
	}
	if c.Socket() != sock {
		t.Errorf("Socket() = %q, want %q", c.Socket(), sock)
	}
	if l2, err := control.Listen(sock); err == nil {
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
	l, err = control.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket = %v", err)
	}
	l.Close()

	// Anything else at the path is left alone.
	file := filepath.Join(t.TempDir(), "precious")
	must(t, os.WriteFile(file, []byte("data"), 0o644))
	if l, err := control.Listen(file); err == nil {
		l.Close()
		t.Errorf("Listen over a regular file = nil error, want a refusal")
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Errorf("Listen over a regular file changed it: %q, %v", b, err)
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
	for _, want := range []string{
		"# TYPE vswitchd_port_frames_total counter",
		`vswitchd_port_frames_total{direction="rx",kind="tap",port="tap0"} 5`,
		`vswitchd_port_frames_total{direction="tx",kind="tap",port="tap0"} 7`,
		`vswitchd_port_frames_total{direction="rx",kind="system",port="uplink0"} 1`,
		`vswitchd_port_bytes_total{direction="tx",kind="tap",port="tap0"} 700`,
		`vswitchd_port_drops_total{port="tap0",reason="vlan-ingress"} 2`,
		`vswitchd_counter{name="routed",section="router"} 11`,
		`vswitchd_counter{name="queries",section="dns"} 4`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
