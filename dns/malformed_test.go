package dns

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"
)

func TestServeUDPMalformed(t *testing.T) {
	pack := func(f func(m *mdns.Msg)) []byte {
		m := new(mdns.Msg).SetQuestion("apple-server.", mdns.TypeA)
		m.Id = 0x1234
		f(m)
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("pack: %v", err)
		}
		return b
	}
	good := pack(func(*mdns.Msg) {})

	tests := []struct {
		name    string
		network string
		query   []byte
		rcode   int // -1: no answer
		stats   Stats
	}{
		{name: "empty", query: nil, rcode: -1, stats: Stats{Malformed: 1, Dropped: 1}},
		{name: "short header", query: good[:7], rcode: -1, stats: Stats{Malformed: 1, Dropped: 1}},
		{name: "cut question", query: good[:15], rcode: mdns.RcodeFormatError, stats: Stats{Malformed: 1}},
		{name: "cut response", query: pack(func(m *mdns.Msg) { m.Response = true })[:15], rcode: -1, stats: Stats{Malformed: 1, Dropped: 1}},
		{name: "QR set", query: pack(func(m *mdns.Msg) { m.Response = true }), rcode: -1, stats: Stats{Malformed: 1, Dropped: 1}},
		{name: "no question", query: pack(func(m *mdns.Msg) { m.Question = nil }), rcode: mdns.RcodeFormatError, stats: Stats{Malformed: 1}},
		{name: "two questions", query: pack(func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }), rcode: mdns.RcodeFormatError, stats: Stats{Malformed: 1}},
		{name: "two OPT", query: pack(func(m *mdns.Msg) { m.SetEdns0(1232, false).SetEdns0(1232, false) }), rcode: mdns.RcodeFormatError, stats: Stats{Malformed: 1}},
		{name: "EDNS version 1", query: pack(func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), rcode: mdns.RcodeBadVers, stats: Stats{Malformed: 1}},
		{name: "opcode NOTIFY", query: pack(func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }), rcode: mdns.RcodeNotImplemented, stats: Stats{NotImp: 1}},
		{name: "no network", network: "-", query: good, rcode: mdns.RcodeRefused, stats: Stats{Refused: 1}},
		{name: "QR set, no network", network: "-", query: pack(func(m *mdns.Msg) { m.Response = true }), rcode: -1, stats: Stats{Malformed: 1, Dropped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			t.Cleanup(func() { s.Close() })
			testNames(s)
			network := "net1"
			if tt.network == "-" {
				network = ""
			}
			var got []*mdns.Msg
			s.ServeUDP(network, tt.query, func(resp []byte) {
				m := new(mdns.Msg)
				if err := m.Unpack(resp); err != nil {
					t.Errorf("Unpack(answer %x) = %v", resp, err)
				}
				got = append(got, m)
			})
			switch {
			case tt.rcode < 0 && len(got) != 0:
				t.Errorf("answered %v, want no answer", got[0])
			case tt.rcode >= 0 && len(got) != 1:
				t.Errorf("%d answers, want 1", len(got))
			case tt.rcode >= 0:
				m := got[0]
				if m.Rcode != tt.rcode || m.Id != 0x1234 || !m.Response {
					t.Errorf("answer rcode %s ID %#x QR %v, want %s ID 0x1234 QR",
						mdns.RcodeToString[m.Rcode], m.Id, m.Response, mdns.RcodeToString[tt.rcode])
				}
			}
			tt.stats.Queries = 1
			if diff := cmp.Diff(tt.stats, s.Stats()); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
		})
	}
}
