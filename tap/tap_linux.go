package tap

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vswitchd/vswitchd/header"
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

// Options configures Create.
type Options struct {
	// Name is the interface name; empty lets the kernel choose (tapN).
	Name string
	// Persist keeps the device when its file descriptor is closed, so a
	// restarted daemon can re-adopt it with Open. Remove it with
	// netlink.LinkDel.
	Persist bool
}

// Device is an open TAP device. It owns its file descriptor, which Close
// releases. It implements port.Port: frames carry their virtio header in
// both directions, so offloaded frames pass through unchanged.
type Device struct {
	name     string
	fd       int      // nonblocking, owned by f; Write uses it directly
	f        *os.File // its poller parks Read while the device is empty
	rc       syscall.RawConn
	offloads int // TUN_F_* flags accepted by TUNSETOFFLOAD

	// mu keeps fd open while a Write uses it: writers hold it shared,
	// Close exclusively. closed is set under mu and read without it.
	mu     sync.RWMutex
	closed atomic.Bool

	// Read's arguments and results, for readFn: Read runs on one goroutine
	// at a time (port.Port) and readFn is made once, so a Read allocates
	// nothing.
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
}

var _ port.Port = (*Device)(nil)

// Create creates a TAP device in the calling thread's network namespace and
// opens it with a virtio header and offloads.
func Create(opt Options) (*Device, error) {
	if opt.Name != "" && len(opt.Name) > unix.IFNAMSIZ-1 {
		return nil, fmt.Errorf("create tap %q: name longer than %d characters", opt.Name, unix.IFNAMSIZ-1)
	}
	d, err := open(opt.Name, unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR|unix.IFF_TUN_EXCL, opt.Persist)
	if err != nil {
		return nil, fmt.Errorf("create tap %q: %w", opt.Name, err)
	}
	return d, nil
}

// Open attaches to an existing persistent TAP device named name in the
// calling thread's network namespace (run it under netns.Do to re-adopt a
// device that was moved into an endpoint).
func Open(name string) (*Device, error) {
	d, err := open(name, unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR, false)
	if err != nil {
		return nil, fmt.Errorf("open tap %q: %w", name, err)
	}
	return d, nil
}

func open(name string, flags uint16, persist bool) (*Device, error) {
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", tunDevice, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, header.VirtioNetLen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
	}
	offloads, err := setOffloads(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Persist last: an error above leaves no device behind.
	if persist {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETPERSIST: %w", err)
		}
	}
	d, err := newDevice(fd, ifr.Name())
	if err != nil {
		return nil, err
	}
	d.offloads = offloads
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

// newDevice wraps an open TAP-like file descriptor (one frame with its
// virtio header per read and write), taking ownership of fd.
func newDevice(fd int, name string) (*Device, error) {
	// Nonblocking before os.NewFile, so the fd joins the netpoller; never
	// call (*os.File).Fd, which would make it blocking again.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set nonblocking: %w", err)
	}
	d := &Device{name: name, fd: fd, f: os.NewFile(uintptr(fd), name)}
	d.readFn = d.drain
	rc, err := d.f.SyscallConn()
	if err != nil {
		d.f.Close()
		return nil, err
	}
	d.rc = rc
	return d, nil
}

// Name returns the interface name the device had when it was opened (it
// changes if the link is renamed, e.g. to eth0 inside an endpoint).
func (d *Device) Name() string { return d.name }

// UDPOffload reports whether the kernel accepted UDP segmentation offload
// (USO) for reads.
func (d *Device) UDPOffload() bool { return d.offloads&unix.TUN_F_USO4 != 0 }

// BatchSize implements port.Port.
func (d *Device) BatchSize() int { return BatchSize }

// Read implements port.Port. It blocks in the netpoller until the device is
// readable, then drains it without blocking until EAGAIN or len(bufs)
// frames. A TAP read returns the virtio header followed by the frame, so
// reading at offset-VirtioNetLen puts both where port.Port wants them.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.rbufs, d.rsizes, d.roff, d.rn, d.rerr = bufs, sizes, offset, 0, nil
	err := d.rc.Read(d.readFn)
	n, rerr := d.rn, d.rerr
	d.rbufs, d.rsizes, d.rerr = nil, nil, nil
	if err != nil {
		return n, port.MapClosed(d.closed.Load(), err)
	}
	if rerr != nil && n == 0 {
		return 0, fmt.Errorf("read tap %s: %w", d.name, rerr)
	}
	return n, nil
}

// drain is Read's body, run by the poller: it returns false to wait for
// readiness when nothing was read yet.
func (d *Device) drain(fd uintptr) bool {
	for d.rn < len(d.rbufs) {
		m, err := unix.Read(int(fd), d.rbufs[d.rn][d.roff-header.VirtioNetLen:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return d.rn > 0
		case err != nil:
			d.rerr = err
			return true
		case m < header.VirtioNetLen+header.EthernetLen:
			continue // runt: nothing to forward
		}
		d.rsizes[d.rn] = m - header.VirtioNetLen
		d.rn++
	}
	return true
}

// Write implements port.Port. The frames are written with their virtio
// header, so checksums left to fill and super-frames go to the kernel as
// they are. Writing to a TAP never blocks: a frame the kernel refuses
// (EAGAIN when the queue is full, EIO while the link is down) is dropped.
// Writers share the descriptor directly, without the poller's lock.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, port.ErrClosed
	}
	n := 0
	var werr error
	for _, b := range bufs {
		for {
			_, err := unix.Write(d.fd, b[offset-header.VirtioNetLen:])
			if err == unix.EINTR {
				continue
			}
			if err == nil {
				n++
			} else if werr == nil {
				werr = err
			}
			break
		}
	}
	if werr != nil {
		return n, fmt.Errorf("write tap %s: %w", d.name, werr)
	}
	return n, nil
}

// Close implements port.Port. A persistent device stays in the kernel.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return port.ErrClosed
	}
	return d.f.Close()
}
