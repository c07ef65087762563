//go:build linux

package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// dialIn dials addr from namespace ns, from local port lport (0: any), with
// SO_REUSEADDR.
func dialIn(ns string, lport int, addr string, timeout time.Duration) (net.Conn, error) {
	h, err := netns.Open(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var c net.Conn
	err = netns.Do(h, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{Port: lport}, Control: reuseAddr, Timeout: timeout}
		var err error
		c, err = d.Dial("tcp4", addr)
		return err
	})
	return c, err
}

// tcpEchoIn serves a line echo on addr in namespace ns until cleanup.
func tcpEchoIn(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() error {
		lc := net.ListenConfig{Control: reuseAddr}
		var err error
		ln, err = lc.Listen(context.Background(), "tcp4", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// echoOnce writes a line on c and reads it back.
func echoOnce(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != line {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// rstScript sends a TCP reset SRC:SPORT → DST:DPORT with sequence SEQ.
const rstScript = `
src, sport, dst, dport, seq = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
send(IP(src=src, dst=dst)/TCP(sport=sport, dport=dport, flags='R', seq=seq % 2**32), verbose=0)
print('sent')
`

// TestPrivilegedKernelNATTCP: connection tracking as nf_conntrack_proto_tcp
// does it, with kernel TCP stacks at both ends: a simultaneous open
// through the masquerade reaches ESTABLISHED and carries data; a forged
// reset from outside outside the window is ignored (the connection keeps
// going, the segment counted invalid) while one at the expected sequence
// closes it; a SYN to an unpublished port of the uplink address, a segment
// of a connection the table no longer knows and a UDP datagram to a closed
// port are answered (RST, ICMP port unreachable) instead of left to time
// out.
func TestPrivilegedKernelNATTCP(t *testing.T) {
	testutil.RequireTools(t, "scapy", "iptables", "tcpdump", "nc")
	l := startLab(t, labOptions{})
	in := setupInternet(t, l)
	l.mustCtl("network", "create", "--subnet", "172.27.0.0/24", "tcp")
	l.mustCtl("run", "-d", "--net", "tcp", "--name", "a")
	aNS := l.epNS(t, "a")

	t.Run("simultaneous open", func(t *testing.T) {
		// srv drops SYNs to 7900, so the endpoint's SYN only opens the
		// mapping; then srv's own SYN crosses it.
		if r := in.srv.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7900", "--tcp-flags", "SYN,ACK,RST,FIN", "SYN", "-j", "DROP"); r.code != 0 {
			t.Fatal(r)
		}
		type dialed struct {
			c   net.Conn
			err error
		}
		fromEP, fromSrv := make(chan dialed, 1), make(chan dialed, 1)
		go func() {
			c, err := dialIn(aNS, 41000, srvAddr+":7900", 10*time.Second)
			fromEP <- dialed{c, err}
		}()
		time.Sleep(300 * time.Millisecond)
		go func() {
			c, err := dialIn(in.srv.name, 7900, uplinkAddr+":41000", 10*time.Second)
			fromSrv <- dialed{c, err}
		}()
		a, b := <-fromEP, <-fromSrv
		if a.err != nil || b.err != nil {
			t.Fatalf("simultaneous open: endpoint %v, srv %v", a.err, b.err)
		}
		defer a.c.Close()
		defer b.c.Close()
		a.c.SetDeadline(time.Now().Add(3 * time.Second))
		b.c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintln(a.c, "from-the-endpoint")
		fmt.Fprintln(b.c, "from-outside")
		for _, x := range []struct {
			c    net.Conn
			want string
		}{{b.c, "from-the-endpoint"}, {a.c, "from-outside"}} {
			if got, err := bufio.NewReader(x.c).ReadString('\n'); err != nil || strings.TrimSpace(got) != x.want {
				t.Errorf("read %q, %v; want %q", got, err, x.want)
			}
		}
		var cs []control.Conn
		l.ctlJSON(&cs, "conntrack", "list", "--port", "7900")
		if len(cs) != 1 || cs[0].State != "ESTABLISHED" {
			t.Errorf("conntrack: %+v, want one ESTABLISHED connection", cs)
		}
	})

	t.Run("forged resets", func(t *testing.T) {
		tcpEchoIn(t, in.srv.name, srvAddr+":7901")
		capt := startCapture(t, in.srv.name, "eth0", "-S", "tcp", "port", "7901")
		c, err := dialIn(aNS, 41001, srvAddr+":7901", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 3 {
			if err := echoOnce(c, "ping"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		// The next sequence srv sends is what the endpoint last
		// acknowledged, once the connection is quiet: all of srv's data
		// acknowledged, as conntrack list shows (its window state) and
		// the capture at srv confirms.
		quietNext := func() uint64 {
			t.Helper()
			var next uint64
			eventually(t, 5*time.Second, func() error {
				var cs []control.Conn
				l.ctlJSON(&cs, "conntrack", "list", "--port", "7901")
				if len(cs) != 1 || len(cs[0].Windows) != 2 {
					return fmt.Errorf("conntrack list --port 7901: %+v, want one TCP connection with two windows", cs)
				}
				w := cs[0].Windows
				if w[1].End != w[0].MaxAck {
					return fmt.Errorf("not quiet: srv sent up to %d, the endpoint acknowledged %d", w[1].End, w[0].MaxAck)
				}
				ls := matching(capt.lines(), uplinkAddr+".41001 > "+srvAddr+".7901", "ack ")
				if len(ls) == 0 {
					return fmt.Errorf("no segment from the endpoint captured")
				}
				m := regexp.MustCompile(`ack (\d+)`).FindStringSubmatch(ls[len(ls)-1])
				next, _ = strconv.ParseUint(m[1], 10, 32)
				if next != w[1].End {
					return fmt.Errorf("the endpoint's last ACK captured at srv is %d, conntrack's window end of srv %d", next, w[1].End)
				}
				if w[0].MaxWin == 0 || w[1].MaxEnd == 0 || w[0].Scale == 0 || w[1].Scale == 0 {
					return fmt.Errorf("window state %+v: want windows, limits and scales (both kernels scale)", w)
				}
				return nil
			})
			return next
		}
		next := quietNext()
		if text := l.mustCtl("conntrack", "list", "--port", "7901"); !strings.Contains(text, fmt.Sprintf("reply-window=[end=%d ", next)) {
			t.Errorf("conntrack list text lacks the window state:\n%s", text)
		}
		invalid := l.natStat(t, "invalid")
		if r := scapy(t, in.srv.name, rstScript, srvAddr, "7901", uplinkAddr, "41001", strconv.FormatUint(next+1<<31, 10)); r.code != 0 {
			t.Fatal(r)
		}
		time.Sleep(300 * time.Millisecond)
		if err := echoOnce(c, "still-there"); err != nil {
			t.Fatalf("an out-of-window reset killed the connection: %v", err)
		}
		if n := l.natStat(t, "invalid"); n <= invalid {
			t.Errorf("conntrack invalid %d → %d: the forged reset was not counted", invalid, n)
		}
		// The echo moved the sequence on: read the new one.
		next = quietNext()
		if r := scapy(t, in.srv.name, rstScript, srvAddr, "7901", uplinkAddr, "41001", strconv.FormatUint(next, 10)); r.code != 0 {
			t.Fatal(r)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "reset") {
			t.Errorf("after a reset at the expected sequence the endpoint read %v, want connection reset", err)
		}
	})

	t.Run("refused, not silent", func(t *testing.T) {
		rst := l.routerStat(t, "rst-sent")
		start := time.Now()
		r := in.srv.run("nc", "-zv", "-w", "5", uplinkAddr, "2222")
		if r.code == 0 || !strings.Contains(r.stderr, "refused") || time.Since(start) > 3*time.Second {
			t.Errorf("SYN to an unpublished port of the uplink address: %v after %v, want refused at once", r, time.Since(start))
		}
		if n := l.routerStat(t, "rst-sent"); n <= rst {
			t.Errorf("rst-sent %d → %d", rst, n)
		}
		if r := in.srv.run("nc", "-zuv", "-w", "2", uplinkAddr, "2223"); r.code == 0 {
			t.Errorf("UDP to a closed port of the uplink address: %v, want port unreachable", r)
		}
		// Connections the table forgot: the outside's next segment is
		// reset; the endpoint's is picked up mid-stream (loose), as
		// Linux does.
		var ln net.Listener
		inNS(t, in.srv.name, func() error {
			var err error
			ln, err = net.Listen("tcp4", srvAddr+":7902")
			return err
		})
		defer ln.Close()
		accepted := make(chan net.Conn, 2)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		fromOutside, err := dialIn(aNS, 0, srvAddr+":7902", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer fromOutside.Close()
		srvSide := <-accepted
		defer srvSide.Close()
		tcpEchoIn(t, in.srv.name, srvAddr+":7903")
		picked, err := dialIn(aNS, 0, srvAddr+":7903", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer picked.Close()
		if err := echoOnce(picked, "before"); err != nil {
			t.Fatal(err)
		}
		l.mustCtl("conntrack", "flush")
		srvSide.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintln(srvSide, "hello?")
		if _, err := srvSide.Read(make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "reset") {
			t.Errorf("a segment from outside of a forgotten connection: read %v, want connection reset", err)
		}
		if err := echoOnce(picked, "after-flush"); err != nil {
			t.Errorf("after a conntrack flush, from inside (loose pick-up): %v", err)
		}
	})
}
