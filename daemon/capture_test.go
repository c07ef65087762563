package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/state"
)

// TestCaptureTargets: each kind of target resolves to its ports; bad
// targets, filters and limits are refused before anything is attached.
func TestCaptureTargets(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.network("beta", "10.2.0.0/24")
	e.run("web", "alpha")
	e.run("db", "alpha")
	e.must(e.d.Connect("beta", state.ConnectSpec{Endpoint: "web"}))
	for _, tt := range []struct {
		targets []string
		want    string
	}{
		{[]string{"web"}, "web/eth0 web/eth1"},
		{[]string{"web:eth1"}, "web/eth1"},
		{[]string{"db/eth0"}, "db/eth0"},
		{[]string{"alpha"}, "web/eth0 db/eth0"},
		{[]string{"router", "beta", "web"}, "router web/eth1 web/eth0"},
		{[]string{"vswitch0"}, "vswitch0"},
	} {
		c, err := e.d.StartCapture(daemon.CaptureSpec{Targets: tt.targets})
		if err != nil {
			t.Errorf("capture %v: %v", tt.targets, err)
			continue
		}
		var names []string
		for _, it := range c.Interfaces() {
			names = append(names, it.Name)
		}
		c.Close()
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("capture %v covers %q, want %q", tt.targets, got, tt.want)
		}
	}
	for _, tt := range []struct {
		spec daemon.CaptureSpec
		kind error
		want string
	}{
		{daemon.CaptureSpec{}, state.ErrInvalid, "needs a target"},
		{daemon.CaptureSpec{Targets: []string{"nosuch"}}, state.ErrNotFound, "nosuch"},
		{daemon.CaptureSpec{Targets: []string{"web:eth9"}}, state.ErrNotFound, "no interface eth9"},
		{daemon.CaptureSpec{Targets: []string{"uplink"}}, state.ErrNotFound, "no uplink"},
		{daemon.CaptureSpec{Targets: []string{"web"}, Filter: "tcp port"}, state.ErrInvalid, "filter"},
		{daemon.CaptureSpec{Targets: []string{"web"}, Count: -1}, state.ErrInvalid, "positive"},
		{daemon.CaptureSpec{Targets: []string{"web"}, Snaplen: 1 << 20}, state.ErrInvalid, "snaplen"},
	} {
		if _, err := e.d.StartCapture(tt.spec); !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("capture %+v = %v, want %v mentioning %q", tt.spec, err, tt.kind, tt.want)
		}
	}
}

// TestCaptureFrames: frames crossing a captured port come out as summary
// lines and as pcapng, filtered, until the count.
func TestCaptureFrames(t *testing.T) {
	e := newEnv(t)
	e.network("alpha", "10.1.0.0/24")
	e.run("web", "alpha")
	e.run("db", "alpha")
	webNIC := e.h.Namespace(host.Named(prefix + "web").Path).NICs["eth0"]
	web, db := e.endpointNIC("web"), e.endpointNIC("db")
	udp := func(port uint16) []byte {
		return testframe.IPv4{Eth: testframe.Eth{Src: web.MAC, Dst: db.MAC}, Proto: header.ProtoUDP,
			Src: netip.AddrPortFrom(web.IP, 5000), Dst: netip.AddrPortFrom(db.IP, port), Payload: []byte("x")}.Frame(t)
	}

	c, err := e.d.StartCapture(daemon.CaptureSpec{Targets: []string{"web", "db"}, Filter: "udp port 53", Count: 2})
	e.must(err)
	defer c.Close()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		st, err := c.WriteText(context.Background(), &out, nil)
		if err == nil && (st.Captured != 2 || st.Dropped != 0) {
			err = fmt.Errorf("stats %+v, want 2 captured, none dropped", st)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	webNIC.Port.Inject(udp(9999)) // not matched
	webNIC.Port.Inject(udp(53))
	select {
	case err := <-done:
		e.must(err)
	case <-time.After(5 * time.Second):
		t.Fatal("capture of 2 frames did not end")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "web/eth0 in ") || !strings.Contains(lines[1], "db/eth0 out") ||
		!strings.Contains(lines[0], "UDP 5000 > 53") {
		t.Errorf("capture lines:\n%s", out.String())
	}

	// pcapng, ended by its context.
	c2, err := e.d.StartCapture(daemon.CaptureSpec{Targets: []string{"db"}})
	e.must(err)
	defer c2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var pc bytes.Buffer
	go func() {
		time.Sleep(50 * time.Millisecond)
		webNIC.Port.Inject(udp(53))
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	st, err := c2.WritePcapng(ctx, &pc, nil)
	e.must(err)
	if st.Captured != 1 || !bytes.HasPrefix(pc.Bytes(), []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Errorf("pcapng capture: %+v, %d bytes starting %x", st, pc.Len(), pc.Bytes()[:min(8, pc.Len())])
	}
}

// endpointNIC returns an endpoint's first NIC.
func (e *env) endpointNIC(name string) state.NIC {
	e.t.Helper()
	info, err := e.d.Endpoint(name)
	e.must(err)
	return info.NICs[0].NIC
}
