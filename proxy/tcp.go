package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// tcpConn is one side of a relayed TCP connection: a *net.TCPConn, or on
// Linux a socket the relay made itself (sock, in splice_linux.go).
type tcpConn interface {
	io.ReadWriteCloser
	syscall.Conn
	CloseWrite() error
	SetLinger(sec int) error
}

// countChunk is how many bytes a TCP direction relays between counter
// updates. io.CopyN keeps the *io.LimitedReader over a *net.TCPConn that
// TCPConn.ReadFrom unwraps, so the relay still splices; only the counting
// granularity changes.
const countChunk = 1 << 20

// acceptLoop accepts connections on host port port until a is closed.
// Port 0 means a steered range: each connection goes to the target of the
// port it was made to.
func (ru *rule) acceptLoop(a *acceptor, port uint16) {
	target := ru.n.target(max(port, ru.n.HostPort))
	var delay time.Duration
	for {
		c, local, err := a.next(port == 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ENFILE, ENOBUFS: wait for descriptors to free up.
			ru.readLog.warn(ru, "publish: accept", err)
			delay = backoff(delay)
			if !ru.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		ru.p.stats.tcpConns.Add(1)
		to := target
		if port == 0 {
			to = ru.n.target(local)
		}
		ru.wg.Go(func() { ru.serveTCP(c, to) })
	}
}

// serveTCP dials target for client and relays both ways until both
// directions have ended. A client whose target cannot be reached is reset,
// so that it sees a refused connection rather than an empty reply.
func (ru *rule) serveTCP(client tcpConn, target netip.AddrPort) {
	st := &ru.p.stats
	st.tcpActive.Add(1)
	defer st.tcpActive.Add(^uint64(0))
	if !ru.track(client) {
		return
	}
	defer ru.untrack(client)

	server, err := ru.dial(target)
	if err != nil {
		if ru.ctx.Err() == nil {
			st.dialErrors.Add(1)
			ru.dialLog.warn(ru, "publish: connect to target", err)
		}
		abort(client)
		return
	}
	if !ru.track(server) {
		return
	}
	defer ru.untrack(server)

	done := make(chan struct{})
	ru.wg.Go(func() {
		defer close(done)
		ru.p.relay(server, client, &st.bytesIn)
	})
	ru.p.relay(client, server, &st.bytesOut)
	<-done
}

// dial connects to target: from inside the endpoint's namespace when the
// rule names it, else through the daemon's namespace (and the switch).
func (ru *rule) dial(target netip.AddrPort) (tcpConn, error) {
	d := net.Dialer{Timeout: ru.p.opt.DialTimeout}
	if ru.n.TargetNetns != "" {
		return dialIn(ru.ctx, &d, ru.p.home, ru.n.TargetNetns, target, &ru.socks)
	}
	c, err := d.DialContext(ru.ctx, "tcp", target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// copyRelay is relay with io.Copy, for when relay cannot have a pipe of
// its own: between two *net.TCPConn io.Copy splices too, with the
// runtime's pipes. It copies in chunks of countChunk to update n.
func copyRelay(dst, src tcpConn, n *atomic.Uint64) {
	for {
		w, err := io.CopyN(dst, src, countChunk)
		n.Add(uint64(w))
		switch {
		case err == nil:
		case err == io.EOF:
			dst.CloseWrite()
			return
		default:
			abort(dst)
			abort(src)
			return
		}
	}
}

// abort closes c with a reset (SO_LINGER 0) instead of a FIN, so the peer
// sees the connection fail rather than end normally.
func abort(c tcpConn) {
	c.SetLinger(0)
	c.Close()
}

// track records c as live for shut; if ru is already shut it aborts c and
// returns false.
func (ru *rule) track(c tcpConn) bool {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.closed {
		abort(c)
		return false
	}
	ru.conns[c] = struct{}{}
	return true
}

// untrack forgets c and closes it.
func (ru *rule) untrack(c tcpConn) {
	ru.mu.Lock()
	delete(ru.conns, c)
	ru.mu.Unlock()
	c.Close()
}
