//go:build linux

package test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/steer"
)

// openFDs returns how many descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestPrivilegedPublishRangeOneSocket: `-p 20000-40000:20000-40000` is
// served by one listening socket per address family and a BPF sk_lookup
// program: the daemon's open descriptors grow by fewer than 100, and a
// connection from the host to a port in the middle of the range arrives
// at that port of the endpoint. Where the kernel cannot steer (no
// sk_lookup, or TCP sockets not allowed in a SOCKMAP) the test skips with
// the reason: the range then gets a listener per port.
func TestPrivilegedPublishRangeOneSocket(t *testing.T) {
	testutil.RequireTools(t, "nsenter")
	l := startLab(t, labOptions{nsenter: true})
	var why error
	inNS(t, l.name, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false) // a SOCKMAP refuses MPTCP sockets
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		s, err := steer.Listener(netip.MustParseAddr("127.0.0.1"), 1, 2, ln)
		if err != nil {
			why = err
			return nil
		}
		return s.Close()
	})
	if why != nil {
		if errors.Is(why, steer.ErrNoSockmap) || strings.Contains(why.Error(), "sk_lookup") {
			t.Skipf("kernel feature absent, ranges listen per port: %v", why)
		}
		t.Fatal(why)
	}
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "web")
	pid := l.cmd.Process.Pid
	before := openFDs(t, pid)
	l.mustCtl("publish", "web", "20000-40000:20000-40000")
	after := openFDs(t, pid)
	webNS := l.epNS(t, "web")
	startProcess(t, "ip", "netns", "exec", webNS, "env", helperEnv+"=1", testBinary(), "echo-server", "0.0.0.0:31234")
	waitListening(t, func(a ...string) result { return nsRun(webNS, a...) }, "tcp", 31234)
	r := nsRun(l.name, "env", helperEnv+"=1", testBinary(), "stream", "127.0.0.1:31234", "0.2")
	t.Logf("publish 20000-40000: daemon descriptors %d -> %d (+%d); connection to 127.0.0.1:31234: %s", before, after, after-before, strings.TrimSpace(r.stdout))
	if after-before >= 100 {
		t.Errorf("publishing a 20,001-port range opened %d descriptors, want < 100", after-before)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "ok 20480 bytes") {
		t.Errorf("connection to the middle of the range: %v", r)
	}
	if !strings.Contains(l.log.String(), "steered=true") {
		t.Errorf("the daemon did not log the range as steered:\n%s", l.log)
	}
}
