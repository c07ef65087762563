package proxy

import "net"

// acceptTCP takes a connection with ln.AcceptTCP and, if port is set,
// returns the port it was made to: the acceptor's way where it cannot
// use accept4.
func acceptTCP(ln *net.TCPListener, port bool) (tcpConn, uint16, error) {
	c, err := ln.AcceptTCP()
	if err != nil {
		return nil, 0, err
	}
	var p uint16
	if port {
		p = uint16(c.LocalAddr().(*net.TCPAddr).Port)
	}
	return c, p, nil
}
