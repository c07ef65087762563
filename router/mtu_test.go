package router_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/router"
)

// uplinkMTU sets the uplink's MTU to 1400, the MSS clamp on.
func uplinkMTU(c *router.Config) { c.Uplink.MTU = 1400; c.MSSClamp = true }

// udpOut is a UDP datagram of n payload bytes from a1 to the remote server.
func udpOut(t testing.TB, n int, df bool) testframe.IPv4 {
	return testframe.IPv4{Eth: testframe.Eth{Src: a1MAC, Dst: gwAMAC}, Src: ap(a1IP, 5000), Dst: ap(remoteIP, 9000),
		Proto: header.ProtoUDP, ID: 77, DF: df, Payload: testframe.Payload(n)}
}

// reassemble puts the fragments the router sent back together (with the
// package's own reassembler) and checks each against mtu.
func reassemble(t *testing.T, sent []sentFrame, to router.Target, mtu int) []byte {
	t.Helper()
	d := nat.NewDefrag(nat.DefragOptions{})
	for i, s := range sent {
		if s.to != to {
			t.Fatalf("fragment %d to %+v, want %+v", i, s.to, to)
		}
		if n := len(s.frame) - header.EthernetLen; n > mtu {
			t.Errorf("fragment %d: %d bytes of IP, MTU %d", i, n, mtu)
		}
		ipView(t, s.frame) // checksums
		var p header.Parsed
		if err := p.Decode(s.frame); err != nil || !p.Fragment {
			t.Fatalf("fragment %d: %v, fragment=%v", i, err, p.Fragment)
		}
		g, res := d.Add(1, s.frame, &p, 0)
		if res == nat.FragComplete {
			out := make([]byte, g.Len())
			return out[:g.Assemble(out)]
		}
		if res != nat.FragHeld {
			t.Fatalf("fragment %d: %v", i, res)
		}
	}
	t.Fatal("the fragments do not make a datagram")
	return nil
}

// TestFragmentToSmallerMTU: a datagram without DF larger than the uplink's
// MTU leaves in fragments within it, translated, which reassemble to the
// datagram.
func TestFragmentToSmallerMTU(t *testing.T) {
	h := newHarness(t, uplinkMTU)
	h.learnGateway()
	before := stats(h.r)
	f := udpOut(t, 1472, false).Frame(t)
	if v, _ := h.input(vidA, f); v != router.Consumed {
		t.Fatalf("Input = %v, want consumed (sent as fragments)", vs(v))
	}
	whole := reassemble(t, h.sink.take(), toUp, 1400)
	v, _, _ := ipView(t, whole)
	if v.Src != "198.51.100.7:5000" || v.Dst != "203.0.113.9:9000" || v.Payload != string(testframe.Payload(1472)) {
		t.Errorf("reassembled %+v", v)
	}
	checkStats(t, h.r, before, map[string]uint64{"masquerade": 1, "routed": 1, "fragmented": 1})
}

// TestFragNeeded: with DF set the datagram is dropped and its sender gets
// ICMP fragmentation needed with the uplink's MTU, quoting the datagram as
// it sent it (untranslated).
func TestFragNeeded(t *testing.T) {
	h := newHarness(t, uplinkMTU)
	h.learnGateway()
	before := stats(h.r)
	f := udpOut(t, 1472, true).Frame(t)
	if v, _ := h.input(vidA, append([]byte(nil), f...)); v != router.Drop {
		t.Fatalf("Input = %v, want drop", vs(v))
	}
	sent := h.sink.take()
	if len(sent) != 1 {
		t.Fatalf("sent %d frames, want 1", len(sent))
	}
	if sent[0].to != toA {
		t.Errorf("sent to %+v, want %+v", sent[0].to, toA)
	}
	v, _, l4 := ipView(t, sent[0].frame)
	if v.Src != gwA.String() || v.Dst != a1IP.String() || v.EthDst != a1MAC.String() ||
		v.ICMP != layers.CreateICMPv4TypeCode(header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded).String() {
		t.Errorf("ICMP error %+v", v)
	}
	if mtu := binary.BigEndian.Uint16(l4[6:]); mtu != 1400 {
		t.Errorf("next-hop MTU %d, want 1400", mtu)
	}
	quote := l4[8:]
	orig := testframe.Datagram(t, f)
	// Addresses and ports as a1 sent them (the TTL is one less).
	if !bytes.Equal(quote[12:28], orig[12:28]) || !header.IPv4(quote).IsChecksumValid() {
		t.Errorf("quote %x, want the datagram as sent %x", quote[:28], orig[:28])
	}
	checkStats(t, h.r, before, map[string]uint64{"masquerade": 1, "routed": 1, "drop-too-big": 1, "icmp-error-sent": 1})
}

