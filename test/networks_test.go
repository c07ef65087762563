//go:build linux

package test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// walkthrough builds the networks part of the user story.
func walkthrough(t *testing.T, l *lab) {
	t.Helper()
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "apple-server")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "orange-server")
	l.mustCtl("network", "create", "applesonly")
	l.mustCtl("network", "connect", "applesonly", "apple-server")
	l.mustCtl("run", "-d", "--net", "applesonly", "--name", "red-apple")
}

func gateway(t *testing.T, l *lab, network string) string {
	t.Helper()
	n, err := l.client.Network(context.Background(), network)
	if err != nil {
		t.Fatal(err)
	}
	return n.Gateway
}

func nicOn(t *testing.T, l *lab, endpoint, network string) control.NIC {
	t.Helper()
	for _, n := range l.endpoint(endpoint).NICs {
		if n.Network == network {
			return n
		}
	}
	t.Fatalf("%s has no NIC on %s", endpoint, network)
	return control.NIC{}
}

// TestPrivilegedWalkthroughNetworks is the Docker walkthrough: red-apple on
// applesonly reaches apple-server but not orange-server.
func TestPrivilegedWalkthroughNetworks(t *testing.T) {
	testutil.RequireTools(t, "ping")
	l := startLab(t, labOptions{})
	walkthrough(t, l)

	l.mustExec("apple-server", "ping", "-c1", "-W2", "orange-server")
	l.mustExec("red-apple", "ping", "-c1", "-W2", "apple-server")
	if r := l.exec("red-apple", "ping", "-c1", "-W1", "orange-server"); r.code == 0 {
		t.Fatalf("red-apple reached orange-server by name: %v", r)
	}
	orangeIP := nicOn(t, l, "orange-server", "test-network").IP
	if r := l.exec("red-apple", "ping", "-c1", "-W1", orangeIP); r.code == 0 {
		t.Fatalf("red-apple reached orange-server's address %s: %v", orangeIP, r)
	}
	// apple-server has two NICs and its default route on the first.
	if out := l.mustExec("apple-server", "ip", "route", "show", "default"); !strings.Contains(out, "dev eth0") {
		t.Errorf("apple-server default route: %q, want dev eth0", out)
	}
	// Every endpoint reaches its gateway.
	for ep, net := range map[string]string{"apple-server": "test-network", "red-apple": "applesonly"} {
		l.mustExec(ep, "ping", "-c1", "-W2", gateway(t, l, net))
	}
	// The isolation drop was the router's decision, and counted.
	var st control.Stats
	l.ctlJSON(&st, "stats")
	if st.Router["drop-isolation"] == 0 {
		t.Errorf("router stats show no isolation drop: %v", st.Router)
	}
	// inspect shows what the issue asks for.
	out := l.mustCtl("network", "inspect", "applesonly")
	for _, want := range []string{"Subnet:", "Gateway:", "VLAN:", "apple-server", "red-apple", nicOn(t, l, "red-apple", "applesonly").MAC, "host.vswitchd.internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("network inspect applesonly lacks %q:\n%s", want, out)
		}
	}
}

