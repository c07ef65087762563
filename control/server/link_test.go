package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/impair"
)

// TestLinkRoutes: link set passes only the settings given (as a partial
// update), in the direction asked (out by default); bad values and
// directions are a 400 before the backend is asked; reset defaults to
// both directions.
func TestLinkRoutes(t *testing.T) {
	b := &fakeBackend{}
	c, _ := serve(t, b)
	ctx := context.Background()
	delay, loss := "50ms", "20%"
	ls, err := c.SetLink(ctx, "apple", control.LinkSet{Delay: &delay, Loss: &loss})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Out.DelayMS != 50 || ls[0].Out.Loss != 20 || ls[0].Out.Summary == "none" {
		t.Errorf("answer %+v", ls)
	}
	calls := b.takeCalls()
	if len(calls) != 1 || calls[0].Args[1] != impair.Out {
		t.Fatalf("calls %+v", calls)
	}
	u := calls[0].Args[2].(impair.Update)
	if *u.Delay != 50*time.Millisecond || *u.Loss != 20 || u.Rate != nil || u.Reset {
		t.Errorf("update %+v", u)
	}
	for _, bad := range []control.LinkSet{
		{Delay: ptr("-5ms")}, {Loss: ptr("abc")}, {Direction: "sideways", Delay: ptr("1ms")}, {},
	} {
		if _, err := c.SetLink(ctx, "apple", bad); err == nil {
			t.Errorf("SetLink(%+v) succeeded", bad)
		}
	}
	if calls := b.takeCalls(); len(calls) != 0 {
		t.Errorf("bad requests reached the backend: %+v", calls)
	}
	if _, err := c.ResetLink(ctx, "apple", ""); err != nil {
		t.Fatal(err)
	}
	if calls := b.takeCalls(); len(calls) != 1 || calls[0].Args[1] != impair.Both {
		t.Errorf("reset calls %+v", calls)
	}
	ls, err = c.Links(ctx, "")
	if err != nil || len(ls) != 1 || !strings.Contains(ls[0].Out.Summary, "delay 50ms") || ls[0].Out.Seed != 3 {
		t.Errorf("Links = %+v, %v", ls, err)
	}
}

func ptr(s string) *string { return &s }
