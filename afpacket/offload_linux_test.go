package afpacket

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
)

// tcpFrame builds an Ethernet/IPv4/TCP frame with payload n bytes long,
// tagged with tags (TPID, TCI pairs), with a correct checksum, and returns
// it with the offset of its TCP header.
func tcpFrame(t testing.TB, dst, src net.HardwareAddr, tags []uint16, n int) ([]byte, int) {
	t.Helper()
	f := testframe.IPv4{Eth: l2(dst, src, tags, 0), Proto: header.ProtoTCP, ID: 1000, DF: true,
		Src: netip.MustParseAddrPort("10.9.0.1:40000"), Dst: netip.MustParseAddrPort("10.9.0.2:5201"),
		TCP:     testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH, Seq: 1 << 30, Ack: 7, Window: 512},
		Payload: testPayload(n, 3)}.Frame(t)
	return f, testframe.Locate(t, f).L4
}

// checkTCP checks the IPv4 and TCP checksums of a complete frame.
func checkTCP(t *testing.T, what string, frame []byte) {
	t.Helper()
	var p header.Parsed
	if err := p.Decode(frame); err != nil || p.Proto != header.ProtoTCP {
		t.Fatalf("%s: Decode = %v, proto %d", what, err, p.Proto)
	}
	ip := header.IPv4(frame[p.L3Off:])
	if !ip.IsChecksumValid() {
		t.Errorf("%s: bad IPv4 checksum", what)
	}
	l4 := frame[p.L4Off:p.L3End]
	if c := header.Checksum(l4, ip.PseudoHeaderChecksum(uint16(len(l4)))); c != 0xffff {
		t.Errorf("%s: bad TCP checksum (sum %#04x)", what, c)
	}
}

// TestPrivilegedReadOffloads sends CHECKSUM_PARTIAL frames and a GSO
// super-frame, untagged and tagged, from a PACKET_VNET_HDR socket on the
// peer and checks the virtio header Read returns. The kernel reports
// csum_start from the start of the frame it delivers, which has lost its
// outer tag: 34 for tagged and untagged IPv4/TCP alike. After Read has put
// the tag back it must say 38. Without PACKET_VNET_HDR, Read must describe
// the same frames itself from the auxdata (TP_STATUS_CSUMNOTREADY) and the
// MTU. Either way, completing the frame in software must give valid
// checksums.
func TestPrivilegedReadOffloads(t *testing.T) {
	testutil.Privileged(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, m.feat)
			peer := l.raw("vb", true)
			dst, src := l.mac("va"), l.mac("vb")
			bufs, sizes := newBufs(p.BatchSize())
			out, outSizes := newBufs(64)

			for _, c := range []struct {
				name string
				tags []uint16
				size int // TCP payload
				gso  int // GSO size, 0 for a plain partial-checksum frame
			}{
				{"partial untagged", nil, 1000, 0},
				{"partial 802.1Q", []uint16{0x8100, header.MakeTCI(4, false, 10)}, 1000, 0},
				{"partial 802.1ad", []uint16{0x88a8, header.MakeTCI(2, false, 20)}, 1000, 0},
				{"GSO untagged", nil, 20000, 1448},
				{"GSO 802.1Q", []uint16{0x8100, header.MakeTCI(5, false, 30)}, 20000, 1448},
			} {
				full, l4 := tcpFrame(t, dst, src, c.tags, c.size)
				frame, vh := testframe.Partial(t, full, c.gso)
				peer.send(vh.Bytes(), frame)
				if n := readTimeout(t, p, bufs, sizes, 5*time.Second); n != 1 {
					t.Fatalf("%s: Read = %d frames, want 1", c.name, n)
				}
				got := bufs[0][port.ReadOffset : port.ReadOffset+sizes[0]]
				gvh := header.VirtioNet(bufs[0][port.ReadOffset-header.VirtioNetLen : port.ReadOffset])
				t.Logf("%s: %d bytes, virtio flags %d gso %d/%d csum_start %d csum_offset %d hdr_len %d",
					c.name, len(got), gvh.Flags(), gvh.GSOType(), gvh.GSOSize(), gvh.CsumStart(), gvh.CsumOffset(), gvh.HdrLen())
				if len(got) != len(frame) || string(got[:l4]) != string(frame[:l4]) {
					t.Errorf("%s: read %d bytes, want %d with the same headers", c.name, len(got), len(frame))
				}
				if !gvh.NeedsCsum() || int(gvh.CsumStart()) != l4 || gvh.CsumOffset() != header.TCPChecksumOffset {
					t.Errorf("%s: csum_start/offset = %d/%d (flags %d), want NEEDS_CSUM %d/16", c.name, gvh.CsumStart(), gvh.CsumOffset(), gvh.Flags(), l4)
				}
				wantGSO := c.gso
				if m.feat.vnetHdr == false && c.gso != 0 {
					wantGSO = 1500 - 20 - 20 // the MTU's MSS: the sender's is lost
				}
				if c.gso != 0 && (gvh.GSOType() != header.VirtioNetGSOTCPv4 || int(gvh.GSOSize()) != wantGSO) {
					t.Errorf("%s: GSO %d/%d, want TCPv4/%d", c.name, gvh.GSOType(), gvh.GSOSize(), wantGSO)
				}
				if c.gso == 0 && gvh.IsGSO() {
					t.Errorf("%s: GSO type %d, want none", c.name, gvh.GSOType())
				}
				// Complete it as a port without offloads would.
				nseg, err := offload.Segment(got, gvh, out, outSizes, port.WriteOffset)
				if err != nil {
					t.Fatalf("%s: offload.Segment: %v", c.name, err)
				}
				for i := range nseg {
					checkTCP(t, c.name, out[i][port.WriteOffset:port.WriteOffset+outSizes[i]])
				}
			}
		})
	}
}

