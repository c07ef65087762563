package router_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// The test topology: networks alpha (VID 10) and beta (VID 20), the
// internal network gamma (VID 30), the host leg on port 100 and the uplink
// on port 200.
var (
	gwA  = netip.MustParseAddr("172.18.0.1")
	a1IP = netip.MustParseAddr("172.18.0.2")
	a2IP = netip.MustParseAddr("172.18.0.3")
	gwB  = netip.MustParseAddr("172.19.0.1")
	b1IP = netip.MustParseAddr("172.19.0.2")
	gwC  = netip.MustParseAddr("172.20.0.1")
	c1IP = netip.MustParseAddr("172.20.0.2")

	legIP  = netip.MustParseAddr("172.31.255.1") // the router's address on the host leg
	hostIP = netip.MustParseAddr("172.31.255.2") // host.vswitchd.internal

	upIP     = netip.MustParseAddr("198.51.100.7") // the switch's external address
	upGwIP   = netip.MustParseAddr("198.51.100.1") // the uplink's next hop
	remoteIP = netip.MustParseAddr("203.0.113.9")  // a server outside
	clientIP = netip.MustParseAddr("192.0.2.77")   // an outside client of published ports
	hopIP    = netip.MustParseAddr("192.0.2.254")  // a router on the path outside
)

var (
	gwAMAC   = header.MAC{0x02, 0, 0, 0, 0x0a, 0x01}
	a1MAC    = header.MAC{0x02, 0, 0, 0, 0x0a, 0x02}
	a2MAC    = header.MAC{0x02, 0, 0, 0, 0x0a, 0x03}
	gwBMAC   = header.MAC{0x02, 0, 0, 0, 0x0b, 0x01}
	b1MAC    = header.MAC{0x02, 0, 0, 0, 0x0b, 0x02}
	gwCMAC   = header.MAC{0x02, 0, 0, 0, 0x0c, 0x01}
	c1MAC    = header.MAC{0x02, 0, 0, 0, 0x0c, 0x02}
	legMAC   = header.MAC{0x02, 0, 0, 0, 0xfe, 0x01}
	hostMAC  = header.MAC{0x02, 0, 0, 0, 0xfe, 0x02}
	upMAC    = header.MAC{0x02, 0, 0, 0, 0xff, 0x01}
	upGwMAC  = header.MAC{0x02, 0, 0, 0, 0xff, 0xfe}
	otherMAC = header.MAC{0x02, 0, 0, 0, 0xee, 0xee}
)

const (
	vidA, vidB, vidC = 10, 20, 30
	hostPort         = 100
	upPort           = 200
	inPort           = 7 // the bridged port frames arrive on
	dnsTCPPort       = 5353
	t0               = int64(1000 * time.Second)
)

// Targets frames go to.
var (
	toA    = router.Target{VID: vidA}
	toB    = router.Target{VID: vidB}
	toC    = router.Target{VID: vidC}
	toHost = router.Target{Routed: true, Port: hostPort}
	toUp   = router.Target{Routed: true, Port: upPort}
)

// testConfig is the router configuration of the test topology. a2 has its
// own DNS scope; TCP 8080-8089 and UDP 5300 on the switch's addresses are
// published to a2:80-89 and b1:53.
func testConfig() router.Config {
	return router.Config{
		Networks: []router.Network{
			{ID: 1, Name: "alpha", VID: vidA, Subnet: netip.MustParsePrefix("172.18.0.0/24"), Gateway: gwA, MAC: gwAMAC,
				Endpoints: []router.Neighbor{{IP: a1IP, MAC: a1MAC}, {IP: a2IP, MAC: a2MAC, Scope: "@a2"}}},
			{ID: 2, Name: "beta", VID: vidB, Subnet: netip.MustParsePrefix("172.19.0.0/24"), Gateway: gwB, MAC: gwBMAC,
				Endpoints: []router.Neighbor{{IP: b1IP, MAC: b1MAC}}},
			{ID: 3, Name: "gamma", VID: vidC, Subnet: netip.MustParsePrefix("172.20.0.0/24"), Gateway: gwC, MAC: gwCMAC,
				Internal: true, Endpoints: []router.Neighbor{{IP: c1IP, MAC: c1MAC}}},
		},
		Host:   &router.HostLeg{Port: hostPort, MAC: legMAC, Addr: legIP, HostAddr: hostIP, HostMAC: hostMAC, DNSPort: dnsTCPPort},
		Uplink: &router.Uplink{Port: upPort, MAC: upMAC, Addr: netip.MustParsePrefix("198.51.100.7/24"), Gateway: upGwIP},
		Published: []router.Published{
			{Proto: header.ProtoTCP, HostPort: 8080, HostPortEnd: 8089, Addr: a2IP, ContPort: 80, Network: 1, Endpoint: "a2"},
			{Proto: header.ProtoUDP, HostPort: 5300, HostPortEnd: 5300, Addr: b1IP, ContPort: 53, Network: 2, Endpoint: "b1"},
		},
	}
}

