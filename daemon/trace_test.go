package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/host/hosttest"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
	"github.com/vswitchd/vswitchd/trace"
)

// Trace on the fake host: the seed topology's cases, each verdict in the
// user's words and with the drop counter's name; the packets built as the
// sender would build them, and the replies as the receiver would; and
// nothing in the switch changed by any of it.

// nullPub is a Publisher that opens nothing.
type nullPub struct{}

func (nullPub) Add(proxy.Rule) error    { return nil }
func (nullPub) Remove(proxy.Rule) error { return nil }
func (nullPub) Stats() proxy.Stats      { return proxy.Stats{} }
func (nullPub) Close() error            { return nil }

// Addresses of the seed topology on the fake host.
var (
	trUplink   = netip.MustParsePrefix("203.0.113.2/24")
	trUplinkGw = netip.MustParseAddr("203.0.113.1")
	trGwMAC    = header.MAC{0x02, 0, 0, 0, 0x71, 1} // the uplink gateway's
	trFar      = netip.MustParseAddr("198.51.100.2")
)

// seedDaemon starts a daemon on a fake host with the README's seed
// topology: test-network (apple-server, orange-server, echo-server
// publishing 45678 and 45679), applesonly (red-apple, apple-server's eth1),
// an --internal network with lonely, and an uplink whose gateway's MAC
// the switch knows.
func seedDaemon(t *testing.T) *Daemon {
	t.Helper()
	h := hosttest.New()
	h.AddInterface("up0")
	d, err := New(Config{
		StateDir: t.TempDir(), NetnsPrefix: "t-", Host: h, Publisher: nullPub{},
		Command:      func(s supervisor.Spec) *exec.Cmd { return exec.Command(s.Argv[0], s.Argv[1:]...) },
		DNSUpstreams: []netip.AddrPort{}, NoDefaultNetwork: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	network := func(name, subnet string, internal bool) {
		_, err := d.CreateNetwork(state.NetworkSpec{Name: name, Subnet: netip.MustParsePrefix(subnet), Internal: internal})
		must(err)
	}
	run := func(name, network string, publish ...string) {
		spec := RunSpec{EndpointSpec: state.EndpointSpec{Name: name, Network: network}}
		for _, p := range publish {
			ps, err := state.ParsePublish(p)
			must(err)
			spec.Publish = append(spec.Publish, ps)
		}
		_, _, err := d.Run(context.Background(), spec, nil)
		must(err)
	}
	network("test-network", "10.1.0.0/24", false)
	run("apple-server", "test-network")  // 10.1.0.2
	run("orange-server", "test-network") // 10.1.0.3
	network("applesonly", "10.2.0.0/24", false)
	must(d.Connect("applesonly", state.ConnectSpec{Endpoint: "apple-server"})) // eth1: 10.2.0.2
	run("red-apple", "applesonly")                                             // 10.2.0.3
	run("echo-server", "test-network", "45678:45678", "45679:45679")           // 10.1.0.4
	network("intnet", "10.3.0.0/24", true)
	run("lonely", "intnet") // 10.3.0.2
	_, err = d.SetUplink(state.UplinkSpec{Interface: "up0", Address: trUplink, Gateway: trUplinkGw})
	must(err)
	d.rt.Neighbors().Update(trUplinkGw, trGwMAC, d.dp.Now())
	return d
}

// switchState is everything a trace must leave alone.
type switchState struct {
	FDB   []string
	Conns int
	Ports map[string]string
	Rt    router.Counts
	NAT   nat.Stats
	Drops string
}

func captureState(d *Daemon) switchState {
	s := switchState{Ports: map[string]string{}, Conns: d.rt.NAT().Len(), Rt: d.dp.RouterCounts(), NAT: d.rt.NAT().Stats()}
	for _, e := range d.FDB() {
		s.FDB = append(s.FDB, e.MAC.String()+"@"+e.Port)
	}
	for _, p := range d.Ports() {
		c := p.Counters
		s.Ports[p.Name] = fmt.Sprint(c.RxFrames, c.Drops)
	}
	return s
}

// stubListens makes hostListens answer open for the test.
func stubListens(t *testing.T, open bool) {
	old := hostListens
	hostListens = func(uint8, netip.Addr, uint16) (bool, bool) { return open, true }
	t.Cleanup(func() { hostListens = old })
}

func TestTraceSeed(t *testing.T) {
	d := seedDaemon(t)
	stubListens(t, false)
	tests := []struct {
		name      string
		spec      TraceSpec
		delivered bool
		reason    string
		verdict   string   // the whole verdict, or its start when it ends in "…"
		texts     []string // in order, in the notes and the runs' steps
		reply     bool     // a reply is traced
	}{
		{name: "same network", spec: TraceSpec{From: "apple-server", To: "orange-server"}, delivered: true,
			verdict: "delivered to orange-server (eth0) on test-network", reply: true,
			texts: []string{"apple-server's DNS (the switch, at its gateway) answers orange-server: 10.1.0.3", "ARP gives orange-server's MAC",
				"port apple-server/eth0", "is the endpoint's own", "not in the MAC table: flood",
				"port orange-server/eth0", "is on apple-server/eth0"}},
		{name: "isolated networks", spec: TraceSpec{From: "red-apple", To: "orange-server"}, reason: "isolation",
			verdict: "dropped — red-apple (applesonly) and orange-server (test-network) share no network; networks are isolated",
			texts:   []string{"red-apple's DNS does not answer orange-server", "to gateway 10.2.0.1", "networks are isolated"}},
		{name: "a second network", spec: TraceSpec{From: "red-apple", To: "apple-server", Proto: header.ProtoUDP, Port: 53}, delivered: true,
			verdict: "delivered to apple-server (eth1) on applesonly", reply: true},
		{name: "internal network to the outside", spec: TraceSpec{From: "lonely", To: trFar.String()}, reason: "internal",
			verdict: "dropped — intnet is --internal: its endpoints never reach the outside (198.51.100.2)",
			texts:   []string{"off intnet's subnet", "never routed out"}},
		{name: "outside to a published port", spec: TraceSpec{From: "outside:" + trFar.String(), To: "203.0.113.2:45678"}, delivered: true,
			verdict: "delivered to echo-server (eth0) on test-network (DNAT to 10.1.0.4:45678)", reply: true,
			texts: []string{"from next hop 203.0.113.1 (02:00:00:00:71:01)", "port up0 (system, routed)",
				"published port 203.0.113.2:45678/tcp of echo-server: DNAT to 10.1.0.4:45678",
				"reply of the connection the request opened", "out of the uplink via next hop 203.0.113.1"}},
		{name: "hairpin through host.vswitchd.internal", spec: TraceSpec{From: "apple-server", To: "host.vswitchd.internal:45678"}, delivered: true,
			verdict: "delivered to echo-server (eth0) on test-network (DNAT to 10.1.0.4:45678, source translated to 10.1.0.1)", reply: true,
			texts: []string{"answers host.vswitchd.internal: 169.254.127.1", "hairpin: SNAT to gateway 10.1.0.1", "reply of the connection the request opened"}},
		{name: "masquerade to the outside", spec: TraceSpec{From: "apple-server", To: trFar.String() + ":443"}, delivered: true,
			verdict: "delivered to the outside through the uplink up0 (source translated to 203.0.113.2)", reply: true,
			texts: []string{"masquerade network test-network to the uplink address 203.0.113.2"}},
		{name: "spoofed source", spec: TraceSpec{From: "red-apple", To: "apple-server", Src: netip.MustParseAddr("10.2.0.99")}, reason: "spoofed",
			verdict: "dropped — source 10.2.0.99 (02:42:0a:02:00:03) is not red-apple's own: anti-spoofing drops it at port red-apple/eth0",
			texts:   []string{"source forged: 10.2.0.99 instead of red-apple's 10.2.0.3", "not the endpoint's own"}},
		{name: "unknown name", spec: TraceSpec{From: "red-apple", To: "nosuch"},
			verdict: "dropped — red-apple cannot resolve nosuch: not a name vswitchd serves (the switch would ask its upstream resolvers; trace does not)"},
		{name: "unknown name in a network's zone", spec: TraceSpec{From: "red-apple", To: "nosuch.applesonly"},
			verdict: "dropped — red-apple cannot resolve nosuch.applesonly: no such name (NXDOMAIN from the switch's DNS)"},
		{name: "no published port on the host", spec: TraceSpec{From: "red-apple", To: "host.vswitchd.internal:8081"},
			verdict: "dropped — no published port 8081 on host.vswitchd.internal, and nothing on the host listens on tcp 8081: the host answers with a reset",
			texts:   []string{"no published port 8081/tcp, so to the host's own stack"}},
		{name: "no published port on the uplink address", spec: TraceSpec{From: "apple-server", To: "203.0.113.2:8081"}, reason: "not-for-us",
			verdict: "dropped — no published port 8081/tcp on 203.0.113.2"},
		{name: "the gateway answers", spec: TraceSpec{From: "apple-server", To: "10.1.0.1"}, delivered: true,
			verdict: "answered by the switch: 10.1.0.1 (the gateway of test-network) replies to apple-server"},
		{name: "the gateway's DNS", spec: TraceSpec{From: "apple-server", To: "gateway.docker.internal:53", Proto: header.ProtoUDP}, delivered: true,
			verdict: "answered by the switch's DNS server at 10.1.0.1"},
		{name: "host to an endpoint", spec: TraceSpec{From: "host", To: "orange-server"}, delivered: true,
			verdict: "delivered to orange-server (eth0) on test-network", reply: true,
			texts: []string{"orange-server is 10.1.0.3", "from the host (169.254.127.1) on the host leg"}},
		{name: "a named NIC", spec: TraceSpec{From: "apple-server:eth1", To: "red-apple", Proto: header.ProtoTCP, Port: 22}, delivered: true,
			verdict: "delivered to red-apple (eth0) on applesonly", reply: true},
		{name: "nobody has the address", spec: TraceSpec{From: "apple-server", To: "10.1.0.99"},
			verdict: "dropped — no endpoint has 10.1.0.99 on test-network: apple-server's ARP request for it is flooded to …",
			texts:   []string{"no endpoint has it"}},
		{name: "an address on a network the sender is not on", spec: TraceSpec{From: "red-apple", To: "apple-server:eth0"}, reason: "isolation",
			verdict: "dropped — 10.1.0.2 is apple-server's address on test-network, and red-apple is not on test-network; it reaches apple-server on applesonly, at 10.2.0.2; networks are isolated",
			texts:   []string{"apple-server:eth0 is 10.1.0.2, apple-server's eth0"}},
		{name: "an interface without an endpoint", spec: TraceSpec{From: "red-apple", To: "apple-server:eth7"},
			verdict: "dropped — red-apple cannot resolve apple-server:eth7: no endpoint with that interface and an address on it"},
		{name: "the outside to an endpoint's address", spec: TraceSpec{From: "outside:" + trFar.String(), To: "orange-server"}, reason: "not-for-us",
			verdict: "dropped — the switch routes nothing from outside to orange-server: only the uplink address 203.0.113.2 (its published ports) is reachable from there",
			texts:   []string{"orange-server is 10.1.0.3 (orange-server's address on test-network); the outside does not use the switch's DNS"}},
		{name: "the outside to a closed port", spec: TraceSpec{From: "outside:" + trFar.String(), To: "203.0.113.2:8081", Proto: header.ProtoUDP}, reason: "not-for-us",
			verdict: "dropped — no published port 8081/udp on 203.0.113.2"},
	}
	before := captureState(d)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Trace(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			text := dumpResult(res)
			t.Log("\n" + text)
			if res.Delivered != tt.delivered || res.Reason != tt.reason {
				t.Errorf("delivered %v reason %q, want %v %q\n%s", res.Delivered, res.Reason, tt.delivered, tt.reason, text)
			}
			if want, ok := strings.CutSuffix(tt.verdict, "…"); ok && !strings.HasPrefix(res.Verdict, want) || !ok && res.Verdict != tt.verdict {
				t.Errorf("verdict\n%q, want\n%q\n%s", res.Verdict, tt.verdict, text)
			}
			if (res.Reply != nil) != tt.reply {
				t.Errorf("reply traced: %v, want %v\n%s", res.Reply != nil, tt.reply, text)
			}
			rest := text
			for _, want := range tt.texts {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("trace lacks %q (in order):\n%s", want, text)
					break
				}
				rest = rest[i+len(want):]
			}
			if diff := cmp.Diff(before, captureState(d)); diff != "" {
				t.Errorf("trace changed the switch (-before +after):\n%s", diff)
			}
		})
	}
}

