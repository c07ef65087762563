package router_test

import (
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// fastPath is one frame of a steady-state path: what Input gets and what
// it must answer.
type fastPath struct {
	name   string
	vid    vlan.ID // bridged network, or
	port   port.ID // routed port
	frame  []byte
	wantTo router.Target
}

// establishedTCP returns a router with an established masqueraded TCP
// connection a1:40000 → remote:443, and data segments in both directions.
func establishedTCP(tb testing.TB) (*harness, []fastPath) {
	h := newHarness(tb, nil)
	h.learnGateway()
	cli, srv, pub := ap(a1IP, 40000), ap(remoteIP, 443), ap(upIP, 40000)
	data := make([]byte, 1400)
	for i, f := range []struct {
		vid   vlan.ID
		port  port.ID
		frame []byte
	}{
		{vid: vidA, frame: tcp4(tb, a1MAC, gwAMAC, cli, srv, header.TCPFlagSYN)},
		{port: upPort, frame: tcp4(tb, upGwMAC, upMAC, srv, pub, header.TCPFlagSYN|header.TCPFlagACK)},
		{vid: vidA, frame: tcp4(tb, a1MAC, gwAMAC, cli, srv, header.TCPFlagACK)},
	} {
		var v router.Verdict
		if f.port != 0 {
			v, _ = h.routed(f.port, f.frame)
		} else {
			v, _ = h.input(f.vid, f.frame)
		}
		if v != router.Forward {
			tb.Fatalf("handshake step %d: Input = %v, want %v", i, vs(v), vs(router.Forward))
		}
	}
	return h, []fastPath{
		{name: "outbound", vid: vidA, wantTo: toUp,
			frame: frame4(tb, a1MAC, gwAMAC, testframe.IPv4{Src: cli, Dst: srv, Proto: header.ProtoTCP,
				TCP: testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH}, Payload: data})},
		{name: "inbound", port: upPort, wantTo: toA,
			frame: frame4(tb, upGwMAC, upMAC, testframe.IPv4{Src: srv, Dst: pub, Proto: header.ProtoTCP,
				TCP: testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH}, Payload: data})},
	}
}

// establishedUDP returns a router with a masqueraded UDP flow
// a1:40000 → remote:443 that has had its reply, and datagrams in both
// directions.
func establishedUDP(tb testing.TB) (*harness, []fastPath) {
	h := newHarness(tb, nil)
	h.learnGateway()
	cli, srv, pub := ap(a1IP, 40000), ap(remoteIP, 443), ap(upIP, 40000)
	if v, _ := h.input(vidA, udp4(tb, a1MAC, gwAMAC, cli, srv, "q")); v != router.Forward {
		tb.Fatalf("request: Input = %v, want %v", vs(v), vs(router.Forward))
	}
	if v, _ := h.routed(upPort, udp4(tb, upGwMAC, upMAC, srv, pub, "r")); v != router.Forward {
		tb.Fatalf("reply: Input = %v, want %v", vs(v), vs(router.Forward))
	}
	data := strings.Repeat("x", 1400)
	return h, []fastPath{
		{name: "outbound", vid: vidA, wantTo: toUp, frame: udp4(tb, a1MAC, gwAMAC, cli, srv, data)},
		{name: "inbound", port: upPort, wantTo: toA, frame: udp4(tb, upGwMAC, upMAC, srv, pub, data)},
	}
}

// run copies fp's frame into buf, decodes it and hands it to the router as
// the datapath does, with a Packet on the stack and the worker's counts.
func (fp *fastPath) run(tb testing.TB, r *router.Router, counts *router.Counts, buf []byte, p *header.Parsed, sink router.Sink, now int64) {
	frame := buf[:len(fp.frame)]
	copy(frame, fp.frame)
	if err := p.Decode(frame); err != nil {
		tb.Fatalf("Decode(%x) = %v", frame, err)
	}
	pkt := router.Packet{Frame: frame, Parsed: p, VID: fp.vid, InPort: inPort, Counts: counts}
	if fp.port != 0 {
		pkt.InPort, pkt.InRouted = fp.port, true
	}
	if v, to := r.Input(&pkt, sink, now); v != router.Forward || to != fp.wantTo {
		tb.Fatalf("Input(%x) = %v, %+v, want %v, %+v", fp.frame, vs(v), to, vs(router.Forward), fp.wantTo)
	}
}

func BenchmarkInputMasqueradedTCP(b *testing.B) {
	h, paths := establishedTCP(b)
	benchPaths(b, h, paths)
}

// BenchmarkInputMasqueradedUDP is the same path for UDP: no window
// tracking, so no per-connection lock.
func BenchmarkInputMasqueradedUDP(b *testing.B) {
	h, paths := establishedUDP(b)
	benchPaths(b, h, paths)
}

func benchPaths(b *testing.B, h *harness, paths []fastPath) {
	buf := make([]byte, 2048)
	var p header.Parsed
	counts := countsFor(h.r)
	for _, fp := range paths {
		b.Run(fp.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fp.frame)))
			for b.Loop() {
				fp.run(b, h.r, counts, buf, &p, h.sink, h.now)
			}
		})
	}
}

// TestInputNoAllocs: the steady-state paths — an established masqueraded
// flow both ways, ARP answered for the gateway and suppressed for an
// endpoint, echo replies — allocate nothing.
func TestInputNoAllocs(t *testing.T) {
	h, paths := establishedTCP(t)
	paths = append(paths,
		fastPath{name: "ARP for gateway", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t), wantTo: toA},
		fastPath{name: "ARP suppression", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, a2IP).Frame(t), wantTo: toA},
		fastPath{name: "echo reply", vid: vidA, frame: echo4(t, a1MAC, gwAMAC, a1IP, gwA, 1), wantTo: toA},
		fastPath{name: "echo reply on uplink", port: upPort, frame: echo4(t, upGwMAC, upMAC, remoteIP, upIP, 1), wantTo: toUp},
		fastPath{name: "routed within network", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, 1), ap(a2IP, 2), header.TCPFlagSYN), wantTo: toA},
	)
	buf := make([]byte, 2048)
	var p header.Parsed
	counts := countsFor(h.r)
	for _, fp := range paths {
		t.Run(fp.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { fp.run(t, h.r, counts, buf, &p, h.sink, h.now) }); n != 0 {
				t.Errorf("Input(%x): %v allocations, want 0", fp.frame, n)
			}
		})
	}
}
