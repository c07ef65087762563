package router

import (
	"errors"
	"net/netip"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// side is the interface a frame came in by: where replies and ICMP errors
// go back, and with which source addresses.
type side struct {
	mac  header.MAC
	ip   netip.Addr
	back Target
	zone uint16
}

func netSide(n *Network) side {
	return side{mac: n.MAC, ip: n.Gateway, back: Target{VID: n.VID}, zone: n.ID}
}

// fromNetwork handles a frame from a bridged port of network n: an ARP
// request, or an IPv4 packet addressed to the gateway's MAC.
func (r *Router) fromNetwork(c *compiled, n *Network, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.EtherType == header.EtherTypeARP {
		return r.arpFromNetwork(c, n, pkt)
	}
	if pk.EtherType != header.EtherTypeIPv4 {
		return r.drop(statNotIPv4)
	}
	if pk.IPVersion != 4 {
		return r.drop(statMalformed)
	}
	s := netSide(n)
	// Conntrack first: packets of translated connections (including TCP
	// DNS to the gateway) and ICMP errors about them.
	if conn, d, ok := r.nat.Lookup(n.ID, pkt.Frame, pk, now); ok {
		return r.translated(c, s, pkt, conn, d, sink, now)
	}
	dst := pk.DstIP
	if dst == n.Gateway {
		return r.local(c, s, n, pkt, sink, now)
	}
	if pk.TTL <= 1 {
		return r.timeExceeded(s, pkt, sink, now)
	}
	if e, ok := c.endpoints[dst]; ok {
		if e.net != n {
			return r.drop(statIsolation)
		}
		return r.toEndpoint(pkt, e)
	}
	if _, ok := c.gateways[dst]; ok {
		return r.drop(statIsolation)
	}
	if o := c.networkOf(dst); o != nil {
		if o != n {
			return r.drop(statIsolation)
		}
		return r.unreachable(s, pkt, sink, now, header.ICMPv4HostUnreachable, statNoRoute)
	}
	if h := c.cfg.Host; h != nil && dst == h.HostAddr {
		if p, ok := c.published(pk, dst); ok {
			return r.dnat(c, s, pkt, p, sink, now)
		}
		return r.toHost(h, pkt)
	}
	if u := c.cfg.Uplink; u != nil && dst == u.Addr.Addr() {
		if p, ok := c.published(pk, dst); ok {
			return r.dnat(c, s, pkt, p, sink, now)
		}
		return r.unreachable(s, pkt, sink, now, header.ICMPv4PortUnreachable, statNotForUs)
	}
	if n.Internal {
		return r.unreachable(s, pkt, sink, now, header.ICMPv4NetUnreachable, statInternal)
	}
	if u := c.cfg.Uplink; u == nil || !u.Gateway.IsValid() && !u.Addr.Contains(dst) {
		return r.unreachable(s, pkt, sink, now, header.ICMPv4NetUnreachable, statNoRoute)
	}
	return r.masquerade(c, s, pkt, sink, now)
}

// arpFromNetwork answers ARP requests for the gateway and, with suppression
// on, for endpoint addresses of the same network; others pass to the bridge.
func (r *Router) arpFromNetwork(c *compiled, n *Network, pkt *Packet) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.L3Off == 0 {
		return r.drop(statMalformed)
	}
	a := header.ARP(pkt.Frame[pk.L3Off:])
	if !a.IsValid() {
		return r.drop(statMalformed)
	}
	if a.Op() != header.ARPRequest {
		if pk.Dst == n.MAC {
			return Consumed, Target{} // a reply to the gateway: nothing to learn
		}
		return Pass, Target{}
	}
	target := a.TargetIP()
	if arp.IsGratuitous(a) {
		return Pass, Target{} // announcements reach every peer
	}
	if target == n.Gateway {
		r.stats.inc(statARPReply)
		arp.Reply(pkt.Frame, a, n.MAC, target)
		return Forward, Target{VID: n.VID}
	}
	if c.cfg.NoARPSuppression {
		return Pass, Target{}
	}
	if e, ok := c.endpoints[target]; ok && e.net == n {
		r.stats.inc(statARPSuppressed)
		arp.Reply(pkt.Frame, a, e.mac, target)
		return Forward, Target{VID: n.VID}
	}
	return Pass, Target{}
}

