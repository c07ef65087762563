package nat

import (
	"errors"

	"github.com/vswitchd/vswitchd/header"
)

// Port allocation (Linux nf_nat_l4proto_unique_tuple): try up to
// allocFirstTry ports from a hashed offset, then halve the attempts and
// retry from a fresh offset while they are at least allocMinTry.
const (
	allocFirstTry = 128
	allocMinTry   = 16
)

// Create tracks a new connection for packet p, which arrived in zone and
// was not found by Lookup, with translation a; answers will arrive in
// replyZone. The caller then passes the connection to Apply with
// Original. If p's tuple is already the original tuple of a live
// connection (another goroutine created it first), Create returns that
// connection.
//
// Errors (sentinels, each counted in Stats): ErrUnsupported, ErrInvalid,
// ErrFragment, ErrEndpointLimit, ErrTableFull, ErrNoPort and ErrExists.
func (t *Table) Create(zone, replyZone Zone, p *header.Parsed, a Action, now int64) (*Conn, error) {
	now = max(now, 0)
	pl, err := plan(zone, replyZone, p, a, t.portMin, t.portMax, t.loose)
	if err != nil {
		switch {
		case errors.Is(err, ErrFragment):
			t.stats.fragsDropped.Add(1)
		case errors.Is(err, ErrUnsupported):
			t.stats.unsupported.Add(1)
		default:
			t.stats.invalid.Add(1)
		}
		return nil, err
	}
	orig, reply, st := pl.orig, pl.reply, pl.st
	lo, hi, keep, tsport := pl.lo, pl.hi, pl.keep, pl.tsport

	// Endpoint-independent mapping: a source already masqueraded keeps
	// its mapping; a port another source is mapped to is not preserved.
	eim := a.SNAT && orig.proto != header.ProtoICMP
	src := srcKey{zone: orig.zone, proto: orig.proto, addr: orig.src, port: orig.sport}
	crowded := false
	if eim {
		tsport, keep, crowded = t.bysrc.choose(src, reply.dst, tsport, keep, lo, hi)
	}

	if !t.admit(epKey{zone: orig.zone, addr: orig.src}, now) {
		t.stats.endpointLimit.Add(1)
		return nil, ErrEndpointLimit
	}
	ho := t.hash(&orig)
	if !t.reserve(ho, now) {
		t.stats.tableFull.Add(1)
		return nil, ErrTableFull
	}
	c := new(Conn)
	deadline := (now + t.timeoutOf(orig.proto, st)) >> deadlineShift
	c.st.Store(packState(st, deadline))

	try := func(port uint16) (linkResult, *Conn) {
		reply.dport = port
		if orig.proto == header.ProtoICMP {
			reply.sport = port
		}
		return t.link(c, &orig, &reply, ho, now)
	}
	unowned := func(port uint16) (linkResult, *Conn) {
		if t.bysrc.ownedByOther(mapKey{proto: orig.proto, addr: reply.dst, port: port}, src) {
			return linkTaken, nil
		}
		return try(port)
	}
	var res linkResult
	var other *Conn
	if keep {
		res, other = try(tsport)
	}
	if res == linkTaken || !keep {
		if eim && !crowded {
			// Ports no other source is mapped to first; then, as
			// Linux, any whose reply tuple is free.
			res, other = t.allocate(&orig, &reply, lo, hi, unowned)
		}
		if res == linkTaken {
			res, other = t.allocate(&orig, &reply, lo, hi, try)
		}
	}
	switch res {
	case linkDone:
		if eim {
			t.bysrc.add(c)
		}
		t.limAdd(c)
		t.live.Add(1)
		t.stats.created.Add(1)
		return c, nil
	case linkOrigExists:
		t.n.Add(-1)
		return other, nil
	case linkReplyExists:
		t.n.Add(-1)
		return nil, ErrExists
	}
	t.n.Add(-1)
	t.stats.noPort.Add(1)
	return nil, ErrNoPort
}

// connPlan is what Create works out for a packet before it touches the
// table: the original tuple, the reply tuple for the original source port,
// the initial state, and the ports to try.
type connPlan struct {
	orig, reply key
	st          uint64 // initial state word (TCP state)
	lo, hi      uint32 // port range to allocate from
	keep        bool   // try tsport first
	tsport      uint16 // the translated source port before allocation
}

