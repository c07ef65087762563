package datapath

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/tap/taptest"
	"github.com/vswitchd/vswitchd/trace"
	"github.com/vswitchd/vswitchd/vlan"
)

// The dry-run pipeline: a table of frames through a switch with two
// networks, the host leg and an uplink; each trace must name the stages'
// decisions and the verdict, and change nothing at all.

var (
	exGwA   = header.MAC{0x02, 0x76, 0x73, 0, 0, 1}
	exGwB   = header.MAC{0x02, 0x76, 0x73, 0, 0, 2}
	exA1    = header.MAC{0x02, 0x42, 10, 1, 0, 2}
	exA2    = header.MAC{0x02, 0x42, 10, 1, 0, 3}
	exB1    = header.MAC{0x02, 0x42, 10, 2, 0, 2}
	exUp    = header.MAC{0x02, 0, 0, 0, 0xff, 1}
	exUpGw  = header.MAC{0x02, 0, 0, 0, 0xff, 2}
	exLeg   = header.MAC{0x02, 0, 0, 0, 0xfe, 1}
	exHost  = header.MAC{0x02, 0, 0, 0, 0xfe, 2}
	ipA1    = netip.MustParseAddr("10.1.0.2")
	ipA2    = netip.MustParseAddr("10.1.0.3")
	ipB1    = netip.MustParseAddr("10.2.0.2")
	ipUp    = netip.MustParseAddr("198.51.100.7")
	ipUpGw  = netip.MustParseAddr("198.51.100.1")
	ipFar   = netip.MustParseAddr("203.0.113.9")
	ipLeg   = netip.MustParseAddr("169.254.127.2")
	ipHost  = netip.MustParseAddr("169.254.127.1")
	ipOther = netip.MustParseAddr("10.1.0.99")
)

// explainSwitch is a switch with a router: alpha (vlan 10: a1, a2), beta
// (vlan 20: b1), the host leg and an uplink with its gateway resolved.
type explainSwitch struct {
	*testSwitch
	rt *router.Router
}

func newExplainSwitch(t *testing.T) *explainSwitch {
	rt := router.New(router.Options{NAT: nat.New(nat.Options{Seed: 1})})
	s := &testSwitch{t: t, dp: New(Options{Router: rt}), ports: map[string]*taptest.Port{}, ids: map[string]port.ID{}}
	t.Cleanup(func() { s.dp.Close() })
	guard := func(m header.MAC, ip netip.Addr) *Guard { return &Guard{MAC: m, IPs: []netip.Addr{ip}} }
	s.add("a1", access(10), guard(exA1, ipA1))
	s.add("a2", access(10), guard(exA2, ipA2))
	s.add("b1", access(20), guard(exB1, ipB1))
	s.add("trunk", vlan.Policy{Mode: vlan.Trunk}, nil)
	for _, name := range []string{"leg", "up"} {
		p := taptest.New(name, 256)
		id, err := s.dp.AddPort(p, PortConfig{Name: name, Kind: KindMem, Routed: true})
		if err != nil {
			t.Fatal(err)
		}
		s.ports[name], s.ids[name] = p, id
	}
	s.dp.FDB().AddStatic(10, exGwA, port.Router)
	s.dp.FDB().AddStatic(20, exGwB, port.Router)
	s.dp.FDB().Learn(10, exA2, s.ids["a2"], s.dp.Now())
	rt.Configure(router.Config{
		Networks: []router.Network{
			{ID: 1, Name: "alpha", VID: 10, Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.1"), MAC: exGwA,
				Endpoints: []router.Neighbor{{IP: ipA1, MAC: exA1, Name: "a1"}, {IP: ipA2, MAC: exA2, Name: "a2"}}},
			{ID: 2, Name: "beta", VID: 20, Subnet: netip.MustParsePrefix("10.2.0.0/24"), Gateway: netip.MustParseAddr("10.2.0.1"), MAC: exGwB,
				Endpoints: []router.Neighbor{{IP: ipB1, MAC: exB1, Name: "b1"}}},
		},
		Host:      &router.HostLeg{Port: s.ids["leg"], MAC: exLeg, Addr: ipLeg, HostAddr: ipHost, HostMAC: exHost},
		Uplink:    &router.Uplink{Port: s.ids["up"], MAC: exUp, Addr: netip.MustParsePrefix("198.51.100.7/24"), Gateway: ipUpGw},
		Published: []router.Published{{Proto: header.ProtoTCP, HostPort: 8080, HostPortEnd: 8080, Addr: ipA2, ContPort: 80, Network: 1, Endpoint: "a2"}},
	})
	rt.Neighbors().Update(ipUpGw, exUpGw, s.dp.Now())
	return &explainSwitch{testSwitch: s, rt: rt}
}

