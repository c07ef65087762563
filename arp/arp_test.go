package arp_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

var (
	macA = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}
	ipA  = netip.MustParseAddr("172.17.0.2")
	ipB  = netip.MustParseAddr("172.17.0.3")
)

// frameView is an ARP frame as gopacket decodes it.
type frameView struct {
	EthDst, EthSrc string
	EthType        layers.EthernetType
	AddrType       layers.LinkType
	Protocol       layers.EthernetType
	HwLen, ProtLen uint8
	Op             uint16
	SHA, SPA       string
	THA, TPA       string
}

func decode(t *testing.T, frame []byte) frameView {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode %x: %v", frame, el.Error())
	}
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || a == nil {
		t.Fatalf("frame %x: no Ethernet or ARP layer", frame)
	}
	return frameView{
		EthDst: eth.DstMAC.String(), EthSrc: eth.SrcMAC.String(), EthType: eth.EthernetType,
		AddrType: a.AddrType, Protocol: a.Protocol, HwLen: a.HwAddressSize, ProtLen: a.ProtAddressSize, Op: a.Operation,
		SHA: net.HardwareAddr(a.SourceHwAddress).String(), SPA: net.IP(a.SourceProtAddress).String(),
		THA: net.HardwareAddr(a.DstHwAddress).String(), TPA: net.IP(a.DstProtAddress).String(),
	}
}

func want(dst, src header.MAC, op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr) frameView {
	return frameView{
		EthDst: dst.String(), EthSrc: src.String(), EthType: layers.EthernetTypeARP,
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwLen: 6, ProtLen: 4, Op: op,
		SHA: sha.String(), SPA: spa.String(), THA: tha.String(), TPA: tpa.String(),
	}
}

