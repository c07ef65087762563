//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// The switch verbs of vswitchctl as a user types them: show, fdb, port
// set, conntrack list's filters, log-level, the JSON of every listing
// (decoded strictly), and how every verb refuses bad input: one "Error:"
// line, a non-zero status, and nothing changed.

// cliOverview is what show --json prints.
type cliOverview struct {
	Networks  []control.Network  `json:"networks"`
	Ports     []control.Port     `json:"ports"`
	Endpoints []control.Endpoint `json:"endpoints"`
	Uplink    *control.Uplink    `json:"uplink"`
}

// cliVersions is what version --json prints.
type cliVersions struct {
	Client control.Version  `json:"client"`
	Server *control.Version `json:"server"`
}

// cliVeth makes a veth pair a/b, both up, in the lab namespace (the
// daemon's), for port add.
func cliVeth(t *testing.T, l *lab, a, b string) {
	t.Helper()
	for _, args := range [][]string{
		{"ip", "link", "add", a, "type", "veth", "peer", "name", b},
		{"ip", "link", "set", a, "up"},
		{"ip", "link", "set", b, "up"},
	} {
		if r := l.host(args...); r.code != 0 {
			t.Fatalf("%v in the lab: %v", args, r)
		}
	}
}

// cliPort returns ports --json's entry for name, decoded strictly.
func cliPort(t *testing.T, l *lab, name string) (control.Port, bool) {
	t.Helper()
	var ps []control.Port
	cliJSON(t, l, &ps, "ports")
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return control.Port{}, false
}

// cliStaticFDB returns the static MAC table entries (fdb show --json) as
// "VLAN MAC PORT" strings.
func cliStaticFDB(t *testing.T, l *lab) []string {
	t.Helper()
	var es []control.FDBEntry
	cliJSON(t, l, &es, "fdb", "show")
	var out []string
	for _, e := range es {
		if e.Static {
			out = append(out, fmt.Sprintf("%d %s %s", e.VLAN, e.MAC, e.Port))
		}
	}
	slices.Sort(out)
	return out
}

// TestPrivilegedSwitchCLIShow: show prints the networks, their endpoints,
// the ports and the uplink line; show --json decodes strictly.
func TestPrivilegedSwitchCLIShow(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "--vlan", "42", "--subnet", "10.42.0.0/24", "net42")
	l.mustCtl("network", "create", "--icc=false", "--internal", "quiet")
	l.mustCtl("run", "-d", "--net", "net42", "--name", "a", "--network-alias", "alias-a", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "quiet", "--name", "b", "--", "sh", "-c", "exit 0")
	cliVeth(t, l, "vtx0", "vtx1")
	l.mustCtl("port", "add", "vtx0", "--mode", "trunk", "--vlans", "10,20-22")
	eventually(t, 5*time.Second, func() error {
		if s := cliField(t, l, "b", "{{.State}}"); s != "exited" {
			return errorf("b: %s", s)
		}
		return nil
	})
	aIP := nicOn(t, l, "a", "net42")

	out := l.mustCtl("show")
	for _, want := range []string{
		"Network bridge\n    vlan: 1, subnet: 172.17.0.0/16, gateway: 172.17.0.1 (",
		"Network net42\n    vlan: 42, subnet: 10.42.0.0/24, gateway: 10.42.0.1 (",
		"internal, icc: false",
		"    Endpoint a\n        eth0: " + aIP.IP + " " + aIP.MAC + ", aliases: alias-a\n",
		"Port vswitch0\n    kind: internal, mode: routed\n",
		"Port a/eth0\n    kind: tap, endpoint: a (running), mode: access, vlan: 42\n",
		"Port b/eth0\n    kind: tap, endpoint: b (exited), mode: access, vlan: ",
		"Port vtx0\n    kind: system, mode: trunk, vlans: 10,20-22\n",
		"Uplink: none\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "Uplink: none\n") {
		t.Errorf("show does not end with the uplink line:\n%s", out)
	}
	var o cliOverview
	cliJSON(t, l, &o, "show")
	if len(o.Networks) != 3 || len(o.Endpoints) != 2 || o.Uplink != nil {
		t.Errorf("show --json: %d networks, %d endpoints, uplink %v", len(o.Networks), len(o.Endpoints), o.Uplink)
	}
	names := map[string]bool{}
	for _, p := range o.Ports {
		names[p.Name] = true
	}
	for _, want := range []string{"vswitch0", "a/eth0", "b/eth0", "vtx0"} {
		if !names[want] {
			t.Errorf("show --json has no port %s: %v", want, names)
		}
	}
}

