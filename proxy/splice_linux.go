package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked of each relay pipe (F_SETPIPE_SZ): one
// splice moves up to this much. Root may always raise a pipe to
// /proc/sys/fs/pipe-max-size (1 MiB by default); if the kernel refuses,
// the pipe keeps its default 64 KiB and only the chunk size changes.
const pipeSize = 1 << 20

// maxIdlePipes bounds the drained pipes a Proxy keeps for new
// connections: enough for the directions of 32 connections opening and
// closing at once. An idle pipe holds two descriptors and its array of
// pipe buffers (10 KiB at 1 MiB), no pages.
const maxIdlePipes = 64

// pipe is a relay pipe: its read and write ends (nonblocking) and its
// capacity.
type pipe struct {
	r, w, size int
}

// idleList keeps idle resources (relay pipes, unused sockets) for reuse,
// up to a bound, until it is closed.
type idleList[T any] struct {
	mu     sync.Mutex // guards the fields below
	free   []T
	closed bool // set by drain(true); push keeps nothing from then on
}

// pop takes an idle resource, if any.
func (l *idleList[T]) pop() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var x T
	n := len(l.free)
	if n == 0 {
		return x, false
	}
	x = l.free[n-1]
	l.free = l.free[:n-1]
	return x, true
}

// push keeps x if the list is open and holds fewer than most; false means
// the caller must release x.
func (l *idleList[T]) push(x T, most int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.free) >= most {
		return false
	}
	l.free = append(l.free, x)
	return true
}

// drain takes every idle resource, for the caller to release, and with
// close set keeps none from then on.
func (l *idleList[T]) drain(close bool) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	free := l.free
	l.free = nil
	l.closed = l.closed || close
	return free
}

// idle returns how many resources the list holds.
func (l *idleList[T]) idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.free)
}

// pipePool keeps drained relay pipes, so that a connection does not pay
// for pipe2, F_SETPIPE_SZ and the pipe's release per direction: at a few
// thousand connections a second these were a fifth of the relay's CPU.
type pipePool struct{ idleList[pipe] }

// get returns a pipe from the pool, or a new one sized to pipeSize (or
// the default 64 KiB if the kernel refuses).
func (pp *pipePool) get() (pipe, error) {
	if p, ok := pp.pop(); ok {
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return pipe{}, fmt.Errorf("pipe2: %w", err)
	}
	p := pipe{r: fds[0], w: fds[1], size: 64 << 10}
	if n, err := unix.FcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, pipeSize); err == nil {
		p.size = n
	}
	return p, nil
}

// put returns p, which must be empty, to the pool, or closes it if the
// pool is full or closed.
func (pp *pipePool) put(p pipe) {
	if !pp.push(p, maxIdlePipes) {
		p.close()
	}
}

// close closes the pooled pipes; later puts close theirs.
func (pp *pipePool) close() {
	for _, p := range pp.drain(true) {
		p.close()
	}
}

