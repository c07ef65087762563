package offload_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
)

// segments returns s cut by Segment: frames as a plain device sends them,
// each in its own buffer with a zero virtio-net header before offset.
func segments(t testing.TB, s spec) [][]byte {
	t.Helper()
	b := build(t, s)
	n := offload.MaxSegments(b.frame, b.vh)
	out, sizes := outBufs(n, offset+b.hdrLen+s.mss)
	if _, err := offload.Segment(b.frame, b.vh, out, sizes, offset); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i] = out[i][:offset+sizes[i]]
	}
	return out
}

// flowOf returns a frame's flow: addresses, protocol and ports, or the
// frame itself when it has none.
func flowOf(f []byte) string {
	var p header.Parsed
	if p.Decode(f) != nil || p.L4Off == 0 {
		return fmt.Sprintf("raw %x", f)
	}
	return fmt.Sprint(p.SrcIP, p.DstIP, p.Proto, p.SrcPort, p.DstPort)
}

// unGRO turns the writes g planned for frames back into plain frames: a
// write of one iovec is a frame as it is; a gathered write is a
// super-frame, which Segment must cut back.
func unGRO(t testing.TB, g *offload.GRO, n int, frames [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		iov := g.Write(i, frames, offset)
		if len(iov) == 1 {
			out = append(out, finish(iov[0][header.VirtioNetLen:], header.VirtioNet(iov[0][:header.VirtioNetLen])))
			continue
		}
		var w []byte
		for _, v := range iov {
			w = append(w, v...)
		}
		vh, super := header.VirtioNet(w[:header.VirtioNetLen]), w[header.VirtioNetLen:]
		m := offload.MaxSegments(super, vh)
		if m < 2 {
			t.Fatalf("write %d: a super-frame of %d segments (virtio header % x)", i, m, []byte(vh))
		}
		if !vh.NeedsCsum() || !vh.IsGSO() {
			t.Fatalf("write %d: virtio header % x lacks NEEDS_CSUM or a GSO type", i, []byte(vh))
		}
		bufs, sizes := outBufs(m, offset+len(super))
		if _, err := offload.Segment(super, vh, bufs, sizes, offset); err != nil {
			t.Fatalf("write %d: Segment: %v", i, err)
		}
		for j := range m {
			out = append(out, bufs[j][offset:offset+sizes[j]])
		}
	}
	return out
}

// checkRoundTrip checks that the writes carry exactly the input frames,
// byte for byte (checksums included), each flow in its input order.
func checkRoundTrip(t testing.TB, in, out [][]byte) {
	t.Helper()
	per := func(fs [][]byte) map[string][][]byte {
		m := map[string][][]byte{}
		for _, f := range fs {
			k := flowOf(f)
			m[k] = append(m[k], f)
		}
		return m
	}
	a, b := per(in), per(out)
	if len(in) != len(out) {
		t.Fatalf("%d frames in, %d out", len(in), len(out))
	}
	for k, fs := range a {
		if len(b[k]) != len(fs) {
			t.Fatalf("flow %s: %d frames in, %d out", k, len(fs), len(b[k]))
		}
		for i := range fs {
			if !bytes.Equal(fs[i], b[k][i]) {
				t.Fatalf("flow %s frame %d differs after the round trip:\n in % x\nout % x", k, i, fs[i], b[k][i])
			}
		}
	}
}

// plain returns the frames of bufs (after offset).
func plain(bufs [][]byte) [][]byte {
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		out[i] = b[offset:]
	}
	return out
}