// TestPrivilegedDNS checks the switch's DNS at the gateway: local names,
// NXDOMAIN at once, scoping, TCP, and forwarding to an upstream running in a
// test namespace.
func TestPrivilegedDNS(t *testing.T) {
	testutil.RequireTools(t, "dig", "dnsmasq")
	l := startLab(t, labOptions{args: []string{"--dns-upstream", "10.254.0.2"}})
	up := l.newPeer(t, "dnsup", "veth-dns", "10.254.0.1/30", "eth0", "10.254.0.2/30")
	up.start(t, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--listen-address=10.254.0.2",
		"--bind-interfaces", "--address=/example.test/192.0.2.55", "--pid-file=")
	waitListening(t, up.run, "udp", 53)
	walkthrough(t, l)
	gw := gateway(t, l, "applesonly")
	appleIP := nicOn(t, l, "apple-server", "applesonly").IP

	dig := func(args ...string) string {
		return strings.TrimSpace(l.mustExec("red-apple", append([]string{"dig", "+tries=1", "+time=3", "@" + gw}, args...)...))
	}
	if got := dig("+short", "apple-server"); got != appleIP {
		t.Errorf("dig apple-server = %q, want %s", got, appleIP)
	}
	if got := dig("+short", "apple-server.applesonly"); got != appleIP {
		t.Errorf("dig apple-server.applesonly = %q, want %s", got, appleIP)
	}
	if got := dig("+short", "+tcp", "apple-server"); got != appleIP {
		t.Errorf("dig +tcp apple-server = %q, want %s", got, appleIP)
	}
	// A name under the network (or vswitchd.internal) that is not
	// known: NXDOMAIN at once, with the zone's SOA.
	for _, name := range []string{"nosuchname.applesonly", "nosuch.vswitchd.internal"} {
		start := time.Now()
		if got := dig(name); !strings.Contains(got, "status: NXDOMAIN") || !strings.Contains(got, "SOA") {
			t.Errorf("dig %s:\n%s\nwant NXDOMAIN with an SOA", name, got)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("NXDOMAIN for %s took %v, want it at once", name, d)
		}
	}
	// Other single-label names are forwarded, as Docker's resolver does:
	// this upstream (dnsmasq with no servers) refuses them, and its
	// answer is passed on. Another network's names are not local here.
	for _, name := range []string{"nosuchname", "orange-server"} {
		if got := dig(name); !strings.Contains(got, "status: REFUSED") {
			t.Errorf("dig %s from applesonly:\n%s\nwant the upstream's REFUSED (forwarded: not a local name)", name, got)
		}
	}
	if got := dig("orange-server.test-network"); !strings.Contains(got, "status: REFUSED") && !strings.Contains(got, "status: NXDOMAIN") {
		t.Errorf("dig orange-server.test-network from applesonly:\n%s\nwant no answer (another network's name)", got)
	}
	if got := dig("+short", "www.example.test"); got != "192.0.2.55" {
		t.Errorf("dig www.example.test (forwarded to the test upstream) = %q, want 192.0.2.55", got)
	}
	if got := dig("+short", "host.vswitchd.internal"); got != "169.254.127.1" {
		t.Errorf("dig host.vswitchd.internal = %q, want 169.254.127.1", got)
	}
	// Names change live.
	l.mustCtl("run", "-d", "--net", "applesonly", "--name", "green-apple", "--alias", "granny")
	greenIP := nicOn(t, l, "green-apple", "applesonly").IP
	if got := dig("+short", "granny"); got != greenIP {
		t.Errorf("dig granny (alias) = %q, want %s", got, greenIP)
	}
	l.mustCtl("rm", "green-apple")
	if got := dig("green-apple.applesonly"); !strings.Contains(got, "NXDOMAIN") {
		t.Errorf("dig green-apple.applesonly after rm:\n%s", got)
	}
	// An endpoint on two networks sees the names of both.
	if got := strings.TrimSpace(l.mustExec("apple-server", "dig", "+short", "red-apple")); got != nicOn(t, l, "red-apple", "applesonly").IP {
		t.Errorf("apple-server: dig red-apple = %q", got)
	}
}

// TestPrivilegedDNSNoUpstream: without an upstream, other names fail fast.
func TestPrivilegedDNSNoUpstream(t *testing.T) {
	testutil.RequireTools(t, "dig")
	l := startLab(t, labOptions{args: []string{"--dns-upstream", "10.254.9.9"}}) // unreachable
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "c")
	start := time.Now()
	out := l.exec("c", "dig", "+tries=1", "+time=5", "www.example.test").stdout
	if !strings.Contains(out, "SERVFAIL") {
		t.Errorf("dig with a dead upstream:\n%s\nwant SERVFAIL", out)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("SERVFAIL took %v", d)
	}
}

// TestPrivilegedARPSuppressionAndSpoofing: the switch answers ARP for
// addresses it assigned without bothering the owner, sends a gratuitous ARP
// when an endpoint comes up, and drops forged frames.
func TestPrivilegedARPSuppressionAndSpoofing(t *testing.T) {
	testutil.RequireTools(t, "arping", "tcpdump", "ping")
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	apple := nicOn(t, l, "apple-server", "applesonly")
	red := nicOn(t, l, "red-apple", "applesonly")
	net24 := apple.IP[:strings.LastIndex(apple.IP, ".")+1] // applesonly's addresses: net24 + host

	// Suppression: red-apple asks for apple-server's address; the answer
	// comes from the switch and apple-server's port sends nothing.
	before := l.ports()[apple.Port].TxFrames
	out := l.mustExec("red-apple", "arping", "-c", "1", "-i", "eth0", apple.IP)
	if !strings.Contains(strings.ToLower(out), strings.ToLower(apple.MAC)) {
		t.Fatalf("arping %s:\n%s\nwant a reply with %s", apple.IP, out, apple.MAC)
	}
	if after := l.ports()[apple.Port].TxFrames; after != before {
		t.Errorf("apple-server's port sent %d frames during the ARP exchange, want 0 (suppressed)", after-before)
	}
	var st control.Stats
	l.ctlJSON(&st, "stats")
	if st.Router["arp-suppressed"] == 0 {
		t.Errorf("router stats show no suppressed ARP: %v", st.Router)
	}

	// Gratuitous ARP when an endpoint comes up.
	cap := l.execStart(t, "red-apple", "tcpdump", "-n", "-l", "-c", "1", "-i", "eth0", "arp and arp[6:2] = 1 and arp[14:4] = arp[24:4]")
	time.Sleep(500 * time.Millisecond)
	l.mustCtl("run", "-d", "--net", "applesonly", "--name", "new-apple", "--ip", net24+"50")
	if out := cap.wait(t, 10*time.Second); !strings.Contains(out, net24+"50") {
		t.Errorf("no gratuitous ARP for %s50 seen by red-apple:\n%s", net24, out)
	}

	// Spoofing: red-apple forges an ARP reply saying apple-server's address
	// is at red-apple's MAC; apple-server... is the victim's peer green.
	l.mustExec("apple-server", "ping", "-c1", "-W2", red.IP) // apple knows red
	spoofedBefore := spoofDrops(t, l, red.Port)
	redMAC, appleMAC := mustMAC(t, red.MAC), mustMAC(t, apple.MAC)
	forged := arpFrame(t, layers.ARPReply, redMAC, appleMAC, net24+"50", apple.IP, appleMAC)
	sendRaw(t, l.prefix+"red-apple", "eth0", forged)
	// A frame with another MAC, and one with another IP.
	otherMAC := mustMAC(t, "02:00:00:00:be:ef")
	sendRaw(t, l.prefix+"red-apple", "eth0", arpFrame(t, layers.ARPRequest, otherMAC, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, net24+"77", apple.IP, net.HardwareAddr{0, 0, 0, 0, 0, 0}))
	sendRaw(t, l.prefix+"red-apple", "eth0", buildFrame(t,
		&layers.Ethernet{SrcMAC: redMAC, DstMAC: appleMAC, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(net24 + "50"), DstIP: net.ParseIP(apple.IP)},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}))
	eventually(t, 5*time.Second, func() error {
		if got := spoofDrops(t, l, red.Port) - spoofedBefore; got < 3 {
			return errorf("%d spoofed drops counted on %s, want 3", got, red.Port)
		}
		return nil
	})
	neigh := l.mustExec("apple-server", "ip", "neigh", "show", "dev", "eth1")
	if strings.Contains(neigh, net24+"50 ") && strings.Contains(strings.ToLower(neigh), strings.ToLower(red.MAC)) {
		t.Errorf("apple-server's neighbour table took the forged entry:\n%s", neigh)
	}
	for _, line := range strings.Split(neigh, "\n") {
		if strings.HasPrefix(line, net24+"77 ") {
			t.Errorf("apple-server learned the spoofed sender: %s", line)
		}
	}
}

