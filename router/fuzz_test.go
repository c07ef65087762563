package router_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
)

// The seed corpora in testdata/fuzz/FuzzRouterARP and FuzzRouterDNS are
// written from the frames below by
//
//	go test ./router/ -run TestFuzzCorpus -write-corpus
//
// TestFuzzCorpus fails when a seed is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpora in testdata/fuzz")

type seed struct {
	name  string
	frame []byte
}

// arpSeeds are ARP frames as endpoints, the host and the uplink's gateway
// send them: padded to 60 bytes by a NIC, or 42 bytes from a TAP.
func arpSeeds(t testing.TB) []seed {
	zero := netip.IPv4Unspecified()
	badHLen := testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)
	badHLen[header.EthernetLen+4] = 8
	return []seed{
		{"request-gateway", testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)},
		{"request-gateway-tap", testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)[:42]},
		{"request-endpoint", testframe.ARPRequest(a1MAC, a1IP, a2IP).Frame(t)},
		{"request-other-network", testframe.ARPRequest(a1MAC, a1IP, b1IP).Frame(t)},
		{"probe-gateway", testframe.ARPRequest(a1MAC, zero, gwA).Frame(t)},
		{"gratuitous", testframe.ARPRequest(a1MAC, a1IP, a1IP).Frame(t)},
		{"reply-gateway", testframe.ARPReply(a1MAC, a1IP, gwAMAC, gwA).Frame(t)},
		{"request-uplink", testframe.ARPRequest(upGwMAC, upGwIP, upIP).Frame(t)},
		{"reply-uplink", testframe.ARPReply(upGwMAC, upGwIP, upMAC, upIP).Frame(t)},
		{"request-host-leg", testframe.ARPRequest(hostMAC, hostIP, legIP).Frame(t)},
		{"bad-hlen", badHLen},
	}
}

// dnsSeeds are queries to a gateway as dig and the glibc stub send them.
func dnsSeeds(t testing.TB) []seed {
	q := func(name string, qtype uint16, edit func(m *mdns.Msg)) []byte {
		m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qtype)
		m.Id = 0xbeef
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("pack %s: %v", name, err)
		}
		return b
	}
	dig := func(m *mdns.Msg) { // dig 9.18: AD, EDNS0 1232 and a cookie
		m.AuthenticatedData = true
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
	}
	frame := func(srcMAC, gwMAC header.MAC, src netip.Addr, gw netip.Addr, payload []byte) []byte {
		return udp4(t, srcMAC, gwMAC, ap(src, 41641), ap(gw, 53), string(payload))
	}
	two := q("web", mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	resp := q("web", mdns.TypeA, func(m *mdns.Msg) { m.Response = true })
	return []seed{
		{"a-web", frame(a1MAC, gwAMAC, a1IP, gwA, q("web", mdns.TypeA, nil))},
		{"dig-a-web", frame(a1MAC, gwAMAC, a1IP, gwA, q("web", mdns.TypeA, dig))},
		{"aaaa-web", frame(a1MAC, gwAMAC, a1IP, gwA, q("web", mdns.TypeAAAA, dig))},
		{"ptr-a2", frame(a1MAC, gwAMAC, a1IP, gwA, q("3.0.18.172.in-addr.arpa", mdns.TypePTR, dig))},
		{"host-internal", frame(b1MAC, gwBMAC, b1IP, gwB, q("host.vswitchd.internal", mdns.TypeA, dig))},
		{"scope-special", frame(a2MAC, gwAMAC, a2IP, gwA, q("special", mdns.TypeA, nil))},
		{"forward", frame(c1MAC, gwCMAC, c1IP, gwC, q("example.com", mdns.TypeA, dig))},
		{"any", frame(a1MAC, gwAMAC, a1IP, gwA, q("web", mdns.TypeANY, nil))},
		{"two-questions", frame(a1MAC, gwAMAC, a1IP, gwA, two)},
		{"response", frame(a1MAC, gwAMAC, a1IP, gwA, resp)},
		{"short-header", frame(a1MAC, gwAMAC, a1IP, gwA, []byte{0xbe, 0xef, 1, 0, 0})},
		{"tcp-syn", tcp4(t, a1MAC, gwAMAC, ap(a1IP, 41642), ap(gwA, 53), header.TCPFlagSYN)},
	}
}

func corpusFile(b []byte) []byte { return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b) }

func TestFuzzCorpus(t *testing.T) {
	for name, seeds := range map[string][]seed{"FuzzRouterARP": arpSeeds(t), "FuzzRouterDNS": dnsSeeds(t)} {
		dir := filepath.Join("testdata", "fuzz", name)
		if *writeCorpus {
			must(t, os.MkdirAll(dir, 0o755))
		}
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			want := corpusFile(s.frame)
			if *writeCorpus {
				must(t, os.WriteFile(path, want, 0o644))
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("seed %s is missing or stale (%v); run go test ./router/ -run TestFuzzCorpus -write-corpus", path, err)
			}
		}
	}
}

// FuzzRouterARP feeds arbitrary frames through Decode and Input on every
// kind of interface; see checkInput.
func FuzzRouterARP(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzInput(t, frame) })
}

