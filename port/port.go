// Package port defines the batched frame I/O interface every switch port
// implements (TAP, AF_PACKET, internal, in-memory test ports), the buffer
// layout frames travel in, and a bounded buffer pool.
//
// # Buffer layout
//
// A frame lives in a buffer of BufferSize bytes. Ports read a frame to
// buf[offset:] and its offload metadata, a struct virtio_net_hdr, to
// buf[offset-header.VirtioNetLen:offset]. The datapath reads at
// ReadOffset, which leaves Headroom bytes in front of the virtio header so a
// VLAN tag can be pushed by moving the first 12 bytes (and the virtio header)
// back, without copying the frame. A port without offload support writes a
// zero virtio header on read and, on write, finishes checksums and splits
// super-frames itself.
//
// The entry point is the Port interface.
package port

import (
	"errors"
	"os"

	"github.com/vswitchd/vswitchd/header"
)

const (
	// MaxFrameSize is the largest frame a port reads or writes: a 64 KiB
	// TCP/UDP segmentation-offload super-frame plus its Ethernet header and
	// two VLAN tags.
	MaxFrameSize = 65535 + header.EthernetLen + 2*header.VLANTagLen

	// Headroom is the space kept in front of the virtio header of a frame
	// that was read, enough to push four VLAN tags in place.
	Headroom = 4 * header.VLANTagLen

	// ReadOffset is the offset the datapath passes to Read: the frame
	// starts after the headroom and the virtio header. 26 also puts the IP
	// header of an untagged frame on a 4-byte boundary.
	ReadOffset = Headroom + header.VirtioNetLen

	// WriteOffset is the smallest offset accepted by Write: room for the
	// virtio header.
	WriteOffset = header.VirtioNetLen

	// BufferSize is the size of one frame buffer.
	BufferSize = ReadOffset + MaxFrameSize
)

// ErrClosed is returned by Read and Write after Close.
var ErrClosed = errors.New("port closed")

// Port is a batched frame device. Implementations document whether they
// carry offloaded frames (virtio NEEDS_CSUM and GSO super-frames) through or
// finish them in software.
type Port interface {
	// Read blocks until at least one frame is available, then reads up to
	// len(bufs) frames without blocking further. Frame i is stored at
	// bufs[i][offset:offset+sizes[i]] and its virtio header at
	// bufs[i][offset-header.VirtioNetLen:offset]. Each bufs[i] must hold
	// offset+MaxFrameSize bytes, len(sizes) must be at least len(bufs), and
	// offset must be at least header.VirtioNetLen. Read returns the number
	// of frames read; after Close it returns ErrClosed. Only one goroutine
	// may call Read at a time.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)

	// Write sends frame i, bufs[i][offset:], with the virtio header
	// bufs[i][offset-header.VirtioNetLen:offset]. It tries every frame and
	// returns how many the device accepted and the first error seen; the
	// others are dropped, and the caller counts them. Write does not keep
	// the buffers after it returns and does not modify the frames, so one
	// buffer may be written to several ports. Write is safe for concurrent
	// use.
	Write(bufs [][]byte, offset int) (n int, err error)

	// BatchSize returns the largest number of frames Read returns at once.
	// It is fixed for the life of the port.
	BatchSize() int

	// Close releases the device and makes blocked and later Read and Write
	// calls return ErrClosed.
	Close() error
}

// DeviceCounter is implemented by ports that count frames their device
// refused or lost before the datapath saw them (truncated reads, kernel
// socket drops). Listings show them next to the datapath's own drops.
type DeviceCounter interface {
	// DeviceDrops returns the counts by name; zero counts may be omitted.
	DeviceDrops() map[string]uint64
}

// Buffer is one frame buffer (see the package comment for its layout).
type Buffer [BufferSize]byte

// MapClosed returns ErrClosed if the port has been closed or err is
// os.ErrClosed, and err otherwise. A syscall.RawConn reports a closed file
// with the poller's own error, which os.ErrClosed does not match, so ports
// that use one track closing themselves and pass closed here.
func MapClosed(closed bool, err error) error {
	if closed || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}
