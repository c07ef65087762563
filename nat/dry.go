package nat

import "github.com/vswitchd/vswitchd/header"

// Dry runs. `vswitchctl trace` runs a packet through the real pipeline
// without changing anything; these are the table's side of it: a lookup
// that removes nothing, a Create that inserts nothing, and an Apply that
// tracks and counts nothing.

// Peek is Lookup without side effects: an expired connection is reported
// absent but left for Sweep, and non-first fragments are not matched
// (Peek does not consult the fragment table).
func (t *Table) Peek(zone Zone, frame []byte, p *header.Parsed, now int64) (c *Conn, d Dir, ok bool) {
	var k key
	related, ok := packetKey(&k, zone, frame, p)
	if !ok {
		return nil, 0, false
	}
	h := t.hash(&k)
	s := &t.shards[shardOf(h)]
	c, d = s.lookup(&k, uint32(h))
	if c == nil || expired(c.st.Load(), max(now, 0)) {
		return nil, 0, false
	}
	if related {
		d |= Related
	}
	return c, d, true
}

// Plan returns the connection Create would make for p, without inserting
// it or counting anything. The translated source port is the original one
// when its reply tuple is free in the table, else the first free one in
// the allocation range (Create would start its search elsewhere, so a real
// connection may get another). The connection is not in the table: pass it
// to Translate, and to Match to recognise its later packets.
func (t *Table) Plan(zone, replyZone Zone, p *header.Parsed, a Action, now int64) (*Conn, error) {
	pl, err := plan(zone, replyZone, p, a, t.portMin, t.portMax, t.loose)
	if err != nil {
		return nil, err
	}
	now = max(now, 0)
	free := func(port uint16) bool {
		r := pl.reply
		r.dport = port
		if r.proto == header.ProtoICMP {
			r.sport = port
		}
		if r == pl.orig {
			return false
		}
		h := t.hash(&r)
		c, _ := t.shards[shardOf(h)].lookup(&r, uint32(h))
		return c == nil || expired(c.st.Load(), now)
	}
	port, found := pl.tsport, pl.keep && free(pl.tsport)
	for q := pl.lo; !found && q <= pl.hi; q++ {
		port, found = uint16(q), free(uint16(q))
	}
	if !found {
		return nil, ErrNoPort
	}
	pl.reply.dport = port
	if pl.reply.proto == header.ProtoICMP {
		pl.reply.sport = port
	}
	c := new(Conn)
	c.init(pl.orig, pl.reply)
	c.st.Store(packState(pl.st, (now+t.timeoutOf(pl.orig.proto, pl.st))>>deadlineShift))
	return c, nil
}

// Match reports whether p, a packet that arrived in zone, belongs to c,
// and in which direction. It is Lookup for a connection that is not in
// the table (one from Plan).
func (c *Conn) Match(zone Zone, frame []byte, p *header.Parsed) (Dir, bool) {
	var k key
	related, ok := packetKey(&k, zone, frame, p)
	if !ok {
		return 0, false
	}
	var d Dir
	switch k {
	case c.tuple[Original]:
		d = Original
	case c.tuple[Reply]:
		d = Reply
	default:
		return 0, false
	}
	if related {
		d |= Related
	}
	return d, true
}

// Translate rewrites frame as Apply does, but neither advances c's state
// nor counts: for dry runs. It does not check that a TCP segment is valid
// in c's state.
func (t *Table) Translate(frame []byte, p *header.Parsed, c *Conn, d Dir, partial bool) Verdict {
	if d.IsRelated() {
		if !translateRelated(frame, p, c, d.Base(), partial) {
			return VerdictInvalid
		}
		return VerdictAccept
	}
	if !fits(frame, p, c) {
		return VerdictInvalid
	}
	rewrite(frame, p, c, d.Base(), partial)
	return VerdictAccept
}