// reseq rewrites a TCP segment's field at off (in the TCP header) and its
// checksum, so that a table case can change ACK numbers and the like.
func rewriteTCP(t testing.TB, buf []byte, at int, v uint32) {
	t.Helper()
	f := buf[offset:]
	var p header.Parsed
	if err := p.Decode(f); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(f[p.L4Off+at:], v)
	tcp := header.TCP(f[p.L4Off:])
	tcp.SetChecksum(0)
	var ph uint16
	if p.IPVersion == 4 {
		ph = header.IPv4(f[p.L3Off:]).PseudoHeaderChecksum(uint16(p.L3End - p.L4Off))
	} else {
		ph = header.IPv6(f[p.L3Off:]).PseudoHeaderChecksum(header.ProtoTCP, uint16(p.L3End-p.L4Off))
	}
	tcp.SetChecksum(^header.Checksum(f[p.L4Off:p.L3End], ph))
}

func TestGRO(t *testing.T) {
	tcp4 := spec{payload: 20 * 1448, mss: 1448, flags: header.TCPFlagACK, seq: 0xfffff000, id: 0xfff0}
	ack := header.TCPFlagACK
	cases := []struct {
		name   string
		frames func(t *testing.T) [][]byte
		udp    bool
		writes int
	}{
		{"tcp4 in order", func(t *testing.T) [][]byte { return segments(t, tcp4) }, false, 1},
		{"tcp4 last shorter, psh on it", func(t *testing.T) [][]byte {
			return segments(t, spec{payload: 10*1448 + 100, mss: 1448, flags: ack | header.TCPFlagPSH, seq: 5, id: 1})
		}, false, 1},
		{"tcp6 qinq", func(t *testing.T) [][]byte {
			return segments(t, spec{v6: true, tags: 2, payload: 30 * 1200, mss: 1200, flags: ack, seq: 9})
		}, false, 1},
		{"tcp4 802.1q", func(t *testing.T) [][]byte {
			return segments(t, spec{tags: 1, payload: 8 * 1000, mss: 1000, flags: ack, seq: 9, id: 3})
		}, false, 1},
		{"tcp4 over 64 KiB splits", func(t *testing.T) [][]byte {
			a := segments(t, spec{payload: 40 * 1448, mss: 1448, flags: ack, seq: 1, id: 1})
			return append(a, segments(t, spec{payload: 10 * 1448, mss: 1448, flags: ack, seq: 1 + 40*1448, id: 41})...)
		}, false, 2}, // 45 segments of 1448 fill 65,512 bytes
		{"tcp4 swapped pair", func(t *testing.T) [][]byte {
			s := segments(t, tcp4)
			s[3], s[4] = s[4], s[3] // {0-2} {4} {3} {5-19}
			return s
		}, false, 4},
		{"tcp4 psh in the middle", func(t *testing.T) [][]byte {
			s := segments(t, tcp4)
			s[5][offset+34+13] |= header.TCPFlagPSH // Ethernet 14 + IPv4 20: TCP flags at 13
			rewriteTCP(t, s[5], 16, 0)              // checksum recomputed
			return s
		}, false, 2},
		{"tcp4 fin at the end", func(t *testing.T) [][]byte {
			return segments(t, spec{payload: 6 * 1448, mss: 1448, flags: ack | header.TCPFlagFIN, seq: 9, id: 1})
		}, false, 2},
		{"tcp4 cwr ece never coalesce", func(t *testing.T) [][]byte {
			return segments(t, spec{payload: 3 * 1448, mss: 1448, flags: ack | header.TCPFlagCWR | header.TCPFlagECE, seq: 9, id: 1})
		}, false, 3}, // CWR on the first, ECE on all: flags other than ACK|PSH
		{"tcp4 ack changes", func(t *testing.T) [][]byte {
			s := segments(t, tcp4)
			rewriteTCP(t, s[7], 8, 78)
			return s
		}, false, 3}, // {0-6} {7} {8-19}: 8 does not follow 7's ack either
		{"tcp4 bad checksum is left alone", func(t *testing.T) [][]byte {
			s := segments(t, tcp4)
			s[2][len(s[2])-1] ^= 0xff
			return s
		}, false, 3},
		{"tcp4 ip id gap", func(t *testing.T) [][]byte {
			s := segments(t, tcp4)
			ip := header.IPv4(s[10][offset+14:])
			ip.SetID(ip.ID() + 5)
			ip.SetChecksum(0)
			ip.SetChecksum(ip.CalculateChecksum())
			return s
		}, false, 3},
		{"two tcp flows interleaved", func(t *testing.T) [][]byte {
			a := segments(t, tcp4)
			b := segments(t, spec{v6: true, payload: 20 * 1200, mss: 1200, flags: ack, seq: 100})
			var s [][]byte
			for i := range a {
				s = append(s, a[i], b[i])
			}
			return s
		}, false, 2},
		{"udp4 equal datagrams", func(t *testing.T) [][]byte {
			return segments(t, spec{udp: true, payload: 10*1200 + 500, mss: 1200, id: 4})
		}, true, 1},
		{"udp4 without USO", func(t *testing.T) [][]byte {
			return segments(t, spec{udp: true, payload: 10 * 1200, mss: 1200, id: 4})
		}, false, 10},
		{"udp6 802.1q", func(t *testing.T) [][]byte {
			return segments(t, spec{v6: true, udp: true, tags: 1, payload: 12 * 800, mss: 800})
		}, true, 1},
		{"udp4 over 64 segments", func(t *testing.T) [][]byte {
			return segments(t, spec{udp: true, payload: 70 * 64, mss: 64, id: 4})
		}, true, 2},
		{"udp4 short datagram ends it", func(t *testing.T) [][]byte {
			a := segments(t, spec{udp: true, payload: 3*1000 + 10, mss: 1000, id: 4})
			b := segments(t, spec{udp: true, payload: 3 * 1000, mss: 1000, id: 8})
			return append(a, b...)
		}, true, 2},
		{"single frame", func(t *testing.T) [][]byte { return segments(t, tcp4)[:1] }, false, 1},
		{"not ip", func(t *testing.T) [][]byte {
			b := make([]byte, offset+60)
			b[offset+12], b[offset+13] = 0x88, 0xb5
			return [][]byte{b, bytes.Clone(b)}
		}, false, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frames := c.frames(t)
			before := make([][]byte, len(frames))
			for i := range frames {
				before[i] = bytes.Clone(frames[i])
			}
			g := offload.NewGRO(128, c.udp)
			n := g.Coalesce(frames, offset)
			if n != c.writes {
				t.Errorf("%d writes, want %d", n, c.writes)
			}
			for i := range frames {
				if !bytes.Equal(frames[i], before[i]) {
					t.Fatalf("frame %d modified", i)
				}
			}
			checkRoundTrip(t, plain(frames), unGRO(t, g, n, frames))
		})
	}
}

