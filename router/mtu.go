package router

import (
	"encoding/binary"
	"errors"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/trace"
)

// Path MTU and fragments, as a Linux router does them (ip_forward,
// ip_fragment, nf_defrag_ipv4):
//
//   - Every fragment is held by the reassembler (nat.Defrag) until its
//     datagram is complete, in any order; the whole datagram is then
//     routed and translated once, like any packet, and sent on in
//     fragments no larger than the largest that arrived nor the egress
//     MTU.
//   - A packet larger than the egress MTU is fragmented (RFC 791 §3.2)
//     unless it has DF set: then it is dropped and the sender gets ICMP
//     "fragmentation needed" with the next-hop MTU (RFC 1191), quoting the
//     packet as the sender sent it (translated back through the NAT, as
//     nf_nat_icmp_reply_translation would).
//   - A TCP or UDP segmentation-offload super-frame is never fragmented:
//     if its segments would not fit, its GSO size is lowered so that they
//     do (the sender is not told; its MSS is what the MSS clamp is for).
//   - With Config.MSSClamp, SYNs crossing the uplink get their MSS option
//     lowered to the smaller MTU minus 40 (TCPMSS --clamp-mss-to-pmtu).

// mtuOf returns the MTU toward target t.
func (c *compiled) mtuOf(t Target) int {
	if t.Routed {
		switch {
		case c.cfg.Uplink != nil && t.Port == c.cfg.Uplink.Port:
			return mtuOr(c.cfg.Uplink.MTU)
		case c.cfg.Host != nil && t.Port == c.cfg.Host.Port:
			return mtuOr(c.cfg.Host.MTU)
		}
		return DefaultMTU
	}
	if n := c.network(t.VID); n != nil {
		return mtuOr(n.MTU)
	}
	return DefaultMTU
}

// sideMTU returns the MTU of the interface s stands for.
func (c *compiled) sideMTU(s side) int {
	switch {
	case s.net != nil:
		return mtuOr(s.net.MTU)
	case s.zone == ZoneUplink && c.cfg.Uplink != nil:
		return mtuOr(c.cfg.Uplink.MTU)
	case s.zone == ZoneHost && c.cfg.Host != nil:
		return mtuOr(c.cfg.Host.MTU)
	}
	return DefaultMTU
}

// isUplink reports whether t is the uplink.
func (c *compiled) isUplink(t Target) bool {
	return t.Routed && c.cfg.Uplink != nil && t.Port == c.cfg.Uplink.Port
}

// output makes an IPv4 packet the router forwards fit its egress: the
// last step of every Forward. It returns Forward (the frame goes as it
// is, maybe with a lower GSO size or MSS), or Consumed when the packet
// left as fragments (through the Sink) or was refused as too big.
func (x *call) output(t Target) (Verdict, Target) {
	pk := x.pkt.Parsed
	if pk.EtherType != header.EtherTypeIPv4 || pk.IPVersion != 4 || !pk.L3Valid {
		return Forward, t
	}
	c := x.c
	mtu := c.mtuOf(t)
	if c.cfg.MSSClamp && pk.Proto == header.ProtoTCP && pk.TCPFlags&header.TCPFlagSYN != 0 && pk.L4Off != 0 &&
		(c.isUplink(t) || x.in.zone == ZoneUplink) {
		x.clampMSS(min(mtu, c.sideMTU(x.in)) - header.IPv4MinLen - header.TCPMinLen)
	}
	size := pk.L3End - pk.L3Off
	if vh := x.pkt.Virtio; vh != nil && vh.IsGSO() {
		if x.tr == nil && offload.ClampGSO(x.pkt.Frame, vh, mtu) {
			x.count(GSOResized)
		} else if x.tr != nil && offload.SegmentLen(x.pkt.Frame, vh) > mtu {
			x.tr.Add(trace.Router, "a super-frame whose segments exceed the egress MTU %d: its GSO size would be lowered to fit", mtu)
		}
		return Forward, t
	}
	if size <= mtu {
		if x.gen >= 0 && x.tr == nil {
			x.sink.Send(x.gen, len(x.pkt.Frame), t) // a reassembled datagram that fits whole
			return Consumed, Target{}
		}
		return Forward, t
	}
	df := binary.BigEndian.Uint16(x.pkt.Frame[pk.L3Off+6:])&header.IPv4FlagDF != 0
	if df && x.gen < 0 {
		if x.tr != nil {
			x.tr.Add(trace.Router, "%d bytes with DF set, egress MTU %d: dropped, ICMP fragmentation needed (MTU %d) back to %s", size, mtu, mtu, pk.SrcIP)
		}
		x.fragNeeded(mtu)
		return x.drop(DropTooBig)
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "%d bytes, egress MTU %d: sent on in fragments (RFC 791)", size, mtu)
		return Forward, t
	}
	if x.fragMax > 0 {
		mtu = min(mtu, x.fragMax)
	}
	return x.fragment(t, mtu)
}

