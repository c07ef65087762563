package router

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/trace"
)

// side is the interface a frame came in by: where replies and ICMP errors
// go back, and with which source addresses.
type side struct {
	mac  header.MAC
	ip   netip.Addr
	back Target
	zone nat.Zone
	net  *Network // the network, or nil for the host leg and the uplink
}

func netSide(n *Network) side {
	return side{mac: n.MAC, ip: n.Gateway, back: Target{VID: n.VID}, zone: n.ID.Zone(), net: n}
}

// String names the side for traces.
func (s side) String() string {
	switch {
	case s.net != nil:
		return "network " + s.net.Name
	case s.zone == ZoneUplink:
		return "the uplink"
	}
	return "the host leg"
}

// fromNetwork handles a frame from a bridged port of network n: an ARP
// request, or an IPv4 packet addressed to the gateway's MAC.
func (x *call) fromNetwork(n *Network) (Verdict, Target) {
	pk := x.pkt.Parsed
	if pk.EtherType == header.EtherTypeARP {
		return x.arpFromNetwork(n)
	}
	if pk.EtherType != header.EtherTypeIPv4 {
		if x.tr != nil {
			x.tr.Add(trace.Router, "ethertype %#04x to the gateway of %s: the router routes IPv4 only", pk.EtherType, n.Name)
		}
		return x.drop(DropNotIPv4)
	}
	if !pk.L3Valid || pk.IPVersion != 4 {
		return x.drop(DropMalformed)
	}
	s := netSide(n)
	x.in = s
	if x.tr != nil {
		x.tr.Add(trace.Router, "to gateway %s (%s) of network %s, vlan %d", n.Gateway, n.MAC, n.Name, n.VID)
	}
	if pk.Fragment {
		if v, t, held := x.reassemble(s.zone); held {
			return v, t
		}
		pk = x.pkt.Parsed
	}
	// Conntrack first: packets of translated connections (including TCP
	// DNS to the gateway) and ICMP errors about them.
	if conn, d, ok := x.lookup(s.zone); ok {
		return x.translated(s, conn, d)
	}
	dst := pk.DstIP
	if dst == n.Gateway {
		return x.local(s, n)
	}
	if pk.TTL <= 1 {
		return x.timeExceeded(s)
	}
	c := x.c
	if e, ok := c.endpoint(dst); ok {
		if e.net != n {
			if x.tr != nil {
				x.tr.Add(trace.Router, "%s is %s in network %s, not %s: networks are isolated", dst, e.name, e.net.Name, n.Name)
			}
			return x.drop(DropIsolation)
		}
		if n.Isolated {
			if x.tr != nil {
				x.tr.Add(trace.Router, "%s is %s in network %s, whose endpoints do not reach each other (icc=false)", dst, e.name, n.Name)
			}
			return x.drop(DropICC)
		}
		return x.toEndpoint(e)
	}
	if o, ok := c.gateways[dst]; ok {
		if x.tr != nil {
			x.tr.Add(trace.Router, "%s is the gateway of network %s, not %s: networks are isolated", dst, o.Name, n.Name)
		}
		return x.drop(DropIsolation)
	}
	if o := c.networkOf(dst); o != nil {
		if o != n {
			if x.tr != nil {
				x.tr.Add(trace.Router, "%s is in network %s (%s), not %s: networks are isolated", dst, o.Name, o.Subnet, n.Name)
			}
			return x.drop(DropIsolation)
		}
		if x.tr != nil {
			x.tr.Add(trace.Router, "%s is in %s but no endpoint has it: host unreachable", dst, n.Subnet)
		}
		return x.unreachable(s, header.ICMPv4HostUnreachable, DropNoRoute)
	}
	if h := c.cfg.Host; h != nil && dst == h.HostAddr {
		if p, ok := c.published(pk, dst); ok {
			return x.dnat(s, p)
		}
		if x.tr != nil {
			x.tr.Add(trace.Router, "to the host (host.vswitchd.internal, %s): no published port %d/%s, so to the host's own stack", dst, pk.DstPort, protoName(pk.Proto))
		}
		return x.toHost(h)
	}
	if u := c.cfg.Uplink; u != nil && dst == u.Addr.Addr() {
		if p, ok := c.published(pk, dst); ok {
			return x.dnat(s, p)
		}
		if x.tr != nil {
			x.tr.Add(trace.Router, "to the uplink address %s: no published port %d/%s there", dst, pk.DstPort, protoName(pk.Proto))
		}
		return x.refuse(s, DropNotForUs)
	}
	if n.Internal {
		if x.tr != nil {
			x.tr.Add(trace.Router, "%s is outside, and network %s is --internal: never routed out", dst, n.Name)
		}
		return x.unreachable(s, header.ICMPv4NetUnreachable, DropInternal)
	}
	if u := c.cfg.Uplink; u == nil || !u.Gateway.IsValid() && !u.Addr.Contains(dst) {
		if x.tr != nil {
			if u == nil {
				x.tr.Add(trace.Router, "%s is outside and the switch has no uplink: no route", dst)
			} else {
				x.tr.Add(trace.Router, "%s is off the uplink's link and the uplink has no gateway: no route", dst)
			}
		}
		return x.unreachable(s, header.ICMPv4NetUnreachable, DropNoRoute)
	}
	return x.masquerade(s)
}

