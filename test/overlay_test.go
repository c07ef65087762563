package test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// The overlay tests: two vswitchd "hosts" (lab namespaces) joined by a
// veth underlay, 10.99.0.0/24, each with an overlay network of the same
// subnet and VNI whose peer is the other.
const (
	underA   = "10.99.0.1"
	underB   = "10.99.0.2"
	ovSubnet = "10.200.0.0/24"
	ovVNI    = "4242"
)

// twoHosts starts two labs joined by the underlay veth ul0.
func twoHosts(t *testing.T) (a, b *lab) {
	t.Helper()
	testutil.RequireTools(t, "ip", "nc", "ping", "tcpdump")
	a, b = startLab(t, labOptions{}), startLab(t, labOptions{})
	veth(t, a.name, "ul0", b.name, "ul0")
	addAddr(t, a.name, "ul0", underA+"/24")
	addAddr(t, b.name, "ul0", underB+"/24")
	return a, b
}

// endpointIP returns the address of endpoint name's first NIC.
func endpointIP(l *lab, name string) string {
	return l.endpoint(name).NICs[0].IP
}

// TestPrivilegedOverlayTwoHosts: an overlay network on two daemons carries
// ping, broadcast ARP and 100 MB of TCP between endpoints on either host;
// fdb show names the remote MACs' VTEP; --ip-range keeps the allocations
// apart; peer del stops the traffic and peer add restores it; each host's
// masquerade serves its own endpoints (the same gateway on both).
func TestPrivilegedOverlayTwoHosts(t *testing.T) {
	a, b := twoHosts(t)
	inA, inB := setupInternet(t, a), setupInternet(t, b)
	_ = inB
	a.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.0/25", "--vni", ovVNI, "--peer", underB)
	b.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.128/25", "--vni", ovVNI, "--peer", underA)
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a1", "--", "sleep", "600")
	b.mustCtl("run", "-d", "--net", "ov", "--name", "b1", "--", "sleep", "600")

	ipA, ipB := endpointIP(a, "a1"), endpointIP(b, "b1")
	pa, pb := netip.MustParseAddr(ipA), netip.MustParseAddr(ipB)
	if !netip.MustParsePrefix("10.200.0.0/25").Contains(pa) || !netip.MustParsePrefix("10.200.0.128/25").Contains(pb) {
		t.Fatalf("addresses %s and %s: not from each host's --ip-range", ipA, ipB)
	}
	// MTU 1450 on the overlay's NICs.
	if out := a.mustExec("a1", "ip", "-o", "link", "show", "eth0"); !strings.Contains(out, "mtu 1450") {
		t.Errorf("a1's eth0 is not MTU 1450: %s", out)
	}

	// Broadcast ARP crosses: a1 has no entry for b1 until it asks.
	if r := a.exec("a1", "ip", "neigh", "flush", "all"); r.code != 0 {
		t.Fatal(r)
	}
	a.mustExec("a1", "ping", "-c", "3", "-i", "0.2", "-W", "2", ipB)
	b.mustExec("b1", "ping", "-c", "3", "-i", "0.2", "-W", "2", ipA)
	if out := a.mustExec("a1", "ip", "neigh", "show", ipB); !strings.Contains(out, "lladdr") {
		t.Errorf("a1 has no ARP entry for %s: %q", ipB, out)
	}
	b1MAC := b.endpoint("b1").NICs[0].MAC
	if out := a.mustExec("a1", "ip", "neigh", "show", ipB); !strings.Contains(out, b1MAC) {
		t.Errorf("a1's ARP entry for %s is %q, want b1's MAC %s", ipB, out, b1MAC)
	}

	// fdb show: b1's MAC behind B's VTEP.
	if out := a.mustCtl("fdb", "show"); len(matching(strings.Split(out, "\n"), b1MAC, "vxlan:"+underB)) != 1 {
		t.Errorf("fdb show on A has no line with %s on vxlan:%s:\n%s", b1MAC, underB, out)
	}
	var n []control.Network
	a.ctlJSON(&n, "network", "inspect", "ov")
	if len(n) != 1 || n[0].Overlay == nil || n[0].Overlay.VNI != 4242 || n[0].MTU != 1450 {
		t.Fatalf("network inspect ov: %+v", n)
	}
	found := false
	for _, r := range n[0].Overlay.Remotes {
		found = found || r.MAC == b1MAC && r.VTEP == underB && r.IP == ipB
	}
	if !found {
		t.Errorf("network inspect ov on A: remotes %+v lack b1 (%s %s behind %s)", n[0].Overlay.Remotes, b1MAC, ipB, underB)
	}
	if out := a.mustCtl("network", "inspect", "ov"); !strings.Contains(out, "VNI:       4242") || !strings.Contains(out, underB) {
		t.Errorf("network inspect ov:\n%s", out)
	}

	// 100 MB over TCP both ways, bytes compared.
	tcpTransfer(t, func(args ...string) result { return a.exec("a1", args...) }, func(args ...string) result { return b.exec("b1", args...) }, ipB, 100<<20)
	tcpTransfer(t, func(args ...string) result { return b.exec("b1", args...) }, func(args ...string) result { return a.exec("a1", args...) }, ipA, 10<<20)

	// Per-VTEP counters.
	ports := a.ports()
	vx := ports["vxlan4789"]
	if vx.Kind != "vxlan" || len(vx.VTEPs) == 0 || vx.VTEPs[0].Addr != underB || vx.VTEPs[0].TxBytes < 100<<20 {
		t.Errorf("vxlan4789 on A: %+v, want ≥ 100 MiB sent to VTEP %s", vx, underB)
	}
	if out := a.mustCtl("ports"); !strings.Contains(out, "vtep "+underB) {
		t.Errorf("ports has no vtep row:\n%s", out)
	}

	// peer del stops the traffic; peer add restores it.
	a.mustCtl("network", "peer", "del", "ov", underB)
	if r := a.exec("a1", "ping", "-c", "2", "-i", "0.2", "-W", "1", ipB); r.code == 0 {
		t.Errorf("ping after peer del went through: %v", r)
	}
	a.mustCtl("network", "peer", "add", "ov", underB)
	eventually(t, 10*time.Second, func() error {
		if r := a.exec("a1", "ping", "-c", "1", "-W", "1", ipB); r.code != 0 {
			return fmt.Errorf("ping after peer add: %v", r)
		}
		return nil
	})

	// Each host masquerades its own endpoints through its own uplink,
	// with the same gateway.
	for _, h := range []struct {
		l  *lab
		ep string
	}{{a, "a1"}, {b, "b1"}} {
		h.l.mustExec(h.ep, "ping", "-c", "2", "-i", "0.2", "-W", "2", srvAddr)
		var cs []control.Conn
		h.l.ctlJSON(&cs, "conntrack", "list")
		ok := false
		for _, c := range cs {
			ok = ok || c.Proto == "icmp" && c.Orig.Dst == srvAddr && c.Reply.Dst == uplinkAddr
		}
		if !ok {
			t.Errorf("%s: no masqueraded ICMP connection to %s: %+v", h.ep, srvAddr, cs)
		}
	}
	_ = inA
	if ga, gb := a.endpoint("a1").NICs[0].Gateway, b.endpoint("b1").NICs[0].Gateway; ga != gb || ga != "10.200.0.1" {
		t.Errorf("gateways %s and %s, want both 10.200.0.1", ga, gb)
	}

	// A static remote entry shows as such.
	a.mustCtl("fdb", "add", "02:00:00:aa:bb:cc", "--network", "ov", "--vtep", underB)
	if out := a.mustCtl("fdb", "show"); len(matching(strings.Split(out, "\n"), "02:00:00:aa:bb:cc", "vxlan:"+underB, "static")) != 1 {
		t.Errorf("fdb show lacks the static remote entry:\n%s", out)
	}
	a.mustCtl("fdb", "del", "02:00:00:aa:bb:cc", "--network", "ov")
	if out := a.mustCtl("fdb", "show"); strings.Contains(out, "02:00:00:aa:bb:cc") {
		t.Errorf("fdb del left the static remote entry:\n%s", out)
	}
}

