package router_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// checkView fails unless frame decodes, has valid checksums and matches want.
func checkView(t testing.TB, frame []byte, want view) {
	t.Helper()
	got, _, _ := ipView(t, frame)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame %x (-want +got):\n%s", frame, diff)
	}
}

// checkICMPError fails unless s is an ICMP error of type/code from
// (srcMAC, src) to (dstMAC, dst), sent to wantTo, quoting quote.
func checkICMPError(t testing.TB, s sentFrame, wantTo router.Target, srcMAC, dstMAC header.MAC, src, dst netip.Addr, typ, code uint8, quote []byte) {
	t.Helper()
	if s.to != wantTo {
		t.Errorf("ICMP error sent to %+v, want %+v", s.to, wantTo)
	}
	got, ip, l4 := ipView(t, s.frame)
	want := view{EthSrc: srcMAC.String(), EthDst: dstMAC.String(), Src: src.String(), Dst: dst.String(), TTL: 64,
		Proto: "ICMPv4", ICMP: layers.CreateICMPv4TypeCode(typ, code).String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ICMP error %x (-want +got):\n%s", s.frame, diff)
	}
	if int(ip.Length) > 576 {
		t.Errorf("ICMP error is %d bytes long, more than 576", ip.Length)
	}
	if len(l4) < 8 || !bytes.Equal(l4[8:], quote) {
		t.Errorf("ICMP error quotes %x, want %x", l4[min(8, len(l4)):], quote)
	}
}

func TestEchoReply(t *testing.T) {
	tests := []struct {
		name    string
		vid     vlan.ID // bridged network; 0: routed port
		port    port.ID
		frame   []byte
		wantTo  router.Target
		wantSrc header.MAC // the router's MAC that answers
		wantIP  netip.Addr // the address that answers
		peer    header.MAC
		peerIP  netip.Addr
	}{
		{name: "network gateway", vid: vidA, frame: echo4(t, a1MAC, gwAMAC, a1IP, gwA, 77),
			wantTo: toA, wantSrc: gwAMAC, wantIP: gwA, peer: a1MAC, peerIP: a1IP},
		{name: "internal network gateway", vid: vidC, frame: echo4(t, c1MAC, gwCMAC, c1IP, gwC, 77),
			wantTo: toC, wantSrc: gwCMAC, wantIP: gwC, peer: c1MAC, peerIP: c1IP},
		{name: "host leg address", port: hostPort, frame: echo4(t, hostMAC, legMAC, hostIP, legIP, 78),
			wantTo: toHost, wantSrc: legMAC, wantIP: legIP, peer: hostMAC, peerIP: hostIP},
		{name: "gateway from host leg", port: hostPort, frame: echo4(t, hostMAC, legMAC, hostIP, gwB, 79),
			wantTo: toHost, wantSrc: legMAC, wantIP: gwB, peer: hostMAC, peerIP: hostIP},
		{name: "uplink address", port: upPort, frame: echo4(t, upGwMAC, upMAC, remoteIP, upIP, 80),
			wantTo: toUp, wantSrc: upMAC, wantIP: upIP, peer: upGwMAC, peerIP: remoteIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			before := stats(h.r)
			frame := append([]byte(nil), tt.frame...)
			var (
				v  router.Verdict
				to router.Target
			)
			if tt.vid != 0 {
				v, to = h.input(tt.vid, frame)
			} else {
				v, to = h.routed(tt.port, frame)
			}
			if v != router.Forward || to != tt.wantTo {
				t.Fatalf("Input(%x) = %v, %+v, want %v, %+v", tt.frame, vs(v), to, vs(router.Forward), tt.wantTo)
			}
			req, _, _ := ipView(t, tt.frame)
			checkView(t, frame, view{EthSrc: tt.wantSrc.String(), EthDst: tt.peer.String(),
				Src: tt.wantIP.String(), Dst: tt.peerIP.String(), TTL: 64, Proto: "ICMPv4",
				ICMP:    fmtEcho(header.ICMPv4EchoReply, binary.BigEndian.Uint16(testframe.Datagram(t, tt.frame)[24:]), 7),
				Payload: req.Payload})
			checkStats(t, h.r, before, map[string]uint64{"echo-reply": 1})
		})
	}
}

// TestLocalDrops covers packets to a gateway that no service takes.
func TestLocalDrops(t *testing.T) {
	udp := udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(gwA, 9999), "x")
	tests := []struct {
		name      string
		edit      func(*router.Config)
		vid       vlan.ID // 0: alpha's
		frame     []byte
		wantStat  map[string]uint64
		wantQuote []byte // a port unreachable is sent quoting this
	}{
		{name: "fragment of a bad length", frame: frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 1), Dst: ap(gwA, 1),
			Proto: header.ProtoICMP, ICMP: testframe.ICMP{Type: header.ICMPv4Echo, ID: 1}, MF: true, Payload: make([]byte, 63)}),
			wantStat: map[string]uint64{"drop-fragment": 1}},
		{name: "UDP to the gateway without a host leg", edit: func(c *router.Config) { c.Host = nil }, frame: udp,
			wantStat: map[string]uint64{"drop-not-for-us": 1, "icmp-error-sent": 1}, wantQuote: testframe.Datagram(t, udp)},
		{name: "TCP DNS without a TCP listener", edit: func(c *router.Config) { c.Host.DNSPort = 0 },
			frame:    tcp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(gwA, 53), header.TCPFlagSYN),
			wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "TCP DNS without a host leg", edit: func(c *router.Config) { c.Host = nil },
			frame:    tcp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(gwA, 53), header.TCPFlagSYN),
			wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "unknown VLAN", vid: 99, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(gwA, 53), "x"),
			wantStat: map[string]uint64{"drop-no-route": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.edit)
			before := stats(h.r)
			vid := tt.vid
			if vid == 0 {
				vid = vidA
			}
			if v, to := h.input(vid, append([]byte(nil), tt.frame...)); v != router.Drop {
				t.Fatalf("Input(%x) = %v, %+v, want %v", tt.frame, vs(v), to, vs(router.Drop))
			}
			sent := h.sink.take()
			if tt.wantQuote == nil && len(sent) != 0 {
				t.Errorf("Input sent %d frames, want none", len(sent))
			}
			if tt.wantQuote != nil {
				if len(sent) != 1 {
					t.Fatalf("Input sent %d frames, want 1", len(sent))
				}
				checkICMPError(t, sent[0], toA, gwAMAC, a1MAC, gwA, a1IP, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, tt.wantQuote)
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}
}