func spoofDrops(t *testing.T, l *lab, port string) uint64 {
	return l.ports()[port].Drops["spoofed"]
}

// TestPrivilegedConnectDisconnect: connect adds a NIC and names live,
// disconnect removes them, and bad requests change nothing.
func TestPrivilegedConnectDisconnect(t *testing.T) {
	testutil.RequireTools(t, "ping", "dig")
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	gw := gateway(t, l, "applesonly")
	pomme := gw[:strings.LastIndex(gw, ".")+1] + "99" // an address of applesonly
	if out := l.mustExec("apple-server", "ip", "-br", "link"); !strings.Contains(out, "eth1") {
		t.Fatalf("apple-server has no eth1 after connect:\n%s", out)
	}
	for _, bad := range [][]string{
		{"network", "connect", "applesonly", "nosuch"},
		{"network", "connect", "nosuch", "orange-server"},
		{"network", "connect", "--ip", "10.99.99.99", "applesonly", "orange-server"},
		{"network", "connect", "applesonly", "apple-server"},
		{"network", "disconnect", "applesonly", "orange-server"},
	} {
		before := l.psState() + l.mustCtl("network", "ls", "--json")
		if r := l.ctl(bad...); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("vswitchctl %s: %v; want a one-line error", strings.Join(bad, " "), r)
		}
		if after := l.psState() + l.mustCtl("network", "ls", "--json"); after != before {
			t.Errorf("vswitchctl %s changed the state", strings.Join(bad, " "))
		}
	}
	l.mustCtl("network", "disconnect", "applesonly", "apple-server")
	if out := l.mustExec("apple-server", "ip", "-br", "link"); strings.Contains(out, "eth1") {
		t.Errorf("apple-server still has eth1 after disconnect:\n%s", out)
	}
	if r := l.exec("red-apple", "ping", "-c1", "-W1", "apple-server"); r.code == 0 {
		t.Errorf("red-apple still reaches apple-server after disconnect")
	}
	if out := l.mustExec("red-apple", "dig", "@"+gw, "apple-server.applesonly"); !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("apple-server still resolvable on applesonly after disconnect:\n%s", out)
	}
	// Connect again with a chosen address and an alias.
	l.mustCtl("network", "connect", "--ip", pomme, "--alias", "pomme", "applesonly", "apple-server")
	if got := strings.TrimSpace(l.mustExec("red-apple", "dig", "+short", "pomme")); got != pomme {
		t.Errorf("dig pomme = %q, want %s", got, pomme)
	}
	l.mustExec("red-apple", "ping", "-c1", "-W2", "pomme")
	// network rm refuses while endpoints are attached, unless --force.
	if r := l.ctl("network", "rm", "applesonly"); r.code == 0 {
		t.Fatal("network rm with endpoints succeeded")
	}
	l.mustCtl("network", "rm", "--force", "applesonly")
	if out := l.mustExec("apple-server", "ip", "-br", "link"); strings.Contains(out, "eth1") {
		t.Errorf("apple-server keeps eth1 after network rm --force")
	}
	if _, err := netip.ParseAddr(gw); err != nil {
		t.Fatal(err)
	}
}