// dumpResult writes a result's notes, steps and outputs one a line.
func dumpResult(r TraceResult) string {
	var b strings.Builder
	b.WriteString(r.From + " → " + r.To + "\n")
	for _, n := range r.Notes {
		b.WriteString("note " + n + "\n")
	}
	for _, run := range []*TraceRun{r.Forward, r.Reply} {
		if run != nil {
			b.WriteString("run " + run.Port + "\n" + run.Trace.String())
		}
	}
	return b.String() + "verdict: " + r.Verdict + "\n"
}

// TestTraceHostService: a port the host itself serves is delivered to it,
// and its answer traced back.
func TestTraceHostService(t *testing.T) {
	d := seedDaemon(t)
	stubListens(t, true)
	res, err := d.Trace(TraceSpec{From: "red-apple", To: "host.vswitchd.internal:8081"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Delivered || res.Verdict != "delivered to the host (host.vswitchd.internal, 169.254.127.1)" || res.Reply == nil {
		t.Errorf("verdict %q (delivered %v)\n%s", res.Verdict, res.Delivered, dumpResult(res))
	}
}

// TestTracePackets: the packet is the one the sender would send (its
// addresses, MACs, ports, a SYN), and the reply the one its receiver
// would send to it as it arrived (a SYN-ACK to the translated addresses).
func TestTracePackets(t *testing.T) {
	d := seedDaemon(t)
	res, err := d.Trace(TraceSpec{From: "apple-server", To: "host.vswitchd.internal:45678", SrcPort: 5000})
	if err != nil {
		t.Fatal(err)
	}
	var fwd, out, rep header.Parsed
	if err := fwd.Decode(res.Forward.Frame); err != nil {
		t.Fatal(err)
	}
	gw := state.GatewayMAC(d.st.Network("test-network").ID)
	want := header.Parsed{Src: state.EndpointMAC(netip.MustParseAddr("10.1.0.2")), Dst: gw,
		SrcIP: netip.MustParseAddr("10.1.0.2"), DstIP: netip.MustParseAddr("169.254.127.1"), TTL: 64,
		Proto: header.ProtoTCP, SrcPort: 5000, DstPort: 45678, TCPFlags: header.TCPFlagSYN}
	got := header.Parsed{Src: fwd.Src, Dst: fwd.Dst, SrcIP: fwd.SrcIP, DstIP: fwd.DstIP, TTL: fwd.TTL,
		Proto: fwd.Proto, SrcPort: fwd.SrcPort, DstPort: fwd.DstPort, TCPFlags: fwd.TCPFlags}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("forward packet (-want +got):\n%s", diff)
	}
	if ip := header.IPv4(res.Forward.Frame[fwd.L3Off:]); !ip.IsChecksumValid() {
		t.Error("forward packet: bad IPv4 checksum")
	}
	if s := header.Checksum(res.Forward.Frame[fwd.L4Off:], header.IPv4(res.Forward.Frame[fwd.L3Off:]).PseudoHeaderChecksum(uint16(len(res.Forward.Frame)-fwd.L4Off))); s != 0xffff {
		t.Errorf("forward packet: bad TCP checksum (sum %#x)", s)
	}
	out.Decode(res.Forward.Trace.Outputs[0].Frame)
	if err := rep.Decode(res.Reply.Frame); err != nil {
		t.Fatal(err)
	}
	if rep.Src != out.Dst || rep.Dst != out.Src || rep.SrcIP != out.DstIP || rep.DstIP != out.SrcIP ||
		rep.SrcPort != out.DstPort || rep.DstPort != out.SrcPort || rep.TCPFlags != header.TCPFlagSYN|header.TCPFlagACK {
		t.Errorf("reply %+v is not the SYN-ACK to %+v", rep, out)
	}
	if res.Reply.Port != "echo-server/eth0" {
		t.Errorf("reply enters by %s, want echo-server/eth0", res.Reply.Port)
	}
	// The reply comes back to the sender untranslated.
	var back header.Parsed
	back.Decode(res.Reply.Trace.Outputs[0].Frame)
	if back.DstIP != fwd.SrcIP || back.DstPort != 5000 || back.SrcIP != fwd.DstIP || back.SrcPort != 45678 {
		t.Errorf("the reply reaches apple-server as %v:%d → %v:%d", back.SrcIP, back.SrcPort, back.DstIP, back.DstPort)
	}

	// An echo request: ping's, with the identifier.
	res, err = d.Trace(TraceSpec{From: "apple-server", To: "orange-server", SrcPort: 7})
	if err != nil {
		t.Fatal(err)
	}
	fwd.Decode(res.Forward.Frame)
	if fwd.Proto != header.ProtoICMP || fwd.ICMPType != header.ICMPv4Echo || fwd.SrcPort != 7 || len(res.Forward.Frame) != 14+20+8+56 {
		t.Errorf("echo request %+v, %d bytes", fwd, len(res.Forward.Frame))
	}
	if header.Checksum(res.Forward.Frame[fwd.L4Off:], 0) != 0xffff {
		t.Error("echo request: bad ICMP checksum")
	}
	rep.Decode(res.Reply.Frame)
	if rep.ICMPType != header.ICMPv4EchoReply || rep.SrcPort != 7 {
		t.Errorf("echo reply %+v", rep)
	}
}

// TestReplyFrameTagged: an answer to a frame that left tagged is tagged
// the same way, with correct checksums.
func TestReplyFrameTagged(t *testing.T) {
	in := testframe.IPv4{Eth: testframe.Eth{Src: [6]byte{2, 0, 0, 0, 0, 1}, Dst: [6]byte{2, 0, 0, 0, 0, 2},
		Tags: []testframe.Tag{testframe.STag(1, false, 100), testframe.CTag(0, false, 10)}},
		Proto: header.ProtoUDP, Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("10.0.0.2:53"), Payload: []byte("q")}.Frame(t)
	out, err := replyFrame(in, header.ProtoUDP)
	if err != nil {
		t.Fatal(err)
	}
	var p header.Parsed
	if err := p.Decode(out); err != nil {
		t.Fatal(err)
	}
	if p.Tags != 2 || p.TPID != [2]uint16{0x88a8, 0x8100} || p.TCI[0]&0xfff != 100 || p.TCI[1]&0xfff != 10 ||
		p.SrcIP.String() != "10.0.0.2" || p.DstPort != 5000 || p.SrcPort != 53 {
		t.Errorf("reply %+v", p)
	}
	ip := header.IPv4(out[p.L3Off:])
	if !ip.IsChecksumValid() || header.Checksum(out[p.L4Off:p.L3End], ip.PseudoHeaderChecksum(uint16(p.L3End-p.L4Off))) != 0xffff {
		t.Error("bad checksums")
	}
	if _, err := replyFrame(in, header.ProtoTCP); err == nil {
		t.Error("a TCP answer to a UDP frame was built")
	}
}

// TestTraceBadInput: an unknown sender or interface, a bad protocol or
// port, and packets that never cross the switch are one-line errors of
// the right kind, and change nothing.
func TestTraceBadInput(t *testing.T) {
	d := seedDaemon(t)
	before := captureState(d)
	tests := []struct {
		spec TraceSpec
		kind error
		msg  string
	}{
		{TraceSpec{From: "nosuch", To: "orange-server"}, state.ErrNotFound, `trace from nosuch: no endpoint "nosuch"`},
		{TraceSpec{From: "nosuch", To: "alsonot"}, state.ErrNotFound, `trace from nosuch: no endpoint "nosuch"`},
		{TraceSpec{From: "apple-server:eth9", To: "orange-server"}, state.ErrNotFound, "endpoint apple-server has no interface eth9"},
		{TraceSpec{From: "apple-server", To: "orange-server", Proto: 47}, state.ErrInvalid, "protocol 47"},
		{TraceSpec{From: "apple-server", To: "orange-server", Proto: header.ProtoICMP, Port: 80}, state.ErrInvalid, "icmp has no ports"},
		{TraceSpec{From: "apple-server", To: "orange-server", Proto: header.ProtoUDP}, state.ErrInvalid, "udp needs a destination port"},
		{TraceSpec{From: "apple-server", To: "orange-server:99999"}, state.ErrInvalid, "out of range 1-65535"},
		{TraceSpec{From: "apple-server", To: "orange-server:80", Port: 81}, state.ErrInvalid, "--port 81 says otherwise"},
		{TraceSpec{From: "apple-server", To: "apple-server"}, state.ErrInvalid, "its own address"},
		{TraceSpec{From: "host", To: "8.8.8.8"}, state.ErrInvalid, "does not cross the switch"},
		{TraceSpec{From: "host", To: "host.vswitchd.internal:45678"}, state.ErrInvalid, "the host's own address"},
		{TraceSpec{From: "outside:nope", To: "203.0.113.2"}, state.ErrInvalid, "want outside:IPv4"},
		{TraceSpec{From: "apple-server", To: "2001:db8::1"}, state.ErrInvalid, "IPv4 only"},
		{TraceSpec{From: "apple-server", To: "a b"}, state.ErrInvalid, "not a domain name"},
		{TraceSpec{From: "", To: "x"}, state.ErrInvalid, "needs FROM and TO"},
	}
	for _, tt := range tests {
		_, err := d.Trace(tt.spec)
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Trace(%+v) = %v, want %v containing %q", tt.spec, err, tt.kind, tt.msg)
		}
	}
	if diff := cmp.Diff(before, captureState(d)); diff != "" {
		t.Errorf("bad requests changed the switch (-before +after):\n%s", diff)
	}
}

