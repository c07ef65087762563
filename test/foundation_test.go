//go:build linux

package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedTwoEndpoints is the foundation scenario: two endpoints on
// one network ping each other and move 100 MB over TCP through vswitchd,
// which is the only thing connecting them.
func TestPrivilegedTwoEndpoints(t *testing.T) {
	testutil.RequireTools(t, "ping", "nc", "ss")
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "a")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "b")

	names, _ := netns.List()
	for _, ep := range []string{"a", "b"} {
		if !contains(names, l.prefix+ep) {
			t.Fatalf("ip netns list = %v, want %s visible from the host", names, l.prefix+ep)
		}
	}
	// Nothing but vswitchd joins the endpoints: no kernel bridge or veth in
	// the daemon's namespace, and each endpoint has only lo and a TAP.
	if r := l.host("ip", "-o", "link", "show", "type", "bridge"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("a kernel bridge exists in the lab: %s", r.stdout)
	}
	if out := l.mustExec("a", "ip", "-d", "-o", "link", "show", "eth0"); !strings.Contains(out, "tun type tap") {
		t.Fatalf("eth0 of a is not a TAP: %s", out)
	}

	l.mustExec("a", "ping", "-c", "3", "-i", "0.2", "-W", "2", "b")
	l.mustExec("b", "ping", "-c", "3", "-i", "0.2", "-W", "2", "a")

	// 100 MB over TCP, bytes compared.
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, 100<<20)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := l.ports()
	srv := make(chan result, 1)
	go func() { srv <- l.exec("b", "sh", "-c", "nc -l -p 5001 > "+out) }()
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(l.exec("b", "ss", "-ltn").stdout, ":5001") {
			return fmt.Errorf("nc not listening in b")
		}
		return nil
	})
	if r := l.exec("a", "sh", "-c", "nc -N b 5001 < "+in); r.code != 0 {
		t.Fatalf("send: %v", r)
	}
	select {
	case r := <-srv:
		if r.code != 0 {
			t.Fatalf("receive: %v", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("receiver did not finish")
	}
	got, _ := os.ReadFile(out)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}

	// The frames went through vswitchd: its port counters moved by at
	// least the payload.
	after := l.ports()
	if d := after["a/eth0"].RxBytes - before["a/eth0"].RxBytes; d < 100<<20 {
		t.Errorf("a/eth0 received %d bytes from a, want ≥ 100 MiB", d)
	}
	if d := after["b/eth0"].TxBytes - before["b/eth0"].TxBytes; d < 100<<20 {
		t.Errorf("b/eth0 sent %d bytes to b, want ≥ 100 MiB", d)
	}

	// fdb show lists both MACs on their ports.
	var fdb []control.FDBEntry
	l.ctlJSON(&fdb, "fdb", "show")
	for _, ep := range []string{"a", "b"} {
		mac := l.endpoint(ep).NICs[0].MAC
		found := false
		for _, e := range fdb {
			found = found || e.MAC == mac && e.Port == ep+"/eth0" && !e.Static
		}
		if !found {
			t.Errorf("fdb show has no learned entry %s on %s/eth0: %+v", mac, ep, fdb)
		}
	}
	text := l.mustCtl("fdb", "show")
	if !strings.Contains(text, "a/eth0") || !strings.Contains(text, "b/eth0") {
		t.Errorf("fdb show:\n%s", text)
	}

	// rm removes namespace, TAP and files at once.
	l.mustCtl("rm", "a")
	if netns.Exists(l.prefix + "a") {
		t.Error("namespace of a still exists after rm")
	}
	if _, err := os.Stat(filepath.Join(netns.EtcDir, l.prefix+"a")); err == nil {
		t.Error("/etc/netns entry of a still exists after rm")
	}
	if _, ok := l.ports()["a/eth0"]; ok {
		t.Error("port a/eth0 still attached after rm")
	}
	// Daemon shutdown (in Cleanup) removes b and checks for leaks.
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPrivilegedBadInput checks that bad requests get a clear one-line
// error and a non-zero exit, and change nothing.
func TestPrivilegedBadInput(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "--subnet", "10.20.0.0/24", "test-network")
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "apple-server")

	long := strings.Repeat("n", 64)
	cases := []struct {
		name string
		args []string
		want string // in the error message
	}{
		{"bad CIDR", []string{"network", "create", "--subnet", "10.0.0.0/33", "x"}, "not a CIDR"},
		{"not a CIDR", []string{"network", "create", "--subnet", "banana", "x"}, "not a CIDR"},
		{"host bits", []string{"network", "create", "--subnet", "10.30.0.1/24", "x"}, "host bits"},
		{"overlapping subnet", []string{"network", "create", "--subnet", "10.20.0.128/25", "x"}, "overlaps network \"test-network\""},
		{"duplicate name", []string{"network", "create", "test-network"}, "already exists"},
		{"over-long name", []string{"network", "create", long}, "longer than 63"},
		{"name with slash", []string{"network", "create", "a/b"}, "not allowed"},
		{"bad vlan", []string{"network", "create", "--vlan", "4095", "x"}, "out of range"},
		{"run unknown network", []string{"run", "-d", "--net", "nosuch", "--name", "x"}, "network \"nosuch\" not found"},
		{"run taken name", []string{"run", "-d", "--net", "test-network", "--name", "apple-server"}, "already exists"},
		{"run bad name", []string{"run", "-d", "--net", "test-network", "--name", "../etc"}, "invalid name"},
		{"run name with slash", []string{"run", "-d", "--net", "test-network", "--name", "a/b"}, "not allowed"},
		{"run ip outside subnet", []string{"run", "-d", "--net", "test-network", "--name", "x", "--ip", "10.99.0.5"}, "outside the subnet"},
		{"run ip taken", []string{"run", "-d", "--net", "test-network", "--name", "x", "--ip", "10.20.0.2"}, "already in use"},
		{"run bad publish", []string{"run", "-d", "--net", "test-network", "--name", "x", "-p", "99999:80"}, "not a port"},
		{"exec unknown endpoint", []string{"exec", "nosuch", "--", "true"}, "endpoint \"nosuch\" not found"},
		{"rm unknown endpoint", []string{"rm", "nosuch"}, "not found"},
		{"network rm unknown", []string{"network", "rm", "nosuch"}, "not found"},
		{"network rm with endpoints", []string{"network", "rm", "test-network"}, "has endpoints"},
	}
	snapshot := func() string {
		var b bytes.Buffer
		b.WriteString(l.mustCtl("network", "ls", "--json"))
		b.WriteString(l.psState())
		names, _ := netns.List()
		for _, n := range names {
			if strings.HasPrefix(n, l.prefix) {
				b.WriteString(n + "\n")
			}
		}
		b.WriteString(l.host("ip", "route").stdout)
		return b.String()
	}
	before := snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := l.ctl(tc.args...)
			if r.code == 0 {
				t.Fatalf("vswitchctl %s succeeded, want an error", strings.Join(tc.args, " "))
			}
			msg := strings.TrimSuffix(r.stderr, "\n")
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "Error: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want one line \"Error: …%s…\"", r.stderr, tc.want)
			}
			if after := snapshot(); after != before {
				t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// The API says what kind of error it was.
	_, err := l.client.Network(context.Background(), "nosuch")
	if ae, ok := err.(*control.APIError); !ok || ae.Status != 404 {
		t.Errorf("GET unknown network: %v, want a 404 APIError", err)
	}
}
