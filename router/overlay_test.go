package router_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// withMTU gives network alpha an MTU of 1450, as an overlay network on a
// 1500-byte underlay has.
func withMTU(c *router.Config) { c.Networks[0].MTU = 1450 }

// big returns a frame of an IPv4 packet of l3 bytes from src to dst
// (TCP, payload padded), with DF as given.
func big(t *testing.T, srcMAC, dstMAC header.MAC, src, dst netip.AddrPort, l3 int, df bool) []byte {
	t.Helper()
	f := testframe.IPv4{Src: src, Dst: dst, Proto: header.ProtoTCP, DF: df, TCP: testframe.TCP{Flags: header.TCPFlagACK},
		Payload: make([]byte, l3-header.IPv4MinLen-header.TCPMinLen)}
	return frame4(t, srcMAC, dstMAC, f)
}

// checkFragNeeded checks that sent is one ICMP fragmentation needed with
// next-hop MTU mtu from (srcMAC, src) to the original sender, to target
// to, quoting orig's IP header and first 8 bytes.
func checkFragNeeded(t *testing.T, sent []sentFrame, to router.Target, srcMAC header.MAC, src netip.Addr, mtu int, orig []byte) {
	t.Helper()
	if len(sent) != 1 || sent[0].to != to {
		t.Fatalf("sent %d frames (%+v), want one ICMP error to %+v", len(sent), sent, to)
	}
	pk := gopacket.NewPacket(sent[0].frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if eth == nil || ip == nil || ic == nil {
		t.Fatalf("not an ICMP packet: %v", pk)
	}
	if header.MAC(eth.SrcMAC) != srcMAC || !bytes.Equal(eth.DstMAC, orig[6:12]) || addr(ip.SrcIP) != src ||
		!bytes.Equal(ip.DstIP, orig[header.EthernetLen+12:header.EthernetLen+16]) {
		t.Errorf("ICMP from %v %v to %v %v", eth.SrcMAC, ip.SrcIP, eth.DstMAC, ip.DstIP)
	}
	if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || int(ic.Seq) != mtu {
		t.Errorf("ICMP %v with next-hop MTU %d, want fragmentation needed with %d", ic.TypeCode, ic.Seq, mtu)
	}
	if !sumValid(sent[0].frame[header.EthernetLen+header.IPv4MinLen:header.EthernetLen+int(ip.Length)], 0) {
		t.Errorf("ICMP checksum invalid")
	}
	// The quote is of the packet as routed: its TTL (and so its header
	// checksum) one less.
	if q, o := ic.Payload, orig[header.EthernetLen:]; len(q) < 28 || !bytes.Equal(q[:8], o[:8]) || !bytes.Equal(q[12:28], o[12:28]) || q[8] != o[8]-1 {
		t.Errorf("the error quotes % x, want the original header % x", q[:min(len(q), 28)], orig[header.EthernetLen:header.EthernetLen+28])
	}
}

// TestNetworkMTU checks a network with an MTU, as an overlay network has
// (1450 on a 1500-byte underlay): a packet routed into it that is longer
// and has DF set is dropped and answered with ICMP fragmentation needed
// carrying 1450, from the router's address on the side it came from; one
// that fits is routed, one without DF is fragmented, and a network
// without an MTU takes 1500 bytes.
func TestNetworkMTU(t *testing.T) {
	h := newHarness(t, withMTU)
	h.learnGateway()

	before := stats(h.r)
	orig := big(t, hostMAC, legMAC, ap(hostIP, 40000), ap(a1IP, 80), 1451, true)
	if v, _ := h.routed(hostPort, bytes.Clone(orig)); v != router.Drop {
		t.Fatalf("1451 bytes with DF into alpha: %v, want drop", vs(v))
	}
	checkFragNeeded(t, h.sink.take(), toHost, legMAC, legIP, 1450, orig)
	checkStats(t, h.r, before, map[string]uint64{"routed": 1, "drop-too-big": 1, "icmp-error-sent": 1})

	if v, to := h.routed(hostPort, big(t, hostMAC, legMAC, ap(hostIP, 40000), ap(a1IP, 80), 1450, true)); v != router.Forward || to != toA {
		t.Errorf("1450 bytes with DF: %v to %+v, want forward into alpha", vs(v), to)
	}
	if v, _ := h.routed(hostPort, big(t, hostMAC, legMAC, ap(hostIP, 40000), ap(a1IP, 80), 1451, false)); v != router.Consumed {
		t.Errorf("1451 bytes without DF: %v, want consumed (sent as fragments)", vs(v))
	}
	if sent := h.sink.take(); len(sent) != 2 || sent[0].to != toA {
		t.Errorf("sent %d fragments (%+v), want 2 into alpha", len(sent), sent)
	}
	if v, _ := h.routed(hostPort, big(t, hostMAC, legMAC, ap(hostIP, 40000), ap(b1IP, 80), 1500, true)); v != router.Forward {
		t.Errorf("1500 bytes into beta: %v, want forward", vs(v))
	}

	// From outside to a2's published port 8080: answered from the uplink
	// address, quoting the packet as the client sent it.
	orig = big(t, upGwMAC, upMAC, ap(clientIP, 50000), ap(upIP, 8080), 1500, true)
	orig[header.EthernetLen+header.IPv4MinLen+13] = header.TCPFlagSYN // a connection's first packet
	if v, _ := h.routed(upPort, bytes.Clone(orig)); v != router.Drop {
		t.Fatalf("1500 bytes to a published port: %v, want drop", vs(v))
	}
	checkFragNeeded(t, h.sink.take(), toUp, upMAC, upIP, 1450, orig)
}

// remoteARP is a RemoteNeighbors that knows one address.
type remoteARP struct {
	vid vlan.ID
	ip  netip.Addr
	mac header.MAC
}

func (r remoteARP) LookupARP(vid vlan.ID, ip netip.Addr, in port.ID) (header.MAC, bool) {
	return r.mac, vid == r.vid && ip == r.ip && in == inPort
}

// TestRemoteARPSuppression checks that ARP requests for an endpoint on
// another host are answered from Config.Remote, and that gateway and
// local endpoint answers come first.
func TestRemoteARPSuppression(t *testing.T) {
	remoteIP := netip.MustParseAddr("172.18.0.200")
	remoteMAC := header.MAC{0x02, 0x42, 0xac, 0x12, 0, 0xc8}
	h := newHarness(t, func(c *router.Config) { c.Remote = remoteARP{vid: vidA, ip: remoteIP, mac: remoteMAC} })
	before := stats(h.r)
	f := testframe.ARPRequest(a1MAC, a1IP, remoteIP).Frame(t)
	if v, to := h.input(vidA, f); v != router.Forward || to != toA {
		t.Fatalf("request for a remote endpoint: %v to %+v, want forward into alpha", vs(v), to)
	}
	want := arpView{EthDst: a1MAC.String(), EthSrc: remoteMAC.String(), Op: layers.ARPReply,
		SHA: remoteMAC.String(), SPA: remoteIP.String(), THA: a1MAC.String(), TPA: a1IP.String()}
	if got := decodeARP(t, f); got != want {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	checkStats(t, h.r, before, map[string]uint64{"arp-suppressed": 1})
	// Unknown addresses, and requests in other networks, are bridged.
	for _, c := range []struct {
		vid vlan.ID
		f   []byte
	}{
		{vidA, testframe.ARPRequest(a1MAC, a1IP, netip.MustParseAddr("172.18.0.201")).Frame(t)},
		{vidB, testframe.ARPRequest(b1MAC, b1IP, remoteIP).Frame(t)},
	} {
		if v, _ := h.input(c.vid, c.f); v != router.Pass {
			t.Errorf("request %x: %v, want pass", c.f, vs(v))
		}
	}
	// With suppression off, nothing is answered.
	h = newHarness(t, func(c *router.Config) {
		c.Remote = remoteARP{vid: vidA, ip: remoteIP, mac: remoteMAC}
		c.NoARPSuppression = true
	})
	if v, _ := h.input(vidA, testframe.ARPRequest(a1MAC, a1IP, remoteIP).Frame(t)); v != router.Pass {
		t.Errorf("with suppression off: %v, want pass", vs(v))
	}
}
