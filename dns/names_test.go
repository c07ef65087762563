package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
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
		{name: "AAAA NODATA", network: "net1", qname: "apple-server", qtype: mdns.TypeAAAA},
		{name: "MX NODATA", network: "net1", qname: "apple-server.net1", qtype: mdns.TypeMX},
		{name: "host AAAA NODATA", network: "net1", qname: "host.vswitchd.internal", qtype: mdns.TypeAAAA},
		{name: "PTR", network: "net1", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypePTR, want: []string{"apple-server.", "apple-server.net1.", "web."}},
		{name: "PTR upper case", network: "net1", qname: "3.1.0.10.IN-ADDR.ARPA.", qtype: mdns.TypePTR, want: []string{"db.", "db.net1.", "web."}},
		{name: "PTR IPv6", network: "net1", qname: "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: mdns.TypePTR, want: []string{"dual."}},
		{name: "PTR of host", network: "net2", qname: "254.65.168.192.in-addr.arpa", qtype: mdns.TypePTR, want: []string{HostName}},
		{name: "A of reverse name NODATA", network: "net1", qname: "2.1.0.10.in-addr.arpa", qtype: mdns.TypeA},
		{name: "other network's name", network: "net1", qname: "banana", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "other network's NAME.NETWORK", network: "net1", qname: "banana.net2", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "unknown single label", network: "net1", qname: "nosuch", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "unknown single label AAAA", network: "net2", qname: "apple-server", qtype: mdns.TypeAAAA, rcode: mdns.RcodeNameError},
		{name: "unknown under own network", network: "net1", qname: "nosuch.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "deep under a network", network: "net2", qname: "a.b.net1", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "under vswitchd.internal", network: "net1", qname: "other.vswitchd.internal", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "vswitchd.internal itself", network: "net1", qname: "vswitchd.internal", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "network with no names", network: "net3", qname: "apple-server", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
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
		})
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("upstream got %d queries for local names, want 0", n)
	}
	want := Stats{Queries: uint64(len(tests)), Local: 18, NXDomain: 9}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
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
	check("invalid records skipped", "net1", "noaddr", mdns.RcodeNameError)
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