// local handles a packet to network n's gateway address.
func (r *Router) local(c *compiled, s side, n *Network, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.Fragment {
		return r.drop(statFragment)
	}
	switch {
	case pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo:
		return r.echoReply(s, pkt)
	case pk.Proto == header.ProtoUDP && pk.DstPort == 53 && pk.L4Off != 0:
		return r.serveDNS(n, pkt, sink)
	case pk.Proto == header.ProtoTCP && pk.DstPort == 53 && pk.L4Off != 0:
		h := c.cfg.Host
		if h == nil || h.DNSPort == 0 {
			return r.drop(statNotForUs)
		}
		a := nat.Action{DNAT: true, DNATAddr: h.HostAddr, DNATPort: h.DNSPort}
		conn, err := r.nat.Create(s.zone, ZoneHost, pk, a, now)
		if err != nil {
			return r.natError(err)
		}
		r.nat.Apply(pkt.Frame, pk, conn, nat.Original, pkt.partial(), now)
		return r.toHost(h, pkt)
	case pk.Proto == header.ProtoUDP:
		return r.unreachable(s, pkt, sink, now, header.ICMPv4PortUnreachable, statNotForUs)
	}
	return r.drop(statNotForUs)
}

// fromHost handles a frame from the host leg.
func (r *Router) fromHost(c *compiled, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	h := c.cfg.Host
	pk := pkt.Parsed
	s := side{mac: h.MAC, ip: h.Addr, back: Target{Routed: true, Port: h.Port}, zone: ZoneHost}
	switch pk.EtherType {
	case header.EtherTypeARP:
		return r.arpRouted(s, pkt, nil, now)
	case header.EtherTypeIPv4:
	default:
		return r.drop(statNotIPv4)
	}
	if pk.IPVersion != 4 {
		return r.drop(statMalformed)
	}
	if pk.Dst != h.MAC && !pk.Dst.IsMulticast() {
		return r.drop(statNotForUs)
	}
	if conn, d, ok := r.nat.Lookup(ZoneHost, pkt.Frame, pk, now); ok {
		return r.translated(c, s, pkt, conn, d, sink, now)
	}
	dst := pk.DstIP
	if dst == h.Addr {
		if pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo && !pk.Fragment {
			return r.echoReply(s, pkt)
		}
		if p, ok := c.published(pk, dst); ok {
			return r.dnat(c, s, pkt, p, sink, now)
		}
		return r.drop(statNotForUs)
	}
	if pk.TTL <= 1 {
		return r.timeExceeded(s, pkt, sink, now)
	}
	if e, ok := c.endpoints[dst]; ok {
		return r.toEndpoint(pkt, e) // the host reaches every network
	}
	if n, ok := c.gateways[dst]; ok && pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo && !pk.Fragment {
		return r.echoReply(side{mac: h.MAC, ip: n.Gateway, back: s.back, zone: ZoneHost}, pkt)
	}
	return r.unreachable(s, pkt, sink, now, header.ICMPv4HostUnreachable, statNoRoute)
}

// fromUplink handles a frame from the uplink: ARP, replies of masqueraded
// connections, and new connections to published ports.
func (r *Router) fromUplink(c *compiled, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	u := c.cfg.Uplink
	pk := pkt.Parsed
	s := side{mac: u.MAC, ip: u.Addr.Addr(), back: Target{Routed: true, Port: u.Port}, zone: ZoneUplink}
	switch pk.EtherType {
	case header.EtherTypeARP:
		return r.arpRouted(s, pkt, u, now)
	case header.EtherTypeIPv4:
	default:
		return r.drop(statNotIPv4)
	}
	if pk.Dst != u.MAC && !pk.Dst.IsMulticast() {
		return r.drop(statNotForUs)
	}
	if pk.IPVersion != 4 {
		return r.drop(statMalformed)
	}
	if conn, d, ok := r.nat.Lookup(ZoneUplink, pkt.Frame, pk, now); ok {
		return r.translated(c, s, pkt, conn, d, sink, now)
	}
	if pk.DstIP != u.Addr.Addr() {
		return r.drop(statNotForUs) // no transit routing from outside
	}
	if pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo && !pk.Fragment {
		return r.echoReply(s, pkt)
	}
	if p, ok := c.published(pk, pk.DstIP); ok {
		return r.dnat(c, s, pkt, p, sink, now)
	}
	return r.drop(statNotForUs)
}

