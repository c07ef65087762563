package tap

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedQueuesReadopt: in a fresh namespace, a persistent
// multi-queue TAP is made with 2 queues and re-adopted with 2 (and with 1:
// one queue of the multi-queue device); a single-queue one asked for 4
// queues is re-adopted with 1 (TUNSETIFF refuses a mode mismatch).
func TestPrivilegedQueuesReadopt(t *testing.T) {
	testutil.Privileged(t)
	var rnd [3]byte
	rand.Read(rnd[:])
	ns := "vsw-tapq-" + hex.EncodeToString(rnd[:])
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(ns) })
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = netns.Do(h, func() error {
		for _, c := range []struct {
			name          string
			create, open  int
			wantC, wantRe int
		}{
			{"mq2", 2, 2, 2, 2},
			{"mq2to1", 2, 1, 2, 1},
			{"sq", 1, 4, 1, 1},
		} {
			d, err := Create(Options{Name: c.name, Persist: true, Queues: c.create})
			if err != nil {
				t.Errorf("Create %s with %d queues: %v", c.name, c.create, err)
				continue
			}
			if d.Queues() != c.wantC {
				t.Errorf("Create %s: %d queues, want %d", c.name, d.Queues(), c.wantC)
			}
			d.Close()
			r, err := Open(c.name, c.open)
			if err != nil {
				t.Errorf("Open %s with %d queues: %v", c.name, c.open, err)
				continue
			}
			if r.Queues() != c.wantRe {
				t.Errorf("Open %s with %d queues: %d queues, want %d", c.name, c.open, r.Queues(), c.wantRe)
			}
			r.Close()
		}
		if _, err := Create(Options{Name: "bad", Queues: MaxQueues + 1}); err == nil {
			t.Errorf("Create with %d queues: no error", MaxQueues+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
