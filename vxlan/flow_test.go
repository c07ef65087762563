package vxlan

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tcpFrame is a tagged TCP/IPv4 or /IPv6 frame of a flow with payload.
func tcpFrame(tb testing.TB, sip, dip netip.Addr, sport, dport uint16, flags string, payload []byte) []byte {
	eth := &layers.Ethernet{DstMAC: hw(macB), SrcMAC: hw(macA), EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if sip.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: nip(sip), DstIP: nip(dip)}
		ip, ipl = l, l
	} else {
		l := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: nip(sip), DstIP: nip(dip)}
		ip, ipl = l, l
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: rand.Uint32(), Window: 100,
		SYN: flags == "S", ACK: flags != "S", FIN: flags == "F"}
	tcp.SetNetworkLayerForChecksum(ip)
	return tagged(serialize(tb, eth, ipl, tcp, gopacket.Payload(payload)), 10)
}

// TestFlowHashStable checks that every frame of a flow hashes alike
// (whatever its payload, flags or length) and that flows differing in any
// one field of the 5-tuple hash differently.
func TestFlowHashStable(t *testing.T) {
	const seed = 12345
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	for _, c := range []struct {
		name string
		a, b netip.Addr
	}{{"IPv4", a4, b4}, {"IPv6", a6, b6}} {
		h := flowHash(tcpFrame(t, c.a, c.b, 1000, 80, "S", nil), 16, seed)
		for _, f := range [][]byte{
			tcpFrame(t, c.a, c.b, 1000, 80, "A", make([]byte, 1400)),
			tcpFrame(t, c.a, c.b, 1000, 80, "F", []byte("bye")),
		} {
			if got := flowHash(f, 16, seed); got != h {
				t.Errorf("%s: frames of one flow hash to %x and %x", c.name, h, got)
			}
		}
		for _, f := range [][]byte{
			tcpFrame(t, c.b, c.a, 1000, 80, "S", nil), // reversed addresses
			tcpFrame(t, c.a, c.b, 1001, 80, "S", nil),
			tcpFrame(t, c.a, c.b, 1000, 81, "S", nil),
			tcpFrame(t, c.a, c.b, 80, 1000, "S", nil), // reversed ports
		} {
			if flowHash(f, 16, seed) == h {
				t.Errorf("%s: two flows hash alike", c.name)
			}
		}
		if flowHash(tcpFrame(t, c.a, c.b, 1000, 80, "S", nil), 16, seed+1) == h {
			t.Errorf("%s: the seed does not change the hash", c.name)
		}
	}
	// Every fragment of a datagram hashes alike: ports are not used.
	first := tagged(udpFrame(t, macB, macA, a4, b4, 5, 6, make([]byte, 100)), 10)
	first[18+6] |= 0x20 // MF
	later := tagged(udpFrame(t, macB, macA, a4, b4, 9, 9, make([]byte, 100)), 10)
	later[18+7] = 100 // fragment offset
	if flowHash(first, 16, seed) != flowHash(later, 16, seed) {
		t.Errorf("fragments of a datagram hash differently")
	}
	// Non-IP frames hash by MACs and EtherType.
	arp1, arp2 := tagged(arpRequest(t, macA, ipA, ipB), 10), tagged(arpRequest(t, macA, ipA, netip.MustParseAddr("10.50.0.99")), 10)
	if flowHash(arp1, 16, seed) != flowHash(arp2, 16, seed) {
		t.Errorf("ARP frames between the same MACs hash differently")
	}
	if flowHash(arp1, 16, seed) == flowHash(tagged(arpRequest(t, macC, ipA, ipB), 10), 16, seed) {
		t.Errorf("ARP frames from different MACs hash alike")
	}
	// Short frames do not panic.
	for n := range 60 {
		flowHash(first[:n], 16, seed)
		flowHash(tcpFrame(t, a6, b6, 1, 2, "S", nil)[:n], 16, seed)
	}
}

// TestFlowHashSpread checks with a chi-square test that random flows spread
// evenly over 16 source sockets: the statistic stays under the 0.999
// quantile of χ²(15), 37.7, and every socket gets flows.
func TestFlowHashSpread(t *testing.T) {
	const buckets, flows = 16, 16000
	r := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		var count [buckets]int
		base := tcpFrame(t, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, "S", nil)
		if v6 {
			base = tcpFrame(t, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 1, 2, "S", nil)
		}
		for range flows {
			// Typical traffic: one client address and random ports.
			f := append([]byte(nil), base...)
			l4 := 18 + 20
			if v6 {
				l4 = 18 + 40
			}
			f[l4], f[l4+1] = byte(r.Uint32()), byte(r.Uint32())
			count[pick(flowHash(f, 16, 99), buckets)]++
		}
		chi := 0.0
		exp := float64(flows) / buckets
		for _, c := range count {
			chi += (float64(c) - exp) * (float64(c) - exp) / exp
		}
		t.Logf("IPv6 %v: per socket %v, χ² = %.1f", v6, count, chi)
		if chi > 37.7 {
			t.Errorf("IPv6 %v: χ² = %.1f over 15 degrees of freedom: not uniform (%v)", v6, chi, count)
		}
	}
}

func BenchmarkFlowHash(b *testing.B) {
	f := tcpFrame(b, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, "A", make([]byte, 1400))
	b.ReportAllocs()
	var h uint64
	for b.Loop() {
		h += flowHash(f, 16, h)
	}
}
