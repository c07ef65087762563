package proxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// maxDatagram is the receive buffer size: the largest UDP payload over
// IPv6 without jumbograms (65,527 bytes) fits, so nothing is truncated.
const maxDatagram = 1 << 16

// datagram is one received datagram; its buffer goes back with
// reader.release.
type datagram struct {
	buf     *[maxDatagram]byte
	n       int
	from    netip.AddrPort // the sender (listener reads only)
	dst     netip.Addr     // the address the sender sent to, if the socket reports it
	ifindex uint32         // the interface it arrived on, with dst
}

// payload returns the datagram's bytes.
func (d *datagram) payload() []byte { return d.buf[:d.n] }

// flowKey names a UDP flow of a rule: the host port and the client.
type flowKey struct {
	port   uint16
	client netip.AddrPort
}

// flow relays one client's datagrams on one host port to the target
// through a socket connected to it; replies go back from the listener.
// Its goroutine, replyLoop, owns conn.
type flow struct {
	key  flowKey
	ln   *net.UDPConn // the host port's listener; replies are sent from it
	conn *net.UDPConn // connected to the target; closed by replyLoop's end, or by shut to make it end
	oob  []byte       // control message making replies leave from the address the client sent to, or nil
	last atomic.Int64 // Proxy.now of the last datagram either way
}

// udpLoop relays datagrams arriving on host port port until ln is closed.
func (ru *rule) udpLoop(ln *net.UDPConn, port uint16) {
	st := &ru.p.stats
	rd, err := newReader(ln, ru.n.HostIP.IsUnspecified())
	if err != nil { // only if ln is already closed
		return
	}
	var delay time.Duration
	for {
		d, err := rd.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			ru.readLog.warn(ru, "publish: receive", err)
			delay = backoff(delay)
			if !ru.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		if f := ru.flow(ln, port, &d); f != nil {
			if n, err := f.conn.Write(d.payload()); err == nil {
				st.bytesIn.Add(uint64(n))
			}
		}
		rd.release(&d)
	}
}

// flow returns the live flow of d's sender on port, marked active,
// creating it if there is room; nil means drop d.
func (ru *rule) flow(ln *net.UDPConn, port uint16, d *datagram) *flow {
	st := &ru.p.stats
	k := flowKey{port: port, client: d.from}
	now := ru.p.now()
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.closed {
		return nil
	}
	if f := ru.flows[k]; f != nil {
		f.last.Store(now)
		return f
	}
	if len(ru.flows) >= ru.p.opt.MaxUDPFlows {
		st.udpDropped.Add(1)
		return nil
	}
	// Connecting a UDP socket does not block: it only picks a route and
	// a source address.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ru.n.target(port)))
	if err != nil {
		st.dialErrors.Add(1)
		ru.dialLog.warn(ru, "publish: open flow to target", err)
		return nil
	}
	f := &flow{key: k, ln: ln, conn: c}
	if d.dst.IsValid() {
		f.oob = replyOOB(d.dst, d.ifindex)
	}
	f.last.Store(now)
	ru.flows[k] = f
	st.udpFlows.Add(1)
	st.udpActive.Add(1)
	ru.wg.Go(func() { ru.replyLoop(f) })
	return f
}

// replyLoop relays the target's replies on f back to its client until f
// has been idle for UDPIdleTimeout or is closed.
func (ru *rule) replyLoop(f *flow) {
	defer ru.endFlow(f)
	st := &ru.p.stats
	idle := ru.p.opt.UDPIdleTimeout
	rd, err := newReader(f.conn, false)
	if err != nil {
		return
	}
	// The deadline moves only when it fires, not per datagram.
	f.conn.SetReadDeadline(ru.p.start.Add(time.Duration(f.last.Load()) + idle))
	for {
		d, err := rd.read()
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				if ru.expire(f) {
					return
				}
				f.conn.SetReadDeadline(ru.p.start.Add(time.Duration(f.last.Load()) + idle))
			case errors.Is(err, syscall.ECONNREFUSED):
				// An ICMP port unreachable for an earlier datagram: nobody
				// listens on the target yet. Like conntrack, keep the flow
				// until it idles out.
			default: // closed by shut, or a broken socket
				return
			}
			continue
		}
		f.last.Store(ru.p.now())
		if n, _, err := f.ln.WriteMsgUDPAddrPort(d.payload(), f.oob, f.key.client); err == nil {
			st.bytesOut.Add(uint64(n))
		}
		rd.release(&d)
	}
}

// expire removes f if it has been idle for UDPIdleTimeout and reports
// whether it did. It runs under ru.mu, as flow's lookups do, so a
// datagram that has just found f is never sent on an expired flow.
func (ru *rule) expire(f *flow) bool {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if time.Duration(ru.p.now()-f.last.Load()) < ru.p.opt.UDPIdleTimeout {
		return false
	}
	delete(ru.flows, f.key)
	return true
}

// endFlow forgets f and closes its socket.
func (ru *rule) endFlow(f *flow) {
	ru.mu.Lock()
	if ru.flows[f.key] == f {
		delete(ru.flows, f.key)
	}
	ru.mu.Unlock()
	f.conn.Close()
	ru.p.stats.udpActive.Add(^uint64(0))
}
