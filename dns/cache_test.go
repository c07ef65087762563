package dns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// scripted answers by the first label of the question name:
//
//	a60     A 192.0.2.1 with TTL 60 (any number), and for AAAA NODATA with SOA
//	nx      NXDOMAIN with SOA TTL 300, MINIMUM 30
//	nxsoa   NXDOMAIN with SOA TTL 20, MINIMUM 900
//	nxbig   NXDOMAIN with SOA TTL and MINIMUM 7200
//	nxbare  NXDOMAIN without SOA
//	nodata  NOERROR, no answer, SOA TTL 300, MINIMUM 40
//	bare    NOERROR, no answer, no SOA
//	cname   CNAME (TTL 100) to a name with no A, SOA MINIMUM 50
//	msb     A with TTL 2^31 (RFC 2181 §8: 0)
//	many    100 A records, TTL 60
//	do      A 192.0.2.2 when the query has DO, else 192.0.2.1, TTL 60
//
// The answer echoes the question in the upstream's own case, lower.
func scripted(w mdns.ResponseWriter, r *mdns.Msg) {
	q := r.Question[0]
	m := new(mdns.Msg).SetReply(r)
	m.Question[0].Name = mdns.CanonicalName(q.Name)
	name := m.Question[0].Name
	label := mdns.SplitDomainName(name)[0]
	soa := func(ttl, minttl uint32) {
		m.Ns = []mdns.RR{&mdns.SOA{Hdr: header("example.", mdns.TypeSOA, ttl), Ns: "ns.example.", Mbox: "h.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: minttl}}
	}
	a := func(ttl uint32, addr string) {
		if q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: header(name, mdns.TypeA, ttl), A: net.ParseIP(addr)})
		} else {
			soa(300, 10)
		}
	}
	var ttl uint32
	switch {
	case label == "nx":
		m.Rcode = mdns.RcodeNameError
		soa(300, 30)
	case label == "nxsoa":
		m.Rcode = mdns.RcodeNameError
		soa(20, 900)
	case label == "nxbig":
		m.Rcode = mdns.RcodeNameError
		soa(7200, 7200)
	case label == "nxbare":
		m.Rcode = mdns.RcodeNameError
	case label == "nodata":
		soa(300, 40)
	case label == "bare":
	case label == "cname":
		m.Answer = []mdns.RR{&mdns.CNAME{Hdr: header(name, mdns.TypeCNAME, 100), Target: "target.example."}}
		soa(300, 50)
	case label == "msb":
		a(1<<31, "192.0.2.1")
	case label == "many":
		for i := range 100 {
			m.Answer = append(m.Answer, &mdns.A{Hdr: header(name, mdns.TypeA, 60), A: net.IPv4(10, 0, 9, byte(i))})
		}
	case label == "do":
		if opt := r.IsEdns0(); opt != nil && opt.Do() {
			a(60, "192.0.2.2")
		} else {
			a(60, "192.0.2.1")
		}
	default:
		if _, err := fmt.Sscanf(label, "a%d", &ttl); err != nil {
			m.Rcode = mdns.RcodeRefused
		} else {
			a(ttl, "192.0.2.1")
		}
	}
	size := mdns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(4096, opt.Do())
		size = int(opt.UDPSize())
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	m.Compress = true
	_ = w.WriteMsg(m)
}

// cacheServer returns a Server with a cache of size entries, the clock of
// its cache and its scripted upstream.
func cacheServer(t *testing.T, size int) (*Server, *fakeClock, *fakeUpstream) {
	t.Helper()
	up := startUpstream(t, scripted)
	clock := newClock()
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, CacheSize: size, Now: clock.Now})
	t.Cleanup(func() { s.Close() })
	return s, clock, up
}