// TestPrivilegedOverlayBadInput: each bad overlay request is refused with
// one line and changes nothing.
func TestPrivilegedOverlayBadInput(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--vni", ovVNI, "--peer", underB)
	before := l.mustCtl("network", "ls")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "x", "--subnet", "10.201.0.0/24", "--vni", "0"}, "vni 0 out of range"},
		{[]string{"network", "create", "x", "--subnet", "10.201.0.0/24", "--vni", "16777216"}, "vni 16777216 out of range"},
		{[]string{"network", "create", "x", "--subnet", "10.201.0.0/24", "--vni", "7", "--peer", "not-an-ip"}, `peer "not-an-ip": not an IP address`},
		{[]string{"network", "create", "x", "--subnet", "10.201.0.0/24", "--vni", ovVNI}, `vni 4242 is used by network "ov"`},
		{[]string{"network", "create", "x", "--subnet", "10.201.0.0/24", "--ip-range", "10.202.0.0/25"}, "ip-range 10.202.0.0/25 is not inside subnet 10.201.0.0/24"},
		{[]string{"network", "create", "x", "--vni", "7"}, "needs --subnet"},
		{[]string{"network", "create", "x", "--peer", underB}, "--peer needs --vni"},
		{[]string{"network", "peer", "add", "ov", "nope"}, `peer "nope": not an IP address`},
		{[]string{"network", "peer", "add", "ov", underB}, "already a peer"},
		{[]string{"network", "peer", "del", "ov", "10.99.0.9"}, "is not a peer"},
		{[]string{"network", "peer", "add", "bridge", underB}, "not an overlay network"},
		{[]string{"fdb", "add", "02:00:00:00:00:09", "--network", "bridge", "--vtep", underB}, "not an overlay network"},
	} {
		r := l.ctl(c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("vswitchctl %s: %v\nwant one line with %q", strings.Join(c.args, " "), r, c.want)
		}
	}
	if after := l.mustCtl("network", "ls"); after != before {
		t.Errorf("networks changed:\n%s\nwas\n%s", after, before)
	}
	var n []control.Network
	l.ctlJSON(&n, "network", "inspect", "ov")
	if len(n) != 1 || strings.Join(n[0].Overlay.Peers, ",") != underB {
		t.Errorf("ov's peers changed: %+v", n[0].Overlay)
	}
}

