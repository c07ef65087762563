package dns

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
	r, _ := serve(t, s, "net1", q)
	if d := time.Since(start); d > time.Second {
		t.Errorf("answer took %v with one fast upstream, want well under the 10 s timeout", d)
	}
	if !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.1"}) {
		t.Errorf("answer %v, want 192.0.2.1 from the fast upstream", rdata(r.msg.Answer))
	}
}

func TestForwardBadRcodeWaitsForOthers(t *testing.T) {
	refused := startUpstream(t, rcodeOnly(mdns.RcodeRefused))
	servfail := startUpstream(t, rcodeOnly(mdns.RcodeServerFailure))
	late := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		time.Sleep(100 * time.Millisecond)
		answerA("192.0.2.7")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{refused.addr, servfail.addr, late.addr}, CacheSize: -1})
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

	fds := openFDs(t)

	s := New(Options{Upstreams: ups, Timeout: time.Minute})
	testNames(s)
	const n = 20
	ch := pending(t, s, n)
	if got := openSockets(s); got < len(ups) || got > len(ups)*poolSize {
		t.Errorf("%d sockets open while forwarding to %d upstreams, want one to %d per upstream", got, len(ups), poolSize)
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
	if got := openFDs(t); got > fds {
		t.Errorf("%d file descriptors open after Close, %d before New (leak)", got, fds)
	}
	if got := openSockets(s); got != 0 {
		t.Errorf("%d sockets open after Close, want 0", got)
	}

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
	s := New(Options{Upstreams: []netip.AddrPort{a.addr, b.addr}, CacheSize: -1})
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

// TestForwardSingleLabel: single-label names that are not local are
// forwarded, as Docker does; names under a network's name or an internal
// zone are not.
func TestForwardSingleLabel(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, CacheSize: -1})
	t.Cleanup(func() { s.Close() })
	testNames(s)

	tests := []struct {
		name    string
		network string
		qname   string
		rcode   int
		fwd     bool // the upstream is asked
	}{
		{name: "unknown single label", network: "net1", qname: "myhost", fwd: true},
		{name: "other network's name", network: "net1", qname: "banana", fwd: true},
		{name: "scope with no names", network: "net3", qname: "apple-server", fwd: true},
		{name: "single label NXDOMAIN upstream", network: "net1", qname: "nxhost", rcode: mdns.RcodeNameError, fwd: true},
		{name: "under a network", network: "net1", qname: "myhost.net1", rcode: mdns.RcodeNameError},
		{name: "under another network", network: "net1", qname: "myhost.net2", rcode: mdns.RcodeNameError},
		{name: "network apex", network: "net1", qname: "net2"},
		{name: "under vswitchd.internal", network: "net1", qname: "myhost.vswitchd.internal", rcode: mdns.RcodeNameError},
		{name: "under docker.internal", network: "net1", qname: "myhost.docker.internal", rcode: mdns.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.queries.Load()
			_, q := newQuery(t, tt.qname, mdns.TypeA, 0)
			r, sync := serve(t, s, tt.network, q)
			if r.msg.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.msg.Rcode], mdns.RcodeToString[tt.rcode])
			}
			// A forwarded answer comes from another goroutine, maybe
			// before ServeUDP returns; any other before it returns.
			if asked := up.queries.Load() > before; asked != tt.fwd || !sync && !tt.fwd || r.msg.Authoritative == tt.fwd {
				t.Errorf("upstream asked %v, answer sync %v, AA %v; want asked %v", asked, sync, r.msg.Authoritative, tt.fwd)
			}
		})
	}
}