// TestIsolation: a network reaches its own endpoints through the router,
// never another network's endpoints, gateway or subnet.
func TestIsolation(t *testing.T) {
	unassigned := netip.MustParseAddr("172.18.0.99")
	tests := []struct {
		name     string
		vid      vlan.ID
		frame    []byte
		want     router.Verdict
		wantTo   router.Target
		wantView view
		wantStat map[string]uint64
	}{
		{name: "endpoint of another network", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(b1IP, 80), header.TCPFlagSYN),
			want: router.Drop, wantStat: map[string]uint64{"drop-isolation": 1}},
		{name: "gateway of another network", vid: vidA, frame: echo4(t, a1MAC, gwAMAC, a1IP, gwB, 1),
			want: router.Drop, wantStat: map[string]uint64{"drop-isolation": 1}},
		{name: "subnet of another network", vid: vidA, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(netip.MustParseAddr("172.19.0.77"), 53), "x"),
			want: router.Drop, wantStat: map[string]uint64{"drop-isolation": 1}},
		{name: "back from the other network", vid: vidB, frame: tcp4(t, b1MAC, gwBMAC, ap(b1IP, 40000), ap(a1IP, 80), header.TCPFlagSYN),
			want: router.Drop, wantStat: map[string]uint64{"drop-isolation": 1}},
		{name: "internal network endpoint", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(c1IP, 80), header.TCPFlagSYN),
			want: router.Drop, wantStat: map[string]uint64{"drop-isolation": 1}},
		{name: "own endpoint via the router", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(a2IP, 80), header.TCPFlagSYN),
			want: router.Forward, wantTo: toA,
			wantView: view{EthSrc: gwAMAC.String(), EthDst: a2MAC.String(), Src: "172.18.0.2:40000", Dst: "172.18.0.3:80",
				TTL: 63, Proto: "TCP", TCPFlags: "S"},
			wantStat: map[string]uint64{"routed": 1}},
		{name: "unassigned address of own subnet", vid: vidA, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(unassigned, 53), "x"),
			want: router.Drop, wantStat: map[string]uint64{"drop-no-route": 1, "icmp-error-sent": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			before := stats(h.r)
			frame := append([]byte(nil), tt.frame...)
			v, to := h.input(tt.vid, frame)
			if v != tt.want || to != tt.wantTo {
				t.Fatalf("Input(%x) = %v, %+v, want %v, %+v", tt.frame, vs(v), to, vs(tt.want), tt.wantTo)
			}
			if v == router.Forward {
				checkView(t, frame, tt.wantView)
			}
			sent := h.sink.take()
			if tt.wantStat["icmp-error-sent"] == 0 && len(sent) != 0 {
				t.Errorf("Input sent %d frames, want none", len(sent))
			}
			if tt.wantStat["icmp-error-sent"] == 1 {
				if len(sent) != 1 {
					t.Fatalf("Input sent %d frames, want 1", len(sent))
				}
				checkICMPError(t, sent[0], toA, gwAMAC, a1MAC, gwA, a1IP, header.ICMPv4DstUnreachable, header.ICMPv4HostUnreachable, testframe.Datagram(t, tt.frame))
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}
}

// TestTTLExceeded: a packet the router would forward with TTL 1 is answered
// with time exceeded (quoting it as received) and dropped.
func TestTTLExceeded(t *testing.T) {
	big := frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(remoteIP, 33434), Proto: header.ProtoUDP,
		TTL: 1, Payload: bytes.Repeat([]byte("x"), 1000)})
	icmpErr := frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 0), Dst: ap(remoteIP, 0), Proto: header.ProtoICMP,
		TTL: 1, ICMP: testframe.ICMP{Type: header.ICMPv4DstUnreachable, Code: header.ICMPv4PortUnreachable}, Payload: make([]byte, 28)})
	tests := []struct {
		name      string
		vid       vlan.ID // 0: from the host leg
		frame     []byte
		full      bool // the sink has no buffer
		wantQuote []byte
		wantStat  map[string]uint64
	}{
		{name: "to the uplink", vid: vidA,
			frame:    frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(remoteIP, 33434), Proto: header.ProtoUDP, TTL: 1}),
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1, "icmp-error-sent": 1}},
		{name: "to own endpoint", vid: vidA,
			frame: frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(a2IP, 80), Proto: header.ProtoTCP,
				TTL: 1, TCP: testframe.TCP{Flags: header.TCPFlagSYN}}),
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1, "icmp-error-sent": 1}},
		{name: "long packet quoted in part", vid: vidA, frame: big, wantQuote: testframe.Datagram(t, big)[:548],
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1, "icmp-error-sent": 1}},
		{name: "from the host leg",
			frame:    frame4(t, hostMAC, legMAC, testframe.IPv4{Src: ap(hostIP, 5000), Dst: ap(a1IP, 80), Proto: header.ProtoUDP, TTL: 1}),
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1, "icmp-error-sent": 1}},
		{name: "no error about an error", vid: vidA, frame: icmpErr,
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1}},
		{name: "no buffer", vid: vidA, full: true,
			frame:    frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(remoteIP, 33434), Proto: header.ProtoUDP, TTL: 1}),
			wantStat: map[string]uint64{"drop-ttl-exceeded": 1, "drop-no-buffer": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.learnGateway()
			h.sink.full = tt.full
			before := stats(h.r)
			frame := append([]byte(nil), tt.frame...)
			var v router.Verdict
			if tt.vid != 0 {
				v, _ = h.input(tt.vid, frame)
			} else {
				v, _ = h.routed(hostPort, frame)
			}
			if v != router.Drop {
				t.Fatalf("Input(%x) = %v, want %v", tt.frame, vs(v), vs(router.Drop))
			}
			if !bytes.Equal(frame, tt.frame) {
				t.Errorf("Input changed the dropped frame")
			}
			sent := h.sink.take()
			if want := tt.wantStat["icmp-error-sent"]; uint64(len(sent)) != want {
				t.Fatalf("Input sent %d frames, want %d", len(sent), want)
			}
			if len(sent) == 1 {
				quote := tt.wantQuote
				if quote == nil {
					quote = testframe.Datagram(t, tt.frame)
				}
				if tt.vid != 0 {
					checkICMPError(t, sent[0], toA, gwAMAC, a1MAC, gwA, a1IP, header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded, quote)
				} else {
					checkICMPError(t, sent[0], toHost, legMAC, hostMAC, legIP, hostIP, header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded, quote)
				}
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}

	t.Run("TTL 2 is forwarded", func(t *testing.T) {
		h := newHarness(t, nil)
		h.learnGateway()
		frame := frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(remoteIP, 33434), Proto: header.ProtoUDP, TTL: 2})
		if v, to := h.input(vidA, frame); v != router.Forward || to != toUp {
			t.Fatalf("Input = %v, %+v, want %v, %+v", vs(v), to, vs(router.Forward), toUp)
		}
		if got, _, _ := ipView(t, frame); got.TTL != 1 {
			t.Errorf("forwarded TTL = %d, want 1", got.TTL)
		}
	})
}