// fragment sends the packet to t as fragments of at most mtu bytes (RFC
// 791 §3.2): each with the IPv4 header (options that are not to be copied
// replaced by NOPs after the first), its own offset, MF on all but the
// last (and on the last too when the packet was itself a fragment with
// MF), and a new header checksum.
func (x *call) fragment(t Target, mtu int) (Verdict, Target) {
	pk := x.pkt.Parsed
	frame := x.pkt.Frame
	if vh := x.pkt.Virtio; vh != nil && vh.NeedsCsum() {
		if offload.Finish(frame[:pk.L3End], vh) != nil {
			return x.drop(DropMalformed)
		}
	}
	ip := header.IPv4(frame[pk.L3Off:pk.L3End])
	hl := ip.HeaderLength()
	data := (mtu - hl) &^ 7
	if data < 8 {
		return x.drop(DropTooBig)
	}
	word := binary.BigEndian.Uint16(frame[pk.L3Off+6:])
	base := int(word&0x1fff) * 8
	lastMF := word&header.IPv4FlagMF != 0
	payload := frame[pk.L3Off+hl : pk.L3End]
	for off := 0; off < len(payload); off += data {
		n := min(data, len(payload)-off)
		h, b, ok := x.sink.NewFrame()
		if !ok {
			return x.drop(DropNoBuffer)
		}
		m := copy(b, frame[:pk.L3Off+hl])
		m += copy(b[m:], payload[off:off+n])
		fip := header.IPv4(b[pk.L3Off:m])
		fip.SetTotalLength(uint16(hl + n))
		w := word&header.IPv4FlagDF | uint16((base+off)/8)&0x1fff
		if off+n < len(payload) || lastMF {
			w |= header.IPv4FlagMF
		}
		binary.BigEndian.PutUint16(b[pk.L3Off+6:], w)
		if off > 0 {
			nopOptions(b[pk.L3Off+header.IPv4MinLen : pk.L3Off+hl])
		}
		fip.SetChecksum(0)
		fip.SetChecksum(fip.CalculateChecksum())
		x.sink.Send(h, m, t)
	}
	x.count(Fragmented)
	return Consumed, Target{}
}

// nopOptions replaces the IPv4 options whose copied flag is clear with
// NOPs (Linux ip_options_fragment).
func nopOptions(opts []byte) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return
		case 1:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return
		}
		if opts[i]&0x80 == 0 {
			for j := i; j < i+n; j++ {
				opts[j] = 1
			}
		}
		i += n
	}
}

