//go:build linux

package test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// streamBlock is the pattern the multi-queue test's streams carry: stream
// s sends, at offset o, streamBlock[(o+s*7919) % len(streamBlock)], so a
// byte lost, duplicated or moved shows up wherever it happens.
var streamBlock = func() []byte {
	b := make([]byte, 1<<20+13)
	r := rand.New(rand.NewPCG(16, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// streamSend writes n bytes of stream s's pattern to c, then closes its
// sending side.
func streamSend(c *net.TCPConn, s int, n int64) error {
	for off := int64(0); off < n; {
		i := int((off + int64(s)*7919) % int64(len(streamBlock)))
		m, err := c.Write(streamBlock[i:min(len(streamBlock), i+int(min(n-off, 256<<10)))])
		off += int64(m)
		if err != nil {
			return fmt.Errorf("stream %d: write at %d: %w", s, off, err)
		}
	}
	return c.CloseWrite()
}

// streamCheck reads c to its end and compares every byte with stream s's
// pattern; it wants exactly n bytes.
func streamCheck(c *net.TCPConn, s int, n int64) error {
	buf := make([]byte, 256<<10)
	var off int64
	for {
		m, err := c.Read(buf)
		b := buf[:m]
		for len(b) > 0 {
			i := int((off + int64(s)*7919) % int64(len(streamBlock)))
			k := min(len(b), len(streamBlock)-i)
			if !bytes.Equal(b[:k], streamBlock[i:i+k]) {
				return fmt.Errorf("stream %d: bytes at %d–%d differ from what was sent", s, off, off+int64(k))
			}
			b, off = b[k:], off+int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream %d: read at %d: %w", s, off, err)
		}
	}
	if off != n {
		return fmt.Errorf("stream %d: %d bytes received, want %d", s, off, n)
	}
	return nil
}

// runStreams runs one bidirectional stream per connection: both ends send
// n bytes of the stream's pattern and check what they receive.
func runStreams(clients, servers []*net.TCPConn, n int64) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for s := range clients {
		for i, c := range []*net.TCPConn{clients[s], servers[s]} {
			seed := 2*s + i // each direction its own pattern
			wg.Go(func() {
				if err := streamSend(c, seed, n); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
			peer := []*net.TCPConn{servers[s], clients[s]}[i]
			wg.Go(func() {
				if err := streamCheck(peer, seed, n); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errs
}

// dialStreams opens k connections from namespace from to addr, accepted
// by a listener on laddr in namespace to, and returns both ends.
func dialStreams(t *testing.T, from, to, laddr, addr string, k int) (clients, servers []*net.TCPConn) {
	t.Helper()
	var ln net.Listener
	inNS(t, to, func() (err error) { ln, err = net.Listen("tcp4", laddr); return err })
	defer ln.Close()
	accepted := make(chan *net.TCPConn, k)
	go func() {
		for range k {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c.(*net.TCPConn)
		}
	}()
	inNS(t, from, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for range k {
			c, err := d.Dial("tcp4", addr)
			if err != nil {
				return err
			}
			clients = append(clients, c.(*net.TCPConn))
		}
		return nil
	})
	for range k {
		select {
		case c, ok := <-accepted:
			if !ok {
				t.Fatal("accept failed")
			}
			servers = append(servers, c)
		case <-time.After(10 * time.Second):
			t.Fatal("connections not accepted within 10 s")
		}
	}
	t.Cleanup(func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	})
	return clients, servers
}

// TestPrivilegedMultiQueueStreams: with --tap-queues=2 an endpoint's NIC
// is a two-queue TAP (ports shows it, the kernel sees two transmit
// queues; with 1, one); eight parallel TCP streams through the masquerade and eight
// through a published port, each both ways at once, deliver every byte
// intact and in order with no reset, and the kernel spreads them over both
// queues. The receivers' out-of-order counts are logged.
func TestPrivilegedMultiQueueStreams(t *testing.T) {
	testutil.RequireTools(t, "tc", "nstat")
	for _, queues := range []int{2, 1} {
		t.Run(fmt.Sprintf("tap-queues=%d", queues), func(t *testing.T) { testQueueStreams(t, queues) })
	}
}

// testQueueStreams is TestPrivilegedMultiQueueStreams with queues TAP
// queues (1: the single-queue baseline, for the logged counts).
func testQueueStreams(t *testing.T, queues int) {
	l := startLab(t, labOptions{args: []string{fmt.Sprintf("--tap-queues=%d", queues)}})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "mq")
	l.mustCtl("run", "-d", "--net", "mq", "--name", "a", "-p", "7800:7800")
	ep := l.epNS(t, "a")

	var ps []control.Port
	l.ctlJSON(&ps, "ports")
	found := false
	for _, p := range ps {
		if p.Endpoint == "a" {
			found = true
			if p.Queues != queues {
				t.Errorf("port %s of endpoint a: queues %d, want %d", p.Name, p.Queues, queues)
			}
		}
	}
	if !found {
		t.Fatalf("no port of endpoint a in %+v", ps)
	}
	if out := l.mustExec("a", "ls", "/sys/class/net/eth0/queues"); !strings.Contains(out, fmt.Sprintf("tx-%d", queues-1)) || strings.Contains(out, fmt.Sprintf("tx-%d", queues)) {
		t.Errorf("eth0's queues: %q, want tx-0 to tx-%d", out, queues-1)
	}
	l.mustExec("a", "nstat", "-n") // reset the counters nstat reports

	const size = 32 << 20 // per stream and direction
	for _, c := range []struct {
		what             string
		from, to, laddr  string
		addr             string
		clientNS, srvEnd string
	}{
		{"masquerade", ep, in.srv.name, srvAddr + ":7900", srvAddr + ":7900", "a", "srv"},
		{"published port", in.srv.name, ep, "0.0.0.0:7800", uplinkAddr + ":7800", "srv", "a"},
	} {
		clients, servers := dialStreams(t, c.from, c.to, c.laddr, c.addr, 8)
		start := time.Now()
		errs := runStreams(clients, servers, size)
		el := time.Since(start)
		for _, err := range errs {
			t.Errorf("%s: %v", c.what, err)
		}
		t.Logf("%s: 8 streams × 2 × %d MiB in %v (%.2f Gbit/s both ways together)", c.what, size>>20, el.Round(time.Millisecond),
			float64(8*2*size*8)/el.Seconds()/1e9)
	}

	// Frames the endpoint sent, per transmit queue of eth0 (mq's
	// children): the streams went out by both.
	out := l.mustExec("a", "tc", "-s", "qdisc", "show", "dev", "eth0")
	sent := regexp.MustCompile(`parent :(\d+)[^\n]*\n\s*Sent (\d+) bytes`).FindAllStringSubmatch(out, -1)
	busy := 0
	for _, m := range sent {
		if b, _ := strconv.ParseInt(m[2], 10, 64); b > 1<<20 {
			busy++
		}
	}
	if queues > 1 && busy < 2 {
		t.Errorf("eth0 sent over %d queue(s) with more than 1 MiB, want 2:\n%s", busy, out)
	}
	t.Logf("endpoint a: %s", strings.Join(strings.Fields(l.mustExec("a", "nstat", "-az", "TcpExtTCPOFOQueue", "TcpExtTCPSACKReorder", "TcpRetransSegs", "TcpExtTCPAbortOnData", "TcpEstabResets")), " "))
	l.ctlJSON(&ps, "ports")
	for _, p := range ps {
		t.Logf("port %s: queues %d, rx %d frames, tx %d frames, drops %v", p.Name, p.Queues, p.RxFrames, p.TxFrames, p.Drops)
	}
}
