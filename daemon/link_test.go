package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/state"
)

func ptr[T any](v T) *T { return &v }

// TestLinkImpairments: link set changes one setting and keeps the others,
// per direction; a bad value or a failed save changes nothing; the
// settings (with their seed) survive a restart; reset removes them.
func TestLinkImpairments(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("a", "alpha")
	e.run("b", "alpha")

	links, err := e.d.SetLink("a", impair.Out, impair.Update{Delay: ptr(50 * time.Millisecond), Loss: ptr(20.0), Seed: ptr(uint64(7))})
	e.must(err)
	if len(links) != 1 || links[0].Port != "a/eth0" || links[0].Out.String() != "delay 50ms loss 20% seed 7" || links[0].In.Active() {
		t.Fatalf("set a: %+v", links)
	}
	// Changing the delay keeps the loss.
	links, err = e.d.SetLink("a:eth0", impair.Out, impair.Update{Delay: ptr(80 * time.Millisecond)})
	e.must(err)
	if got := links[0].Out.String(); got != "delay 80ms loss 20% seed 7" {
		t.Errorf("after changing the delay: %q, want the loss kept", got)
	}
	// Out of range: refused, nothing changed.
	if _, err := e.d.SetLink("a", impair.Both, impair.Update{Loss: ptr(120.0)}); err == nil || !strings.Contains(err.Error(), "loss 120%") {
		t.Errorf("loss 120%%: err = %v", err)
	}
	if _, err := e.d.SetLink("nosuch", impair.Out, impair.Update{Loss: ptr(1.0)}); err == nil {
		t.Error("an unknown link was accepted")
	}
	if _, err := e.d.SetLink("a:eth7", impair.Out, impair.Update{Loss: ptr(1.0)}); err == nil {
		t.Error("an unknown interface was accepted")
	}
	// A failed save puts the old settings back.
	e.fail.arm(1)
	if _, err := e.d.SetLink("a", impair.In, impair.Update{Rate: ptr(uint64(10_000_000))}); err == nil {
		t.Fatal("set with a failing save succeeded")
	}
	e.fail.arm(0)
	links, err = e.d.Links("a")
	e.must(err)
	if links[0].In.Active() || links[0].Out.String() != "delay 80ms loss 20% seed 7" {
		t.Errorf("after a failed save: out %q in %q", links[0].Out, links[0].In)
	}
	st, err := state.Load(e.dir, prefix)
	e.must(err)
	if got := st.Endpoint("a").NICs[0].Impair; got != (state.Impairment{Out: "delay 80ms loss 20% seed 7"}) {
		t.Errorf("saved impairment %+v", got)
	}
	// Restored at the next start, seed included.
	e.restart()
	links, err = e.d.Links("")
	e.must(err)
	if len(links) != 2 || links[0].Out.String() != "delay 80ms loss 20% seed 7" || links[1].Out.Active() {
		t.Errorf("after restart: %+v", links)
	}
	// Reset: both directions by default.
	links, err = e.d.ResetLink("a", impair.Both)
	e.must(err)
	if links[0].Out.Active() || links[0].In.Active() {
		t.Errorf("after reset: %+v", links[0])
	}
	// Resetting a port never impaired changes nothing and does not fail.
	if _, err := e.d.ResetLink("b", impair.Both); err != nil {
		t.Error(err)
	}
	e.agree()
}