// ask sends a query for name and qtype, with EDNS0 and DO when do is set,
// and returns the answer and whether the upstream was asked for it.
func ask(t *testing.T, s *Server, up *fakeUpstream, name string, qtype uint16, do bool) (*mdns.Msg, bool) {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qtype)
	if do {
		m.SetEdns0(1232, true)
	}
	q, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query: %v", err)
	}
	before := up.queries.Load()
	r, _ := serve(t, s, "net1", q)
	if r.msg.Id != m.Id {
		t.Errorf("%s: answer ID %#x, want %#x", name, r.msg.Id, m.Id)
	}
	return r.msg, up.queries.Load() > before
}

// TestCacheTTL queries each name twice or more at times on the injected
// clock and checks which queries reach the upstream and the TTLs served.
func TestCacheTTL(t *testing.T) {
	type step struct {
		at      time.Duration // since the first query
		asked   bool          // the upstream is asked
		ttls    []uint32      // TTLs of the answer records, then of the authority records
		answers int
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		steps []step
	}{
		{name: "positive until the TTL", qname: "a60.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{60}, answers: 1},
			{at: 1500 * time.Millisecond, ttls: []uint32{59}, answers: 1},
			{at: 59*time.Second + 999*time.Millisecond, ttls: []uint32{1}, answers: 1},
			{at: 60 * time.Second, asked: true, ttls: []uint32{60}, answers: 1},
			{at: 70 * time.Second, ttls: []uint32{50}, answers: 1},
		}},
		{name: "positive capped at a day", qname: "a999999.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{999999}, answers: 1},
			{at: 86399 * time.Second, ttls: []uint32{1}, answers: 1},
			{at: 86400 * time.Second, asked: true, ttls: []uint32{999999}, answers: 1},
		}},
		{name: "TTL 0 not cached", qname: "a0.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{0}, answers: 1},
			{at: 0, asked: true, ttls: []uint32{0}, answers: 1},
		}},
		{name: "TTL with the top bit not cached", qname: "msb.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{1 << 31}, answers: 1},
			{at: 0, asked: true, ttls: []uint32{1 << 31}, answers: 1},
		}},
		{name: "NXDOMAIN for the SOA MINIMUM", qname: "nx.example", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, steps: []step{
			{at: 0, asked: true, ttls: []uint32{300}},
			{at: 10 * time.Second, ttls: []uint32{20}}, // the SOA TTL, bounded by the 30 s the entry lives
			{at: 30 * time.Second, asked: true, ttls: []uint32{300}},
		}},
		{name: "NXDOMAIN for the SOA TTL", qname: "nxsoa.example", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, steps: []step{
			{at: 0, asked: true, ttls: []uint32{20}},
			{at: 19 * time.Second, ttls: []uint32{1}},
			{at: 20 * time.Second, asked: true, ttls: []uint32{20}},
		}},
		{name: "NXDOMAIN capped at an hour", qname: "nxbig.example", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, steps: []step{
			{at: 0, asked: true, ttls: []uint32{7200}},
			{at: 3599 * time.Second, ttls: []uint32{1}},
			{at: 3600 * time.Second, asked: true, ttls: []uint32{7200}},
		}},
		{name: "NXDOMAIN without SOA not cached", qname: "nxbare.example", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, steps: []step{
			{at: 0, asked: true},
			{at: time.Second, asked: true},
		}},
		{name: "NODATA for the SOA MINIMUM", qname: "nodata.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{300}},
			{at: 39 * time.Second, ttls: []uint32{1}},
			{at: 40 * time.Second, asked: true, ttls: []uint32{300}},
		}},
		{name: "NODATA of another type", qname: "a60.example", qtype: mdns.TypeAAAA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{300}},
			{at: 9 * time.Second, ttls: []uint32{1}},
			{at: 10 * time.Second, asked: true, ttls: []uint32{300}},
		}},
		{name: "NODATA without SOA not cached", qname: "bare.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true},
			{at: 0, asked: true},
		}},
		{name: "CNAME to no data: the SOA bounds it", qname: "cname.example", qtype: mdns.TypeA, steps: []step{
			{at: 0, asked: true, ttls: []uint32{100, 300}, answers: 1},
			{at: 49 * time.Second, ttls: []uint32{1, 1}, answers: 1},
			{at: 50 * time.Second, asked: true, ttls: []uint32{100, 300}, answers: 1},
		}},
		{name: "REFUSED not cached", qname: "refused.example", qtype: mdns.TypeA, rcode: mdns.RcodeRefused, steps: []step{
			{at: 0, asked: true},
			{at: 0, asked: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock, up := cacheServer(t, 0)
			start := clock.Now()
			for i, st := range tt.steps {
				clock.Add(start.Add(st.at).Sub(clock.Now()))
				m, asked := ask(t, s, up, tt.qname, tt.qtype, false)
				var ttls []uint32
				for _, rr := range slices.Concat(m.Answer, m.Ns) {
					ttls = append(ttls, rr.Header().Ttl)
				}
				if m.Rcode != tt.rcode || asked != st.asked || len(m.Answer) != st.answers || !slices.Equal(ttls, st.ttls) {
					t.Errorf("step %d at %v: %s, %d answers, TTLs %v, upstream asked %v; want %s, %d answers, TTLs %v, asked %v",
						i, st.at, mdns.RcodeToString[m.Rcode], len(m.Answer), ttls, asked, mdns.RcodeToString[tt.rcode], st.answers, st.ttls, st.asked)
				}
			}
		})
	}
}