// arpFromNetwork answers ARP requests for the gateway and, with suppression
// on, for endpoint addresses of the same network; others pass to the bridge.
func (x *call) arpFromNetwork(n *Network) (Verdict, Target) {
	pk := x.pkt.Parsed
	if !pk.L3Valid {
		return x.drop(DropMalformed)
	}
	a := header.ARP(x.pkt.Frame[pk.L3Off:])
	if a.Op() != header.ARPRequest {
		if pk.Dst == n.MAC {
			if x.tr != nil {
				x.consume("an ARP reply to the gateway: nothing to learn")
			}
			return Consumed, Target{} // a reply to the gateway: nothing to learn
		}
		return Pass, Target{}
	}
	target := a.TargetIP()
	if arp.IsGratuitous(a) {
		return Pass, Target{} // announcements reach every peer
	}
	if target == n.Gateway {
		x.count(ARPReply)
		if x.tr != nil {
			x.tr.Add(trace.Router, "ARP request for gateway %s of network %s: answered %s", target, n.Name, n.MAC)
		}
		arp.Reply(x.pkt.Frame, a, n.MAC, target)
		return Forward, Target{VID: n.VID}
	}
	if x.c.cfg.NoARPSuppression {
		return Pass, Target{}
	}
	if e, ok := x.c.endpoint(target); ok && e.net == n {
		x.count(ARPSuppressed)
		if x.tr != nil {
			x.tr.Add(trace.Router, "ARP request for %s (%s): answered %s by the switch (ARP suppression)", target, e.name, e.mac)
		}
		arp.Reply(x.pkt.Frame, a, e.mac, target)
		return Forward, Target{VID: n.VID}
	}
	if rn := x.c.cfg.Remote; rn != nil {
		if mac, ok := rn.LookupARP(n.VID, target, x.pkt.InPort); ok {
			x.count(ARPSuppressed)
			if x.tr != nil {
				x.tr.Add(trace.Router, "ARP request for %s, an endpoint on another host: answered %s by the switch (ARP suppression)", target, mac)
			}
			arp.Reply(x.pkt.Frame, a, mac, target)
			return Forward, Target{VID: n.VID}
		}
	}
	return Pass, Target{}
}

// local handles a packet to network n's gateway address.
func (x *call) local(s side, n *Network) (Verdict, Target) {
	pk := x.pkt.Parsed
	switch {
	case pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo:
		return x.echoReply(s)
	case pk.Proto == header.ProtoUDP && pk.DstPort == 53 && pk.L4Off != 0:
		return x.serveDNS(n)
	case pk.Proto == header.ProtoTCP && pk.DstPort == 53 && pk.L4Off != 0:
		h := x.c.cfg.Host
		if h == nil || h.DNSPort == 0 {
			return x.drop(DropNotForUs)
		}
		a := nat.Action{DNAT: true, DNATAddr: h.HostAddr, DNATPort: h.DNSPort}
		rule := func() string { return "DNS over TCP to the gateway: DNAT to the daemon's listener" }
		if c, ok := x.open(s.zone, ZoneHost, a, rule); !ok {
			return x.drop(c)
		}
		return x.toHost(h)
	case (pk.Proto == header.ProtoTCP || pk.Proto == header.ProtoUDP) && pk.L4Off != 0:
		// As on docker0, the gateway is the host: a published port
		// there goes to its endpoint, any other port to the host's own
		// services (a closed one answers RST or port unreachable).
		if p, ok := x.c.published(pk, n.Gateway); ok {
			return x.dnat(s, p)
		}
		h := x.c.cfg.Host
		if h == nil {
			return x.refuse(s, DropNotForUs)
		}
		a := nat.Action{DNAT: true, DNATAddr: h.HostAddr}
		rule := func() string {
			return fmt.Sprintf("%s port %d of gateway %s: DNAT to the host (%s), as docker0's address is the host's", protoName(pk.Proto), pk.DstPort, n.Gateway, h.HostAddr)
		}
		if c, ok := x.open(s.zone, ZoneHost, a, rule); !ok {
			return x.drop(c)
		}
		return x.toHost(h)
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "%s to gateway %s: not answered", protoName(pk.Proto), n.Gateway)
	}
	return x.drop(DropNotForUs)
}

