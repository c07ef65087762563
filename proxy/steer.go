package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// listenSteered publishes a TCP range with one listener on its first port
// and Options.Steer sending the others to it. It reports whether it is
// done (with the bind's error, if any); not done means the range falls
// back to a listener per port, which is logged once at debug with why.
// While steered, the range's other ports are not bound: a program that
// binds one of them later does not see its connections.
func (ru *rule) listenSteered(lc net.ListenConfig) (bool, error) {
	n := ru.n
	if ru.p.opt.Steer == nil || n.Proto != "tcp" || n.HostPortEnd <= n.HostPort {
		return false, nil
	}
	addr := netip.AddrPortFrom(n.HostIP, n.HostPort)
	c, ok, err := ru.p.inherited(n.Proto, addr)
	if !ok && err == nil {
		// A SOCKMAP takes plain TCP sockets only, and Go's listeners
		// are multipath TCP by default.
		lc.SetMultipathTCP(false)
		c, err = lc.Listen(context.Background(), n.network(), addr.String())
	}
	if err != nil {
		return true, fmt.Errorf("publish %s/%s: %w", addr, n.Proto, errnoOf(err))
	}
	l := c.(net.Listener)
	s, err := ru.p.opt.Steer(n.HostIP, n.HostPort, n.HostPortEnd, l)
	if err != nil {
		l.Close()
		ru.p.log.Debug("published range listens per port", "rule", ru.r.String(), "why", err)
		return false, nil
	}
	ru.lns, ru.steer = []io.Closer{l}, s
	return true, nil
}
