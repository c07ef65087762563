package router_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// TestInputARP covers ARP from bridged ports: the gateway's own address is
// answered in place, endpoint addresses of the same network are answered
// for the endpoint (suppression), and everything else is bridged.
func TestInputARP(t *testing.T) {
	zero := netip.IPv4Unspecified()
	badHLen := testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)
	badHLen[header.EthernetLen+4] = 8
	tests := []struct {
		name     string
		noSupp   bool
		vid      vlan.ID
		frame    []byte
		want     router.Verdict
		wantTo   router.Target
		wantARP  *arpView // the frame after Input, for Forward
		wantStat map[string]uint64
	}{
		{
			name: "request for gateway", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t),
			want: router.Forward, wantTo: toA,
			wantARP: &arpView{EthDst: a1MAC.String(), EthSrc: gwAMAC.String(), Op: layers.ARPReply,
				SHA: gwAMAC.String(), SPA: gwA.String(), THA: a1MAC.String(), TPA: a1IP.String()},
			wantStat: map[string]uint64{"arp-reply": 1},
		},
		{
			name: "request for gateway unicast to its MAC", vid: vidA,
			frame: testframe.ARP{Eth: testframe.Eth{Src: a1MAC, Dst: gwAMAC}, Op: header.ARPRequest, SHA: a1MAC, SPA: a1IP, THA: gwAMAC, TPA: gwA}.Frame(t),
			want:  router.Forward, wantTo: toA,
			wantARP: &arpView{EthDst: a1MAC.String(), EthSrc: gwAMAC.String(), Op: layers.ARPReply,
				SHA: gwAMAC.String(), SPA: gwA.String(), THA: a1MAC.String(), TPA: a1IP.String()},
			wantStat: map[string]uint64{"arp-reply": 1},
		},
		{
			name: "probe for gateway", vid: vidA, frame: testframe.ARPRequest(a1MAC, zero, gwA).Frame(t),
			want: router.Forward, wantTo: toA,
			wantARP: &arpView{EthDst: a1MAC.String(), EthSrc: gwAMAC.String(), Op: layers.ARPReply,
				SHA: gwAMAC.String(), SPA: gwA.String(), THA: a1MAC.String(), TPA: zero.String()},
			wantStat: map[string]uint64{"arp-reply": 1},
		},
		{
			name: "request for endpoint of same network", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, a2IP).Frame(t),
			want: router.Forward, wantTo: toA,
			wantARP: &arpView{EthDst: a1MAC.String(), EthSrc: a2MAC.String(), Op: layers.ARPReply,
				SHA: a2MAC.String(), SPA: a2IP.String(), THA: a1MAC.String(), TPA: a1IP.String()},
			wantStat: map[string]uint64{"arp-suppressed": 1},
		},
		{
			name: "request for endpoint, suppression off", noSupp: true, vid: vidA,
			frame: testframe.ARPRequest(a1MAC, a1IP, a2IP).Frame(t), want: router.Pass,
		},
		{
			name: "request for gateway, suppression off", noSupp: true, vid: vidA,
			frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t), want: router.Forward, wantTo: toA,
			wantARP: &arpView{EthDst: a1MAC.String(), EthSrc: gwAMAC.String(), Op: layers.ARPReply,
				SHA: gwAMAC.String(), SPA: gwA.String(), THA: a1MAC.String(), TPA: a1IP.String()},
			wantStat: map[string]uint64{"arp-reply": 1},
		},
		{
			name: "request for endpoint of another network", vid: vidA,
			frame: testframe.ARPRequest(a1MAC, a1IP, b1IP).Frame(t), want: router.Pass,
		},
		{
			name: "request for other network's gateway", vid: vidA,
			frame: testframe.ARPRequest(a1MAC, a1IP, gwB).Frame(t), want: router.Pass,
		},
		{
			name: "request for unassigned address", vid: vidA,
			frame: testframe.ARPRequest(a1MAC, a1IP, netip.MustParseAddr("172.18.0.99")).Frame(t), want: router.Pass,
		},
		{
			name: "gratuitous request", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, a1IP).Frame(t), want: router.Pass,
		},
		{
			name: "gratuitous reply", vid: vidA,
			frame: testframe.ARP{Eth: testframe.Eth{Src: a1MAC, Dst: header.Broadcast}, Op: header.ARPReply,
				SHA: a1MAC, SPA: a1IP, THA: a1MAC, TPA: a1IP}.Frame(t), want: router.Pass,
		},
		{
			name: "reply to gateway", vid: vidA,
			frame: testframe.ARPReply(a1MAC, a1IP, gwAMAC, gwA).Frame(t), want: router.Consumed,
		},
		{
			name: "reply to another endpoint", vid: vidA,
			frame: testframe.ARPReply(a1MAC, a1IP, a2MAC, a2IP).Frame(t), want: router.Pass,
		},
		{
			name: "hardware length 8", vid: vidA, frame: badHLen,
			want: router.Drop, wantStat: map[string]uint64{"drop-malformed": 1},
		},
		{
			name: "truncated", vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)[:header.EthernetLen+20],
			want: router.Drop, wantStat: map[string]uint64{"drop-malformed": 1},
		},
		{
			name: "unknown VLAN", vid: 99, frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t), want: router.Pass,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *router.Config) { c.NoARPSuppression = tt.noSupp })
			before := stats(h.r)
			frame := append([]byte(nil), tt.frame...)
			v, to := h.input(tt.vid, frame)
			if v != tt.want || to != tt.wantTo {
				t.Fatalf("Input(%x) = %v, %+v, want %v, %+v", tt.frame, vs(v), to, vs(tt.want), tt.wantTo)
			}
			if tt.wantARP != nil {
				if diff := cmp.Diff(*tt.wantARP, decodeARP(t, frame)); diff != "" {
					t.Errorf("reply (-want +got):\n%s", diff)
				}
			} else if v != router.Drop && string(frame) != string(tt.frame) {
				t.Errorf("Input changed the frame to %x, want %x", frame, tt.frame)
			}
			if s := h.sink.take(); len(s) != 0 {
				t.Errorf("Input sent %d frames, want none", len(s))
			}
			checkStats(t, h.r, before, tt.wantStat)
		})
	}
}

