package nat

import (
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

const (
	fSYN = header.TCPFlagSYN
	fACK = header.TCPFlagACK
	fFIN = header.TCPFlagFIN
	fRST = header.TCPFlagRST
	fPSH = header.TCPFlagPSH
)

// seg is one TCP segment of a scripted exchange.
type seg struct {
	d     Dir
	flags uint8
	want  TCPState
	inv   bool // want VerdictInvalid (state unchanged)
}

// tcpConn builds a masqueraded TCP connection and a function that sends
// one segment in either direction at a given time. The two ends keep
// consistent sequence numbers, as real stacks do: each segment carries
// the sender's next sequence and acknowledges everything the other side
// sent; SYN and FIN count one.
func tcpConn(t *testing.T, tb *Table) (c *Conn, send func(d Dir, flags uint8, now int64) Verdict) {
	t.Helper()
	next := [2]uint32{1000, 500000}
	var synDone, finDone [2]bool
	seg := func(d Dir, flags uint8) []byte {
		f := testframe.TCP{Flags: flags, Seq: next[d], Window: 64240}
		if flags&fSYN != 0 && synDone[d] || flags&fFIN != 0 && finDone[d] {
			f.Seq-- // a retransmission
		}
		if flags&fACK != 0 {
			f.Ack = next[d^1]
		}
		src, dst := ap(inner1, 40000), ap(server, 443)
		if d == Reply {
			src, dst = ap(server, 443), ap(uplink, 40000)
		}
		return testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: src, Dst: dst, Proto: header.ProtoTCP, ID: 1, TCP: f}.Frame(t)
	}
	sent := func(d Dir, flags uint8) {
		if flags&fSYN != 0 && !synDone[d] {
			synDone[d] = true
			next[d]++
		}
		if flags&fFIN != 0 && !finDone[d] {
			finDone[d] = true
			next[d]++
		}
	}
	syn := seg(Original, fSYN)
	c = mustCreate(t, tb, zoneNet, zoneUplink, syn, masq(), 0)
	sent(Original, fSYN)
	send = func(d Dir, flags uint8, now int64) Verdict {
		f := seg(d, flags)
		zone := zoneNet
		if d == Reply {
			zone = zoneUplink
		}
		p := decode(t, f)
		got, gd, ok := tb.Lookup(zone, f, p, now)
		if !ok || got != c || gd != d {
			t.Fatalf("Lookup(%v, flags %#x) = %v, %v, %v", d, flags, got, gd, ok)
		}
		v := tb.Apply(f, p, c, d, false, now)
		if v == VerdictAccept {
			sent(d, flags)
		}
		return v
	}
	return c, send
}

func TestTCPStateMachine(t *testing.T) {
	tests := []struct {
		name    string
		segs    []seg
		assured bool
	}{{
		name: "handshake and active close",
		segs: []seg{
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Original, flags: fPSH | fACK, want: TCPEstablished},
			{d: Reply, flags: fACK, want: TCPEstablished},
			{d: Original, flags: fFIN | fACK, want: TCPFinWait},
			{d: Reply, flags: fACK, want: TCPCloseWait},
			{d: Reply, flags: fFIN | fACK, want: TCPLastAck},
			{d: Original, flags: fACK, want: TCPTimeWait},
		},
		assured: true,
	}, {
		name: "combined FIN-ACK close by the server",
		segs: []seg{
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Reply, flags: fFIN | fACK, want: TCPFinWait},
			{d: Original, flags: fFIN | fACK, want: TCPLastAck},
			{d: Reply, flags: fACK, want: TCPTimeWait},
		},
		assured: true,
	}, {
		name: "refused",
		segs: []seg{
			{d: Reply, flags: fRST | fACK, want: TCPClose},
		},
	}, {
		name: "reset when established",
		segs: []seg{
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Original, flags: fRST, want: TCPClose},
		},
		assured: true,
	}, {
		name: "invalid segments",
		segs: []seg{
			{d: Original, flags: fACK, want: TCPSynSent, inv: true}, // ACK before SYN-ACK
			{d: Reply, flags: fFIN, want: TCPSynSent, inv: true},    // FIN before handshake
			{d: Original, flags: 0, want: TCPSynSent, inv: true},    // no flags
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv}, // retransmitted
			{d: Original, flags: fSYN, want: TCPSynRecv},     // retransmitted SYN: ignored
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Reply, flags: fSYN, want: TCPEstablished, inv: true}, // SYN from the server
			{d: Original, flags: fSYN | fACK, want: TCPEstablished, inv: true},
		},
		assured: true,
	}, {
		name: "re-open from TIME_WAIT",
		segs: []seg{
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Original, flags: fFIN | fACK, want: TCPFinWait},
			{d: Reply, flags: fFIN | fACK, want: TCPLastAck},
			{d: Original, flags: fACK, want: TCPTimeWait},
			{d: Original, flags: fSYN, want: TCPSynSent},
		},
		assured: false, // a new connection on the same tuple
	}, {
		name: "re-open from CLOSE",
		segs: []seg{
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
			{d: Reply, flags: fRST, want: TCPClose},
			{d: Original, flags: fSYN, want: TCPSynSent},
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
		},
		assured: true,
	}, {
		name: "simultaneous open",
		segs: []seg{
			{d: Reply, flags: fSYN, want: TCPSynSent2},
			{d: Original, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Reply, flags: fSYN | fACK, want: TCPSynRecv},
			{d: Original, flags: fACK, want: TCPEstablished},
		},
		assured: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New(Options{Seed: 1})
			c, send := tcpConn(t, tb)
			if c.TCPState() != TCPSynSent {
				t.Fatalf("initial state = %v, want SYN_SENT", c.TCPState())
			}
			for i, s := range tt.segs {
				v := send(s.d, s.flags, sec(float64(i+1)))
				if (v == VerdictInvalid) != s.inv {
					t.Errorf("segment %d (%v %#x): verdict %v, want invalid=%v", i, s.d, s.flags, v, s.inv)
				}
				if got := c.TCPState(); got != s.want {
					t.Errorf("segment %d (%v %#x): state %v, want %v", i, s.d, s.flags, got, s.want)
				}
			}
			if c.Assured() != tt.assured {
				t.Errorf("assured = %v, want %v", c.Assured(), tt.assured)
			}
		})
	}
}

