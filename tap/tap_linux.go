package tap

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// BatchSize is the number of frames one Read drains from a TAP after a
// single wake-up. There is no batch read for a TAP, so this bounds how many
// read syscalls share one poll and one pass through the datapath; 64 matches
// nebula and keeps a batch of 64 KiB super-frames at 4 MiB per port.
const BatchSize = 64

const tunDevice = "/dev/net/tun"

// Offload flag sets tried in order: with UDP segmentation (Linux ≥ 6.2; USO4
// and USO6 only together), then TCP only.
var offloadSets = []int{
	unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_USO4 | unix.TUN_F_USO6,
	unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6,
}

// MaxQueues bounds Options.Queues: more queues than cores only add
// goroutines and memory (each queue's worker has a batch of buffers).
const MaxQueues = 16

// Options configures Create.
type Options struct {
	// Name is the interface name; empty lets the kernel choose (tapN).
	Name string
	// Persist keeps the device when its file descriptor is closed, so a
	// restarted daemon can re-adopt it with Open. Remove it with
	// netlink.LinkDel.
	Persist bool
	// Queues is the number of queues: above 1 the device is made with
	// IFF_MULTI_QUEUE and one file descriptor per queue (at most
	// MaxQueues). The kernel hands each flow it sends to one queue, by
	// flow hash, and remembers on which queue vswitchd last wrote the
	// flow, so replies come back there (tx follows rx). 0 or 1: one
	// queue, a plain TAP.
	Queues int
}

// Device is an open TAP device. It owns its file descriptors, which Close
// releases. It implements port.Port: frames carry their virtio header in
// both directions, so offloaded frames pass through unchanged. A device
// with several queues also implements datapath.Queues (ReadQueue) and
// WriteQueue; Read and Write use queue 0.
type Device struct {
	name     string
	offloads int      // TUN_F_* flags accepted by TUNSETOFFLOAD
	qs       []*queue // one per queue, fixed for the device's life

	// mu keeps the fds open while a Write uses them: writers hold it
	// shared, Close exclusively. closed is set under mu and read without
	// it.
	mu     sync.RWMutex
	closed atomic.Bool
}

// queue is one file descriptor of a device.
type queue struct {
	fd int      // nonblocking, owned by f; writes use it directly
	f  *os.File // its poller parks Read while the queue is empty
	rc syscall.RawConn

	// Read's arguments and results, for readFn: Read runs on one goroutine
	// at a time per queue (port.Port) and readFn is made once, so a Read
	// allocates nothing.
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	// gro coalesces each batch written through the queue (offload.GRO);
	// a writer that finds groMu taken by another writes its batch as it
	// is.
	groMu sync.Mutex
	gro   *offload.GRO
}

// groOff turns GRO toward TAPs off (VSWITCHD_TAP_GRO=0), for A/B
// measurements.
var groOff = os.Getenv("VSWITCHD_TAP_GRO") == "0"

var _ port.Port = (*Device)(nil)

// Create creates a TAP device in the calling thread's network namespace and
// opens it with a virtio header and offloads.
func Create(opt Options) (*Device, error) {
	if opt.Name != "" && len(opt.Name) > unix.IFNAMSIZ-1 {
		return nil, fmt.Errorf("create tap %q: name longer than %d characters", opt.Name, unix.IFNAMSIZ-1)
	}
	if opt.Queues < 0 || opt.Queues > MaxQueues {
		return nil, fmt.Errorf("create tap %q: %d queues: want 1 to %d", opt.Name, opt.Queues, MaxQueues)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_TUN_EXCL)
	if opt.Queues > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	d, err := open(opt.Name, flags, max(opt.Queues, 1), opt.Persist)
	if err != nil {
		return nil, fmt.Errorf("create tap %q: %w", opt.Name, err)
	}
	return d, nil
}

// Open attaches to an existing persistent TAP device named name in the
// calling thread's network namespace (run it under netns.Do to re-adopt a
// device that was moved into an endpoint), with up to queues queues. A
// device made with one queue stays at one; a multi-queue device opened
// with queues ≤ 1 gets one queue.
func Open(name string, queues int) (*Device, error) {
	queues = min(max(queues, 1), MaxQueues)
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	mq := uint16(0)
	if queues > 1 {
		mq = unix.IFF_MULTI_QUEUE
	}
	d, err := open(name, flags|mq, queues, false)
	if errors.Is(err, unix.EINVAL) {
		// The device was made in the other mode (TUNSETIFF refuses a
		// mismatch of IFF_MULTI_QUEUE): attach one queue in its mode.
		d, err = open(name, flags|(mq^unix.IFF_MULTI_QUEUE), 1, false)
	}
	if err != nil {
		return nil, fmt.Errorf("open tap %q: %w", name, err)
	}
	return d, nil
}

