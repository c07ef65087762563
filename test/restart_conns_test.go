//go:build linux

package test

import (
	"encoding/binary"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// prober sends a numbered UDP datagram every interval from a socket in a
// namespace to an echo server and records when each answer came back, to
// measure how long traffic stopped.
type prober struct {
	c        *net.UDPConn
	interval time.Duration
	mu       sync.Mutex
	sent     int
	got      []time.Time // arrival of each answer, in order
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startProber(t *testing.T, ns, dst string, interval time.Duration) *prober {
	t.Helper()
	p := &prober{interval: interval, stop: make(chan struct{})}
	inNS(t, ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", dst)
		if err != nil {
			return err
		}
		p.c, err = net.DialUDP("udp4", nil, a)
		return err
	})
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 64)
		for {
			if _, err := p.c.Read(buf); err != nil {
				return
			}
			p.mu.Lock()
			p.got = append(p.got, time.Now())
			p.mu.Unlock()
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var b [8]byte
		for i := uint64(0); ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint64(b[:], i)
			p.c.Write(b[:])
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *prober) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	time.Sleep(200 * time.Millisecond) // the last answers
	p.c.Close()
	p.wg.Wait()
}

// result stops the prober and returns the longest time without an answer
// after since, and how many probes went unanswered.
func (p *prober) result(since time.Time) (gap time.Duration, lost int) {
	p.close()
	last := since
	for _, at := range p.got {
		if at.Before(since) {
			continue
		}
		gap = max(gap, at.Sub(last))
		last = at
	}
	return gap, p.sent - len(p.got)
}

// inNSCmd starts a helper command of the test binary in namespace ns.
func inNSCmd(t *testing.T, ns string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "env", helperEnv + "=1", testBinary()}, args...)...)
	return cmd
}

// TestPrivilegedRestartKeepsConnections: a masqueraded TCP transfer (an
// endpoint to a server beyond the uplink) and a published-port TCP session
// (an outside client to the uplink's port 8080, DNAT to an endpoint) and
// the host's own session to 127.0.0.1:8080 (redirected to the endpoint
// through the host leg) run across a SIGTERM + start and across a kill -9
// + start, and complete with every byte compared; the connection table is saved and restored. The
// time traffic stopped (a UDP probe every 5 ms through the masquerade) is
// measured and printed.
func TestPrivilegedRestartKeepsConnections(t *testing.T) {
	testutil.RequireTools(t, "nsenter")
	id, labNS := lastingLabNS(t)
	args := []string{"--keep", "--conntrack-save-interval", "1s"}
	l := startLab(t, labOptions{id: id, nsenter: true, args: args})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	l.mustCtl("run", "-d", "--net", "n", "--name", "web", "-p", "8080:7200")
	in.srv.start(t, "env", helperEnv+"=1", testBinary(), "echo-server", srvAddr+":7100")
	udpEcho(udpIn(t, in.srv.name, srvAddr+":7001"))
	webNS := l.epNS(t, "web")
	startProcess(t, "ip", "netns", "exec", webNS, "env", helperEnv+"=1", testBinary(), "echo-server", "0.0.0.0:7200")
	waitListening(t, in.srv.run, "tcp", 7100)
	waitListening(t, func(a ...string) result { return nsRun(webNS, a...) }, "tcp", 7200)
	aNS := l.epNS(t, "a")

	cur := l
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		masq := inNSCmd(t, aNS, "stream", srvAddr+":7100", "6")
		pub := inNSCmd(t, in.inet.name, "stream", uplinkAddr+":8080", "6")
		host := inNSCmd(t, labNS, "stream", "127.0.0.1:8080", "6")
		var masqOut, pubOut, hostOut strings.Builder
		masq.Stdout, masq.Stderr = &masqOut, &masqOut
		pub.Stdout, pub.Stderr = &pubOut, &pubOut
		host.Stdout, host.Stderr = &hostOut, &hostOut
		cmds := []*exec.Cmd{masq, pub, host}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		p := startProber(t, aNS, srvAddr+":7001", 5*time.Millisecond)
		time.Sleep(2500 * time.Millisecond) // established, and saved at least once
		var st control.Stats
		cur.ctlJSON(&st, "stats")
		if st.Proxy["tcp_redirected"] != 1 || st.Proxy["tcp_conns"] != 0 {
			t.Errorf("the host's session: tcp_redirected %d, tcp_conns %d; want it redirected", st.Proxy["tcp_redirected"], st.Proxy["tcp_conns"])
		}
		t0 := time.Now()
		cur.halt(sig)
		stopped := time.Since(t0)
		o := labOptions{id: id, dir: l.dir, nsenter: true}
		if i == 0 {
			o.args = args // the second restart keeps too
		}
		cur = startLab(t, o)
		ready := time.Since(t0)
		werr := make(chan error, len(cmds))
		for _, c := range cmds {
			go func() { werr <- c.Wait() }()
		}
		for range cmds {
			select {
			case <-werr:
			case <-time.After(60 * time.Second):
				for _, c := range cmds {
					c.Process.Kill()
				}
				t.Fatalf("after %v the transfers did not end:\nmasqueraded: %s\npublished: %s\nhost: %s\nconntrack:\n%s\ndaemon log:\n%s",
					sig, masqOut.String(), pubOut.String(), hostOut.String(), cur.ctl("conntrack", "list"), cur.log)
			}
		}
		gap, lost := p.result(t0)
		t.Logf("restart after %v: old daemon gone in %v, new one answering in %v; traffic stopped for %v (%d of %d probes lost)",
			sig, stopped.Round(time.Millisecond), ready.Round(time.Millisecond), gap.Round(time.Millisecond), lost, p.sent)
		if !strings.Contains(masqOut.String(), "ok 614400 bytes") {
			t.Errorf("masqueraded transfer across %v: %s", sig, masqOut.String())
		}
		if !strings.Contains(pubOut.String(), "ok 614400 bytes") {
			t.Errorf("published-port session across %v: %s", sig, pubOut.String())
		}
		if !strings.Contains(hostOut.String(), "ok 614400 bytes") {
			t.Errorf("the host's session to 127.0.0.1:8080 across %v: %s", sig, hostOut.String())
		}
		if !strings.Contains(cur.log.String(), "conntrack restored") {
			t.Errorf("after %v the daemon did not restore the connection table:\n%s", sig, cur.log)
		}
	}
}

