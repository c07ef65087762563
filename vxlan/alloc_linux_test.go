package vxlan

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// allocLab is two loopback ports A and B carrying VNI 100 (VLAN 10), A
// with peers B and 127.0.0.3 (nobody: its datagrams are lost), and a batch
// for A to write: a known unicast frame, a flood, a super-frame and a
// frame with a partial checksum.
type allocLab struct {
	a, b  *Port
	batch [][]byte
	want  int // frames B reads per batch
	bufs  [][]byte
	sizes []int
}

func newAllocLab(t testing.TB) *allocLab {
	ps := openPorts(t, []netip.Addr{lo(1), lo(2)}, nil)
	l := &allocLab{a: ps[0], b: ps[1]}
	setNetworks(t, l.a, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(2), lo(3)}})
	setNetworks(t, l.b, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(1)}})
	if err := l.a.AddStatic(100, macB, lo(2)); err != nil {
		t.Fatal(err)
	}
	super, vh := tcpSuper(t, 10, 1, 8000, 1400) // 6 segments
	small, svh := tcpSuper(t, 10, 2, 100, 1400)
	svh.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, CsumStart: svh.CsumStart(), CsumOffset: svh.CsumOffset()})
	l.batch = [][]byte{
		wbuf(tagged(udpFrame(t, macB, macA, ipA, ipB, 1, 2, make([]byte, 1000)), 10), nil),
		wbuf(tagged(arpRequest(t, macA, ipA, ipB), 10), nil),
		wbuf(super, vh),
		wbuf(small, svh),
	}
	l.want = 1 + 1 + 6 + 1
	l.bufs = make([][]byte, l.b.BatchSize())
	for i := range l.bufs {
		l.bufs[i] = make([]byte, port.BufferSize)
	}
	l.sizes = make([]int, len(l.bufs))
	return l
}

// round writes the batch on A and reads it on B.
func (l *allocLab) round(t testing.TB) {
	if n, err := l.a.Write(l.batch, header.VirtioNetLen); n != len(l.batch) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	l.b.sys.f.SetReadDeadline(time.Now().Add(wait))
	for got := 0; got < l.want; {
		n, err := l.b.Read(l.bufs, l.sizes, port.ReadOffset)
		if err != nil {
			t.Fatalf("Read after %d frames: %v", got, err)
		}
		got += n
	}
}

// TestZeroAllocs checks that encapsulation (unicast, flood, segmentation
// with UDP GSO, checksum completion) and decapsulation (with learning)
// allocate nothing per batch once warm.
func TestZeroAllocs(t *testing.T) {
	l := newAllocLab(t)
	l.round(t) // learn, grow maps
	if allocs := testing.AllocsPerRun(100, func() { l.round(t) }); allocs != 0 {
		t.Errorf("%.1f allocations per Write and Read, want 0", allocs)
	}
	if d := l.b.DeviceDrops(); len(d) != 0 {
		t.Errorf("B drops: %v", d)
	}
}

// discard forgets the queued messages without sending them.
func (p *Port) discard() {
	t := &p.sys.tx
	clear(t.iovs[:t.niov])
	for j := range t.n {
		t.meta[j].ctr = nil
	}
	t.n, t.niov, t.used = 0, 0, 0
}

// BenchmarkEncap measures the per-frame work of Write without the sendmmsg:
// checks, table lookup, flow hash, headers, message building; for a
// super-frame also the segmentation and checksums. 64 frames per op.
func BenchmarkEncap(b *testing.B) {
	ps := openPorts(b, []netip.Addr{lo(1)}, nil)
	p := ps[0]
	setNetworks(b, p, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(2), lo(3), lo(4), lo(5)}})
	if err := p.AddStatic(100, macB, lo(2)); err != nil {
		b.Fatal(err)
	}
	super, vh := tcpSuper(b, 10, 1, 65000, 1400)
	for _, c := range []struct {
		name string
		buf  []byte
	}{
		{"unicast-64B", wbuf(tagged(udpFrame(b, macB, macA, ipA, ipB, 1, 2, make([]byte, 18)), 10), nil)},
		{"unicast-1464B", wbuf(tagged(udpFrame(b, macB, macA, ipA, ipB, 1, 2, make([]byte, 1464-42)), 10), nil)},
		{"flood-4-peers", wbuf(tagged(arpRequest(b, macA, ipA, ipB), 10), nil)},
		{"tso-64KB", wbuf(super, vh)},
	} {
		b.Run(c.name, func(b *testing.B) {
			t := &p.sys.tx
			per := 64 // frames per op
			if header.VirtioNet(c.buf[:header.VirtioNetLen]).IsGSO() {
				per = 1
			}
			b.ReportAllocs()
			for b.Loop() {
				cfg := p.cfg.Load()
				for i := range per {
					if err := p.encap(cfg, c.buf, header.VirtioNetLen, int32(i), 0); err != nil {
						b.Fatal(err)
					}
				}
				p.discard()
				clear(t.state)
				t.cached = false
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/frame")
		})
	}
}

// BenchmarkDecap measures the per-frame work of Read after the recvmmsg:
// header checks, VNI and VTEP checks, learning (a known MAC), counters and
// the tag push, on 64 datagrams of one VTEP per op.
func BenchmarkDecap(b *testing.B) {
	for _, size := range []int{64, 1464} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ps := openPorts(b, []netip.Addr{lo(1)}, nil)
			p := ps[0]
			setNetworks(b, p, Network{VNI: 100, VID: 10, Peers: []netip.Addr{lo(2)}})
			inner := udpFrame(b, macB, macA, ipA, ipB, 1, 2, make([]byte, size-42))
			dgram := make(header.VXLAN, header.VXLANLen, header.VXLANLen+len(inner))
			dgram.Encode(&header.VXLANFields{Flags: header.VXLANFlagI, VNI: 100})
			dgram = append(dgram, inner...)
			r := &p.sys.rx
			bufs := make([][]byte, p.BatchSize())
			sizes := make([]int, len(bufs))
			const base = port.ReadOffset + header.VLANTagLen - header.VXLANLen
			for i := range bufs {
				bufs[i] = make([]byte, port.BufferSize)
				copy(bufs[i][base:], dgram)
				r.msgs[i].Len = uint32(len(dgram))
				sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.names[i]))
				sa.Family, sa.Addr = unix.AF_INET, lo(2).As4()
				binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], 50000)
			}
			r.got = len(bufs)
			b.ReportAllocs()
			for b.Loop() {
				for i := range bufs { // what decap moved
					copy(bufs[i][base:base+header.VXLANLen+12], dgram)
				}
				if n := p.decap(bufs, sizes, port.ReadOffset); n != len(bufs) {
					b.Fatalf("decap = %d frames, want %d: %v", n, len(bufs), p.DeviceDrops())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bufs)), "ns/frame")
		})
	}
}

// BenchmarkWriteRead measures a batch of 64 frames written by one Port and
// read by another over loopback, system calls and the kernel's UDP path
// included, one goroutine doing both.
func BenchmarkWriteRead(b *testing.B) {
	for _, size := range []int{64, 1464} { // inner frames: the smallest, the largest at MTU 1500
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			l := newAllocLab(b)
			f := wbuf(tagged(udpFrame(b, macB, macA, ipA, ipB, 1, 2, make([]byte, size-42)), 10), nil)
			l.batch = make([][]byte, 64)
			for i := range l.batch {
				l.batch[i] = f
			}
			l.want = len(l.batch)
			b.ReportAllocs()
			for b.Loop() {
				l.round(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*l.want), "ns/frame")
		})
	}
}