// TestTCPLoosePickup: a bare ACK of a connection older than the table
// creates it as ESTABLISHED, assured once the other side answers.
func TestTCPLoosePickup(t *testing.T) {
	tb := New(Options{Seed: 1})
	f := tcpFrame(t, ap(inner1, 40000), ap(server, 443), fACK, "data")
	c := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
	if c.TCPState() != TCPEstablished || c.Assured() {
		t.Fatalf("state %v assured %v, want ESTABLISHED unassured", c.TCPState(), c.Assured())
	}
	r := tcpFrame(t, ap(server, 443), ap(uplink, 40000), fACK, "")
	mustApply(t, tb, zoneUplink, r, Reply, 0)
	if !c.Assured() {
		t.Error("not assured after a reply")
	}
}

func TestTCPTimeouts(t *testing.T) {
	to := DefaultTimeouts()
	tests := []struct {
		state   TCPState
		segs    []seg
		timeout time.Duration
	}{
		{TCPSynSent, nil, to.TCPSynSent},
		{TCPSynRecv, []seg{{d: Reply, flags: fSYN | fACK}}, to.TCPSynRecv},
		{TCPEstablished, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}}, to.TCPEstablished},
		{TCPFinWait, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}, {d: Original, flags: fFIN}}, to.TCPFinWait},
		{TCPCloseWait, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}, {d: Original, flags: fFIN}, {d: Reply, flags: fACK}}, to.TCPCloseWait},
		{TCPLastAck, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}, {d: Original, flags: fFIN}, {d: Reply, flags: fFIN}}, to.TCPLastAck},
		{TCPTimeWait, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}, {d: Original, flags: fFIN}, {d: Reply, flags: fFIN}, {d: Original, flags: fACK}}, to.TCPTimeWait},
		{TCPClose, []seg{{d: Reply, flags: fSYN | fACK}, {d: Original, flags: fACK}, {d: Reply, flags: fRST}}, to.TCPClose},
	}
	want := map[TCPState]time.Duration{
		TCPSynSent: 2 * time.Minute, TCPSynRecv: time.Minute, TCPEstablished: 5 * 24 * time.Hour,
		TCPFinWait: 2 * time.Minute, TCPCloseWait: time.Minute, TCPLastAck: 30 * time.Second,
		TCPTimeWait: 2 * time.Minute, TCPClose: 10 * time.Second,
	}
	for _, tt := range tests {
		t.Run(tt.state.String(), func(t *testing.T) {
			if tt.timeout != want[tt.state] {
				t.Fatalf("default timeout %v, want Linux's %v", tt.timeout, want[tt.state])
			}
			for _, lazy := range []bool{true, false} {
				tb := New(Options{Seed: 1})
				c, send := tcpConn(t, tb)
				var last int64
				for i, s := range tt.segs {
					last = sec(float64(i + 1))
					send(s.d, s.flags, last)
				}
				if c.TCPState() != tt.state {
					t.Fatalf("state %v, want %v", c.TCPState(), tt.state)
				}
				deadline := last + int64(tt.timeout)
				if e := tb.Entries(last); len(e) != 1 || e[0].Timeout != tt.timeout {
					t.Errorf("Entries timeout = %+v, want %v", e, tt.timeout)
				}
				f := tcpFrame(t, ap(server, 443), ap(uplink, 40000), fACK, "")
				p := decode(t, f)
				if lazy {
					if _, _, ok := tb.Lookup(zoneUplink, f, p, deadline-int64(time.Millisecond)); !ok {
						t.Fatalf("expired %v before its timeout", tt.state)
					}
					if _, _, ok := tb.Lookup(zoneUplink, f, p, deadline); ok {
						t.Fatalf("alive at its timeout")
					}
				} else {
					if n := tb.Sweep(deadline-int64(time.Millisecond), 100); n != 0 {
						t.Fatalf("Sweep before timeout removed %d", n)
					}
					if n := tb.Sweep(deadline, 100); n != 1 {
						t.Fatalf("Sweep at timeout removed %d, want 1", n)
					}
				}
				if tb.Len() != 0 || tb.Stats().Expired != 1 {
					t.Errorf("Len %d, Expired %d after expiry", tb.Len(), tb.Stats().Expired)
				}
			}
		})
	}
}

