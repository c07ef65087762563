package nat

import (
	"encoding/binary"

	"github.com/vswitchd/vswitchd/header"
)

// Lookup finds the connection of an IPv4 packet p (decoded from frame)
// that arrived in zone: one whose original tuple (in its origin zone) or
// reply tuple (in its reply zone) matches, and the direction of the match.
// A non-first fragment matches through its datagram's first fragment; an
// ICMP error matches through the packet it quotes, and the returned Dir
// then has the Related bit. An expired connection is removed and not
// returned. Lookup reads frame only for ICMP errors and never allocates.
func (t *Table) Lookup(zone uint16, frame []byte, p *header.Parsed, now int64) (c *Conn, d Dir, ok bool) {
	if p.IPVersion != 4 {
		return nil, 0, false
	}
	now = max(now, 0)
	if p.FragOff != 0 {
		return t.frags.lookup(zone, p, now)
	}
	if p.L4Off == 0 {
		return nil, 0, false
	}
	k := key{zone: zone, proto: p.Proto, src: u32(p.SrcIP), dst: u32(p.DstIP)}
	switch p.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		k.sport, k.dport = p.SrcPort, p.DstPort
	case header.ProtoICMP:
		switch p.ICMPType {
		case header.ICMPv4Echo, header.ICMPv4EchoReply:
			k.icmp = p.ICMPType
			k.sport, k.dport = p.SrcPort, p.DstPort
		default:
			if !isICMPError(p.ICMPType) {
				return nil, 0, false
			}
			q, ok := quotedKey(frame, p)
			if !ok {
				return nil, 0, false
			}
			k = q.inverse(zone)
			c, d := t.get(&k, now)
			return c, d | Related, c != nil
		}
	default:
		return nil, 0, false
	}
	c, d = t.get(&k, now)
	return c, d, c != nil
}

// quotedKey returns the key (zone 0) of the packet an ICMP error quotes: an
// IPv4 header and at least 8 bytes of a TCP, UDP or ICMP echo header
// (RFC 792), not a non-first fragment.
func quotedKey(frame []byte, p *header.Parsed) (key, bool) {
	in, l4, ok := quoted(frame, p)
	if !ok {
		return key{}, false
	}
	k := key{proto: in[9], src: binary.BigEndian.Uint32(in[12:]), dst: binary.BigEndian.Uint32(in[16:])}
	switch k.proto {
	case header.ProtoTCP, header.ProtoUDP:
		k.sport = binary.BigEndian.Uint16(l4[0:])
		k.dport = binary.BigEndian.Uint16(l4[2:])
	case header.ProtoICMP:
		typ := l4[0]
		if typ != header.ICMPv4Echo && typ != header.ICMPv4EchoReply {
			return key{}, false
		}
		k.icmp = typ
		k.sport = binary.BigEndian.Uint16(l4[4:])
		k.dport = k.sport
	default:
		return key{}, false
	}
	return k, true
}

// quoted returns the quoted IPv4 header and what follows it (at least 8
// bytes) inside the ICMP error p.
func quoted(frame []byte, p *header.Parsed) (ip, l4 []byte, ok bool) {
	if p.PayloadOff <= 0 || p.PayloadOff > p.L3End || p.L3End > len(frame) {
		return nil, nil, false
	}
	in := frame[p.PayloadOff:p.L3End]
	if len(in) < header.IPv4MinLen || in[0]>>4 != 4 {
		return nil, nil, false
	}
	hl := int(in[0]&0x0f) * 4
	if hl < header.IPv4MinLen || len(in) < hl+8 {
		return nil, nil, false
	}
	if binary.BigEndian.Uint16(in[6:])&0x1fff != 0 {
		return nil, nil, false // a non-first fragment quotes no ports
	}
	return in[:hl], in[hl:], true
}

