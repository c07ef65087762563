//go:build linux

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// The "internet" of the NAT tests: the lab's up0 is the uplink (no kernel
// address: the switch owns 203.0.113.2), inet is a router (203.0.113.1 and
// 198.51.100.1) and srv a server behind it (198.51.100.2), so traceroute has
// a hop beyond the switch.
const (
	uplinkAddr = "203.0.113.2"
	inetAddr   = "203.0.113.1"
	srvAddr    = "198.51.100.2"
)

type internet struct {
	inet, srv *peerNS
}

func setupInternet(t *testing.T, l *lab) *internet {
	t.Helper()
	in := &internet{}
	in.inet = l.newPeer(t, "inet", "up0", "", "eth0", inetAddr+"/24")
	in.srv = l.newNS(t, "srv")
	veth(t, in.inet.name, "eth1", in.srv.name, "eth0")
	addAddr(t, in.inet.name, "eth1", "198.51.100.1/24")
	addAddr(t, in.srv.name, "eth0", srvAddr+"/24")
	if r := in.srv.run("ip", "route", "add", "default", "via", "198.51.100.1"); r.code != 0 {
		t.Fatal(r)
	}
	if r := in.inet.run("sysctl", "-qw", "net.ipv4.ip_forward=1"); r.code != 0 {
		t.Fatal(r)
	}
	l.mustCtl("uplink", "set", "up0", "--address", uplinkAddr+"/24", "--gateway", inetAddr)
	return in
}

// TestPrivilegedNATOutbound: endpoints reach the internet through the
// masquerade over TCP (nc, iperf3), UDP and ICMP; the server sees the
// uplink address; ICMP errors come back translated.
func TestPrivilegedNATOutbound(t *testing.T) {
	testutil.RequireTools(t, "nc", "iperf3", "socat", "traceroute", "tcpdump")
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a")
	gw := gateway(t, l, "test-network")

	leak := startCapture(t, in.srv.name, "eth0", "src", "net", "172.16.0.0/12")
	l.mustExec("a", "ping", "-c", "2", "-i", "0.2", "-W", "2", srvAddr)

	// TCP with nc: the server sees the uplink address.
	dir := t.TempDir()
	srvLog := filepath.Join(dir, "nc.log")
	in.srv.start(t, "sh", "-c", "nc -lvn -p 7000 > "+srvLog+" 2>&1")
	waitListening(t, in.srv.run, "tcp", 7000)
	l.mustExec("a", "sh", "-c", "echo through-the-nat | nc -N -w 5 "+srvAddr+" 7000")
	eventually(t, 5*time.Second, func() error {
		b, _ := os.ReadFile(srvLog)
		if !strings.Contains(string(b), "through-the-nat") || !strings.Contains(string(b), "Connection received on "+uplinkAddr) {
			return errorf("server log: %q", b)
		}
		return nil
	})

	// TCP bulk with iperf3.
	iperfLog := filepath.Join(dir, "iperf.log")
	in.srv.start(t, "sh", "-c", "iperf3 -s -1 > "+iperfLog+" 2>&1")
	waitListening(t, in.srv.run, "tcp", 5201)
	out := l.mustExec("a", "iperf3", "-c", srvAddr, "-t", "2")
	if !strings.Contains(out, "receiver") {
		t.Fatalf("iperf3:\n%s", out)
	}
	eventually(t, 5*time.Second, func() error {
		if b, _ := os.ReadFile(iperfLog); !strings.Contains(string(b), "Accepted connection from "+uplinkAddr) {
			return errorf("iperf3 server log: %q", b)
		}
		return nil
	})

	// UDP round trip, and a refusal from a closed port seen by nc -u.
	in.srv.start(t, "socat", "UDP4-LISTEN:7002,fork", "EXEC:cat")
	waitListening(t, in.srv.run, "udp", 7002)
	if got := l.mustExec("a", "sh", "-c", "echo udp-echo | socat -T2 - UDP4:"+srvAddr+":7002"); !strings.Contains(got, "udp-echo") {
		t.Errorf("UDP echo through the NAT = %q", got)
	}
	if r := l.exec("a", "nc", "-zuv", "-w", "2", srvAddr, "7002"); r.code != 0 || !strings.Contains(r.stderr, "succeeded") {
		t.Errorf("nc -zu to an open port: %v", r)
	}
	// -v matters: without it netcat's UDP -z only connect()s and sends
	// no probe.
	if r := l.exec("a", "nc", "-zuv", "-w", "2", srvAddr, "9999"); r.code == 0 {
		t.Errorf("nc -zuv to a closed port succeeded: the port unreachable was not translated back: %v", r)
	}

	// traceroute shows the router, the internet router and the server.
	// -N 1: one probe at a time. By default it sends 16 at once, and the
	// server's kernel rate-limits the port unreachables it sends one host
	// (icmp_ratelimit), so the answers to hops 3 and 4 could be missing.
	out = l.mustExec("a", "traceroute", "-n", "-N", "1", "-q", "1", "-w", "2", srvAddr)
	hops := traceHops(out)
	if len(hops) != 3 || hops[0] != gw || hops[1] != inetAddr || hops[2] != srvAddr {
		t.Errorf("traceroute hops %v, want [%s %s %s]:\n%s", hops, gw, inetAddr, srvAddr, out)
	}

	// conntrack shows the translations; nothing private reached the server.
	var cs []control.Conn
	l.ctlJSON(&cs, "conntrack", "list")
	found := false
	for _, c := range cs {
		found = found || c.Proto == "tcp" && c.Reply.Dst == uplinkAddr && c.Orig.Dst == srvAddr
	}
	if !found {
		t.Errorf("conntrack list has no TCP entry translated to %s: %+v", uplinkAddr, cs)
	}
	text := l.mustCtl("conntrack", "list")
	if !strings.Contains(text, "src="+uplinkAddr) && !strings.Contains(text, "dst="+uplinkAddr) {
		t.Errorf("conntrack list:\n%s", text)
	}
	if lines := leak.stop(t); len(matching(lines, "IP")) != 0 {
		t.Errorf("private addresses reached the internet:\n%s", strings.Join(lines, "\n"))
	}
}

