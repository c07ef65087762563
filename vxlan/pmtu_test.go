package vxlan

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// TestFragNeeded checks the answer to a frame too big for the overlay: an
// ICMP fragmentation needed with the MTU, from the inner destination back
// to the inner source, quoting the packet; and no answer where RFC 1122
// forbids one or DF is clear.
func TestFragNeeded(t *testing.T) {
	srcMAC, dstMAC := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	src, dst := netip.MustParseAddrPort("10.200.0.2:40000"), netip.MustParseAddrPort("10.200.0.130:80")
	mk := func(df bool, proto uint8, icmpType uint8) []byte {
		f := testframe.IPv4{Eth: testframe.Eth{Src: srcMAC, Dst: dstMAC, Tags: []testframe.Tag{testframe.CTag(0, false, 77)}},
			Src: src, Dst: dst, Proto: proto, DF: df, Payload: testframe.Payload(1472)}
		if proto == header.ProtoICMP {
			f.ICMP = testframe.ICMP{Type: icmpType}
		}
		return f.Frame(t)
	}
	in := mk(true, header.ProtoTCP, 0)
	vid, out := fragNeeded(in, 1450)
	if vid != 77 || out == nil {
		t.Fatalf("fragNeeded = %d, %x; want an answer in VLAN 77", vid, out)
	}
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if eth == nil || ip == nil || ic == nil || pk.ErrorLayer() != nil {
		t.Fatalf("answer %v", pk)
	}
	if !bytes.Equal(eth.DstMAC, srcMAC[:]) || !bytes.Equal(eth.SrcMAC, dstMAC[:]) || ip.SrcIP.String() != "10.200.0.130" || ip.DstIP.String() != "10.200.0.2" {
		t.Errorf("answer from %v %v to %v %v", eth.SrcMAC, ip.SrcIP, eth.DstMAC, ip.DstIP)
	}
	if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || ic.Seq != 1450 {
		t.Errorf("ICMP %v next-hop MTU %d, want fragmentation needed, 1450", ic.TypeCode, ic.Seq)
	}
	if len(out) > header.EthernetLen+576 || !bytes.Equal(ic.Payload[:28], in[18:18+28]) {
		t.Errorf("answer of %d bytes quotes %x", len(out), ic.Payload[:28])
	}
	if header.Checksum(out[header.EthernetLen+header.IPv4MinLen:], 0) != 0xffff {
		t.Errorf("ICMP checksum invalid")
	}
	for name, f := range map[string][]byte{
		"no DF":      mk(false, header.ProtoTCP, 0),
		"ICMP error": mk(true, header.ProtoICMP, header.ICMPv4DstUnreachable),
		"short":      in[:30],
	} {
		if _, out := fragNeeded(f, 1450); out != nil {
			t.Errorf("%s: answered %x", name, out)
		}
	}
	if _, out := fragNeeded(mk(true, header.ProtoICMP, header.ICMPv4Echo), 1450); out == nil {
		t.Errorf("echo request with DF: no answer")
	}
}

// TestPMTULimiter checks the answers' rate limit: a burst of pmtuRate,
// then pmtuRate per second.
func TestPMTULimiter(t *testing.T) {
	l := pmtuLimiter{tokens: pmtuRate}
	n := 0
	for range 3 * pmtuRate {
		if l.allow(1) {
			n++
		}
	}
	if n != pmtuRate {
		t.Errorf("burst allowed %d, want %d", n, pmtuRate)
	}
	if !l.allow(1 + 1e9/pmtuRate) {
		t.Errorf("nothing allowed a token's time later")
	}
}
