package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	mdns "github.com/miekg/dns"
)

// testNames sets the names used by the answer tests: two networks and the
// host.
func testNames(s *Server) {
	s.SetNetwork("net1", []Record{
		{Name: "apple-server", Addr: netip.MustParseAddr("10.0.1.2")},
		{Name: "apple-server.net1", Addr: netip.MustParseAddr("10.0.1.2")},
		{Name: "web", Addr: netip.MustParseAddr("10.0.1.2")}, // alias shared by two endpoints
		{Name: "db", Addr: netip.MustParseAddr("10.0.1.3")},
		{Name: "db.net1.", Addr: netip.MustParseAddr("10.0.1.3")},
		{Name: "web", Addr: netip.MustParseAddr("10.0.1.3")},
		{Name: "Dual", Addr: netip.MustParseAddr("10.0.1.4")},
		{Name: "dual", Addr: netip.MustParseAddr("fd00::4")},
	})
	s.SetNetwork("net2", []Record{
		{Name: "banana", Addr: netip.MustParseAddr("10.0.2.2")},
		{Name: "banana.net2", Addr: netip.MustParseAddr("10.0.2.2")},
	})
	s.SetHost(netip.MustParseAddr("192.168.65.254"))
}

func TestServeUDPLocal(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, TTL: 30})
	t.Cleanup(func() { s.Close() })
	testNames(s)

	tests := []struct {
		name    string
		network string
		qname   string
		qtype   uint16
		rcode   int
		want    []string // rdata of the answers
		soa     string   // owner of the SOA in the authority section of a negative answer
	}{
		{name: "endpoint", network: "net1", qname: "apple-server", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "alias on two endpoints", network: "net1", qname: "web", qtype: mdns.TypeA, want: []string{"10.0.1.2", "10.0.1.3"}},
		{name: "NAME.NETWORK", network: "net1", qname: "apple-server.net1", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "record with trailing dot", network: "net1", qname: "db.net1", qtype: mdns.TypeA, want: []string{"10.0.1.3"}},
		{name: "host", network: "net1", qname: "host.vswitchd.internal", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "host from another network", network: "net2", qname: "HOST.vswitchd.internal.", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "case-insensitive", network: "net1", qname: "APPLE-Server.NET1.", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "mixed-case record", network: "net1", qname: "dual", qtype: mdns.TypeA, want: []string{"10.0.1.4"}},
		{name: "AAAA of IPv6 record", network: "net1", qname: "dual", qtype: mdns.TypeAAAA, want: []string{"fd00::4"}},
		{name: "ANY gives both families", network: "net1", qname: "dual", qtype: mdns.TypeANY, want: []string{"10.0.1.4", "fd00::4"}},
		{name: "AAAA NODATA", network: "net1", qname: "apple-server", qtype: mdns.TypeAAAA, soa: "apple-server."},
		{name: "MX NODATA", network: "net1", qname: "apple-server.net1", qtype: mdns.TypeMX, soa: "net1."},
		{name: "SOA owner in the question's case", network: "net1", qname: "Apple-Server.NET1", qtype: mdns.TypeMX, soa: "NET1."},
		{name: "host AAAA NODATA", network: "net1", qname: "host.vswitchd.internal", qtype: mdns.TypeAAAA, soa: "vswitchd.internal."},
		{name: "PTR: the first record", network: "net1", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"apple-server."}},
		{name: "PTR upper case", network: "net1", qname: "3.1.0.10.IN-ADDR.ARPA.", qtype: mdns.TypePTR, want: []string{"db."}},
		{name: "PTR IPv6", network: "net1", qname: "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: mdns.TypePTR, want: []string{"dual."}},
		{name: "PTR of host", network: "net2", qname: "254.65.168.192.in-addr.arpa", qtype: mdns.TypePTR, want: []string{HostName}},
		{name: "A of reverse name NODATA", network: "net1", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypeA, soa: "2.1.0.10.in-addr.arpa."},
		{name: "other network's NAME.NETWORK", network: "net1", qname: "banana.net2", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net2."},
		{name: "unknown under own network", network: "net1", qname: "nosuch.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net1."},
		{name: "deep under a network", network: "net2", qname: "a.b.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net1."},
		{name: "under vswitchd.internal", network: "net1", qname: "other.vswitchd.internal", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "vswitchd.internal."},
		{name: "vswitchd.internal itself NODATA", network: "net1", qname: "vswitchd.internal", qtype: mdns.TypeA, soa: "vswitchd.internal."},
		{name: "network with no names", network: "net3", qname: "apple-server.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net1."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, q := newQuery(t, tt.qname, tt.qtype, 0)
			r, sync := serve(t, s, tt.network, q)
			if !sync {
				t.Errorf("answer came after ServeUDP returned, want before")
			}
			m := r.msg
			if m.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tt.rcode])
			}
			if m.Id != req.Id || !m.Response || !m.Authoritative || !m.RecursionAvailable || !m.RecursionDesired {
				t.Errorf("header = %+v, want ID %d, QR, AA, RA, RD", m.MsgHdr, req.Id)
			}
			if diff := cmp.Diff(tt.want, rdata(m.Answer)); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			for _, rr := range m.Answer {
				if h := rr.Header(); h.Name != mdns.Fqdn(tt.qname) || h.Ttl != 30 {
					t.Errorf("answer %v: want owner %q (the question's case) and TTL 30", rr, mdns.Fqdn(tt.qname))
				}
			}
			checkSOA(t, m, tt.soa)
		})
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("upstream got %d queries for local names, want 0", n)
	}
	want := Stats{Queries: uint64(len(tests)), Local: 20, NXDomain: 5}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