// TestGRONeedsCsum: segments with a partial checksum (NEEDS_CSUM, as a TAP
// or a veth with offloads hands them over) coalesce; the round trip gives
// the segments with their checksums completed.
func TestGRONeedsCsum(t *testing.T) {
	full := segments(t, spec{payload: 5 * 1448, mss: 1448, flags: header.TCPFlagACK, seq: 1, id: 1})
	part := make([][]byte, len(full))
	for i, b := range full {
		part[i] = bytes.Clone(b)
		f := part[i][offset:]
		var p header.Parsed
		if err := p.Decode(f); err != nil {
			t.Fatal(err)
		}
		ph := header.IPv4(f[p.L3Off:]).PseudoHeaderChecksum(uint16(p.L3End - p.L4Off))
		binary.BigEndian.PutUint16(f[p.L4Off+header.TCPChecksumOffset:], ph)
		header.VirtioNet(part[i][offset-header.VirtioNetLen : offset]).Encode(&header.VirtioNetFields{
			Flags: header.VirtioNetFlagNeedsCsum, CsumStart: uint16(p.L4Off), CsumOffset: header.TCPChecksumOffset})
	}
	g := offload.NewGRO(64, false)
	if n := g.Coalesce(part, offset); n != 1 {
		t.Fatalf("%d writes, want 1", n)
	}
	checkRoundTrip(t, plain(full), unGRO(t, g, 1, part))
}

