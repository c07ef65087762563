// Package proxy is vswitchd's published-port forwarder for connections
// the host itself makes. The entry point is New, which returns a Proxy;
// the daemon calls Proxy.Add for every published port (`run -p`) and
// Proxy.Remove when the endpoint goes.
//
// # Why a proxy
//
// Traffic that reaches the switch (from outside through the uplink, or
// from another endpoint through host.vswitchd.internal) is translated by
// the switch's own conntrack and NAT. A connection the host makes to
// 127.0.0.1:HOSTPORT or to one of its own addresses never leaves the host
// kernel, so it never reaches the switch. For those the Proxy listens on
// HOSTPORT in the daemon's namespace and relays to the endpoint's address
// and container port, which the kernel routes to the switch. Binding the
// listener is also how a host port that is already taken is detected:
// Add fails with the errno (EADDRINUSE) before anything is published.
//
// # Redirected, not relayed
//
// With Options.Redirect (package steer's Redirect, a cgroup/connect4
// program the daemon loads unless --connect-redirect=false), Add also
// has the kernel rewrite the destination of the host's own TCP connects
// to an IPv4 rule's ports, before the connection exists: a connect to
// 127.0.0.1:HOSTPORT (any 127/8 address for a 0.0.0.0 rule) or to the
// rule's own address becomes one connection to the endpoint, routed over
// the host leg and through the switch like any other (so capture and
// trace see it), and never reaches the listener. The client's
// getpeername still says 127.0.0.1:HOSTPORT; the endpoint sees the host
// leg's address as the source. A socket bound to an address before its
// connect (nc -s 127.0.0.1), a UDP socket, a connect to the host's other
// addresses, and every connection where the kernel lacks the hook are
// relayed as below. Stats.Redirected counts the redirected connects.
// That trades bandwidth for connection rate: one connection instead of
// two (faster to open and close), but its bytes cross two TAPs where the
// relay splices them inside the kernel.
//
// Unlike docker-proxy, which runs one process per published port and
// family, everything is goroutines in the daemon: a rule is a listener and
// a goroutine per host port, a goroutine per TCP direction and one per UDP
// flow. On Linux an idle UDP port or flow holds no receive buffer, so a
// wide UDP range costs sockets, not 64 KiB per port. The container sees
// the connection come from the host's address on the switch, which for
// host-originated traffic is where it does come from.
//
// # TCP
//
// Each accepted connection is relayed to Target:TargetPort+(port-HostPort),
// dialled within Options.DialTimeout. On Linux the bytes move with
// splice(2) through pipes the Proxy pools, never entering user space;
// elsewhere io.Copy copies them. End of stream is
// passed on as a half-close (CloseWrite), so one-way pipelines and
// `nc -N` work and a client may shut down its side and still read the
// whole reply. A read or write error resets both sides; a client whose
// target refuses or does not answer is reset too and counted in
// Stats.DialErrors.
//
// # UDP
//
// Each host port has one listening socket. Each client address gets a
// flow: a socket connected to the target whose replies go back to that
// client from the listener. A flow idle in both directions for
// Options.UDPIdleTimeout is closed; beyond Options.MaxUDPFlows flows per
// rule a datagram from a new client is dropped and counted in
// Stats.UDPDropped. On Linux a wildcard listener learns each datagram's
// destination address (IP_PKTINFO) and replies from it.
//
// # Concurrency
//
// Every goroutine belongs to a rule and ends when the rule's sockets are
// closed; Remove and Close return only after the rule's goroutines have
// exited.
package proxy