// Apply translates frame, whose decoded form is p, as a packet of c in
// direction d (both from Lookup or, with Original, from Create), rewriting
// addresses, ports and checksums in place, and advances c's state,
// deadline and counters. p's addresses and ports are updated to match
// the rewritten frame, so the caller can route on them.
//
// partial says the frame's L4 checksum is CHECKSUM_PARTIAL (virtio
// NEEDS_CSUM, or a GSO super-frame): the field holds the non-inverted
// pseudo-header sum, which only address changes affect. Otherwise TCP,
// UDP and ICMP checksums are complete and updated incrementally (RFC
// 1624), a UDP checksum of 0 staying 0.
//
// A non-first fragment has only its addresses rewritten. A Related d
// translates an ICMP error (outer header, quoted header and checksums) and
// leaves the connection unchanged. Apply returns VerdictInvalid, without
// touching the frame, for a TCP segment that is invalid in the
// connection's state or a p that does not fit frame. It never allocates
// except to remember a first fragment.
func (t *Table) Apply(frame []byte, p *header.Parsed, c *Conn, d Dir, partial bool, now int64) Verdict {
	now = max(now, 0)
	if d.IsRelated() {
		return t.applyRelated(frame, p, c, d.Base(), partial)
	}
	d = d.Base()
	l3 := p.L3Off
	if p.IPVersion != 4 || l3 <= 0 || l3+header.IPv4MinLen > len(frame) || p.L3End > len(frame) ||
		p.Proto != c.tuple[Original].proto {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	x := &c.x[d]
	nw := &c.tuple[d^1] // the packet leaves as the inverse of the other tuple
	ip := frame[l3 : l3+header.IPv4MinLen]

	if p.FragOff != 0 {
		t.rewriteIP(ip, p, x, nw)
		c.pkts[d].Add(1)
		c.bytes[d].Add(uint64(p.L3End - l3))
		t.stats.fragsTranslated.Add(1)
		return VerdictAccept
	}
	if p.L4Off <= l3 || p.PayloadOff > len(frame) || p.PayloadOff-p.L4Off < minL4Len(p.Proto) {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	if !t.track(c, d, p, now) {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	if p.MoreFrags {
		t.frags.add(c.tuple[d].zone, p, c, d, now)
	}
	if x.what != 0 {
		t.rewriteIP(ip, p, x, nw)
		l4 := frame[p.L4Off:p.PayloadOff]
		switch p.Proto {
		case header.ProtoTCP:
			rewritePorts(l4, p, x, nw)
			cs := binary.BigEndian.Uint16(l4[header.TCPChecksumOffset:])
			if partial {
				cs = header.ChecksumCombine(cs, x.partialDelta)
			} else {
				cs = full(cs, x.l4Delta)
			}
			binary.BigEndian.PutUint16(l4[header.TCPChecksumOffset:], cs)
		case header.ProtoUDP:
			rewritePorts(l4, p, x, nw)
			cs := binary.BigEndian.Uint16(l4[header.UDPChecksumOffset:])
			if partial {
				cs = header.ChecksumCombine(cs, x.partialDelta)
			} else if cs != 0 { // 0: no checksum (RFC 768)
				if cs = full(cs, x.l4Delta); cs == 0 {
					cs = 0xffff
				}
			}
			binary.BigEndian.PutUint16(l4[header.UDPChecksumOffset:], cs)
		case header.ProtoICMP:
			if x.what&xSrcPort != 0 {
				binary.BigEndian.PutUint16(l4[4:], nw.dport)
				p.SrcPort, p.DstPort = nw.dport, nw.dport
				if !partial { // a partial ICMP checksum has no pseudo-header to fix
					cs := binary.BigEndian.Uint16(l4[2:])
					binary.BigEndian.PutUint16(l4[2:], full(cs, x.l4Delta))
				}
			}
		}
	}
	c.pkts[d].Add(1)
	c.bytes[d].Add(uint64(p.L3End - l3))
	return VerdictAccept
}

// minL4Len is the L4 header length Apply needs to find the fields it
// rewrites.
func minL4Len(proto uint8) int {
	if proto == header.ProtoTCP {
		return header.TCPMinLen
	}
	return 8 // UDP header, ICMP echo header
}

// rewriteIP rewrites the addresses x changes and the header checksum.
func (t *Table) rewriteIP(ip []byte, p *header.Parsed, x *xlate, nw *key) {
	if x.what&(xSrc|xDst) == 0 {
		return
	}
	if x.what&xSrc != 0 {
		binary.BigEndian.PutUint32(ip[12:], nw.dst)
		p.SrcIP = addrOf(nw.dst)
	}
	if x.what&xDst != 0 {
		binary.BigEndian.PutUint32(ip[16:], nw.src)
		p.DstIP = addrOf(nw.src)
	}
	binary.BigEndian.PutUint16(ip[10:], full(binary.BigEndian.Uint16(ip[10:]), x.ipDelta))
}

func rewritePorts(l4 []byte, p *header.Parsed, x *xlate, nw *key) {
	if x.what&xSrcPort != 0 {
		binary.BigEndian.PutUint16(l4[0:], nw.dport)
		p.SrcPort = nw.dport
	}
	if x.what&xDstPort != 0 {
		binary.BigEndian.PutUint16(l4[2:], nw.sport)
		p.DstPort = nw.sport
	}
}

// track advances c's state and deadline for a packet in direction d and
// reports whether the packet is valid.
func (t *Table) track(c *Conn, d Dir, p *header.Parsed, now int64) bool {
	proto := c.tuple[Original].proto
	for {
		w := c.st.Load()
		nw := w
		switch proto {
		case header.ProtoTCP:
			var ok bool
			if nw, ok = tcpStep(w, d, p.TCPFlags); !ok {
				return false
			}
		default:
			if d == Reply {
				nw |= flagSeenReply
				if proto == header.ProtoUDP {
					nw |= flagAssured
				}
			}
		}
		timeout := t.timeoutOf(proto, nw)
		dl := (now + timeout) >> deadlineShift
		old := deadlineOf(w)
		if nw&0xff == w&0xff && dl-old < min(refreshUnits, timeout>>(deadlineShift+3)) {
			return true // nothing worth a write: keeps the cache line shared
		}
		if c.st.CompareAndSwap(w, packState(nw, dl)) {
			if reopened(w, nw) {
				for i := range 2 {
					c.pkts[i].Store(0)
					c.bytes[i].Store(0)
				}
			}
			return true
		}
	}
}

func reopened(old, new uint64) bool {
	s := TCPState(old & stateMask)
	return (s == TCPTimeWait || s == TCPClose) && TCPState(new&stateMask) == TCPSynSent
}

// applyRelated translates an ICMP error travelling in direction d that
// quotes a packet of c, which went the other way. The quoted packet is
// the inverse of c.tuple[d] and is restored to c.tuple[d^1], the form its
// sender gave it; the outer destination (and the outer source, if it is
// the quoted packet's destination) are translated like a packet in
// direction d. Every changed 16-bit word of the ICMP message also updates
// the ICMP checksum (RFC 1624), unless partial.
func (t *Table) applyRelated(frame []byte, p *header.Parsed, c *Conn, d Dir, partial bool) Verdict {
	l3 := p.L3Off
	in, l4, ok := quoted(frame, p)
	if !ok || p.IPVersion != 4 || l3 <= 0 || p.L4Off < l3+header.IPv4MinLen || p.Proto != header.ProtoICMP ||
		in[9] != c.tuple[Original].proto {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	cur, nw := &c.tuple[d], &c.tuple[d^1]
	icmp := frame[p.L4Off:p.PayloadOff]
	ics := binary.BigEndian.Uint16(icmp[2:])
	ipcs := binary.BigEndian.Uint16(in[10:])
	proto := in[9]

	// The quoted L4 checksum, when the quote holds it.
	l4csOff := -1
	switch proto {
	case header.ProtoTCP:
		if len(l4) >= header.TCPChecksumOffset+2 {
			l4csOff = header.TCPChecksumOffset
		}
	case header.ProtoUDP:
		if binary.BigEndian.Uint16(l4[header.UDPChecksumOffset:]) != 0 {
			l4csOff = header.UDPChecksumOffset
		}
	case header.ProtoICMP:
		l4csOff = 2
	}
	var l4cs uint16
	if l4csOff >= 0 {
		l4cs = binary.BigEndian.Uint16(l4[l4csOff:])
	}
	pseudo := proto != header.ProtoICMP

	set32 := func(b []byte, n uint32) {
		o := binary.BigEndian.Uint32(b)
		if o == n {
			return
		}
		binary.BigEndian.PutUint32(b, n)
		ipcs = header.ChecksumUpdate32(ipcs, o, n)
		ics = header.ChecksumUpdate32(ics, o, n)
		if pseudo {
			l4cs = header.ChecksumUpdate32(l4cs, o, n)
		}
	}
	set16 := func(b []byte, v uint16) {
		o := binary.BigEndian.Uint16(b)
		if o == v {
			return
		}
		binary.BigEndian.PutUint16(b, v)
		ics = header.ChecksumUpdate16(ics, o, v)
		l4cs = header.ChecksumUpdate16(l4cs, o, v)
	}

	// Quoted header: src was cur.dst, becomes nw.src; dst was cur.src,
	// becomes nw.dst; likewise the ports.
	set32(in[12:16], nw.src)
	set32(in[16:20], nw.dst)
	if o := binary.BigEndian.Uint16(in[10:]); o != ipcs {
		binary.BigEndian.PutUint16(in[10:], ipcs)
		ics = header.ChecksumUpdate16(ics, o, ipcs)
	}
	if proto == header.ProtoICMP {
		set16(l4[4:6], nw.sport) // the echo identifier
	} else {
		set16(l4[0:2], nw.sport)
		set16(l4[2:4], nw.dport)
	}
	if l4csOff >= 0 {
		if proto == header.ProtoUDP && l4cs == 0 {
			l4cs = 0xffff
		}
		if o := binary.BigEndian.Uint16(l4[l4csOff:]); o != l4cs {
			binary.BigEndian.PutUint16(l4[l4csOff:], l4cs)
			ics = header.ChecksumUpdate16(ics, o, l4cs)
		}
	}
	if !partial {
		binary.BigEndian.PutUint16(icmp[2:], ics)
	}

	// Outer header.
	ip := frame[l3 : l3+header.IPv4MinLen]
	hcs := binary.BigEndian.Uint16(ip[10:])
	if binary.BigEndian.Uint32(ip[12:]) == cur.src && cur.src != nw.dst {
		hcs = header.ChecksumUpdate32(hcs, cur.src, nw.dst)
		binary.BigEndian.PutUint32(ip[12:], nw.dst)
		p.SrcIP = addrOf(nw.dst)
	}
	if binary.BigEndian.Uint32(ip[16:]) == cur.dst && cur.dst != nw.src {
		hcs = header.ChecksumUpdate32(hcs, cur.dst, nw.src)
		binary.BigEndian.PutUint32(ip[16:], nw.src)
		p.DstIP = addrOf(nw.src)
	}
	binary.BigEndian.PutUint16(ip[10:], hcs)
	t.stats.icmpErrors.Add(1)
	return VerdictAccept
}