// TestCacheRewrite checks what a cached answer takes from the query that
// hits it: ID, RD, question case, OPT and DO.
func TestCacheRewrite(t *testing.T) {
	s, _, up := cacheServer(t, 0)
	if _, asked := ask(t, s, up, "a60.example", mdns.TypeA, false); !asked {
		t.Fatalf("first query not forwarded")
	}
	tests := []struct {
		name  string
		qname string
		edns  bool
		do    bool
		rd    bool
	}{
		{name: "same", qname: "a60.example.", rd: true},
		{name: "upper case", qname: "A60.EXAMPLE.", rd: true},
		{name: "mixed case, no RD", qname: "a60.ExAmPle.", rd: false},
		{name: "EDNS0", qname: "A60.example.", edns: true, rd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := new(mdns.Msg).SetQuestion(tt.qname, mdns.TypeA)
			req.RecursionDesired = tt.rd
			if tt.edns {
				req.SetEdns0(4096, tt.do)
			}
			q, err := req.Pack()
			if err != nil {
				t.Fatal(err)
			}
			r, sync := serve(t, s, "net1", q)
			m := r.msg
			if !sync {
				t.Errorf("cached answer came after ServeUDP returned")
			}
			if m.Id != req.Id || m.RecursionDesired != tt.rd || !m.Response || m.Authoritative {
				t.Errorf("header %+v, want ID %#x, RD %v, QR, no AA", m.MsgHdr, req.Id, tt.rd)
			}
			if len(m.Question) != 1 || m.Question[0].Name != tt.qname || len(m.Answer) != 1 || m.Answer[0].Header().Name != tt.qname {
				t.Errorf("question %v answer %v, want both named %q", m.Question, m.Answer, tt.qname)
			}
			opt := m.IsEdns0()
			switch {
			case tt.edns && (opt == nil || opt.UDPSize() != DefaultMaxUDPSize || opt.Do() != tt.do || opt.Version() != 0):
				t.Errorf("OPT %v, want payload %d, DO %v", opt, DefaultMaxUDPSize, tt.do)
			case !tt.edns && opt != nil:
				t.Errorf("OPT %v in answer to a query without one", opt)
			}
		})
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
	if st := s.Stats(); st.CacheHits != uint64(len(tests)) || st.CacheMisses != 1 || st.CacheEntries != 1 || st.Forwarded != 1 {
		t.Errorf("Stats() = %+v, want CacheHits %d, CacheMisses 1, CacheEntries 1, Forwarded 1", st, len(tests))
	}
}

