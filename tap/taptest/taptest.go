// Package taptest provides an in-memory port.Port for tests: frames a test
// injects come out of Read, and frames the switch writes are queued for the
// test to receive. It needs no root and no kernel device. The entry point
// is New.
package taptest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// BatchSize is the batch size of a Port.
const BatchSize = 32

// Frame is a frame with its virtio header.
type Frame struct {
	Virtio [header.VirtioNetLen]byte
	Data   []byte
}

// Port is an in-memory port.Port. The zero value is not usable; call New.
type Port struct {
	name    string
	in      chan Frame    // frames for Read
	out     chan Frame    // frames written by the switch
	done    chan struct{} // closed by Close
	once    sync.Once
	Dropped atomic.Uint64 // written frames dropped because out was full
}

var _ port.Port = (*Port)(nil)

// New returns a port whose queues hold up to depth frames each.
func New(name string, depth int) *Port {
	return &Port{
		name: name,
		in:   make(chan Frame, depth),
		out:  make(chan Frame, depth),
		done: make(chan struct{}),
	}
}

// Name returns the port's name.
func (p *Port) Name() string { return p.name }

// Inject queues a frame (copied) for the switch to read, with a zero virtio
// header.
func (p *Port) Inject(frame []byte) { p.InjectVirtio(Frame{Data: frame}) }

// InjectVirtio queues a frame (copied) with the given virtio header.
func (p *Port) InjectVirtio(f Frame) {
	f.Data = append([]byte(nil), f.Data...)
	select {
	case p.in <- f:
	case <-p.done:
	}
}

// Recv waits up to timeout for a frame the switch wrote.
func (p *Port) Recv(timeout time.Duration) (Frame, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-p.out:
		return f, true
	case <-t.C:
		return Frame{}, false
	}
}

// Pending returns the number of written frames not yet received.
func (p *Port) Pending() int { return len(p.out) }

// BatchSize implements port.Port.
func (p *Port) BatchSize() int { return BatchSize }

// Read implements port.Port.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var f Frame
	select {
	case f = <-p.in:
	case <-p.done:
		return 0, port.ErrClosed
	}
	n := 0
	for {
		copy(bufs[n][offset-header.VirtioNetLen:], f.Virtio[:])
		sizes[n] = copy(bufs[n][offset:], f.Data)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case f = <-p.in:
		default:
			return n, nil
		}
	}
}

// Write implements port.Port. Frames are copied; when the queue is full
// they are dropped and counted.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) {
	select {
	case <-p.done:
		return 0, port.ErrClosed
	default:
	}
	n := 0
	for _, b := range bufs {
		var f Frame
		copy(f.Virtio[:], b[offset-header.VirtioNetLen:offset])
		f.Data = append([]byte(nil), b[offset:]...)
		select {
		case p.out <- f:
			n++
		default:
			p.Dropped.Add(1)
		}
	}
	return n, nil
}

// Close implements port.Port.
func (p *Port) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}