// plan validates p and a and computes the connection's tuples. It reads
// no table state, so it never changes anything.
func plan(zone, replyZone Zone, p *header.Parsed, a Action, portMin, portMax uint32, loose bool) (connPlan, error) {
	if p.IPVersion != 4 {
		return connPlan{}, ErrUnsupported
	}
	if p.FragOff != 0 {
		return connPlan{}, ErrFragment
	}
	orig := key{zone: zone, proto: p.Proto, src: u32(p.SrcIP), dst: u32(p.DstIP)}
	var st uint64
	switch p.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		if p.L4Off == 0 {
			return connPlan{}, ErrInvalid
		}
		orig.sport, orig.dport = p.SrcPort, p.DstPort
		if p.Proto == header.ProtoTCP {
			s, ok := tcpInitial(p.TCPFlags, loose)
			if !ok {
				return connPlan{}, ErrInvalid
			}
			st = uint64(s)
		}
	case header.ProtoICMP:
		if p.L4Off == 0 {
			return connPlan{}, ErrInvalid
		}
		switch p.ICMPType {
		case header.ICMPv4Echo:
			orig.icmp = header.ICMPv4Echo
			orig.sport, orig.dport = p.SrcPort, p.DstPort
		case header.ICMPv4EchoReply:
			return connPlan{}, ErrInvalid
		default:
			if isICMPError(p.ICMPType) {
				return connPlan{}, ErrInvalid
			}
			return connPlan{}, ErrUnsupported
		}
	default:
		return connPlan{}, ErrUnsupported
	}

	// The translated original: the reply tuple is its inverse.
	tsrc, tdst := orig.src, orig.dst
	tsport, tdport := orig.sport, orig.dport
	if a.SNAT && a.SNATAddr.IsValid() {
		if !a.SNATAddr.Is4() {
			return connPlan{}, ErrUnsupported
		}
		tsrc = u32(a.SNATAddr)
	}
	if a.DNAT {
		if a.DNATAddr.IsValid() {
			if !a.DNATAddr.Is4() {
				return connPlan{}, ErrUnsupported
			}
			tdst = u32(a.DNATAddr)
		}
		if a.DNATPort != 0 && orig.proto != header.ProtoICMP {
			tdport = a.DNATPort
		}
	}
	reply := key{zone: replyZone, proto: orig.proto, src: tdst, dst: tsrc, sport: tdport, dport: tsport}
	if orig.proto == header.ProtoICMP {
		reply.icmp = header.ICMPv4EchoReply
	}

	// The ports (identifiers) to try: the original one first if allowed,
	// then the range.
	lo, hi := portMin, portMax
	switch {
	case orig.proto == header.ProtoICMP:
		lo, hi = 0, 0xffff
	case tsport < 512: // privileged ports stay privileged (RFC 4787 REQ-3), as in Linux
		lo, hi = 1, 511
	case tsport < 1024:
		lo, hi = 600, 1023
	}
	keep := true
	if a.SNAT && (a.SNATPorts[0] != 0 || a.SNATPorts[1] != 0) {
		lo, hi = uint32(a.SNATPorts[0]), uint32(a.SNATPorts[1])
		if hi == 0 {
			hi = lo
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		keep = lo <= uint32(tsport) && uint32(tsport) <= hi
	}
	return connPlan{orig: orig, reply: reply, st: st, lo: lo, hi: hi, keep: keep, tsport: tsport}, nil
}

// allocate searches [lo, hi] for a port whose reply tuple is free.
func (t *Table) allocate(orig, reply *key, lo, hi uint32, try func(uint16) (linkResult, *Conn)) (linkResult, *Conn) {
	size := hi - lo + 1
	attempts := min(size, allocFirstTry)
	// Start from a hash of the translated endpoints, so connections to
	// different destinations spread over the range and connections to
	// the same one probe in sequence.
	seedKey := key{zone: reply.zone, proto: reply.proto, src: reply.src, dst: reply.dst, sport: reply.sport}
	off := uint32(t.hash(&seedKey))
	for round := uint64(1); ; round++ {
		for i := range attempts {
			res, other := try(uint16(lo + (off+i)%size))
			if res != linkTaken {
				return res, other
			}
		}
		if attempts >= size || attempts < allocMinTry {
			return linkTaken, nil
		}
		attempts /= 2
		r := t.seed[2] + round + uint64(off)<<32
		off = uint32(splitmix64(&r))
	}
}

type linkResult uint8

const (
	linkTaken       linkResult = iota // the reply tuple is in use
	linkDone                          // c is linked under both tuples
	linkOrigExists                    // the original tuple is a live connection's original
	linkReplyExists                   // the original tuple is a live connection's reply
)

// link inserts c under orig and reply if both are free, removing expired
// connections in the way. orig's hash is ho.
func (t *Table) link(c *Conn, orig, reply *key, ho uint64, now int64) (linkResult, *Conn) {
	if *orig == *reply {
		return linkTaken, nil // a packet that is its own answer: pick another port
	}
	hr := t.hash(reply)
	a, b := shardOf(ho), shardOf(hr)
	sa, sb := &t.shards[a], &t.shards[b]
	for retry := 0; retry < 4; retry++ {
		t.lock2(a, b)
		if e, d, _ := sa.find(orig, uint32(ho)); e != nil {
			t.unlock2(a, b)
			if !expired(e.st.Load(), now) {
				if d == Original {
					return linkOrigExists, e
				}
				return linkReplyExists, nil
			}
			t.remove(e, now, removeExpired)
			continue
		}
		if e, _, _ := sb.find(reply, uint32(hr)); e != nil {
			t.unlock2(a, b)
			if !expired(e.st.Load(), now) {
				return linkTaken, nil
			}
			t.remove(e, now, removeExpired)
			continue
		}
		c.init(*orig, *reply)
		sa.insert(c, Original, uint32(ho))
		sb.insert(c, Reply, uint32(hr))
		t.unlock2(a, b)
		return linkDone, nil
	}
	return linkTaken, nil
}

// isICMPError reports whether an ICMPv4 type is an error that quotes the
// offending datagram (RFC 792; RFC 1122 §3.2.2).
func isICMPError(typ uint8) bool {
	switch typ {
	case header.ICMPv4DstUnreachable, 4 /* source quench */, header.ICMPv4Redirect,
		header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
		return true
	}
	return false
}
