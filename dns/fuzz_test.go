package dns

import (
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzServeUDP checks that no message makes ServeUDP panic, that reply is
// called exactly once unless the message is dropped, and that every answer
// unpacks, is a response with the query's ID and fits the UDP size limit,
// in a scope that forwards (to no upstream, with some answers cached) and
// in one that may not. Seeds in testdata/fuzz/FuzzServeUDP are real queries
// from dig and nslookup, and cut or altered copies of them.
func FuzzServeUDP(f *testing.F) {
	for _, name := range []string{"apple-server", "web", "banana.net2", "host.vswitchd.internal", "2.1.0.10.in-addr.arpa", "example.com",
		"Host.Docker.Internal", "gateway.docker.internal", "net1", "x.docker.internal", "myhost"} {
		for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypePTR, mdns.TypeSOA} {
			_, q := newQuery(f, name, qtype, 1232)
			f.Add(q)
		}
	}
	for _, do := range []bool{false, true} {
		m := new(mdns.Msg).SetQuestion("EXAMPLE.com.", mdns.TypeA)
		m.SetEdns0(512, do)
		q, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(q)
	}
	s := New(Options{}) // no upstreams: every answer comes before ServeUDP returns
	f.Cleanup(func() { s.Close() })
	testNames(s)
	s.SetNetworkOptions("net1", NetworkOptions{Gateway: netip.MustParseAddr("10.0.1.1")})
	s.SetNetworkOptions("internal", NetworkOptions{NoForward: true})
	s.SetNetwork("internal", []Record{{Name: "db", Addr: netip.MustParseAddr("10.0.4.2"), Network: "internal"}})
	// Cached answers for example.com, some too large for 512 bytes.
	for _, qtype := range []uint16{mdns.TypeA, mdns.TypeTXT} {
		for _, do := range []bool{false, true} {
			r := new(mdns.Msg).SetQuestion("example.com.", qtype)
			r.SetEdns0(1232, do)
			key := keyOf(r)
			r.Response = true
			for i := range 40 {
				r.Answer = append(r.Answer, &mdns.A{Hdr: header("example.com.", mdns.TypeA, 600), A: net.IPv4(192, 0, 2, byte(i))})
			}
			if qtype == mdns.TypeTXT {
				r.Answer = r.Answer[:0]
				r.Ns = []mdns.RR{&mdns.SOA{Hdr: header("com.", mdns.TypeSOA, 60), Ns: "ns.com.", Mbox: "h.com.", Minttl: 60}}
			}
			s.cache.put(key, r, s.now(), &s.stats.cacheEvictions)
		}
	}

	f.Fuzz(func(t *testing.T, query []byte) {
		fuzzServeUDP(t, s, "net1", query)
		fuzzServeUDP(t, s, "internal", query)
	})
}

// fuzzServeUDP checks the answer of ServeUDP to query from scope.
func fuzzServeUDP(t *testing.T, s *Server, scope string, query []byte) {
	before := s.Stats()
	var answers [][]byte
	s.ServeUDP(scope, query, func(resp []byte) {
		answers = append(answers, append([]byte(nil), resp...))
	})
	after := s.Stats()
	dropped := after.Dropped - before.Dropped
	if len(answers)+int(dropped) != 1 {
		t.Fatalf("ServeUDP(%x): %d answers, %d dropped; want exactly one of them", query, len(answers), dropped)
	}
	if dropped == 1 {
		return
	}
	resp := answers[0]
	m := new(mdns.Msg)
	if err := m.Unpack(resp); err != nil {
		t.Fatalf("ServeUDP(%x) answer %x does not unpack: %v", query, resp, err)
	}
	hdr := new(mdns.Msg)
	if err := hdr.Unpack(query[:headerLen]); err != nil {
		t.Fatalf("answered ServeUDP(%x) whose header does not unpack: %v", query, err)
	}
	if !m.Response || m.Id != hdr.Id {
		t.Errorf("ServeUDP(%x) answer QR %v ID %#x, want QR and ID %#x", query, m.Response, m.Id, hdr.Id)
	}
	if len(resp) > DefaultMaxUDPSize {
		t.Errorf("ServeUDP(%x) answer has %d bytes, want at most %d", query, len(resp), DefaultMaxUDPSize)
	}
	if req := new(mdns.Msg); req.Unpack(query) == nil && req.IsEdns0() == nil && len(resp) > mdns.MinMsgSize {
		t.Errorf("ServeUDP(%x) answer to a query without EDNS0 has %d bytes, want at most 512", query, len(resp))
	}
}