// TestICMPErrorRateLimit: at most 1000 ICMP errors a second.
func TestICMPErrorRateLimit(t *testing.T) {
	h := newHarness(t, nil)
	frame := frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 5000), Dst: ap(remoteIP, 33434), Proto: header.ProtoUDP, TTL: 1})
	for range 1001 {
		h.input(vidA, frame)
	}
	if n := len(h.sink.take()); n != 1000 {
		t.Errorf("1001 expired packets in a second got %d errors, want 1000", n)
	}
	h.now += int64(time.Second)
	h.input(vidA, frame)
	if n := len(h.sink.take()); n != 1 {
		t.Errorf("a second later: %d errors, want 1", n)
	}
}

// TestHostLeg: the host is reachable from every network and reaches every
// endpoint; TCP DNS to a gateway goes to the daemon's listener on the host.
func TestHostLeg(t *testing.T) {
	tests := []struct {
		name     string
		fromHost bool
		vid      vlan.ID
		frame    []byte
		want     router.Verdict
		wantTo   router.Target
		wantView view
		wantStat map[string]uint64
	}{
		{name: "endpoint to host.vswitchd.internal", vid: vidA,
			frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(hostIP, 22), header.TCPFlagSYN),
			want:  router.Forward, wantTo: toHost,
			wantView: view{EthSrc: legMAC.String(), EthDst: hostMAC.String(), Src: "172.18.0.2:40000", Dst: "172.31.255.2:22",
				TTL: 63, Proto: "TCP", TCPFlags: "S"},
			wantStat: map[string]uint64{"routed": 1}},
		{name: "internal network to host", vid: vidC,
			frame: udp4(t, c1MAC, gwCMAC, ap(c1IP, 40000), ap(hostIP, 53), "q"),
			want:  router.Forward, wantTo: toHost,
			wantView: view{EthSrc: legMAC.String(), EthDst: hostMAC.String(), Src: "172.20.0.2:40000", Dst: "172.31.255.2:53",
				TTL: 63, Proto: "UDP", Payload: "q"},
			wantStat: map[string]uint64{"routed": 1}},
		{name: "host to endpoint", fromHost: true,
			frame: tcp4(t, hostMAC, legMAC, ap(hostIP, 40000), ap(a1IP, 80), header.TCPFlagSYN),
			want:  router.Forward, wantTo: toA,
			wantView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: "172.31.255.2:40000", Dst: "172.18.0.2:80",
				TTL: 63, Proto: "TCP", TCPFlags: "S"},
			wantStat: map[string]uint64{"routed": 1}},
		{name: "host to endpoint of internal network", fromHost: true,
			frame: tcp4(t, hostMAC, legMAC, ap(hostIP, 40000), ap(c1IP, 80), header.TCPFlagSYN),
			want:  router.Forward, wantTo: toC,
			wantView: view{EthSrc: gwCMAC.String(), EthDst: c1MAC.String(), Src: "172.31.255.2:40000", Dst: "172.20.0.2:80",
				TTL: 63, Proto: "TCP", TCPFlags: "S"},
			wantStat: map[string]uint64{"routed": 1}},
		{name: "host frame to another MAC", fromHost: true,
			frame: tcp4(t, hostMAC, otherMAC, ap(hostIP, 40000), ap(a1IP, 80), header.TCPFlagSYN),
			want:  router.Drop, wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "host to leg address", fromHost: true,
			frame: tcp4(t, hostMAC, legMAC, ap(hostIP, 40000), ap(legIP, 22), header.TCPFlagSYN),
			want:  router.Drop, wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "host to nowhere", fromHost: true,
			frame: udp4(t, hostMAC, legMAC, ap(hostIP, 40000), ap(remoteIP, 53), "q"),
			want:  router.Drop, wantStat: map[string]uint64{"drop-no-route": 1, "icmp-error-sent": 1}},
		{name: "host IPv6", fromHost: true,
			frame: testframe.IPv6{Eth: testframe.Eth{Src: hostMAC, Dst: legMAC}, Proto: 59, // no next header
				Src: netip.MustParseAddrPort("[fd00::2]:0"), Dst: netip.MustParseAddrPort("[fd00::1]:0")}.Frame(t),
			want: router.Drop, wantStat: map[string]uint64{"drop-not-ipv4": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			before := stats(h.r)
			frame := append([]byte(nil), tt.frame...)
			var (
				v  router.Verdict
				to router.Target
			)
			if tt.fromHost {
				v, to = h.routed(hostPort, frame)
			} else {
				v, to = h.input(tt.vid, frame)
			}
			if v != tt.want || to != tt.wantTo {
				t.Fatalf("Input(%x) = %v, %+v, want %v, %+v", tt.frame, vs(v), to, vs(tt.want), tt.wantTo)
			}
			if v == router.Forward {
				checkView(t, frame, tt.wantView)
			}
			sent := h.sink.take()
			if want := tt.wantStat["icmp-error-sent"]; uint64(len(sent)) != want {
				t.Fatalf("Input sent %d frames, want %d", len(sent), want)
			}
			if len(sent) == 1 {
				checkICMPError(t, sent[0], toHost, legMAC, hostMAC, legIP, hostIP, header.ICMPv4DstUnreachable, header.ICMPv4HostUnreachable, testframe.Datagram(t, tt.frame))
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}
}

// step is one frame of a conversation through the router.
type step struct {
	name     string
	vid      vlan.ID // bridged network, or
	port     port.ID // routed port
	frame    []byte
	want     router.Verdict
	wantTo   router.Target
	wantView view
}

// converse runs steps in order on h, each one's frame after the previous.
func converse(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for _, s := range steps {
		frame := append([]byte(nil), s.frame...)
		var (
			v  router.Verdict
			to router.Target
		)
		if s.port != 0 {
			v, to = h.routed(s.port, frame)
		} else {
			v, to = h.input(s.vid, frame)
		}
		if v != s.want || to != s.wantTo {
			t.Fatalf("%s: Input(%x) = %v, %+v, want %v, %+v", s.name, s.frame, vs(v), to, vs(s.want), s.wantTo)
		}
		if v == router.Forward {
			got, _, _ := ipView(t, frame)
			if diff := cmp.Diff(s.wantView, got); diff != "" {
				t.Errorf("%s: frame %x (-want +got):\n%s", s.name, frame, diff)
			}
		}
		h.now += int64(time.Millisecond)
	}
}

// TestTCPDNS: TCP to a gateway's port 53 is translated to the daemon's
// listener on the host, and the host's answers back to the gateway.
func TestTCPDNS(t *testing.T) {
	h := newHarness(t, nil)
	cli, gw53, host53 := ap(a1IP, 40000), ap(gwA, 53), ap(hostIP, dnsTCPPort)
	tcp := func(srcMAC, dstMAC header.MAC, src, dst netip.AddrPort, flags uint8, payload string) []byte {
		return frame4(t, srcMAC, dstMAC, testframe.IPv4{Src: src, Dst: dst, Proto: header.ProtoTCP,
			TCP: testframe.TCP{Flags: flags}, Payload: []byte(payload)})
	}
	toHostView := func(flags, payload string) view {
		return view{EthSrc: legMAC.String(), EthDst: hostMAC.String(), Src: cli.String(), Dst: host53.String(),
			TTL: 63, Proto: "TCP", TCPFlags: flags, Payload: payload}
	}
	toCliView := func(flags, payload string) view {
		return view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: gw53.String(), Dst: cli.String(),
			TTL: 63, Proto: "TCP", TCPFlags: flags, Payload: payload}
	}
	converse(t, h, []step{
		{name: "SYN", vid: vidA, frame: tcp(a1MAC, gwAMAC, cli, gw53, header.TCPFlagSYN, ""),
			want: router.Forward, wantTo: toHost, wantView: toHostView("S", "")},
		{name: "SYN-ACK", port: hostPort, frame: tcp(hostMAC, legMAC, host53, cli, header.TCPFlagSYN|header.TCPFlagACK, ""),
			want: router.Forward, wantTo: toA, wantView: toCliView("SA", "")},
		{name: "query", vid: vidA, frame: tcp(a1MAC, gwAMAC, cli, gw53, header.TCPFlagACK|header.TCPFlagPSH, "query"),
			want: router.Forward, wantTo: toHost, wantView: toHostView("AP", "query")},
		{name: "answer", port: hostPort, frame: tcp(hostMAC, legMAC, host53, cli, header.TCPFlagACK|header.TCPFlagPSH, "answer"),
			want: router.Forward, wantTo: toA, wantView: toCliView("AP", "answer")},
	})
	if n := len(h.r.NAT().Entries(h.now)); n != 1 {
		t.Errorf("conntrack holds %d connections, want 1", n)
	}
}

