package offload_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
)

// offset is where the datapath reads frames: headroom plus virtio header.
const offset = port.ReadOffset

const canary = 0xa5

// outBufs returns n buffers of size bytes each, filled with canary.
func outBufs(n, size int) ([][]byte, []int) {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{canary}, size)
	}
	return out, make([]int, n)
}

// untouched reports whether b holds only canary bytes.
func untouched(b []byte) bool {
	for _, c := range b {
		if c != canary {
			return false
		}
	}
	return true
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for _, x := range []struct {
		set bool
		bit uint8
	}{
		{t.FIN, header.TCPFlagFIN}, {t.SYN, header.TCPFlagSYN}, {t.RST, header.TCPFlagRST}, {t.PSH, header.TCPFlagPSH},
		{t.ACK, header.TCPFlagACK}, {t.URG, header.TCPFlagURG}, {t.ECE, header.TCPFlagECE}, {t.CWR, header.TCPFlagCWR},
	} {
		if x.set {
			f |= x.bit
		}
	}
	return f
}

func TestSegment(t *testing.T) {
	for _, s := range superFrames {
		t.Run(s.name, func(t *testing.T) {
			b := build(t, s)
			in, vhIn := bytes.Clone(b.frame), bytes.Clone(b.vh)
			payload := b.full[b.hdrLen:b.end]
			wantN := max(1, (len(payload)+s.mss-1)/s.mss)
			if got := offload.MaxSegments(b.frame, b.vh); got != wantN {
				t.Fatalf("MaxSegments = %d, want %d", got, wantN)
			}
			out, sizes := outBufs(wantN, offset+b.hdrLen+s.mss+16)
			n, err := offload.Segment(b.frame, b.vh, out, sizes, offset)
			if err != nil || n != wantN {
				t.Fatalf("Segment = %d, %v; want %d, nil", n, err, wantN)
			}
			if !bytes.Equal(b.frame, in) || !bytes.Equal(b.vh, vhIn) {
				t.Fatalf("Segment modified its input")
			}
			var got []byte
			for i := range n {
				seg := out[i][offset : offset+sizes[i]]
				checkSegment(t, s, b, i, n, seg)
				if !untouched(out[i][:offset-header.VirtioNetLen]) || !untouched(out[i][offset+sizes[i]:]) {
					t.Errorf("segment %d: wrote outside out[%d][%d:%d]", i, i, offset-header.VirtioNetLen, offset+sizes[i])
				}
				if vh := out[i][offset-header.VirtioNetLen : offset]; !bytes.Equal(vh, make([]byte, header.VirtioNetLen)) {
					t.Errorf("segment %d: virtio header % x, want zeros", i, vh)
				}
				got = append(got, seg[b.hdrLen:]...)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("concatenated payload differs from the super-frame's (%d vs %d bytes)", len(got), len(payload))
			}
		})
	}
}

