package header_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// naiveChecksum is RFC 1071 §4.1 as written: add 16-bit big-endian words
// into a 32-bit accumulator, pad an odd final byte with zero, fold the
// carries back in. It returns the sum, not its complement.
func naiveChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1071, 1624)) }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChecksumMatchesNaive(t *testing.T) {
	r := newRand()
	buf := randBytes(r, 65535+8)
	check := func(b []byte, initial uint16) {
		t.Helper()
		if got, want := header.Checksum(b, initial), naiveChecksum(b, initial); got != want {
			t.Fatalf("Checksum(% x, %#04x) = %#04x, want %#04x", b[:min(len(b), 64)], initial, got, want)
		}
	}
	// Every length up to 300 at every alignment within a word.
	for n := 0; n <= 300; n++ {
		for align := 0; align < 8; align++ {
			check(buf[align:align+n], uint16(r.Uint32()))
		}
	}
	// Random lengths and alignments up to 64 KiB.
	for range 2000 {
		n := r.IntN(65536)
		align := r.IntN(8)
		check(buf[align:align+n], uint16(r.Uint32()))
	}
	// Carry stress: all-ones and all-zeros data with extreme seeds.
	ones := make([]byte, 65535)
	for i := range ones {
		ones[i] = 0xff
	}
	zeros := make([]byte, 65535)
	for _, n := range []int{0, 1, 2, 7, 8, 31, 32, 33, 63, 64, 1500, 65534, 65535} {
		for _, initial := range []uint16{0, 1, 0xfffe, 0xffff} {
			check(ones[:n], initial)
			check(zeros[:n], initial)
		}
	}
}

func TestChecksumChaining(t *testing.T) {
	r := newRand()
	for range 1000 {
		b := randBytes(r, r.IntN(4000))
		initial := uint16(r.Uint32())
		want := naiveChecksum(b, initial)
		// Split at even points; only the last chunk may be odd.
		s := initial
		rest := b
		for len(rest) > 0 {
			k := min(2*r.IntN(300), len(rest))
			if k == 0 {
				k = len(rest)
			}
			s = header.Checksum(rest[:k], s)
			rest = rest[k:]
		}
		if s != want {
			t.Fatalf("chained Checksum over %d bytes = %#04x, want %#04x", len(b), s, want)
		}
		// ChecksumCombine joins sums of even-length halves.
		k := 2 * r.IntN(len(b)/2+1)
		if got := header.ChecksumCombine(header.Checksum(b[:k], initial), header.Checksum(b[k:], 0)); got != want &&
			!(got == 0 && want == 0xffff || got == 0xffff && want == 0) {
			t.Fatalf("ChecksumCombine over %d bytes split at %d = %#04x, want %#04x", len(b), k, got, want)
		}
	}
}

// TestChecksumUpdate checks the RFC 1624 incremental updates against a
// checksum recomputed from scratch after the change.
func TestChecksumUpdate(t *testing.T) {
	r := newRand()
	for range 10000 {
		b := randBytes(r, 2*(2+r.IntN(40)))
		hc := ^header.Checksum(b, 0)

		i := 2 * r.IntN(len(b)/2)
		old16 := binary.BigEndian.Uint16(b[i:])
		new16 := uint16(r.Uint32())
		if r.IntN(8) == 0 {
			new16 = old16 // no change
		}
		binary.BigEndian.PutUint16(b[i:], new16)
		want := ^header.Checksum(b, 0)
		if got := header.ChecksumUpdate16(hc, old16, new16); got != want {
			t.Fatalf("ChecksumUpdate16(%#04x, %#04x, %#04x) = %#04x, want %#04x", hc, old16, new16, got, want)
		}

		hc = want
		j := 2 * r.IntN(len(b)/2-1)
		old32 := binary.BigEndian.Uint32(b[j:])
		new32 := r.Uint32()
		binary.BigEndian.PutUint32(b[j:], new32)
		want = ^header.Checksum(b, 0)
		if got := header.ChecksumUpdate32(hc, old32, new32); got != want {
			t.Fatalf("ChecksumUpdate32(%#04x, %#08x, %#08x) = %#04x, want %#04x", hc, old32, new32, got, want)
		}
	}
}

