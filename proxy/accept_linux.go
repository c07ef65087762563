package proxy

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenerOptions are set on a TCP listener once, for the sockets it
// accepts to inherit (Linux copies a listener's socket and TCP options to
// each connection it accepts): TCP_NODELAY and the keepalive that
// net.TCPListener.AcceptTCP would set on each connection (15 s idle, 15 s
// between probes, 9 probes: Go's defaults).
var listenerOptions = [...]struct{ level, opt, value int }{
	{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
}

// acceptor accepts the connections of one TCP listener as socks, with
// accept4 on a duplicate of the listener's descriptor that is registered
// with the runtime's poller through an *os.File (a net.TCPListener's
// SyscallConn cannot wait). A connection then costs accept4, a fcntl and an
// epoll_ctl; AcceptTCP adds getsockname, TCP_NODELAY and four keepalive
// options, which the listener's own options replace. If the listener
// cannot be set up so, the acceptor uses AcceptTCP.
type acceptor struct {
	ln     *net.TCPListener
	f      *os.File        // the duplicate; nil: AcceptTCP
	rc     syscall.RawConn // f's
	closed atomic.Bool     // set by close

	// Results of acceptFrom, and the method value made once.
	fd     int
	err    error
	accept func(fd uintptr) bool
}

// newAcceptor returns an acceptor of ln; close closes what it opened (not ln).
func newAcceptor(ln *net.TCPListener) *acceptor {
	a := &acceptor{ln: ln}
	rc, err := ln.SyscallConn()
	if err != nil {
		return a
	}
	dup := -1
	rc.Control(func(fd uintptr) {
		for _, o := range listenerOptions {
			if unix.SetsockoptInt(int(fd), o.level, o.opt, o.value) != nil {
				return
			}
		}
		dup, _ = dupCloexec(int(fd))
	})
	if dup < 0 {
		return a
	}
	f := os.NewFile(uintptr(dup), "listener")
	if a.rc, err = f.SyscallConn(); err != nil {
		f.Close()
		return a
	}
	a.f = f
	a.accept = a.acceptFrom
	return a
}

// acceptFrom accepts one connection from the listening socket fd into
// a.fd, or its error into a.err; it reports false (wait) when none is
// queued.
func (a *acceptor) acceptFrom(fd uintptr) bool {
	for {
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, fd, 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			a.fd, a.err = int(nfd), nil
			return true
		case unix.EINTR, unix.ECONNABORTED: // as net's accept: the next one
			continue
		case unix.EAGAIN:
			return false
		}
		a.fd, a.err = -1, os.NewSyscallError("accept4", e)
		return true
	}
}

// next waits for a connection and returns it, with the port it was made
// to if port is set. It returns an error wrapping net.ErrClosed once the
// listener or the acceptor is closed.
func (a *acceptor) next(port bool) (tcpConn, uint16, error) {
	if a.f == nil {
		return acceptTCP(a.ln, port)
	}
	if err := a.rc.Read(a.accept); err != nil {
		if a.closed.Load() { // the poller's "use of closed file"
			err = net.ErrClosed
		}
		return nil, 0, err
	}
	if a.err != nil {
		return nil, 0, a.err
	}
	var p uint16
	if port {
		sa, err := unix.Getsockname(a.fd)
		if err != nil {
			unix.Close(a.fd)
			return nil, 0, os.NewSyscallError("getsockname", err)
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			p = uint16(sa.Port)
		case *unix.SockaddrInet6:
			p = uint16(sa.Port)
		}
	}
	return newSock(a.fd), p, nil
}

// close closes the duplicate, which ends a waiting next.
func (a *acceptor) close() {
	if a.f != nil {
		a.closed.Store(true)
		a.f.Close()
	}
}