func TestBuilders(t *testing.T) {
	req := testframe.ARPRequest(macA, ipA, ipB).Frame(t)
	tests := []struct {
		name  string
		build func(b []byte) int
		want  frameView
	}{
		{
			name:  "Reply",
			build: func(b []byte) int { return arp.Reply(b, header.ARP(req[header.EthernetLen:]), macB, ipB) },
			want:  want(macA, macB, layers.ARPReply, macB, ipB, macA, ipA),
		},
		{
			name:  "Request",
			build: func(b []byte) int { return arp.Request(b, macA, ipA, ipB) },
			want:  want(header.Broadcast, macA, layers.ARPRequest, macA, ipA, header.MAC{}, ipB),
		},
		{
			name:  "Gratuitous",
			build: func(b []byte) int { return arp.Gratuitous(b, macB, ipB) },
			want:  want(header.Broadcast, macB, layers.ARPRequest, macB, ipB, header.MAC{}, ipB),
		},
		{
			name: "Request with IPv6 addresses",
			build: func(b []byte) int {
				return arp.Request(b, macA, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"))
			},
			want: want(header.Broadcast, macA, layers.ARPRequest, macA, netip.IPv4Unspecified(), header.MAC{}, netip.IPv4Unspecified()),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xaa}, 64)
			n := tt.build(b)
			if n != arp.FrameLen || arp.FrameLen != 42 {
				t.Fatalf("%s returned %d, want %d (FrameLen 42)", tt.name, n, arp.FrameLen)
			}
			if !bytes.Equal(b[n:], bytes.Repeat([]byte{0xaa}, 64-n)) {
				t.Errorf("%s wrote past the frame: %x", tt.name, b[n:])
			}
			if diff := cmp.Diff(tt.want, decode(t, b[:n])); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// TestReplyInPlace: the router answers a request in the request's own
// buffer.
func TestReplyInPlace(t *testing.T) {
	frame := testframe.ARPRequest(macA, ipA, ipB).Frame(t)
	n := arp.Reply(frame, header.ARP(frame[header.EthernetLen:]), macB, ipB)
	if diff := cmp.Diff(want(macA, macB, layers.ARPReply, macB, ipB, macA, ipA), decode(t, frame[:n])); diff != "" {
		t.Errorf("reply in place (-want +got):\n%s", diff)
	}
}

func TestIsGratuitous(t *testing.T) {
	tests := []struct {
		name string
		spa  netip.Addr
		tpa  netip.Addr
		want bool
	}{
		{"announcement", ipA, ipA, true},
		{"request", ipA, ipB, false},
		{"probe", netip.IPv4Unspecified(), ipA, false},
	}
	for _, tt := range tests {
		frame := testframe.ARPRequest(macA, tt.spa, tt.tpa).Frame(t)
		if got := arp.IsGratuitous(header.ARP(frame[header.EthernetLen:])); got != tt.want {
			t.Errorf("%s: IsGratuitous(%x) = %v, want %v", tt.name, frame, got, tt.want)
		}
	}
	var b [arp.FrameLen]byte
	arp.Gratuitous(b[:], macA, ipA)
	if !arp.IsGratuitous(header.ARP(b[header.EthernetLen:])) {
		t.Errorf("IsGratuitous(Gratuitous frame) = false, want true")
	}
}

func sec(n float64) int64 { return int64(n * float64(time.Second)) }

func TestCacheExpiry(t *testing.T) {
	c := arp.NewCache(10 * time.Second)
	c.Update(ipA, macA, sec(100))
	tests := []struct {
		now  int64
		want bool
	}{
		{sec(100), true},
		{sec(109.999), true},
		{sec(110), false},
		{sec(200), false},
	}
	for _, tt := range tests {
		mac, ok := c.Lookup(ipA, tt.now)
		if ok != tt.want || ok && mac != macA {
			t.Errorf("Lookup(%v, %v) = %v, %v, want %v", ipA, tt.now, mac, ok, tt.want)
		}
	}
	if _, ok := c.Lookup(ipB, sec(100)); ok {
		t.Errorf("Lookup(%v) of an unknown address found an entry", ipB)
	}
	if n := c.Age(sec(109)); n != 0 {
		t.Errorf("Age before the timeout removed %d entries", n)
	}
	if n := c.Age(sec(110)); n != 1 {
		t.Errorf("Age at the timeout removed %d entries, want 1", n)
	}
	c.Update(ipA, macA, sec(200))
	if _, ok := c.Lookup(ipA, sec(205)); !ok {
		t.Errorf("Lookup after a fresh Update found nothing")
	}

	d := arp.NewCache(0)
	d.Update(ipA, macA, 0)
	if _, ok := d.Lookup(ipA, int64(arp.DefaultTimeout)-1); !ok {
		t.Errorf("NewCache(0): entry gone before DefaultTimeout")
	}
	if _, ok := d.Lookup(ipA, int64(arp.DefaultTimeout)); ok {
		t.Errorf("NewCache(0): entry alive at DefaultTimeout")
	}
}

// TestCacheRefresh: Update of an unchanged, fresh entry takes no write
// lock and so does not refresh it; it refreshes once a quarter of the
// timeout has passed, and at once when the MAC changes.
func TestCacheRefresh(t *testing.T) {
	c := arp.NewCache(40 * time.Second)
	age := func(now int64) time.Duration {
		t.Helper()
		es := c.Entries(now)
		if len(es) != 1 {
			t.Fatalf("Entries(%v) has %d entries, want 1", now, len(es))
		}
		return es[0].Age
	}
	c.Update(ipA, macA, sec(0))
	c.Update(ipA, macA, sec(9.999))
	if got := age(sec(10)); got != 10*time.Second {
		t.Errorf("after an Update within timeout/4: age %v, want 10s (not refreshed)", got)
	}
	c.Update(ipA, macA, sec(10))
	if got := age(sec(10)); got != 0 {
		t.Errorf("after an Update at timeout/4: age %v, want 0 (refreshed)", got)
	}
	c.Update(ipA, macB, sec(11))
	if mac, _ := c.Lookup(ipA, sec(11)); mac != macB {
		t.Errorf("after a new MAC: Lookup = %v, want %v", mac, macB)
	}
	if got := age(sec(11)); got != 0 {
		t.Errorf("after a new MAC: age %v, want 0", got)
	}
	// Updates every timeout/4 keep the entry alive indefinitely.
	for now := sec(11); now < sec(400); now += sec(10) {
		c.Update(ipA, macB, now)
		if _, ok := c.Lookup(ipA, now+sec(29)); !ok {
			t.Fatalf("entry updated at %v is gone 29 s later", now)
		}
	}
}

func TestCacheStatic(t *testing.T) {
	c := arp.NewCache(10 * time.Second)
	c.Update(ipA, macB, sec(0))
	c.SetStatic(ipA, macA) // replaces a dynamic entry
	c.Update(ipA, macB, sec(1))
	if mac, ok := c.Lookup(ipA, sec(1)); !ok || mac != macA {
		t.Errorf("Update overwrote a static entry: Lookup = %v, %v, want %v, true", mac, ok, macA)
	}
	if n := c.Age(sec(1e6)); n != 0 {
		t.Errorf("Age removed %d static entries", n)
	}
	if mac, ok := c.Lookup(ipA, sec(1e6)); !ok || mac != macA {
		t.Errorf("static entry expired: Lookup = %v, %v", mac, ok)
	}
	want := []arp.Neighbor{{IP: ipA, MAC: macA, Static: true}}
	if diff := cmp.Diff(want, c.Entries(sec(1e6)), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
	c.Delete(ipA)
	if _, ok := c.Lookup(ipA, sec(1e6)); ok {
		t.Errorf("Delete left the static entry")
	}
	c.Update(ipA, macB, sec(2))
	if mac, ok := c.Lookup(ipA, sec(2)); !ok || mac != macB {
		t.Errorf("after Delete: Lookup = %v, %v, want %v, true", mac, ok, macB)
	}
}

func TestCacheEntries(t *testing.T) {
	c := arp.NewCache(10 * time.Second)
	ips := []string{"10.0.0.10", "10.0.0.2", "192.168.1.1", "10.0.0.1", "10.1.0.0", "9.255.255.255"}
	for i, s := range ips {
		c.Update(netip.MustParseAddr(s), header.MAC{2, 0, 0, 0, 0, byte(i)}, sec(float64(i)))
	}
	c.SetStatic(netip.MustParseAddr("10.0.0.3"), macA)
	got := c.Entries(sec(10.5)) // only 10.0.0.10, updated at 0 s, has expired
	want := []arp.Neighbor{
		{IP: netip.MustParseAddr("9.255.255.255"), MAC: header.MAC{2, 0, 0, 0, 0, 5}, Age: 5500 * time.Millisecond},
		{IP: netip.MustParseAddr("10.0.0.1"), MAC: header.MAC{2, 0, 0, 0, 0, 3}, Age: 7500 * time.Millisecond},
		{IP: netip.MustParseAddr("10.0.0.2"), MAC: header.MAC{2, 0, 0, 0, 0, 1}, Age: 9500 * time.Millisecond},
		{IP: netip.MustParseAddr("10.0.0.3"), MAC: macA, Static: true},
		{IP: netip.MustParseAddr("10.1.0.0"), MAC: header.MAC{2, 0, 0, 0, 0, 4}, Age: 6500 * time.Millisecond},
		{IP: netip.MustParseAddr("192.168.1.1"), MAC: header.MAC{2, 0, 0, 0, 0, 2}, Age: 8500 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
}

// TestCacheModel compares the cache with a naive model of its documented
// behaviour over random operations.
func TestCacheModel(t *testing.T) {
	const timeout = int64(8 * time.Second)
	type entry struct {
		mac     header.MAC
		updated int64
		static  bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	c := arp.NewCache(time.Duration(timeout))
	model := map[netip.Addr]entry{}
	ips := []netip.Addr{ipA, ipB, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}
	macs := []header.MAC{macA, macB}
	now := int64(0)
	valid := func(e entry, now int64) bool { return e.static || now-e.updated < timeout }
	for i := range 20000 {
		now += rng.Int64N(int64(time.Second))
		ip, mac := ips[rng.IntN(len(ips))], macs[rng.IntN(len(macs))]
		var op string
		switch r := rng.IntN(100); {
		case r < 60:
			op = fmt.Sprintf("Update(%v, %v)", ip, mac)
			c.Update(ip, mac, now)
			e, ok := model[ip]
			switch {
			case ok && e.static:
			case ok && e.mac == mac && now-e.updated < timeout/4:
			default:
				model[ip] = entry{mac: mac, updated: now}
			}
		case r < 63:
			op = fmt.Sprintf("SetStatic(%v, %v)", ip, mac)
			c.SetStatic(ip, mac)
			model[ip] = entry{mac: mac, static: true}
		case r < 66:
			op = fmt.Sprintf("Delete(%v)", ip)
			c.Delete(ip)
			delete(model, ip)
		case r < 75:
			op = "Age"
			n := 0
			for k, e := range model {
				if !valid(e, now) {
					delete(model, k)
					n++
				}
			}
			if got := c.Age(now); got != n {
				t.Fatalf("op %d %s at %v: removed %d, model %d", i, op, now, got, n)
			}
		default:
			op = "Lookup"
		}
		for _, ip := range ips {
			e, ok := model[ip]
			ok = ok && valid(e, now)
			mac, got := c.Lookup(ip, now)
			if got != ok || ok && mac != e.mac {
				t.Fatalf("op %d %s at %v: Lookup(%v) = %v, %v, model %v, %v", i, op, now, ip, mac, got, e.mac, ok)
			}
		}
	}
}

// TestCacheConcurrent runs every method from several goroutines, for the
// race detector.
func TestCacheConcurrent(t *testing.T) {
	c := arp.NewCache(time.Second)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				now := int64(i) * int64(time.Millisecond)
				ip := netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 16)})
				c.Update(ip, header.MAC{2, 0, 0, 0, byte(w), byte(i)}, now)
				c.Lookup(ip, now)
				switch i % 100 {
				case 0:
					c.Age(now)
				case 1:
					c.Entries(now)
				case 2:
					c.SetStatic(ip, macA)
				case 3:
					c.Delete(ip)
				}
			}
		}()
	}
	wg.Wait()
}