// TestPartialChecksumUpdate checks that rewriting an address of a
// CHECKSUM_PARTIAL frame gives the pseudo-header sum computed from scratch
// with the new address, and that finishing it gives the full checksum.
func TestPartialChecksumUpdate(t *testing.T) {
	r := newRand()
	for range 10000 {
		proto := []uint8{header.ProtoTCP, header.ProtoUDP}[r.IntN(2)]
		l4 := randBytes(r, 8+r.IntN(1500))
		l4len := uint16(len(l4))

		// IPv4: a 32-bit address changes (SNAT/DNAT).
		src, dst := randBytes(r, 4), randBytes(r, 4)
		p := header.PseudoHeaderChecksum(proto, src, dst, l4len)
		old := binary.BigEndian.Uint32(src)
		nw := r.Uint32()
		binary.BigEndian.PutUint32(src, nw)
		want := header.PseudoHeaderChecksum(proto, src, dst, l4len)
		got := header.PartialChecksumUpdate32(p, old, nw)
		if got != want {
			t.Fatalf("PartialChecksumUpdate32(%#04x, %#08x, %#08x) = %#04x, want %#04x", p, old, nw, got, want)
		}
		if ^header.Checksum(l4, got) != ^header.Checksum(l4, want) {
			t.Fatalf("finished checksums differ")
		}

		// IPv6: one 16-bit word of an address changes.
		src, dst = randBytes(r, 16), randBytes(r, 16)
		p = header.PseudoHeaderChecksum(proto, src, dst, l4len)
		i := 2 * r.IntN(8)
		old16 := binary.BigEndian.Uint16(dst[i:])
		new16 := uint16(r.Uint32())
		binary.BigEndian.PutUint16(dst[i:], new16)
		want = header.PseudoHeaderChecksum(proto, src, dst, l4len)
		if got := header.PartialChecksumUpdate16(p, old16, new16); got != want {
			t.Fatalf("PartialChecksumUpdate16(%#04x, %#04x, %#04x) = %#04x, want %#04x", p, old16, new16, got, want)
		}
	}
}

func TestIPv4Checksum(t *testing.T) {
	for _, g := range goldenFrames(t) {
		var p header.Parsed
		if err := p.Decode(g.frame); err != nil || p.IPVersion != 4 {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			ip := header.IPv4(g.frame[p.L3Off:])
			want := ip.Checksum() // computed by gopacket
			if !ip.IsChecksumValid() {
				t.Errorf("IsChecksumValid() = false for gopacket header % x", ip[:ip.HeaderLength()])
			}
			if got := ip.CalculateChecksum(); got != want {
				t.Errorf("CalculateChecksum() = %#04x, want %#04x", got, want)
			}
			// The field's current value does not matter.
			ip.SetChecksum(0xabcd)
			if got := ip.CalculateChecksum(); got != want {
				t.Errorf("CalculateChecksum() with field 0xabcd = %#04x, want %#04x", got, want)
			}
			if ip.IsChecksumValid() {
				t.Errorf("IsChecksumValid() = true with a wrong checksum")
			}
			ip.SetChecksum(want)
			ttl, proto := ip.TTL(), uint16(ip.Protocol())
			ip.SetTTL(ttl - 1)
			if ip.IsChecksumValid() {
				t.Errorf("IsChecksumValid() = true after the TTL changed")
			}
			ip.SetChecksum(header.ChecksumUpdate16(want, uint16(ttl)<<8|proto, uint16(ttl-1)<<8|proto))
			if !ip.IsChecksumValid() {
				t.Errorf("IsChecksumValid() = false after an RFC 1624 TTL update")
			}
		})
	}
}