// fromHost handles a frame from the host leg.
func (x *call) fromHost() (Verdict, Target) {
	h := x.c.cfg.Host
	pk := x.pkt.Parsed
	s := side{mac: h.MAC, ip: h.Addr, back: Target{Routed: true, Port: h.Port}, zone: ZoneHost}
	switch pk.EtherType {
	case header.EtherTypeARP:
		return x.arpRouted(s, nil)
	case header.EtherTypeIPv4:
	default:
		return x.drop(DropNotIPv4)
	}
	if !pk.L3Valid || pk.IPVersion != 4 {
		return x.drop(DropMalformed)
	}
	if pk.Dst != h.MAC && !pk.Dst.IsMulticast() {
		return x.drop(DropNotForUs)
	}
	x.in = s
	if x.tr != nil {
		x.tr.Add(trace.Router, "from the host (%s) on the host leg", pk.SrcIP)
	}
	if pk.Fragment {
		if v, t, held := x.reassemble(ZoneHost); held {
			return v, t
		}
		pk = x.pkt.Parsed
	}
	if conn, d, ok := x.lookup(ZoneHost); ok {
		return x.translated(s, conn, d)
	}
	c := x.c
	dst := pk.DstIP
	if dst == h.Addr {
		if pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo {
			return x.echoReply(s)
		}
		if p, ok := c.published(pk, dst); ok {
			return x.dnat(s, p)
		}
		return x.drop(DropNotForUs)
	}
	if pk.TTL <= 1 {
		return x.timeExceeded(s)
	}
	if e, ok := c.endpoint(dst); ok {
		return x.toEndpoint(e) // the host reaches every network
	}
	if n, ok := c.gateways[dst]; ok && pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo {
		return x.echoReply(side{mac: h.MAC, ip: n.Gateway, back: s.back, zone: ZoneHost})
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "%s is no endpoint's address: host unreachable", dst)
	}
	return x.unreachable(s, header.ICMPv4HostUnreachable, DropNoRoute)
}

// fromUplink handles a frame from the uplink: ARP, replies of masqueraded
// connections, and new connections to published ports.
func (x *call) fromUplink() (Verdict, Target) {
	u := x.c.cfg.Uplink
	pk := x.pkt.Parsed
	s := side{mac: u.MAC, ip: u.Addr.Addr(), back: Target{Routed: true, Port: u.Port}, zone: ZoneUplink}
	switch pk.EtherType {
	case header.EtherTypeARP:
		return x.arpRouted(s, u)
	case header.EtherTypeIPv4:
	default:
		return x.drop(DropNotIPv4)
	}
	if pk.Dst != u.MAC && !pk.Dst.IsMulticast() {
		if x.tr != nil {
			x.tr.Add(trace.Router, "to %s on the uplink, not the switch's MAC %s", pk.Dst, u.MAC)
		}
		return x.drop(DropNotForUs)
	}
	if !pk.L3Valid || pk.IPVersion != 4 {
		return x.drop(DropMalformed)
	}
	x.in = s
	if x.tr != nil {
		x.tr.Add(trace.Router, "from %s on the uplink", pk.SrcIP)
	}
	if pk.Fragment {
		if v, t, held := x.reassemble(ZoneUplink); held {
			return v, t
		}
		pk = x.pkt.Parsed
	}
	if conn, d, ok := x.lookup(ZoneUplink); ok {
		return x.translated(s, conn, d)
	}
	if pk.DstIP != u.Addr.Addr() {
		if x.tr != nil {
			x.tr.Add(trace.Router, "to %s, not the uplink address %s: no transit routing from outside", pk.DstIP, u.Addr.Addr())
		}
		return x.drop(DropNotForUs)
	}
	if pk.Proto == header.ProtoICMP && pk.ICMPType == header.ICMPv4Echo {
		return x.echoReply(s)
	}
	if p, ok := x.c.published(pk, pk.DstIP); ok {
		return x.dnat(s, p)
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "no published port %d/%s on the uplink address %s, and no connection: refused as the host's stack would", pk.DstPort, protoName(pk.Proto), pk.DstIP)
	}
	return x.refuse(s, DropNotForUs)
}

