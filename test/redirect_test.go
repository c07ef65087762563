package test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// hostLegAddr is host.vswitchd.internal, the daemon's namespace's address
// on the switch (the first of --host-cidr's default).
const hostLegAddr = "169.254.127.1"

// TestPrivilegedHostConnectRedirect: the host's TCP connections to a
// published port go straight to the endpoint through the switch (one
// connection, seen by the endpoint from host.vswitchd.internal, its SYN
// in `vswitchctl capture` read by tshark), the client sees the address it
// dialled as its peer, and `stats` counts them as redirected; a client socket bound to 127.0.0.1,
// and every connection of a daemon started with --connect-redirect=false,
// is relayed (the endpoint sees its own address). When the daemon stops,
// its programs are gone from the kernel.
func TestPrivilegedHostConnectRedirect(t *testing.T) {
	testutil.RequireTools(t, "nc", "socat", "python3", "tshark")
	before := connectPrograms(t)
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "test-network")
	// The endpoint answers each connection with the client's address as
	// it sees it.
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "web", "-p", "8080:80", "--",
		"socat", "TCP4-LISTEN:80,fork,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR")
	waitListening(t, l.epRunner("web"), "tcp", 80)
	web := nicOn(t, l, "web", "test-network").IP

	peer := func(args ...string) string {
		t.Helper()
		r := l.host(append([]string{"nc", "-w", "3"}, args...)...)
		if r.code != 0 {
			t.Fatalf("nc %s: %v", strings.Join(args, " "), r)
		}
		return strings.TrimSpace(r.stdout)
	}
	stats := func() (redirected, relayed uint64) {
		var st control.Stats
		l.ctlJSON(&st, "stats")
		return st.Proxy["tcp_redirected"], st.Proxy["tcp_conns"]
	}

	file := filepath.Join(t.TempDir(), "redirect.pcapng")
	c := l.startCaptureCtl(t, nil, "-w", file, "-c", "1", "--filter", "tcp[tcpflags] == tcp-syn", "web")
	if got := peer("127.0.0.1", "8080"); got != hostLegAddr {
		t.Errorf("the endpoint saw the host's connection to 127.0.0.1:8080 from %q, want %s (through the switch)", got, hostLegAddr)
	}
	c.wait(t)
	syn := []string{"web/eth0", hostLegAddr, web, "80"}
	if rows := tsharkFields(t, file, "frame.interface_name", "ip.src", "ip.dst", "tcp.dstport"); len(rows) != 1 || strings.Join(rows[0], "|") != strings.Join(syn, "|") {
		t.Errorf("capture on web: %v, want the host's SYN %v", rows, syn)
	}
	if got := peer("127.0.0.5", "8080"); got != hostLegAddr {
		t.Errorf("the endpoint saw the host's connection to 127.0.0.5:8080 from %q, want %s", got, hostLegAddr)
	}
	if rd, rl := stats(); rd != 2 || rl != 0 {
		t.Errorf("stats: tcp_redirected %d, tcp_conns %d; want 2, 0", rd, rl)
	}
	// getpeername: the client sees the address it dialled.
	py := `import socket; s = socket.create_connection(("127.0.0.1", 8080), 3); print("%s:%d" % s.getpeername()); print(s.recv(64).decode().strip())`
	if r := l.host("python3", "-c", py); r.code != 0 || r.stdout != "127.0.0.1:8080\n"+hostLegAddr+"\n" {
		t.Errorf("client's peer and answer: %v, want 127.0.0.1:8080 and %s", r, hostLegAddr)
	}

	// A socket bound to 127.0.0.1 cannot cross the switch: relayed.
	if got := peer("-s", "127.0.0.1", "127.0.0.1", "8080"); got != web {
		t.Errorf("the endpoint saw a bound client from %q, want its own address %s (relayed)", got, web)
	}
	if _, rl := stats(); rl != 1 {
		t.Errorf("stats: tcp_conns %d after a bound client, want 1", rl)
	}

	// Unpublished: nothing answers.
	l.mustCtl("unpublish", "web", "8080:80")
	if r := l.host("nc", "-w", "2", "127.0.0.1", "8080"); r.code == 0 {
		t.Errorf("127.0.0.1:8080 still answers after unpublish: %v", r)
	}
	ours := newPrograms(t, before)
	if len(ours) == 0 {
		t.Error("no vsw_connect4 program is attached while the daemon runs")
	}
	l.stop()
	for _, id := range ours {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("leak: program %d still loaded after the daemon stopped", id)
		}
	}

	// --connect-redirect=false: every connection is relayed.
	l = startLab(t, labOptions{args: []string{"--connect-redirect=false"}})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "web", "-p", "8080:80", "--",
		"socat", "TCP4-LISTEN:80,fork,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR")
	waitListening(t, l.epRunner("web"), "tcp", 80)
	if got, web := peer("127.0.0.1", "8080"), nicOn(t, l, "web", "test-network").IP; got != web {
		t.Errorf("--connect-redirect=false: the endpoint saw %q, want %s (relayed)", got, web)
	}
	if rd, rl := stats(); rd != 0 || rl != 1 {
		t.Errorf("--connect-redirect=false: tcp_redirected %d, tcp_conns %d; want 0, 1", rd, rl)
	}
}

// connectPrograms returns the IDs of the vsw_connect4 programs attached
// to the root of the cgroup v2 hierarchy.
func connectPrograms(t *testing.T) map[ebpf.ProgramID]bool {
	t.Helper()
	root := "/sys/fs/cgroup"
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		root = "/sys/fs/cgroup/unified" // a hybrid hierarchy
	}
	f, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupInet4Connect})
	if err != nil {
		t.Fatalf("query %s: %v", root, err)
	}
	ids := map[ebpf.ProgramID]bool{}
	for _, ap := range q.Programs {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if info, err := p.Info(); err == nil && info.Name == "vsw_connect4" {
			ids[ap.ID] = true
		}
		p.Close()
	}
	return ids
}

// newPrograms returns the vsw_connect4 programs attached now that were not
// in before: the lab's (a steer test running meanwhile may add its own,
// which are gone as soon as it ends).
func newPrograms(t *testing.T, before map[ebpf.ProgramID]bool) []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for id := range connectPrograms(t) {
		if !before[id] {
			ids = append(ids, id)
		}
	}
	return ids
}