// TestInputARPRouted covers ARP on the host leg and the uplink: requests
// for the router's address there are answered; the rest is consumed.
func TestInputARPRouted(t *testing.T) {
	tests := []struct {
		name    string
		port    port.ID
		frame   []byte
		want    router.Verdict
		wantTo  router.Target
		wantARP *arpView
		learned bool // the uplink's neighbour cache learned the sender
	}{
		{
			name: "uplink request for uplink address", port: upPort,
			frame: testframe.ARPRequest(upGwMAC, upGwIP, upIP).Frame(t), want: router.Forward, wantTo: toUp,
			wantARP: &arpView{EthDst: upGwMAC.String(), EthSrc: upMAC.String(), Op: layers.ARPReply,
				SHA: upMAC.String(), SPA: upIP.String(), THA: upGwMAC.String(), TPA: upGwIP.String()},
			learned: true,
		},
		{
			name: "uplink request for another address", port: upPort,
			frame: testframe.ARPRequest(upGwMAC, upGwIP, netip.MustParseAddr("198.51.100.20")).Frame(t), want: router.Consumed,
		},
		{
			name: "uplink reply", port: upPort,
			frame: testframe.ARPReply(upGwMAC, upGwIP, upMAC, upIP).Frame(t), want: router.Consumed,
			learned: true,
		},
		{
			name: "uplink reply from multicast MAC", port: upPort,
			frame: testframe.ARPReply(header.MAC{0x03, 0, 0, 0, 0, 1}, upGwIP, upMAC, upIP).Frame(t),
			want:  router.Consumed,
		},
		{
			name: "host leg request for leg address", port: hostPort,
			frame: testframe.ARPRequest(hostMAC, hostIP, legIP).Frame(t), want: router.Forward, wantTo: toHost,
			wantARP: &arpView{EthDst: hostMAC.String(), EthSrc: legMAC.String(), Op: layers.ARPReply,
				SHA: legMAC.String(), SPA: legIP.String(), THA: hostMAC.String(), TPA: hostIP.String()},
		},
		{
			name: "host leg request for gateway", port: hostPort,
			frame: testframe.ARPRequest(hostMAC, hostIP, gwA).Frame(t), want: router.Consumed,
		},
		{
			name: "unknown routed port", port: 42,
			frame: testframe.ARPRequest(hostMAC, hostIP, legIP).Frame(t), want: router.Drop,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			frame := append([]byte(nil), tt.frame...)
			v, to := h.routed(tt.port, frame)
			if v != tt.want || to != tt.wantTo {
				t.Fatalf("Input(%x) = %v, %+v, want %v, %+v", tt.frame, vs(v), to, vs(tt.want), tt.wantTo)
			}
			if tt.wantARP != nil {
				if diff := cmp.Diff(*tt.wantARP, decodeARP(t, frame)); diff != "" {
					t.Errorf("reply (-want +got):\n%s", diff)
				}
			}
			_, ok := h.r.Neighbors().Lookup(upGwIP, h.now)
			if ok != tt.learned {
				t.Errorf("neighbour %v learned = %v, want %v", upGwIP, ok, tt.learned)
			}
		})
	}
}
