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
func (t *Table) Lookup(zone Zone, frame []byte, p *header.Parsed, now int64) (c *Conn, d Dir, ok bool) {
	now = max(now, 0)
	var k key
	related, ok := packetKey(&k, zone, frame, p)
	if !ok {
		return nil, 0, false
	}
	c, d = t.get(&k, now)
	if related {
		d |= Related
	}
	return c, d, c != nil
}

// packetKey returns the key Lookup looks an IPv4 packet up by: its own
// tuple, or for an ICMP error the inverse of the packet it quotes (and
// related set). ok is false for packets no connection can match:
// non-IPv4, non-first fragments, other protocols, malformed headers.
func packetKey(k *key, zone Zone, frame []byte, p *header.Parsed) (related, ok bool) {
	if p.IPVersion != 4 || p.FragOff != 0 || p.L4Off == 0 {
		return false, false
	}
	*k = key{zone: zone, proto: p.Proto, src: u32(p.SrcIP), dst: u32(p.DstIP)}
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
				return false, false
			}
			q, ok := quotedKey(frame, p)
			if !ok {
				return false, false
			}
			*k = q.inverse(zone)
			return true, true
		}
	default:
		return false, false
	}
	return false, true
}

// quotedKey returns the key (zone 0) of the packet an ICMP error quotes: an
// IPv4 header and at least 8 bytes of a TCP, UDP or ICMP echo header
// (RFC 792), not a non-first fragment.
func quotedKey(frame []byte, p *header.Parsed) (key, bool) {
	in, l4, ok := quoted(frame, p)
	if !ok {
		return key{}, false
	}
	k := key{proto: in.Protocol(), src: word32(in, header.IPv4SrcOffset), dst: word32(in, header.IPv4DstOffset)}
	switch k.proto {
	case header.ProtoTCP, header.ProtoUDP:
		k.sport = word16(l4, header.SrcPortOffset)
		k.dport = word16(l4, header.DstPortOffset)
	case header.ProtoICMP:
		icmp := header.ICMPv4(l4)
		if typ := icmp.Type(); typ != header.ICMPv4Echo && typ != header.ICMPv4EchoReply {
			return key{}, false
		}
		k.icmp = icmp.Type()
		k.sport = icmp.Ident()
		k.dport = k.sport
	default:
		return key{}, false
	}
	return k, true
}

// quoted returns the quoted IPv4 header and what follows it (at least 8
// bytes) inside the ICMP error p.
func quoted(frame []byte, p *header.Parsed) (ip header.IPv4, l4 []byte, ok bool) {
	if p.PayloadOff <= 0 || p.PayloadOff > p.L3End || p.L3End > len(frame) {
		return nil, nil, false
	}
	in := header.IPv4(frame[p.PayloadOff:p.L3End])
	// The quote is cut short, so IsValid (which checks the total length)
	// does not apply: check only what is used.
	if len(in) < header.IPv4MinLen || in.Version() != 4 {
		return nil, nil, false
	}
	hl := in.HeaderLength()
	if hl < header.IPv4MinLen || len(in) < hl+8 {
		return nil, nil, false
	}
	if in.FragmentOffset() != 0 {
		return nil, nil, false // a non-first fragment quotes no ports
	}
	return in[:hl], in[hl:], true
}

// word16 and word32 read the big-endian word at off in b: the raw view
// that incremental checksum updates work on.
func word16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
func word32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }

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
	if !fits(frame, p, c) {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	if p.FragOff == 0 {
		if !t.track(c, d, frame, p, now) {
			t.stats.invalid.Add(1)
			return VerdictInvalid
		}
	} else {
		t.stats.fragsTranslated.Add(1)
	}
	rewrite(frame, p, c, d, partial)
	c.pkts[d].Add(1)
	c.bytes[d].Add(uint64(p.L3End - p.L3Off))
	return VerdictAccept
}

// fits reports whether p (decoded from frame) is a packet Apply can
// translate for c: IPv4 of c's protocol, its headers within frame, and for
// a first fragment or whole datagram an L4 header long enough to rewrite.
func fits(frame []byte, p *header.Parsed, c *Conn) bool {
	l3 := p.L3Off
	if p.IPVersion != 4 || l3 <= 0 || l3+header.IPv4MinLen > len(frame) || p.L3End > len(frame) ||
		p.Proto != c.tuple[Original].proto {
		return false
	}
	return p.FragOff != 0 || p.L4Off > l3 && p.PayloadOff <= len(frame) && p.PayloadOff-p.L4Off >= minL4Len(p.Proto)
}