// TestForwardRefused: REFUSED from every upstream reaches the client as
// REFUSED as soon as the last one refuses; REFUSED from some of them waits
// for the others.
func TestForwardRefused(t *testing.T) {
	refused := []*fakeUpstream{startUpstream(t, rcodeOnly(mdns.RcodeRefused)), startUpstream(t, rcodeOnly(mdns.RcodeRefused))}
	bare := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetRcode(r, mdns.RcodeRefused)
		m.Question = nil // some servers refuse without the question
		_ = w.WriteMsg(m)
	})
	servfail := startUpstream(t, rcodeOnly(mdns.RcodeServerFailure))
	good := startUpstream(t, answerA("192.0.2.1"))
	const timeout = 5 * time.Second

	tests := []struct {
		name  string
		ups   []netip.AddrPort
		rcode int
		quick bool // answered well before the timeout
	}{
		{name: "one refuses", ups: []netip.AddrPort{refused[0].addr}, rcode: mdns.RcodeRefused, quick: true},
		{name: "all refuse", ups: []netip.AddrPort{refused[0].addr, refused[1].addr, bare.addr}, rcode: mdns.RcodeRefused, quick: true},
		{name: "one answers", ups: []netip.AddrPort{refused[0].addr, good.addr}, rcode: mdns.RcodeSuccess, quick: true},
		{name: "refused and SERVFAIL", ups: []netip.AddrPort{refused[0].addr, servfail.addr}, rcode: mdns.RcodeServerFailure, quick: true},
		{name: "refused and silent", ups: []netip.AddrPort{refused[0].addr, deadUpstream(t)}, rcode: mdns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := timeout
			if !tt.quick {
				to = 300 * time.Millisecond
			}
			s := New(Options{Upstreams: tt.ups, Timeout: to})
			t.Cleanup(func() { s.Close() })
			before := refused[0].queries.Load()
			req, q := newQuery(t, "example.com", mdns.TypeA, 1232)
			// Only a good answer is cached: else the second query is
			// forwarded again.
			wantForwarded := uint64(2)
			if tt.rcode == mdns.RcodeSuccess {
				wantForwarded = 1
			}
			for i := range 2 {
				start := time.Now()
				r, _ := serve(t, s, "net1", q)
				if d := time.Since(start); tt.quick && d > timeout/2 {
					t.Errorf("query %d: answer after %v, want at once", i, d)
				}
				if m := r.msg; m.Rcode != tt.rcode || m.Id != req.Id || m.IsEdns0() == nil {
					t.Errorf("query %d: answer %s ID %#x OPT %v, want %s with the client's ID and an OPT",
						i, mdns.RcodeToString[m.Rcode], m.Id, m.IsEdns0(), mdns.RcodeToString[tt.rcode])
				}
			}
			if got := uint64(refused[0].queries.Load() - before); got != wantForwarded {
				t.Errorf("refusing upstream asked %d times, want %d", got, wantForwarded)
			}
			st := s.Stats()
			wantRefused := uint64(0)
			if tt.rcode == mdns.RcodeRefused {
				wantRefused = 2
			}
			if st.Forwarded != wantForwarded || st.Refused != wantRefused {
				t.Errorf("Stats() = %+v, want Forwarded %d, Refused %d", st, wantForwarded, wantRefused)
			}
		})
	}
}

// TestNoForward: a NoForward scope gets REFUSED for every name that would be
// forwarded, at once and without a packet to an upstream or a look at the
// cache, and its local names as before.
func TestNoForward(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	t.Cleanup(func() { s.Close() })
	testNames(s)
	s.SetNetworkOptions("net1", NetworkOptions{NoForward: true})
	s.SetNetworkOptions("internal-only", NetworkOptions{NoForward: true}) // a scope with options and no names

	// Fill the cache from a scope that may forward.
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net2", q); r.msg.Rcode != mdns.RcodeSuccess {
		t.Fatalf("forwarded from net2: %s, want NOERROR", mdns.RcodeToString[r.msg.Rcode])
	}
	asked, before := up.queries.Load(), s.Stats()

	tests := []struct {
		name    string
		network string
		qname   string
		qtype   uint16
		rcode   int
		want    []string
	}{
		{name: "cached name", network: "net1", qname: "example.com", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "other name", network: "net1", qname: "www.example.org", qtype: mdns.TypeAAAA, rcode: mdns.RcodeRefused},
		{name: "unknown single label", network: "net1", qname: "myhost", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "other network's name", network: "net1", qname: "banana", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "reverse name of no endpoint", network: "net1", qname: "9.9.0.10.in-addr.arpa", qtype: mdns.TypePTR, rcode: mdns.RcodeRefused},
		{name: "scope without names", network: "internal-only", qname: "example.com", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "local name", network: "net1", qname: "apple-server", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "host", network: "net1", qname: "host.docker.internal", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "under a network", network: "net1", qname: "nosuch.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, q := newQuery(t, tt.qname, tt.qtype, 0)
			r, sync := serve(t, s, tt.network, q)
			m := r.msg
			if !sync || m.Rcode != tt.rcode || m.RecursionAvailable {
				t.Errorf("answer %s RA %v (sync %v), want %s without RA before ServeUDP returns",
					mdns.RcodeToString[m.Rcode], m.RecursionAvailable, sync, mdns.RcodeToString[tt.rcode])
			}
			if diff := cmp.Diff(tt.want, rdata(m.Answer)); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}

	// Over TCP too.
	addr := startHandler(t, s, func(netip.Addr) string { return "net1" })
	m, _, err := (&mdns.Client{Net: "tcp"}).Exchange(new(mdns.Msg).SetQuestion("example.com.", mdns.TypeA), addr)
	if err != nil || m.Rcode != mdns.RcodeRefused {
		t.Errorf("over TCP: %v, %v; want REFUSED", m, err)
	}

	if n := up.queries.Load() - asked; n != 0 {
		t.Errorf("upstream got %d queries from a NoForward scope, want 0", n)
	}
	st := s.Stats()
	if st.NoForward-before.NoForward != 7 || st.Refused-before.Refused != 7 || st.CacheHits != before.CacheHits || st.Forwarded != before.Forwarded {
		t.Errorf("Stats() = %+v after %+v, want 7 more NoForward and Refused, no more CacheHits or Forwarded", st, before)
	}
}

