//go:build linux

package test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// vswitchctl trace on the seed topology with an uplink to the test
// "internet": each case's verdict and exit status; the MAC table,
// conntrack and counters unchanged by all of it; the drop a trace names
// is the counter the real frame bumps; bad input is one line; and trace
// --live shows the decision for a real frame.

// traceWorld is what a trace must leave alone, as vswitchctl shows it:
// the MAC table and conntrack without their ages and timeouts, and every
// counter a frame that was not sent would otherwise have moved.
type traceWorld struct {
	FDB    []string
	Conns  []string
	Drops  map[string]uint64
	Ports  map[string]map[string]uint64
	Router map[string]uint64
	NAT    map[string]uint64
	FDBSt  map[string]uint64
}

func (l *lab) traceWorld() traceWorld {
	l.t.Helper()
	var w traceWorld
	var fdb []control.FDBEntry
	l.ctlJSON(&fdb, "fdb", "show")
	for _, e := range fdb {
		w.FDB = append(w.FDB, fmt.Sprintf("%d %s %s %v", e.VLAN, e.MAC, e.Port, e.Static))
	}
	var cs []control.Conn
	l.ctlJSON(&cs, "conntrack", "list")
	for _, c := range cs {
		c.Timeout = 0
		w.Conns = append(w.Conns, fmt.Sprintf("%+v", c))
	}
	slices.Sort(w.FDB)
	slices.Sort(w.Conns)
	var st control.Stats
	l.ctlJSON(&st, "stats")
	w.Drops, w.Ports, w.Router, w.NAT, w.FDBSt = st.Drops, map[string]map[string]uint64{}, st.Router, st.NAT, st.FDB
	for _, p := range st.Ports {
		w.Ports[p.Name] = p.Drops
	}
	// Background frames refresh neighbours (ARP), the internet's router
	// sends IPv6 (router solicitations, MLD) to the uplink at its own
	// pace, and entries expire; a trace, always IPv4, would move none of
	// these.
	for _, k := range []string{"arp-reply", "arp-suppressed", "arp-pending", "drop-not-ipv4"} {
		delete(w.Router, k)
	}
	delete(w.Drops, "not-ipv4")
	for _, d := range w.Ports {
		delete(d, "not-ipv4")
	}
	delete(w.NAT, "expired")
	delete(w.NAT, "entries")
	delete(w.FDBSt, "expired")
	return w
}

// portDrops returns one port's drop counter.
func (l *lab) portDrops(port, reason string) uint64 {
	return l.ports()[port].Drops[reason]
}

