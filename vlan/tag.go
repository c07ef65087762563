package vlan

import (
	"encoding/binary"

	"github.com/vswitchd/vswitchd/header"
)

// macsLen is the length of the destination and source MACs, which sit
// before the first tag (IEEE 802.1Q-2018 §9.5: the tag follows the source
// address).
const macsLen = 12

// moveLen is what Pop and Push move: the virtio header and the MACs, which
// are adjacent in a port buffer.
const moveLen = header.VirtioNetLen + macsLen

// Pop removes the outer VLAN tag of the frame at buf[start:] in place and
// returns the frame's new start, start+4. The frame buf[start:start+n]
// becomes buf[start+4:start+n]: the virtio header at
// buf[start-header.VirtioNetLen:start] and the 12 MAC bytes move forward
// over the tag, the rest of the frame stays where it is, and the virtio
// csum_start and hdr_len are shifted by −4 (header.VirtioNet.Shift), so a
// frame whose checksum or segmentation is left to the receiver stays
// correct. (Shift leaves a zero hdr_len alone, so a bogus hdr_len of 4
// becomes 0 and stays 0 through a later Push.) The frame must carry a tag
// (the caller has decoded it: at least 18 bytes) and start must be at least
// header.VirtioNetLen. Pop does not allocate.
func Pop(buf []byte, start int) int {
	_ = buf[start+macsLen+header.VLANTagLen+1] // the tag and the EtherType after it
	from := start - header.VirtioNetLen
	copy(buf[from+header.VLANTagLen:from+header.VLANTagLen+moveLen], buf[from:from+moveLen])
	start += header.VLANTagLen
	header.VirtioNet(buf[start-header.VirtioNetLen : start]).Shift(-header.VLANTagLen)
	return start
}

// Push inserts a VLAN tag with TPID tpid and tag control information tci
// after the MACs of the frame at buf[start:] and returns the frame's new
// start, start−4. The frame buf[start:start+n] becomes buf[start-4:start+n]:
// the virtio header at buf[start-header.VirtioNetLen:start] and the MACs
// move back 4 bytes into the headroom, and the virtio csum_start and
// hdr_len are shifted by +4. start must be at least
// header.VLANTagLen+header.VirtioNetLen (port.ReadOffset leaves room for
// four pushes) and the frame must hold at least its 12 MAC bytes. Push does
// not allocate.
func Push(buf []byte, start int, tpid, tci uint16) int {
	_ = buf[start+macsLen-1]
	from := start - header.VirtioNetLen
	to := from - header.VLANTagLen
	copy(buf[to:to+moveLen], buf[from:from+moveLen])
	tag := buf[start+macsLen-header.VLANTagLen : start+macsLen]
	binary.BigEndian.PutUint16(tag, tpid)
	binary.BigEndian.PutUint16(tag[2:], tci)
	start -= header.VLANTagLen
	header.VirtioNet(buf[start-header.VirtioNetLen : start]).Shift(header.VLANTagLen)
	return start
}

// PopParsed updates pk, decoded from a frame, to describe the frame after
// Pop removed its outer tag, so the datapath need not decode it again: the
// tags move up one place and every offset moves back 4 bytes. pk must have
// at least one tag. As after Decode, a tag beyond header.MaxTags stays
// unrecorded (EtherType holds its TPID) even though the pop made room for
// it.
func PopParsed(pk *header.Parsed) {
	if pk.Tags == 0 {
		return
	}
	pk.Len -= header.VLANTagLen
	copy(pk.TPID[:], pk.TPID[1:])
	copy(pk.TCI[:], pk.TCI[1:])
	pk.Tags--
	pk.TPID[pk.Tags], pk.TCI[pk.Tags] = 0, 0
	for _, off := range [...]*int{&pk.L3Off, &pk.L4Off, &pk.PayloadOff, &pk.L3End} {
		if *off != 0 {
			*off -= header.VLANTagLen
		}
	}
}
