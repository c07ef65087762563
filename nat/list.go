package nat

import (
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// Range calls f with each live connection, shard by shard, until f
// returns false. It holds a shard's lock only while it copies the shard's
// connection pointers (at most a few thousand), never while f runs, so a
// listing of a large table costs Create and removals one short wait per
// shard and costs Lookup nothing; memory is one shard's pointers and one
// Entry. f must not keep e. Connections created or removed meanwhile may
// or may not be seen.
func (t *Table) Range(now int64, f func(e *Entry) bool) {
	var buf []*Conn
	var en Entry
	for i := range t.shards {
		buf = t.shards[i].originals(buf[:0])
		for k, c := range buf {
			buf[k] = nil
			if !t.entry(c, now, &en) {
				continue
			}
			if !f(&en) {
				return
			}
		}
	}
}

// entry fills en from c and reports whether c is live at now.
func (t *Table) entry(c *Conn, now int64, en *Entry) bool {
	w := c.st.Load()
	if expired(w, now) || w&flagRemoved != 0 {
		return false
	}
	*en = Entry{
		Zone:      c.tuple[Original].zone,
		ReplyZone: c.tuple[Reply].zone,
		Proto:     c.tuple[Original].proto,
		State:     TCPState(w & stateMask),
		Timeout:   time.Duration(deadlineOf(w)<<deadlineShift - now),
		Assured:   w&flagAssured != 0,
		SeenReply: w&flagSeenReply != 0,
		Original:  c.tuple[Original].tuple(),
		Reply:     c.tuple[Reply].tuple(),
	}
	if en.Proto == header.ProtoTCP {
		c.tcp.mu.Lock()
		en.Window = [2]TCPWindow{c.tcp.seen[0].export(), c.tcp.seen[1].export()}
		c.tcp.mu.Unlock()
	}
	for d := range 2 {
		en.Packets[d] = c.pkts[d].Load()
		en.Bytes[d] = c.bytes[d].Load()
	}
	return true
}