// open opens n queues of the device name with flags; only the first open
// may create it (IFF_TUN_EXCL is dropped for the others).
func open(name string, flags uint16, n int, persist bool) (*Device, error) {
	var fds []int
	fail := func(err error) (*Device, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	offloads := 0
	for i := range n {
		fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", tunDevice, err))
		}
		fds = append(fds, fd)
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return fail(err)
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			if i > 0 {
				err = fmt.Errorf("queue %d: %w", i, err)
			}
			return fail(fmt.Errorf("TUNSETIFF: %w", err))
		}
		// The kernel named the device: later queues attach to it.
		name, flags = ifr.Name(), flags&^unix.IFF_TUN_EXCL
		if offloads, err = setupQueue(fd); err != nil {
			return fail(err)
		}
	}
	// Persist last: an error above leaves no device behind.
	if persist {
		if err := unix.IoctlSetInt(fds[0], unix.TUNSETPERSIST, 1); err != nil {
			return fail(fmt.Errorf("TUNSETPERSIST: %w", err))
		}
	}
	return device(name, fds, offloads)
}

// setupQueue sets the virtio header size and the offloads on one queue,
// as every queue needs them (kernel tuntap.txt), and returns the offloads
// the kernel took.
func setupQueue(fd int) (offloads int, err error) {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, header.VirtioNetLen); err != nil {
		return 0, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
	}
	return setOffloads(fd)
}

// device wraps the set-up queues fds of the TAP name, with offloads, and
// gives each queue its GRO planner unless VSWITCHD_TAP_GRO turns it off.
func device(name string, fds []int, offloads int) (*Device, error) {
	d, err := newDevice(name, fds...)
	if err != nil {
		return nil, err
	}
	d.offloads = offloads
	if !groOff {
		for _, q := range d.qs {
			q.gro = offload.NewGRO(BatchSize, d.UDPOffload())
		}
	}
	return d, nil
}

// setOffloads enables the first set of offloads the kernel accepts and
// returns it.
func setOffloads(fd int) (int, error) {
	var err error
	for _, set := range offloadSets {
		if err = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, set); err == nil {
			return set, nil
		}
	}
	return 0, fmt.Errorf("TUNSETOFFLOAD: %w", err)
}

// newDevice wraps open TAP-like file descriptors (one frame with its
// virtio header per read and write), one per queue, taking ownership of
// fds (closing them on error).
func newDevice(name string, fds ...int) (*Device, error) {
	d := &Device{name: name}
	for i, fd := range fds {
		q, err := newQueue(fd, name)
		if err != nil {
			for _, fd := range fds[i+1:] {
				unix.Close(fd)
			}
			for _, q := range d.qs {
				q.f.Close()
			}
			return nil, err
		}
		d.qs = append(d.qs, q)
	}
	return d, nil
}

// newQueue wraps one queue's fd, taking ownership of it.
func newQueue(fd int, name string) (*queue, error) {
	// Nonblocking before os.NewFile, so the fd joins the netpoller; never
	// call (*os.File).Fd, which would make it blocking again.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set nonblocking: %w", err)
	}
	q := &queue{fd: fd, f: os.NewFile(uintptr(fd), name)}
	q.readFn = q.drain
	rc, err := q.f.SyscallConn()
	if err != nil {
		q.f.Close()
		return nil, err
	}
	q.rc = rc
	return q, nil
}

// Name returns the interface name the device had when it was opened (it
// changes if the link is renamed, e.g. to eth0 inside an endpoint).
func (d *Device) Name() string { return d.name }

// UDPOffload reports whether the kernel accepted UDP segmentation offload
// (USO) for reads.
func (d *Device) UDPOffload() bool { return d.offloads&unix.TUN_F_USO4 != 0 }

// BatchSize implements port.Port.
func (d *Device) BatchSize() int { return BatchSize }

// Queues implements datapath.Queues: the number of queues, fixed for the
// device's life.
func (d *Device) Queues() int { return len(d.qs) }

// Read implements port.Port: ReadQueue on queue 0.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return d.ReadQueue(0, bufs, sizes, offset)
}