// TestGatewayIsTheHost: as on docker0, where the bridge's address is the
// host's, TCP and UDP to a gateway reach the host's own services (DNAT to
// the host's address on its leg, the reply translated back), and a port
// published on every address is reached there too.
func TestGatewayIsTheHost(t *testing.T) {
	t.Run("host service", func(t *testing.T) {
		h := newHarness(t, nil)
		cli, gw22, host22 := ap(a1IP, 40001), ap(gwA, 22), ap(hostIP, 22)
		before := stats(h.r)
		converse(t, h, []step{
			{name: "SYN", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, cli, gw22, header.TCPFlagSYN),
				want: router.Forward, wantTo: toHost, wantView: view{EthSrc: legMAC.String(), EthDst: hostMAC.String(),
					Src: cli.String(), Dst: host22.String(), TTL: 63, Proto: "TCP", TCPFlags: "S"}},
			{name: "SYN-ACK", port: hostPort, frame: tcp4(t, hostMAC, legMAC, host22, cli, header.TCPFlagSYN|header.TCPFlagACK),
				want: router.Forward, wantTo: toA, wantView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(),
					Src: gw22.String(), Dst: cli.String(), TTL: 63, Proto: "TCP", TCPFlags: "SA"}},
		})
		checkStats(t, h.r, before, map[string]uint64{"routed": 2})
	})
	t.Run("udp", func(t *testing.T) {
		h := newHarness(t, nil)
		v, to := h.input(vidB, udp4(t, b1MAC, gwBMAC, ap(b1IP, 5000), ap(gwB, 9999), "x"))
		if v != router.Forward || to != toHost {
			t.Errorf("UDP to beta's gateway = %v, %+v; want Forward to the host", vs(v), to)
		}
	})
	t.Run("published port", func(t *testing.T) {
		h := newHarness(t, nil)
		before := stats(h.r)
		converse(t, h, []step{
			{name: "SYN", vid: vidB, frame: tcp4(t, b1MAC, gwBMAC, ap(b1IP, 42001), ap(gwB, 8080), header.TCPFlagSYN),
				want: router.Forward, wantTo: toA, wantView: view{EthSrc: gwAMAC.String(), EthDst: a2MAC.String(),
					Src: "172.19.0.2:42001", Dst: "172.18.0.3:80", TTL: 63, Proto: "TCP", TCPFlags: "S"}},
		})
		checkStats(t, h.r, before, map[string]uint64{"dnat": 1, "routed": 1})
	})
}