// checkSOA checks that the authority section of m holds the SOA of zone
// apex when apex is not "", and is empty otherwise (RFC 2308 §3).
func checkSOA(t *testing.T, m *mdns.Msg, apex string) {
	t.Helper()
	if apex == "" {
		if len(m.Ns) != 0 {
			t.Errorf("authority %v, want none", m.Ns)
		}
		return
	}
	want := &mdns.SOA{
		Hdr: mdns.RR_Header{Name: apex, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: negativeTTL},
		Ns:  mdns.CanonicalName(apex), Mbox: "nobody.invalid.", Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: negativeTTL,
	}
	if len(m.Ns) != 1 {
		t.Errorf("authority %v, want %v", m.Ns, want)
		return
	}
	got, ok := m.Ns[0].(*mdns.SOA)
	if !ok {
		t.Errorf("authority %v, want %v", m.Ns, want)
		return
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(mdns.SOA{}, "Serial", "Hdr.Rdlength")); diff != "" {
		t.Errorf("authority SOA (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	testNames(s)
	_, q := newQuery(t, "apple-server", mdns.TypeA, 0)
	r, _ := serve(t, s, "net1", q)
	if len(r.msg.Answer) != 1 || r.msg.Answer[0].Header().Ttl != DefaultTTL {
		t.Errorf("answer %v, want one A with TTL %d", r.msg.Answer, DefaultTTL)
	}
	if r.msg.RecursionAvailable {
		t.Errorf("RA set without upstreams")
	}
}

func TestSetNetworkLive(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	lookup := func(network, name string) (int, []string) {
		t.Helper()
		_, q := newQuery(t, name, mdns.TypeA, 0)
		r, _ := serve(t, s, network, q)
		return r.msg.Rcode, rdata(r.msg.Answer)
	}
	check := func(what string, network, name string, wantRcode int, want ...string) {
		t.Helper()
		rcode, got := lookup(network, name)
		if rcode != wantRcode || !slices.Equal(got, want) {
			t.Errorf("%s: %s from %s = %s %v, want %s %v", what, name, network,
				mdns.RcodeToString[rcode], got, mdns.RcodeToString[wantRcode], want)
		}
	}

	check("no names", "net1", "apple-server.net1", mdns.RcodeServerFailure) // not local: forwarded, no upstream
	s.SetNetwork("net1", []Record{{Name: "apple-server.net1", Addr: netip.MustParseAddr("10.0.1.2")}})
	check("added", "net1", "apple-server.net1", mdns.RcodeSuccess, "10.0.1.2")
	s.SetNetwork("net1", []Record{{Name: "apple-server.net1", Addr: netip.MustParseAddr("10.0.1.9")}})
	check("moved", "net1", "apple-server.net1", mdns.RcodeSuccess, "10.0.1.9")
	s.SetNetwork("net1", nil)
	check("removed name", "net1", "apple-server.net1", mdns.RcodeNameError)
	s.RemoveNetwork("net1")
	check("removed network", "net1", "apple-server.net1", mdns.RcodeServerFailure)
	s.SetHost(netip.MustParseAddr("192.168.65.254"))
	check("host set", "net1", HostName, mdns.RcodeSuccess, "192.168.65.254")
	s.SetHost(netip.Addr{})
	check("host unset", "net1", HostName, mdns.RcodeNameError)
	s.SetNetwork("", []Record{{Name: "x", Addr: netip.MustParseAddr("10.0.0.1")}})
	s.SetNetwork("net1", []Record{{Name: "", Addr: netip.MustParseAddr("10.0.0.1")}, {Name: "bad..name", Addr: netip.MustParseAddr("10.0.0.1")}, {Name: "noaddr"}})
	check("invalid records skipped", "net1", "noaddr", mdns.RcodeServerFailure) // not local: forwarded, no upstream
}

// TestSetNetworkWhileServing swaps names while queries are answered; run
// with -race.
func TestSetNetworkWhileServing(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	s.SetNetwork("net1", []Record{{Name: "web", Addr: netip.MustParseAddr("10.0.1.2")}})
	_, q := newQuery(t, "web", mdns.TypeA, 0)
	var (
		setter, workers sync.WaitGroup
		bad             atomic.Int64
	)
	stop := make(chan struct{})
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.SetNetwork("net1", []Record{{Name: "web", Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})}})
			s.SetHost(netip.AddrFrom4([4]byte{192, 168, 0, byte(i)}))
		}
	})
	for i := range 4 {
		workers.Go(func() {
			for range 500 {
				s.ServeUDP("net1", q, func(resp []byte) {
					m := new(mdns.Msg)
					if err := m.Unpack(resp); err != nil || m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 1 {
						if bad.Add(1) == 1 {
							t.Errorf("worker %d: answer %v, %v; want one A", i, m, err)
						}
					}
				})
			}
		})
	}
	workers.Wait()
	close(stop)
	setter.Wait()
	if got := s.Stats().Local; got != 4*500 {
		t.Errorf("Stats().Local = %d, want %d", got, 4*500)
	}
}

