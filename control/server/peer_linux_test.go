package server_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
)

// TestPeerCheck: with a PeerCheck, the server asks it about the process
// at the other end of each connection (SO_PEERCRED), and a refused peer
// gets 403 with the reason as the JSON error; the backend is not called.
func TestPeerCheck(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		b := &fakeBackend{}
		sock := filepath.Join(t.TempDir(), "vswitchd.sock")
		l, err := server.Listen(sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := server.New(b, nil)
		var seen server.Peer
		srv.SetPeerCheck(func(p server.Peer) error {
			seen = p
			if refuse {
				return errors.New("process is inside endpoint \"x\"")
			}
			return nil
		})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		_, err = control.NewClient(sock).Networks(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		<-done
		if seen.PID != os.Getpid() || seen.UID != os.Geteuid() {
			t.Errorf("PeerCheck saw %+v, want pid %d uid %d", seen, os.Getpid(), os.Geteuid())
		}
		var apiErr *control.APIError
		switch {
		case !refuse && err != nil:
			t.Errorf("allowed peer: %v", err)
		case refuse && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden ||
			!strings.Contains(err.Error(), `forbidden: process is inside endpoint "x"`)):
			t.Errorf("refused peer: %v, want 403 naming the reason", err)
		case refuse && len(b.takeCalls()) != 0:
			t.Errorf("refused peer reached the backend")
		}
	}
}