// checkSegment decodes segment i of n with gopacket and checks every header
// field against the super-frame b.
func checkSegment(t *testing.T, s spec, b built, i, n int, seg []byte) {
	t.Helper()
	payloadLen := min(s.mss, b.end-b.hdrLen-i*s.mss)
	if len(seg) != b.hdrLen+payloadLen {
		t.Fatalf("segment %d: %d bytes, want %d", i, len(seg), b.hdrLen+payloadLen)
	}
	pkt := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("segment %d: gopacket: %v", i, el.Error())
	}
	if !bytes.Equal(seg[:b.l3], b.frame[:b.l3]) {
		t.Errorf("segment %d: Ethernet/VLAN headers % x, want % x", i, seg[:b.l3], b.frame[:b.l3])
	}

	var nl gopacket.NetworkLayer
	if s.v6 {
		ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		nl = ip
		if want := uint16(len(seg) - b.l3 - header.IPv6Len); ip.Length != want {
			t.Errorf("segment %d: IPv6 payload length %d, want %d", i, ip.Length, want)
		}
		// Everything but the payload length is copied, extension headers too.
		if !bytes.Equal(seg[b.l3:b.l3+4], b.frame[b.l3:b.l3+4]) || !bytes.Equal(seg[b.l3+6:b.l4], b.frame[b.l3+6:b.l4]) {
			t.Errorf("segment %d: IPv6 header % x, want % x", i, seg[b.l3:b.l4], b.frame[b.l3:b.l4])
		}
	} else {
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		nl = ip
		if want := uint16(len(seg) - b.l3); ip.Length != want {
			t.Errorf("segment %d: IPv4 total length %d, want %d", i, ip.Length, want)
		}
		if want := s.id + uint16(i); ip.Id != want {
			t.Errorf("segment %d: IPv4 ID %#04x, want %#04x", i, ip.Id, want)
		}
		if naiveFold(naiveSum(seg[b.l3:b.l4], 0)) != 0xffff {
			t.Errorf("segment %d: bad IPv4 header checksum %#04x", i, ip.Checksum)
		}
		// TOS, flags, TTL, protocol, addresses and options are copied.
		h, o := seg[b.l3:b.l4], b.frame[b.l3:b.l4]
		if h[0] != o[0] || h[1] != o[1] || !bytes.Equal(h[6:10], o[6:10]) || !bytes.Equal(h[12:], o[12:]) {
			t.Errorf("segment %d: IPv4 header % x, want as % x", i, h, o)
		}
	}
	if !l4ChecksumOK(seg, b.l3, b.l4, len(seg), s.v6) {
		t.Errorf("segment %d: bad L4 checksum", i)
	}

	if s.udp {
		u := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if want := uint16(len(seg) - b.l4); u.Length != want {
			t.Errorf("segment %d: UDP length %d, want %d", i, u.Length, want)
		}
		if u.Checksum == 0 {
			t.Errorf("segment %d: UDP checksum 0 (none)", i)
		}
		if u.SrcPort != 4433 || u.DstPort != 9999 {
			t.Errorf("segment %d: UDP ports %d→%d", i, u.SrcPort, u.DstPort)
		}
		return
	}
	tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if want := s.seq + uint32(i*s.mss); tcp.Seq != want {
		t.Errorf("segment %d: TCP seq %d, want %d", i, tcp.Seq, want)
	}
	wantFlags := s.flags
	if i != n-1 {
		wantFlags &^= header.TCPFlagFIN | header.TCPFlagPSH
	}
	if i != 0 {
		wantFlags &^= header.TCPFlagCWR
	}
	if got := tcpFlags(tcp); got != wantFlags {
		t.Errorf("segment %d of %d: TCP flags %#02x, want %#02x", i, n, got, wantFlags)
	}
	if tcp.Ack != 77 || tcp.Window != 502 || tcp.SrcPort != 40000 || tcp.DstPort != 5201 ||
		!bytes.Equal(seg[b.l4+20:b.hdrLen], b.frame[b.l4+20:b.hdrLen]) {
		t.Errorf("segment %d: TCP header % x, want as % x", i, seg[b.l4:b.hdrLen], b.frame[b.l4:b.hdrLen])
	}
	// gopacket agrees: the sum over a correct segment, checksum included,
	// complements to 0.
	must(t, tcp.SetNetworkLayerForChecksum(nl))
	if c, err := tcp.ComputeChecksum(); err != nil || c != 0 {
		t.Errorf("segment %d: gopacket ComputeChecksum = %#04x, %v; want 0", i, c, err)
	}
}

func TestSegmentIPv4IDWraps(t *testing.T) {
	b := build(t, spec{payload: 3000, mss: 1000, id: 0xffff, flags: header.TCPFlagACK})
	out, sizes := outBufs(3, 2000)
	n, err := offload.Segment(b.frame, b.vh, out, sizes, offset)
	if err != nil || n != 3 {
		t.Fatalf("Segment = %d, %v", n, err)
	}
	for i, want := range []uint16{0xffff, 0, 1} {
		if got := header.IPv4(out[i][offset+b.l3:]).ID(); got != want {
			t.Errorf("segment %d: ID %#04x, want %#04x", i, got, want)
		}
	}
}