// fragNeeded sends ICMP "fragmentation needed" with the next-hop MTU back
// to the packet's sender (RFC 1191 §4), from the router's address on the
// side it came in by. The packet may have been translated already; the
// error then quotes it as its sender sent it.
func (x *call) fragNeeded(mtu int) {
	pk := x.pkt.Parsed
	if x.tr != nil || pk.FragOff != 0 || pk.Dst.IsMulticast() || !pk.SrcIP.Is4() || pk.SrcIP.IsUnspecified() {
		return
	}
	if pk.Proto == header.ProtoICMP && pk.L4Off != 0 && header.ICMPv4(x.pkt.Frame[pk.L4Off:]).IsError() {
		return
	}
	if !x.r.icmpLimit.allow(x.now) {
		return
	}
	h, b, ok := x.sink.NewFrame()
	if !ok {
		x.count(DropNoBuffer)
		return
	}
	s := x.in
	n := buildICMPError(b, s.mac, pk.Src, s.ip, pk.SrcIP, header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded, x.pkt.Frame[pk.L3Off:pk.L3End])
	ic := header.ICMPv4(b[header.EthernetLen+header.IPv4MinLen : n])
	binary.BigEndian.PutUint16(ic[6:], uint16(mtu)) // next-hop MTU (RFC 1191 §4)
	ic.SetChecksum(0)
	ic.SetChecksum(^header.Checksum(ic, 0))
	if x.conn != nil {
		var ep header.Parsed
		if ep.Decode(b[:n]) != nil || x.r.nat.Translate(b[:n], &ep, x.conn, x.dir^nat.Reply|nat.Related, false) != nat.VerdictAccept {
			return // the buffer goes back with the batch
		}
	}
	x.sink.Send(h, n, s.back)
	x.count(ICMPSent)
}

// clampMSS lowers the MSS option of a SYN to limit, updating the TCP
// checksum (RFC 1624) unless it is left to the device (the pseudo-header
// sum it then holds does not cover options).
func (x *call) clampMSS(limit int) {
	pk := x.pkt.Parsed
	frame := x.pkt.Frame
	if limit <= 0 || pk.PayloadOff-pk.L4Off <= header.TCPMinLen || pk.PayloadOff > len(frame) {
		return
	}
	v, off := nat.TCPOption16(frame[pk.L4Off+header.TCPMinLen:pk.PayloadOff], 2)
	if off < 0 || int(v) <= limit {
		return
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "SYN with MSS %d crossing the uplink: MSS clamped to %d", v, limit)
		return
	}
	at := header.TCPMinLen + off // from the TCP header
	tcp := header.TCP(frame[pk.L4Off:pk.PayloadOff])
	// The option may start at an odd offset: update the checksum over
	// the aligned words it touches.
	lo := at &^ 1
	hi := min((at+2+1)&^1, len(tcp))
	var old [4]byte
	copy(old[:], tcp[lo:hi])
	binary.BigEndian.PutUint16(tcp[at:], uint16(limit))
	if !x.pkt.partial() {
		cs := tcp.Checksum()
		for i := lo; i+1 < hi; i += 2 {
			cs = header.ChecksumUpdate16(cs, binary.BigEndian.Uint16(old[i-lo:]), binary.BigEndian.Uint16(tcp[i:]))
		}
		tcp.SetChecksum(cs)
	}
	x.count(MSSClamped)
}

// reassemble hands a fragment that arrived in zone to the reassembler.
// held is true when the router is done with the frame (kept for later,
// or dropped); otherwise the fragment completed its datagram, which now
// is the packet (x.pkt.Frame in a Sink buffer, x.gen its handle).
func (x *call) reassemble(zone nat.Zone) (v Verdict, t Target, held bool) {
	pk := x.pkt.Parsed
	if x.tr != nil {
		x.tr.Add(trace.Router, "a fragment (id %d, offset %d): held until its datagram is complete, which is then routed and translated whole", pk.IPID, pk.FragOff)
		x.consume("fragment held for reassembly")
		return Consumed, Target{}, true
	}
	g, res := x.r.frags.Add(zone, x.pkt.Frame, pk, x.now)
	x.pkt.Counts[DropFragBudget] += uint64(g.Evicted)
	switch res {
	case nat.FragComplete:
	case nat.FragHeld:
		return Consumed, Target{}, true
	case nat.FragOverlap:
		v, t = x.drop(DropFragOverlap)
		return v, t, true
	default:
		v, t = x.drop(DropFragment)
		return v, t, true
	}
	h, b, ok := x.sink.NewFrame()
	if !ok || len(b) < g.Len() {
		v, t = x.drop(DropNoBuffer)
		return v, t, true
	}
	n := g.Assemble(b)
	p := new(header.Parsed)
	if err := p.Decode(b[:n]); err != nil && !errors.Is(err, header.ErrMalformedL4) || !p.L3Valid {
		v, t = x.drop(DropMalformed)
		return v, t, true
	}
	x.pkt.Frame, x.pkt.Parsed, x.pkt.Virtio = b[:n], p, nil
	x.gen, x.fragMax = h, g.MaxFragment()
	x.count(Reassembled)
	return 0, Target{}, false
}

