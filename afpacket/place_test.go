package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// placeModel is what place must produce, built the slow way: the frame with
// the tag spliced in after the MACs and the virtio header shifted.
func placeModel(vh, frame []byte, tagged bool, tpid, tci uint16) (wantVH, wantFrame []byte) {
	wantVH = append([]byte(nil), vh...)
	if !tagged {
		return wantVH, append([]byte(nil), frame...)
	}
	tag := binary.BigEndian.AppendUint16(nil, tpid)
	tag = binary.BigEndian.AppendUint16(tag, tci)
	wantFrame = append(append(append([]byte(nil), frame[:macsLen]...), tag...), frame[macsLen:]...)
	header.VirtioNet(wantVH).Shift(header.VLANTagLen)
	return wantVH, wantFrame
}

// runPlace reads frame and vh into a buffer as Read would (at offset, or
// 4 bytes late), runs place and compares with the model.
func runPlace(t *testing.T, vh, frame []byte, late, tagged bool, tpid, tci uint16) {
	t.Helper()
	const offset = port.ReadOffset
	buf := make([]byte, offset+len(frame)+header.VLANTagLen+8)
	for i := range buf {
		buf[i] = 0xee // garbage the result must not depend on
	}
	at := offset
	if late {
		at += header.VLANTagLen
	}
	copy(buf[at-header.VirtioNetLen:], vh)
	copy(buf[at:], frame)
	n := place(buf, offset, at, len(frame), tagged, tpid, tci)

	wantVH, wantFrame := placeModel(vh, frame, tagged, tpid, tci)
	if got := buf[offset : offset+n]; !bytes.Equal(got, wantFrame) {
		t.Errorf("place(late=%v, tagged=%v) frame\n% x\nwant\n% x", late, tagged, got, wantFrame)
	}
	if got := buf[offset-header.VirtioNetLen : offset]; !bytes.Equal(got, wantVH) {
		t.Errorf("place(late=%v, tagged=%v) virtio header % x, want % x", late, tagged, got, wantVH)
	}
	if !bytes.Equal(buf[:offset-header.VirtioNetLen-header.VLANTagLen], bytes.Repeat([]byte{0xee}, offset-header.VirtioNetLen-header.VLANTagLen)) {
		t.Errorf("place(late=%v, tagged=%v) wrote into the headroom", late, tagged)
	}
}

func TestPlace(t *testing.T) {
	frame := make([]byte, 80)
	for i := range frame {
		frame[i] = byte(i)
	}
	partial := make([]byte, header.VirtioNetLen)
	header.VirtioNet(partial).Encode(&header.VirtioNetFields{
		Flags: header.VirtioNetFlagNeedsCsum, GSOType: header.VirtioNetGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16,
	})
	plain := make([]byte, header.VirtioNetLen)
	for _, c := range []struct {
		name         string
		vh           []byte
		late, tagged bool
	}{
		{"untagged read at offset", plain, false, false},
		{"untagged read late", plain, true, false},
		{"tagged read at offset", partial, false, true},
		{"tagged read late", partial, true, true},
		{"tagged, no offload", plain, true, true},
		{"untagged with offload", partial, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			runPlace(t, c.vh, frame, c.late, c.tagged, header.EtherTypeQinQ, header.MakeTCI(5, true, 1234))
		})
	}
	// The offsets a tagged frame ends with: those of the tagged frame.
	buf := make([]byte, port.BufferSize)
	copy(buf[port.ReadOffset+4-header.VirtioNetLen:], partial)
	place(buf, port.ReadOffset, port.ReadOffset+4, 60, true, header.EtherTypeVLAN, 7)
	vh := header.VirtioNet(buf[port.ReadOffset-header.VirtioNetLen:])
	if vh.CsumStart() != 38 || vh.HdrLen() != 58 || vh.GSOSize() != 1448 || vh.CsumOffset() != 16 {
		t.Errorf("after place: csum_start %d hdr_len %d gso_size %d csum_offset %d, want 38 58 1448 16",
			vh.CsumStart(), vh.HdrLen(), vh.GSOSize(), vh.CsumOffset())
	}
}

// FuzzPlace checks place against the model for any frame, virtio header,
// layout and tag.
func FuzzPlace(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xab}, 64), true, true, uint16(0x8100), uint16(0x2064))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xcd}, 14), false, false, uint16(0x88a8), uint16(0))
	f.Fuzz(func(t *testing.T, vh, frame []byte, late, tagged bool, tpid, tci uint16) {
		if len(vh) < header.VirtioNetLen || len(frame) < header.EthernetLen || len(frame) > 9000 {
			return
		}
		runPlace(t, vh[:header.VirtioNetLen], frame, late, tagged, tpid, tci)
	})
}