// fakeSink records the frames Input builds. Its buffers are fresh, so a
// frame sent stays valid.
type fakeSink struct {
	bufs [][]byte
	sent []sentFrame
	full bool // NewFrame fails
}

type sentFrame struct {
	frame []byte
	to    router.Target
}

var _ router.Sink = (*fakeSink)(nil)

// NewFrame implements router.Sink.
func (s *fakeSink) NewFrame() (int, []byte, bool) {
	if s.full {
		return 0, nil, false
	}
	s.bufs = append(s.bufs, make([]byte, port.MaxFrameSize))
	return len(s.bufs) - 1, s.bufs[len(s.bufs)-1], true
}

// Send implements router.Sink.
func (s *fakeSink) Send(h, n int, t router.Target) {
	s.sent = append(s.sent, sentFrame{frame: s.bufs[h][:n], to: t})
}

// take returns the frames sent so far and forgets them.
func (s *fakeSink) take() []sentFrame {
	out := s.sent
	s.sent, s.bufs = nil, nil
	return out
}

// fakeInjector records injected frames; it is safe for concurrent use.
type fakeInjector struct {
	mu     sync.Mutex // guards frames
	frames []sentFrame
	ch     chan sentFrame // each frame, if there is room
}

func newInjector() *fakeInjector { return &fakeInjector{ch: make(chan sentFrame, 64)} }

func (in *fakeInjector) inject(frame []byte, t router.Target) bool {
	f := sentFrame{frame: bytes.Clone(frame), to: t}
	in.mu.Lock()
	in.frames = append(in.frames, f)
	in.mu.Unlock()
	select {
	case in.ch <- f:
	default:
	}
	return true
}

// take returns the frames injected so far and forgets them.
func (in *fakeInjector) take() []sentFrame {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := in.frames
	in.frames = nil
	for len(in.ch) > 0 {
		<-in.ch
	}
	return out
}

// harness is a router with the test topology, a sink and an injector.
type harness struct {
	t    testing.TB
	r    *router.Router
	dns  *dns.Server
	sink *fakeSink
	inj  *fakeInjector
	now  int64
}

// newHarness returns a router configured with testConfig changed by edit
// (if not nil), whose DNS server knows alpha's "web" and a2's "special".
func newHarness(t testing.TB, edit func(*router.Config)) *harness {
	t.Helper()
	ds := dns.New(dns.Options{})
	t.Cleanup(func() { ds.Close() })
	return newHarnessDNS(t, ds, edit)
}

func newHarnessDNS(t testing.TB, ds *dns.Server, edit func(*router.Config)) *harness {
	t.Helper()
	ds.SetNetwork("alpha", []dns.Record{{Name: "web", Addr: a2IP}, {Name: "a1", Addr: a1IP}})
	ds.SetNetwork("@a2", []dns.Record{{Name: "special", Addr: netip.MustParseAddr("10.9.9.9")}})
	ds.SetHost(hostIP)
	h := &harness{
		t:    t,
		r:    router.New(router.Options{NAT: nat.New(nat.Options{Seed: 1, MaxEntries: 4096}), DNS: ds}),
		dns:  ds,
		sink: &fakeSink{},
		inj:  newInjector(),
		now:  t0,
	}
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	h.r.Configure(cfg)
	h.r.SetDeferred(h.inj.inject)
	return h
}

// learnGateway puts the uplink's next hop into the neighbour cache.
func (h *harness) learnGateway() { h.r.Neighbors().Update(upGwIP, upGwMAC, h.now) }

// input decodes frame as the datapath does and hands it to the router as
// arriving in network vid on a bridged port.
func (h *harness) input(vid vlan.ID, frame []byte) (router.Verdict, router.Target) {
	h.t.Helper()
	return h.do(frame, router.Packet{VID: vid, InPort: inPort})
}

// routed hands frame to the router as arriving on the routed port p.
func (h *harness) routed(p port.ID, frame []byte) (router.Verdict, router.Target) {
	h.t.Helper()
	return h.do(frame, router.Packet{InPort: p, InRouted: true})
}

func (h *harness) do(frame []byte, pkt router.Packet) (router.Verdict, router.Target) {
	h.t.Helper()
	var p header.Parsed
	if err := p.Decode(frame); errors.Is(err, header.ErrTruncated) {
		h.t.Fatalf("Decode(%x) = %v", frame, err)
	}
	pkt.Frame, pkt.Parsed, pkt.Counts = frame, &p, countsFor(h.r)
	n := len(frame)
	v, tg := h.r.Input(&pkt, h.sink, h.now)
	if len(pkt.Frame) != n {
		h.t.Fatalf("Input changed the frame length from %d to %d", n, len(pkt.Frame))
	}
	return v, tg
}

