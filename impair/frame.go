package impair

import (
	"encoding/binary"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
)

// WireBytes returns the bytes frame, whose virtio-net header is vh, takes
// on a link: its length, or for a GSO super-frame the length of the
// segments it stands for, each with a copy of the Ethernet, VLAN, IP and L4
// headers (offload.Segment's split). Preamble, FCS and inter-frame gap are
// not counted, as netem and tbf do not count them. A super-frame whose
// headers do not parse counts its length.
func WireBytes(frame []byte, vh header.VirtioNet) int {
	hdr, payload, mss, ok := superFrame(frame, vh)
	if !ok {
		return len(frame)
	}
	n := max(1, (payload+mss-1)/mss)
	return n*hdr + payload
}

// superFrame returns the header and payload lengths and the segment size of
// a GSO super-frame; ok is false if frame is not one or does not parse.
func superFrame(frame []byte, vh header.VirtioNet) (hdr, payload, mss int, ok bool) {
	if !vh.IsValid() || !vh.IsGSO() || vh.GSOSize() == 0 {
		return 0, 0, 0, false
	}
	var p header.Parsed
	if p.Decode(frame) != nil || p.PayloadOff == 0 || p.L3End < p.PayloadOff || p.L3End > len(frame) {
		return 0, 0, 0, false
	}
	return p.PayloadOff, p.L3End - p.PayloadOff, int(vh.GSOSize()), true
}

// l2Len returns the length of frame's Ethernet header and VLAN tags.
func l2Len(frame []byte) int {
	n := header.EthernetLen
	if len(frame) < n {
		return len(frame)
	}
	t := header.Ethernet(frame).Type()
	for header.IsTPID(t) && len(frame) >= n+header.VLANTagLen {
		t = binary.BigEndian.Uint16(frame[n+2:])
		n += header.VLANTagLen
	}
	return n
}

// Corrupt flips one bit of frame, whose virtio-net header is vh, chosen by
// bit among the bits after the Ethernet header and VLAN tags: those are
// left alone, since a real link's FCS would catch their corruption and the
// switch would forward a frame with a flipped tag into another VLAN. A
// checksum left to fill (NEEDS_CSUM) is completed first and the header
// cleared, as netem does, so the receiver can see the damage; DATA_VALID
// is cleared too. Corrupt reports whether it flipped a bit (false for a
// frame with nothing after its L2 header). A GSO super-frame must be split
// first (Port does, with offload.Segment): its checksums are computed after
// the flip, per segment, which would hide the damage.
func Corrupt(frame []byte, vh header.VirtioNet, bit uint64) bool {
	l := l2Len(frame)
	bits := uint64(len(frame)-l) * 8
	if bits == 0 {
		return false
	}
	if vh.IsValid() {
		if vh.NeedsCsum() && !vh.IsGSO() && offload.Finish(frame, vh) == nil {
			vh.Clear()
		}
		vh.SetFlags(vh.Flags() &^ header.VirtioNetFlagDataValid)
	}
	i := bit % bits
	frame[l+int(i/8)] ^= 1 << (i % 8)
	return true
}