// TestICC: in an icc=false network endpoints do not reach each other
// through the router (addressed to a peer's IP with the gateway's MAC);
// they still reach the gateway (the host's services).
func TestICC(t *testing.T) {
	h := newHarness(t, func(c *router.Config) { c.Networks[0].Isolated = true })
	before := stats(h.r)
	if v, _ := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(a2IP, 53), "x")); v != router.Drop {
		t.Errorf("a1 → a2 through the gateway in an isolated network = %v, want Drop", vs(v))
	}
	checkStats(t, h.r, before, map[string]uint64{"drop-icc": 1})
	if v, to := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(gwA, 9999), "x")); v != router.Forward || to != toHost {
		t.Errorf("a1 → its gateway in an isolated network = %v, %+v; want Forward to the host", vs(v), to)
	}
}

// TestMasquerade: new outbound connections leave with the uplink address
// toward the uplink's gateway, and their replies come back translated.
func TestMasquerade(t *testing.T) {
	tests := []struct {
		name       string
		out, reply []byte
		outView    view
		replyView  view
	}{
		{
			name:      "TCP",
			out:       tcp4(t, a1MAC, gwAMAC, ap(a1IP, 40000), ap(remoteIP, 443), header.TCPFlagSYN),
			reply:     tcp4(t, upGwMAC, upMAC, ap(remoteIP, 443), ap(upIP, 40000), header.TCPFlagSYN|header.TCPFlagACK),
			outView:   view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: "198.51.100.7:40000", Dst: "203.0.113.9:443", TTL: 63, Proto: "TCP", TCPFlags: "S"},
			replyView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: "203.0.113.9:443", Dst: "172.18.0.2:40000", TTL: 63, Proto: "TCP", TCPFlags: "SA"},
		},
		{
			name:      "UDP",
			out:       udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(remoteIP, 53), "query"),
			reply:     udp4(t, upGwMAC, upMAC, ap(remoteIP, 53), ap(upIP, 5000), "answer"),
			outView:   view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: "198.51.100.7:5000", Dst: "203.0.113.9:53", TTL: 63, Proto: "UDP", Payload: "query"},
			replyView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: "203.0.113.9:53", Dst: "172.18.0.2:5000", TTL: 63, Proto: "UDP", Payload: "answer"},
		},
		{
			name: "ICMP echo",
			out:  echo4(t, a1MAC, gwAMAC, a1IP, remoteIP, 77),
			reply: frame4(t, upGwMAC, upMAC, testframe.IPv4{Src: ap(remoteIP, 77), Dst: ap(upIP, 77), Proto: header.ProtoICMP,
				ICMP: testframe.ICMP{Type: header.ICMPv4EchoReply, ID: 77, Seq: 7}, Payload: []byte("0123456789abcdef")}),
			outView: view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: "198.51.100.7", Dst: "203.0.113.9", TTL: 63, Proto: "ICMPv4",
				ICMP: fmtEcho(header.ICMPv4Echo, 77, 7), Payload: "0123456789abcdef"},
			replyView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: "203.0.113.9", Dst: "172.18.0.2", TTL: 63, Proto: "ICMPv4",
				ICMP: fmtEcho(header.ICMPv4EchoReply, 77, 7), Payload: "0123456789abcdef"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.learnGateway()
			before := stats(h.r)
			converse(t, h, []step{
				{name: "out", vid: vidA, frame: tt.out, want: router.Forward, wantTo: toUp, wantView: tt.outView},
				{name: "reply", port: upPort, frame: tt.reply, want: router.Forward, wantTo: toA, wantView: tt.replyView},
			})
			checkStats(t, h.r, before, map[string]uint64{"masquerade": 1, "routed": 2})
		})
	}
}

