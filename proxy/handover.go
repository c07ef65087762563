package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// Handing the listening sockets to a successor (vswitchd --takeover):
// Listeners duplicates every listening socket under ListenerKey, and a
// Proxy whose Options.Inherited returns a descriptor for a key serves it
// instead of binding again, so the port is never closed, and connections
// that arrive meanwhile wait in its backlog.

// ListenerKey is the key of the listening socket of a host address and
// port for proto ("tcp" or "udp").
func ListenerKey(proto string, addr netip.AddrPort) string {
	return "listen/" + proto + "/" + addr.String()
}

// Listeners returns a duplicate of each listening socket (close-on-exec)
// and its key. The caller owns the descriptors.
func (p *Proxy) Listeners() (keys []string, fds []int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ru := range p.rules {
		for i, l := range ru.lns {
			sc, ok := l.(syscall.Conn)
			if !ok {
				continue
			}
			rc, err := sc.SyscallConn()
			if err != nil {
				return keys, fds, err
			}
			var fd int
			var derr error
			rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) })
			if derr != nil {
				return keys, fds, fmt.Errorf("dup listener: %w", derr)
			}
			addr := netip.AddrPortFrom(ru.n.HostIP, ru.n.HostPort+uint16(i))
			keys, fds = append(keys, ListenerKey(ru.n.Proto, addr)), append(fds, fd)
		}
	}
	return keys, fds, nil
}

// inherited returns the socket handed over for addr, if any.
func (p *Proxy) inherited(proto string, addr netip.AddrPort) (io.Closer, bool, error) {
	if p.opt.Inherited == nil {
		return nil, false, nil
	}
	fd, ok := p.opt.Inherited(ListenerKey(proto, addr))
	if !ok {
		return nil, false, nil
	}
	f := os.NewFile(uintptr(fd), "listener "+addr.String())
	defer f.Close() // the listener holds its own duplicate
	if proto == "tcp" {
		l, err := net.FileListener(f)
		return l, true, err
	}
	c, err := net.FilePacketConn(f)
	return c, true, err
}
