package router

import (
	"net/netip"
	"sync"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/trace"
)

// maxDNSReply is the largest DNS payload the router sends over UDP: a
// 1500-byte MTU less the IPv4 and UDP headers, so no answer needs
// fragmenting. Longer answers are truncated by the DNS server (TC set) and
// the client retries over TCP.
const maxDNSReply = 1500 - header.IPv4MinLen - header.UDPLen

// serveDNS hands a UDP query to the gateway of n to the resolver. Local
// answers are sent with the batch; answers from upstreams come later and
// take the deferred path.
func (x *call) serveDNS(n *Network) (Verdict, Target) {
	r := x.r
	if r.dns == nil {
		return x.drop(DropNotForUs)
	}
	pk := x.pkt.Parsed
	x.count(DNSQuery)
	scope := n.Name
	if e, ok := x.c.endpoint(pk.SrcIP); ok && e.net == n && e.scope != "" {
		scope = e.scope
	}
	if x.tr != nil {
		x.tr.Consume(trace.Router, "dns", "DNS query to gateway %s: answered by the switch's DNS server (names of %s)", n.Gateway, scope)
		return Consumed, Target{}
	}
	q := dnsQuery{
		clientMAC: pk.Src, clientIP: pk.SrcIP, clientPort: pk.SrcPort,
		gwMAC: n.MAC, gwIP: n.Gateway, to: Target{VID: n.VID},
	}
	sink, counts := x.sink, x.pkt.Counts
	var mu sync.Mutex // guards inline
	inline := true
	r.dns.ServeUDP(scope, x.pkt.Frame[pk.PayloadOff:pk.L3End], func(resp []byte) {
		if len(resp) > maxDNSReply {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if inline {
			h, b, ok := sink.NewFrame()
			if !ok {
				counts[DropNoBuffer]++
				return
			}
			sink.Send(h, q.build(b, resp), q.to)
			return
		}
		b := make([]byte, header.EthernetLen+header.IPv4MinLen+header.UDPLen+len(resp))
		r.sendDeferred(b[:q.build(b, resp)], q.to)
	})
	mu.Lock()
	inline = false
	mu.Unlock()
	return Consumed, Target{}
}

// dnsQuery is what an answer needs to know about its query.
type dnsQuery struct {
	clientMAC, gwMAC header.MAC
	clientIP, gwIP   netip.Addr
	clientPort       uint16
	to               Target
}

// build writes the answer frame into b and returns its length.
func (q *dnsQuery) build(b, payload []byte) int {
	return buildUDP(b, q.gwMAC, q.clientMAC, q.gwIP, q.clientIP, 53, q.clientPort, payload)
}

// buildUDP writes an Ethernet/IPv4/UDP frame with a complete checksum into
// b and returns its length.
func buildUDP(b []byte, srcMAC, dstMAC header.MAC, src, dst netip.Addr, sport, dport uint16, payload []byte) int {
	header.Ethernet(b).Encode(&header.EthernetFields{Dst: dstMAC, Src: srcMAC, Type: header.EtherTypeIPv4})
	ipOff := header.EthernetLen
	uOff := ipOff + header.IPv4MinLen
	ulen := header.UDPLen + len(payload)
	ip := header.IPv4(b[ipOff:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinLen + ulen), TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	u := header.UDP(b[uOff:])
	u.Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(ulen)})
	copy(b[uOff+header.UDPLen:], payload)
	sum := header.Checksum(b[uOff:uOff+ulen], ip.PseudoHeaderChecksum(uint16(ulen)))
	c := ^sum
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
	return uOff + ulen
}
