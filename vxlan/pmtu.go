package vxlan

import (
	"encoding/binary"
	"net/netip"

	"github.com/vswitchd/vswitchd/header"
)

// Path MTU discovery across the overlay. A frame whose encapsulation does
// not fit the underlay is dropped (RFC 7348 §4.3: VTEPs must not
// fragment). When it is an IPv4 packet with DF set, its sender is also
// told, as the Linux vxlan device does for bridged frames since 5.8
// (skb_tunnel_check_pmtu): an ICMP "fragmentation needed" (RFC 1191 §4)
// with the overlay's payload MTU is built from the inner destination back
// to the inner source, and handed to Options.PMTU, which the daemon
// injects into the network's VLAN. So an endpoint whose MTU is set larger
// than the overlay carries (--mtu 1500) still gets its TCP through: its
// kernel lowers the route's MTU and resegments.

// pmtuRate bounds the fragmentation-needed answers per second (one
// token bucket per port), like the router's ICMP rate limit.
const pmtuRate = 100

// pmtuQuote is the most of the offending packet an answer quotes: its
// header and the start of its payload, keeping the answer within the 576
// bytes every host accepts.
const pmtuQuote = 576 - header.IPv4MinLen - 8

// pmtuLimiter is a token bucket of pmtuRate answers per second, burst
// pmtuRate. Its fields are guarded by the port's send lock.
type pmtuLimiter struct {
	tokens int
	last   int64 // clock of the last refill
}

func (l *pmtuLimiter) allow(now int64) bool {
	if add := (now - l.last) * pmtuRate / 1e9; add > 0 {
		l.tokens = int(min(int64(l.tokens)+add, pmtuRate))
		l.last = now
	}
	if l.tokens == 0 {
		return false
	}
	l.tokens--
	return true
}

// fragNeeded builds the answer to tagged, an 802.1Q-tagged frame too
// long for the overlay, into a new buffer, and reports it with its
// network's VLAN; nil when the frame needs none (not IPv4 with DF, a
// fragment, an ICMP error, not from a unicast host).
func fragNeeded(tagged []byte, mtu int) (vid uint16, frame []byte) {
	const l3 = header.EthernetLen + header.VLANTagLen
	if len(tagged) < l3+header.IPv4MinLen || binary.BigEndian.Uint16(tagged[16:]) != header.EtherTypeIPv4 {
		return 0, nil
	}
	ip := header.IPv4(tagged[l3:])
	hl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || hl < header.IPv4MinLen || len(ip) < hl+8 {
		return 0, nil
	}
	flags := binary.BigEndian.Uint16(ip[6:])
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	if flags&header.IPv4FlagDF == 0 || flags&0x1fff != 0 || header.MAC(tagged[6:12]).IsMulticast() ||
		!src.IsGlobalUnicast() && !src.IsPrivate() || src.IsMulticast() || dst.IsMulticast() {
		return 0, nil
	}
	if ip[9] == header.ProtoICMP {
		if t := ip[hl]; t != header.ICMPv4Echo && t != header.ICMPv4EchoReply {
			return 0, nil // never an error about an error (RFC 1122 §3.2.2)
		}
	}
	quote := ip[:min(len(ip), int(binary.BigEndian.Uint16(ip[2:])), pmtuQuote)]
	n := header.EthernetLen + header.IPv4MinLen + 8 + len(quote)
	frame = make([]byte, n)
	header.Ethernet(frame).Encode(&header.EthernetFields{Dst: header.MAC(tagged[6:12]), Src: header.MAC(tagged[0:6]), Type: header.EtherTypeIPv4})
	header.IPv4(frame[header.EthernetLen:]).Encode(&header.IPv4Fields{
		TotalLength: uint16(n - header.EthernetLen), TTL: 64, Protocol: header.ProtoICMP, Src: dst, Dst: src,
	})
	ic := frame[header.EthernetLen+header.IPv4MinLen:]
	ic[0], ic[1] = header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded
	binary.BigEndian.PutUint16(ic[6:], uint16(mtu)) // next-hop MTU (RFC 1191 §4)
	copy(ic[8:], quote)
	binary.BigEndian.PutUint16(ic[2:], ^header.Checksum(ic, 0))
	return binary.BigEndian.Uint16(tagged[14:]) & 0x0fff, frame
}