func TestTruncation(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	var records []Record
	for i := range 100 {
		records = append(records, Record{Name: "many", Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})})
	}
	s.SetNetwork("net1", records)

	tests := []struct {
		bufsize uint16
		maxSize int
	}{
		{bufsize: 0, maxSize: mdns.MinMsgSize},
		{bufsize: 300, maxSize: mdns.MinMsgSize}, // below 512 means 512 (RFC 6891 §6.2.5)
		{bufsize: 1000, maxSize: 1000},
		{bufsize: 4096, maxSize: DefaultMaxUDPSize},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("bufsize=%d", tt.bufsize), func(t *testing.T) {
			_, q := newQuery(t, "many", mdns.TypeA, tt.bufsize)
			r, _ := serve(t, s, "net1", q)
			if r.size > tt.maxSize || !r.msg.Truncated || len(r.msg.Answer) == 0 || len(r.msg.Answer) >= 100 {
				t.Errorf("answer: %d bytes, TC %v, %d records; want at most %d bytes, TC, some records",
					r.size, r.msg.Truncated, len(r.msg.Answer), tt.maxSize)
			}
			if tt.bufsize != 0 && r.msg.IsEdns0() == nil {
				t.Errorf("answer to an EDNS0 query without OPT")
			}
		})
	}

	big := New(Options{MaxUDPSize: 4096})
	t.Cleanup(func() { big.Close() })
	big.SetNetwork("net1", records)
	_, q := newQuery(t, "many", mdns.TypeA, 4096)
	r, _ := serve(t, big, "net1", q)
	if r.msg.Truncated || len(r.msg.Answer) != 100 {
		t.Errorf("MaxUDPSize 4096: TC %v, %d records; want all 100", r.msg.Truncated, len(r.msg.Answer))
	}
	if got := s.Stats().Truncated; got != uint64(len(tests)) {
		t.Errorf("Stats().Truncated = %d, want %d", got, len(tests))
	}
}