// TestUplinkDrops covers what the router refuses at and toward the uplink.
func TestUplinkDrops(t *testing.T) {
	toRemote := func(srcMAC, dstMAC header.MAC, src netip.Addr) []byte {
		return udp4(t, srcMAC, dstMAC, ap(src, 5000), ap(remoteIP, 53), "q")
	}
	tests := []struct {
		name     string
		edit     func(*router.Config)
		vid      vlan.ID // 0: from the uplink
		frame    []byte
		icmp     uint8 // code of the destination unreachable sent; 0xff: none
		wantStat map[string]uint64
	}{
		{name: "internal network", vid: vidC, frame: toRemote(c1MAC, gwCMAC, c1IP), icmp: header.ICMPv4NetUnreachable,
			wantStat: map[string]uint64{"drop-internal": 1, "icmp-error-sent": 1}},
		{name: "no uplink", edit: func(c *router.Config) { c.Uplink = nil }, vid: vidA, frame: toRemote(a1MAC, gwAMAC, a1IP),
			icmp: header.ICMPv4NetUnreachable, wantStat: map[string]uint64{"drop-no-route": 1, "icmp-error-sent": 1}},
		{name: "uplink address, closed port", vid: vidA, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(upIP, 9), "q"),
			icmp: header.ICMPv4PortUnreachable, wantStat: map[string]uint64{"drop-not-for-us": 1, "icmp-error-sent": 1}},
		{name: "outside to closed port", frame: tcp4(t, upGwMAC, upMAC, ap(remoteIP, 5000), ap(upIP, 22), header.TCPFlagSYN),
			icmp: 0xfe, wantStat: map[string]uint64{"drop-not-for-us": 1, "rst-sent": 1}},
		{name: "outside transit to endpoint", frame: tcp4(t, upGwMAC, upMAC, ap(remoteIP, 5000), ap(a1IP, 22), header.TCPFlagSYN),
			icmp: 0xff, wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "outside to another MAC", frame: tcp4(t, upGwMAC, otherMAC, ap(remoteIP, 5000), ap(upIP, 8080), header.TCPFlagSYN),
			icmp: 0xff, wantStat: map[string]uint64{"drop-not-for-us": 1}},
		{name: "outside reply without connection", frame: tcp4(t, upGwMAC, upMAC, ap(remoteIP, 443), ap(upIP, 40000), header.TCPFlagSYN|header.TCPFlagACK),
			icmp: 0xfe, wantStat: map[string]uint64{"drop-not-for-us": 1, "rst-sent": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.edit)
			h.learnGateway()
			before := stats(h.r)
			var v router.Verdict
			if tt.vid != 0 {
				v, _ = h.input(tt.vid, append([]byte(nil), tt.frame...))
			} else {
				v, _ = h.routed(upPort, append([]byte(nil), tt.frame...))
			}
			if v != router.Drop {
				t.Fatalf("Input(%x) = %v, want %v", tt.frame, vs(v), vs(router.Drop))
			}
			sent := h.sink.take()
			switch tt.icmp {
			case 0xff:
				if len(sent) != 0 {
					t.Errorf("Input sent %d frames, want none", len(sent))
				}
			case 0xfe: // a TCP reset back to the sender
				checkRST(t, sent, tt.frame)
			default:
				if len(sent) != 1 {
					t.Fatalf("Input sent %d frames, want 1", len(sent))
				}
				var n router.Network // the network the frame came from
				for _, n = range testConfig().Networks {
					if n.VID == tt.vid {
						break
					}
				}
				checkICMPError(t, sent[0], router.Target{VID: tt.vid}, n.MAC, header.Ethernet(tt.frame).Src(), n.Gateway,
					header.IPv4(tt.frame[header.EthernetLen:]).Src(), header.ICMPv4DstUnreachable, tt.icmp, testframe.Datagram(t, tt.frame))
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}
}

// TestUplinkResolve: with the next hop unknown, frames wait while the
// router asks for it, and leave with the batch of the worker that sees its
// answer. Everything the router sends from a worker goes through the
// worker's sink, never the deferred path.
func TestUplinkResolve(t *testing.T) {
	h := newHarness(t, nil)
	out := func(payload string) []byte { return udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(remoteIP, 53), payload) }
	wantReq := arpView{EthDst: header.Broadcast.String(), EthSrc: upMAC.String(), Op: layers.ARPRequest,
		SHA: upMAC.String(), SPA: upIP.String(), THA: header.MAC{}.String(), TPA: upGwIP.String()}

	before := stats(h.r)
	if v, to := h.input(vidA, out("one")); v != router.Consumed {
		t.Fatalf("Input(first frame) = %v, %+v, want %v", vs(v), to, vs(router.Consumed))
	}
	inj := h.sink.take()
	if len(inj) != 1 || inj[0].to != toUp {
		t.Fatalf("sent %d frames, want one ARP request to the uplink", len(inj))
	}
	if diff := cmp.Diff(wantReq, decodeARP(t, inj[0].frame)); diff != "" {
		t.Errorf("ARP request (-want +got):\n%s", diff)
	}
	checkStats(t, h.r, before, map[string]uint64{"masquerade": 1, "arp-pending": 1})

	h.now += int64(500 * time.Millisecond)
	if v, _ := h.input(vidA, out("two")); v != router.Consumed {
		t.Fatalf("Input(second frame) = %v, want %v", vs(v), vs(router.Consumed))
	}
	if inj := h.sink.take(); len(inj) != 0 {
		t.Errorf("second frame within a second sent %d frames, want none", len(inj))
	}
	h.now += int64(500 * time.Millisecond)
	if v, _ := h.input(vidA, out("three")); v != router.Consumed {
		t.Fatalf("Input(third frame) = %v, want %v", vs(v), vs(router.Consumed))
	}
	if inj := h.sink.take(); len(inj) != 1 {
		t.Errorf("a second later: sent %d frames, want a new ARP request", len(inj))
	}
	before = stats(h.r)
	if v, _ := h.input(vidA, out("four")); v != router.Drop {
		t.Errorf("Input(fourth frame) = %v, want %v: three frames wait per neighbour", vs(v), vs(router.Drop))
	}
	checkStats(t, h.r, before, map[string]uint64{"drop-unresolved": 1})

	before = stats(h.r)
	reply := testframe.ARPReply(upGwMAC, upGwIP, upMAC, upIP).Frame(t)
	if v, _ := h.routed(upPort, reply); v != router.Consumed {
		t.Fatalf("Input(ARP reply) = %v, want %v", vs(v), vs(router.Consumed))
	}
	inj = h.sink.take()
	if len(inj) != 3 {
		t.Fatalf("ARP reply released %d frames, want 3", len(inj))
	}
	for i, payload := range []string{"one", "two", "three"} {
		if inj[i].to != toUp {
			t.Errorf("frame %d sent to %+v, want %+v", i, inj[i].to, toUp)
		}
		checkView(t, inj[i].frame, view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: "198.51.100.7:5000",
			Dst: "203.0.113.9:53", TTL: 63, Proto: "UDP", Payload: payload})
	}
	checkStats(t, h.r, before, map[string]uint64{"routed": 3})
	if mac, ok := h.r.Neighbors().Lookup(upGwIP, h.now); !ok || mac != upGwMAC {
		t.Errorf("Neighbors().Lookup(%v) = %v, %v, want %v, true", upGwIP, mac, ok, upGwMAC)
	}
	if v, to := h.input(vidA, out("five")); v != router.Forward || to != toUp {
		t.Errorf("Input after resolution = %v, %+v, want %v, %+v", vs(v), to, vs(router.Forward), toUp)
	}

	t.Run("on-link destination", func(t *testing.T) {
		h := newHarness(t, nil)
		h.learnGateway()
		onLink := netip.MustParseAddr("198.51.100.50")
		if v, _ := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(onLink, 53), "q")); v != router.Consumed {
			t.Fatalf("Input = %v, want %v", vs(v), vs(router.Consumed))
		}
		inj := h.sink.take()
		if len(inj) != 1 {
			t.Fatalf("sent %d frames, want an ARP request", len(inj))
		}
		if got := decodeARP(t, inj[0].frame); got.TPA != onLink.String() {
			t.Errorf("ARP request for %s, want %s (on-link destinations are their own next hop)", got.TPA, onLink)
		}
	})
}