// FuzzRouterDNS is FuzzRouterARP seeded with DNS queries; answers must
// also unpack.
func FuzzRouterDNS(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) { fuzzInput(t, frame) })
}

// fuzzInput runs frame through a fresh router (DNS without upstreams, so
// every answer is local) from each network, the uplink and the host leg.
func fuzzInput(t *testing.T, frame []byte) {
	if len(frame) > port.MaxFrameSize {
		return
	}
	h := newHarness(t, nil)
	h.learnGateway()
	for _, in := range []router.Packet{
		{VID: vidA, InPort: inPort}, {VID: vidB, InPort: inPort}, {VID: vidC, InPort: inPort},
		{InPort: upPort, InRouted: true}, {InPort: hostPort, InRouted: true},
	} {
		checkInput(t, h, in, frame)
	}
}

// checkInput checks that Input, given what Decode made of frame, does not
// panic; returns a verdict; leaves frames it passes untouched; keeps
// forwarded frames decodable, of the same datagram length and with a valid
// header checksum if it was valid; and sends only frames that decode with
// valid checksums (and DNS answers that unpack).
func checkInput(t *testing.T, h *harness, pkt router.Packet, orig []byte) {
	frame := bytes.Clone(orig)
	var p header.Parsed
	if err := p.Decode(frame); errors.Is(err, header.ErrTruncated) {
		return // the datapath drops these
	}
	before := p
	pkt.Frame, pkt.Parsed, pkt.Counts = frame, &p, countsFor(h.r)
	v, _ := h.r.Input(&pkt, h.sink, h.now)
	switch v {
	case router.Pass:
		if !bytes.Equal(frame, orig) {
			t.Fatalf("Input(%x) = Pass but changed the frame to %x", orig, frame)
		}
	case router.Consumed, router.Drop:
	case router.Forward:
		var q header.Parsed
		err := q.Decode(frame)
		switch {
		case errors.Is(err, header.ErrTruncated):
			t.Fatalf("Input(%x) forwarded %x, which does not decode: %v", orig, frame, err)
		case before.EtherType == header.EtherTypeARP:
			if err != nil || q.EtherType != header.EtherTypeARP || q.ARPOp != header.ARPReply {
				t.Fatalf("Input(%x) forwarded %x, not an ARP reply (%v)", orig, frame, err)
			}
		default:
			if q.IPVersion != 4 || q.L3End != before.L3End {
				t.Fatalf("Input(%x) forwarded %x: IP version %d, datagram end %d, want 4, %d", orig, frame, q.IPVersion, q.L3End, before.L3End)
			}
			ihl := header.IPv4(frame[q.L3Off:]).HeaderLength()
			if sumValid(orig[before.L3Off:before.L3Off+ihl], 0) && !sumValid(frame[q.L3Off:q.L3Off+ihl], 0) {
				t.Fatalf("Input(%x) forwarded %x with a broken IPv4 header checksum", orig, frame)
			}
		}
	default:
		t.Fatalf("Input(%x) = %v, not a verdict", orig, v)
	}
	for _, s := range h.sink.take() {
		checkBuilt(t, orig, s.frame)
	}
	for _, s := range h.inj.take() {
		var q header.Parsed
		if err := q.Decode(s.frame); errors.Is(err, header.ErrTruncated) || q.EtherType == header.EtherTypeARP && err != nil {
			t.Fatalf("Input(%x) injected %x, which does not decode: %v", orig, s.frame, err)
		}
	}
}

// checkBuilt checks a frame the router built: an IPv4 ICMP error or DNS
// answer that decodes, with valid checksums, within the size limits.
func checkBuilt(t *testing.T, orig, frame []byte) {
	var q header.Parsed
	if err := q.Decode(frame); err != nil || q.IPVersion != 4 || q.L4Off == 0 {
		t.Fatalf("Input(%x) sent %x, which does not decode: %v", orig, frame, err)
	}
	ip := frame[q.L3Off:q.L3End]
	if !sumValid(ip[:header.IPv4MinLen], 0) {
		t.Fatalf("Input(%x) sent %x with a bad IPv4 checksum", orig, frame)
	}
	l4 := frame[q.L4Off:q.L3End]
	switch q.Proto {
	case header.ProtoICMP:
		if !sumValid(l4, 0) || len(ip) > 576 {
			t.Fatalf("Input(%x) sent ICMP %x: bad checksum or longer than 576 bytes", orig, frame)
		}
	case header.ProtoUDP:
		if !sumValid(l4, onesSum(ip[12:20], uint32(header.ProtoUDP)+uint32(len(l4)))) || int(header.UDP(l4).Length()) != len(l4) {
			t.Fatalf("Input(%x) sent UDP %x: bad checksum or length", orig, frame)
		}
		if q.SrcPort == 53 {
			if err := new(mdns.Msg).Unpack(frame[q.PayloadOff:q.L3End]); err != nil {
				t.Fatalf("Input(%x) sent a DNS answer that does not unpack: %v", orig, err)
			}
		}
	default:
		t.Fatalf("Input(%x) sent %x, protocol %d", orig, frame, q.Proto)
	}
}