// TestPrivilegedWriteOffloads writes a partial-checksum frame and a GSO
// super-frame, tagged, and checks what the peer gets: with PACKET_VNET_HDR
// the kernel passes them on as they are (the peer reads them with a virtio
// header); without, Write completes and segments them, and every segment
// the peer reads has valid checksums.
func TestPrivilegedWriteOffloads(t *testing.T) {
	testutil.Privileged(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, m.feat)
			peer := l.raw("vb", true)
			dst, src := l.mac("vb"), l.mac("va")
			tags := []uint16{0x8100, header.MakeTCI(3, false, 77)}

			full, l4 := tcpFrame(t, dst, src, tags, 1200)
			pf, pvh := testframe.Partial(t, full, 0)
			full, _ = tcpFrame(t, dst, src, tags, 10000)
			gf, gvh := testframe.Partial(t, full, 1000)
			var bufs [][]byte
			for _, f := range [][2][]byte{{pvh.Bytes(), pf}, {gvh.Bytes(), gf}} {
				bufs = append(bufs, append(append([]byte(nil), f[0]...), f[1]...))
			}
			if n, err := p.Write(bufs, port.WriteOffset); n != 2 || err != nil {
				t.Fatalf("Write = %d, %v; want 2, nil", n, err)
			}
			wantFrames, wantPayload := 2, 1200+10000
			if !p.Offloads() {
				wantFrames = 1 + 10
			}
			payload := 0
			for i := range wantFrames {
				vh, f, ok := peer.recv()
				if !ok {
					t.Fatalf("frame %d of %d not received", i, wantFrames)
				}
				v := header.VirtioNet(vh)
				t.Logf("peer frame %d: %d bytes, virtio flags %d gso %d/%d csum_start %d hdr_len %d", i, len(f), v.Flags(), v.GSOType(), v.GSOSize(), v.CsumStart(), v.HdrLen())
				var pk header.Parsed
				if err := pk.Decode(f); err != nil || pk.VID() != 77 {
					t.Fatalf("frame %d: Decode = %v, VID %d", i, err, pk.VID())
				}
				payload += pk.L3End - pk.PayloadOff
				if p.Offloads() {
					if i == 1 && (v.GSOType() != header.VirtioNetGSOTCPv4 || v.GSOSize() != 1000) {
						t.Errorf("super-frame arrived with GSO %d/%d, want TCPv4/1000", v.GSOType(), v.GSOSize())
					}
					// The peer's kernel counts csum_start from the
					// frame without its tag (recv put it back after).
					if !v.NeedsCsum() || int(v.CsumStart()) != l4-header.VLANTagLen {
						t.Errorf("frame %d: flags %d csum_start %d, want NEEDS_CSUM at %d", i, v.Flags(), v.CsumStart(), l4-header.VLANTagLen)
					}
					continue
				}
				if v.NeedsCsum() || v.IsGSO() {
					t.Errorf("frame %d: virtio header % x, want a complete frame", i, vh)
				}
				checkTCP(t, "segment", f)
			}
			if payload != wantPayload {
				t.Errorf("peer got %d payload bytes, want %d", payload, wantPayload)
			}
		})
	}
}