// refuse answers a packet to a router address where nothing listens, as
// the host's own stack would: TCP with a reset, other protocols with ICMP
// port unreachable; both rate-limited. It drops the packet, counting
// reason.
func (x *call) refuse(s side, reason Counter) (Verdict, Target) {
	pk := x.pkt.Parsed
	if pk.Proto == header.ProtoTCP && pk.L4Off != 0 {
		x.sendRST(s)
		return x.drop(reason)
	}
	return x.unreachable(s, header.ICMPv4PortUnreachable, reason)
}

// sendRST answers a TCP segment with a reset (RFC 793 §3.4, "Reset
// Generation"): with the segment's ACK as sequence if it had one, else
// sequence 0 acknowledging everything it carried. Never for a reset, a
// broadcast or multicast destination, or a non-first fragment.
func (x *call) sendRST(s side) {
	pk := x.pkt.Parsed
	frame := x.pkt.Frame
	if pk.TCPFlags&header.TCPFlagRST != 0 || pk.Dst.IsMulticast() || pk.FragOff != 0 || pk.PayloadOff > len(frame) ||
		!pk.SrcIP.Is4() || pk.SrcIP.IsUnspecified() || pk.SrcIP.IsMulticast() {
		return
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "TCP reset back to %s", pk.SrcIP)
		return
	}
	if !x.r.icmpLimit.allow(x.now) {
		return
	}
	h, b, ok := x.sink.NewFrame()
	if !ok {
		x.count(DropNoBuffer)
		return
	}
	in := header.TCP(frame[pk.L4Off:pk.PayloadOff])
	var seq, ack uint32
	flags := header.TCPFlagRST
	if pk.TCPFlags&header.TCPFlagACK != 0 {
		seq = in.Ack()
	} else {
		ack = in.Seq() + uint32(pk.L3End-pk.PayloadOff)
		if pk.TCPFlags&header.TCPFlagSYN != 0 {
			ack++
		}
		if pk.TCPFlags&header.TCPFlagFIN != 0 {
			ack++
		}
		flags |= header.TCPFlagACK
	}
	header.Ethernet(b).Encode(&header.EthernetFields{Dst: pk.Src, Src: s.mac, Type: header.EtherTypeIPv4})
	ipOff := header.EthernetLen
	tcpOff := ipOff + header.IPv4MinLen
	n := tcpOff + header.TCPMinLen
	header.IPv4(b[ipOff:]).Encode(&header.IPv4Fields{
		TotalLength: header.IPv4MinLen + header.TCPMinLen, TTL: 64, Protocol: header.ProtoTCP,
		Flags: header.IPv4FlagDF, Src: pk.DstIP, Dst: pk.SrcIP,
	})
	t := header.TCP(b[tcpOff:n])
	t.Encode(&header.TCPFields{SrcPort: pk.DstPort, DstPort: pk.SrcPort, Seq: seq, Ack: ack, Flags: flags})
	t.SetChecksum(0)
	t.SetChecksum(^header.Checksum(t, header.IPv4(b[ipOff:]).PseudoHeaderChecksum(header.TCPMinLen)))
	x.sink.Send(h, n, s.back)
	x.count(RSTSent)
}