// arpRouted handles ARP on a routed port: answer requests for the router's
// address there and, on the uplink, learn neighbours and release frames
// that were waiting for them.
func (x *call) arpRouted(s side, u *Uplink) (Verdict, Target) {
	pk := x.pkt.Parsed
	if !pk.L3Valid {
		return x.drop(DropMalformed)
	}
	a := header.ARP(x.pkt.Frame[pk.L3Off:])
	sender := a.SenderIP()
	if u != nil && u.Addr.Contains(sender) && sender != u.Addr.Addr() && !a.SenderMAC().IsMulticast() {
		// Learn from requests for us and from every reply (Linux
		// creates a neighbour from a request to itself as well).
		if a.Op() == header.ARPReply || a.TargetIP() == s.ip {
			if x.tr != nil {
				x.tr.Add(trace.Router, "learns neighbour %s at %s on the uplink", sender, a.SenderMAC())
			} else {
				x.r.neigh.Update(sender, a.SenderMAC(), x.now)
				x.flushPending(u, sender, a.SenderMAC())
			}
		}
	}
	if a.Op() == header.ARPRequest && a.TargetIP() == s.ip {
		x.count(ARPReply)
		if x.tr != nil {
			x.tr.Add(trace.Router, "ARP request for %s on %s: answered %s", s.ip, s, s.mac)
		}
		arp.Reply(x.pkt.Frame, a, s.mac, s.ip)
		return Forward, s.back
	}
	if x.tr != nil {
		x.consume("ARP on " + s.String())
	}
	return Consumed, Target{}
}

// translated applies an existing connection's translation and forwards the
// packet toward its new destination.
func (x *call) translated(s side, conn *nat.Conn, d nat.Dir) (Verdict, Target) {
	pk := x.pkt.Parsed
	if pk.TTL <= 1 && !x.c.isLocal(pk.DstIP) {
		return x.timeExceeded(s)
	}
	if !x.apply(conn, d) {
		return x.drop(DropNATInvalid)
	}
	if !d.IsRelated() {
		x.conn, x.dir = conn, d
	}
	// The connection's other zone is where the packet goes.
	egress := conn.Zone(nat.Reply)
	if d.Base() == nat.Reply {
		egress = conn.Zone(nat.Original)
	}
	return x.deliver(egress)
}

// isLocal reports whether ip is one of the router's own addresses.
func (c *compiled) isLocal(ip netip.Addr) bool {
	if _, ok := c.gateways[ip]; ok {
		return true
	}
	if u := c.cfg.Uplink; u != nil && ip == u.Addr.Addr() {
		return true
	}
	return c.cfg.Host != nil && ip == c.cfg.Host.Addr
}

// deliver forwards a translated packet into zone, the side of its
// connection it is headed for, by its new destination (the translation
// updated it).
func (x *call) deliver(zone nat.Zone) (Verdict, Target) {
	c := x.c
	dst := x.pkt.Parsed.DstIP
	switch zone {
	case ZoneUplink:
		if u := c.cfg.Uplink; u != nil {
			return x.toUplink(u, dst)
		}
	case ZoneHost:
		if h := c.cfg.Host; h != nil && dst == h.HostAddr {
			return x.toHost(h)
		}
	default:
		if e, ok := c.endpoint(dst); ok && e.net.ID.Zone() == zone {
			return x.toEndpoint(e)
		}
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "the connection's other side (zone %d, %s) is gone: no route", zone, dst)
	}
	return x.drop(DropNoRoute)
}