// TestPublishedFromUplink: connections from outside to the switch's
// address and a published port go to the endpoint, at the same offset in
// the container range; the endpoint's answers leave as the switch.
func TestPublishedFromUplink(t *testing.T) {
	tests := []struct {
		name              string
		proto             uint8
		hostPort          uint16
		target            netip.AddrPort
		targetMAC, gwMAC  header.MAC
		targetTo, replyTo router.Target
	}{
		{name: "TCP first port", proto: header.ProtoTCP, hostPort: 8080, target: ap(a2IP, 80), targetMAC: a2MAC, gwMAC: gwAMAC, targetTo: toA},
		{name: "TCP range offset", proto: header.ProtoTCP, hostPort: 8083, target: ap(a2IP, 83), targetMAC: a2MAC, gwMAC: gwAMAC, targetTo: toA},
		{name: "TCP last port", proto: header.ProtoTCP, hostPort: 8089, target: ap(a2IP, 89), targetMAC: a2MAC, gwMAC: gwAMAC, targetTo: toA},
		{name: "UDP", proto: header.ProtoUDP, hostPort: 5300, target: ap(b1IP, 53), targetMAC: b1MAC, gwMAC: gwBMAC, targetTo: toB},
	}
	cli := ap(clientIP, 50000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.learnGateway()
			pub := ap(upIP, tt.hostPort)
			s := frame4(t, upGwMAC, upMAC, testframe.IPv4{Src: cli, Dst: pub, Proto: tt.proto,
				TCP: testframe.TCP{Flags: header.TCPFlagSYN}, Payload: []byte("hi")})
			r := frame4(t, tt.targetMAC, tt.gwMAC, testframe.IPv4{Src: tt.target, Dst: cli, Proto: tt.proto,
				TCP: testframe.TCP{Flags: header.TCPFlagSYN | header.TCPFlagACK}, Payload: []byte("ho")})
			proto, flags, rflags := "TCP", "S", "SA"
			if tt.proto == header.ProtoUDP {
				proto, flags, rflags = "UDP", "", ""
			}
			before := stats(h.r)
			converse(t, h, []step{
				{name: "in", port: upPort, frame: s, want: router.Forward, wantTo: tt.targetTo,
					wantView: view{EthSrc: tt.gwMAC.String(), EthDst: tt.targetMAC.String(), Src: cli.String(), Dst: tt.target.String(),
						TTL: 63, Proto: proto, TCPFlags: flags, Payload: "hi"}},
				{name: "reply", vid: tt.targetTo.VID, frame: r, want: router.Forward, wantTo: toUp,
					wantView: view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: pub.String(), Dst: cli.String(),
						TTL: 63, Proto: proto, TCPFlags: rflags, Payload: "ho"}},
			})
			checkStats(t, h.r, before, map[string]uint64{"dnat": 1, "routed": 2})
		})
	}
	t.Run("unpublished ports", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, f := range [][]byte{
			tcp4(t, upGwMAC, upMAC, cli, ap(upIP, 8090), header.TCPFlagSYN),
			udp4(t, upGwMAC, upMAC, cli, ap(upIP, 8080), "x"),
			tcp4(t, upGwMAC, upMAC, cli, ap(upIP, 5300), header.TCPFlagSYN),
		} {
			if v, _ := h.routed(upPort, f); v != router.Drop {
				t.Errorf("Input(%x) = %v, want %v", f, vs(v), vs(router.Drop))
			}
		}
	})
}

// TestPublishedHairpin: an endpoint reaching a published port of its own
// network is translated to the gateway as well, so the answer comes back
// through the router.
func TestPublishedHairpin(t *testing.T) {
	for _, dst := range []netip.Addr{hostIP, upIP} {
		t.Run(dst.String(), func(t *testing.T) {
			h := newHarness(t, nil)
			cli, pub := ap(a1IP, 41000), ap(dst, 8081)
			before := stats(h.r)
			converse(t, h, []step{
				{name: "SYN", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, cli, pub, header.TCPFlagSYN), want: router.Forward, wantTo: toA,
					wantView: view{EthSrc: gwAMAC.String(), EthDst: a2MAC.String(), Src: "172.18.0.1:41000", Dst: "172.18.0.3:81",
						TTL: 63, Proto: "TCP", TCPFlags: "S"}},
				{name: "SYN-ACK", vid: vidA, frame: tcp4(t, a2MAC, gwAMAC, ap(a2IP, 81), ap(gwA, 41000), header.TCPFlagSYN|header.TCPFlagACK),
					want: router.Forward, wantTo: toA,
					wantView: view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: pub.String(), Dst: cli.String(),
						TTL: 63, Proto: "TCP", TCPFlags: "SA"}},
				{name: "ACK", vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, cli, pub, header.TCPFlagACK), want: router.Forward, wantTo: toA,
					wantView: view{EthSrc: gwAMAC.String(), EthDst: a2MAC.String(), Src: "172.18.0.1:41000", Dst: "172.18.0.3:81",
						TTL: 63, Proto: "TCP", TCPFlags: "A"}},
			})
			checkStats(t, h.r, before, map[string]uint64{"dnat": 1, "routed": 3})
		})
	}
}