// TestSegmentExactBuffers checks that buffers of exactly offset plus the
// segment length are enough, and one byte less is not.
func TestSegmentExactBuffers(t *testing.T) {
	b := build(t, spec{payload: 2500, mss: 1000, flags: header.TCPFlagACK})
	out := [][]byte{
		make([]byte, offset+b.hdrLen+1000),
		make([]byte, offset+b.hdrLen+1000),
		make([]byte, offset+b.hdrLen+500),
	}
	sizes := make([]int, 3)
	if n, err := offload.Segment(b.frame, b.vh, out, sizes, offset); err != nil || n != 3 {
		t.Fatalf("Segment into exact buffers = %d, %v", n, err)
	}
	out[2] = out[2][:len(out[2])-1]
	if n, err := offload.Segment(b.frame, b.vh, out, sizes, offset); !errors.Is(err, offload.ErrShortBuffer) || n != 0 {
		t.Fatalf("Segment with the last buffer a byte short = %d, %v; want 0, ErrShortBuffer", n, err)
	}
}

// finishFrames are frames with a partial checksum, as Finish sees them.
var finishFrames = []spec{
	{name: "tcp4 1514 bytes", payload: 1448, flags: header.TCPFlagACK},
	{name: "tcp4 qinq", tags: 2, payload: 100, flags: header.TCPFlagACK | header.TCPFlagPSH},
	{name: "tcp6 destination options", v6: true, ipOpts: true, payload: 1001, flags: header.TCPFlagACK},
	{name: "udp4 odd length padded to 60", udp: true, payload: 3},
	{name: "udp4 ip options", udp: true, ipOpts: true, payload: 513},
	{name: "udp6 802.1q", v6: true, udp: true, tags: 1, payload: 1200},
}

func TestFinish(t *testing.T) {
	for _, s := range finishFrames {
		t.Run(s.name, func(t *testing.T) {
			b := build(t, s)
			vhIn := bytes.Clone(b.vh)
			if err := offload.Finish(b.frame, b.vh); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if !bytes.Equal(b.frame, b.full) {
				t.Errorf("Finish = %x,\nwant (gopacket) %x", b.frame, b.full)
			}
			if !bytes.Equal(b.vh, vhIn) {
				t.Errorf("Finish changed the virtio header")
			}
		})
	}
}

// zeroSum adjusts a payload word of b so that the L4 datagram's checksum
// comes out as 0 (its sum as 0xffff), the case RFC 768 treats specially.
func zeroSum(t *testing.T, b built, v6 bool) {
	t.Helper()
	field := binary.BigEndian.Uint16(b.frame[b.csumAt:])
	binary.BigEndian.PutUint16(b.frame[b.csumAt:], 0)
	s := naiveFold(naiveSum(b.frame[b.l4:b.end], uint32(field)))
	w := b.hdrLen + (b.hdrLen-b.l4)%2 // a payload word aligned with the L4 header
	old := binary.BigEndian.Uint16(b.frame[w:])
	binary.BigEndian.PutUint16(b.frame[w:], naiveFold(uint32(old)+uint32(^s)))
	if got := naiveFold(naiveSum(b.frame[b.l4:b.end], uint32(field))); got != 0xffff {
		t.Fatalf("zeroSum: sum %#04x", got)
	}
	binary.BigEndian.PutUint16(b.frame[b.csumAt:], field)
}

func TestFinishZeroChecksum(t *testing.T) {
	for _, tt := range []struct {
		s    spec
		want uint16
	}{
		{spec{name: "udp4", udp: true, payload: 100}, 0xffff},
		{spec{name: "udp6", v6: true, udp: true, payload: 100}, 0xffff},
		{spec{name: "tcp4", payload: 100, flags: header.TCPFlagACK}, 0},
	} {
		t.Run(tt.s.name, func(t *testing.T) {
			b := build(t, tt.s)
			zeroSum(t, b, tt.s.v6)
			if err := offload.Finish(b.frame, b.vh); err != nil {
				t.Fatal(err)
			}
			if got := binary.BigEndian.Uint16(b.frame[b.csumAt:]); got != tt.want {
				t.Errorf("checksum = %#04x, want %#04x", got, tt.want)
			}
			if !l4ChecksumOK(b.frame, b.l3, b.l4, b.end, tt.s.v6) {
				t.Errorf("checksum does not verify")
			}
		})
	}
}