// TestPrivilegedOverlayPMTU: on an overlay network whose MTU is raised to
// 1500, more than the underlay carries, a 1500-byte packet with DF gets
// ICMP "fragmentation needed" (MTU 1450) back, and TCP still completes,
// path MTU discovery lowering its segments.
func TestPrivilegedOverlayPMTU(t *testing.T) {
	a, b := twoHosts(t)
	a.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.0/25", "--vni", ovVNI, "--peer", underB, "--mtu", "1500")
	b.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.128/25", "--vni", ovVNI, "--peer", underA, "--mtu", "1500")
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a1", "--", "sleep", "600")
	b.mustCtl("run", "-d", "--net", "ov", "--name", "b1", "--", "sleep", "600")
	ipB := endpointIP(b, "b1")
	if out := a.mustExec("a1", "ip", "-o", "link", "show", "eth0"); !strings.Contains(out, "mtu 1500") {
		t.Errorf("a1's eth0 is not MTU 1500: %s", out)
	}
	a.mustExec("a1", "ping", "-c", "1", "-W", "2", ipB) // small packets pass
	r := a.exec("a1", "ping", "-M", "do", "-s", "1472", "-c", "1", "-W", "2", ipB)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "mtu = 1450") {
		t.Errorf("1500-byte ping with DF: %v\nwant fragmentation needed with mtu 1450", r)
	}
	if out := a.mustExec("a1", "ip", "route", "get", ipB); !strings.Contains(out, "mtu 1450") {
		t.Errorf("a1's route to %s did not learn the path MTU: %s", ipB, out)
	}
	tcpTransfer(t, func(args ...string) result { return b.exec("b1", args...) }, func(args ...string) result { return a.exec("a1", args...) }, endpointIP(a, "a1"), 4<<20)
	var ps []control.Port
	a.ctlJSON(&ps, "ports")
	for _, p := range ps {
		if p.Kind == "vxlan" && p.Drops["too-big"] == 0 {
			t.Errorf("vxlan port %s counted no too-big drop: %v", p.Name, p.Drops)
		}
	}
}

