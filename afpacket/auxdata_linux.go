package afpacket

import (
	"encoding/binary"

	"github.com/vswitchd/vswitchd/header"
	"golang.org/x/sys/unix"
)

// auxdataLen is the length of struct tpacket_auxdata (linux/if_packet.h).
const auxdataLen = 20

// ctrlLen is the control buffer each received message gets: room for one
// PACKET_AUXDATA message, the only one the socket enables.
var ctrlLen = unix.CmsgSpace(auxdataLen)

// auxdata holds the fields of struct tpacket_auxdata that Read uses.
type auxdata struct {
	status uint32 // TP_STATUS_* bits
	tci    uint16 // tp_vlan_tci
	tpid   uint16 // tp_vlan_tpid
}

// parseAuxdata finds the PACKET_AUXDATA message among the control messages
// in b (as recvmsg filled them, msg_controllen bytes) without allocating,
// unlike unix.ParseSocketControlMessage. It reports false if there is none
// or it is truncated.
func parseAuxdata(b []byte) (auxdata, bool) {
	for len(b) >= unix.SizeofCmsghdr {
		var n uint64
		var level, typ int32
		if unix.SizeofCmsghdr == 16 { // 64-bit: size_t cmsg_len
			n = binary.NativeEndian.Uint64(b)
			level = int32(binary.NativeEndian.Uint32(b[8:]))
			typ = int32(binary.NativeEndian.Uint32(b[12:]))
		} else {
			n = uint64(binary.NativeEndian.Uint32(b))
			level = int32(binary.NativeEndian.Uint32(b[4:]))
			typ = int32(binary.NativeEndian.Uint32(b[8:]))
		}
		if n < unix.SizeofCmsghdr || n > uint64(len(b)) {
			return auxdata{}, false
		}
		if level == unix.SOL_PACKET && typ == unix.PACKET_AUXDATA {
			d := b[unix.SizeofCmsghdr:n]
			if len(d) < auxdataLen {
				return auxdata{}, false
			}
			return auxdata{
				status: binary.NativeEndian.Uint32(d),
				tci:    binary.NativeEndian.Uint16(d[16:]),
				tpid:   binary.NativeEndian.Uint16(d[18:]),
			}, true
		}
		next := unix.CmsgSpace(int(n) - unix.SizeofCmsghdr)
		if next > len(b) {
			return auxdata{}, false
		}
		b = b[next:]
	}
	return auxdata{}, false
}

// vlan returns the tag the kernel took off the frame, if any. As Open
// vSwitch does, a nonzero TCI counts as a tag even without
// TP_STATUS_VLAN_VALID (kernels before 3.0 did not set it), and a TPID the
// kernel did not report (before 3.14) is taken to be 802.1Q.
func (a auxdata) vlan() (tpid, tci uint16, ok bool) {
	if a.status&unix.TP_STATUS_VLAN_VALID == 0 && a.tci == 0 {
		return 0, 0, false
	}
	tpid = header.EtherTypeVLAN
	if a.status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && a.tpid != 0 {
		tpid = a.tpid
	}
	return tpid, a.tci, true
}
