package dns

import (
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestForward(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	t.Cleanup(func() { s.Close() })
	testNames(s)

	tests := []struct {
		name    string
		qname   string
		bufsize uint16
		rcode   int
		want    []string
	}{
		{name: "answer", qname: "Example.COM", want: []string{"192.0.2.1"}},
		{name: "answer with EDNS0", qname: "www.example.org", bufsize: 1232, want: []string{"192.0.2.1"}},
		{name: "NXDOMAIN relayed", qname: "nx.example.com", rcode: mdns.RcodeNameError},
		{name: "reverse name of no endpoint", qname: "9.9.0.10.in-addr.arpa", want: []string{"192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, q := newQuery(t, tt.qname, mdns.TypeA, tt.bufsize)
			r, _ := serve(t, s, "net1", q)
			m := r.msg
			if m.Rcode != tt.rcode || !slices.Equal(rdata(m.Answer), tt.want) {
				t.Errorf("answer %s %v, want %s %v", mdns.RcodeToString[m.Rcode], rdata(m.Answer), mdns.RcodeToString[tt.rcode], tt.want)
			}
			if m.Id != req.Id || m.Authoritative || len(m.Question) != 1 || m.Question[0].Name != mdns.Fqdn(tt.qname) {
				t.Errorf("header %+v question %v: want the client's ID %d and question, no AA", m.MsgHdr, m.Question, req.Id)
			}
			if (m.IsEdns0() != nil) != (tt.bufsize != 0) {
				t.Errorf("OPT %v in answer to a query with bufsize %d", m.IsEdns0(), tt.bufsize)
			}
		})
	}
	if got := s.Stats(); got.Forwarded != uint64(len(tests)) || got.ServFail != 0 {
		t.Errorf("Stats() = %+v, want Forwarded %d, ServFail 0", got, len(tests))
	}
}

func TestForwardFastUpstreamWins(t *testing.T) {
	release := make(chan struct{})
	slow := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		<-release
		answerA("192.0.2.99")(w, r)
	})
	t.Cleanup(func() { close(release) })
	fast := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{deadUpstream(t), slow.addr, fast.addr}, Timeout: 10 * time.Second})
	t.Cleanup(func() { s.Close() })

	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	start := time.Now()
	r, sync := serve(t, s, "net1", q)
	if d := time.Since(start); d > time.Second {
		t.Errorf("answer took %v with one fast upstream, want well under the 10 s timeout", d)
	}
	if sync || !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.1"}) {
		t.Errorf("answer %v (sync %v), want 192.0.2.1 from the fast upstream, after ServeUDP returned", rdata(r.msg.Answer), sync)
	}
}

func TestForwardBadRcodeWaitsForOthers(t *testing.T) {
	refused := startUpstream(t, rcodeOnly(mdns.RcodeRefused))
	servfail := startUpstream(t, rcodeOnly(mdns.RcodeServerFailure))
	late := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		time.Sleep(100 * time.Millisecond)
		answerA("192.0.2.7")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{refused.addr, servfail.addr, late.addr}})
	t.Cleanup(func() { s.Close() })

	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	r, _ := serve(t, s, "net1", q)
	if r.msg.Rcode != mdns.RcodeSuccess || !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.7"}) {
		t.Errorf("answer %s %v, want NOERROR 192.0.2.7 from the late upstream", mdns.RcodeToString[r.msg.Rcode], rdata(r.msg.Answer))
	}

	// With no good upstream at all, the client gets SERVFAIL once all have answered.
	s.SetUpstreams([]netip.AddrPort{refused.addr, servfail.addr})
	r, _ = serve(t, s, "net1", q)
	if r.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s with only bad upstreams, want SERVFAIL", mdns.RcodeToString[r.msg.Rcode])
	}
}

func TestForwardIgnoresWrongQuestion(t *testing.T) {
	liar := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		m.Question[0].Name = "evil.example."
		_ = w.WriteMsg(m)
	})
	s := New(Options{Upstreams: []netip.AddrPort{liar.addr}, Timeout: 200 * time.Millisecond})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net1", q); r.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s for an answer to another question, want SERVFAIL", mdns.RcodeToString[r.msg.Rcode])
	}
}

func TestForwardTruncatedRetriesTCP(t *testing.T) {
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m := new(mdns.Msg).SetReply(r)
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		answerA("192.0.2.53")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	r, _ := serve(t, s, "net1", q)
	if r.msg.Truncated || !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.53"}) {
		t.Errorf("answer TC %v %v, want 192.0.2.53 fetched over TCP", r.msg.Truncated, rdata(r.msg.Answer))
	}
	if n := up.queries.Load(); n != 2 {
		t.Errorf("upstream got %d queries, want 2 (UDP, then TCP)", n)
	}
}