func TestGROAllocs(t *testing.T) {
	frames := segments(t, spec{payload: 40 * 1448, mss: 1448, flags: header.TCPFlagACK, seq: 1, id: 1})
	frames = append(frames, segments(t, spec{udp: true, payload: 20 * 1000, mss: 1000, id: 9})...)
	g := offload.NewGRO(64, true)
	var total int
	allocs := testing.AllocsPerRun(100, func() {
		n := g.Coalesce(frames, offset)
		for i := range n {
			total += len(g.Write(i, frames, offset))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

func BenchmarkGRO(b *testing.B) {
	frames := segments(b, spec{payload: 44 * 1448, mss: 1448, flags: header.TCPFlagACK, seq: 1, id: 1})
	g := offload.NewGRO(64, true)
	b.SetBytes(44 * 1448)
	b.ReportAllocs()
	for b.Loop() {
		g.Coalesce(frames, offset)
	}
}

// FuzzGRO coalesces batches made of real segments with bytes of the input
// flipped, and checks the round trip: every frame comes back byte for
// byte, each flow in order, whatever the batch holds.
func FuzzGRO(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{5, 40, 1}, uint8(1))
	f.Add([]byte{0, 34 + 13, 0x08, 3, 60, 0xff}, uint8(3))
	f.Add([]byte{2, 14 + 5, 0x01}, uint8(2))
	f.Fuzz(func(t *testing.T, flips []byte, kind uint8) {
		var frames [][]byte
		switch kind % 4 {
		case 0:
			frames = segments(t, spec{payload: 12 * 500, mss: 500, flags: header.TCPFlagACK, seq: 1, id: 1})
		case 1:
			frames = segments(t, spec{udp: true, payload: 12 * 300, mss: 300, id: 1})
		case 2:
			frames = segments(t, spec{v6: true, tags: 1, payload: 12 * 400, mss: 400, flags: header.TCPFlagACK, seq: 7})
		default:
			a := segments(t, spec{payload: 6 * 500, mss: 500, flags: header.TCPFlagACK, seq: 1, id: 1})
			b := segments(t, spec{v6: true, udp: true, payload: 6 * 300, mss: 300})
			for i := range a {
				frames = append(frames, a[i], b[i])
			}
		}
		// Each triple flips byte at of frame i: (i, at, xor).
		for j := 0; j+2 < len(flips); j += 3 {
			b := frames[int(flips[j])%len(frames)]
			at := offset - header.VirtioNetLen + int(flips[j+1])
			if at < len(b) {
				b[at] ^= flips[j+2]
			}
		}
		g := offload.NewGRO(64, kind&4 == 0)
		n := g.Coalesce(frames, offset)
		var in [][]byte
		for _, b := range frames {
			in = append(in, b[offset:])
		}
		// A frame whose flipped virtio header asks for offloads is written
		// as it is; compare what comes back with what went in, completed.
		checkRoundTrip(t, finished(t, in, frames), unGRO(t, g, n, frames))
	})
}

// finished returns the frames with any partial checksum completed, as the
// round trip through a super-frame completes it.
func finished(t *testing.T, in, bufs [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, f := range in {
		out[i] = finish(f, header.VirtioNet(bufs[i][offset-header.VirtioNetLen:offset]))
	}
	return out
}

// finish returns f with its partial checksum completed, if vh asks for it
// and Finish can; else f.
func finish(f []byte, vh header.VirtioNet) []byte {
	if !vh.NeedsCsum() || vh.IsGSO() {
		return f
	}
	c := bytes.Clone(f)
	if offload.Finish(c, vh) != nil {
		return f
	}
	return c
}
