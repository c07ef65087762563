package router

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/trace"
)

// echoReply turns an ICMP echo request into its reply in place (RFC 792):
// swap the addresses, set the type, update the checksums.
func (x *call) echoReply(s side) (Verdict, Target) {
	pk := x.pkt.Parsed
	if pk.L4Off == 0 {
		return x.drop(DropMalformed)
	}
	if x.tr != nil {
		x.tr.Add(trace.Router, "ICMP echo request to %s: the router answers", pk.DstIP)
	}
	frame := x.pkt.Frame
	eth := header.Ethernet(frame)
	eth.SetDst(pk.Src)
	eth.SetSrc(s.mac)
	ip := header.IPv4(frame[pk.L3Off:])
	ip.SetDst(pk.SrcIP)
	ip.SetSrc(s.ip)
	ip.SetTTL(64)
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	ic := header.ICMPv4(frame[pk.L4Off:])
	old := binary.BigEndian.Uint16(ic)
	ic.SetType(header.ICMPv4EchoReply)
	ic.SetChecksum(header.ChecksumUpdate16(ic.Checksum(), old, binary.BigEndian.Uint16(ic)))
	x.count(EchoReply)
	return Forward, s.back
}

// timeExceeded answers a packet whose TTL ran out at the router.
func (x *call) timeExceeded(s side) (Verdict, Target) {
	if x.tr != nil {
		x.tr.Add(trace.Router, "TTL %d runs out here: ICMP time exceeded back to %s", x.pkt.Parsed.TTL, x.pkt.Parsed.SrcIP)
	}
	x.sendICMPError(s, header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded)
	return x.drop(DropTTL)
}

// unreachable answers a packet with destination unreachable (code) and
// drops it, counting reason.
func (x *call) unreachable(s side, code uint8, reason Counter) (Verdict, Target) {
	x.sendICMPError(s, header.ICMPv4DstUnreachable, code)
	return x.drop(reason)
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

// sendICMPError sends an ICMP error about the packet back where it came
// from, unless RFC 1122 §3.2.2 forbids it: never about an ICMP error, a
// non-first fragment, or a broadcast/multicast packet. A dry run builds the
// error (the trace shows it) without spending the rate limit.
func (x *call) sendICMPError(s side, typ, code uint8) {
	pk := x.pkt.Parsed
	if pk.FragOff != 0 || pk.Dst.IsMulticast() || !pk.SrcIP.Is4() || pk.SrcIP.IsUnspecified() || pk.SrcIP.IsMulticast() {
		return
	}
	frame := x.pkt.Frame
	if pk.Proto == header.ProtoICMP && pk.L4Off != 0 && header.ICMPv4(frame[pk.L4Off:]).IsError() {
		return
	}
	if x.tr == nil && !x.r.icmpLimit.allow(x.now) {
		return
	}
	h, b, ok := x.sink.NewFrame()
	if !ok {
		x.count(DropNoBuffer)
		return
	}
	n := buildICMPError(b, s.mac, pk.Src, s.ip, pk.SrcIP, typ, code, frame[pk.L3Off:pk.L3End])
	x.sink.Send(h, n, s.back)
	x.count(ICMPSent)
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