// rewrite applies c's translation for direction d to frame (which fits):
// addresses, ports and checksums, in place, and updates p to match. A
// non-first fragment has only its addresses rewritten.
func rewrite(frame []byte, p *header.Parsed, c *Conn, d Dir, partial bool) {
	x := &c.x[d]
	nw := &c.tuple[d^1] // the packet leaves as the inverse of the other tuple
	ip := header.IPv4(frame[p.L3Off : p.L3Off+header.IPv4MinLen])
	if p.FragOff != 0 {
		rewriteIP(ip, p, x, nw)
		return
	}
	if x.what == 0 {
		return
	}
	rewriteIP(ip, p, x, nw)
	l4 := frame[p.L4Off:p.PayloadOff]
	switch p.Proto {
	case header.ProtoTCP:
		rewritePorts(l4, p, x, nw)
		tcp := header.TCP(l4)
		if partial {
			tcp.SetChecksum(header.ChecksumCombine(tcp.Checksum(), x.partialDelta))
		} else {
			tcp.SetChecksum(full(tcp.Checksum(), x.l4Delta))
		}
	case header.ProtoUDP:
		rewritePorts(l4, p, x, nw)
		udp := header.UDP(l4)
		cs := udp.Checksum()
		if partial {
			cs = header.ChecksumCombine(cs, x.partialDelta)
		} else if cs != 0 { // 0: no checksum (RFC 768)
			if cs = full(cs, x.l4Delta); cs == 0 {
				cs = 0xffff
			}
		}
		udp.SetChecksum(cs)
	case header.ProtoICMP:
		if x.what&xSrcPort != 0 {
			icmp := header.ICMPv4(l4)
			icmp.SetIdent(nw.dport)
			p.SrcPort, p.DstPort = nw.dport, nw.dport
			if !partial { // a partial ICMP checksum has no pseudo-header to fix
				icmp.SetChecksum(full(icmp.Checksum(), x.l4Delta))
			}
		}
	}
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
func rewriteIP(ip header.IPv4, p *header.Parsed, x *xlate, nw *key) {
	if x.what&(xSrc|xDst) == 0 {
		return
	}
	// The key's addresses are already the header's big-endian words.
	if x.what&xSrc != 0 {
		binary.BigEndian.PutUint32(ip[header.IPv4SrcOffset:], nw.dst)
		p.SrcIP = addrOf(nw.dst)
	}
	if x.what&xDst != 0 {
		binary.BigEndian.PutUint32(ip[header.IPv4DstOffset:], nw.src)
		p.DstIP = addrOf(nw.src)
	}
	ip.SetChecksum(full(ip.Checksum(), x.ipDelta))
}

// rewritePorts rewrites the ports x changes in a TCP or UDP header (both
// start with the source and destination ports).
func rewritePorts(l4 []byte, p *header.Parsed, x *xlate, nw *key) {
	h := header.UDP(l4)
	if x.what&xSrcPort != 0 {
		h.SetSrcPort(nw.dport)
		p.SrcPort = nw.dport
	}
	if x.what&xDstPort != 0 {
		h.SetDstPort(nw.sport)
		p.DstPort = nw.sport
	}
}

// track advances c's state and deadline for a packet in direction d and
// reports whether the packet is valid.
func (t *Table) track(c *Conn, d Dir, frame []byte, p *header.Parsed, now int64) bool {
	if c.tuple[Original].proto == header.ProtoTCP {
		return t.trackTCP(c, d, frame, p, now)
	}
	return t.advance(c, d, 0, false, now)
}

// trackTCP runs segment p of c through the TCP tracker and advances c's
// state word, both under c's TCP lock, so that segments of a connection
// are tracked one at a time and each sees the state the one before left.
func (t *Table) trackTCP(c *Conn, d Dir, frame []byte, p *header.Parsed, now int64) bool {
	var seg tcpSeg
	if !parseSeg(frame, p, &seg) {
		return false
	}
	c.tcp.mu.Lock()
	defer c.tcp.mu.Unlock()
	w, ok, kill := tcpStep(&c.tcp, c.st.Load(), d, &seg, t.loose)
	if !ok {
		return false
	}
	return t.advance(c, d, w&tcpBitsMask, kill, now)
}

// advance updates c's state word for a packet in direction d: the TCP
// state bits tcpBits (TCP), the reply and assured flags (other
// protocols), and the deadline; kill expires the connection at once. It
// writes only when something changes enough to be worth it.
func (t *Table) advance(c *Conn, d Dir, tcpBits uint64, kill bool, now int64) bool {
	proto := c.tuple[Original].proto
	for {
		w := c.st.Load()
		nw := w
		switch proto {
		case header.ProtoTCP:
			nw = w&^tcpBitsMask | tcpBits
		default:
			// UDP is assured once traffic goes on after the first
			// reply (Linux's "stream"): a request answered once
			// keeps the replied timeout but stays evictable.
			if proto == header.ProtoUDP && w&flagSeenReply != 0 {
				nw |= flagAssured
			}
			if d == Reply {
				nw |= flagSeenReply
			}
		}
		timeout := t.timeoutOf(proto, nw)
		if kill {
			timeout = 0 // expired now: Lookup and Sweep remove it
		}
		dl := (now + timeout) >> deadlineShift
		old := deadlineOf(w)
		if !kill && nw&0xff == w&0xff && dl-old < min(refreshUnits, timeout>>(deadlineShift+3)) {
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

// tcpBitsMask is the part of the state word a TCP segment decides.
const tcpBitsMask = stateMask | flagAssured | flagSeenReply

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
	if !translateRelated(frame, p, c, d, partial) {
		t.stats.invalid.Add(1)
		return VerdictInvalid
	}
	t.stats.icmpErrors.Add(1)
	return VerdictAccept
}

// translateRelated is applyRelated without the counting; it reports
// whether the error could be translated (false: frame untouched).
func translateRelated(frame []byte, p *header.Parsed, c *Conn, d Dir, partial bool) bool {
	l3 := p.L3Off
	in, l4, ok := quoted(frame, p)
	if !ok || p.IPVersion != 4 || l3 <= 0 || p.L4Off < l3+header.IPv4MinLen || p.Proto != header.ProtoICMP ||
		in.Protocol() != c.tuple[Original].proto {
		return false
	}
	cur, nw := &c.tuple[d], &c.tuple[d^1]
	icmp := header.ICMPv4(frame[p.L4Off:p.PayloadOff])
	ics := icmp.Checksum()
	ipcs := in.Checksum()
	proto := in.Protocol()

	// The quoted L4 checksum, when the quote holds it.
	l4csOff := -1
	switch proto {
	case header.ProtoTCP:
		if len(l4) >= header.TCPChecksumOffset+2 {
			l4csOff = header.TCPChecksumOffset
		}
	case header.ProtoUDP:
		if word16(l4, header.UDPChecksumOffset) != 0 {
			l4csOff = header.UDPChecksumOffset
		}
	case header.ProtoICMP:
		l4csOff = header.ICMPv4ChecksumOffset
	}
	var l4cs uint16
	if l4csOff >= 0 {
		l4cs = word16(l4, l4csOff)
	}
	pseudo := proto != header.ProtoICMP

	set32 := func(b []byte, off int, n uint32) {
		o := word32(b, off)
		if o == n {
			return
		}
		binary.BigEndian.PutUint32(b[off:], n)
		ipcs = header.ChecksumUpdate32(ipcs, o, n)
		ics = header.ChecksumUpdate32(ics, o, n)
		if pseudo {
			l4cs = header.ChecksumUpdate32(l4cs, o, n)
		}
	}
	set16 := func(b []byte, off int, v uint16) {
		o := word16(b, off)
		if o == v {
			return
		}
		binary.BigEndian.PutUint16(b[off:], v)
		ics = header.ChecksumUpdate16(ics, o, v)
		l4cs = header.ChecksumUpdate16(l4cs, o, v)
	}

	// Quoted header: src was cur.dst, becomes nw.src; dst was cur.src,
	// becomes nw.dst; likewise the ports.
	set32(in, header.IPv4SrcOffset, nw.src)
	set32(in, header.IPv4DstOffset, nw.dst)
	if o := in.Checksum(); o != ipcs {
		in.SetChecksum(ipcs)
		ics = header.ChecksumUpdate16(ics, o, ipcs)
	}
	if proto == header.ProtoICMP {
		set16(l4, header.ICMPv4IdentOffset, nw.sport)
	} else {
		set16(l4, header.SrcPortOffset, nw.sport)
		set16(l4, header.DstPortOffset, nw.dport)
	}
	if l4csOff >= 0 {
		if proto == header.ProtoUDP && l4cs == 0 {
			l4cs = 0xffff
		}
		if o := word16(l4, l4csOff); o != l4cs {
			binary.BigEndian.PutUint16(l4[l4csOff:], l4cs)
			ics = header.ChecksumUpdate16(ics, o, l4cs)
		}
	}
	if !partial {
		icmp.SetChecksum(ics)
	}

	// Outer header.
	ip := header.IPv4(frame[l3 : l3+header.IPv4MinLen])
	hcs := ip.Checksum()
	if word32(ip, header.IPv4SrcOffset) == cur.src && cur.src != nw.dst {
		hcs = header.ChecksumUpdate32(hcs, cur.src, nw.dst)
		p.SrcIP = addrOf(nw.dst)
		ip.SetSrc(p.SrcIP)
	}
	if word32(ip, header.IPv4DstOffset) == cur.dst && cur.dst != nw.src {
		hcs = header.ChecksumUpdate32(hcs, cur.dst, nw.src)
		p.DstIP = addrOf(nw.src)
		ip.SetDst(p.DstIP)
	}
	ip.SetChecksum(hcs)
	return true
}