// scopeNames sets the names of an endpoint scope as the daemon passes them:
// the records of each network the endpoint is on, with their Network, the
// first network first, and the gateway of that network.
func scopeNames(s *Server) {
	a := netip.MustParseAddr
	s.SetNetworkOptions("@apple", NetworkOptions{Gateway: a("10.0.1.1")})
	s.SetNetwork("@apple", []Record{
		{Name: "apple", Addr: a("10.0.1.2"), Network: "net1"},
		{Name: "www", Addr: a("10.0.1.2"), Network: "net1"}, // alias
		{Name: "db", Addr: a("10.0.1.3"), Network: "net1"},
		{Name: "apple", Addr: a("10.0.2.2"), Network: "net2"},
		{Name: "db", Addr: a("10.0.2.3"), Network: "net2"},         // hidden by net1's db as a bare name
		{Name: "cache.tier", Addr: a("10.0.2.4"), Network: "net2"}, // an alias with a dot
		{Name: "old.net2", Addr: a("10.0.2.3"), Network: "Net2."},  // already qualified
		{Name: "v6", Addr: a("fd00::5"), Network: "net2"},
	})
	s.SetHost(a("192.168.65.254"))
}

func TestScopeNames(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}, TTL: 30})
	t.Cleanup(func() { s.Close() })
	scopeNames(s)

	tests := []struct {
		name  string
		scope string // "@apple" unless set
		qname string
		qtype uint16
		rcode int
		want  []string // rdata of the answers
		soa   string   // owner of the SOA of a negative answer
	}{
		{name: "endpoint name", qname: "apple", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "first network wins", qname: "db", qtype: mdns.TypeA, want: []string{"10.0.1.3"}},
		{name: "NAME.NETWORK", qname: "apple.net1", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "NAME.NETWORK, second network", qname: "Apple.NET2", qtype: mdns.TypeA, want: []string{"10.0.2.2"}},
		{name: "hidden name under its network", qname: "db.net2", qtype: mdns.TypeA, want: []string{"10.0.2.3"}},
		{name: "ALIAS.NETWORK", qname: "www.net1", qtype: mdns.TypeA, want: []string{"10.0.1.2"}},
		{name: "alias of another network", qname: "www.net2", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net2."},
		{name: "dotted alias", qname: "cache.tier", qtype: mdns.TypeA, want: []string{"10.0.2.4"}},
		{name: "dotted ALIAS.NETWORK", qname: "cache.tier.net2", qtype: mdns.TypeA, want: []string{"10.0.2.4"}},
		{name: "qualified name kept", qname: "old.net2", qtype: mdns.TypeA, want: []string{"10.0.2.3"}},
		{name: "qualified name not extended", qname: "old.net2.net2", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "net2."},
		{name: "AAAA under its network", qname: "v6.net2", qtype: mdns.TypeAAAA, want: []string{"fd00::5"}},
		{name: "PTR: NAME.NETWORK", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"apple.net1."}},
		{name: "PTR: second network", qname: "2.2.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"apple.net2."}},
		{name: "PTR: first record of the address", qname: "3.2.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"db.net2."}},
		{name: "PTR: dotted alias", qname: "4.2.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"cache.tier.net2."}},
		{name: "PTR IPv6", qname: "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", qtype: mdns.TypePTR, want: []string{"v6.net2."}},
		{name: "PTR ANY", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypeANY, want: []string{"apple.net1."}},
		{name: "host.docker.internal", qname: "host.docker.internal", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "host.docker.internal any case", qname: "Host.Docker.Internal.", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "host.docker.internal AAAA NODATA", qname: "host.docker.internal", qtype: mdns.TypeAAAA, soa: "docker.internal."},
		{name: "host.docker.internal in a network scope", scope: "net9", qname: "host.docker.internal", qtype: mdns.TypeA, want: []string{"192.168.65.254"}},
		{name: "PTR of host: one name", qname: "254.65.168.192.in-addr.arpa", qtype: mdns.TypePTR, want: []string{HostName}},
		{name: "gateway.docker.internal", qname: "gateway.docker.internal", qtype: mdns.TypeA, want: []string{"10.0.1.1"}},
		{name: "PTR of gateway", qname: "1.1.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{GatewayName}},
		{name: "no gateway set", scope: "net9", qname: "gateway.docker.internal", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "docker.internal."},
		{name: "unknown under docker.internal", qname: "x.docker.internal", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: "docker.internal."},
		{name: "SOA of a network", qname: "NET1", qtype: mdns.TypeSOA, want: []string{"SOA NET1."}},
		{name: "SOA of vswitchd.internal", qname: "vswitchd.internal", qtype: mdns.TypeSOA, want: []string{"SOA vswitchd.internal."}},
		{name: "SOA of docker.internal", qname: "docker.internal", qtype: mdns.TypeSOA, want: []string{"SOA docker.internal."}},
		{name: "NS of a network NODATA", qname: "net2", qtype: mdns.TypeNS, soa: "net2."},
		{name: "SOA of a name NODATA", qname: "apple", qtype: mdns.TypeSOA, soa: "apple."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope := tt.scope
			if scope == "" {
				scope = "@apple"
			}
			_, q := newQuery(t, tt.qname, tt.qtype, 0)
			r, sync := serve(t, s, scope, q)
			m := r.msg
			if !sync || m.Rcode != tt.rcode || !m.Authoritative {
				t.Errorf("answer %s AA %v (sync %v), want %s AA before ServeUDP returns",
					mdns.RcodeToString[m.Rcode], m.Authoritative, sync, mdns.RcodeToString[tt.rcode])
			}
			if diff := cmp.Diff(tt.want, rdata(m.Answer)); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			checkSOA(t, m, tt.soa)
		})
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("upstream got %d queries for local names, want 0", n)
	}
}

// TestSOASerial checks that the SOA serial changes with the names.
func TestSOASerial(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	serial := func() uint32 {
		t.Helper()
		_, q := newQuery(t, "net1", mdns.TypeSOA, 0)
		r, _ := serve(t, s, "net1", q)
		if len(r.msg.Answer) != 1 {
			t.Fatalf("SOA query: answer %v, want one SOA", r.msg.Answer)
		}
		return r.msg.Answer[0].(*mdns.SOA).Serial
	}
	s.SetNetwork("net1", nil)
	before := serial()
	s.SetNetwork("net1", []Record{{Name: "a", Addr: netip.MustParseAddr("10.0.1.2")}})
	if after := serial(); after == before {
		t.Errorf("SOA serial %d after SetNetwork, want it changed from %d", after, before)
	}
}

// TestQualifiedRecordsHarmless checks that a caller that passes
// "NAME.NETWORK" records as well as Record.Network gets each answer once.
func TestQualifiedRecordsHarmless(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	a := netip.MustParseAddr("10.0.1.2")
	s.SetNetwork("net1", []Record{
		{Name: "apple", Addr: a, Network: "net1"},
		{Name: "apple.net1", Addr: a},
		{Name: "apple.net1", Addr: a, Network: "net1"},
		{Name: "web", Addr: a, Network: "net1"},
		{Name: "web.net1", Addr: a},
	})
	for _, tt := range []struct{ qname, qtype, want string }{
		{"apple.net1", "A", "10.0.1.2"},
		{"web.net1", "A", "10.0.1.2"},
		{"2.1.0.10.in-addr.arpa", "PTR", "apple.net1."},
	} {
		_, q := newQuery(t, tt.qname, mdns.StringToType[tt.qtype], 0)
		r, _ := serve(t, s, "net1", q)
		if got := rdata(r.msg.Answer); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%s %s = %v, want [%s]", tt.qname, tt.qtype, got, tt.want)
		}
	}
}

func TestSetNetworkOptions(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	gw := func(scope string) []string {
		t.Helper()
		_, q := newQuery(t, GatewayName, mdns.TypeA, 0)
		r, _ := serve(t, s, scope, q)
		return rdata(r.msg.Answer)
	}
	// Options set before the names are kept by SetNetwork, and the names
	// by SetNetworkOptions.
	s.SetNetworkOptions("net1", NetworkOptions{Gateway: netip.MustParseAddr("::ffff:10.0.1.1")})
	s.SetNetwork("net1", []Record{{Name: "a", Addr: netip.MustParseAddr("10.0.1.2")}})
	if got := gw("net1"); !slices.Equal(got, []string{"10.0.1.1"}) {
		t.Errorf("gateway after SetNetwork = %v, want [10.0.1.1]", got)
	}
	s.SetNetworkOptions("net1", NetworkOptions{})
	if got := gw("net1"); got != nil {
		t.Errorf("gateway after it was unset = %v, want none", got)
	}
	_, q := newQuery(t, "a", mdns.TypeA, 0)
	if r, _ := serve(t, s, "net1", q); len(r.msg.Answer) != 1 {
		t.Errorf("names after SetNetworkOptions: %v, want a's A", r.msg.Answer)
	}
	s.SetNetworkOptions("net1", NetworkOptions{Gateway: netip.MustParseAddr("10.0.1.1")})
	s.RemoveNetwork("net1")
	if got := gw("net1"); got != nil {
		t.Errorf("gateway after RemoveNetwork = %v, want none", got)
	}
	s.SetNetworkOptions("", NetworkOptions{NoForward: true}) // ignored
}