// dnat translates a new connection to a published port and forwards it to
// the endpoint. A client in the endpoint's own network is also translated
// to the gateway address (hairpin), so the reply comes back through the
// router instead of going straight to the client.
func (x *call) dnat(s side, p Published) (Verdict, Target) {
	pk := x.pkt.Parsed
	e, ok := x.c.endpoint(p.Addr)
	if !ok {
		if x.tr != nil {
			x.tr.Add(trace.Router, "published port %d/%s points at %s, which no endpoint has", pk.DstPort, protoName(p.Proto), p.Addr)
		}
		return x.drop(DropNoRoute)
	}
	a := nat.Action{DNAT: true, DNATAddr: p.Addr, DNATPort: p.ContPort + (pk.DstPort - p.HostPort)}
	if s.zone == e.net.ID.Zone() {
		a.SNAT, a.SNATAddr = true, e.net.Gateway
	}
	rule := func() string {
		r := fmt.Sprintf("published port %s:%d/%s of %s: DNAT to %s:%d", pk.DstIP, pk.DstPort, protoName(p.Proto), p.Endpoint, p.Addr, a.DNATPort)
		if a.SNAT {
			r += fmt.Sprintf(", hairpin: SNAT to gateway %s", e.net.Gateway)
		}
		return r
	}
	if c, ok := x.open(s.zone, e.net.ID.Zone(), a, rule); !ok {
		return x.drop(c)
	}
	x.count(DNAT)
	return x.toEndpoint(e)
}

// masquerade translates a new outbound connection to the uplink address.
func (x *call) masquerade(s side) (Verdict, Target) {
	u := x.c.cfg.Uplink
	a := nat.Action{SNAT: true, SNATAddr: u.Addr.Addr()}
	rule := func() string { return "masquerade " + s.String() + " to the uplink address " + u.Addr.Addr().String() }
	if c, ok := x.open(s.zone, ZoneUplink, a, rule); !ok {
		return x.drop(c)
	}
	x.count(Masquerade)
	return x.toUplink(u, x.pkt.Parsed.DstIP)
}

// lookup finds the packet's connection in zone. A dry run first tries the
// connections the same trace planned earlier (so the traced reply finds
// the connection its request would have opened), then the table, without
// changing it.
func (x *call) lookup(zone nat.Zone) (*nat.Conn, nat.Dir, bool) {
	pkt := &x.pkt
	if x.tr == nil {
		return x.r.nat.Lookup(zone, pkt.Frame, pkt.Parsed, x.now)
	}
	for _, h := range x.tr.Hypothetical {
		if c, ok := h.(*nat.Conn); ok {
			if d, ok := c.Match(zone, pkt.Frame, pkt.Parsed); ok {
				x.tr.Add(trace.Conntrack, "%s of the connection the request opened: %s", d, connString(c))
				return c, d, true
			}
		}
	}
	c, d, ok := x.r.nat.Peek(zone, pkt.Frame, pkt.Parsed, x.now)
	if ok {
		x.tr.Add(trace.Conntrack, "%s of a tracked connection: %s", d, connString(c))
	} else {
		x.tr.Add(trace.Conntrack, "no tracked connection")
	}
	return c, d, ok
}

// open creates the connection a new packet opens, with translation a (rule
// describes it, for traces only), and translates the packet as its first
// one.
// A dry run plans the connection instead and keeps it in the trace. On
// failure it returns the drop reason.
func (x *call) open(zone, replyZone nat.Zone, a nat.Action, rule func() string) (Counter, bool) {
	pkt := &x.pkt
	if x.tr == nil {
		conn, err := x.r.nat.Create(zone, replyZone, pkt.Parsed, a, x.now)
		if err != nil {
			return natDrop(err), false
		}
		if x.r.nat.Apply(pkt.Frame, pkt.Parsed, conn, nat.Original, pkt.partial(), x.now) != nat.VerdictAccept {
			return DropNATInvalid, false
		}
		x.conn, x.dir = conn, nat.Original
		return 0, true
	}
	conn, err := x.r.nat.Plan(zone, replyZone, pkt.Parsed, a, x.now)
	if err != nil {
		x.tr.Add(trace.Conntrack, "%s: no connection: %v", rule(), err)
		return natDrop(err), false
	}
	x.tr.Hypothetical = append(x.tr.Hypothetical, conn)
	x.tr.Add(trace.Conntrack, "new connection, %s: %s", rule(), connString(conn))
	return 0, x.apply(conn, nat.Original)
}

// apply translates the packet as one of conn's in direction d; a dry run
// translates without tracking.
func (x *call) apply(conn *nat.Conn, d nat.Dir) bool {
	pkt := &x.pkt
	if x.tr != nil {
		return x.r.nat.Translate(pkt.Frame, pkt.Parsed, conn, d, pkt.partial()) == nat.VerdictAccept
	}
	return x.r.nat.Apply(pkt.Frame, pkt.Parsed, conn, d, pkt.partial(), x.now) == nat.VerdictAccept
}

