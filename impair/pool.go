package impair

import (
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// A held frame is copied into the smallest buffer class that holds it, so
// a queue of 1000 small frames holds 2 MB, not the 65 MB of 1000
// port.Buffers. The largest class holds a 64 KiB super-frame.
var classSize = [...]int{
	header.VirtioNetLen + 2038, // 2 KiB: any frame of a 1500-byte MTU
	header.VirtioNetLen + 16374,
	header.VirtioNetLen + port.MaxFrameSize,
}

const numClasses = len(classSize)

// poolSlack is how many buffers a direction may have out beyond its queue
// limit: frames being written or read, duplicates, and the segments of a
// corrupted super-frame.
const poolSlack = 512

// held is a frame copied out of the caller's buffer.
type held struct {
	buf   []byte // the class buffer: virtio-net header, then the frame
	n     int    // frame length
	class uint8
}

// virtio returns the frame's virtio-net header.
func (f *held) virtio() header.VirtioNet { return header.VirtioNet(f.buf[:header.VirtioNetLen]) }

// frame returns the frame.
func (f *held) frame() []byte { return f.buf[header.VirtioNetLen : header.VirtioNetLen+f.n] }

// wire returns the virtio-net header and the frame, as Write takes them at
// offset header.VirtioNetLen.
func (f *held) wire() []byte { return f.buf[:header.VirtioNetLen+f.n] }

// bufPool is a bounded pool of held frames by class. It is not safe for
// concurrent use: each direction's mutex guards its pool.
type bufPool struct {
	free [numClasses][]*held
	out  int // handed out
	max  int // bound on out
}

// get returns a buffer for a frame of n bytes, or nil when max buffers are
// out.
func (p *bufPool) get(n int) *held {
	if p.out >= p.max {
		return nil
	}
	c := 0
	for c < numClasses-1 && classSize[c] < header.VirtioNetLen+n {
		c++
	}
	if header.VirtioNetLen+n > classSize[c] {
		return nil
	}
	p.out++
	if k := len(p.free[c]); k > 0 {
		f := p.free[c][k-1]
		p.free[c][k-1] = nil
		p.free[c] = p.free[c][:k-1]
		f.n = n
		return f
	}
	return &held{buf: make([]byte, classSize[c]), n: n, class: uint8(c)}
}

// put returns f to the pool.
func (p *bufPool) put(f *held) {
	p.out--
	p.free[f.class] = append(p.free[f.class], f)
}

// trim lets the garbage collector have the free buffers, once a direction
// holds nothing and is no longer impaired.
func (p *bufPool) trim() { p.free = [numClasses][]*held{} }
