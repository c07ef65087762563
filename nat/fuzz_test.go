package nat

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

var genSeeds = flag.Bool("genseeds", false, "rewrite testdata/fuzz/FuzzTranslate from real frames")

// fuzzConns are the connections every FuzzTranslate input meets, so that
// mutated replies, fragments and ICMP errors can match them.
var fuzzConns struct {
	once   sync.Once
	frames []fuzzConn
}

type fuzzConn struct {
	zone, replyZone Zone
	a               Action
	frame           []byte
}

func fuzzSetup(t testing.TB) []fuzzConn {
	fuzzConns.once.Do(func() {
		first, _ := ip4(ap(inner1, 6000), ap(server, 53), header.ProtoUDP, 0, "0123456789abcdef0123456789").Fragments(t, 16)
		fuzzConns.frames = []fuzzConn{
			{zoneNet, zoneUplink, masq(), tcpFrame(t, ap(inner1, 40000), ap(server, 443), fSYN, "")},
			{zoneNet, zoneUplink, masq(), udpFrame(t, ap(inner1, 5353), ap(server, 53), "query")},
			{zoneNet, zoneUplink, masq(), echoFrame(t, inner1, server, header.ICMPv4Echo, 0x77, 1)},
			{zoneUplink, zoneNet, Action{DNAT: true, DNATAddr: inner1, DNATPort: 80}, tcpFrame(t, ap(client, 51000), ap(uplink, 8080), fSYN, "")},
			{zoneNet, zoneUplink, masq(), first},
		}
	})
	return fuzzConns.frames
}

// fuzzActions are the actions FuzzTranslate picks from for new connections.
var fuzzActions = []Action{
	{},
	masq(),
	{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{30000, 30001}},
	{DNAT: true, DNATAddr: inner1, DNATPort: 80},
	{DNAT: true, DNATAddr: inner1, DNATPort: 80, SNAT: true, SNATAddr: gateway},
}

// checksumState records which checksums of a frame verify: the IPv4
// header, the complete L4 checksum (unfragmented packets whose segment is
// all there), and the IPv4 header quoted by an ICMP error.
type checksumState struct{ ip, l4, inner, l4Checked, innerChecked bool }

func checksums(frame []byte, p *header.Parsed) checksumState {
	var s checksumState
	if p.IPVersion != 4 || p.L3Off == 0 {
		return s
	}
	ip := frame[p.L3Off:p.L3End]
	s.ip = sum(ip[:int(ip[0]&0x0f)*4]) == 0xffff
	if p.L4Off != 0 && !p.Fragment {
		_, s.l4 = l4Valid(ip)
		s.l4Checked = true
	}
	if p.Proto == header.ProtoICMP && p.L4Off != 0 && p.PayloadOff+20 <= p.L3End {
		in := frame[p.PayloadOff:p.L3End]
		if hl := int(in[0]&0x0f) * 4; hl >= 20 && hl <= len(in) {
			s.inner = sum(in[:hl]) == 0xffff
			s.innerChecked = true
		}
	}
	return s
}

// FuzzTranslate feeds arbitrary frames, arriving in an arbitrary zone,
// through Decode, Lookup or Create, and Apply: nothing may panic or write
// out of bounds, a rejected frame is left untouched, the translated frame
// decodes to what Apply left in p, and every checksum that verified before
// translation verifies after it.
func FuzzTranslate(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte, zone, action uint8, partial bool) {
		tb := New(Options{Seed: 1, MaxEntries: 16})
		for _, fc := range fuzzSetup(t) {
			w := bytes.Clone(fc.frame)
			p := decode(t, w)
			c, err := tb.Create(fc.zone, fc.replyZone, p, fc.a, 0)
			if err != nil {
				t.Fatalf("setup Create: %v", err)
			}
			tb.Apply(w, p, c, Original, false, 0)
		}
		var p header.Parsed
		derr := p.Decode(frame)
		orig := bytes.Clone(frame)
		before := checksums(frame, &p)
		z := Zone(zone)
		c, d, ok := tb.Lookup(z, frame, &p, 1)
		if !ok {
			var err error
			if c, err = tb.Create(z, zoneUplink, &p, fuzzActions[int(action)%len(fuzzActions)], 1); err != nil {
				if !bytes.Equal(frame, orig) {
					t.Fatal("Lookup or Create modified the frame")
				}
				return
			}
			d = Original
		}
		v := tb.Apply(frame, &p, c, d, partial, 1)
		if v != VerdictAccept {
			if !bytes.Equal(frame, orig) {
				t.Fatalf("Apply = %v but modified the frame:\n%x\n%x", v, orig, frame)
			}
			return
		}
		var q header.Parsed
		if err := q.Decode(frame); err != derr {
			t.Fatalf("translated frame decodes with %v, was %v", err, derr)
		}
		if q.SrcIP != p.SrcIP || q.DstIP != p.DstIP || q.SrcPort != p.SrcPort || q.DstPort != p.DstPort {
			t.Errorf("p after Apply %v:%d→%v:%d, frame %v:%d→%v:%d", p.SrcIP, p.SrcPort, p.DstIP, p.DstPort,
				q.SrcIP, q.SrcPort, q.DstIP, q.DstPort)
		}
		after := checksums(frame, &q)
		if before.ip && !after.ip {
			t.Errorf("IPv4 header checksum broken:\n%x\n%x", orig, frame)
		}
		if !partial && before.l4Checked && before.l4 && !after.l4 {
			t.Errorf("L4 checksum broken (%v):\n%x\n%x", d, orig, frame)
		}
		if before.innerChecked && before.inner && !after.inner {
			t.Errorf("quoted IPv4 checksum broken:\n%x\n%x", orig, frame)
		}
	})
}

