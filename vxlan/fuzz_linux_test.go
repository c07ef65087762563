package vxlan

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// FuzzDecap runs a UDP payload from a peer through the port's
// decapsulation, as Read does after recvmmsg: no panic; a datagram is
// either dropped and counted under exactly one reason, or becomes exactly
// one frame that is its inner frame with the network's 802.1Q tag pushed
// and a zero virtio header, and only a datagram with the I flag, the
// network's VNI, a full Ethernet header and no inner tag does. The seeds
// (testdata/fuzz/FuzzDecap) are VXLAN datagrams of VNI 42 captured from
// the Linux vxlan device and from a Port talking to it.
func FuzzDecap(f *testing.F) {
	p, err := newPort(Options{Local: lo(1)})
	if err != nil {
		f.Fatal(err)
	}
	p.initBuffers()
	if err := p.SetNetworks([]Network{{VNI: 42, VID: 10, Peers: []netip.Addr{lo(2)}}}); err != nil {
		f.Fatal(err)
	}
	bufs := [][]byte{make([]byte, port.BufferSize)}
	sizes := []int{0}
	const base = port.ReadOffset + header.VLANTagLen - header.VXLANLen
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > len(bufs[0])-base {
			data = data[:len(bufs[0])-base]
		}
		for i := range bufs[0] {
			bufs[0][i] = 0xa5 // garbage in the virtio header and headroom
		}
		copy(bufs[0][base:], data)
		r := &p.sys.rx
		r.msgs[0].Len = uint32(len(data))
		r.msgs[0].Hdr.Flags = 0
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.names[0]))
		sa.Family, sa.Addr = unix.AF_INET, lo(2).As4()
		r.got = 1
		before := dropSum(p.DeviceDrops())
		n := p.decap(bufs, sizes, port.ReadOffset)
		dropped := dropSum(p.DeviceDrops()) - before
		v := header.VXLAN(data)
		good := len(data) >= header.VXLANLen+header.EthernetLen && v.HasVNI() && v.VNI() == 42 &&
			!header.IsTPID(binary.BigEndian.Uint16(data[header.VXLANLen+12:]))
		switch {
		case n > 1 || n+int(dropped) != 1:
			t.Fatalf("decap = %d frames, %d drops; want one or the other", n, dropped)
		case good != (n == 1):
			t.Fatalf("decap = %d frames for a datagram that is good: %v", n, good)
		case n == 0:
			return
		}
		inner := data[header.VXLANLen:]
		want := append(append(bytes.Clone(inner[:12]), 0x81, 0x00, 0, 10), inner[12:]...)
		got := bufs[0][port.ReadOffset : port.ReadOffset+sizes[0]]
		if !bytes.Equal(got, want) {
			t.Fatalf("frame % x, want % x", got, want)
		}
		if vh := header.VirtioNet(bufs[0][port.ReadOffset-header.VirtioNetLen : port.ReadOffset]); vh.IsGSO() || vh.NeedsCsum() || vh.Flags() != 0 {
			t.Fatalf("virtio header % x not cleared", []byte(vh))
		}
	})
}

func dropSum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
