//go:build !linux

package proxy

import (
	"net"
	"net/netip"
)

// listenConfig returns how to bind n's host ports. Outside Linux replies
// of a wildcard UDP listener leave from the address the kernel picks.
func listenConfig(Rule) net.ListenConfig { return net.ListenConfig{} }

// reader receives datagrams from one socket into its own buffer, made on
// first use.
type reader struct {
	c   *net.UDPConn
	buf *[maxDatagram]byte
}

// newReader returns a reader of c.
func newReader(c *net.UDPConn, _ bool) (*reader, error) { return &reader{c: c}, nil }

// read waits for a datagram and returns it; the caller must release it.
func (r *reader) read() (datagram, error) {
	if r.buf == nil {
		r.buf = new([maxDatagram]byte)
	}
	n, from, err := r.c.ReadFromUDPAddrPort(r.buf[:])
	if err != nil {
		return datagram{}, err
	}
	return datagram{buf: r.buf, n: n, from: from}, nil
}

// release is a no-op: the buffer is the reader's own.
func (r *reader) release(d *datagram) { d.buf = nil }

// replyOOB is unused outside Linux, where datagrams carry no destination.
func replyOOB(netip.Addr, uint32) []byte { return nil }