// countsOf holds, per test router, the counts its frames are counted in:
// what a datapath worker owns. Tests that run workers concurrently give
// each its own.
var countsOf sync.Map // *router.Router → *router.Counts

func countsFor(r *router.Router) *router.Counts {
	if c, ok := countsOf.Load(r); ok {
		return c.(*router.Counts)
	}
	c, _ := countsOf.LoadOrStore(r, new(router.Counts))
	return c.(*router.Counts)
}

// stats returns the router's non-zero counters: its frames' counts (as the
// datapath sums them per port) and what it did outside workers.
func stats(r *router.Router) map[string]uint64 {
	c := *countsFor(r)
	d := r.Deferred()
	c.Add(&d)
	m := map[string]uint64{}
	for k, v := range c.Map() {
		if v != 0 {
			m[k] = v
		}
	}
	return m
}

// statDelta returns the counters that changed between before and after.
func statDelta(before, after map[string]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			m[k] = d
		}
	}
	return m
}

// checkStats fails unless the counters changed since before by exactly want.
func checkStats(t testing.TB, r *router.Router, before, want map[string]uint64) {
	t.Helper()
	if want == nil {
		want = map[string]uint64{}
	}
	if diff := cmp.Diff(want, statDelta(before, stats(r))); diff != "" {
		t.Errorf("stats changed (-want +got):\n%s", diff)
	}
}

// Frame building.

// frame4 builds f from srcMAC to dstMAC as all the tests' IPv4 frames are
// built: IP ID 0x4242, and a TCP segment's sequence numbers and window
// those of a connection under way.
func frame4(t testing.TB, srcMAC, dstMAC header.MAC, f testframe.IPv4) []byte {
	t.Helper()
	f.Eth = testframe.Eth{Src: srcMAC, Dst: dstMAC}
	f.ID = 0x4242
	f.TCP.Seq, f.TCP.Ack, f.TCP.Window = 0x01020304, 0x01020305, 64240
	return f.Frame(t)
}