func TestForwardAllDead(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := New(Options{Upstreams: []netip.AddrPort{deadUpstream(t), deadUpstream(t)}, Timeout: timeout})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	start := time.Now()
	r, _ := serve(t, s, "net1", q)
	d := time.Since(start)
	if r.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.msg.Rcode])
	}
	if d < timeout-50*time.Millisecond || d > timeout+2*time.Second {
		t.Errorf("SERVFAIL after %v, want about the %v timeout", d, timeout)
	}
}

func TestForwardNoUpstreams(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	r, sync := serve(t, s, "net1", q)
	if !sync || r.msg.Rcode != mdns.RcodeServerFailure || r.msg.RecursionAvailable {
		t.Errorf("answer %s RA %v (sync %v), want SERVFAIL without RA before ServeUDP returns",
			mdns.RcodeToString[r.msg.Rcode], r.msg.RecursionAvailable, sync)
	}
	if got := s.Stats(); got.ServFail != 1 || got.Forwarded != 0 {
		t.Errorf("Stats() = %+v, want ServFail 1, Forwarded 0", got)
	}
}

// pending sends n queries for names that are not local and returns a channel
// that receives each answer's rcode.
func pending(t *testing.T, s *Server, n int) <-chan int {
	t.Helper()
	ch := make(chan int, n)
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	for range n {
		s.ServeUDP("net1", q, func(resp []byte) {
			m := new(mdns.Msg)
			if err := m.Unpack(resp); err != nil {
				t.Errorf("Unpack(answer) = %v", err)
			}
			ch <- m.Rcode
		})
	}
	return ch
}

func TestMaxInflight(t *testing.T) {
	s := New(Options{Upstreams: []netip.AddrPort{deadUpstream(t)}, MaxInflight: 2, Timeout: time.Minute})
	ch := pending(t, s, 3)
	select {
	case rcode := <-ch:
		if rcode != mdns.RcodeServerFailure {
			t.Errorf("third query: rcode %s, want SERVFAIL", mdns.RcodeToString[rcode])
		}
	case <-time.After(time.Second):
		t.Fatalf("no immediate answer beyond MaxInflight")
	}
	if got := s.Stats(); got.Overflow != 1 || got.ServFail != 1 || got.Forwarded != 2 {
		t.Errorf("Stats() = %+v, want Overflow 1, ServFail 1, Forwarded 2", got)
	}
	s.Close()
	for range 2 {
		if rcode := <-ch; rcode != mdns.RcodeServerFailure {
			t.Errorf("in-flight query after Close: rcode %s, want SERVFAIL", mdns.RcodeToString[rcode])
		}
	}
}

func TestCloseAnswersInflight(t *testing.T) {
	ups := []netip.AddrPort{deadUpstream(t), deadUpstream(t), deadUpstream(t)}
	runtime.GC()
	base := runtime.NumGoroutine()

	s := New(Options{Upstreams: ups, Timeout: time.Minute})
	testNames(s)
	const n = 20
	ch := pending(t, s, n)
	if got := runtime.NumGoroutine(); got < base+n*len(ups) {
		t.Errorf("%d goroutines while forwarding, want at least %d", got, base+n*len(ups))
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v, want it not to wait for the 1 min timeout", d)
	}
	if len(ch) != n {
		t.Fatalf("%d of %d in-flight queries answered when Close returned", len(ch), n)
	}
	for range n {
		if rcode := <-ch; rcode != mdns.RcodeServerFailure {
			t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[rcode])
		}
	}
	waitGoroutines(t, base)

	// After Close: SERVFAIL at once for forwarded names, local names still answered.
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	if r, sync := serve(t, s, "net1", q); !sync || r.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("after Close: %s (sync %v), want SERVFAIL at once", mdns.RcodeToString[r.msg.Rcode], sync)
	}
	_, q = newQuery(t, "apple-server", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net1", q); len(r.msg.Answer) != 1 {
		t.Errorf("after Close: local answer %v, want one A", r.msg.Answer)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}

// TestForwardConcurrent forwards from many goroutines at once; run with
// -race.
func TestForwardConcurrent(t *testing.T) {
	a, b := startUpstream(t, answerA("192.0.2.1")), startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{a.addr, b.addr}})
	t.Cleanup(func() { s.Close() })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				_, q := newQuery(t, "example.com", mdns.TypeA, 0)
				if r, _ := serve(t, s, "net1", q); r.msg.Rcode != mdns.RcodeSuccess {
					t.Errorf("rcode %s, want NOERROR", mdns.RcodeToString[r.msg.Rcode])
				}
			}
		})
	}
	wg.Wait()
	if got := s.Stats().Forwarded; got != 8*20 {
		t.Errorf("Stats().Forwarded = %d, want %d", got, 8*20)
	}
}
