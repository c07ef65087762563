package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// bufPool holds receive buffers. A reader takes one only once its socket
// is readable and returns it after relaying, so an idle port or flow holds
// no buffer: a 1000-port UDP range costs sockets and goroutine stacks, not
// 64 KiB each.
var bufPool = sync.Pool{New: func() any { return new([maxDatagram]byte) }}

// oobSize fits one IP_PKTINFO or IPV6_PKTINFO control message.
var oobSize = unix.CmsgSpace(max(unix.SizeofInet4Pktinfo, unix.SizeofInet6Pktinfo))

// listenConfig returns how to bind n's host ports. A UDP socket bound to a
// wildcard address asks for the destination address of each datagram
// (IP_PKTINFO, IPV6_RECVPKTINFO), so that replies can leave from it: a
// client of 127.0.0.2 would otherwise get its replies from 127.0.0.1 and
// its connected socket would drop them.
func listenConfig(n Rule) net.ListenConfig {
	if n.Proto != "udp" || !n.HostIP.IsUnspecified() {
		return net.ListenConfig{}
	}
	level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
	if n.HostIP.Is6() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), level, opt, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
}

// reader receives datagrams from one socket into pooled buffers.
type reader struct {
	rc        syscall.RawConn
	connected bool   // the socket has a peer: read(2), no address
	oob       []byte // control-message space when the socket reports destinations
}

// newReader returns a reader of c; pktinfo says c was set up by
// listenConfig to report destination addresses.
func newReader(c *net.UDPConn, pktinfo bool) (*reader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &reader{rc: rc, connected: c.RemoteAddr() != nil}
	if pktinfo {
		r.oob = make([]byte, oobSize)
	}
	return r, nil
}

// read waits for a datagram and returns it; the caller must release it.
func (r *reader) read() (datagram, error) {
	var d datagram
	var oobn int
	var sa unix.Sockaddr
	var err error
	rerr := r.rc.Read(func(fd uintptr) bool {
		d.buf = bufPool.Get().(*[maxDatagram]byte)
		for {
			if r.connected {
				d.n, err = unix.Read(int(fd), d.buf[:])
			} else {
				d.n, oobn, _, sa, err = unix.Recvmsg(int(fd), d.buf[:], r.oob, 0)
			}
			if err != unix.EINTR {
				break
			}
		}
		if err == unix.EAGAIN {
			bufPool.Put(d.buf)
			d.buf = nil
			return false
		}
		return true
	})
	if rerr == nil {
		rerr = err
	}
	if rerr != nil {
		if d.buf != nil {
			bufPool.Put(d.buf)
		}
		return datagram{}, rerr
	}
	d.from = addrPortOf(sa)
	if oobn > 0 {
		d.dst, d.ifindex = parsePktinfo(r.oob[:oobn])
	}
	return d, nil
}

// release returns d's buffer to the pool.
func (r *reader) release(d *datagram) {
	bufPool.Put(d.buf)
	d.buf = nil
}

// addrPortOf converts a socket address; a link-local IPv6 sender keeps its
// interface as a numeric zone, which net resolves back when replying.
func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.ZoneId), 10))
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// parsePktinfo returns the local address and interface index from
// an IP_PKTINFO or IPV6_PKTINFO control message in oob.
func parsePktinfo(oob []byte) (netip.Addr, uint32) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			// spec_dst is the header destination for local unicast and a
			// local address for a broadcast, so it is the one to reply from.
			return netip.AddrFrom4([4]byte(data[4:8])), binary.NativeEndian.Uint32(data[0:4])
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
			return netip.AddrFrom16([16]byte(data[0:16])), binary.NativeEndian.Uint32(data[16:20])
		}
		oob = rest
	}
	return netip.Addr{}, 0
}

// replyOOB returns the control message that sends from local: for IPv4
// only the source (the route picks the interface), for IPv6 also the
// interface, which a link-local source needs.
func replyOOB(local netip.Addr, ifindex uint32) []byte {
	if local.Is4() {
		return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: local.As4()})
	}
	return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: local.As16(), Ifindex: ifindex})
}
