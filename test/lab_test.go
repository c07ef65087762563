//go:build linux

package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// Labs from topology files, end to end: every example comes up and
// pingall matches the topology; a changed file converges without
// disturbing the endpoints it does not touch; lab down leaves nothing.

// TestPrivilegedLabExamples: lab up of each example, pingall as the
// topology expects, lab up again changes nothing, lab down removes all.
func TestPrivilegedLabExamples(t *testing.T) {
	testutil.RequireTools(t, "ip", "ping", "nc")
	l := startLab(t, labOptions{})
	for _, ex := range []string{"seed.yaml", "trunk.yaml", "impaired.yaml"} {
		file := filepath.Join(repoRoot(t), "examples", ex)
		t.Run(ex, func(t *testing.T) {
			l.mustCtl("lab", "up", file)
			var again control.LabPlan
			l.ctlJSON(&again, "lab", "up", file)
			for _, c := range again.Changes {
				if c.Action != control.ActionKeep {
					t.Errorf("lab up twice: second run changed %+v", c)
				}
			}
			var pa control.PingAll
			r := l.ctl("lab", "pingall", file, "--json")
			if err := json.Unmarshal([]byte(r.stdout), &pa); err != nil || r.code != 0 || pa.Mismatches != 0 || len(pa.Pairs) == 0 {
				t.Fatalf("pingall %s: %v\n%+v", ex, r, pa)
			}
			t.Logf("%s: %d pairs as expected", ex, len(pa.Pairs))
			l.mustCtl("lab", "down", file)
		})
	}
	var labs []control.Lab
	l.ctlJSON(&labs, "lab", "ls")
	if len(labs) != 0 {
		t.Errorf("labs after lab down: %+v", labs)
	}
	var eps []control.Endpoint
	l.ctlJSON(&eps, "ps", "-a")
	if len(eps) != 0 {
		t.Errorf("endpoints after lab down: %+v", eps)
	}
}

const convergeBefore = `name: conv
networks:
  a: {subnet: 10.61.0.0/24}
  b: {subnet: 10.62.0.0/24}
endpoints:
  e1: {networks: [a]}
  e2: {networks: [a]}
  e3: {networks: [b]}
  e4: {networks: [a, b]}
`

// The change: e5 added, e4 removed, network b moved to another subnet.
const convergeAfter = `name: conv
networks:
  a: {subnet: 10.61.0.0/24}
  b: {subnet: 10.63.0.0/24}
endpoints:
  e1: {networks: [a]}
  e2: {networks: [a]}
  e3: {networks: [b]}
  e5: {networks: [a, b]}
`

