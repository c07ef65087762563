package proxy

import "net/netip"

// Redirector sends the host's TCP connects to an address straight to
// another, in the kernel, before a connection exists (package steer's
// Redirect: a cgroup/connect4 program). From 0.0.0.0 stands for every
// 127.0.0.0/8 address.
type Redirector interface {
	Add(from, to netip.AddrPort) error
	Remove(from netip.AddrPort) error
	// Redirected counts the connects sent on so far.
	Redirected() uint64
}

// redirect has Options.Redirect send the host's connects to an IPv4 TCP
// rule's ports to the target, port by port, so that they cross the switch
// as one connection and never reach the listeners. All or none: if a port
// cannot be redirected (the map is full) the rule stays relayed, which is
// logged at debug. The listeners keep serving what the redirector leaves
// (sockets bound to an address, the host's other addresses for a
// wildcard rule, a kernel without the hook).
func (ru *rule) redirect() {
	n, rd := ru.n, ru.p.opt.Redirect
	if rd == nil || n.Proto != "tcp" || !n.HostIP.Is4() || !n.Target.Is4() {
		return
	}
	for i := range int(n.HostPortEnd-n.HostPort) + 1 {
		from := netip.AddrPortFrom(n.HostIP, n.HostPort+uint16(i))
		if err := rd.Add(from, netip.AddrPortFrom(n.Target, n.TargetPort+uint16(i))); err != nil {
			ru.unredirect()
			ru.p.log.Debug("published port stays relayed for the host's connections", "rule", ru.r.String(), "why", err)
			return
		}
		ru.redirected = append(ru.redirected, from)
	}
}

// unredirect removes what redirect added; connections already made stay.
func (ru *rule) unredirect() {
	for _, from := range ru.redirected {
		ru.p.opt.Redirect.Remove(from)
	}
	ru.redirected = nil
}