func TestFinishRejects(t *testing.T) {
	b := build(t, spec{payload: 100, flags: header.TCPFlagACK})
	n := len(b.frame)
	tests := []struct {
		name    string
		vh      header.VirtioNetFields
		short   bool
		wantErr error
	}{
		{name: "no NEEDS_CSUM", vh: header.VirtioNetFields{CsumStart: 1000, CsumOffset: 3}},
		{name: "DATA_VALID", vh: header.VirtioNetFields{Flags: header.VirtioNetFlagDataValid}},
		{name: "short virtio header", vh: header.VirtioNetFields{Flags: 1, CsumStart: 34, CsumOffset: 16},
			short: true, wantErr: offload.ErrBadHeader},
		{name: "csum_start at end", vh: header.VirtioNetFields{Flags: 1, CsumStart: uint16(n), CsumOffset: 16},
			wantErr: offload.ErrBadHeader},
		{name: "csum_start past end", vh: header.VirtioNetFields{Flags: 1, CsumStart: 0xffff, CsumOffset: 6},
			wantErr: offload.ErrBadHeader},
		{name: "field past end", vh: header.VirtioNetFields{Flags: 1, CsumStart: uint16(n - 17), CsumOffset: 16},
			wantErr: offload.ErrBadHeader},
		{name: "csum_offset 8", vh: header.VirtioNetFields{Flags: 1, CsumStart: 34, CsumOffset: 8},
			wantErr: offload.ErrBadHeader},
		{name: "csum_offset 0xffff", vh: header.VirtioNetFields{Flags: 1, CsumStart: 34, CsumOffset: 0xffff},
			wantErr: offload.ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := bytes.Clone(b.frame)
			vh := make(header.VirtioNet, header.VirtioNetLen)
			vh.Encode(&tt.vh)
			if tt.short {
				vh = vh[:header.VirtioNetLen-1]
			}
			if err := offload.Finish(frame, vh); !errors.Is(err, tt.wantErr) {
				t.Errorf("Finish = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(frame, b.frame) {
				t.Errorf("Finish changed the frame")
			}
		})
	}
	// Boundary: the field ending exactly at the end of the frame is fine.
	vh := make(header.VirtioNet, header.VirtioNetLen)
	vh.Encode(&header.VirtioNetFields{Flags: 1, CsumStart: uint16(n - 18), CsumOffset: 16})
	if err := offload.Finish(bytes.Clone(b.frame), vh); err != nil {
		t.Errorf("Finish with the field at the last two bytes = %v", err)
	}
}

// TestSegmentNotGSO checks frames that Segment copies rather than splits.
func TestSegmentNotGSO(t *testing.T) {
	partial := build(t, spec{udp: true, tags: 1, payload: 333})
	plain := build(t, spec{payload: 1000, flags: header.TCPFlagACK})
	plain.vh.Clear()
	valid := build(t, spec{v6: true, payload: 10, flags: header.TCPFlagACK})
	valid.vh.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagDataValid})
	ecnOnly := build(t, spec{payload: 10, flags: header.TCPFlagACK})
	ecnOnly.vh.Encode(&header.VirtioNetFields{GSOType: header.VirtioNetGSOECN})
	for _, tt := range []struct {
		name string
		b    built
		in   []byte
	}{
		{"partial udp4 802.1q", partial, partial.frame},
		{"no offload", plain, plain.full},
		{"DATA_VALID", valid, valid.full},
		{"ECN bit only", ecnOnly, ecnOnly.full},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			if got := offload.MaxSegments(in, tt.b.vh); got != 1 {
				t.Errorf("MaxSegments = %d, want 1", got)
			}
			out, sizes := outBufs(1, offset+len(in)+8)
			n, err := offload.Segment(in, tt.b.vh, out, sizes, offset)
			if err != nil || n != 1 || sizes[0] != len(in) {
				t.Fatalf("Segment = %d, %v (size %d); want 1, nil (size %d)", n, err, sizes[0], len(in))
			}
			if got := out[0][offset : offset+sizes[0]]; !bytes.Equal(got, tt.b.full) {
				t.Errorf("Segment wrote %x,\nwant %x", got, tt.b.full)
			}
			if !bytes.Equal(in, tt.in) {
				t.Errorf("Segment modified its input")
			}
			if vh := out[0][offset-header.VirtioNetLen : offset]; !bytes.Equal(vh, make([]byte, header.VirtioNetLen)) {
				t.Errorf("virtio header % x, want zeros", vh)
			}
			if !untouched(out[0][:offset-header.VirtioNetLen]) || !untouched(out[0][offset+sizes[0]:]) {
				t.Errorf("wrote outside the frame and its header")
			}
		})
	}
}