func TestPrivilegedTrace(t *testing.T) {
	testutil.RequireTools(t, "ping", "nc", "ss")
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	walkthrough(t, l)
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "echo-server", "-p", "45678:45678", "-p", "45679:45679")
	l.mustCtl("network", "create", "--internal", "internal-net")
	l.mustCtl("run", "-d", "--net", "internal-net", "--name", "lonely")

	// Real traffic first, so the MAC table and conntrack hold something:
	// a ping on test-network and a TCP connection through the masquerade
	// (TIME_WAIT for two minutes after it closes).
	orange := nicOn(t, l, "orange-server", "test-network").IP
	l.mustExec("apple-server", "ping", "-c1", "-W2", orange)
	in.srv.start(t, "nc", "-l", "-p", "7000")
	waitListening(t, in.srv.run, "tcp", 7000)
	l.mustExec("apple-server", "sh", "-c", "echo x | nc -N -w 5 "+srvAddr+" 7000")

	// A service of the host's own (the lab namespace), not a published
	// port: trace finds it listening.
	startProcess(t, "ip", "netns", "exec", l.name, "nc", "-l", "-p", "8082")
	waitListening(t, l.host, "tcp", 8082)

	red := nicOn(t, l, "red-apple", "applesonly").IP
	forged := netip.MustParsePrefix(red + "/24").Masked().Addr().Next().Next().Next().Next().String() // .4 of red-apple's /24
	if forged == red {
		t.Fatalf("forged source %s is red-apple's own", forged)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		verdict string   // the last line, or its start when it ends in "…"
		texts   []string // in the output, in order
	}{
		{"same network", []string{"apple-server", "orange-server"}, 0,
			"verdict: delivered to orange-server (eth0) on test-network", []string{"packet", "reply"}},
		{"isolated networks", []string{"red-apple", "orange-server"}, 1,
			"verdict: dropped — red-apple (applesonly) and orange-server (test-network) share no network; networks are isolated",
			[]string{"networks are isolated"}},
		{"internal network to the outside", []string{"lonely", srvAddr}, 1,
			"verdict: dropped — internal-net is --internal: its endpoints never reach the outside (" + srvAddr + ")", nil},
		{"outside to a published port", []string{"outside:" + srvAddr, uplinkAddr + ":45678"}, 0,
			"verdict: delivered to echo-server (eth0) on test-network (DNAT to …",
			[]string{"published port " + uplinkAddr + ":45678/tcp of echo-server: DNAT to", "reply of the connection the request opened"}},
		{"hairpin through host.vswitchd.internal", []string{"apple-server", "host.vswitchd.internal:45678"}, 0,
			"verdict: delivered to echo-server (eth0) on test-network (DNAT to …", []string{"hairpin: SNAT to gateway"}},
		{"masquerade", []string{"apple-server", srvAddr + ":7000"}, 0,
			"verdict: delivered to the outside through the uplink up0 (source translated to " + uplinkAddr + ")", []string{"masquerade network test-network"}},
		{"spoofed source", []string{"red-apple", "apple-server", "--src", forged}, 1,
			"verdict: dropped — source " + forged + " (…", []string{"not the endpoint's own", "anti-spoofing drops it at port red-apple/eth0"}},
		{"unknown name", []string{"red-apple", "nosuch"}, 1,
			"verdict: dropped — red-apple cannot resolve nosuch: not a name vswitchd serves (the switch would ask its upstream resolvers; trace does not)", nil},
		{"no published port on the host", []string{"red-apple", "host.vswitchd.internal:8081"}, 1,
			"verdict: dropped — no published port 8081 on host.vswitchd.internal, and nothing on the host listens on tcp 8081: the host answers with a reset", nil},
		{"a service of the host", []string{"red-apple", "host.vswitchd.internal:8082"}, 0,
			"verdict: delivered to the host (host.vswitchd.internal, 169.254.127.1)", []string{"so to the host's own stack", "reply"}},
		{"the gateway answers", []string{"apple-server", gateway(t, l, "test-network")}, 0,
			"verdict: answered by the switch: " + gateway(t, l, "test-network") + " (the gateway of test-network) replies to apple-server", nil},
	}
	before := l.traceWorld()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.ctl(append([]string{"trace"}, tt.args...)...)
			t.Logf("vswitchctl trace %s\n%s", strings.Join(tt.args, " "), r.stdout)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			last := lines[len(lines)-1]
			if want, ok := strings.CutSuffix(tt.verdict, "…"); r.code != tt.code || r.stderr != "" || ok && !strings.HasPrefix(last, want) || !ok && last != tt.verdict {
				t.Errorf("vswitchctl trace %s: exit %d, last line\n%q, want exit %d and\n%q\n%v", strings.Join(tt.args, " "), r.code, last, tt.code, tt.verdict, r)
			}
			rest := r.stdout
			for _, want := range tt.texts {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("output lacks %q (in order):\n%s", want, r.stdout)
					break
				}
				rest = rest[i+len(want):]
			}
		})
	}

	// Bad input: one line on stderr, exit 1.
	for _, args := range [][]string{
		{"trace", "nosuch", "orange-server"},
		{"trace", "nosuch", "alsonot"},
		{"trace", "apple-server", "orange-server", "--proto", "sctp"},
		{"trace", "apple-server", "orange-server", "--port", "70000"},
		{"trace", "apple-server"},
		{"trace", "outside:" + srvAddr, "orange-server", "--proto", "udp"},
		{"trace", "--live", "--filter", "tcp port", "red-apple"},
		{"trace", "--live", "nosuch"},
	} {
		r := l.ctl(args...)
		if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("vswitchctl %s: %v, want one Error line and exit 1", strings.Join(args, " "), r)
		}
	}
	if diff := cmp.Diff(before, l.traceWorld()); diff != "" {
		t.Errorf("trace changed the switch (-before +after):\n%s", diff)
	}

	// The drop a trace names is the counter the real frame bumps: send the
	// traced frames themselves from the endpoint's NIC.
	redNS := l.endpoint("red-apple").Netns
	for _, c := range []struct {
		args   []string
		reason string
	}{
		{[]string{"red-apple", "orange-server"}, "isolation"},
		{[]string{"red-apple", "apple-server", "--src", forged}, "spoofed"},
	} {
		var tr control.Trace
		r := l.ctl(append([]string{"trace", "--json"}, c.args...)...)
		if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil || r.code != 1 || tr.Delivered || tr.Reason != c.reason || tr.Forward == nil {
			t.Fatalf("trace --json %s: %v, reason %q, want %q\n%v", strings.Join(c.args, " "), err, tr.Reason, c.reason, r)
		}
		frame, err := hex.DecodeString(tr.Forward.Frame)
		if err != nil {
			t.Fatal(err)
		}
		n := l.portDrops(tr.Forward.Port, c.reason)
		sendRaw(t, redNS, "eth0", frame)
		eventually(t, 5*time.Second, func() error {
			if got := l.portDrops(tr.Forward.Port, c.reason); got != n+1 {
				return errorf("%s drops %s = %d, want %d", tr.Forward.Port, c.reason, got, n+1)
			}
			return nil
		})
	}

	// trace --live: the real decision for red-apple's ping of orange-server.
	liveDone := make(chan result, 1)
	go func() { liveDone <- l.ctl("trace", "--live", "-c", "1", "--filter", "icmp", "red-apple") }()
	var live result
	ended := false
	for i := 0; i < 20 && !ended; i++ { // until the tracer, armed in the background, sees one
		l.exec("red-apple", "ping", "-c1", "-W1", orange)
		select {
		case live = <-liveDone:
			ended = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !ended {
		t.Fatal("trace --live -c 1 did not end after 20 pings")
	}
	if live.code != 0 || !strings.Contains(live.stdout, "red-apple/eth0: ") || !strings.Contains(live.stdout, "networks are isolated") ||
		!strings.HasSuffix(live.stdout, "verdict   dropped (isolation)\n\n") || live.stderr != "1 frames traced\n" {
		t.Errorf("trace --live: %v", live)
	}
}