// arpRouted handles ARP on a routed port: answer requests for the router's
// address there and, on the uplink, learn neighbours and release frames
// that were waiting for them.
func (r *Router) arpRouted(s side, pkt *Packet, u *Uplink, now int64) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.L3Off == 0 {
		return r.drop(statMalformed)
	}
	a := header.ARP(pkt.Frame[pk.L3Off:])
	if !a.IsValid() {
		return r.drop(statMalformed)
	}
	sender := a.SenderIP()
	if u != nil && u.Addr.Contains(sender) && sender != u.Addr.Addr() && !a.SenderMAC().IsMulticast() {
		// Learn from requests for us and from every reply (Linux
		// creates a neighbour from a request to itself as well).
		if a.Op() == header.ARPReply || a.TargetIP() == s.ip {
			r.neigh.Update(sender, a.SenderMAC(), now)
			r.flushPending(u, sender, a.SenderMAC())
		}
	}
	if a.Op() == header.ARPRequest && a.TargetIP() == s.ip {
		r.stats.inc(statARPReply)
		arp.Reply(pkt.Frame, a, s.mac, s.ip)
		return Forward, s.back
	}
	return Consumed, Target{}
}

// translated applies an existing connection's translation and forwards the
// packet toward its new destination.
func (r *Router) translated(c *compiled, s side, pkt *Packet, conn *nat.Conn, d nat.Dir, sink Sink, now int64) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.TTL <= 1 && !r.isLocal(c, pk.DstIP) {
		return r.timeExceeded(s, pkt, sink, now)
	}
	if r.nat.Apply(pkt.Frame, pk, conn, d, pkt.partial(), now) != nat.VerdictAccept {
		return r.drop(statNATInvalid)
	}
	// The connection's other zone is where the packet goes.
	egress := conn.Zone(nat.Reply)
	if d.Base() == nat.Reply {
		egress = conn.Zone(nat.Original)
	}
	return r.deliver(c, pkt, egress, now)
}

// isLocal reports whether ip is one of the router's own addresses.
func (r *Router) isLocal(c *compiled, ip netip.Addr) bool {
	if _, ok := c.gateways[ip]; ok {
		return true
	}
	if u := c.cfg.Uplink; u != nil && ip == u.Addr.Addr() {
		return true
	}
	return c.cfg.Host != nil && ip == c.cfg.Host.Addr
}

// deliver forwards a translated packet into zone, the side of its
// connection it is headed for, by its new destination (Apply updated it).
func (r *Router) deliver(c *compiled, pkt *Packet, zone uint16, now int64) (Verdict, Target) {
	dst := pkt.Parsed.DstIP
	switch zone {
	case ZoneUplink:
		if u := c.cfg.Uplink; u != nil {
			return r.toUplink(u, pkt, dst, now)
		}
	case ZoneHost:
		if h := c.cfg.Host; h != nil && dst == h.HostAddr {
			return r.toHost(h, pkt)
		}
	default:
		if e, ok := c.endpoints[dst]; ok && e.net.ID == zone {
			return r.toEndpoint(pkt, e)
		}
	}
	return r.drop(statNoRoute)
}

// dnat translates a new connection to a published port and forwards it to
// the endpoint. A client in the endpoint's own network is also translated
// to the gateway address (hairpin), so the reply comes back through the
// router instead of going straight to the client.
func (r *Router) dnat(c *compiled, s side, pkt *Packet, p Published, sink Sink, now int64) (Verdict, Target) {
	pk := pkt.Parsed
	e, ok := c.endpoints[p.Addr]
	if !ok {
		return r.drop(statNoRoute)
	}
	a := nat.Action{DNAT: true, DNATAddr: p.Addr, DNATPort: p.ContPort + (pk.DstPort - p.HostPort)}
	if s.zone == e.net.ID {
		a.SNAT, a.SNATAddr = true, e.net.Gateway
	}
	conn, err := r.nat.Create(s.zone, e.net.ID, pk, a, now)
	if err != nil {
		return r.natError(err)
	}
	if r.nat.Apply(pkt.Frame, pk, conn, nat.Original, pkt.partial(), now) != nat.VerdictAccept {
		return r.drop(statNATInvalid)
	}
	r.stats.inc(statDNAT)
	return r.toEndpoint(pkt, e)
}