// tcpFrame builds an Ethernet/IPv4/TCP frame (tagged if vid != 0).
func tcpFrame(t testing.TB, src, dst header.MAC, sip, dip netip.Addr, sport, dport uint16, syn, ack bool, vid uint16) []byte {
	t.Helper()
	f := testframe.IPv4{Eth: testframe.Eth{Src: src, Dst: dst}, Proto: header.ProtoTCP,
		Src: netip.AddrPortFrom(sip, sport), Dst: netip.AddrPortFrom(dip, dport), TCP: testframe.TCP{Window: 1000}}
	if syn {
		f.TCP.Flags |= header.TCPFlagSYN
	}
	if ack {
		f.TCP.Flags |= header.TCPFlagACK
	}
	if vid != 0 {
		f.Eth.Tags = []testframe.Tag{testframe.CTag(0, false, vid)}
	}
	return f.Frame(t)
}

// world is everything a dry run must leave alone.
type world struct {
	fdb    string
	conns  int
	ports  []PortInfo
	router router.Counts
	nat    nat.Stats
}

func (s *explainSwitch) world() world {
	var b strings.Builder
	for _, e := range s.dp.FDB().Entries(0) {
		b.WriteString(e.MAC.String() + "@" + string(rune('0'+e.Port)) + ";")
	}
	return world{fdb: b.String(), conns: s.rt.NAT().Len(), ports: s.dp.Ports(), router: s.dp.RouterCounts(), nat: s.rt.NAT().Stats()}
}