// TestCacheKey checks that answers are kept apart by type, class, DO and CD
// and shared by every scope.
func TestCacheKey(t *testing.T) {
	s, _, up := cacheServer(t, 0)
	query := func(qtype, qclass uint16, edns, do, cd bool, scope string) (string, bool) {
		t.Helper()
		req := new(mdns.Msg).SetQuestion("do.example.", qtype)
		req.Question[0].Qclass = qclass
		req.CheckingDisabled = cd
		if edns {
			req.SetEdns0(1232, do)
		}
		q, err := req.Pack()
		if err != nil {
			t.Fatal(err)
		}
		before := up.queries.Load()
		r, _ := serve(t, s, scope, q)
		return fmt.Sprint(rdata(r.msg.Answer)), up.queries.Load() > before
	}
	in, ch := uint16(mdns.ClassINET), uint16(mdns.ClassCHAOS)
	for i, tt := range []struct {
		qtype, qclass uint16
		edns, do, cd  bool
		scope         string
		want          string
		asked         bool
	}{
		{qtype: mdns.TypeA, qclass: in, scope: "net1", want: "[192.0.2.1]", asked: true},
		{qtype: mdns.TypeA, qclass: in, scope: "net2", want: "[192.0.2.1]"},                                    // another scope: same entry
		{qtype: mdns.TypeA, qclass: in, edns: true, scope: "net1", want: "[192.0.2.1]"},                        // EDNS0 without DO: same entry
		{qtype: mdns.TypeA, qclass: in, edns: true, do: true, scope: "net1", want: "[192.0.2.2]", asked: true}, // DO: its own entry
		{qtype: mdns.TypeA, qclass: in, edns: true, do: true, scope: "net2", want: "[192.0.2.2]"},
		{qtype: mdns.TypeA, qclass: in, scope: "net1", want: "[192.0.2.1]"},
		{qtype: mdns.TypeA, qclass: in, cd: true, scope: "net1", want: "[192.0.2.1]", asked: true}, // CD: its own entry
		{qtype: mdns.TypeA, qclass: ch, scope: "net1", want: "[192.0.2.1]", asked: true},           // class: its own entry
		{qtype: mdns.TypeAAAA, qclass: in, scope: "net1", want: "[]", asked: true},                 // type: its own entry
		{qtype: mdns.TypeAAAA, qclass: in, scope: "net1", want: "[]"},
	} {
		got, asked := query(tt.qtype, tt.qclass, tt.edns, tt.do, tt.cd, tt.scope)
		if got != tt.want || asked != tt.asked {
			t.Errorf("query %d: answers %s, upstream asked %v; want %s, %v", i, got, asked, tt.want, tt.asked)
		}
	}
}

func TestCacheEviction(t *testing.T) {
	s, clock, up := cacheServer(t, 2)
	type step struct {
		name      string
		asked     bool
		evictions uint64
		entries   uint64
	}
	seq := []step{
		{name: "a1000.example", asked: true, entries: 1},
		{name: "a1001.example", asked: true, entries: 2},
		{name: "a1000.example", entries: 2},                            // a1000 is now the most recently used
		{name: "a1002.example", asked: true, evictions: 1, entries: 2}, // evicts a1001, the least recently used
		{name: "a1000.example", evictions: 1, entries: 2},              // still cached
		{name: "a1001.example", asked: true, evictions: 2, entries: 2}, // evicted before: asked again, evicts a1002
		{name: "a10.example", asked: true, evictions: 3, entries: 2},   // evicts a1000
		{name: "a1001.example", evictions: 3, entries: 2},              // a10 is now the least recently used
		{name: "+20s"}, // a10 expires
		{name: "a1003.example", asked: true, evictions: 3, entries: 2}, // drops the expired a10: not an eviction
		{name: "a1001.example", evictions: 3, entries: 2},
	}
	for i, st := range seq {
		if st.name == "+20s" {
			clock.Add(20 * time.Second)
			continue
		}
		_, asked := ask(t, s, up, st.name, mdns.TypeA, false)
		got := s.Stats()
		if asked != st.asked || got.CacheEvictions != st.evictions || got.CacheEntries != st.entries {
			t.Errorf("step %d %s: upstream asked %v, CacheEvictions %d, CacheEntries %d; want %v, %d, %d",
				i, st.name, asked, got.CacheEvictions, got.CacheEntries, st.asked, st.evictions, st.entries)
		}
	}
}

