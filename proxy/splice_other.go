//go:build !linux

package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
)

// relay copies src to dst as copyRelay does; splice(2) is Linux's.
func (p *Proxy) relay(dst, src tcpConn, n *atomic.Uint64) { copyRelay(dst, src, n) }

// pipePool is empty outside Linux: there are no relay pipes.
type pipePool struct{}

// close does nothing.
func (*pipePool) close() {}

// nsSockets is empty outside Linux: there are no network namespaces.
type nsSockets struct{}

// close does nothing.
func (*nsSockets) close() {}

// homeNetns returns -1: network namespaces are Linux's.
func homeNetns() int { return -1 }

// closeNetns does nothing outside Linux.
func closeNetns(int) {}

// dialIn fails outside Linux.
func dialIn(context.Context, *net.Dialer, int, string, netip.AddrPort, *nsSockets) (tcpConn, error) {
	return nil, errors.New("network namespaces are not supported on this system")
}