// TestLiveTraceDaemon: a live trace of an endpoint sees its real frames
// with the pipeline's decisions, stops at the count, and refuses unknown
// targets and bad filters before starting.
func TestLiveTraceDaemon(t *testing.T) {
	d := seedDaemon(t)
	ctx := context.Background()
	// The frame red-apple sends to ping orange-server (isolated).
	res, err := d.Trace(TraceSpec{From: "red-apple", To: "orange-server"})
	if err != nil {
		t.Fatal(err)
	}
	nic := d.host.(*hosttest.Host).Namespace(host.Named(d.st.Endpoint("red-apple").Netns).Path).NICs["eth0"]
	started := make(chan struct{})
	type outcome struct {
		st  LiveTraceStats
		err error
		got []LiveTraceRecord
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.st, o.err = d.LiveTrace(ctx, LiveTraceSpec{Targets: []string{"red-apple"}, Filter: "icmp", Count: 1}, func() { close(started) },
			func(r LiveTraceRecord) error {
				o.got = append(o.got, r)
				return nil
			})
		done <- o
	}()
	<-started
	arp := testframe.Gratuitous(nic.Config.MAC, netip.MustParseAddr("10.2.0.3")).Frame(t)
	nic.Port.Inject(arp) // not icmp: not traced
	nic.Port.Inject(res.Forward.Frame)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the live trace did not end within 5 s")
	}
	if o.err != nil || o.st.Traced != 1 || len(o.got) != 1 {
		t.Fatalf("live trace: %v, %+v, %d records", o.err, o.st, len(o.got))
	}
	if r := o.got[0]; r.Port != "red-apple/eth0" || r.Trace.Verdict != trace.Dropped || r.Trace.Reason != "isolation" ||
		!bytes.Equal(r.Frame, res.Forward.Frame) {
		t.Errorf("live trace of red-apple's ping: %s %x\n%s", r.Port, r.Frame, r.Trace.String())
	}
	// The real frame was dropped and counted, as traced (the counter may
	// move just after the trace record is handed out).
	drops := func() map[string]uint64 {
		for _, p := range d.Ports() {
			if p.Name == "red-apple/eth0" {
				return p.Counters.Drops
			}
		}
		return nil
	}
	for deadline := time.Now().Add(2 * time.Second); drops()["isolation"] != 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := drops(); got["isolation"] != 1 {
		t.Errorf("red-apple/eth0 drops %v, want isolation 1", got)
	}

	for _, spec := range []LiveTraceSpec{{Targets: []string{"nosuch"}}, {Filter: "tcp port"}, {Targets: []string{"red-apple:eth7"}}, {Count: -1}} {
		called := false
		_, err := d.LiveTrace(ctx, spec, func() { called = true }, func(LiveTraceRecord) error { return nil })
		if err == nil || called || strings.Contains(err.Error(), "\n") {
			t.Errorf("LiveTrace(%+v) = %v (started %v), want a one-line refusal", spec, err, called)
		}
	}
}