// TestPseudoHeaderChecksum finishes gopacket-built TCP and UDP segments from
// the pseudo-header sum and compares with the checksum gopacket computed.
func TestPseudoHeaderChecksum(t *testing.T) {
	r := newRand()
	for i := range 200 {
		n := r.IntN(1400)
		var frame []byte
		var name string
		switch i % 4 {
		case 0:
			name = "tcp4"
			f := ip4(header.ProtoTCP, uint16(r.Uint32()), 80)
			f.TCP = testframe.TCP{Flags: header.TCPFlagACK, Seq: r.Uint32(), Options: testframe.TSOptions()}
			f.Payload = testframe.Payload(n)
			frame = f.Frame(t)
		case 1:
			name = "udp4"
			f := ip4(header.ProtoUDP, uint16(r.Uint32()), 53)
			f.Payload = testframe.Payload(n)
			frame = f.Frame(t)
		case 2:
			name = "tcp6"
			f := ip6(header.ProtoTCP, uint16(r.Uint32()), 80)
			f.TCP = testframe.TCP{Flags: header.TCPFlagACK, Seq: r.Uint32()}
			f.Payload = testframe.Payload(n)
			frame = f.Frame(t)
		case 3:
			name = "udp6 after extension headers"
			f := ip6(header.ProtoUDP, uint16(r.Uint32()), 53)
			f.Ext = []testframe.Ext{testframe.DestOpts()}
			f.Payload = testframe.Payload(n)
			frame = f.Frame(t)
		}
		var p header.Parsed
		if err := p.Decode(frame); err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		l4 := append([]byte(nil), frame[p.L4Off:p.L3End]...)
		csumAt := header.TCPChecksumOffset
		if p.Proto == header.ProtoUDP {
			csumAt = header.UDPChecksumOffset
		}
		want := binary.BigEndian.Uint16(l4[csumAt:])
		l4[csumAt], l4[csumAt+1] = 0, 0

		var phs uint16
		if p.IPVersion == 4 {
			ip := header.IPv4(frame[p.L3Off:])
			phs = ip.PseudoHeaderChecksum(uint16(len(l4)))
		} else {
			ip := header.IPv6(frame[p.L3Off:])
			phs = ip.PseudoHeaderChecksum(p.Proto, uint16(len(l4)))
		}
		s, d := p.SrcIP.AsSlice(), p.DstIP.AsSlice()
		if g := header.PseudoHeaderChecksum(p.Proto, s, d, uint16(len(l4))); g != phs {
			t.Fatalf("%s: PseudoHeaderChecksum = %#04x, method = %#04x", name, g, phs)
		}
		got := ^header.Checksum(l4, phs)
		if got != want && !(p.Proto == header.ProtoUDP && got == 0xffff && want == 0) {
			t.Fatalf("%s: checksum from pseudo-header sum = %#04x, gopacket %#04x", name, got, want)
		}
	}
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0xff}, uint16(0xffff))
	f.Add(frameTCP4(f), uint16(0x1234))
	f.Add(frameTCP6(f), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, initial uint16) {
		want := naiveChecksum(b, initial)
		if got := header.Checksum(b, initial); got != want {
			t.Fatalf("Checksum(%x, %#04x) = %#04x, want %#04x", b, initial, got, want)
		}
		if len(b) >= 2 {
			k := 2 * (int(initial) % (len(b)/2 + 1))
			if got := header.Checksum(b[k:], header.Checksum(b[:k], initial)); got != want {
				t.Fatalf("Checksum chained at %d over %x = %#04x, want %#04x", k, b, got, want)
			}
		}
	})
}

var sinkSum uint16

func BenchmarkChecksum(b *testing.B) {
	r := newRand()
	for _, n := range []int{64, 1500, 65535} {
		buf := randBytes(r, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sinkSum = header.Checksum(buf, 0)
			}
		})
	}
}
