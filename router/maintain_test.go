package router_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/router"
)

func sec(n float64) int64 { return int64(n * float64(time.Second)) }

// newHarnessCache is newHarness with a neighbour cache of the given timeout.
func newHarnessCache(t *testing.T, timeout time.Duration, edit func(*router.Config)) *harness {
	t.Helper()
	ds := dns.New(dns.Options{})
	t.Cleanup(func() { ds.Close() })
	h := &harness{
		t:    t,
		r:    router.New(router.Options{NAT: nat.New(nat.Options{Seed: 1}), DNS: ds, Neighbors: arp.NewCache(timeout)}),
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

// TestMaintainNeighbors: Maintain ages the uplink's neighbours and asks for
// the gateway again before its entry expires.
func TestMaintainNeighbors(t *testing.T) {
	h := newHarnessCache(t, 10*time.Second, nil)
	h.r.Neighbors().Update(upGwIP, upGwMAC, t0)
	h.r.Neighbors().Update(netip.MustParseAddr("198.51.100.50"), otherMAC, t0+sec(8))
	tests := []struct {
		at          int64
		wantRequest bool     // an ARP request for the gateway is injected
		wantIPs     []string // the cache's entries after Maintain
	}{
		{at: t0 + sec(4), wantIPs: []string{"198.51.100.1", "198.51.100.50"}},
		{at: t0 + sec(5), wantRequest: true, wantIPs: []string{"198.51.100.1", "198.51.100.50"}},
		{at: t0 + sec(10), wantRequest: true, wantIPs: []string{"198.51.100.50"}},
		{at: t0 + sec(18), wantRequest: true, wantIPs: []string{}},
	}
	for _, tt := range tests {
		h.r.Maintain(tt.at)
		inj := h.inj.take()
		if tt.wantRequest {
			if len(inj) != 1 || decodeARP(t, inj[0].frame).TPA != upGwIP.String() || inj[0].to != toUp {
				t.Errorf("Maintain(t0+%v) injected %d frames, want one ARP request for the gateway", time.Duration(tt.at-t0), len(inj))
			}
		} else if len(inj) != 0 {
			t.Errorf("Maintain(t0+%v) injected %d frames, want none", time.Duration(tt.at-t0), len(inj))
		}
		got := []string{}
		for _, n := range h.r.Neighbors().Entries(tt.at) {
			got = append(got, n.IP.String())
		}
		if diff := cmp.Diff(tt.wantIPs, got); diff != "" {
			t.Errorf("after Maintain(t0+%v): entries (-want +got):\n%s", time.Duration(tt.at-t0), diff)
		}
	}

	t.Run("no uplink gateway", func(t *testing.T) {
		h := newHarnessCache(t, 10*time.Second, func(c *router.Config) { c.Uplink.Gateway = netip.Addr{} })
		h.r.Maintain(t0)
		if inj := h.inj.take(); len(inj) != 0 {
			t.Errorf("Maintain injected %d frames, want none", len(inj))
		}
	})
}

// TestMaintainPending: frames that waited pendingTimeout (3 s) for a next
// hop are dropped by Maintain and counted.
func TestMaintainPending(t *testing.T) {
	h := newHarness(t, nil)
	for _, payload := range []string{"one", "two"} {
		if v, _ := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(remoteIP, 53), payload)); v != router.Consumed {
			t.Fatalf("Input = %v, want %v", vs(v), vs(router.Consumed))
		}
	}
	h.inj.take()
	before := stats(h.r)
	h.r.Maintain(t0 + sec(2.9))
	checkStats(t, h.r, before, nil)
	h.r.Maintain(t0 + sec(3))
	checkStats(t, h.r, before, map[string]uint64{"drop-unresolved": 2})

	h.inj.take()
	h.now = t0 + sec(3.5)
	if v, _ := h.routed(upPort, testframe.ARPReply(upGwMAC, upGwIP, upMAC, upIP).Frame(t)); v != router.Consumed {
		t.Fatalf("Input(ARP reply) = %v, want %v", vs(v), vs(router.Consumed))
	}
	if inj := h.inj.take(); len(inj) != 0 {
		t.Errorf("the late ARP reply released %d frames, want none", len(inj))
	}
}

// TestMaintainConntrack: Maintain sweeps expired connections.
func TestMaintainConntrack(t *testing.T) {
	h := newHarness(t, nil)
	h.learnGateway()
	if v, _ := h.input(vidA, udp4(t, a1MAC, gwAMAC, ap(a1IP, 5000), ap(remoteIP, 53), "q")); v != router.Forward {
		t.Fatalf("Input = %v, want %v", vs(v), vs(router.Forward))
	}
	if n := h.r.NAT().Len(); n != 1 {
		t.Fatalf("NAT().Len() = %d, want 1", n)
	}
	h.r.Maintain(t0 + sec(29))
	if n := h.r.NAT().Len(); n != 1 {
		t.Errorf("after 29 s: NAT().Len() = %d, want 1", n)
	}
	h.r.Maintain(t0 + sec(31))
	if n := h.r.NAT().Len(); n != 0 {
		t.Errorf("after 31 s: NAT().Len() = %d, want 0 (unreplied UDP lives 30 s)", n)
	}
}

func TestAnnounce(t *testing.T) {
	h := newHarness(t, nil)
	h.r.Announce(t0)
	inj := h.inj.take()
	if len(inj) != 2 {
		t.Fatalf("Announce injected %d frames, want a gratuitous ARP and a request for the gateway", len(inj))
	}
	want := []arpView{
		{EthDst: header.Broadcast.String(), EthSrc: upMAC.String(), Op: layers.ARPRequest,
			SHA: upMAC.String(), SPA: upIP.String(), THA: header.MAC{}.String(), TPA: upIP.String()},
		{EthDst: header.Broadcast.String(), EthSrc: upMAC.String(), Op: layers.ARPRequest,
			SHA: upMAC.String(), SPA: upIP.String(), THA: header.MAC{}.String(), TPA: upGwIP.String()},
	}
	for i := range want {
		if inj[i].to != toUp {
			t.Errorf("frame %d injected to %+v, want %+v", i, inj[i].to, toUp)
		}
		if diff := cmp.Diff(want[i], decodeARP(t, inj[i].frame)); diff != "" {
			t.Errorf("frame %d (-want +got):\n%s", i, diff)
		}
	}

	h = newHarness(t, func(c *router.Config) { c.Uplink = nil })
	h.r.Announce(t0)
	if inj := h.inj.take(); len(inj) != 0 {
		t.Errorf("Announce without an uplink injected %d frames", len(inj))
	}
}

func TestConfigAndScope(t *testing.T) {
	cfg := testConfig()
	r := router.New(router.Options{})
	r.Configure(cfg)
	cfg.Networks[0].Gateway = netip.MustParseAddr("10.0.0.1") // the router keeps its own copy
	if diff := cmp.Diff(testConfig(), r.Config(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Config() (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		ip   netip.Addr
		want string
	}{
		{a1IP, "alpha"},
		{a2IP, "@a2"},
		{netip.MustParseAddr("172.19.0.99"), "beta"},
		{remoteIP, ""},
	} {
		if got := r.ScopeOf(tt.ip); got != tt.want {
			t.Errorf("ScopeOf(%v) = %q, want %q", tt.ip, got, tt.want)
		}
	}
	if r.NAT() == nil || r.Neighbors() == nil {
		t.Errorf("New(Options{}) made no NAT table or neighbour cache")
	}
}