// traceHops returns the addresses of traceroute's hops.
func traceHops(out string) []string {
	var hops []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] != "traceroute" {
			hops = append(hops, f[1])
		}
	}
	return hops
}

// TestPrivilegedNATInbound: published ports are reachable from outside at
// the uplink address, and the endpoint sees the client's real address.
func TestPrivilegedNATInbound(t *testing.T) {
	testutil.RequireTools(t, "nc", "socat")
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "test-network")
	dir := t.TempDir()
	webLog := filepath.Join(dir, "web.log")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "web", "-p", "8080:80",
		"--", "sh", "-c", "nc -lvn -p 80 > "+webLog+" 2>&1")
	waitListening(t, l.epRunner("web"), "tcp", 80)
	if r := in.srv.run("sh", "-c", "echo hello-from-outside | nc -N -w 5 "+uplinkAddr+" 8080"); r.code != 0 {
		t.Fatalf("connect to %s:8080 from outside: %v", uplinkAddr, r)
	}
	eventually(t, 5*time.Second, func() error {
		b, _ := os.ReadFile(webLog)
		if !strings.Contains(string(b), "hello-from-outside") || !strings.Contains(string(b), "Connection received on "+srvAddr) {
			return errorf("endpoint log %q: want the data and the client's address %s", b, srvAddr)
		}
		return nil
	})

	// A published range and a UDP port on a running endpoint.
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "udp", "--", "socat", "UDP4-LISTEN:53,fork", "EXEC:cat")
	waitListening(t, l.epRunner("udp"), "udp", 53)
	l.mustCtl("publish", "udp", "5353:53/udp")
	if got := in.srv.run("sh", "-c", "echo dns-ish | socat -T2 - UDP4:"+uplinkAddr+":5353"); !strings.Contains(got.stdout, "dns-ish") {
		t.Errorf("UDP to a published port from outside: %v", got)
	}
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "rng", "-p", "9000-9002:7000-7002", "--",
		"socat", "TCP4-LISTEN:7002,fork,reuseaddr", "SYSTEM:echo range-ok")
	waitListening(t, l.epRunner("rng"), "tcp", 7002)
	if got := in.srv.run("sh", "-c", "nc -w 3 "+uplinkAddr+" 9002 </dev/null"); !strings.Contains(got.stdout, "range-ok") {
		t.Errorf("port 9002 of the range 9000-9002 → 7002: %v", got)
	}
	out := l.mustCtl("nat", "show")
	for _, want := range []string{"0.0.0.0:8080", "9000-9002", "7000-7002", "udp"} {
		if !strings.Contains(out, want) {
			t.Errorf("nat show lacks %q:\n%s", want, out)
		}
	}
	l.mustCtl("unpublish", "udp", "5353:53/udp")
	if got := in.srv.run("sh", "-c", "echo gone | socat -T1 - UDP4:"+uplinkAddr+":5353"); strings.Contains(got.stdout, "gone") {
		t.Error("unpublished port still answers")
	}
	// A host port that is taken is a clear error and changes nothing.
	before := l.psState()
	if r := l.ctl("run", "-d", "--net", "test-network", "--name", "dup", "-p", "8080:81"); r.code == 0 || !strings.Contains(r.stderr, "8080") {
		t.Errorf("publishing a taken host port: %v", r)
	}
	if after := l.psState(); after != before {
		t.Error("a failed run changed the endpoints")
	}
}

