//go:build !linux

package proxy

import "net"

// acceptor accepts the connections of one TCP listener with AcceptTCP.
type acceptor struct{ ln *net.TCPListener }

// newAcceptor returns an acceptor of ln.
func newAcceptor(ln *net.TCPListener) *acceptor { return &acceptor{ln: ln} }

// next waits for a connection and returns it, with the port it was made
// to if port is set.
func (a *acceptor) next(port bool) (tcpConn, uint16, error) { return acceptTCP(a.ln, port) }

// close does nothing: closing the listener ends next.
func (*acceptor) close() {}