// openSockets returns the number of sockets s has open toward upstreams.
func openSockets(s *Server) int {
	s.fwd.mu.Lock()
	defer s.fwd.mu.Unlock()
	return len(s.fwd.open)
}

// openFDs returns the number of file descriptors the process has open.
func openFDs(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("count open files: %v", err)
	}
	return len(des)
}

// TestForwardUnmatchedIgnored: messages from the upstream with another ID,
// another question, or QR clear are dropped and counted, and the query
// still gets the answer that follows them.
func TestForwardUnmatchedIgnored(t *testing.T) {
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		wrongID := new(mdns.Msg).SetReply(r)
		wrongID.Id++
		wrongID.Answer = []mdns.RR{&mdns.A{Hdr: header(r.Question[0].Name, mdns.TypeA, 60), A: net.ParseIP("203.0.113.1")}}
		wrongQ := wrongID.Copy()
		wrongQ.Id = r.Id
		wrongQ.Question[0].Name = "evil.example."
		notResponse := wrongID.Copy()
		notResponse.Id, notResponse.Response = r.Id, false
		for _, m := range []*mdns.Msg{wrongID, wrongQ, notResponse} {
			_ = w.WriteMsg(m)
		}
		answerA("192.0.2.1")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, Timeout: time.Minute})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	r, _ := serve(t, s, "net1", q)
	if r.msg.Rcode != mdns.RcodeSuccess || !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.1"}) {
		t.Errorf("answer %s %v, want NOERROR 192.0.2.1, the upstream's real answer", mdns.RcodeToString[r.msg.Rcode], rdata(r.msg.Answer))
	}
	if got := s.Stats(); got.Unmatched != 3 || got.ServFail != 0 {
		t.Errorf("Stats() = %+v, want Unmatched 3, ServFail 0", got)
	}
}

// TestForwardSpoofedSourceIgnored: an answer with the query's ID and
// question sent to the query's socket from another address is not taken;
// the upstream's is.
func TestForwardSpoofedSourceIgnored(t *testing.T) {
	release := make(chan struct{})
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		<-release
		answerA("192.0.2.1")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, Timeout: time.Minute})
	t.Cleanup(func() { s.Close() })
	req, q := newQuery(t, "example.com", mdns.TypeA, 0)
	answers := make(chan *mdns.Msg, 1)
	s.ServeUDP("net1", q, func(resp []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			t.Errorf("Unpack(answer) = %v", err)
		}
		answers <- m
	})

	// The query's socket and ID, as an attacker would have to guess them.
	var (
		port uint16
		id   uint16
	)
	s.fwd.mu.Lock()
	for k := range s.fwd.open {
		for i := range k.pending {
			port, id = k.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port(), i
		}
	}
	s.fwd.mu.Unlock()
	if port == 0 {
		t.Fatal("no query waiting on a socket")
	}
	forged := new(mdns.Msg).SetReply(req)
	forged.Id = id
	forged.Answer = []mdns.RR{&mdns.A{Hdr: header("example.com.", mdns.TypeA, 60), A: net.ParseIP("203.0.113.66")}}
	b, err := forged.Pack()
	if err != nil {
		t.Fatal(err)
	}
	spoofer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	if _, err := spoofer.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let a bug take the forged answer first
	close(release)
	select {
	case m := <-answers:
		if !slices.Equal(rdata(m.Answer), []string{"192.0.2.1"}) {
			t.Errorf("answer %v, want 192.0.2.1 from the upstream, not the forged 203.0.113.66", rdata(m.Answer))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5 s")
	}
}