// TestPrivilegedEchoServerWalkthrough is the user story's published echo
// server: a line sent into :45678 comes out of :45679, from the host and
// between two other endpoints through host.vswitchd.internal (hairpin).
func TestPrivilegedEchoServerWalkthrough(t *testing.T) {
	testutil.RequireTools(t, "nc")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("network", "create", "other-network")
	run := func() {
		l.mustCtl("run", "-d", "--net", "test-network", "--name", "echo-server",
			"-p", "45678:45678", "-p", "45679:45679", "--", "sh", "-c", "nc -lp 45678 | nc -lp 45679")
		waitListening(t, l.epRunner("echo-server"), "tcp", 45679)
	}

	// From the host: 127.0.0.1.
	run()
	reader := startReader(t, "ip", "netns", "exec", l.name, "nc", "127.0.0.1", "45679")
	time.Sleep(200 * time.Millisecond)
	if r := l.host("sh", "-c", "echo hello-from-the-host | nc -N -w 5 127.0.0.1 45678"); r.code != 0 {
		t.Fatalf("send to 127.0.0.1:45678: %v", r)
	}
	reader.expect(t, "hello-from-the-host")

	// Between endpoints: the reader in the echo server's own network
	// (hairpin: translated to the gateway), the writer in another network.
	l.mustCtl("rm", "-f", "echo-server")
	run()
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "reader")
	l.mustCtl("run", "-d", "--net", "other-network", "--name", "writer")
	reader = startReader(t, filepath.Join(binDir, "vswitchctl"), "--socket", l.socket, "exec", "reader", "--",
		"nc", "host.vswitchd.internal", "45679")
	time.Sleep(300 * time.Millisecond)
	l.mustExec("writer", "sh", "-c", "echo hello-between-endpoints | nc -N -w 5 host.vswitchd.internal 45678")
	reader.expect(t, "hello-between-endpoints")

	// The host reaches endpoint addresses directly.
	if r := l.host("ping", "-c1", "-W2", nicOn(t, l, "reader", "test-network").IP); r.code != 0 {
		t.Errorf("host cannot reach an endpoint: %v", r)
	}
	var cs []control.Conn
	l.ctlJSON(&cs, "conntrack", "list")
	hairpin := false
	for _, c := range cs {
		hairpin = hairpin || c.Orig.DstPort == 45679 && c.Reply.Dst == gateway(t, l, "test-network")
	}
	if !hairpin {
		t.Errorf("no hairpin entry (reply to the gateway) for :45679 in conntrack: %+v", cs)
	}
}

// lineReader is a command whose output the test watches for a line.
type lineReader struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startReader(t *testing.T, name string, args ...string) *lineReader {
	t.Helper()
	cmd, out := startProcess(t, name, args...)
	return &lineReader{cmd: cmd, out: out}
}