// TestPrivilegedTakeover: `vswitchd --takeover` replaces a running daemon
// while an endpoint pings another every 20 ms: at most 10 pings are lost
// (the number is printed). The host leg's TAP is handed over (same
// ifindex: it never went away), as are the endpoints' TAPs and the
// published port's listener, which answers afterwards.
func TestPrivilegedTakeover(t *testing.T) {
	testutil.RequireTools(t, "nsenter", "ping")
	id, labNS := lastingLabNS(t)
	l := startLab(t, labOptions{id: id, nsenter: true})
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	l.mustCtl("run", "-d", "--net", "n", "--name", "b", "-p", "8080:7200")
	webNS := l.epNS(t, "b")
	startProcess(t, "ip", "netns", "exec", webNS, "env", helperEnv+"=1", testBinary(), "echo-server", "0.0.0.0:7200")
	waitListening(t, func(a ...string) result { return nsRun(webNS, a...) }, "tcp", 7200)
	hostIdx := ifindex(t, labNS, "vswitch0")
	ipB := l.endpoint("b").NICs[0].IP

	ping := exec.Command("ip", "netns", "exec", l.epNS(t, "a"), "ping", "-n", "-i", "0.02", "-c", "250", "-W", "1", ipB)
	var out strings.Builder
	ping.Stdout, ping.Stderr = &out, &out
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	l2 := startLab(t, labOptions{id: id, dir: l.dir, nsenter: true, args: []string{"--takeover"}})
	l.halt(0) // it exits by itself once it has handed over
	ready := time.Since(t0)
	if err := ping.Wait(); err != nil && !strings.Contains(out.String(), "received") {
		t.Fatalf("ping: %v\n%s", err, out.String())
	}
	m := lossRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("ping output: %s", out.String())
	}
	lost := atoi(m[1]) - atoi(m[2])
	maxRTT := 0.0
	for _, r := range rttRE.FindAllStringSubmatch(out.String(), -1) {
		v, _ := strconv.ParseFloat(r[1], 64)
		maxRTT = max(maxRTT, v)
	}
	t.Logf("--takeover: old daemon gone %v after the new one started; ping every 20 ms lost %d of %s, max RTT %.1f ms (the handover gap: frames wait in the TAPs' queues)",
		ready.Round(time.Millisecond), lost, m[1], maxRTT)
	if lost > 10 {
		t.Errorf("--takeover lost %d pings at 20 ms intervals, want ≤ 10", lost)
	}
	if got := ifindex(t, labNS, "vswitch0"); got != hostIdx {
		t.Errorf("the host leg was re-created (ifindex %s, was %s), want it handed over", got, hostIdx)
	}
	if !strings.Contains(l2.log.String(), "took over") || strings.Contains(l2.log.String(), "not used") {
		t.Errorf("the new daemon's log does not show a complete handover:\n%s", l2.log)
	}
	if !strings.Contains(l.log.String(), "taken over by pid") {
		t.Errorf("the old daemon's log does not say it was taken over:\n%s", l.log)
	}
	r := nsRun(labNS, "env", helperEnv+"=1", testBinary(), "stream", "127.0.0.1:8080", "0.2")
	if r.code != 0 || !strings.Contains(r.stdout, "ok 20480 bytes") {
		t.Errorf("the published port after the takeover: %v", r)
	}
}