// TestCacheTruncated checks that a cached answer too large for the client's
// UDP size is truncated like any other, and sent whole over TCP.
func TestCacheTruncated(t *testing.T) {
	s, _, up := cacheServer(t, 0)
	// The upstream's answer, fetched over TCP, is cached whole.
	_, q := newQuery(t, "many.example", mdns.TypeA, 1232)
	if r, _ := serve(t, s, "net1", q); !r.msg.Truncated || r.size > 1232 {
		t.Fatalf("forwarded answer: TC %v, %d bytes, want TC and at most 1232 bytes", r.msg.Truncated, r.size)
	}
	if n := up.queries.Load(); n != 2 {
		t.Errorf("upstream asked %d times, want 2 (UDP, then TCP)", n)
	}
	_, q = newQuery(t, "many.example", mdns.TypeA, 0)
	r, _ := serve(t, s, "net1", q)
	if !r.msg.Truncated || r.size > mdns.MinMsgSize || len(r.msg.Answer) == 0 {
		t.Errorf("cached answer without EDNS0: TC %v, %d bytes, %d records; want TC, at most 512 bytes, some records",
			r.msg.Truncated, r.size, len(r.msg.Answer))
	}
	addr := startHandler(t, s, func(netip.Addr) string { return "net1" })
	m, _, err := (&mdns.Client{Net: "tcp"}).Exchange(new(mdns.Msg).SetQuestion("MANY.example.", mdns.TypeA), addr)
	if err != nil || m.Truncated || len(m.Answer) != 100 || m.Answer[0].Header().Name != "MANY.example." {
		t.Errorf("cached answer over TCP: %v; want all 100 records, named as asked", err)
	}
	if st := s.Stats(); st.CacheHits != 2 || st.Truncated != 2 {
		t.Errorf("Stats() = %+v, want CacheHits 2, Truncated 2", st)
	}
}

// TestCacheDisabled checks that a negative CacheSize caches nothing.
func TestCacheDisabled(t *testing.T) {
	s, _, up := cacheServer(t, -1)
	for range 2 {
		if _, asked := ask(t, s, up, "a60.example", mdns.TypeA, false); !asked {
			t.Errorf("query answered without the upstream, want no cache")
		}
	}
	if st := s.Stats(); st.CacheHits != 0 || st.CacheMisses != 0 || st.CacheEntries != 0 {
		t.Errorf("Stats() = %+v, want no cache counts", st)
	}
}