func TestExplain(t *testing.T) {
	s := newExplainSwitch(t)
	tests := []struct {
		name     string
		in       string
		frame    func(t testing.TB) []byte
		verdict  trace.Verdict
		reason   string
		outputs  []string // port names
		tagging  []string
		steps    []string // substrings that must appear, in order, in the steps
		generate int      // frames the switch would build in answer
	}{
		{name: "same network, MAC known", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exA2, ipA1, ipA2, 1000, 80, true, false, 0) },
			verdict: trace.Delivered, outputs: []string{"a2"}, tagging: []string{"untagged"},
			steps: []string{"port a1", "vlan 10", "is the endpoint's own", "not yet known", "is on a2"}},
		{name: "unknown destination floods the vlan, trunk tagged", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exB1, ipA1, ipA2, 1000, 80, true, false, 0) },
			verdict: trace.Delivered, outputs: []string{"a2", "trunk"}, tagging: []string{"untagged", "tagged vlan 10 (0x8100)"},
			steps: []string{"not in the MAC table: flood"}},
		{name: "isolated network", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exGwA, ipA1, ipB1, 1000, 80, true, false, 0) },
			verdict: trace.Dropped, reason: "isolation",
			steps: []string{"gateway MAC: to the router", "to gateway 10.1.0.1", "b1 in network beta, not alpha: networks are isolated"}},
		{name: "spoofed source", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exA2, ipOther, ipA2, 1000, 80, true, false, 0) },
			verdict: trace.Dropped, reason: "spoofed", steps: []string{"not the endpoint's own"}},
		{name: "tagged frame on an access port", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exA2, ipA1, ipA2, 1000, 80, true, false, 30) },
			verdict: trace.Dropped, reason: "vlan-ingress", steps: []string{"refuses the frame (tag 30"}},
		{name: "masquerade to the outside", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exGwA, ipA1, ipFar, 40000, 443, true, false, 0) },
			verdict: trace.Delivered, outputs: []string{"up"}, tagging: []string{"routed"},
			steps: []string{"no tracked connection", "new connection, masquerade network alpha to the uplink address 198.51.100.7", "out of the uplink via next hop 198.51.100.1"}},
		{name: "published port from outside", in: "up",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exUpGw, exUp, ipFar, ipUp, 5555, 8080, true, false, 0) },
			verdict: trace.Delivered, outputs: []string{"a2"}, tagging: []string{"untagged"},
			steps: []string{"routed", "published port 198.51.100.7:8080/tcp of a2: DNAT to 10.1.0.3:80", "routes to 10.1.0.3 (a2"}},
		{name: "hairpin through the host address", in: "a1",
			frame:   func(t testing.TB) []byte { return tcpFrame(t, exA1, exGwA, ipA1, ipHost, 5555, 8080, true, false, 0) },
			verdict: trace.Delivered, outputs: []string{"a2"},
			steps: []string{"hairpin: SNAT to gateway 10.1.0.1"}},
		{name: "ARP for the gateway is answered", in: "a1",
			frame: func(t testing.TB) []byte {
				return testframe.ARPRequest(exA1, ipA1, netip.MustParseAddr("10.1.0.1")).Frame(t)
			},
			verdict: trace.Delivered, outputs: []string{"a1"}, steps: []string{"answered 02:76:73:00:00:01"}},
		{name: "time exceeded is generated", in: "a1",
			frame: func(t testing.TB) []byte {
				f := tcpFrame(t, exA1, exGwA, ipA1, ipFar, 40001, 443, true, false, 0)
				ip := header.IPv4(f[header.EthernetLen:])
				ip.SetTTL(1)
				ip.SetChecksum(0)
				ip.SetChecksum(ip.CalculateChecksum())
				return f
			},
			verdict: trace.Dropped, reason: "ttl-exceeded", generate: 1, steps: []string{"TTL 1 runs out here"}},
	}
	before := s.world()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr trace.Trace
			if err := s.dp.Explain(s.ids[tt.in], tt.frame(t), nil, &tr); err != nil {
				t.Fatal(err)
			}
			text := tr.String()
			if tr.Verdict != tt.verdict || tr.Reason != tt.reason {
				t.Errorf("verdict %q (%s), want %q (%s)\n%s", tr.Verdict, tr.Reason, tt.verdict, tt.reason, text)
			}
			var outs, tags []string
			for _, o := range tr.Outputs {
				outs, tags = append(outs, o.Port), append(tags, o.Tagging)
			}
			if diff := cmp.Diff(tt.outputs, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s\n%s", diff, text)
			}
			if tt.tagging != nil {
				if diff := cmp.Diff(tt.tagging, tags); diff != "" {
					t.Errorf("tagging (-want +got):\n%s", diff)
				}
			}
			if len(tr.Generated) != tt.generate {
				t.Errorf("%d generated frames, want %d\n%s", len(tr.Generated), tt.generate, text)
			}
			rest := text
			for _, want := range tt.steps {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("trace lacks %q (in order):\n%s", want, text)
					break
				}
				rest = rest[i+len(want):]
			}
			if diff := cmp.Diff(before, s.world(), cmp.AllowUnexported(world{}), cmp.Comparer(func(a, b PortInfo) bool {
				return a.ID == b.ID && cmp.Equal(a.Counters, b.Counters)
			})); diff != "" {
				t.Errorf("the dry run changed the switch (-before +after):\n%s", diff)
			}
			for name, p := range s.ports {
				if p.Pending() != 0 {
					t.Errorf("the dry run sent %d frames to %s", p.Pending(), name)
				}
			}
		})
	}
}

// TestExplainReply: the trace of a reply finds the connection its request
// would have opened, though none was created.
func TestExplainReply(t *testing.T) {
	s := newExplainSwitch(t)
	var tr trace.Trace
	if err := s.dp.Explain(s.ids["a1"], tcpFrame(t, exA1, exGwA, ipA1, ipFar, 40000, 443, true, false, 0), nil, &tr); err != nil {
		t.Fatal(err)
	}
	if s.rt.NAT().Len() != 0 {
		t.Fatalf("the dry run created %d connections", s.rt.NAT().Len())
	}
	out := tr.Outputs[0].Frame
	var p header.Parsed
	p.Decode(out)
	reply := tcpFrame(t, exUpGw, exUp, p.DstIP, p.SrcIP, p.DstPort, p.SrcPort, true, true, 0)
	tr.Steps, tr.Outputs = nil, nil
	if err := s.dp.Explain(s.ids["up"], reply, nil, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Verdict != trace.Delivered || len(tr.Outputs) != 1 || tr.Outputs[0].Port != "a1" {
		t.Fatalf("reply: %s", tr.String())
	}
	if !strings.Contains(tr.String(), "reply of the connection the request opened") {
		t.Errorf("reply trace does not name the planned connection:\n%s", tr.String())
	}
	var q header.Parsed
	q.Decode(tr.Outputs[0].Frame)
	if q.DstIP != ipA1 || q.DstPort != 40000 || q.SrcIP != ipFar {
		t.Errorf("reply leaves as %v:%d → %v:%d, want 203.0.113.9:443 → 10.1.0.2:40000", q.SrcIP, q.SrcPort, q.DstIP, q.DstPort)
	}
}
