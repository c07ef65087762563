package afpacket

import (
	"encoding/binary"
	"errors"

	"github.com/vswitchd/vswitchd/header"
)

// DefaultBatchSize is the number of frames one Read returns at most when
// Options.BatchSize is 0: one recvmmsg call of up to 64 messages. It matches
// tap.BatchSize, so a datapath worker's buffers serve both kinds of port,
// and OVS's NETDEV_MAX_BURST of 32 doubled: on a veth, where the sender is
// a kernel stack that queues faster than one syscall drains, larger batches
// amortise the poll wake-up further, while 64 super-frames of 64 KiB (4 MiB)
// still fit the socket's receive buffer.
const DefaultBatchSize = 64

// MaxBatchSize is the largest Options.BatchSize: the kernel caps one
// recvmmsg or sendmmsg at UIO_MAXIOV messages.
const MaxBatchSize = 1024

// ErrLinkNotFound is wrapped by Open when no interface has the given name in
// the calling thread's network namespace.
var ErrLinkNotFound = errors.New("link not found")

// Options configures Open. The zero value is a usable default.
type Options struct {
	// Promiscuous puts the interface in promiscuous mode (a PACKET_MR_PROMISC
	// membership, dropped automatically when the socket closes), so frames
	// for MACs the switch answers for, not only the interface's own, are
	// received. A veth delivers every frame without it; a NIC filters.
	Promiscuous bool
	// BatchSize is the largest number of frames one Read returns, 1 to
	// MaxBatchSize; 0 means DefaultBatchSize.
	BatchSize int
}

// Stats counts what a Port dropped or waited out on receive. Frames Write
// could not send are reported by its return value, as port.Port says.
type Stats struct {
	// RxTruncated counts frames longer than a read buffer, dropped.
	RxTruncated uint64
	// RxRunts counts frames shorter than an Ethernet header, dropped.
	RxRunts uint64
	// RxErrors counts socket errors Read waited out instead of returning,
	// such as ENETDOWN when the interface went down.
	RxErrors uint64
	// KernelDrops counts frames the kernel dropped because the socket's
	// receive queue was full (PACKET_STATISTICS tp_drops).
	KernelDrops uint64
	// TxTooBig counts frames the kernel refused as longer than the link's
	// MTU allows (EMSGSIZE; super-frames are exempt). A QinQ provider link
	// needs an MTU of 1508 for full-size customer frames.
	TxTooBig uint64
	// TxQueueFull counts frames dropped because the socket's send queue
	// was full (EAGAIN, ENOBUFS).
	TxQueueFull uint64
	// TxRefused counts frames the kernel refused for other reasons.
	TxRefused uint64
}

const macsLen = 12 // destination and source MACs, before the first tag

// place moves a frame read at buf[at:at+n], its virtio header at
// buf[at-header.VirtioNetLen:at], to buf[offset:], where port.Port wants
// it, inserting the VLAN tag (tpid, tci) after the MACs if tagged, and
// returns the frame's new length. at is offset or offset+4 (the frame was
// read with room for a tag). The two cases that match cost a 22-byte move
// at most: a tagged frame read at offset+4 gets its virtio header and MACs
// moved back over the room, an untagged frame read at offset stays. The
// other two move the frame by 4 bytes. The virtio header's csum_start and
// hdr_len are shifted by +4 when a tag is inserted, since they count from
// the start of the frame. n must be at least 12 and buf must hold
// offset+n+4 bytes.
func place(buf []byte, offset, at, n int, tagged bool, tpid, tci uint16) int {
	const vh = header.VirtioNetLen
	switch {
	case !tagged && at == offset:
		return n
	case !tagged:
		copy(buf[offset-vh:offset+n], buf[at-vh:at+n])
		return n
	case at == offset+header.VLANTagLen:
		copy(buf[offset-vh:offset+macsLen], buf[at-vh:at+macsLen])
	default:
		copy(buf[offset+macsLen+header.VLANTagLen:offset+n+header.VLANTagLen], buf[offset+macsLen:offset+n])
	}
	tag := buf[offset+macsLen : offset+macsLen+header.VLANTagLen]
	binary.BigEndian.PutUint16(tag, tpid)
	binary.BigEndian.PutUint16(tag[2:], tci)
	header.VirtioNet(buf[offset-vh : offset]).Shift(header.VLANTagLen)
	return n + header.VLANTagLen
}