// TestPrivilegedSwitchCLIFDB: static MAC table entries: add (by network
// or VLAN), show --json, del; bad MACs, unknown ports and networks are
// refused and change nothing; an entry goes with its port.
func TestPrivilegedSwitchCLIFDB(t *testing.T) {
	testutil.RequireTools(t, "ping")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	l.mustCtl("run", "-d", "--net", "n", "--name", "b")
	var nets []control.Network
	cliJSON(t, l, &nets, "network", "inspect", "n")
	v := nets[0].VLAN
	base := cliStaticFDB(t, l)

	const mac1, mac2 = "02:00:00:aa:bb:01", "02:00:00:aa:bb:02"
	if out := l.mustCtl("fdb", "add", mac1, "--port", "a/eth0", "--network", "n"); out != "" {
		t.Errorf("fdb add printed %q", out)
	}
	l.mustCtl("fdb", "add", strings.ToUpper(mac2), "--port", "b/eth0", "--vlan", strconv.Itoa(v))
	var es []control.FDBEntry
	cliJSON(t, l, &es, "fdb", "show")
	for _, want := range []control.FDBEntry{
		{VLAN: v, MAC: mac1, Port: "a/eth0", Static: true},
		{VLAN: v, MAC: mac2, Port: "b/eth0", Static: true},
	} {
		if !slices.Contains(es, want) {
			t.Errorf("fdb show --json lacks %+v:\n%+v", want, es)
		}
	}
	if out := l.mustCtl("fdb", "show"); !regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%s\s+a/eth0\s+static\s+-$`, v, mac1)).MatchString(out) {
		t.Errorf("fdb show has no static line for %s:\n%s", mac1, out)
	}
	// A static entry survives fdb flush.
	if out := l.mustCtl("fdb", "flush"); !strings.HasPrefix(out, "flushed ") {
		t.Errorf("fdb flush: %q", out)
	}
	withEntries := cliStaticFDB(t, l)
	if len(withEntries) != len(base)+2 {
		t.Errorf("static entries after flush: %v", withEntries)
	}
	// Traffic still flows between a and b.
	l.mustExec("a", "ping", "-c1", "-W2", "b")

	// Refused, changing nothing.
	for _, c := range [][]string{
		{"fdb", "add", "zz:zz:zz:zz:zz:zz", "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", "02:00:00:aa:bb", "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", "02:00:00:aa:bb:cc:dd:ee", "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", "ff:ff:ff:ff:ff:ff", "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", "01:00:5e:00:00:01", "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", nets[0].GatewayMAC, "--port", "a/eth0", "--network", "n"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "nosuch/eth0", "--network", "n"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "a/eth0", "--network", "nosuch"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "a/eth0"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "a/eth0", "--vlan", "0"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "a/eth0", "--vlan", "5000"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "a/eth0", "--vlan", "5", "--network", "n"},
		{"fdb", "add", "02:00:00:aa:bb:03", "--port", "vswitch0", "--vlan", "5"},
		{"fdb", "del", "zz", "--network", "n"},
		{"fdb", "del", "02:00:00:aa:bb:03", "--network", "n"},
		{"fdb", "del", mac1, "--network", "nosuch"},
		{"fdb", "del", mac1, "--vlan", strconv.Itoa(v + 1)},
	} {
		cliMustFail(t, strings.Join(c, " "), l.ctl(c...), 1)
		if got := cliStaticFDB(t, l); !slices.Equal(got, withEntries) {
			t.Errorf("%v changed the static entries: %v, were %v", c, got, withEntries)
		}
	}

	// Another endpoint's own MAC (which the switch assigned to its NIC)
	// on a's port would cut b off, as the gateway's MAC would the
	// router (which is refused).
	bMAC := nicOn(t, l, "b", "n").MAC
	if r := l.ctl("fdb", "add", bMAC, "--port", "a/eth0", "--network", "n"); cliFailed(r) != "" {
		cut := l.exec("a", "ping", "-c1", "-W1", "b").code != 0
		l.ctl("fdb", "del", bMAC, "--network", "n")
		t.Errorf("fdb add %s (b's own MAC, given to b/eth0 by the switch) --port a/eth0 was accepted (exit %d); "+
			"with it in place a's ping of b fails: %v", bMAC, r.code, cut)
	}
	// A VLAN the port does not carry.
	if r := l.ctl("fdb", "add", "02:00:00:aa:bb:04", "--port", "a/eth0", "--vlan", strconv.Itoa(v+7)); cliFailed(r) != "" {
		t.Errorf("fdb add on VLAN %d of access port a/eth0 (VLAN %d) was accepted: %v", v+7, v, r)
		l.ctl("fdb", "del", "02:00:00:aa:bb:04", "--vlan", strconv.Itoa(v+7))
	}

	// del by network and by VLAN.
	l.mustCtl("fdb", "del", mac1, "--network", "n")
	l.mustCtl("fdb", "rm", mac2, "--vlan", strconv.Itoa(v))
	if got := cliStaticFDB(t, l); !slices.Equal(got, base) {
		t.Errorf("static entries after del: %v, want %v", got, base)
	}
	cliMustFail(t, "fdb del of a deleted entry", l.ctl("fdb", "del", mac1, "--network", "n"), 1)

	// An entry goes with its port.
	l.mustCtl("fdb", "add", mac1, "--port", "a/eth0", "--network", "n")
	l.mustCtl("rm", "-f", "a")
	if got := cliStaticFDB(t, l); !slices.Equal(got, base) {
		t.Errorf("static entries after rm of their port's endpoint: %v, want %v", got, base)
	}
}

// TestPrivilegedSwitchCLIPortSet: a system port's VLANs change live with
// port set; endpoint and routed ports are refused; bad settings change
// nothing.
func TestPrivilegedSwitchCLIPortSet(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	cliVeth(t, l, "vtx0", "vtx1")
	if out := l.mustCtl("port", "add", "vtx0", "--mode", "access", "--vlan", "10"); out != "vtx0\n" {
		t.Errorf("port add printed %q", out)
	}
	type cfg struct {
		Mode     string
		VLAN     int
		VLANs    []int
		AllVLANs bool
	}
	get := func(name string) cfg {
		t.Helper()
		p, ok := cliPort(t, l, name)
		if !ok {
			t.Fatalf("ports --json has no %s", name)
		}
		if len(p.VLANs) == 0 {
			p.VLANs = nil
		}
		return cfg{p.Mode, p.VLAN, p.VLANs, p.AllVLANs}
	}
	if p, _ := cliPort(t, l, "vtx0"); p.Kind != "system" || p.Endpoint != "" || p.Routed {
		t.Errorf("vtx0: %+v, want a system port", p)
	}
	if got := get("vtx0"); !(got.Mode == "access" && got.VLAN == 10 && got.VLANs == nil && !got.AllVLANs) {
		t.Errorf("after port add --mode access --vlan 10: %+v", got)
	}
	for _, c := range []struct {
		args []string
		want cfg
	}{
		{[]string{"--mode", "trunk", "--vlans", "10,20"}, cfg{"trunk", 0, []int{10, 20}, false}},
		{[]string{"--mode", "trunk", "--vlans", "30-32,5"}, cfg{"trunk", 0, []int{5, 30, 31, 32}, false}},
		{[]string{"--mode", "trunk"}, cfg{"trunk", 0, nil, true}},
		{[]string{"--mode", "native-untagged", "--native", "5", "--vlans", "10"}, cfg{"native-untagged", 5, []int{5, 10}, false}},
		{[]string{"--mode", "access", "--vlan", "7"}, cfg{"access", 7, nil, false}},
		{[]string{"--mode", "trunk", "--vlans", "10,20"}, cfg{"trunk", 0, []int{10, 20}, false}},
	} {
		out := l.mustCtl(append([]string{"port", "set", "vtx0"}, c.args...)...)
		if out != "vtx0\n" {
			t.Errorf("port set %v printed %q", c.args, out)
		}
		got := get("vtx0")
		slices.Sort(got.VLANs)
		if want := c.want; got.Mode != want.Mode || got.VLAN != want.VLAN || got.AllVLANs != want.AllVLANs ||
			!slices.Equal(got.VLANs, want.VLANs) && !(want.Mode == "native-untagged" && slices.Equal(got.VLANs, []int{10})) {
			t.Errorf("after port set vtx0 %v: %+v, want %+v", c.args, got, want)
		}
	}
	if out := l.mustCtl("ports"); !regexp.MustCompile(`(?m)^\d+\s+vtx0\s+system\s+-\s+trunk\s+-\s+10,20\s`).MatchString(out) {
		t.Errorf("ports does not show vtx0 as a trunk of 10,20:\n%s", out)
	}

	before := get("vtx0")
	aBefore := get("a/eth0")
	for _, c := range [][]string{
		{"port", "set", "a/eth0", "--mode", "trunk", "--vlans", "10"},
		{"port", "set", "vswitch0", "--mode", "access", "--vlan", "3"},
		{"port", "set", "nosuch", "--mode", "access", "--vlan", "3"},
		{"port", "set", "vtx0", "--mode", "bogus"},
		{"port", "set", "vtx0", "--mode", "access"},
		{"port", "set", "vtx0", "--mode", "access", "--vlan", "0"},
		{"port", "set", "vtx0", "--mode", "access", "--vlan", "4095"},
		{"port", "set", "vtx0", "--mode", "trunk", "--vlans", "10,5000"},
		{"port", "set", "vtx0", "--mode", "trunk", "--vlans", "ten"},
		{"port", "set", "vtx0", "--mode", "trunk", "--vlan", "7"},
		{"port", "set", "vtx0"},
		{"port", "add", "vtx0", "--mode", "access", "--vlan", "11"},
		{"port", "add", "nosuch0", "--mode", "access", "--vlan", "11"},
		{"port", "del", "a/eth0"},
		{"port", "del", "nosuch"},
	} {
		cliMustFail(t, strings.Join(c, " "), l.ctl(c...), 1)
		if got := get("vtx0"); got.Mode != before.Mode || !slices.Equal(got.VLANs, before.VLANs) {
			t.Errorf("%v changed vtx0: %+v, was %+v", c, got, before)
		}
		if got := get("a/eth0"); got.Mode != aBefore.Mode || got.VLAN != aBefore.VLAN {
			t.Errorf("%v changed a/eth0: %+v, was %+v", c, got, aBefore)
		}
	}
	if !strings.Contains(l.ctl("port", "set", "a/eth0", "--mode", "trunk").stderr, "not a system port") {
		t.Error("port set of an endpoint port does not say why it is refused")
	}

	l.mustCtl("port", "del", "vtx0")
	if _, ok := cliPort(t, l, "vtx0"); ok {
		t.Error("vtx0 is still a port after port del")
	}
	if r := l.host("ip", "link", "show", "vtx0"); r.code != 0 {
		t.Errorf("port del removed the interface itself: %v", r)
	}
	l.host("ip", "link", "del", "vtx0")
}

// TestPrivilegedSwitchCLIConntrack: conntrack list and its filters on a
// connection from an endpoint to the host (through the gateway) and to a
// published port of another network; conntrack count.
func TestPrivilegedSwitchCLIConntrack(t *testing.T) {
	testutil.RequireTools(t, "nc", "socat", "ss")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("network", "create", "n2")
	l.mustCtl("run", "-d", "--net", "n", "--name", "e")
	l.mustCtl("run", "-d", "--net", "n2", "--name", "web", "-p", "80", "--", "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo from-web")
	startProcess(t, "ip", "netns", "exec", l.name, "socat", "TCP-LISTEN:7788,fork,reuseaddr", "SYSTEM:sleep 20")
	waitListening(t, l.host, "tcp", 7788)
	waitListening(t, l.epRunner("web"), "tcp", 80)
	gw := gateway(t, l, "n")
	eIP := nicOn(t, l, "e", "n").IP
	var eps []control.Endpoint
	cliJSON(t, l, &eps, "inspect", "web")
	hp := cliHostPort(t, eps[0].Ports, 80)

	var cs []control.Conn
	cliJSON(t, l, &cs, "conntrack", "list")
	if len(cs) != 0 {
		t.Errorf("conntrack list before any traffic: %+v", cs)
	}
	// A connection that stays open (the host's side sleeps), and one that
	// is done.
	l.mustCtl("exec", "-d", "e", "--", "sh", "-c", "sleep 20 | nc "+gw+" 7788")
	if r := l.exec("e", "nc", "-w", "3", "host.vswitchd.internal", strconv.Itoa(hp)); strings.TrimSpace(r.stdout) != "from-web" {
		t.Fatalf("nc host.vswitchd.internal %d from e: %v", hp, r)
	}
	isHost := func(c control.Conn) bool {
		return c.Proto == "tcp" && c.Zone == "n" && c.ReplyZone == "host" && c.Orig.Src == eIP && c.Orig.Dst == gw &&
			c.Orig.DstPort == 7788 && c.Reply.Src == "169.254.127.1" && c.Reply.SrcPort == 7788 && c.Reply.Dst == eIP
	}
	isPub := func(c control.Conn) bool {
		return c.Proto == "tcp" && c.Zone == "n" && c.ReplyZone == "n2" && c.Orig.Src == eIP && c.Orig.DstPort == hp &&
			c.Reply.SrcPort == 80 && c.Reply.Dst == eIP
	}
	eventually(t, 5*time.Second, func() error {
		cliJSON(t, l, &cs, "conntrack", "list", "-p", "tcp", "--state", "ESTABLISHED")
		if !slices.ContainsFunc(cs, isHost) {
			return errorf("conntrack list -p tcp --state ESTABLISHED has no e -> %s:7788 (zone n, reply zone host): %+v", gw, cs)
		}
		return nil
	})
	for _, c := range cs {
		if c.Proto != "tcp" || c.State != "ESTABLISHED" {
			t.Errorf("--state ESTABLISHED -p tcp listed %+v", c)
		}
	}
	if c := cs[slices.IndexFunc(cs, isHost)]; !c.Assured || c.Packets == 0 || c.Timeout <= 0 || c.ZoneID == c.ReplyZoneID {
		t.Errorf("the established connection: %+v", c)
	}

	filter := func(args ...string) []control.Conn {
		t.Helper()
		var cs []control.Conn
		cliJSON(t, l, &cs, append([]string{"conntrack", "list"}, args...)...)
		return cs
	}
	all := filter("-p", "tcp")
	if !slices.ContainsFunc(all, isHost) || !slices.ContainsFunc(all, isPub) {
		t.Errorf("conntrack list -p tcp lacks a connection: %+v", all)
	}
	for _, c := range filter("-p", "udp") {
		if c.Proto != "udp" {
			t.Errorf("-p udp listed %+v", c)
		}
	}
	for _, c := range filter("-p", "UDP") {
		if c.Proto != "udp" {
			t.Errorf("-p UDP listed %+v", c)
		}
	}
	got := filter("--port", "7788")
	if !slices.ContainsFunc(got, isHost) || slices.ContainsFunc(got, isPub) {
		t.Errorf("--port 7788: %+v", got)
	}
	got = filter("--port", "80")
	if !slices.ContainsFunc(got, isPub) || slices.ContainsFunc(got, isHost) {
		t.Errorf("--port 80 (the published connection's reply port): %+v", got)
	}
	got = filter("-w", "n2")
	if !slices.ContainsFunc(got, isPub) || slices.ContainsFunc(got, isHost) {
		t.Errorf("-w n2: %+v", got)
	}
	got = filter("--zone", "host")
	if !slices.ContainsFunc(got, isHost) || slices.ContainsFunc(got, isPub) {
		t.Errorf("--zone host: %+v", got)
	}
	got = filter("-w", "n")
	if !slices.ContainsFunc(got, isHost) || !slices.ContainsFunc(got, isPub) {
		t.Errorf("-w n: %+v", got)
	}
	got = filter("-s", eIP, "-d", gw, "--state", "established")
	if !slices.ContainsFunc(got, isHost) || slices.ContainsFunc(got, isPub) {
		t.Errorf("-s %s -d %s --state established: %+v", eIP, gw, got)
	}
	if got := filter("-w", "bridge"); len(got) != 0 {
		t.Errorf("-w bridge (no traffic): %+v", got)
	}

	// The text form, as conntrack -L.
	r := l.ctl("conntrack", "list", "-p", "tcp", "--port", "7788")
	if r.code != 0 || !strings.Contains(r.stdout, "ESTABLISHED src="+eIP+" dst="+gw) ||
		!strings.Contains(r.stdout, "dport=7788") || !strings.Contains(r.stdout, "zone=n reply-zone=host") ||
		!strings.Contains(r.stderr, "flow entries have been shown") {
		t.Errorf("conntrack list -p tcp --port 7788: %v", r)
	}

	out := strings.TrimSpace(l.mustCtl("conntrack", "count"))
	if n, err := strconv.Atoi(out); err != nil || n < 2 {
		t.Errorf("conntrack count: %q, want a number of at least 2", out)
	}
	var cnt control.ConntrackCount
	cliJSON(t, l, &cnt, "conntrack", "count")
	if cnt.Count < 2 || cnt.Max != 262144 {
		t.Errorf("conntrack count --json: %+v", cnt)
	}
	for _, c := range [][]string{
		{"conntrack", "list", "--state", "OPEN"},
		{"conntrack", "list", "-p", "sctp"},
		{"conntrack", "list", "--port", "0"},
		{"conntrack", "list", "--port", "65536"},
		{"conntrack", "list", "-s", "not-an-ip"},
		{"conntrack", "list", "-d", "300.1.1.1"},
	} {
		cliMustFail(t, strings.Join(c, " "), l.ctl(c...), 1)
	}
}

// TestPrivilegedSwitchCLILogLevel: log-level shows and changes the
// daemon's level at run time.
func TestPrivilegedSwitchCLILogLevel(t *testing.T) {
	l := startLab(t, labOptions{})
	if out := strings.TrimSpace(l.mustCtl("log-level")); out != "debug" {
		t.Errorf("log-level of a daemon started with --log-level debug: %q", out)
	}
	if out := l.mustCtl("log-level", "warn"); out != "warn\n" {
		t.Errorf("log-level warn printed %q", out)
	}
	if out := l.mustCtl("log-level"); out != "warn\n" {
		t.Errorf("log-level after warn: %q", out)
	}
	for _, c := range [][]string{{"log-level", "bogus"}, {"log-level", "info", "warn"}, {"log-level", ""}} {
		cliMustFail(t, strings.Join(c, " "), l.ctl(c...), 1)
		if out := l.mustCtl("log-level"); out != "warn\n" {
			t.Errorf("%v changed the level to %q", c, out)
		}
	}
	var lv control.LogLevel
	cliJSON(t, l, &lv, "log-level", "error")
	if lv.Level != "error" {
		t.Errorf("log-level error --json: %+v", lv)
	}
	cliJSON(t, l, &lv, "log-level")
	if lv.Level != "error" {
		t.Errorf("log-level --json: %+v", lv)
	}
	for _, lvl := range []string{"info", "debug"} {
		if out := l.mustCtl("log-level", lvl); out != lvl+"\n" {
			t.Errorf("log-level %s printed %q", lvl, out)
		}
	}
}

// TestPrivilegedSwitchCLIJSON: every listing's --json decodes strictly
// into its control type (no unknown field, none missing), empty lists
// are [], no uplink is null.
func TestPrivilegedSwitchCLIJSON(t *testing.T) {
	testutil.RequireTools(t, "nc")
	l := startLab(t, labOptions{})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "-a", "--json"}, "[]"},
		{[]string{"ps", "--json"}, "[]"},
		{[]string{"conntrack", "list", "--json"}, "[]"},
		{[]string{"uplink", "show", "--json"}, "null"},
		{[]string{"network", "prune", "-f", "--json"}, `{"removed":[]}`},
	} {
		out := l.mustCtl(c.args...)
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(out)); err != nil || compact.String() != c.want {
			t.Errorf("%v on an empty switch: %q (%v), want %s", c.args, out, err, c.want)
		}
	}

	// Something of everything.
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "full", "--network-alias", "al", "-p", "80", "--dns", "192.0.2.53",
		"--add-host", "foo:10.9.9.9", "-e", "K=V", "--restart", "on-failure:1", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "n", "--name", "done", "--", "sh", "-c", "exit 2")
	l.mustCtl("run", "-d", "--name", "bare")
	l.mustCtl("run", "-d", "--name", "tr", "--trunk", "--vlans", "10,20")
	cliVeth(t, l, "vtx0", "vtx1")
	l.mustCtl("port", "add", "vtx0", "--mode", "trunk", "--vlans", "10,20")
	l.mustCtl("fdb", "add", "02:00:00:aa:bb:01", "--port", "vtx0", "--vlan", "10")
	// A conntrack entry: a UDP datagram to the gateway, translated to the
	// host (a refused TCP SYN would leave none: an RST before any reply
	// ends its connection at once, as in Linux).
	l.exec("full", "sh", "-c", "echo x | nc -u -w 1 "+gateway(t, l, "n")+" 9")
	eventually(t, 5*time.Second, func() error {
		if s := cliField(t, l, "done", "{{.State}}"); s != "exited" {
			return errorf("done: %s", s)
		}
		return nil
	})

	var es []control.Endpoint
	cliJSON(t, l, &es, "ps", "-a")
	if len(es) != 4 {
		t.Errorf("ps -a --json: %d endpoints, want 4", len(es))
	}
	for _, e := range es {
		switch e.Name {
		case "full":
			if e.State != control.StateRunning || e.ExitCode != nil || e.PID == 0 || e.StartedAt == nil || len(e.Ports) != 1 ||
				!slices.Equal(e.NICs[0].Aliases, []string{"al"}) || e.RestartPolicy != "on-failure:1" || !slices.Contains(e.Env, "K=V") {
				t.Errorf("full: %+v", e)
			}
		case "done":
			if e.State != control.StateExited || e.ExitCode == nil || *e.ExitCode != 2 || e.PID != 0 || e.FinishedAt == nil {
				t.Errorf("done: %+v", e)
			}
		case "tr":
			if len(e.NICs) != 1 || e.NICs[0].Mode != "trunk" || !slices.Equal(e.NICs[0].VLANs, []int{10, 20}) {
				t.Errorf("tr: %+v", e.NICs)
			}
		}
	}
	cliJSON(t, l, &es, "ps")
	cliJSON(t, l, &es, "inspect", "full", "done", "bare", "tr")
	var ns []control.Network
	cliJSON(t, l, &ns, "network", "ls")
	cliJSON(t, l, &ns, "network", "inspect", "n", "bridge")
	var ps []control.Port
	cliJSON(t, l, &ps, "ports")
	for _, p := range ps {
		if p.Name == "vtx0" && !slices.Equal(p.VLANs, []int{10, 20}) {
			t.Errorf("ports --json vtx0 vlans: %v", p.VLANs)
		}
	}
	var cs []control.Conn
	cliJSON(t, l, &cs, "conntrack", "list")
	if len(cs) == 0 {
		t.Error("conntrack list --json: no connection")
	}
	var cnt control.ConntrackCount
	cliJSON(t, l, &cnt, "conntrack", "count")
	var fdb []control.FDBEntry
	cliJSON(t, l, &fdb, "fdb", "show")
	if !slices.Contains(fdb, control.FDBEntry{VLAN: 10, MAC: "02:00:00:aa:bb:01", Port: "vtx0", Static: true}) {
		t.Errorf("fdb show --json: %+v", fdb)
	}
	var up *control.Uplink
	cliJSON(t, l, &up, "uplink", "show")
	if up != nil {
		t.Errorf("uplink show --json: %+v, want null", up)
	}
	if out := l.mustCtl("uplink", "show"); out != "no uplink\n" {
		t.Errorf("uplink show: %q", out)
	}
	var v cliVersions
	cliJSON(t, l, &v, "version")
	if v.Server == nil || v.Client.API != "v1" || v.Server.API != "v1" || v.Client.Version == "" || v.Server.Version != v.Client.Version {
		t.Errorf("version --json: %+v %+v", v.Client, v.Server)
	}
	var st control.Stats
	cliJSON(t, l, &st, "stats")
	var nat control.NATRules
	cliJSON(t, l, &nat, "nat", "show")
	if len(nat.Published) != 1 || nat.Published[0].Endpoint != "full" {
		t.Errorf("nat show --json: %+v", nat)
	}
	var top control.Top
	cliJSON(t, l, &top, "top", "full")
	var lv control.LogLevel
	cliJSON(t, l, &lv, "log-level")
	var o cliOverview
	cliJSON(t, l, &o, "show")
	var pr control.NetworkPrune
	l.mustCtl("network", "create", "spare")
	cliJSON(t, l, &pr, "network", "prune", "-f")
	if !slices.Equal(pr.Removed, []string{"spare"}) {
		t.Errorf("network prune -f --json: %+v", pr)
	}
}

// cliState is what a refused request must not change: ps -a --json (but
// each endpoint's Status, which says how long ago) and network ls --json
// as vswitchctl prints them, and through the API the static MAC entries,
// the ports' VLAN settings, the published ports, the log level and the
// uplink.
func cliState(t *testing.T, l *lab) string {
	t.Helper()
	var es []control.Endpoint
	cliJSON(t, l, &es, "ps", "-a")
	for i := range es {
		es[i].Status = ""
	}
	var ns []control.Network
	cliJSON(t, l, &ns, "network", "ls")
	ctx := context.Background()
	var ports, fdb []string
	ps, err := l.client.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		ports = append(ports, fmt.Sprintf("%s %s %s %d %v %v", p.Name, p.Kind, p.Mode, p.VLAN, p.VLANs, p.AllVLANs))
	}
	entries, err := l.client.FDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Static {
			fdb = append(fdb, fmt.Sprintf("%d %s %s", e.VLAN, e.MAC, e.Port))
		}
	}
	slices.Sort(fdb)
	nat, err := l.client.NAT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := l.client.GetLogLevel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up, err := l.client.Uplink(ctx)
	b, err := json.Marshal([]any{es, ns, ports, fdb, nat, lv, up, err == nil})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrivilegedSwitchCLIBadInput: every verb given an unknown endpoint,
// network or port, a bad value or flag, or a stopped endpoint where it
// needs a running one exits non-zero with exactly one "Error:" line and
// changes nothing.
func TestPrivilegedSwitchCLIBadInput(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "up", "-p", "80", "--", "sleep", "300")
	l.mustCtl("run", "-d", "--net", "n", "--name", "down", "--", "sleep", "300")
	l.mustCtl("stop", "-t", "0", "down")
	cliVeth(t, l, "vtx0", "vtx1")
	l.mustCtl("port", "add", "vtx0", "--mode", "trunk", "--vlans", "10,20")
	l.mustCtl("fdb", "add", "02:00:00:aa:bb:01", "--port", "vtx0", "--vlan", "10")
	var eps []control.Endpoint
	cliJSON(t, l, &eps, "inspect", "up")
	upIP, hp := eps[0].NICs[0].IP, eps[0].Ports[0].HostPort
	const mac = "02:00:00:aa:bb:09"

	before := cliState(t, l)
	cases := [][]string{
		// endpoints
		{"stop", "nosuch"}, {"start", "nosuch"}, {"restart", "nosuch"}, {"kill", "nosuch"},
		{"kill", "down"}, {"kill", "-s", "BOGUS", "up"}, {"kill", "-s", "99", "up"},
		{"stop", "-t", "-1", "up"}, {"restart", "-t", "x", "up"}, {"stop", "--bogus", "up"},
		{"top", "nosuch"}, {"top"}, {"logs", "nosuch"}, {"logs", "--tail", "x", "up"},
		{"exec", "nosuch", "true"}, {"exec", "up"}, {"exec", "-d", "-t", "up", "true"},
		{"inspect", "nosuch"}, {"inspect", "-f", "{{.NoSuchField}}", "up"},
		{"rm", "nosuch"}, {"rm", "up"},
		{"publish", "nosuch", "80"}, {"publish", "up", "99999"}, {"publish", "up", "abc"},
		{"publish", "up", fmt.Sprintf("%d:81", hp)}, {"unpublish", "up", "81"}, {"unpublish", "nosuch", "80"},
		{"ps", "--filter", "bogus=1"}, {"ps", "--filter", "status=dead"}, {"ps", "--bogus"},
		// run
		{"run", "-d", "--name", "x", "--net", "nosuch"}, {"run", "-d", "--name", "up"},
		{"run", "-d", "--name", "bad name"}, {"run", "-d", "--name", "x", "--restart", "bogus"},
		{"run", "-d", "--name", "x", "-p", "70000"}, {"run", "-d", "--name", "x", "--net", "n", "--ip", "10.0.0.1"},
		{"run", "-d", "--name", "x", "--net", "n", "--ip", upIP}, {"run", "-d", "--name", "x", "--dns", "nope"},
		{"run", "-d", "--name", "x", "--add-host", "nocolon"}, {"run", "-d", "--name", "x", "-P"},
		{"run", "-d", "--name", "x", "--net", "n", "-p", fmt.Sprintf("%d:80", hp)},
		{"run", "-d", "--name", "x", "--net", "n", "--", "no-such-command-xyz"},
		// networks
		{"network", "inspect", "nosuch"}, {"network", "rm", "nosuch"}, {"network", "rm", "bridge"}, {"network", "rm", "n"},
		{"network", "create", "n"}, {"network", "create", "--vlan", "0", "x"}, {"network", "create", "--vlan", "4095", "x"},
		{"network", "create", "--subnet", "bogus", "x"}, {"network", "create", "--icc=maybe", "x"},
		{"network", "create", "--subnet", "172.17.5.0/24", "x"}, {"network", "create", "bad name"},
		{"network", "connect", "nosuch", "up"}, {"network", "connect", "n", "nosuch"}, {"network", "connect", "n", "up"},
		{"network", "disconnect", "n", "nosuch"}, {"network", "disconnect", "bridge", "up"}, {"network", "prune"},
		{"network", "bogus"},
		// switch
		{"fdb", "add", mac, "--port", "nosuch", "--vlan", "10"}, {"fdb", "add", mac, "--port", "vtx0", "--network", "nosuch"},
		{"fdb", "add", "zz", "--port", "vtx0", "--vlan", "10"}, {"fdb", "add", mac, "--port", "vtx0"},
		{"fdb", "del", mac, "--vlan", "10"}, {"fdb", "del", mac, "--network", "nosuch"}, {"fdb", "bogus"},
		{"port", "add", "nosuch0", "--mode", "access", "--vlan", "5"}, {"port", "add", "vtx1", "--mode", "bogus"},
		{"port", "set", "nosuch", "--mode", "access", "--vlan", "5"}, {"port", "set", "up/eth0", "--mode", "trunk"},
		{"port", "set", "vtx0", "--mode", "trunk", "--vlans", "1-5000"}, {"port", "del", "nosuch"}, {"port", "del", "up/eth0"},
		{"uplink", "set", "nosuch0", "--address", "203.0.113.2/24"}, {"uplink", "set", "vtx1", "--address", "bogus"},
		{"uplink", "del"},
		{"conntrack", "list", "--state", "OPEN"}, {"conntrack", "list", "-p", "sctp"}, {"conntrack", "list", "--port", "0"},
		{"conntrack", "list", "-s", "x"}, {"conntrack", "list", "-w", "nosuch"},
		{"log-level", "bogus"}, {"bogusverb"},
		// input that parses but makes no sense (#15)
		{"network", "create", "--subnet", "127.1.0.0/16", "x"}, {"network", "create", "--subnet", "0.0.0.0/16", "x"},
		{"network", "create", "--subnet", "224.1.0.0/16", "x"}, {"network", "create", "--subnet", "240.1.0.0/16", "x"},
		{"uplink", "set", "lo", "--address", "203.0.113.2/24"}, {"uplink", "set", "vtx1", "--address", "169.254.127.1/30"},
		{"uplink", "set", "vtx1", "--address", "203.0.113.0/24"}, {"uplink", "set", "vtx1", "--address", "203.0.113.255/24"},
		{"uplink", "set", "vtx1", "--address", "203.0.113.2/24", "--gateway", "203.0.113.255"},
		{"run", "-d", "--name", "x", "--net", "n", "--alias", "down"},
		{"run", "-d", "--name", "x", "--net", "n", "--alias", "host.vswitchd.internal"},
		{"run", "-d", "--name", "x", "--net", "n", "--alias", "host.docker.internal"},
		{"run", "-d", "--name", "x", "--net", "n", "--alias", "gateway.docker.internal"},
		{"network", "connect", "--alias", "up", "bridge", "down"},
		{"network", "disconnect", "n", "up"},
		append([]string{"run", "-d", "--name", "x", "--net", "n"}, manyAliasFlags(65)...),
	}
	for _, c := range cases {
		r := l.ctl(c...)
		cliMustFail(t, strings.Join(c, " "), r, 0)
		if after := cliState(t, l); after != before {
			t.Errorf("%v changed the state:\nbefore %s\nafter  %s", c, before, after)
			before = after
		}
	}
	if got := cliField(t, l, "down", "{{.State}}"); got != "exited" {
		t.Errorf("down: %s", got)
	}
	// JSON with trailing garbage, straight to the socket.
	status, body := rawPost(t, l.socket, "/v1/networks", `{"name":"x"} {"name":"y"}`)
	if status != 400 || !strings.Contains(body, `"message"`) {
		t.Errorf("network create with trailing garbage = %d %s, want 400 and a JSON error", status, body)
	}
	if after := cliState(t, l); after != before {
		t.Errorf("a body with trailing garbage changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// manyAliasFlags returns n --alias flags with distinct names.
func manyAliasFlags(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "--alias", fmt.Sprintf("a%d", i))
	}
	return out
}

// rawPost sends body to the API at socket as a POST of path, bypassing the
// client, and returns the status and body.
func rawPost(t *testing.T, socket, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := hc.Post("http://vswitchd"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