// TestPrivilegedOverlayKernelVXLAN: a vswitchd overlay network and a Linux
// kernel vxlan device (on a kernel bridge with a host behind it) carry
// ping and TCP both ways; tcpdump on the underlay sees VXLAN with the
// network's VNI from source ports that vary with the flow.
func TestPrivilegedOverlayKernelVXLAN(t *testing.T) {
	testutil.RequireTools(t, "ip", "nc", "ping", "tcpdump", "ethtool")
	a := startLab(t, labOptions{})
	k, h := a.newNS(t, "kvx"), a.newNS(t, "khost")
	veth(t, a.name, "ul0", k.name, "ul0")
	addAddr(t, a.name, "ul0", underA+"/24")
	addAddr(t, k.name, "ul0", underB+"/24")
	// Checksums leave the kernel's VTEP complete, as on a wire (see the
	// vxlan package: a UDP socket cannot take partial ones).
	if r := k.run("ethtool", "-K", "ul0", "tx", "off"); r.code != 0 {
		t.Fatal(r)
	}
	for _, args := range [][]string{
		{"ip", "link", "add", "vx0", "type", "vxlan", "id", ovVNI, "remote", underA, "local", underB, "dstport", "4789"},
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "link", "set", "vx0", "master", "br0"},
		{"ip", "link", "set", "vx0", "up"},
		{"ip", "link", "set", "br0", "up"},
	} {
		if r := k.run(args...); r.code != 0 {
			t.Fatalf("%s: %v", strings.Join(args, " "), r)
		}
	}
	veth(t, k.name, "hv0", h.name, "eth0")
	for _, args := range [][]string{
		{"ip", "link", "set", "hv0", "master", "br0"},
		{"ip", "link", "set", "hv0", "mtu", "1450"},
	} {
		if r := k.run(args...); r.code != 0 {
			t.Fatalf("%s: %v", strings.Join(args, " "), r)
		}
	}
	if r := h.run("ip", "link", "set", "eth0", "mtu", "1450"); r.code != 0 {
		t.Fatal(r)
	}
	addAddr(t, h.name, "eth0", "10.200.0.200/24")

	a.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.0/25", "--vni", ovVNI, "--peer", underB)
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a1", "--", "sleep", "600")

	capFile := t.TempDir() + "/ul0.txt"
	dump := k.start(t, "sh", "-c", "exec tcpdump -l -i ul0 -nn udp port 4789 > "+capFile+" 2>/dev/null")
	waitCapture(t, k, "ul0")

	ep := pingTCPBothWays(t, a, "a1", h, "10.200.0.200")
	for i := range 6 { // short TCP flows, each from its own port
		tcpTransfer(t, ep, h.run, "10.200.0.200", 1000+i)
	}
	time.Sleep(500 * time.Millisecond)
	dump.Process.Signal(syscall.SIGTERM)
	dump.Wait()

	out, _ := os.ReadFile(capFile)
	lines := strings.Split(string(out), "\n")
	sent := matching(lines, underA+".", " > "+underB+".4789", "VXLAN", "vni "+ovVNI)
	if len(sent) == 0 {
		t.Fatalf("tcpdump on the underlay saw no VXLAN vni %s from %s:\n%s", ovVNI, underA, firstLines(lines, 20))
	}
	ports := map[string]bool{}
	for _, l := range sent {
		f := strings.Fields(l)
		for i, w := range f {
			if strings.HasPrefix(w, underA+".") && i+1 < len(f) && f[i+1] == ">" {
				ports[strings.TrimPrefix(w, underA+".")] = true
			}
		}
	}
	if len(ports) < 2 {
		t.Errorf("vswitchd sent VXLAN from %d source port(s) %v over 8 flows, want them to vary with the flow", len(ports), ports)
	}
	if len(matching(lines, underB+".", " > "+underA+".4789", "vni "+ovVNI)) == 0 {
		t.Errorf("tcpdump saw nothing from the kernel vxlan")
	}
}

