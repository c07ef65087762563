package router

import (
	"encoding/binary"
	"net/netip"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/trace"
)

// Network MTUs. A network may have an MTU (Network.MTU: an overlay
// network's is its underlay's MTU less the VXLAN overhead, 1450 on a
// 1500-byte underlay); a packet the router routes into it that is longer
// and may not be fragmented (DF) is dropped and answered with ICMP
// "fragmentation needed" carrying the MTU (RFC 792, RFC 1191 §4), from the
// router's address on the side the packet came in by, so path MTU
// discovery works through the gateway. The check is made before any NAT
// rewrite, so the error quotes the packet as its sender sent it and finds
// its socket. The router does not fragment: a longer packet without DF is
// delivered whole (its endpoint's kernel takes it).

// l3Len returns the length of the IP packets the frame puts on the wire:
// its own, or for a GSO super-frame that of each segment.
func (x *call) l3Len() int {
	pk := x.pkt.Parsed
	n := pk.L3End - pk.L3Off
	if v := x.pkt.Virtio; v != nil && v.IsGSO() && pk.PayloadOff != 0 {
		if seg := pk.PayloadOff - pk.L3Off + int(v.GSOSize()); seg < n {
			n = seg
		}
	}
	return n
}

// overMTU reports whether the packet is too long for network n and may
// not be fragmented.
func (x *call) overMTU(n *Network) bool {
	if n.MTU == 0 {
		return false
	}
	pk := x.pkt.Parsed
	if !pk.L3Valid || pk.IPVersion != 4 || x.l3Len() <= n.MTU {
		return false
	}
	ip := header.IPv4(x.pkt.Frame[pk.L3Off:])
	return ip.Flags()&header.IPv4FlagDF != 0
}

// egressNetwork returns the network a packet of conn in direction d is
// headed for (the connection's other zone), or nil when that is no
// network with an MTU.
func (c *compiled) egressNetwork(conn *nat.Conn, d nat.Dir) *Network {
	if !c.mtus {
		return nil
	}
	z := conn.Zone(nat.Reply)
	if d.Base() == nat.Reply {
		z = conn.Zone(nat.Original)
	}
	for i := range c.cfg.Networks {
		if n := &c.cfg.Networks[i]; n.ID.Zone() == z && n.MTU != 0 {
			return n
		}
	}
	return nil
}

// fragNeeded drops a packet too long for network n, answering ICMP
// fragmentation needed with n's MTU back to side s.
func (x *call) fragNeeded(s side, n *Network) (Verdict, Target) {
	pk := x.pkt.Parsed
	if x.tr != nil {
		x.tr.Add(trace.Router, "%d-byte packet with DF set, over network %s's MTU %d: ICMP fragmentation needed back to %s", x.l3Len(), n.Name, n.MTU, pk.SrcIP)
	}
	if x.mayAnswerError() && (x.tr != nil || x.r.icmpLimit.allow(x.now)) {
		if h, b, ok := x.sink.NewFrame(); ok {
			l := BuildFragNeeded(b, s.mac, pk.Src, s.ip, pk.SrcIP, n.MTU, x.pkt.Frame[pk.L3Off:pk.L3End])
			x.sink.Send(h, l, s.back)
			x.count(ICMPSent)
		} else {
			x.count(DropNoBuffer)
		}
	}
	return x.drop(DropTooBig)
}

// mayAnswerError reports whether RFC 1122 §3.2.2 allows an ICMP error
// about the packet: not about an ICMP error, a non-first fragment, or a
// broadcast or multicast packet.
func (x *call) mayAnswerError() bool {
	pk := x.pkt.Parsed
	if pk.FragOff != 0 || pk.Dst.IsMulticast() || !pk.SrcIP.Is4() || pk.SrcIP.IsUnspecified() || pk.SrcIP.IsMulticast() {
		return false
	}
	return !(pk.Proto == header.ProtoICMP && pk.L4Off != 0 && header.ICMPv4(x.pkt.Frame[pk.L4Off:]).IsError())
}

// BuildFragNeeded writes into b an Ethernet/IPv4/ICMP "fragmentation
// needed and DF set" error (type 3, code 4) with next-hop MTU mtu (RFC
// 1191 §4), from (srcMAC, src) to (dstMAC, dst), quoting orig (the IP
// packet, of which at most 548 bytes are quoted: the error stays within
// 576 bytes), and returns the frame's length. The datapath uses it too,
// for frames too long for a port.
func BuildFragNeeded(b []byte, srcMAC, dstMAC header.MAC, src, dst netip.Addr, mtu int, orig []byte) int {
	n := buildICMPError(b, srcMAC, dstMAC, src, dst, header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded, orig)
	ic := header.ICMPv4(b[header.EthernetLen+header.IPv4MinLen : n])
	binary.BigEndian.PutUint16(ic[6:], uint16(mtu))
	ic.SetChecksum(0)
	ic.SetChecksum(^header.Checksum(ic, 0))
	return n
}
