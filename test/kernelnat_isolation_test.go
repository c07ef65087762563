//go:build linux

package test

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// TestPrivilegedKernelNATInternal: an --internal network's endpoints get
// REFUSED for names outside vswitchd and the upstream resolver sees no
// query from them (CVE-2024-29018), while an ordinary network's names are
// forwarded; publishing a port of an internal endpoint is refused, at run
// and later.
func TestPrivilegedKernelNATInternal(t *testing.T) {
	testutil.RequireTools(t, "dig")
	l := startLab(t, labOptions{args: []string{"--dns-upstream", "10.99.0.2:53"}})
	up := l.newPeer(t, "dns", "dns0", "10.99.0.1/24", "eth0", "10.99.0.2/24")
	// The "upstream": it counts queries and never answers.
	var queries atomic.Int64
	var names atomic.Value
	names.Store("")
	c := udpIn(t, up.name, "10.99.0.2:53")
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			queries.Add(1)
			names.Store(names.Load().(string) + string(buf[12:n]))
		}
	}()
	l.mustCtl("network", "create", "--internal", "--subnet", "172.26.0.0/24", "backend")
	l.mustCtl("network", "create", "--subnet", "172.25.0.0/24", "front")
	l.mustCtl("run", "-d", "--net", "backend", "--name", "db")
	l.mustCtl("run", "-d", "--net", "front", "--name", "app")

	out := l.mustExec("db", "dig", "+tries=1", "+time=3", "exfiltrate-me.example.org")
	if !strings.Contains(out, "status: REFUSED") {
		t.Errorf("an internal endpoint's outside name: want REFUSED:\n%s", out)
	}
	if got := l.mustExec("db", "dig", "+short", "db"); !strings.Contains(got, "172.26.0.") {
		t.Errorf("an internal endpoint's own name: %q", got)
	}
	time.Sleep(500 * time.Millisecond)
	if n := queries.Load(); n != 0 {
		t.Errorf("the upstream saw %d queries from the internal network", n)
	}
	l.exec("app", "dig", "+tries=1", "+time=2", "forwarded.example.org")
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(names.Load().(string), "forwarded") {
			return fmt.Errorf("the upstream did not see the ordinary network's query (%d queries)", queries.Load())
		}
		return nil
	})
	if strings.Contains(names.Load().(string), "exfiltrate") {
		t.Error("the internal endpoint's query reached the upstream")
	}

	if r := l.ctl("publish", "db", "5432:5432"); r.code == 0 || !strings.Contains(r.stderr, "internal") {
		t.Errorf("publish on an internal endpoint: %v, want refused", r)
	}
	if r := l.ctl("run", "-d", "--net", "backend", "--name", "db2", "-p", "5433:5432"); r.code == 0 || !strings.Contains(r.stderr, "internal") {
		t.Errorf("run -p on an internal network: %v, want refused", r)
	}
	if r := l.ctl("inspect", "db2"); r.code == 0 {
		t.Error("the refused run left an endpoint")
	}
}

// TestPrivilegedKernelNATMapping: RFC 4787 REQ-1 through the masquerade.
// Two endpoints bind the same UDP source port and each talk to two
// outside servers that answer with the address and port they see (a STUN
// binding request's answer): each endpoint has one mapping for both
// servers, the first keeps its port, the second gets another.
func TestPrivilegedKernelNATMapping(t *testing.T) {
	l := startLab(t, labOptions{})
	in := setupMTUInternet(t, l)
	l.mustCtl("network", "create", "--subnet", "172.24.0.0/24", "stun")
	l.mustCtl("run", "-d", "--net", "stun", "--name", "a")
	l.mustCtl("run", "-d", "--net", "stun", "--name", "b")
	for _, addr := range []string{srvAddr + ":3478", srv2Addr + ":3478"} {
		s := udpIn(t, in.srv.name, addr)
		go func() {
			buf := make([]byte, 1500)
			for {
				_, from, err := s.ReadFromUDP(buf)
				if err != nil {
					return
				}
				s.WriteToUDP([]byte(from.String()), from)
			}
		}()
	}
	a := udpIn(t, l.epNS(t, "a"), "0.0.0.0:40000")
	b := udpIn(t, l.epNS(t, "b"), "0.0.0.0:40000")
	seen := func(c *net.UDPConn, server string) string {
		t.Helper()
		dst, _ := net.ResolveUDPAddr("udp4", server)
		buf := make([]byte, 1500)
		for range 3 {
			c.WriteToUDP([]byte("binding request"), dst)
			c.SetReadDeadline(time.Now().Add(time.Second))
			if n, _, err := c.ReadFromUDP(buf); err == nil {
				return string(buf[:n])
			}
		}
		t.Fatalf("no answer from %s", server)
		return ""
	}
	a1 := seen(a, srvAddr+":3478")
	b1 := seen(b, srvAddr+":3478")
	b2 := seen(b, srv2Addr+":3478") // toward the second server 40000 is free, but b is mapped already
	a2 := seen(a, srv2Addr+":3478")
	t.Logf("a: %s, %s; b: %s, %s", a1, a2, b1, b2)
	if a1 != a2 || a1 != uplinkAddr+":40000" {
		t.Errorf("endpoint a mapped to %s and %s, want %s:40000 for both", a1, a2, uplinkAddr)
	}
	if b1 != b2 || b1 == a1 {
		t.Errorf("endpoint b mapped to %s and %s, want one mapping, not a's %s", b1, b2, a1)
	}
}