func TestCustomTimeouts(t *testing.T) {
	tb := New(Options{Seed: 1, Timeouts: Timeouts{TCPSynSent: 5 * time.Second, UDPUnreplied: time.Second}})
	f := tcpFrame(t, ap(inner1, 1), ap(server, 2), fSYN, "")
	mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
	u := udpFrame(t, ap(inner1, 1), ap(server, 2), "")
	mustCreate(t, tb, zoneNet, zoneUplink, u, masq(), 0)
	if n := tb.Sweep(sec(1), 10); n != 1 {
		t.Errorf("Sweep(1 s) removed %d, want the UDP connection", n)
	}
	if n := tb.Sweep(sec(5), 10); n != 1 {
		t.Errorf("Sweep(5 s) removed %d, want the TCP connection", n)
	}
}

func TestUDPAndICMPTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		out     func(t testing.TB) []byte
		back    func(t testing.TB) []byte
		replied bool
		timeout time.Duration
	}{
		{"udp unreplied", func(t testing.TB) []byte { return udpFrame(t, ap(inner1, 9), ap(server, 53), "") }, nil, false, 30 * time.Second},
		{"udp replied", func(t testing.TB) []byte { return udpFrame(t, ap(inner1, 9), ap(server, 53), "") },
			func(t testing.TB) []byte { return udpFrame(t, ap(server, 53), ap(uplink, 9), "") }, true, 120 * time.Second},
		{"icmp echo", func(t testing.TB) []byte { return echoFrame(t, inner1, server, header.ICMPv4Echo, 5, 1) }, nil, false, 30 * time.Second},
		{"icmp echo replied", func(t testing.TB) []byte { return echoFrame(t, inner1, server, header.ICMPv4Echo, 5, 1) },
			func(t testing.TB) []byte { return echoFrame(t, server, uplink, header.ICMPv4EchoReply, 5, 1) }, false, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New(Options{Seed: 1})
			c := mustCreate(t, tb, zoneNet, zoneUplink, tt.out(t), masq(), 0)
			last := int64(0)
			if tt.back != nil {
				last = sec(3)
				mustApply(t, tb, zoneUplink, tt.back(t), Reply, last)
			}
			if c.Assured() {
				t.Errorf("assured after one reply, want evictable")
			}
			// A packet refreshes the timeout; after a reply it makes a
			// UDP flow a stream (assured).
			last += sec(5)
			mustApply(t, tb, zoneNet, tt.out(t), Original, last)
			if c.Assured() != tt.replied {
				t.Errorf("assured = %v, want %v", c.Assured(), tt.replied)
			}
			deadline := last + int64(tt.timeout)
			f := tt.out(t)
			p := decode(t, f)
			if _, _, ok := tb.Lookup(zoneNet, f, p, deadline-int64(time.Millisecond)); !ok {
				t.Fatal("expired before its timeout")
			}
			if _, _, ok := tb.Lookup(zoneNet, f, p, deadline); ok {
				t.Fatal("alive at its timeout")
			}
		})
	}
}

func TestSweepBudget(t *testing.T) {
	tb := New(Options{Seed: 1})
	const n = 500
	for i := range n {
		f := udpFrame(t, ap(inner1, uint16(1000+i)), ap(server, 53), "")
		now := int64(0)
		if i%2 == 1 {
			now = sec(60) // still alive at 70 s
		}
		mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), now)
	}
	now := sec(70)
	total, calls := 0, 0
	for {
		calls++
		r := tb.Sweep(now, 10)
		if r > 10 {
			t.Fatalf("Sweep(budget 10) removed %d", r)
		}
		total += r
		if total == n/2 || calls > 1000 {
			break
		}
	}
	if total != n/2 || tb.Len() != n/2 {
		t.Errorf("swept %d in %d calls, Len %d; want %d removed", total, calls, tb.Len(), n/2)
	}
	if calls < n/10 {
		t.Errorf("%d calls removed %d with budget 10", calls, total)
	}
	if r := tb.Sweep(now, 1<<30); r != 0 {
		t.Errorf("second pass removed %d", r)
	}
	if r := tb.Sweep(sec(1000), 1<<30); r != n/2 {
		t.Errorf("Sweep of everything removed %d, want %d", r, n/2)
	}
}
