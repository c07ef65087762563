package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzServeUDP checks that no message makes ServeUDP panic, that reply is
// called exactly once unless the message is dropped, and that every answer
// unpacks, is a response with the query's ID and fits the UDP size limit.
// Seeds in testdata/fuzz/FuzzServeUDP are real queries from dig and
// nslookup, and cut or altered copies of them.
func FuzzServeUDP(f *testing.F) {
	for _, name := range []string{"apple-server", "web", "banana.net2", "host.vswitchd.internal", "2.1.0.10.in-addr.arpa", "example.com"} {
		for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypePTR} {
			_, q := newQuery(f, name, qtype, 1232)
			f.Add(q)
		}
	}
	s := New(Options{}) // no upstreams: every answer comes before ServeUDP returns
	f.Cleanup(func() { s.Close() })
	testNames(s)

	f.Fuzz(func(t *testing.T, query []byte) {
		before := s.Stats()
		var answers [][]byte
		s.ServeUDP("net1", query, func(resp []byte) {
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
	})
}