// TestCacheConcurrent hits and fills the cache from many goroutines; run
// with -race.
func TestCacheConcurrent(t *testing.T) {
	s, clock, up := cacheServer(t, 8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("a%d.example", 100+(g*7+i)%12)
				m, _ := ask(t, s, up, name, mdns.TypeA, i%2 == 0)
				if m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 1 {
					t.Errorf("%s: %s with %d answers, want one A", name, mdns.RcodeToString[m.Rcode], len(m.Answer))
				}
				if i%10 == 0 {
					clock.Add(time.Second)
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.CacheHits+st.CacheMisses != 200 || st.CacheEntries > 8 {
		t.Errorf("Stats() = %+v, want 200 cache look-ups and at most 8 entries", st)
	}
}

// TestEntryAnswer checks the packed answers of an entry against an unpacked
// copy with the TTLs expected.
func TestEntryAnswer(t *testing.T) {
	r := new(mdns.Msg).SetQuestion("www.example.", mdns.TypeA)
	r.Response, r.RecursionAvailable, r.AuthenticatedData = true, true, true
	r.Answer = []mdns.RR{
		&mdns.CNAME{Hdr: header("www.example.", mdns.TypeCNAME, 300), Target: "web.example."},
		&mdns.A{Hdr: header("web.example.", mdns.TypeA, 120), A: net.IPv4(192, 0, 2, 1)},
	}
	r.Ns = []mdns.RR{&mdns.NS{Hdr: header("example.", mdns.TypeNS, 5), Ns: "ns.example."}}
	r.Extra = []mdns.RR{&mdns.A{Hdr: header("ns.example.", mdns.TypeA, 1000), A: net.IPv4(192, 0, 2, 53)}}
	r.SetEdns0(4096, true)
	now := newClock().Now()
	e := newEntry(keyOf(r), r, now)
	if e == nil {
		t.Fatal("newEntry = nil, want an entry")
	}
	if got, want := e.expires.Sub(now), 120*time.Second; got != want {
		t.Errorf("entry lives %v, want %v (the smallest answer TTL)", got, want)
	}
	if r.IsEdns0() == nil || len(r.Extra) != 2 {
		t.Errorf("newEntry changed the message it caches: Extra %v", r.Extra)
	}

	req := new(mdns.Msg).SetQuestion("WWW.Example.", mdns.TypeA)
	req.Id = 0xbeef
	b := e.answer(req, 1232, now.Add(100*time.Second+500*time.Millisecond))
	got := new(mdns.Msg)
	if err := got.Unpack(b); err != nil {
		t.Fatalf("Unpack(answer %x) = %v", b, err)
	}
	if got.Id != 0xbeef || !got.Response || !got.RecursionAvailable || !got.AuthenticatedData || !got.RecursionDesired {
		t.Errorf("header %+v, want ID 0xbeef, QR, RA, AD, RD", got.MsgHdr)
	}
	var ttls []uint32
	for _, rr := range slices.Concat(got.Answer, got.Ns, got.Extra) {
		ttls = append(ttls, rr.Header().Ttl)
	}
	// Every TTL is at most the entry's 120 s, less the 100 whole seconds it
	// has been cached; 5 s is already 0.
	if diff := cmp.Diff([]uint32{20, 20, 0, 20}, ttls); diff != "" {
		t.Errorf("TTLs (-want +got):\n%s", diff)
	}
	if got.Question[0].Name != "WWW.Example." || got.Answer[0].Header().Name != "WWW.Example." || got.IsEdns0() != nil {
		t.Errorf("answer %v, want the question's case and no OPT", got)
	}
}

// FuzzTTLOffsets checks that ttlOffsets never panics, returns offsets
// inside the message, and finds one TTL per record of a message miekg
// unpacks.
func FuzzTTLOffsets(f *testing.F) {
	r := new(mdns.Msg).SetQuestion("www.example.", mdns.TypeA)
	r.Answer = []mdns.RR{&mdns.A{Hdr: header("www.example.", mdns.TypeA, 60), A: net.IPv4(192, 0, 2, 1)}}
	r.Ns = []mdns.RR{&mdns.SOA{Hdr: header("example.", mdns.TypeSOA, 60), Ns: "ns.example.", Mbox: "h.example."}}
	for _, compress := range []bool{false, true} {
		r.Compress = compress
		b, err := r.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		offs, ok := ttlOffsets(b)
		if !ok {
			return
		}
		for _, off := range offs {
			if int(off)+4 > len(b) {
				t.Fatalf("ttlOffsets(%x) = offset %d past the end", b, off)
			}
		}
		m := new(mdns.Msg)
		if m.Unpack(b) == nil && len(offs) != len(m.Answer)+len(m.Ns)+len(m.Extra) {
			t.Errorf("ttlOffsets(%x) found %d TTLs, miekg %d records", b, len(offs), len(m.Answer)+len(m.Ns)+len(m.Extra))
		}
	})
}