func ap(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

// tcp4, udp4 and echo4 are the common frames.
func tcp4(t testing.TB, srcMAC, dstMAC header.MAC, src, dst netip.AddrPort, flags uint8) []byte {
	t.Helper()
	return frame4(t, srcMAC, dstMAC, testframe.IPv4{Src: src, Dst: dst, Proto: header.ProtoTCP, TCP: testframe.TCP{Flags: flags}})
}

func udp4(t testing.TB, srcMAC, dstMAC header.MAC, src, dst netip.AddrPort, payload string) []byte {
	t.Helper()
	return frame4(t, srcMAC, dstMAC, testframe.IPv4{Src: src, Dst: dst, Proto: header.ProtoUDP, Payload: []byte(payload)})
}

func echo4(t testing.TB, srcMAC, dstMAC header.MAC, src, dst netip.Addr, id uint16) []byte {
	t.Helper()
	return frame4(t, srcMAC, dstMAC, testframe.IPv4{Src: ap(src, 0), Dst: ap(dst, 0), Proto: header.ProtoICMP,
		ICMP: testframe.ICMP{Type: header.ICMPv4Echo, ID: id, Seq: 7}, Payload: []byte("0123456789abcdef")})
}

// Frame checking, with gopacket and an independent RFC 1071 sum.

func onesSum(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// sumValid reports whether b, with the pseudo-header sum init, holds a
// valid Internet checksum.
func sumValid(b []byte, init uint32) bool { return fold(onesSum(b, init)) == 0xffff }

func pseudo(src, dst net.IP, proto uint8, n int) uint32 {
	return onesSum(src.To4(), onesSum(dst.To4(), uint32(proto)+uint32(n)))
}

// view is what tests compare about an IPv4 frame.
type view struct {
	EthSrc, EthDst string
	Src, Dst       string // address, or address:port for TCP and UDP
	TTL            uint8
	Proto          string
	ICMP           string // "type/code" and, for echo, "id/seq"
	TCPFlags       string
	Payload        string // of TCP, UDP or ICMP echo
}

// ipView decodes an Ethernet/IPv4 frame with gopacket, checks its IPv4 and
// L4 checksums, and returns its view and its layers.
func ipView(t testing.TB, frame []byte) (view, *layers.IPv4, []byte) {
	t.Helper()
	var (
		eth     layers.Ethernet
		ip      layers.IPv4
		tcp     layers.TCP
		udp     layers.UDP
		icmp    layers.ICMPv4
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip, &tcp, &udp, &icmp, &payload)
	parser.IgnoreUnsupported = true
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(frame, &decoded); err != nil {
		t.Fatalf("gopacket decode %x: %v", frame, err)
	}
	if len(decoded) < 2 || decoded[1] != layers.LayerTypeIPv4 {
		t.Fatalf("frame %x: layers %v, want Ethernet/IPv4", frame, decoded)
	}
	if !sumValid(ip.Contents, 0) {
		t.Errorf("frame %x: bad IPv4 header checksum %#04x", frame, ip.Checksum)
	}
	v := view{EthSrc: eth.SrcMAC.String(), EthDst: eth.DstMAC.String(), TTL: ip.TTL, Proto: ip.Protocol.String(),
		Src: ip.SrcIP.String(), Dst: ip.DstIP.String()}
	l4 := ip.Payload
	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		return v, &ip, l4
	}
	switch ip.Protocol {
	case layers.IPProtocolTCP:
		if !sumValid(l4, pseudo(ip.SrcIP, ip.DstIP, header.ProtoTCP, len(l4))) {
			t.Errorf("frame %x: bad TCP checksum %#04x", frame, tcp.Checksum)
		}
		v.Src = netip.AddrPortFrom(addr(ip.SrcIP), uint16(tcp.SrcPort)).String()
		v.Dst = netip.AddrPortFrom(addr(ip.DstIP), uint16(tcp.DstPort)).String()
		v.TCPFlags = tcpFlags(&tcp)
		v.Payload = string(tcp.Payload)
	case layers.IPProtocolUDP:
		if udp.Checksum == 0 || !sumValid(l4, pseudo(ip.SrcIP, ip.DstIP, header.ProtoUDP, len(l4))) {
			t.Errorf("frame %x: bad UDP checksum %#04x", frame, udp.Checksum)
		}
		if int(udp.Length) != len(l4) {
			t.Errorf("frame %x: UDP length %d, want %d", frame, udp.Length, len(l4))
		}
		v.Src = netip.AddrPortFrom(addr(ip.SrcIP), uint16(udp.SrcPort)).String()
		v.Dst = netip.AddrPortFrom(addr(ip.DstIP), uint16(udp.DstPort)).String()
		v.Payload = string(udp.Payload)
	case layers.IPProtocolICMPv4:
		if !sumValid(l4, 0) {
			t.Errorf("frame %x: bad ICMP checksum %#04x", frame, icmp.Checksum)
		}
		v.ICMP = icmp.TypeCode.String()
		if t := icmp.TypeCode.Type(); t == header.ICMPv4Echo || t == header.ICMPv4EchoReply {
			v.ICMP = fmtEcho(icmp.TypeCode.Type(), icmp.Id, icmp.Seq)
			v.Payload = string(icmp.Payload)
		}
	}
	return v, &ip, l4
}

func fmtEcho(typ uint8, id, seq uint16) string {
	return fmt.Sprintf("%v id=%d seq=%d", layers.CreateICMPv4TypeCode(typ, 0), id, seq)
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}

func tcpFlags(t *layers.TCP) string {
	s := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{t.SYN, "S"}, {t.ACK, "A"}, {t.FIN, "F"}, {t.RST, "R"}, {t.PSH, "P"}} {
		if f.on {
			s += f.name
		}
	}
	return s
}

// arpView is what tests compare about an ARP frame.
type arpView struct {
	EthDst, EthSrc string
	Op             uint16
	SHA, SPA       string
	THA, TPA       string
}

// decodeARP decodes an Ethernet ARP frame with gopacket and checks that it
// is Ethernet/IPv4.
func decodeARP(t testing.TB, frame []byte) arpView {
	t.Helper()
	var (
		eth layers.Ethernet
		a   layers.ARP
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &a)
	parser.IgnoreUnsupported = true // the padding
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(frame, &decoded); err != nil {
		t.Fatalf("gopacket decode %x: %v", frame, err)
	}
	if len(decoded) < 2 || eth.EthernetType != layers.EthernetTypeARP || a.AddrType != layers.LinkTypeEthernet ||
		a.Protocol != layers.EthernetTypeIPv4 || a.HwAddressSize != 6 || a.ProtAddressSize != 4 {
		t.Fatalf("frame %x: not an Ethernet/IPv4 ARP packet", frame)
	}
	return arpView{
		EthDst: eth.DstMAC.String(), EthSrc: eth.SrcMAC.String(), Op: a.Operation,
		SHA: net.HardwareAddr(a.SourceHwAddress).String(), SPA: net.IP(a.SourceProtAddress).String(),
		THA: net.HardwareAddr(a.DstHwAddress).String(), TPA: net.IP(a.DstProtAddress).String(),
	}
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// vs names a verdict for messages.
func vs(v router.Verdict) string {
	switch v {
	case router.Pass:
		return "Pass"
	case router.Consumed:
		return "Consumed"
	case router.Forward:
		return "Forward"
	case router.Drop:
		return "Drop"
	}
	return fmt.Sprintf("Verdict(%d)", v)
}
