package server_test

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
