// Package steer sends the connections to a whole range of published ports
// to one listening socket with a BPF sk_lookup program (Linux ≥ 5.9), as
// Cloudflare's tubular does, so that a range costs one socket instead of
// one per port. Its entry point is Listener: it loads a program, written
// with cilium/ebpf's asm package (no C, no cgo), that matches TCP
// connections by family, local address and port range, picks the socket
// from a one-slot SOCKMAP and assigns it (bpf_sk_assign), and attaches it
// to the calling process's network namespace. The accepted connection's
// local address keeps the port the client dialled, so a relay maps it port
// by port. The listener must be a plain TCP socket (SetMultipathTCP(false):
// a SOCKMAP refuses MPTCP ones, ErrMultipath). Where BPF or sk_lookup is
// unavailable Listener fails and the caller falls back to a listener per
// port.
package steer