// ReadQueue implements datapath.Queues. It blocks in the netpoller until
// queue q is readable, then drains it without blocking until EAGAIN or
// len(bufs) frames. A TAP read returns the virtio header followed by the
// frame, so reading at offset-VirtioNetLen puts both where port.Port wants
// them. One goroutine per queue may call it.
func (d *Device) ReadQueue(q int, bufs [][]byte, sizes []int, offset int) (int, error) {
	if q < 0 || q >= len(d.qs) {
		return 0, fmt.Errorf("read tap %s: no queue %d", d.name, q)
	}
	dq := d.qs[q]
	dq.rbufs, dq.rsizes, dq.roff, dq.rn, dq.rerr = bufs, sizes, offset, 0, nil
	err := dq.rc.Read(dq.readFn)
	n, rerr := dq.rn, dq.rerr
	dq.rbufs, dq.rsizes, dq.rerr = nil, nil, nil
	if err != nil {
		return n, port.MapClosed(d.closed.Load(), err)
	}
	if rerr != nil && n == 0 {
		return 0, fmt.Errorf("read tap %s: %w", d.name, rerr)
	}
	return n, nil
}

// drain is ReadQueue's body, run by the poller: it returns false to wait
// for readiness when nothing was read yet.
func (q *queue) drain(fd uintptr) bool {
	for q.rn < len(q.rbufs) {
		m, err := unix.Read(int(fd), q.rbufs[q.rn][q.roff-header.VirtioNetLen:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return q.rn > 0
		case err != nil:
			q.rerr = err
			return true
		case m < header.VirtioNetLen+header.EthernetLen:
			continue // runt: nothing to forward
		}
		q.rsizes[q.rn] = m - header.VirtioNetLen
		q.rn++
	}
	return true
}

// Write implements port.Port: WriteQueue on queue 0.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	return d.WriteQueue(0, bufs, offset)
}

// WriteQueue is port.Port's Write through queue q modulo Queues(). The
// frames are written with their virtio header, so checksums left to fill
// and super-frames go to the kernel as they are. Writing to a TAP never
// blocks: a frame the kernel refuses (EAGAIN when the queue is full, EIO
// while the link is down) is dropped. Writers share a queue's descriptor
// directly, without the poller's lock; the kernel delivers a written frame
// on the writer's thread, so frames of one flow stay in order when one
// goroutine writes them, whatever the queue, and the kernel steers the
// flow's replies to the queue it was last written on.
func (d *Device) WriteQueue(q int, bufs [][]byte, offset int) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, port.ErrClosed
	}
	qu := d.qs[q%len(d.qs)]
	if len(bufs) > 1 && qu.gro != nil && qu.groMu.TryLock() {
		defer qu.groMu.Unlock()
		return d.writeGRO(qu, bufs, offset)
	}
	n := 0
	var werr error
	for _, b := range bufs {
		if err := writeRetry(qu.fd, b[offset-header.VirtioNetLen:], nil); err == nil {
			n++
		} else if werr == nil {
			werr = err
		}
	}
	if werr != nil {
		return n, fmt.Errorf("write tap %s: %w", d.name, werr)
	}
	return n, nil
}

// writeGRO writes bufs coalesced: same-flow TCP segments and equal-size
// UDP datagrams become one super-frame each, written with writev straight
// from the frames' buffers (see offload.GRO), through queue qu. The caller
// holds qu.groMu.
func (d *Device) writeGRO(qu *queue, bufs [][]byte, offset int) (int, error) {
	var werr error
	n := 0
	for len(bufs) > 0 {
		batch := bufs[:min(len(bufs), BatchSize)]
		bufs = bufs[len(batch):]
		w := qu.gro.Coalesce(batch, offset)
		for i := range w {
			if err := writeRetry(qu.fd, nil, qu.gro.Write(i, batch, offset)); err == nil {
				n += qu.gro.Frames(i)
			} else if werr == nil {
				werr = err
			}
		}
	}
	if werr != nil {
		return n, fmt.Errorf("write tap %s: %w", d.name, werr)
	}
	return n, nil
}

// writeRetry writes b, or the iovecs iov if not nil, to fd, again after
// EINTR.
func writeRetry(fd int, b []byte, iov [][]byte) error {
	for {
		var err error
		if iov != nil {
			_, err = unix.Writev(fd, iov)
		} else {
			_, err = unix.Write(fd, b)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// Close implements port.Port. A persistent device stays in the kernel.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return port.ErrClosed
	}
	var errs []error
	for _, q := range d.qs {
		if err := q.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
