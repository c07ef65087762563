package router_test

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// dnsQueryFrame builds a UDP query for name (type A, RD set, ID id) from
// (srcMAC, src) to the gateway (gwMAC, gw).
func dnsQueryFrame(t testing.TB, srcMAC, gwMAC header.MAC, src netip.AddrPort, gw netip.Addr, name string, id uint16) []byte {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	m.Id = id
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query: %v", err)
	}
	return udp4(t, srcMAC, gwMAC, src, ap(gw, 53), string(b))
}

// dnsAnswer checks that s is a DNS answer over UDP from (gwMAC, gw:53) to
// (cliMAC, cli) with valid checksums, sent to wantTo, and returns the
// message.
func dnsAnswer(t testing.TB, s sentFrame, wantTo router.Target, gwMAC, cliMAC header.MAC, gw netip.Addr, cli netip.AddrPort) *mdns.Msg {
	t.Helper()
	if s.to != wantTo {
		t.Errorf("answer sent to %+v, want %+v", s.to, wantTo)
	}
	got, _, _ := ipView(t, s.frame)
	payload := got.Payload
	got.Payload = ""
	want := view{EthSrc: gwMAC.String(), EthDst: cliMAC.String(), Src: ap(gw, 53).String(), Dst: cli.String(), TTL: 64, Proto: "UDP"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer frame %x (-want +got):\n%s", s.frame, diff)
	}
	m := new(mdns.Msg)
	if err := m.Unpack([]byte(payload)); err != nil {
		t.Fatalf("Unpack(answer %x) = %v", payload, err)
	}
	return m
}

// answerAddrs returns the A records of m.
func answerAddrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestDNSLocal: UDP queries to a gateway are answered within Input, through
// the sink, from the network's names or the endpoint's scope.
func TestDNSLocal(t *testing.T) {
	tests := []struct {
		name      string
		vid       vlan.ID
		cliMAC    header.MAC
		cli       netip.AddrPort
		gwMAC     header.MAC
		gw        netip.Addr
		query     string
		wantTo    router.Target
		wantRcode int
		wantAddrs []string
	}{
		{name: "network name", vid: vidA, cliMAC: a1MAC, cli: ap(a1IP, 45000), gwMAC: gwAMAC, gw: gwA, query: "web", wantTo: toA,
			wantRcode: mdns.RcodeSuccess, wantAddrs: []string{"172.18.0.3"}},
		{name: "network name, any case", vid: vidA, cliMAC: a1MAC, cli: ap(a1IP, 45000), gwMAC: gwAMAC, gw: gwA, query: "WeB", wantTo: toA,
			wantRcode: mdns.RcodeSuccess, wantAddrs: []string{"172.18.0.3"}},
		{name: "host name", vid: vidB, cliMAC: b1MAC, cli: ap(b1IP, 45001), gwMAC: gwBMAC, gw: gwB, query: dns.HostName, wantTo: toB,
			wantRcode: mdns.RcodeSuccess, wantAddrs: []string{"172.31.255.2"}},
		{name: "endpoint scope", vid: vidA, cliMAC: a2MAC, cli: ap(a2IP, 45002), gwMAC: gwAMAC, gw: gwA, query: "special", wantTo: toA,
			wantRcode: mdns.RcodeSuccess, wantAddrs: []string{"10.9.9.9"}},
		// A name the scope does not have is forwarded, as Docker's
		// resolver does; this harness has no upstream: SERVFAIL.
		{name: "network without the scope", vid: vidA, cliMAC: a1MAC, cli: ap(a1IP, 45003), gwMAC: gwAMAC, gw: gwA, query: "special", wantTo: toA,
			wantRcode: mdns.RcodeServerFailure},
		{name: "scope only in its own network", vid: vidB, cliMAC: a2MAC, cli: ap(a2IP, 45004), gwMAC: gwBMAC, gw: gwB, query: "special", wantTo: toB,
			wantRcode: mdns.RcodeServerFailure},
		{name: "other network's names", vid: vidB, cliMAC: b1MAC, cli: ap(b1IP, 45005), gwMAC: gwBMAC, gw: gwB, query: "web", wantTo: toB,
			wantRcode: mdns.RcodeServerFailure},
		{name: "not local, no upstream", vid: vidC, cliMAC: c1MAC, cli: ap(c1IP, 45006), gwMAC: gwCMAC, gw: gwC, query: "example.com", wantTo: toC,
			wantRcode: mdns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			before := stats(h.r)
			frame := dnsQueryFrame(t, tt.cliMAC, tt.gwMAC, tt.cli, tt.gw, tt.query, 0x1234)
			if v, to := h.input(tt.vid, frame); v != router.Consumed {
				t.Fatalf("Input(%x) = %v, %+v, want %v", frame, vs(v), to, vs(router.Consumed))
			}
			sent := h.sink.take()
			if len(sent) != 1 {
				t.Fatalf("Input sent %d frames, want 1", len(sent))
			}
			m := dnsAnswer(t, sent[0], tt.wantTo, tt.gwMAC, tt.cliMAC, tt.gw, tt.cli)
			if m.Id != 0x1234 || !m.Response || m.Rcode != tt.wantRcode {
				t.Errorf("answer id %#x response %v rcode %s, want 0x1234 true %s", m.Id, m.Response, mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tt.wantRcode])
			}
			if diff := cmp.Diff(tt.wantAddrs, answerAddrs(m)); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			if inj := h.inj.take(); len(inj) != 0 {
				t.Errorf("a local answer was injected %d times", len(inj))
			}
			checkStats(t, h.r, before, map[string]uint64{"dns-query": 1})
		})
	}
}