// TestForwardSocketPool: at most poolSize sockets per upstream take new
// queries, each retired after sockQueries queries or sockAge and closed once
// idle, so source ports change under load and idle sockets go away.
func TestForwardSocketPool(t *testing.T) {
	var (
		mu    sync.Mutex
		ports = map[uint16]int{}
	)
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		mu.Lock()
		ports[w.RemoteAddr().(*net.UDPAddr).AddrPort().Port()]++
		mu.Unlock()
		answerA("192.0.2.1")(w, r)
	})
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, CacheSize: -1})
	t.Cleanup(func() { s.Close() })
	const pool, uses, queries = 2, 5, 60
	s.fwd.poolSize, s.fwd.sockQueries = pool, uses

	opened := 0
	seen := map[*upSock]bool{}
	for range queries {
		_, q := newQuery(t, "example.com", mdns.TypeA, 0)
		if r, _ := serve(t, s, "net1", q); r.msg.Rcode != mdns.RcodeSuccess {
			t.Fatalf("rcode %s, want NOERROR", mdns.RcodeToString[r.msg.Rcode])
		}
		s.fwd.mu.Lock()
		for k := range s.fwd.open {
			if !seen[k] {
				seen[k] = true
				opened++
			}
			if k.uses > uses {
				t.Errorf("a socket sent %d queries, want at most %d", k.uses, uses)
			}
		}
		s.fwd.mu.Unlock()
		if n := openSockets(s); n > pool {
			t.Fatalf("%d sockets open, want at most %d", n, pool)
		}
	}
	if opened < queries/uses {
		t.Errorf("%d sockets opened for %d queries, want at least %d (one per %d queries)", opened, queries, queries/uses, uses)
	}
	mu.Lock()
	if len(ports) <= pool {
		t.Errorf("the upstream saw %d source ports, want more than %d (rotated)", len(ports), pool)
	}
	mu.Unlock()

	// Idle sockets close at sockAge.
	s2 := New(Options{Upstreams: []netip.AddrPort{up.addr}, CacheSize: -1})
	t.Cleanup(func() { s2.Close() })
	s2.fwd.sockAge = 10 * time.Millisecond
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	serve(t, s2, "net1", q)
	for deadline := time.Now().Add(5 * time.Second); openSockets(s2) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle sockets still open 5 s after sockAge", openSockets(s2))
		}
	}
}

// TestForwardPortUnreachable: an upstream whose port is closed fails the
// query when the ICMP error comes back, not at the timeout.
func TestForwardPortUnreachable(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	s := New(Options{Upstreams: []netip.AddrPort{closed}, Timeout: time.Minute})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net1", q); r.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.msg.Rcode])
	}
}

// TestForwardLateAnswerCounted: the answer of a slower upstream, after the
// query was answered, is dropped and counted.
func TestForwardLateAnswerCounted(t *testing.T) {
	release := make(chan struct{})
	slow := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		<-release
		answerA("192.0.2.99")(w, r)
	})
	fast := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{slow.addr, fast.addr}, Timeout: time.Minute})
	t.Cleanup(func() { s.Close() })
	_, q := newQuery(t, "example.com", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net1", q); !slices.Equal(rdata(r.msg.Answer), []string{"192.0.2.1"}) {
		t.Errorf("answer %v, want 192.0.2.1", rdata(r.msg.Answer))
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Unmatched != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Stats() = %+v, want Unmatched 1 for the slow upstream's answer", s.Stats())
		}
	}
}