// close closes both ends of p.
func (p pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// splicer moves one direction of a TCP connection with splice(2) through a
// pipe it holds: socket → pipe → socket, the payload staying in the kernel.
// Its read and write callbacks are method values made once, so a chunk
// costs two splice calls and no allocation.
type splicer struct {
	src, dst syscall.RawConn
	pr, pw   int   // the pipe's read and write ends, nonblocking
	size     int   // the pipe's capacity
	in       int64 // bytes in the pipe
	n        int64 // result of the last splice
	err      error

	fill, drain func(fd uintptr) bool
}

// newSplicer returns a splicer relaying src to dst through p.
func newSplicer(dst, src syscall.Conn, p pipe) (*splicer, error) {
	s := &splicer{pr: p.r, pw: p.w, size: p.size}
	var err error
	if s.src, err = src.SyscallConn(); err != nil {
		return nil, err
	}
	if s.dst, err = dst.SyscallConn(); err != nil {
		return nil, err
	}
	s.fill, s.drain = s.fillFrom, s.drainTo
	return s, nil
}

// fillFrom splices from the source socket into the empty pipe. EAGAIN
// means the socket has nothing to read (the pipe is empty), so the caller
// waits for it to become readable.
func (s *splicer) fillFrom(fd uintptr) bool {
	for {
		s.n, s.err = unix.Splice(int(fd), nil, s.pw, nil, s.size, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if s.err != unix.EINTR {
			return s.err != unix.EAGAIN
		}
	}
}

// drainTo splices what the pipe holds into the destination socket. EAGAIN
// means the socket's send buffer is full.
func (s *splicer) drainTo(fd uintptr) bool {
	for {
		s.n, s.err = unix.Splice(s.pr, nil, int(fd), nil, int(s.in), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if s.err != unix.EINTR {
			return s.err != unix.EAGAIN
		}
	}
}

// run relays until the source ends (io.EOF) or fails, adding the bytes
// relayed to n as each chunk is written.
func (s *splicer) run(n *atomic.Uint64) error {
	for {
		if err := s.step(n); err != nil {
			return err
		}
	}
}

// step waits for the source to be readable, moves what it has (up to the
// pipe's capacity) into the pipe and all of it on to the destination.
func (s *splicer) step(n *atomic.Uint64) error {
	if err := s.src.Read(s.fill); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	if s.n == 0 {
		return io.EOF
	}
	s.in = s.n
	for s.in > 0 {
		if err := s.dst.Write(s.drain); err != nil {
			return err
		}
		if s.err != nil {
			return s.err
		}
		s.in -= s.n
		n.Add(uint64(s.n))
	}
	return nil
}

// relay copies src to dst until src ends, then half-closes dst so the
// peer sees the same end of stream and the other direction carries on
// (shutdown(SHUT_WR) semantics, as `nc -N` relies on). A read or write
// error aborts both connections. The bytes move with splice(2) through a
// pipe of this direction's own, taken from p's pool and returned to it
// drained, and never enter user space; if no pipe can be had (out of
// descriptors) they are copied by copyRelay.
func (p *Proxy) relay(dst, src tcpConn, n *atomic.Uint64) {
	pp, err := p.pipes.get()
	if err != nil {
		copyRelay(dst, src, n)
		return
	}
	s, err := newSplicer(dst, src, pp)
	if err != nil {
		pp.close()
		copyRelay(dst, src, n)
		return
	}
	switch err := s.run(n); err {
	case io.EOF:
		p.pipes.put(pp) // drained: EOF is seen only with the pipe empty
		dst.CloseWrite()
	default:
		pp.close() // it may hold bytes
		abort(dst)
		abort(src)
	}
}

// homeNetns opens the calling thread's network namespace, the daemon's:
// where a thread that dialled from an endpoint's namespace returns.
func homeNetns() int {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// closeNetns closes what homeNetns opened.
func closeNetns(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// sock is a TCP socket the relay made itself, registered with the
// runtime's poller through an *os.File. Wrapping a descriptor so costs a
// fcntl and an epoll_ctl; net.FileConn would duplicate it, ask for its
// type and both addresses, set TCP_NODELAY and four keepalive options, and
// close the original: a sixth of the relay's CPU per connection.
type sock struct{ *os.File }

// newSock wraps the nonblocking socket fd, which it takes over.
func newSock(fd int) sock { return sock{os.NewFile(uintptr(fd), "tcp")} }

// control runs f on s's descriptor.
func (s sock) control(f func(fd int) error) error {
	rc, err := s.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// CloseWrite shuts down the sending side of s, as net.TCPConn's does.
func (s sock) CloseWrite() error {
	return s.control(func(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) })
}

// SetLinger sets SO_LINGER, as net.TCPConn's does: 0 makes Close reset.
func (s sock) SetLinger(sec int) error {
	l := unix.Linger{Onoff: 1, Linger: int32(sec)}
	if sec < 0 {
		l = unix.Linger{}
	}
	return s.control(func(fd int) error { return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l) })
}

// dialIn connects to target from a socket created inside the network
// namespace at path (the endpoint's own). The thread enters the namespace
// only for the socket call (a socket belongs to the namespace it was
// created in) and returns home before connecting, so no locked thread
// waits for a handshake. A connection from inside the namespace to the
// endpoint's own address is local to it: no switch, no TAP, one TCP stack.
// The socket comes from socks, which makes them in batches; a failed
// connect empties it. The socket has TCP_NODELAY, as a dialled net.TCPConn has, and no
// keepalive: its peer is local.
func dialIn(ctx context.Context, d *net.Dialer, home int, path string, target netip.AddrPort, socks *nsSockets) (tcpConn, error) {
	fd, err := socks.get(home, path, target.Addr())
	if err != nil {
		return nil, err
	}
	opErr := func(err error) error {
		socks.flush()
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(target), Err: err}
	}
	var sa unix.Sockaddr
	if a := target.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(target.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(target.Port()), Addr: a.As16()}
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, opErr(os.NewSyscallError("connect", err))
	}
	c := newSock(fd)
	if err == nil {
		return c, nil
	}
	// To a local address the handshake is usually over when connect
	// returns (the SYN-ACK is processed before it does): a peer name
	// then says so, without arming a deadline and waiting.
	if c.control(func(fd int) error { _, err := unix.Getpeername(fd); return err }) == nil {
		return c, nil
	}
	// Wait for the handshake: writable, then SO_ERROR says how it ended.
	if d.Timeout > 0 {
		c.SetWriteDeadline(time.Now().Add(d.Timeout))
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		n, e := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case e != nil:
			cerr = e
		case n != 0:
			cerr = unix.Errno(n)
		default:
			if _, e := unix.Getpeername(int(fd)); e == unix.ENOTCONN {
				return false // still connecting
			}
		}
		return true
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, opErr(err)
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// socketBatch is how many sockets one entry into an endpoint's namespace
// makes: the namespace's open and the two setns calls, a tenth of the
// relay's CPU per connection when paid for each, are paid once per batch.
const socketBatch = 8

// nsSockets keeps the unconnected sockets a rule made in its target's
// namespace and has not used yet, at most socketBatch-1. A socket holds
// its namespace, so they are closed when the rule is shut (the endpoint
// going away removes its rules) and when a connect from one fails (the
// namespace at the path may have been replaced).
type nsSockets struct{ idleList[int] }

// get returns a nonblocking TCP socket of ip's family made in the network
// namespace at path: one kept from an earlier batch, or the first of a
// new batch.
func (ns *nsSockets) get(home int, path string, ip netip.Addr) (int, error) {
	if fd, ok := ns.pop(); ok {
		return fd, nil
	}
	var fds [socketBatch]int
	n, err := socketsIn(home, path, ip, fds[:])
	if n == 0 {
		return -1, err
	}
	for _, fd := range fds[1:n] {
		if !ns.push(fd, socketBatch-1) {
			unix.Close(fd)
		}
	}
	return fds[0], nil
}

// flush closes the kept sockets.
func (ns *nsSockets) flush() { ns.release(false) }

// close closes the kept sockets and makes get keep none from then on.
func (ns *nsSockets) close() { ns.release(true) }

func (ns *nsSockets) release(close bool) {
	for _, fd := range ns.drain(close) {
		unix.Close(fd)
	}
}

// socketsIn fills fds with nonblocking TCP sockets of ip's family created
// in the network namespace at path, and returns how many it made: all,
// or fewer with the error that stopped it. If the thread cannot return
// home it stays locked, so that the runtime ends it with its goroutine
// instead of reusing a thread in the wrong namespace.
func socketsIn(home int, path string, ip netip.Addr, fds []int) (int, error) {
	if home < 0 {
		return 0, errors.New("daemon's network namespace unknown")
	}
	ns, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open endpoint namespace: %w", err)
	}
	defer unix.Close(ns)
	family := unix.AF_INET6
	if ip.Unmap().Is4() {
		family = unix.AF_INET
	}
	runtime.LockOSThread()
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return 0, fmt.Errorf("enter endpoint namespace: %w", err)
	}
	n := 0
	for ; n < len(fds); n++ {
		if fds[n], err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
			err = os.NewSyscallError("socket", err)
			break
		}
	}
	if unix.Setns(home, unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return n, err
}
