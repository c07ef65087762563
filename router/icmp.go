package router

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/vswitchd/vswitchd/header"
)

// echoReply turns an ICMP echo request into its reply in place (RFC 792):
// swap the addresses, set the type, update the checksums.
func (r *Router) echoReply(s side, pkt *Packet) (Verdict, Target) {
	pk := pkt.Parsed
	if pk.L4Off == 0 {
		return r.drop(statMalformed)
	}
	eth := header.Ethernet(pkt.Frame)
	eth.SetDst(pk.Src)
	eth.SetSrc(s.mac)
	ip := header.IPv4(pkt.Frame[pk.L3Off:])
	ip.SetDst(pk.SrcIP)
	ip.SetSrc(s.ip)
	ip.SetTTL(64)
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	ic := header.ICMPv4(pkt.Frame[pk.L4Off:])
	old := binary.BigEndian.Uint16(ic)
	ic.SetType(header.ICMPv4EchoReply)
	ic.SetChecksum(header.ChecksumUpdate16(ic.Checksum(), old, binary.BigEndian.Uint16(ic)))
	r.stats.inc(statEchoReply)
	return Forward, s.back
}

// timeExceeded answers a packet whose TTL ran out at the router.
func (r *Router) timeExceeded(s side, pkt *Packet, sink Sink, now int64) (Verdict, Target) {
	r.sendICMPError(s, pkt, sink, now, header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded)
	return r.drop(statTTLExceeded)
}

// unreachable answers a packet with destination unreachable (code) and
// drops it, counting st.
func (r *Router) unreachable(s side, pkt *Packet, sink Sink, now int64, code uint8, st stat) (Verdict, Target) {
	r.sendICMPError(s, pkt, sink, now, header.ICMPv4DstUnreachable, code)
	return r.drop(st)
}

// icmpQuoteMax bounds how much of the offending datagram an error quotes:
// the whole error stays within 576 bytes (RFC 1812 §4.3.2.3).
const icmpQuoteMax = 576 - header.IPv4MinLen - header.ICMPv4MinLen

// icmpErrorsPerSecond limits the ICMP errors the router sends (RFC 1812
// §4.3.2.8; Linux's icmp_ratelimit is of the same order).
const icmpErrorsPerSecond = 1000

// icmpLimiter is a one-second window counter.
type icmpLimiter struct {
	window atomic.Int64 // start of the current window, in seconds
	count  atomic.Int64
}

func (l *icmpLimiter) allow(now int64) bool {
	sec := now / 1e9
	if w := l.window.Load(); w != sec && l.window.CompareAndSwap(w, sec) {
		l.count.Store(0)
	}
	return l.count.Add(1) <= icmpErrorsPerSecond
}

// sendICMPError sends an ICMP error about pkt back where it came from,
// unless RFC 1122 §3.2.2 forbids it: never about an ICMP error, a non-first
// fragment, or a broadcast/multicast packet.
func (r *Router) sendICMPError(s side, pkt *Packet, sink Sink, now int64, typ, code uint8) {
	pk := pkt.Parsed
	if pk.FragOff != 0 || pk.Dst.IsMulticast() || !pk.SrcIP.Is4() || pk.SrcIP.IsUnspecified() || pk.SrcIP.IsMulticast() {
		return
	}
	if pk.Proto == header.ProtoICMP && pk.L4Off != 0 && header.ICMPv4(pkt.Frame[pk.L4Off:]).IsError() {
		return
	}
	if !r.icmpLimit.allow(now) {
		return
	}
	h, b, ok := sink.NewFrame()
	if !ok {
		r.stats.inc(statNoBuffer)
		return
	}
	n := buildICMPError(b, s.mac, pk.Src, s.ip, pk.SrcIP, typ, code, pkt.Frame[pk.L3Off:pk.L3End])
	sink.Send(h, n, s.back)
	r.stats.inc(statICMPSent)
}

// buildICMPError writes an Ethernet/IPv4/ICMP error quoting orig into b and
// returns the frame length.
func buildICMPError(b []byte, srcMAC, dstMAC header.MAC, src, dst netip.Addr, typ, code uint8, orig []byte) int {
	quote := orig[:min(len(orig), icmpQuoteMax)]
	header.Ethernet(b).Encode(&header.EthernetFields{Dst: dstMAC, Src: srcMAC, Type: header.EtherTypeIPv4})
	ipOff := header.EthernetLen
	icOff := ipOff + header.IPv4MinLen
	total := header.IPv4MinLen + header.ICMPv4MinLen + len(quote)
	header.IPv4(b[ipOff:]).Encode(&header.IPv4Fields{
		TotalLength: uint16(total), TTL: 64, Protocol: header.ProtoICMP, Src: src, Dst: dst,
	})
	ic := header.ICMPv4(b[icOff:])
	ic.Encode(&header.ICMPv4Fields{Type: typ, Code: code})
	copy(b[icOff+header.ICMPv4MinLen:], quote)
	ic.SetChecksum(^header.Checksum(b[icOff:icOff+header.ICMPv4MinLen+len(quote)], 0))
	return ipOff + total
}