// TestPublishedOtherNetwork: an endpoint of another network reaches a
// published port through the host's address; the answer returns through
// conntrack, not refused by isolation, while new connections between the
// networks still are.
func TestPublishedOtherNetwork(t *testing.T) {
	h := newHarness(t, nil)
	cli, pub := ap(b1IP, 42000), ap(hostIP, 8080)
	before := stats(h.r)
	converse(t, h, []step{
		{name: "SYN", vid: vidB, frame: tcp4(t, b1MAC, gwBMAC, cli, pub, header.TCPFlagSYN), want: router.Forward, wantTo: toA,
			wantView: view{EthSrc: gwAMAC.String(), EthDst: a2MAC.String(), Src: cli.String(), Dst: "172.18.0.3:80",
				TTL: 63, Proto: "TCP", TCPFlags: "S"}},
		{name: "SYN-ACK", vid: vidA, frame: tcp4(t, a2MAC, gwAMAC, ap(a2IP, 80), cli, header.TCPFlagSYN|header.TCPFlagACK),
			want: router.Forward, wantTo: toB,
			wantView: view{EthSrc: gwBMAC.String(), EthDst: b1MAC.String(), Src: pub.String(), Dst: cli.String(),
				TTL: 63, Proto: "TCP", TCPFlags: "SA"}},
		{name: "new connection back", vid: vidA, frame: tcp4(t, a2MAC, gwAMAC, ap(a2IP, 80), ap(b1IP, 42001), header.TCPFlagSYN),
			want: router.Drop},
	})
	checkStats(t, h.r, before, map[string]uint64{"dnat": 1, "routed": 2, "drop-isolation": 1})
}

// TestICMPErrorFromOutside: ICMP errors about a masqueraded packet reach
// the endpoint, with the outer destination and the quoted packet
// translated back.
func TestICMPErrorFromOutside(t *testing.T) {
	tests := []struct {
		name      string
		from      netip.Addr
		typ, code uint8
	}{
		{name: "port unreachable from the peer", from: remoteIP, typ: header.ICMPv4DstUnreachable, code: header.ICMPv4PortUnreachable},
		{name: "time exceeded on the path", from: hopIP, typ: header.ICMPv4TimeExceeded, code: header.ICMPv4TTLExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.learnGateway()
			probe := udp4(t, a1MAC, gwAMAC, ap(a1IP, 43000), ap(remoteIP, 33434), "probe")
			if v, _ := h.input(vidA, probe); v != router.Forward {
				t.Fatalf("Input(probe) = %v, want %v", vs(v), vs(router.Forward))
			}
			sentQuote := testframe.Datagram(t, probe)[:28] // as it left: header and UDP header
			errFrame := frame4(t, upGwMAC, upMAC, testframe.IPv4{Src: ap(tt.from, 0), Dst: ap(upIP, 0), Proto: header.ProtoICMP,
				ICMP: testframe.ICMP{Type: tt.typ, Code: tt.code}, Payload: sentQuote})
			v, to := h.routed(upPort, errFrame)
			if v != router.Forward || to != toA {
				t.Fatalf("Input(ICMP error) = %v, %+v, want %v, %+v", vs(v), to, vs(router.Forward), toA)
			}
			checkView(t, errFrame, view{EthSrc: gwAMAC.String(), EthDst: a1MAC.String(), Src: tt.from.String(), Dst: a1IP.String(),
				TTL: 63, Proto: "ICMPv4", ICMP: layers.CreateICMPv4TypeCode(tt.typ, tt.code).String()})
			_, _, l4 := ipView(t, errFrame)
			q := header.IPv4(l4[8:])
			if !sumValid(q[:20], 0) {
				t.Errorf("quoted IPv4 header %x has a bad checksum", q[:20])
			}
			gotSrc := ap(q.Src(), binary.BigEndian.Uint16(q[20:]))
			gotDst := ap(q.Dst(), binary.BigEndian.Uint16(q[22:]))
			if gotSrc != ap(a1IP, 43000) || gotDst != ap(remoteIP, 33434) {
				t.Errorf("quoted packet %v → %v, want %v → %v", gotSrc, gotDst, ap(a1IP, 43000), ap(remoteIP, 33434))
			}
		})
	}
}

// TestTTLZeroNotWrapped: a packet that arrives with TTL 0 at a router
// address and is translated onward (a published port, the answer of a
// masqueraded connection) must not leave with TTL 255.
func TestTTLZeroNotWrapped(t *testing.T) {
	tests := []struct {
		name  string
		setup []step
		port  port.ID
		frame []byte
	}{
		{name: "published port", port: upPort,
			frame: frame4(t, upGwMAC, upMAC, testframe.IPv4{Src: ap(clientIP, 50000), Dst: ap(upIP, 8080), Proto: header.ProtoTCP,
				TCP: testframe.TCP{Flags: header.TCPFlagSYN}})},
		{name: "answer of masqueraded connection", port: upPort,
			setup: []step{{name: "query", vid: vidA, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(remoteIP, 53), "q"), want: router.Forward, wantTo: toUp,
				wantView: view{EthSrc: upMAC.String(), EthDst: upGwMAC.String(), Src: "198.51.100.7:5000", Dst: "203.0.113.9:53", TTL: 63, Proto: "UDP", Payload: "q"}}},
			frame: frame4(t, upGwMAC, upMAC, testframe.IPv4{Src: ap(remoteIP, 53), Dst: ap(upIP, 5000), Proto: header.ProtoUDP})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.learnGateway()
			converse(t, h, tt.setup)
			frame := append([]byte(nil), tt.frame...)
			ip := header.IPv4(frame[header.EthernetLen:])
			ip.SetTTL(0)
			ip.SetChecksum(0)
			ip.SetChecksum(ip.CalculateChecksum())
			v, _ := h.routed(tt.port, frame)
			if v == router.Forward {
				if got, _, _ := ipView(t, frame); got.TTL != 0 {
					t.Errorf("Input forwarded a TTL 0 packet with TTL %d", got.TTL)
				}
			}
		})
	}
}

// TestReplyToHostNotPublished: a reply from an endpoint to the host whose
// destination port happens to lie in a published range is routed to the
// host, not taken for a new published-port connection.
func TestReplyToHostNotPublished(t *testing.T) {
	h := newHarness(t, nil)
	before := stats(h.r)
	f := tcp4(t, a1MAC, gwAMAC, ap(a1IP, 80), ap(hostIP, 8083), header.TCPFlagSYN|header.TCPFlagACK)
	if v, to := h.input(vidA, f); v != router.Forward || to != toHost {
		t.Fatalf("Input(SYN-ACK to host:8083) = %v %+v, want Forward to the host", vs(v), to)
	}
	checkStats(t, h.r, before, map[string]uint64{"routed": 1})
}
