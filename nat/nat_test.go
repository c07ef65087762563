package nat

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

func TestMasqueradeRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		out, back func(t testing.TB) []byte
		want      tuple5 // the outbound packet after translation
		wantBack  tuple5 // the reply after translation
	}{{
		name: "tcp",
		out: func(t testing.TB) []byte {
			return tcpFrame(t, ap(inner1, 40000), ap(server, 443), header.TCPFlagSYN, "")
		},
		back: func(t testing.TB) []byte {
			return tcpFrame(t, ap(server, 443), ap(uplink, 40000), header.TCPFlagSYN|header.TCPFlagACK, "")
		},
		want:     tuple5{uplink, server, 40000, 443},
		wantBack: tuple5{server, inner1, 443, 40000},
	}, {
		name: "udp",
		out: func(t testing.TB) []byte {
			return udpFrame(t, ap(inner1, 5353), ap(server, 53), "query")
		},
		back: func(t testing.TB) []byte {
			return udpFrame(t, ap(server, 53), ap(uplink, 5353), "answer!")
		},
		want:     tuple5{uplink, server, 5353, 53},
		wantBack: tuple5{server, inner1, 53, 5353},
	}, {
		name: "icmp echo",
		out: func(t testing.TB) []byte {
			return echoFrame(t, inner1, server, header.ICMPv4Echo, 0x77, 1)
		},
		back: func(t testing.TB) []byte {
			return echoFrame(t, server, uplink, header.ICMPv4EchoReply, 0x77, 1)
		},
		want:     tuple5{uplink, server, 0x77, 0x77},
		wantBack: tuple5{server, inner1, 0x77, 0x77},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New(Options{Seed: 1})
			f := tt.out(t)
			c := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
			if got := wireTuple(t, f); got != tt.want {
				t.Errorf("outbound = %+v, want %+v", got, tt.want)
			}
			checkChecksums(t, f)
			p := decode(t, f) // the decoded frame equals what Apply left in p
			if c.Tuple(Reply).Dst != p.SrcIP {
				t.Errorf("reply tuple %v does not invert %v", c.Tuple(Reply), p.SrcIP)
			}

			r := tt.back(t)
			if got := mustApply(t, tb, zoneUplink, r, Reply, sec(1)); got != c {
				t.Fatalf("reply found another connection")
			}
			if got := wireTuple(t, r); got != tt.wantBack {
				t.Errorf("reply = %+v, want %+v", got, tt.wantBack)
			}
			checkChecksums(t, r)

			// A second outbound packet finds the connection too.
			f2 := tt.out(t)
			mustApply(t, tb, zoneNet, f2, Original, sec(2))
			checkChecksums(t, f2)
			es := tb.Entries(sec(2))
			if len(es) != 1 || es[0].Packets != [2]uint64{2, 1} {
				t.Errorf("Entries = %+v, want one with packets {2 1}", es)
			}
		})
	}
}