// TestReassembly: fragments in reverse order (the first one last) are held
// and the datagram goes on once complete, translated once, in fragments no
// larger than the largest that came in.
func TestReassembly(t *testing.T) {
	h := newHarness(t, nil)
	h.learnGateway()
	before := stats(h.r)
	whole := udpOut(t, 3000, false).Frame(t)
	var frags [][]byte
	d := testframe.Datagram(t, whole)
	for off := 0; off < len(d)-20; off += 1000 {
		end := min(off+1000, len(d)-20)
		fr := append(append([]byte(nil), whole[:header.EthernetLen+20]...), d[20+off:20+end]...)
		ip := header.IPv4(fr[header.EthernetLen:])
		ip.SetTotalLength(uint16(20 + end - off))
		w := uint16(off / 8)
		if end < len(d)-20 {
			w |= header.IPv4FlagMF
		}
		binary.BigEndian.PutUint16(fr[header.EthernetLen+6:], w)
		ip.SetChecksum(0)
		ip.SetChecksum(ip.CalculateChecksum())
		frags = append(frags, fr)
	}
	for i := len(frags) - 1; i > 0; i-- {
		if v, _ := h.input(vidA, frags[i]); v != router.Consumed || len(h.sink.sent) != 0 {
			t.Fatalf("fragment %d: %v, %d sent; want held", i, vs(v), len(h.sink.sent))
		}
	}
	if v, _ := h.input(vidA, frags[0]); v != router.Consumed {
		t.Fatalf("first fragment, last: %v", vs(v))
	}
	got := reassemble(t, h.sink.take(), toUp, 1020)
	if v, _, _ := ipView(t, got); v.Src != "198.51.100.7:5000" || v.Payload != string(testframe.Payload(3000)) {
		t.Errorf("reassembled %+v", v)
	}
	checkStats(t, h.r, before, map[string]uint64{"masquerade": 1, "routed": 1, "reassembled": 1, "fragmented": 1})
}

// TestGSOResized: a UDP segmentation-offload super-frame toward a smaller
// MTU keeps going whole, with a GSO size whose segments fit.
func TestGSOResized(t *testing.T) {
	h := newHarness(t, uplinkMTU)
	h.learnGateway()
	f := udpOut(t, 8000, false).Frame(t)
	vh := make(header.VirtioNet, header.VirtioNetLen)
	vh.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, GSOType: header.VirtioNetGSOUDPL4, GSOSize: 1472,
		CsumStart: header.EthernetLen + 20, CsumOffset: header.UDPChecksumOffset, HdrLen: header.EthernetLen + 28})
	var p header.Parsed
	p.Decode(f)
	pkt := router.Packet{VID: vidA, InPort: inPort, Frame: f, Parsed: &p, Virtio: vh, Counts: countsFor(h.r)}
	if v, to := h.r.Input(&pkt, h.sink, h.now); v != router.Forward || to != toUp {
		t.Fatalf("Input = %v %+v", vs(v), to)
	}
	if vh.GSOSize() != 1372 {
		t.Errorf("GSO size %d, want 1372 (1400 - 28)", vh.GSOSize())
	}
}

// TestMSSClamp: a SYN to the outside through a 1400-byte uplink leaves
// with MSS 1360 and a valid checksum.
func TestMSSClamp(t *testing.T) {
	h := newHarness(t, uplinkMTU)
	h.learnGateway()
	f := frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, 40000), Dst: ap(remoteIP, 443), Proto: header.ProtoTCP,
		TCP: testframe.TCP{Flags: header.TCPFlagSYN, Seq: 1, Window: 64240, Options: testframe.SYNOptions()}})
	if v, _ := h.input(vidA, f); v != router.Forward {
		t.Fatalf("Input = %v", vs(v))
	}
	ipView(t, f) // the checksum still holds
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	for _, o := range tcp.Options {
		if o.OptionType == layers.TCPOptionKindMSS {
			if mss := binary.BigEndian.Uint16(o.OptionData); mss != 1360 {
				t.Errorf("MSS %d, want 1360", mss)
			}
		}
	}
}

// checkRST checks that the router answered the TCP segment in with one
// reset, from where it was sent to, as RFC 793 §3.4 builds it.
func checkRST(t *testing.T, sent []sentFrame, in []byte) {
	t.Helper()
	if len(sent) != 1 {
		t.Fatalf("sent %d frames, want one reset", len(sent))
	}
	v, _, _ := ipView(t, sent[0].frame)
	var p header.Parsed
	p.Decode(in)
	if v.Src != ap(p.DstIP, p.DstPort).String() || v.Dst != ap(p.SrcIP, p.SrcPort).String() || !strings.Contains(v.TCPFlags, "R") {
		t.Errorf("reset %+v for %v → %v", v, ap(p.SrcIP, p.SrcPort), ap(p.DstIP, p.DstPort))
	}
}