func natDrop(err error) Counter {
	switch {
	case errors.Is(err, nat.ErrTableFull):
		return DropNATFull
	case errors.Is(err, nat.ErrNoPort):
		return DropNATNoPort
	}
	return DropNATInvalid
}

// toEndpoint rewrites the frame for the endpoint e and forwards it into its
// network.
func (x *call) toEndpoint(e endpointRef) (Verdict, Target) {
	eth := header.Ethernet(x.pkt.Frame)
	eth.SetDst(e.mac)
	eth.SetSrc(e.net.MAC)
	decTTL(header.IPv4(x.pkt.Frame[x.pkt.Parsed.L3Off:]))
	x.count(Routed)
	if x.tr != nil {
		x.tr.Add(trace.Router, "routes to %s (%s, %s) in network %s, vlan %d", x.pkt.Parsed.DstIP, e.name, e.mac, e.net.Name, e.net.VID)
	}
	return Forward, Target{VID: e.net.VID}
}

// toHost rewrites the frame for the host leg.
func (x *call) toHost(h *HostLeg) (Verdict, Target) {
	eth := header.Ethernet(x.pkt.Frame)
	eth.SetDst(h.HostMAC)
	eth.SetSrc(h.MAC)
	decTTL(header.IPv4(x.pkt.Frame[x.pkt.Parsed.L3Off:]))
	x.count(Routed)
	if x.tr != nil {
		x.tr.Add(trace.Router, "routes to the host (%s) over the host leg", x.pkt.Parsed.DstIP)
	}
	return Forward, Target{Routed: true, Port: h.Port}
}

// toUplink rewrites the frame for the uplink's next hop toward dst. When the
// next hop's MAC is not known yet, the frame waits (a few per neighbour)
// while the router resolves it; one that finds the queue full is dropped.
func (x *call) toUplink(u *Uplink, dst netip.Addr) (Verdict, Target) {
	hop := dst
	if !u.Addr.Contains(dst) {
		if !u.Gateway.IsValid() {
			return x.drop(DropNoRoute)
		}
		hop = u.Gateway
	}
	eth := header.Ethernet(x.pkt.Frame)
	eth.SetSrc(u.MAC)
	decTTL(header.IPv4(x.pkt.Frame[x.pkt.Parsed.L3Off:]))
	mac, ok := x.r.neigh.Lookup(hop, x.now)
	if x.tr != nil {
		if ok {
			x.tr.Add(trace.Router, "routes to %s out of the uplink via next hop %s (%s)", dst, hop, mac)
			eth.SetDst(mac)
		} else {
			x.tr.Add(trace.Router, "routes to %s out of the uplink via next hop %s, not resolved yet: the frame would wait for its ARP reply (up to %v)", dst, hop, pendingTimeout)
		}
		x.count(Routed)
		return Forward, Target{Routed: true, Port: u.Port}
	}
	if !ok {
		if pk := x.pkt.Parsed; pk.L3End-pk.L3Off > mtuOr(u.MTU) {
			// Larger than the uplink's MTU (a reassembled datagram): it
			// would have to be fragmented, which the queue does not do.
			// Ask for the next hop, and let the sender retry.
			if x.r.pending.request(hop, x.now) {
				x.resolve(u, hop)
			}
			return x.drop(DropUnresolved)
		}
		queued, request := x.r.pending.add(hop, &x.pkt, x.now)
		if request {
			x.resolve(u, hop)
		}
		if !queued {
			return x.drop(DropUnresolved)
		}
		x.count(ARPPending)
		return Consumed, Target{}
	}
	eth.SetDst(mac)
	x.count(Routed)
	return Forward, Target{Routed: true, Port: u.Port}
}

// consume records, in a dry run, that the router took the frame.
func (x *call) consume(why string) {
	if x.tr != nil {
		x.tr.Consume(trace.Router, "", "%s", why)
	}
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

// protoName names an IP protocol for traces.
func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return fmt.Sprintf("proto %d", p)
}

// connString describes a connection for traces: its original tuple and
// the reply it expects.
func connString(c *nat.Conn) string {
	o, r := c.Tuple(nat.Original), c.Tuple(nat.Reply)
	return fmt.Sprintf("%s %s → %s, reply %s → %s", protoName(o.Proto),
		netip.AddrPortFrom(o.Src, o.SrcPort), netip.AddrPortFrom(o.Dst, o.DstPort),
		netip.AddrPortFrom(r.Src, r.SrcPort), netip.AddrPortFrom(r.Dst, r.DstPort))
}