func (r *lineReader) expect(t *testing.T, line string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(r.out.String(), line) {
			return errorf("reader got %q, want %q", r.out.String(), line)
		}
		return nil
	})
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
}

// TestPrivilegedNATManyConnections: 1,000 concurrent TCP connections
// through the masquerade all complete with their bytes intact.
func TestPrivilegedNATManyConnections(t *testing.T) {
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "client")
	in.srv.start(t, "env", helperEnv+"=1", testBinary(), "echo-server", srvAddr+":7100")
	waitListening(t, in.srv.run, "tcp", 7100)
	out := l.mustCtl("exec", "-e", helperEnv+"=1", "client", "--", testBinary(), "conns", srvAddr+":7100", "1000", "16384")
	if !strings.Contains(out, "ok 1000 connections") {
		t.Fatalf("1000 connections: %s", out)
	}
	var st control.Stats
	l.ctlJSON(&st, "stats")
	if st.NAT["created"] < 1000 {
		t.Errorf("conntrack created %d connections, want ≥ 1000", st.NAT["created"])
	}
}

// TestPrivilegedNATLimit: a flood of new connections beyond the table's
// limit leaves an established transfer running.
func TestPrivilegedNATLimit(t *testing.T) {
	testutil.RequireTools(t, "iperf3")
	l := startLab(t, labOptions{args: []string{"--conntrack-max", "256"}})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "bulk")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "flooder")
	in.srv.start(t, "iperf3", "-s", "-1")
	waitListening(t, in.srv.run, "tcp", 5201)
	transfer := l.execStart(t, "bulk", "iperf3", "-c", srvAddr, "-t", "4")
	time.Sleep(time.Second) // established (and assured) before the flood
	out := l.mustCtl("exec", "-e", helperEnv+"=1", "flooder", "--", testBinary(), "udpflood", srvAddr, "20000", "22000")
	if !strings.Contains(out, "sent 2001") {
		t.Fatalf("flood: %s", out)
	}
	res := transfer.wait(t, 30*time.Second)
	if !strings.Contains(res, "receiver") || strings.Contains(res, "error") {
		t.Fatalf("the established transfer did not survive the flood:\n%s", res)
	}
	var st control.Stats
	l.ctlJSON(&st, "stats")
	if st.NAT["early_dropped"] == 0 {
		t.Errorf("no early drops counted with 2001 new flows and a limit of 256: %v", st.NAT)
	}
	var cs []control.Conn
	l.ctlJSON(&cs, "conntrack", "list")
	if len(cs) > 256 {
		t.Errorf("conntrack holds %d entries, limit 256", len(cs))
	}
}

// TestPrivilegedInternalNetwork: an --internal network never reaches the
// outside, but its endpoints still reach each other and the host.
func TestPrivilegedInternalNetwork(t *testing.T) {
	testutil.RequireTools(t, "nc", "ping")
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "--internal", "backend")
	l.mustCtl("run", "-d", "--net", "backend", "--name", "db")
	l.mustCtl("run", "-d", "--net", "backend", "--name", "app")
	in.srv.start(t, "nc", "-lk", "-p", "7000")
	waitListening(t, in.srv.run, "tcp", 7000)
	if r := l.exec("db", "ping", "-c1", "-W1", srvAddr); r.code == 0 {
		t.Error("an internal network reached the internet with ping")
	}
	if r := l.exec("db", "nc", "-z", "-w", "2", srvAddr, "7000"); r.code == 0 {
		t.Error("an internal network reached the internet over TCP")
	}
	l.mustExec("app", "ping", "-c1", "-W2", "db")
	if r := l.host("ping", "-c1", "-W2", nicOn(t, l, "db", "backend").IP); r.code != 0 {
		t.Errorf("the host cannot reach an internal endpoint: %v", r)
	}
	out := l.mustCtl("nat", "show")
	if !strings.Contains(out, "internal") {
		t.Errorf("nat show does not say backend is internal:\n%s", out)
	}
	var st control.Stats
	l.ctlJSON(&st, "stats")
	if st.Router["drop-internal"] == 0 {
		t.Errorf("no drop-internal counted: %v", st.Router)
	}
}