// TestPrivilegedLabConverge: lab up with a changed file adds, removes and
// recreates what differs while a ping between two untouched endpoints
// loses nothing; bad files change nothing; lab down leaves nothing.
func TestPrivilegedLabConverge(t *testing.T) {
	testutil.RequireTools(t, "ip", "ping")
	l := startLab(t, labOptions{})
	dir := t.TempDir()
	before, after := filepath.Join(dir, "before.yaml"), filepath.Join(dir, "after.yaml")
	os.WriteFile(before, []byte(convergeBefore), 0o644)
	os.WriteFile(after, []byte(convergeAfter), 0o644)
	l.mustCtl("lab", "up", before)
	e1 := l.endpoint("conv-e1")
	e2 := l.endpoint("conv-e2")
	ip2 := e2.NICs[0].IP

	// Bad input: one line naming the file and line, nothing changed.
	state0 := l.psState()
	bad := map[string]string{
		"unknown field":    strings.Replace(convergeAfter, "e5: {networks: [a, b]}", "e5: {networks: [a, b], colour: red}", 1),
		"duplicate name":   strings.Replace(convergeAfter, "  e3: {networks: [b]}", "  e3: {networks: [b]}\n  e3: {networks: [a]}", 1),
		"overlap":          strings.Replace(convergeAfter, "10.63.0.0/24", "10.61.0.0/16", 1),
		"unknown endpoint": convergeAfter + "links:\n  - endpoint: e9\n    delay: 5ms\n",
		"negative delay":   convergeAfter + "links:\n  - endpoint: e5\n    delay: -5ms\n",
		"loss over 100%":   convergeAfter + "links:\n  - endpoint: e5\n    loss: 120%\n",
	}
	lineRE := regexp.MustCompile(`^Error: ` + regexp.QuoteMeta(filepath.Join(dir, "bad.yaml")) + `:\d+: `)
	for name, text := range bad {
		f := filepath.Join(dir, "bad.yaml")
		os.WriteFile(f, []byte(text), 0o644)
		r := l.ctl("lab", "up", f)
		if r.code == 0 || !lineRE.MatchString(r.stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: want one error line naming FILE:LINE, got %v", name, r)
		}
	}
	if got := l.psState(); got != state0 {
		t.Errorf("a bad file changed the endpoints:\nbefore %s\nafter %s", state0, got)
	}

	// A ping between two untouched endpoints runs across the change.
	ping := l.execStart(t, e1.Name, "ping", "-n", "-c", "100", "-i", "0.05", ip2)
	time.Sleep(500 * time.Millisecond)
	var plan control.LabPlan
	l.ctlJSON(&plan, "lab", "up", after)
	actions := map[string]string{}
	for _, c := range plan.Changes {
		actions[c.Kind+" "+c.Name] = c.Action
	}
	for k, want := range map[string]string{
		"network conv-a": "keep", "network conv-b": "recreate", "endpoint conv-e1": "keep", "endpoint conv-e2": "keep",
		"endpoint conv-e3": "recreate", "endpoint conv-e4": "remove", "endpoint conv-e5": "create",
	} {
		if actions[k] != want {
			t.Errorf("%s: %q, want %q (plan %+v)", k, actions[k], want, plan.Changes)
		}
	}
	out := ping.wait(t, 30*time.Second)
	if !strings.Contains(out, " 0% packet loss") {
		t.Errorf("the ping between untouched endpoints lost frames during lab up:\n%s", out)
	}
	if e := l.endpoint("conv-e1"); e.Created != e1.Created || e.PID != e1.PID {
		t.Errorf("conv-e1 was touched: %+v → %+v", e1, e)
	}
	if e := l.endpoint("conv-e3"); !strings.HasPrefix(e.NICs[0].IP, "10.63.0.") {
		t.Errorf("conv-e3 is on %s, want network b's new subnet", e.NICs[0].IP)
	}
	var pa control.PingAll
	r := l.ctl("lab", "pingall", after, "--json")
	if json.Unmarshal([]byte(r.stdout), &pa); r.code != 0 || pa.Mismatches != 0 {
		t.Errorf("pingall after converging: %v", r)
	}
	l.mustCtl("lab", "down", after)
	var eps []control.Endpoint
	l.ctlJSON(&eps, "ps", "-a")
	var nets []control.Network
	l.ctlJSON(&nets, "network", "ls")
	for _, n := range nets {
		if strings.HasPrefix(n.Name, "conv-") {
			t.Errorf("network %s left after lab down", n.Name)
		}
	}
	if len(eps) != 0 {
		t.Errorf("endpoints left after lab down: %+v", eps)
	}
	if r := l.ctl("lab", "down", after); r.code == 0 {
		t.Errorf("lab down of a lab that is not up: %v", r)
	}
}

var rttRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// rtts pings from one endpoint and returns the round-trip times in ms,
// sorted, and ping's output.
func (l *lab) rtts(from, ip string, args ...string) ([]float64, string) {
	r := l.exec(from, append([]string{"ping", "-n"}, append(args, ip)...)...)
	var out []float64
	for _, m := range rttRE.FindAllStringSubmatch(r.stdout, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		out = append(out, v)
	}
	sort.Float64s(out)
	return out, r.stdout + r.stderr
}

var lossRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// TestPrivilegedLinkImpairments measures the switch's impairments with
// ping and iperf3, with tolerances for a loaded 2-vCPU machine.
func TestPrivilegedLinkImpairments(t *testing.T) {
	testutil.RequireTools(t, "ip", "ping", "iperf3")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "--subnet", "10.71.0.0/24", "imp")
	l.mustCtl("run", "-d", "--net", "imp", "--name", "a")
	l.mustCtl("run", "-d", "--net", "imp", "--name", "b")
	ipB := l.endpoint("b").NICs[0].IP
	base, out := l.rtts("a", ipB, "-c", "5", "-i", "0.2")
	if len(base) < 4 {
		t.Fatalf("baseline ping: %s", out)
	}
	t.Logf("unimpaired RTT median %.3f ms", base[len(base)/2])

	// Delay toward b: every echo request waits 50 ms.
	l.mustCtl("link", "set", "b", "--delay", "50ms")
	d, out := l.rtts("a", ipB, "-c", "10", "-i", "0.2")
	if len(d) < 9 || d[0] < 50 || d[len(d)/2] >= 70 {
		t.Errorf("--delay 50ms: RTTs %v, want all ≥ 50 ms and the median < 70 ms\n%s", d, out)
	}
	t.Logf("delay 50ms: RTT min %.1f median %.1f ms", d[0], d[len(d)/2])

	// Loss, with a short delay; changing the delay keeps the loss.
	l.mustCtl("link", "set", "b", "--loss", "20%", "--seed", "14")
	l.mustCtl("link", "set", "b", "--delay", "1ms")
	var links []control.Link
	l.ctlJSON(&links, "link", "show", "b")
	if len(links) != 1 || links[0].Out.Loss != 20 || links[0].Out.DelayMS != 1 {
		t.Fatalf("after changing the delay: %+v, want loss 20%% kept", links)
	}
	r := l.exec("a", "ping", "-n", "-q", "-c", "500", "-i", "0.005", "-W", "1", ipB)
	m := lossRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("ping -c 500: %v", r)
	}
	sent, got := atoi(m[1]), atoi(m[2])
	loss := 100 * float64(sent-got) / float64(sent)
	t.Logf("loss 20%%: %d of %d lost (%.1f%%)", sent-got, sent, loss)
	if sent != 500 || loss < 12 || loss > 28 {
		t.Errorf("--loss 20%% over %d pings: %.1f%% lost, want 12-28%%", sent, loss)
	}

	// Reset: the unimpaired RTT again.
	l.mustCtl("link", "reset", "b")
	after, out := l.rtts("a", ipB, "-c", "5", "-i", "0.2")
	if len(after) < 4 || after[len(after)/2] > max(5, 10*base[len(base)/2]) {
		t.Errorf("after link reset: RTTs %v (unimpaired median %.3f ms)\n%s", after, base[len(base)/2], out)
	}

	// Rate toward b: TCP from a to b at 10 Mbit/s.
	l.mustCtl("link", "set", "b", "--rate", "10mbit")
	startProcess(t, "ip", "netns", "exec", l.prefix+"b", "iperf3", "-s", "-1", "-p", "5201")
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var ir result
	eventually(t, 10*time.Second, func() error {
		ir = l.exec("a", "iperf3", "-c", ipB, "-p", "5201", "-t", "4", "-J")
		if ir.code != 0 {
			return errorf("iperf3: %v", ir)
		}
		return nil
	})
	if err := json.Unmarshal([]byte(ir.stdout), &res); err != nil {
		t.Fatalf("iperf3 -J: %v\n%s", err, ir.stdout)
	}
	mbit := res.End.SumReceived.BitsPerSecond / 1e6
	t.Logf("rate 10mbit: iperf3 TCP %.2f Mbit/s", mbit)
	if mbit < 7 || mbit > 11 {
		t.Errorf("--rate 10mbit: iperf3 TCP %.2f Mbit/s, want 7-11", mbit)
	}
	// The settings survive in the state: a restart would restore them.
	l.ctlJSON(&links, "link", "show", "b")
	if links[0].Out.Rate != 10_000_000 {
		t.Errorf("link show after --rate: %+v", links[0].Out)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