// masquerade translates a new outbound connection to the uplink address.
func (r *Router) masquerade(c *compiled, s side, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	u := c.cfg.Uplink
	pk := pkt.Parsed
	conn, err := r.nat.Create(s.zone, ZoneUplink, pk, nat.Action{SNAT: true, SNATAddr: u.Addr.Addr()}, now)
	if err != nil {
		return r.natError(err)
	}
	if r.nat.Apply(pkt.Frame, pk, conn, nat.Original, pkt.partial(), now) != nat.VerdictAccept {
		return r.drop(statNATInvalid)
	}
	r.stats.inc(statMasquerade)
	return r.toUplink(u, pkt, pk.DstIP, now)
}

func (r *Router) natError(err error) (Verdict, Target) {
	switch {
	case errors.Is(err, nat.ErrTableFull):
		return r.drop(statNATFull)
	case errors.Is(err, nat.ErrNoPort):
		return r.drop(statNATNoPort)
	}
	return r.drop(statNATInvalid)
}

// toEndpoint rewrites the frame for the endpoint e and forwards it into its
// network.
func (r *Router) toEndpoint(pkt *Packet, e endpointRef) (Verdict, Target) {
	eth := header.Ethernet(pkt.Frame)
	eth.SetDst(e.mac)
	eth.SetSrc(e.net.MAC)
	decTTL(header.IPv4(pkt.Frame[pkt.Parsed.L3Off:]))
	r.stats.inc(statRouted)
	return Forward, Target{VID: e.net.VID}
}

// toHost rewrites the frame for the host leg.
func (r *Router) toHost(h *HostLeg, pkt *Packet) (Verdict, Target) {
	eth := header.Ethernet(pkt.Frame)
	eth.SetDst(h.HostMAC)
	eth.SetSrc(h.MAC)
	decTTL(header.IPv4(pkt.Frame[pkt.Parsed.L3Off:]))
	r.stats.inc(statRouted)
	return Forward, Target{Routed: true, Port: h.Port}
}

// toUplink rewrites the frame for the uplink's next hop toward dst. When the
// next hop's MAC is not known yet, the frame waits (a few per neighbour)
// while the router resolves it; one that finds the queue full is dropped.
func (r *Router) toUplink(u *Uplink, pkt *Packet, dst netip.Addr, now int64) (Verdict, Target) {
	hop := dst
	if !u.Addr.Contains(dst) {
		if !u.Gateway.IsValid() {
			return r.drop(statNoRoute)
		}
		hop = u.Gateway
	}
	eth := header.Ethernet(pkt.Frame)
	eth.SetSrc(u.MAC)
	decTTL(header.IPv4(pkt.Frame[pkt.Parsed.L3Off:]))
	mac, ok := r.neigh.Lookup(hop, now)
	if !ok {
		queued, request := r.pending.add(hop, pkt, now)
		if request {
			r.resolve(u, hop, now)
		}
		if !queued {
			return r.drop(statUnresolvedDrop)
		}
		r.stats.inc(statUnresolved)
		return Consumed, Target{}
	}
	eth.SetDst(mac)
	r.stats.inc(statRouted)
	return Forward, Target{Routed: true, Port: u.Port}
}

// decTTL decrements an IPv4 TTL and updates the header checksum (RFC 1624).
// A TTL of 0 (which only a packet translated to a router address gets
// this far with) stays 0 rather than wrapping to 255.
func decTTL(ip header.IPv4) {
	if ip.TTL() == 0 {
		return
	}
	old := uint16(ip.TTL())<<8 | uint16(ip.Protocol())
	ip.SetTTL(ip.TTL() - 1)
	ip.SetChecksum(header.ChecksumUpdate16(ip.Checksum(), old, old-0x100))
}

// published finds the published port a new connection to dst is for. Only
// a packet that opens a connection qualifies (for TCP, a SYN without ACK):
// a reply to the host, whose own connections are not translated, may well
// be addressed to a port inside a published range.
func (c *compiled) published(pk *header.Parsed, dst netip.Addr) (Published, bool) {
	if pk.L4Off == 0 || pk.Proto != header.ProtoTCP && pk.Proto != header.ProtoUDP {
		return Published{}, false
	}
	if pk.Proto == header.ProtoTCP && pk.TCPFlags&(header.TCPFlagSYN|header.TCPFlagACK) != header.TCPFlagSYN {
		return Published{}, false
	}
	for _, p := range c.cfg.Published {
		if p.Proto == pk.Proto && pk.DstPort >= p.HostPort && pk.DstPort <= p.HostPortEnd &&
			(!p.HostIP.IsValid() || p.HostIP.IsUnspecified() || p.HostIP == dst) {
			return p, true
		}
	}
	return Published{}, false
}