// TestFuzzSeeds checks that the FuzzTranslate seed corpus is what these
// real frames make (so a change to the frames or the encoding cannot leave
// it stale), and rewrites it when run with -genseeds.
func TestFuzzSeeds(t *testing.T) {
	fuzzSetup(t)
	sent := func(f []byte, zone, replyZone Zone, a Action) []byte {
		tb := New(Options{Seed: 1})
		w := bytes.Clone(f)
		mustCreate(t, tb, zone, replyZone, w, a, 0)
		return w
	}
	udpOut := udpFrame(t, ap(inner1, 5353), ap(server, 53), "query")
	tcpOut := tcpFrame(t, ap(inner1, 40000), ap(server, 443), fSYN, "")
	echoOut := echoFrame(t, inner1, server, header.ICMPv4Echo, 0x77, 1)
	first, rest := ip4(ap(inner1, 6000), ap(server, 53), header.ProtoUDP, 0, "0123456789abcdef0123456789").Fragments(t, 16)
	tagged := append([]byte(nil), udpOut[:12]...)
	tagged = append(tagged, 0x81, 0x00, 0x00, 0x0a)
	tagged = append(tagged, udpOut[12:]...)
	v6 := make([]byte, 14+40+8)
	v6[12], v6[13], v6[14] = 0x86, 0xdd, 0x60
	v6[19], v6[20] = 8, header.ProtoUDP
	withOpts := bytes.Clone(udpOut)
	{ // IHL 6 with a NOP option: the header grows by 4 bytes.
		ip := header.IPv4(withOpts[14:])
		b := append([]byte(nil), withOpts[:14+20]...)
		b = append(b, 1, 1, 1, 1)
		b = append(b, withOpts[14+20:14+int(ip.TotalLength())]...)
		b[14] = 0x46
		binary.BigEndian.PutUint16(b[16:], ip.TotalLength()+4)
		binary.BigEndian.PutUint16(b[24:], 0)
		binary.BigEndian.PutUint16(b[24:], ^sum(b[14:38]))
		withOpts = b
	}
	partialTCP, _ := testframe.Partial(t, tcpOut, 0)

	seeds := []struct {
		name    string
		frame   []byte
		zone    Zone
		action  uint8
		partial bool
	}{
		{"tcp-syn", tcpOut, zoneNet, 1, false},
		{"tcp-synack-reply", tcpFrame(t, ap(server, 443), ap(uplink, 40000), fSYN|fACK, ""), zoneUplink, 0, false},
		{"tcp-partial", partialTCP, zoneNet, 1, true},
		{"tcp-new", tcpFrame(t, ap(inner2, 1234), ap(server, 80), fSYN, "hello"), zoneNet, 2, false},
		{"tcp-rst-reply", tcpFrame(t, ap(server, 443), ap(uplink, 40000), fRST, ""), zoneUplink, 0, false},
		{"udp", udpOut, zoneNet, 1, false},
		{"udp-reply", udpFrame(t, ap(server, 53), ap(uplink, 5353), "answer"), zoneUplink, 0, false},
		{"udp-options", withOpts, zoneNet, 1, false},
		{"udp-vlan", tagged, zoneNet, 1, false},
		{"udp-dnat-hairpin", udpFrame(t, ap(inner2, 999), ap(uplink, 8080), "x"), zoneNet, 4, false},
		{"echo", echoOut, zoneNet, 1, false},
		{"echo-reply", echoFrame(t, server, uplink, header.ICMPv4EchoReply, 0x77, 1), zoneUplink, 0, false},
		{"dnat-syn", tcpFrame(t, ap(client, 51000), ap(uplink, 8080), fSYN, ""), zoneUplink, 3, false},
		{"dnat-reply", tcpFrame(t, ap(inner1, 80), ap(client, 51000), fSYN|fACK, ""), zoneNet, 0, false},
		{"port-unreachable", icmpErrorFrame(t, server, uplink, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0, testframe.Datagram(t, sent(udpOut, zoneNet, zoneUplink, masq()))), zoneUplink, 0, false},
		{"time-exceeded-tcp", icmpErrorFrame(t, router2, uplink, header.ICMPv4TimeExceeded, 0, 0, testframe.Datagram(t, sent(tcpOut, zoneNet, zoneUplink, masq()))[:28]), zoneUplink, 0, false},
		{"frag-needed-tcp", icmpErrorFrame(t, router2, uplink, header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded, 1400, testframe.Datagram(t, sent(tcpOut, zoneNet, zoneUplink, masq()))), zoneUplink, 0, false},
		{"time-exceeded-echo", icmpErrorFrame(t, router2, uplink, header.ICMPv4TimeExceeded, 0, 0, testframe.Datagram(t, sent(echoOut, zoneNet, zoneUplink, masq()))), zoneUplink, 0, false},
		{"port-unreachable-dnat", icmpErrorFrame(t, inner1, client, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0, testframe.Datagram(t, sent(tcpFrame(t, ap(client, 51000), ap(uplink, 8080), fSYN, ""), zoneUplink, zoneNet, Action{DNAT: true, DNATAddr: inner1, DNATPort: 80}))), zoneNet, 0, false},
		{"frag-first", first, zoneNet, 1, false},
		{"frag-rest", rest, zoneNet, 1, false},
		{"ipv6", v6, zoneNet, 1, false},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzTranslate")
	if *genSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%q)\nbyte(%q)\nbool(%v)\n", s.frame, byte(s.zone), s.action, s.partial)
		path := filepath.Join(dir, s.name)
		if *genSeeds {
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != body {
			t.Errorf("%s is stale or missing (%v): run go test -run TestFuzzSeeds -genseeds ./nat", path, err)
		}
	}
}