func TestDNSNotAnswered(t *testing.T) {
	resp := new(mdns.Msg).SetQuestion("web.", mdns.TypeA)
	resp.Response = true
	b, err := resp.Pack()
	must(t, err)
	query := dnsQueryFrame(t, a1MAC, gwAMAC, ap(a1IP, 45000), gwA, "web", 1)

	t.Run("response dropped by the server", func(t *testing.T) {
		h := newHarness(t, nil)
		before := stats(h.r)
		if v, _ := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 45000), ap(gwA, 53), string(b))); v != router.Consumed {
			t.Errorf("Input = %v, want %v", vs(v), vs(router.Consumed))
		}
		if n := len(h.sink.take()); n != 0 {
			t.Errorf("Input sent %d frames, want none", n)
		}
		checkStats(t, h.r, before, map[string]uint64{"dns-query": 1})
	})
	t.Run("no buffer", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sink.full = true
		before := stats(h.r)
		if v, _ := h.input(vidA, query); v != router.Consumed {
			t.Errorf("Input = %v, want %v", vs(v), vs(router.Consumed))
		}
		checkStats(t, h.r, before, map[string]uint64{"dns-query": 1, "drop-no-buffer": 1})
	})
	t.Run("no DNS server", func(t *testing.T) {
		r := router.New(router.Options{})
		r.Configure(testConfig())
		var p header.Parsed
		must(t, p.Decode(query))
		pkt := router.Packet{Frame: query, Parsed: &p, VID: vidA, InPort: inPort, Counts: countsFor(r)}
		if v, _ := r.Input(&pkt, &fakeSink{}, t0); v != router.Drop {
			t.Errorf("Input = %v, want %v", vs(v), vs(router.Drop))
		}
		if n := stats(r)["drop-not-for-us"]; n != 1 {
			t.Errorf("drop-not-for-us = %d, want 1", n)
		}
	})
}

// startUpstream serves DNS over UDP on 127.0.0.1 until the test ends,
// answering every A query with addr once gate is closed.
func startUpstream(t *testing.T, addr string, gate <-chan struct{}) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		<-gate
		m := new(mdns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &mdns.A{
			Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
			A:   net.ParseIP(addr),
		})
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestDNSForwarded: the answer to a forwarded query comes later, through
// the injector, addressed like a local one. (The upstream answers once
// Input has returned: one that answers before would have its answer sent
// inline, with the batch.)
func TestDNSForwarded(t *testing.T) {
	gate := make(chan struct{})
	up := startUpstream(t, "93.184.216.34", gate)
	var open sync.Once
	answer := func() { open.Do(func() { close(gate) }) }
	t.Cleanup(answer) // before the upstream's shutdown, if the test stops early
	ds := dns.New(dns.Options{Upstreams: []netip.AddrPort{up}, Timeout: 5 * time.Second})
	t.Cleanup(func() { ds.Close() })
	h := newHarnessDNS(t, ds, nil)

	cli := ap(a1IP, 45000)
	frame := dnsQueryFrame(t, a1MAC, gwAMAC, cli, gwA, "example.com", 0x4321)
	if v, to := h.input(vidA, frame); v != router.Consumed {
		t.Fatalf("Input(%x) = %v, %+v, want %v", frame, vs(v), to, vs(router.Consumed))
	}
	answer()
	var got sentFrame
	select {
	case got = <-h.inj.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer injected within 10 s")
	}
	if n := len(h.sink.take()); n != 0 {
		t.Errorf("Input sent %d frames through the sink, want none", n)
	}
	m := dnsAnswer(t, got, toA, gwAMAC, a1MAC, gwA, cli)
	if m.Id != 0x4321 || m.Rcode != mdns.RcodeSuccess {
		t.Errorf("answer id %#x rcode %s, want 0x4321 NOERROR", m.Id, mdns.RcodeToString[m.Rcode])
	}
	if diff := cmp.Diff([]string{"93.184.216.34"}, answerAddrs(m)); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}