// waitCapture waits until tcpdump in ns captures on ifname.
func waitCapture(t *testing.T, ns *peerNS, ifname string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if r := ns.run("sh", "-c", "grep -l tcpdump /proc/[0-9]*/cmdline 2>/dev/null"); strings.TrimSpace(r.stdout) == "" {
			return fmt.Errorf("tcpdump not running")
		}
		return nil
	})
	time.Sleep(time.Second) // tcpdump opens its socket after starting
}

func firstLines(lines []string, n int) string {
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// TestPrivilegedOverlayOVS: a vswitchd overlay network and Open vSwitch's
// userspace datapath (datapath_type=netdev) with a type=vxlan port carry
// ping and TCP both ways. OVS tunnels the userspace way: its underlay
// address sits on a netdev bridge (br-phy, holding the underlay veth), and
// the tunnel port (key 4242, remote_ip A) is on br-int with the host.
func TestPrivilegedOverlayOVS(t *testing.T) {
	testutil.RequireTools(t, "ip", "nc", "ping", "tcpdump", "ethtool", "ovs-appctl")
	a := startLab(t, labOptions{})
	o := startOVS(t, a)
	veth(t, a.name, "ul0", o.ns.name, "und1")
	addAddr(t, a.name, "ul0", underA+"/24")
	// OVS reads its ports through AF_PACKET: checksums must be complete
	// on every veth it receives from, the underlay included.
	txOffloadsOff(t, a.name, "ul0")
	txOffloadsOff(t, o.ns.name, "und1")
	// und1 belongs to OVS: the kernel must not answer ARP for br-phy's
	// address on it.
	if r := o.ns.run("sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"); r.code != 0 {
		t.Fatal(r)
	}
	h := a.newNS(t, "ovh")
	veth(t, o.ns.name, "hh0", h.name, "eth0")
	txOffloadsOff(t, h.name, "eth0")
	if r := h.run("ip", "link", "set", "eth0", "mtu", "1450"); r.code != 0 {
		t.Fatal(r)
	}
	addAddr(t, h.name, "eth0", "10.200.0.200/24")

	o.vsctl(t, "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev")
	o.vsctl(t, "add-port", "br-phy", "und1")
	o.vsctl(t, "add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")
	o.vsctl(t, "add-port", "br-int", "hh0")
	o.vsctl(t, "add-port", "br-int", "vx0", "--", "set", "interface", "vx0", "type=vxlan",
		"options:remote_ip="+underA, "options:key="+ovVNI)
	o.sync(t)
	for _, args := range [][]string{
		{"ip", "addr", "add", underB + "/24", "dev", "br-phy"},
		{"ip", "link", "set", "br-phy", "up"},
		{"ip", "link", "set", "br-int", "up"},
	} {
		if r := o.ns.run(args...); r.code != 0 {
			t.Fatalf("%s: %v", strings.Join(args, " "), r)
		}
	}
	eventually(t, 10*time.Second, func() error { // OVS routes tunnels by its copy of the kernel's routes
		r := o.command("ovs-appctl", "-t", o.path("vswitchd.ctl"), "ovs/route/show")
		if !strings.Contains(r.stdout, "10.99.0.0/24 dev br-phy") {
			return fmt.Errorf("ovs/route/show has no route to the underlay: %v", r)
		}
		return nil
	})

	a.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.0/25", "--vni", ovVNI, "--peer", underB)
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a1", "--", "sleep", "600")

	pingTCPBothWays(t, a, "a1", h, "10.200.0.200")
	if out := a.mustCtl("fdb", "show"); len(matching(strings.Split(out, "\n"), "vxlan:"+underB)) == 0 {
		t.Errorf("fdb show has no MAC behind OVS's VTEP %s:\n%s", underB, out)
	}
}

// pingTCPBothWays pings between endpoint ep of l and host h (address
// hostIP) both ways, then moves 8 MB over TCP each way; it returns the
// runner of ep.
func pingTCPBothWays(t *testing.T, l *lab, ep string, h *peerNS, hostIP string) runner {
	t.Helper()
	ip := endpointIP(l, ep)
	l.mustExec(ep, "ping", "-c", "3", "-i", "0.2", "-W", "2", hostIP)
	if r := h.run("ping", "-c", "3", "-i", "0.2", "-W", "2", ip); r.code != 0 {
		t.Fatalf("ping %s from %s: %v", ip, h.name, r)
	}
	run := func(args ...string) result { return l.exec(ep, args...) }
	tcpTransfer(t, run, h.run, hostIP, 8<<20)
	tcpTransfer(t, h.run, run, ip, 8<<20)
	return run
}

// overlayLab is a lab file for host h (a or b) of an overlay network
// spanning two hosts: each host its own half of the subnet and the other
// as its peer.
func overlayLab(h, ipRange, peer string) string {
	return `name: ovl
networks:
  ov:
    subnet: ` + ovSubnet + `
    ip_range: ` + ipRange + `
    vxlan:
      vni: ` + ovVNI + `
      peers: [` + peer + `]
  local:
    subnet: 10.71.0.0/24
endpoints:
  ` + h + `1: {networks: [ov]}
  ` + h + `2: {networks: [ov, local]}
`
}

// TestPrivilegedLabOverlay: lab up of a topology with a vxlan network on
// two daemons joined by an underlay: the endpoints of either host reach
// those of the other, pingall on each host matches its topology, a second
// lab up changes nothing, and lab down closes the vxlan port.
func TestPrivilegedLabOverlay(t *testing.T) {
	a, b := twoHosts(t)
	dir := t.TempDir()
	fa, fb := dir+"/a.yaml", dir+"/b.yaml"
	if err := os.WriteFile(fa, []byte(overlayLab("a", "10.200.0.0/25", underB)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fb, []byte(overlayLab("b", "10.200.0.128/25", underA)), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustCtl("lab", "up", fa)
	b.mustCtl("lab", "up", fb)
	var n []control.Network
	a.ctlJSON(&n, "network", "inspect", "ovl-ov")
	if len(n) != 1 || n[0].Overlay == nil || n[0].Overlay.VNI != 4242 || n[0].MTU != 1450 || strings.Join(n[0].Overlay.Peers, ",") != underB {
		t.Fatalf("network inspect ovl-ov on A: %+v", n)
	}
	for _, c := range []struct {
		from *lab
		ep   string
		to   *lab
		dst  string
	}{{a, "ovl-a1", b, "ovl-b1"}, {a, "ovl-a2", b, "ovl-b2"}, {b, "ovl-b1", a, "ovl-a2"}} {
		ip := c.to.endpoint(c.dst).NICs[0].IP
		if !strings.HasPrefix(ip, "10.200.0.") {
			t.Fatalf("%s's eth0 is %s, not on the overlay", c.dst, ip)
		}
		c.from.mustExec(c.ep, "ping", "-c", "2", "-i", "0.2", "-W", "2", ip)
	}
	for _, h := range []struct {
		l    *lab
		file string
	}{{a, fa}, {b, fb}} {
		var pa control.PingAll
		r := h.l.ctl("lab", "pingall", h.file, "--json")
		if err := json.Unmarshal([]byte(r.stdout), &pa); err != nil || r.code != 0 || pa.Mismatches != 0 || len(pa.Pairs) == 0 {
			t.Errorf("pingall %s: %v\n%+v", h.file, r, pa)
		}
		var again control.LabPlan
		h.l.ctlJSON(&again, "lab", "up", h.file)
		for _, c := range again.Changes {
			if c.Action != control.ActionKeep {
				t.Errorf("lab up twice: second run changed %+v", c)
			}
		}
	}
	a.mustCtl("lab", "down", fa)
	if _, ok := a.ports()["vxlan4789"]; ok {
		t.Errorf("vxlan4789 still open on A after lab down")
	}
	if r := b.exec("ovl-b1", "ping", "-c", "1", "-W", "1", endpointIP(b, "ovl-b2")); r.code != 0 {
		t.Errorf("B's own overlay endpoints lost each other after A's lab down: %v", r)
	}
	b.mustCtl("lab", "down", fb)
}

// TestPrivilegedOverlayPublish: an endpoint of an overlay network on host
// B, published on B's uplink, is reached from outside (DNAT by B's router,
// the reply back through B's gateway and uplink, the endpoint seeing the
// client's address) while the overlay still carries A's traffic to it;
// host A keeps no connection of it. A does not resolve the endpoint's
// name; --add-host names it.
func TestPrivilegedOverlayPublish(t *testing.T) {
	testutil.RequireTools(t, "socat")
	a, b := twoHosts(t)
	in := setupInternet(t, b)
	a.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.0/25", "--vni", ovVNI, "--peer", underB)
	b.mustCtl("network", "create", "ov", "--subnet", ovSubnet, "--ip-range", "10.200.0.128/25", "--vni", ovVNI, "--peer", underA)
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a1", "--", "sleep", "600")
	log := t.TempDir() + "/web.log"
	b.mustCtl("run", "-d", "--net", "ov", "--name", "web", "-p", "8080:80", "--",
		"sh", "-c", "exec socat -d -d TCP4-LISTEN:80,fork,reuseaddr EXEC:cat 2> "+log)
	waitListening(t, b.epRunner("web"), "tcp", 80)
	ipWeb := endpointIP(b, "web")

	// From outside, at B's uplink address.
	if r := in.srv.run("sh", "-c", "echo hello-from-outside | socat -T5 - TCP4:"+uplinkAddr+":8080"); !strings.Contains(r.stdout, "hello-from-outside") {
		t.Fatalf("published port %s:8080 on B from outside: %v", uplinkAddr, r)
	}
	eventually(t, 5*time.Second, func() error {
		data, _ := os.ReadFile(log)
		if !strings.Contains(string(data), "connection from AF=2 "+srvAddr+":") {
			return fmt.Errorf("endpoint log %q: want a connection from the client's address %s", data, srvAddr)
		}
		return nil
	})
	var cs []control.Conn
	b.ctlJSON(&cs, "conntrack", "list")
	dnat := false
	for _, c := range cs {
		dnat = dnat || c.Proto == "tcp" && c.Orig.Src == srvAddr && c.Orig.Dst == uplinkAddr && c.Reply.Src == ipWeb
	}
	if !dnat {
		t.Errorf("B's conntrack has no DNAT of %s → %s:8080 to %s: %+v", srvAddr, uplinkAddr, ipWeb, cs)
	}

	// Across the overlay, from host A, straight to the endpoint.
	if r := a.exec("a1", "sh", "-c", "echo hello-from-a | socat -T5 - TCP4:"+ipWeb+":80"); !strings.Contains(r.stdout, "hello-from-a") {
		t.Fatalf("from a1 over the overlay to %s:80: %v", ipWeb, r)
	}
	// Names are not shared across hosts; --add-host names a remote
	// endpoint in /etc/hosts (the README's workaround).
	if r := a.exec("a1", "getent", "hosts", "web"); r.code == 0 {
		t.Errorf("a1 resolves host B's endpoint web: %v (the README says names stay on their host)", r)
	}
	a.mustCtl("run", "-d", "--net", "ov", "--name", "a2", "--add-host", "web:"+ipWeb, "--", "sleep", "600")
	if r := a.exec("a2", "sh", "-c", "echo hello-by-name | socat -T5 - TCP4:web:80"); !strings.Contains(r.stdout, "hello-by-name") {
		t.Errorf("from a2 to web:80 (--add-host web:%s): %v", ipWeb, r)
	}
	a.ctlJSON(&cs, "conntrack", "list")
	for _, c := range cs {
		if c.Orig.Src == srvAddr || c.Reply.Src == srvAddr {
			t.Errorf("host A tracks the outside client's connection: %+v", c)
		}
	}
}