func TestSegmentRejects(t *testing.T) {
	tcp4 := build(t, spec{payload: 3000, mss: 1448, flags: header.TCPFlagACK})
	tcp4tag := build(t, spec{tags: 1, payload: 3000, mss: 1448, flags: header.TCPFlagACK})
	tcp6 := build(t, spec{v6: true, payload: 3000, mss: 1448, flags: header.TCPFlagACK})
	udp4 := build(t, spec{udp: true, payload: 3000, mss: 1448})
	partial := build(t, spec{udp: true, payload: 100})
	arp := append(bytes.Clone(tcp4.frame[:12]), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	arp = append(arp, make([]byte, 40)...)

	vhWith := func(b built, fn func(*header.VirtioNetFields)) header.VirtioNet {
		f := header.VirtioNetFields{Flags: b.vh.Flags(), GSOType: b.vh.GSOType(), HdrLen: b.vh.HdrLen(),
			GSOSize: b.vh.GSOSize(), CsumStart: b.vh.CsumStart(), CsumOffset: b.vh.CsumOffset()}
		fn(&f)
		vh := make(header.VirtioNet, header.VirtioNetLen)
		vh.Encode(&f)
		return vh
	}
	tests := []struct {
		name    string
		frame   []byte
		vh      header.VirtioNet
		wantErr error
	}{
		{"short virtio header", tcp4.frame, tcp4.vh[:9], offload.ErrBadHeader},
		{"empty virtio header", tcp4.frame, nil, offload.ErrBadHeader},
		{"ufo", udp4.frame, vhWith(udp4, func(f *header.VirtioNetFields) { f.GSOType = header.VirtioNetGSOUDP }),
			offload.ErrUnsupported},
		{"gso type 2", tcp4.frame, vhWith(tcp4, func(f *header.VirtioNetFields) { f.GSOType = 2 }),
			offload.ErrUnsupported},
		{"tcpv4 type on ipv6", tcp6.frame, vhWith(tcp6, func(f *header.VirtioNetFields) {
			f.GSOType = header.VirtioNetGSOTCPv4
		}), offload.ErrMalformed},
		{"tcpv6 type on ipv4", tcp4.frame, vhWith(tcp4, func(f *header.VirtioNetFields) {
			f.GSOType = header.VirtioNetGSOTCPv6
		}), offload.ErrMalformed},
		{"udp_l4 type on tcp", tcp4.frame, vhWith(tcp4, func(f *header.VirtioNetFields) {
			f.GSOType = header.VirtioNetGSOUDPL4
		}), offload.ErrMalformed},
		{"tcpv4 type on udp", udp4.frame, vhWith(udp4, func(f *header.VirtioNetFields) {
			f.GSOType = header.VirtioNetGSOTCPv4
		}), offload.ErrMalformed},
		{"gso size 0", tcp4.frame, vhWith(tcp4, func(f *header.VirtioNetFields) { f.GSOSize = 0 }),
			offload.ErrMalformed},
		{"csum_start without the vlan tag", tcp4tag.frame, vhWith(tcp4tag, func(f *header.VirtioNetFields) {
			f.CsumStart -= header.VLANTagLen
		}), offload.ErrBadHeader},
		{"csum_offset 6 on tcp", tcp4.frame, vhWith(tcp4, func(f *header.VirtioNetFields) { f.CsumOffset = 6 }),
			offload.ErrBadHeader},
		{"csum_offset 16 on udp", udp4.frame, vhWith(udp4, func(f *header.VirtioNetFields) { f.CsumOffset = 16 }),
			offload.ErrBadHeader},
		{"datagram longer than frame", tcp4.frame[:len(tcp4.frame)-1], tcp4.vh, offload.ErrMalformed},
		{"cut in tcp header", tcp4.frame[:tcp4.l4+10], tcp4.vh, offload.ErrMalformed},
		{"ipv4 fragment", mutate(tcp4.frame, func(b []byte) { b[tcp4.l3+6] |= 0x20 }), tcp4.vh,
			offload.ErrMalformed},
		{"ipv4 header length 4", mutate(tcp4.frame, func(b []byte) { b[tcp4.l3] = 0x44 }), tcp4.vh,
			offload.ErrMalformed},
		{"arp", arp, tcp4.vh, offload.ErrMalformed},
		{"runt", tcp4.frame[:10], tcp4.vh, offload.ErrMalformed},
		{"partial csum_start past end", partial.frame, vhWith(partial, func(f *header.VirtioNetFields) {
			f.CsumStart = uint16(len(partial.frame))
		}), offload.ErrBadHeader},
		{"partial field past end", partial.frame, vhWith(partial, func(f *header.VirtioNetFields) {
			f.CsumStart, f.CsumOffset = uint16(len(partial.frame)-7), 6
		}), offload.ErrBadHeader},
		{"partial csum_offset 8", partial.frame, vhWith(partial, func(f *header.VirtioNetFields) {
			f.CsumOffset = 8
		}), offload.ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := offload.MaxSegments(tt.frame, tt.vh); got != 0 {
				t.Errorf("MaxSegments = %d, want 0", got)
			}
			in := bytes.Clone(tt.frame)
			out, sizes := outBufs(8, offset+len(tt.frame)+8)
			n, err := offload.Segment(in, tt.vh, out, sizes, offset)
			if !errors.Is(err, tt.wantErr) || n != 0 {
				t.Errorf("Segment = %d, %v; want 0, %v", n, err, tt.wantErr)
			}
			for i := range out {
				if !untouched(out[i]) {
					t.Errorf("Segment wrote to out[%d] before failing", i)
				}
			}
			if !bytes.Equal(in, tt.frame) {
				t.Errorf("Segment modified its input")
			}
		})
	}

	// Output that cannot hold the result.
	big := offset + 2000
	for _, tt := range []struct {
		name   string
		b      built
		out    int
		sizes  int
		short  int // index of a buffer one byte too short, or -1
		offset int
	}{
		{"one buffer too few", tcp4, 2, 3, -1, offset},
		{"sizes too short", tcp4, 3, 2, -1, offset},
		{"last buffer too short", tcp4, 3, 3, 2, offset},
		{"offset leaves no room for the virtio header", tcp4, 3, 3, -1, header.VirtioNetLen - 1},
		{"partial into no buffer", partial, 0, 1, -1, offset},
		{"partial into short buffer", partial, 1, 1, 0, offset},
		{"partial with offset 0", partial, 1, 1, -1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := outBufs(tt.out, big)
			sizes := make([]int, tt.sizes)
			if tt.short >= 0 {
				need := len(tt.b.frame) // a copied frame
				if tt.b.vh.IsGSO() {
					need = tt.b.hdrLen + 3000 - 2*1448 // the last segment
				}
				out[tt.short] = out[tt.short][:tt.offset+need-1]
			}
			n, err := offload.Segment(tt.b.frame, tt.b.vh, out, sizes, tt.offset)
			if !errors.Is(err, offload.ErrShortBuffer) || n != 0 {
				t.Errorf("Segment = %d, %v; want 0, ErrShortBuffer", n, err)
			}
			for i := range out {
				if !untouched(out[i]) {
					t.Errorf("Segment wrote to out[%d] before failing", i)
				}
			}
		})
	}
}