// TestApplyUpdatesParsed checks that Apply leaves p describing the
// rewritten frame.
func TestApplyUpdatesParsed(t *testing.T) {
	tb := New(Options{Seed: 1})
	f := udpFrame(t, ap(inner1, 5000), ap(server, 53), "x")
	p := decode(t, f)
	c, err := tb.Create(zoneNet, zoneUplink, p, Action{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{20000, 20000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tb.Apply(f, p, c, Original, false, 0)
	want := decode(t, f)
	if diff := cmp.Diff(want, p, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Parsed after Apply (-decoded +got):\n%s", diff)
	}
}

// complete finishes a CHECKSUM_PARTIAL frame as a NIC would: the sum from
// the L4 header to the end, field included, inverted into the field.
func complete(f []byte, p *header.Parsed, off int) {
	binary.BigEndian.PutUint16(f[off:], ^header.Checksum(f[p.L4Off:p.L3End], 0))
}

func TestPartialChecksum(t *testing.T) {
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP} {
		t.Run(map[uint8]string{6: "tcp", 17: "udp"}[proto], func(t *testing.T) {
			tb := New(Options{Seed: 1})
			// Take port 40000 so the connection under test needs a new
			// source port: partial sums must ignore port changes.
			mustCreate(t, tb, zoneNet, zoneUplink, ip4(ap(inner2, 40000), ap(server, 443), proto, header.TCPFlagSYN, "").Frame(t), masq(), 0)

			f, vh := testframe.Partial(t, ip4(ap(inner1, 40000), ap(server, 443), proto, header.TCPFlagSYN, "some payload bytes").Frame(t), 0)
			off := int(vh.CsumStart + vh.CsumOffset)
			p := decode(t, f)
			c, err := tb.Create(zoneNet, zoneUplink, p, masq(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if v := tb.Apply(f, p, c, Original, true, 0); v != VerdictAccept {
				t.Fatalf("Apply = %v", v)
			}
			if p.SrcPort == 40000 {
				t.Fatalf("source port kept although taken")
			}
			ip := header.IPv4(f[p.L3Off:])
			if got, want := binary.BigEndian.Uint16(f[off:]), ip.PseudoHeaderChecksum(uint16(p.L3End-p.L4Off)); got != want {
				t.Errorf("partial field = %#04x, want pseudo-header sum %#04x", got, want)
			}
			complete(f, p, off)
			checkChecksums(t, f)

			// The reply, partial too.
			r, vh := testframe.Partial(t, ip4(ap(server, 443), ap(uplink, p.SrcPort), proto, header.TCPFlagSYN|header.TCPFlagACK, "reply").Frame(t), 0)
			off = int(vh.CsumStart + vh.CsumOffset)
			rp := decode(t, r)
			c2, d, ok := tb.Lookup(zoneUplink, r, rp, 0)
			if !ok || c2 != c || d != Reply {
				t.Fatalf("Lookup(reply) = %v, %v, %v", c2, d, ok)
			}
			tb.Apply(r, rp, c, d, true, 0)
			complete(r, rp, off)
			checkChecksums(t, r)
			if got, want := wireTuple(t, r), (tuple5{server, inner1, 443, 40000}); got != want {
				t.Errorf("reply = %+v, want %+v", got, want)
			}
		})
	}
}

func TestUDPZeroChecksum(t *testing.T) {
	tb := New(Options{Seed: 1})
	f := udpFrame(t, ap(inner1, 1000), ap(server, 2000), "no checksum")
	p := decode(t, f)
	binary.BigEndian.PutUint16(f[p.L4Off+6:], 0)
	mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
	if cs := binary.BigEndian.Uint16(f[p.L4Off+6:]); cs != 0 {
		t.Errorf("UDP checksum = %#04x, want 0 kept", cs)
	}
	if ipOK, _ := l4Valid(f[p.L3Off:]); !ipOK {
		t.Errorf("IPv4 header checksum invalid")
	}
}

func TestDNAT(t *testing.T) {
	tb := New(Options{Seed: 1})
	// A published port: uplink:8080 → inner1:80.
	dnat := Action{DNAT: true, DNATAddr: inner1, DNATPort: 80}
	f := tcpFrame(t, ap(client, 51000), ap(uplink, 8080), header.TCPFlagSYN, "")
	c := mustCreate(t, tb, zoneUplink, zoneNet, f, dnat, 0)
	if got, want := wireTuple(t, f), (tuple5{client, inner1, 51000, 80}); got != want {
		t.Errorf("inbound = %+v, want %+v", got, want)
	}
	checkChecksums(t, f)
	if got, want := c.Tuple(Reply), (Tuple{Proto: 6, Src: inner1, Dst: client, SrcPort: 80, DstPort: 51000}); got != want {
		t.Errorf("reply tuple = %v, want %v", got, want)
	}
	r := tcpFrame(t, ap(inner1, 80), ap(client, 51000), header.TCPFlagSYN|header.TCPFlagACK, "")
	mustApply(t, tb, zoneNet, r, Reply, 0)
	if got, want := wireTuple(t, r), (tuple5{uplink, client, 8080, 51000}); got != want {
		t.Errorf("reply = %+v, want %+v", got, want)
	}
	checkChecksums(t, r)
	a := tcpFrame(t, ap(client, 51000), ap(uplink, 8080), header.TCPFlagACK, "GET /")
	mustApply(t, tb, zoneUplink, a, Original, 0)
	checkChecksums(t, a)
	if c.TCPState() != TCPEstablished || !c.Assured() {
		t.Errorf("state = %v assured %v, want ESTABLISHED assured", c.TCPState(), c.Assured())
	}
}

// TestHairpin: an endpoint reaches another endpoint of its network through
// the published port; DNAT to the endpoint and SNAT to the gateway keep
// the answer on the router.
func TestHairpin(t *testing.T) {
	tb := New(Options{Seed: 1})
	a := Action{DNAT: true, DNATAddr: inner1, DNATPort: 80, SNAT: true, SNATAddr: gateway}
	f := tcpFrame(t, ap(inner2, 33000), ap(uplink, 8080), header.TCPFlagSYN, "")
	c := mustCreate(t, tb, zoneNet, zoneNet, f, a, 0)
	if got, want := wireTuple(t, f), (tuple5{gateway, inner1, 33000, 80}); got != want {
		t.Errorf("hairpinned = %+v, want %+v", got, want)
	}
	checkChecksums(t, f)
	r := tcpFrame(t, ap(inner1, 80), ap(gateway, 33000), header.TCPFlagSYN|header.TCPFlagACK, "")
	if got := mustApply(t, tb, zoneNet, r, Reply, 0); got != c {
		t.Fatal("reply found another connection")
	}
	if got, want := wireTuple(t, r), (tuple5{uplink, inner2, 8080, 33000}); got != want {
		t.Errorf("reply = %+v, want %+v", got, want)
	}
	checkChecksums(t, r)
}

func TestTrackOnly(t *testing.T) {
	tb := New(Options{Seed: 1})
	f := udpFrame(t, ap(inner1, 1000), ap(inner2, 2000), "x")
	orig := append([]byte(nil), f...)
	c := mustCreate(t, tb, zoneNet, zoneNet, f, Action{}, 0)
	if string(f) != string(orig) {
		t.Errorf("track-only connection rewrote the frame")
	}
	r := udpFrame(t, ap(inner2, 2000), ap(inner1, 1000), "y")
	mustApply(t, tb, zoneNet, r, Reply, 0)
	if c.Assured() {
		t.Error("UDP connection with one reply is assured, want it evictable")
	}
	mustApply(t, tb, zoneNet, udpFrame(t, ap(inner1, 1000), ap(inner2, 2000), "z"), Original, 0)
	if !c.Assured() {
		t.Error("UDP connection that went on after a reply is not assured")
	}
}

func TestICMPErrors(t *testing.T) {
	type errCase struct {
		name       string
		proto      uint8
		typ, code  uint8
		rest       uint32
		fromPeer   bool // generated by the connection's peer rather than a router
		truncateTo int  // quote only this many bytes of the packet (0: all)
	}
	cases := []errCase{
		{name: "udp port unreachable", proto: header.ProtoUDP, typ: header.ICMPv4DstUnreachable, code: header.ICMPv4PortUnreachable, fromPeer: true},
		{name: "udp time exceeded", proto: header.ProtoUDP, typ: header.ICMPv4TimeExceeded, code: header.ICMPv4TTLExceeded},
		{name: "tcp time exceeded", proto: header.ProtoTCP, typ: header.ICMPv4TimeExceeded, code: header.ICMPv4TTLExceeded},
		{name: "tcp frag needed", proto: header.ProtoTCP, typ: header.ICMPv4DstUnreachable, code: header.ICMPv4FragNeeded, rest: 1400},
		{name: "tcp 8-byte quote", proto: header.ProtoTCP, typ: header.ICMPv4DstUnreachable, code: header.ICMPv4HostUnreachable, truncateTo: 28},
		{name: "icmp echo time exceeded", proto: header.ProtoICMP, typ: header.ICMPv4TimeExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Options{Seed: 1})
			// Take the source port so the connection gets a new one.
			if tc.proto != header.ProtoICMP {
				mustCreate(t, tb, zoneNet, zoneUplink, ip4(ap(inner2, 40000), ap(server, 7), tc.proto, header.TCPFlagSYN, "").Frame(t), masq(), 0)
			} else {
				mustCreate(t, tb, zoneNet, zoneUplink, echoFrame(t, inner2, server, header.ICMPv4Echo, 9, 1), masq(), 0)
			}
			var f []byte
			if tc.proto == header.ProtoICMP {
				f = echoFrame(t, inner1, server, header.ICMPv4Echo, 9, 1)
			} else {
				f = ip4(ap(inner1, 40000), ap(server, 7), tc.proto, header.TCPFlagSYN, "payload").Frame(t)
			}
			c := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
			sent := wireTuple(t, f)
			if sent.SrcPort == 9 || sent.SrcPort == 40000 {
				t.Fatalf("port kept although taken: %+v", sent)
			}

			// The translated packet, quoted by an error toward the uplink address.
			q := testframe.Datagram(t, f)
			if tc.truncateTo > 0 {
				q = q[:tc.truncateTo]
			}
			from := router2
			if tc.fromPeer {
				from = server
			}
			e := icmpErrorFrame(t, from, uplink, tc.typ, tc.code, tc.rest, q)
			p := decode(t, e)
			got, d, ok := tb.Lookup(zoneUplink, e, p, sec(1))
			if !ok || got != c || d != Reply|Related {
				t.Fatalf("Lookup(error) = %p, %v, %v; want %p, reply/related", got, d, ok, c)
			}
			if v := tb.Apply(e, p, got, d, false, sec(1)); v != VerdictAccept {
				t.Fatalf("Apply(error) = %v", v)
			}
			checkChecksums(t, e)
			if gotT, want := wireTuple(t, e), (tuple5{Src: from, Dst: inner1}); gotT.Src != want.Src || gotT.Dst != want.Dst {
				t.Errorf("outer = %v→%v, want %v→%v", gotT.Src, gotT.Dst, want.Src, want.Dst)
			}
			// The quoted packet is now the one inner1 sent.
			inner := e[header.EthernetLen+20+8:]
			var want []byte
			if tc.proto == header.ProtoICMP {
				want = testframe.Datagram(t, echoFrame(t, inner1, server, header.ICMPv4Echo, 9, 1))
			} else {
				want = ip4(ap(inner1, 40000), ap(server, 7), tc.proto, header.TCPFlagSYN, "payload").Packet(t)
			}
			if tc.truncateTo > 0 {
				want = want[:tc.truncateTo]
			} else {
				// Fully quoted: gopacket recomputes every inner checksum.
				if rc := recompute(t, inner, true); string(rc) != string(inner) {
					t.Errorf("quoted packet checksums:\n got %x\nwant %x", inner, rc)
				}
			}
			if string(inner) != string(want) {
				t.Errorf("quoted packet:\n got %x\nwant %x", inner, want)
			}
			if ipOK := sum(inner[:20]) == 0xffff; !ipOK {
				t.Error("quoted IPv4 header checksum invalid")
			}
			if n := tb.Stats().ICMPErrorsTranslated; n != 1 {
				t.Errorf("ICMPErrorsTranslated = %d, want 1", n)
			}
		})
	}
}

// TestICMPErrorOriginal: an error about a reply (the endpoint's port is
// closed) travels in the original direction toward the server.
func TestICMPErrorOriginal(t *testing.T) {
	tb := New(Options{Seed: 1})
	dnat := Action{DNAT: true, DNATAddr: inner1, DNATPort: 53}
	f := udpFrame(t, ap(client, 5000), ap(uplink, 5353), "q")
	mustCreate(t, tb, zoneUplink, zoneNet, f, dnat, 0)
	// inner1 has no listener: it answers with port unreachable quoting
	// the translated datagram.
	e := icmpErrorFrame(t, inner1, client, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0, testframe.Datagram(t, f))
	p := decode(t, e)
	c, d, ok := tb.Lookup(zoneNet, e, p, 0)
	if !ok || d != Reply|Related {
		t.Fatalf("Lookup = %v, %v, %v", c, d, ok)
	}
	tb.Apply(e, p, c, d, false, 0)
	checkChecksums(t, e)
	if got, want := wireTuple(t, e), (tuple5{Src: uplink, Dst: client}); got.Src != want.Src || got.Dst != want.Dst {
		t.Errorf("outer = %v→%v, want %v→%v", got.Src, got.Dst, want.Src, want.Dst)
	}
	inner := e[header.EthernetLen+28:]
	if want := ip4(ap(client, 5000), ap(uplink, 5353), header.ProtoUDP, 0, "q").Packet(t); string(inner) != string(want) {
		t.Errorf("quoted:\n got %x\nwant %x", inner, want)
	}
}

func TestICMPErrorUnknown(t *testing.T) {
	tb := New(Options{Seed: 1})
	q := ip4(ap(uplink, 1), ap(server, 2), header.ProtoUDP, 0, "").Packet(t)
	e := icmpErrorFrame(t, router2, uplink, header.ICMPv4TimeExceeded, 0, 0, q)
	p := decode(t, e)
	if _, _, ok := tb.Lookup(zoneUplink, e, p, 0); ok {
		t.Fatal("Lookup found a connection for an unrelated error")
	}
	if _, err := tb.Create(zoneUplink, zoneNet, p, masq(), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Create(unrelated error) = %v, want ErrInvalid", err)
	}
	for _, n := range []int{0, 10, 27} { // quotes too short to hold ports
		e := icmpErrorFrame(t, router2, uplink, header.ICMPv4TimeExceeded, 0, 0, q[:n])
		p := decode(t, e)
		if _, _, ok := tb.Lookup(zoneUplink, e, p, 0); ok {
			t.Errorf("Lookup found a connection for a %d-byte quote", n)
		}
	}
}

// TestFragments: the table leaves fragments to the reassembler (Defrag):
// a non-first fragment matches nothing and cannot open a connection.
func TestFragments(t *testing.T) {
	tb := New(Options{Seed: 1})
	_, f2 := ip4(ap(inner1, 5000), ap(server, 53), header.ProtoUDP, 0, "0123456789abcdef0123456789abcdef0123456789").Fragments(t, 16)
	p2 := decode(t, f2)
	if _, _, ok := tb.Lookup(zoneNet, f2, p2, 0); ok {
		t.Fatal("Lookup matched a non-first fragment")
	}
	if _, err := tb.Create(zoneNet, zoneUplink, p2, masq(), 0); !errors.Is(err, ErrFragment) {
		t.Fatalf("Create(non-first fragment) = %v, want ErrFragment", err)
	}
	if n := tb.Stats().FragmentsDropped; n != 1 {
		t.Errorf("FragmentsDropped = %d, want 1", n)
	}
}

func TestCreateErrors(t *testing.T) {
	tb := New(Options{Seed: 1})
	v6 := make([]byte, 14+40+8)
	v6[12], v6[13] = 0x86, 0xdd
	v6[14] = 0x60
	v6[14+4], v6[14+5] = 0, 8
	v6[14+6] = header.ProtoUDP
	gre := ip4(ap(inner1, 1), ap(server, 2), header.ProtoUDP, 0, "").Frame(t)
	gre[header.EthernetLen+9] = 47
	tests := []struct {
		name  string
		frame []byte
		a     Action
		want  error
	}{
		{"ipv6", v6, masq(), ErrUnsupported},
		{"gre", gre, masq(), ErrUnsupported},
		{"tcp fin", tcpFrame(t, ap(inner1, 1), ap(server, 2), header.TCPFlagFIN|header.TCPFlagACK, ""), masq(), ErrInvalid},
		{"tcp rst", tcpFrame(t, ap(inner1, 1), ap(server, 2), header.TCPFlagRST, ""), masq(), ErrInvalid},
		{"tcp synack", tcpFrame(t, ap(inner1, 1), ap(server, 2), header.TCPFlagSYN|header.TCPFlagACK, ""), masq(), ErrInvalid},
		{"echo reply", echoFrame(t, inner1, server, header.ICMPv4EchoReply, 1, 1), masq(), ErrInvalid},
		{"timestamp", echoFrame(t, inner1, server, 13, 1, 1), masq(), ErrUnsupported},
		{"v6 action", udpFrame(t, ap(inner1, 1), ap(server, 2), ""), Action{SNAT: true, SNATAddr: netip.MustParseAddr("2001:db8::1")}, ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p header.Parsed
			_ = p.Decode(tt.frame)
			if _, err := tb.Create(zoneNet, zoneUplink, &p, tt.a, 0); !errors.Is(err, tt.want) {
				t.Errorf("Create = %v, want %v", err, tt.want)
			}
		})
	}
	if tb.Len() != 0 {
		t.Errorf("Len = %d after failed creates", tb.Len())
	}
}

// TestCreateExisting: a second Create for the same tuple (two workers
// racing) returns the first connection.
func TestCreateExisting(t *testing.T) {
	tb := New(Options{Seed: 1})
	f := udpFrame(t, ap(inner1, 1), ap(server, 2), "")
	p := decode(t, f)
	c1, err := tb.Create(zoneNet, zoneUplink, p, masq(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tb.Create(zoneNet, zoneUplink, p, masq(), 0)
	if err != nil || c2 != c1 {
		t.Errorf("second Create = %p, %v; want %p, nil", c2, err, c1)
	}
	r := udpFrame(t, ap(server, 2), ap(uplink, 1), "")
	if _, err := tb.Create(zoneUplink, zoneNet, decode(t, r), Action{}, 0); !errors.Is(err, ErrExists) {
		t.Errorf("Create(reply tuple) = %v, want ErrExists", err)
	}
	if tb.Len() != 1 {
		t.Errorf("Len = %d, want 1", tb.Len())
	}
}

func TestFlushAndEntries(t *testing.T) {
	tb := New(Options{Seed: 1})
	mustCreate(t, tb, zoneNet, zoneUplink, tcpFrame(t, ap(inner1, 1000), ap(server, 80), header.TCPFlagSYN, ""), masq(), 0)
	mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 1000), ap(server, 53), "abc"), masq(), 0)
	es := tb.Entries(sec(10))
	if len(es) != 2 {
		t.Fatalf("Entries = %d, want 2", len(es))
	}
	for _, e := range es {
		want := Entry{Zone: zoneNet, ReplyZone: zoneUplink, Proto: e.Proto,
			Original: Tuple{Proto: e.Proto, Src: inner1, Dst: server, SrcPort: 1000, DstPort: e.Original.DstPort},
			Reply:    Tuple{Proto: e.Proto, Src: server, Dst: uplink, SrcPort: e.Original.DstPort, DstPort: 1000},
			Packets:  [2]uint64{1, 0}}
		switch e.Proto {
		case header.ProtoTCP:
			want.State, want.Timeout, want.Bytes[0] = TCPSynSent, DefaultTimeouts().TCPSynSent-10*time.Second, 40
			want.Window[Original] = TCPWindow{End: 0x01020305, MaxEnd: 0x01020305, MaxWin: 64240}
			want.Window[Reply] = TCPWindow{MaxEnd: 64240} // what the SYN allows the other side, as Linux records it
		case header.ProtoUDP:
			want.Timeout, want.Bytes[0] = DefaultTimeouts().UDPUnreplied-10*time.Second, 31
		}
		if diff := cmp.Diff(want, e, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("Entry (-want +got):\n%s", diff)
		}
	}
	if n := tb.Flush(); n != 2 {
		t.Errorf("Flush = %d, want 2", n)
	}
	if tb.Len() != 0 || len(tb.Entries(0)) != 0 || tb.Stats().Flushed != 2 {
		t.Errorf("after Flush: Len %d, Entries %d, Flushed %d", tb.Len(), len(tb.Entries(0)), tb.Stats().Flushed)
	}
	// The table works after a flush.
	mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 1000), ap(server, 53), "abc"), masq(), 0)
}
