// Package steer holds vswitchd's BPF programs for published ports, written
// with cilium/ebpf's asm package (no C, no cgo). Its two entry points are
// Listener and NewRedirect.
//
// Listener sends the connections to a whole range of published ports to
// one listening socket with a BPF sk_lookup program (Linux ≥ 5.9), as
// Cloudflare's tubular does, so that a range costs one socket instead of
// one per port. The program matches TCP connections by family, local
// address and port range, picks the socket from a one-slot SOCKMAP and
// assigns it (bpf_sk_assign); it is attached to the calling process's
// network namespace. The accepted connection's local address keeps the
// port the client dialled, so a relay maps it port by port. The listener
// must be a plain TCP socket (SetMultipathTCP(false): a SOCKMAP refuses
// MPTCP ones, ErrMultipath). Where BPF or sk_lookup is unavailable
// Listener fails and the caller falls back to a listener per port.
//
// Redirect rewrites the destination of TCP connects made in the calling
// process's network namespace, as Cilium's socket load balancer does
// (cgroup/connect4 and cgroup/getpeername4 programs on the cgroup v2 root,
// acting only on sockets of that namespace), so that the host's own
// connection to a published port goes straight to the endpoint instead of
// through a relay. Where the kernel lacks what it needs, NewRedirect fails
// and the caller relays.
package steer