func mutate(f []byte, fn func([]byte)) []byte {
	b := bytes.Clone(f)
	fn(b)
	return b
}

// TestAllocs fails as soon as Finish, Segment or MaxSegments allocates.
func TestAllocs(t *testing.T) {
	b := build(t, superFrames[0])
	n := offload.MaxSegments(b.frame, b.vh)
	out, sizes := outBufs(n, offset+b.hdrLen+1448)
	if got := testing.AllocsPerRun(100, func() {
		_, _ = offload.Segment(b.frame, b.vh, out, sizes, offset)
	}); got != 0 {
		t.Errorf("Segment allocates %v times per super-frame, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = offload.MaxSegments(b.frame, b.vh) }); got != 0 {
		t.Errorf("MaxSegments allocates %v times, want 0", got)
	}
	p := build(t, finishFrames[0])
	if got := testing.AllocsPerRun(100, func() { _ = offload.Finish(p.frame, p.vh) }); got != 0 {
		t.Errorf("Finish allocates %v times, want 0", got)
	}
	bad := build(t, spec{udp: true, payload: 100, mss: 10})
	bad.vh[1] = header.VirtioNetGSOUDP
	if got := testing.AllocsPerRun(100, func() { _, _ = offload.Segment(bad.frame, bad.vh, out, sizes, offset) }); got != 0 {
		t.Errorf("Segment allocates %v times on an error, want 0", got)
	}
}

var sinkN int

// BenchmarkSegment splits a 64 KiB TCP/IPv4 super-frame into 1448-byte
// segments (46 frames).
func BenchmarkSegment(b *testing.B) {
	sf := build(b, superFrames[0])
	n := offload.MaxSegments(sf.frame, sf.vh)
	out, sizes := outBufs(n, offset+sf.hdrLen+1448)
	b.SetBytes(int64(len(sf.frame)))
	b.ReportAllocs()
	for b.Loop() {
		sinkN, _ = offload.Segment(sf.frame, sf.vh, out, sizes, offset)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/segment")
}

// BenchmarkFinish completes the checksum of a 1514-byte TCP/IPv4 frame.
func BenchmarkFinish(b *testing.B) {
	p := build(b, finishFrames[0])
	seed := binary.BigEndian.Uint16(p.frame[p.csumAt:])
	b.SetBytes(int64(len(p.frame)))
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint16(p.frame[p.csumAt:], seed)
		_ = offload.Finish(p.frame, p.vh)
	}
}

// TestClampGSO: a super-frame toward a smaller MTU gets a GSO size whose
// segments fit it, and Segment then cuts it into segments within the MTU.
func TestClampGSO(t *testing.T) {
	b := build(t, spec{name: "tcp", payload: 20000, mss: 1448, flags: header.TCPFlagACK | header.TCPFlagPSH})
	frame, vh := b.frame, b.vh
	if got := offload.SegmentLen(frame, vh); got != 1500 {
		t.Fatalf("SegmentLen = %d, want 1500", got)
	}
	if offload.ClampGSO(frame, vh, 1500) {
		t.Error("ClampGSO changed a super-frame that fits")
	}
	if !offload.ClampGSO(frame, vh, 1400) || vh.GSOSize() != 1348 {
		t.Fatalf("ClampGSO(1400): GSO size %d, want 1348", vh.GSOSize())
	}
	n := offload.MaxSegments(frame, vh)
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, 2048)
	}
	sizes := make([]int, n)
	got, err := offload.Segment(frame, vh, out, sizes, header.VirtioNetLen)
	if err != nil || got != n {
		t.Fatalf("Segment = %d, %v", got, err)
	}
	for i, sz := range sizes[:got] {
		if sz-header.EthernetLen > 1400 {
			t.Errorf("segment %d: %d bytes of IP, over the MTU", i, sz-header.EthernetLen)
		}
	}
}
