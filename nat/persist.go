package nat

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// Saving and restoring the table, so that connections survive a restart
// of the daemon: Save writes every live connection — its tuples (which
// are its NAT port allocation), state, time left, TCP window state and
// counters — and Restore links them into a table of a new process. Time
// left is carried, not deadlines: each process has its own monotonic
// origin, so the writer records its wall clock, and the reader takes the
// wall-clock time between the two off every connection.
//
// The format is binary, little-endian: a header (persistMagic, the
// version, the wall clock in Unix nanoseconds, the record count, unknown
// until the end and so written as 0 and ignored), then one fixed-size
// record per connection, then an end record whose first key is all ones.

const (
	persistMagic   = "vswitchd-conntrack\n"
	persistVersion = 1
)

// record is one connection on disk.
type record struct {
	Orig, Reply [16]byte // key.put
	State       uint8    // the low byte of the state word: TCP state and flags
	Left        int64    // ns until the deadline
	Pkts, Bytes [2]uint64
	Win         [2]recordWindow
	LastClass   uint8
	LastDir     uint8
	LastEnd     uint32
	_           [2]byte
}

type recordWindow struct {
	End, MaxEnd, MaxWin, MaxAck uint32
	Scale, Flags                uint8
	_                           [2]byte
}

func (k *key) put(b *[16]byte) {
	binary.LittleEndian.PutUint16(b[0:], uint16(k.zone))
	b[2], b[3] = k.proto, k.icmp
	binary.LittleEndian.PutUint32(b[4:], k.src)
	binary.LittleEndian.PutUint32(b[8:], k.dst)
	binary.LittleEndian.PutUint16(b[12:], k.sport)
	binary.LittleEndian.PutUint16(b[14:], k.dport)
}

func keyFrom(b *[16]byte) key {
	return key{
		zone: Zone(binary.LittleEndian.Uint16(b[0:])), proto: b[2], icmp: b[3],
		src: binary.LittleEndian.Uint32(b[4:]), dst: binary.LittleEndian.Uint32(b[8:]),
		sport: binary.LittleEndian.Uint16(b[12:]), dport: binary.LittleEndian.Uint16(b[14:]),
	}
}

// ErrBadSave means the input of Restore is not a saved table (or is one of
// another version); nothing was restored.
var ErrBadSave = errors.New("nat: not a saved connection table")

// Save writes the live connections to w, as Range visits them, with
// now the table's clock and wall the wall clock at the same moment. It
// holds no lock while it writes. It returns the number of connections
// written.
func (t *Table) Save(w io.Writer, now int64, wall time.Time) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := make([]byte, 0, 64)
	hdr = append(hdr, persistMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, persistVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(wall.UnixNano()))
	bw.Write(hdr)
	n := 0
	var err error
	var buf []*Conn
	for i := range t.shards {
		buf = t.shards[i].originals(buf[:0])
		for k, c := range buf {
			buf[k] = nil
			var r record
			w := c.st.Load()
			if expired(w, now) || w&flagRemoved != 0 {
				continue
			}
			c.tuple[Original].put(&r.Orig)
			c.tuple[Reply].put(&r.Reply)
			r.State = uint8(w & 0xff &^ flagRemoved)
			r.Left = deadlineOf(w)<<deadlineShift - now
			for d := range 2 {
				r.Pkts[d], r.Bytes[d] = c.pkts[d].Load(), c.bytes[d].Load()
			}
			if c.tuple[Original].proto == header.ProtoTCP {
				c.tcp.mu.Lock()
				for d, s := range c.tcp.seen {
					r.Win[d] = recordWindow{End: s.end, MaxEnd: s.maxend, MaxWin: s.maxwin, MaxAck: s.maxack, Scale: s.scale, Flags: s.flags}
				}
				r.LastClass, r.LastDir, r.LastEnd = uint8(c.tcp.lastClass), uint8(c.tcp.lastDir), c.tcp.lastEnd
				c.tcp.mu.Unlock()
			}
			if err = binary.Write(bw, binary.LittleEndian, &r); err != nil {
				return n, err
			}
			n++
		}
	}
	var end record
	for i := range end.Orig {
		end.Orig[i] = 0xff
	}
	if err = binary.Write(bw, binary.LittleEndian, &end); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// originals appends the shard's connections (each once, by its original
// tuple's slot) to buf, under the shard's lock.
func (s *shard) originals(buf []*Conn) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	tab := s.slots()
	for j := range tab {
		if c := tab[j].c.Load(); c != nil && tab[j].hd.Load()&1 == uint64(Original) {
			buf = append(buf, c)
		}
	}
	return buf
}

// Restore links the connections Save wrote into t, with now the
// table's clock and wall the wall clock at the same moment: a connection
// whose time left has passed since it was written is skipped, as is one
// whose tuples clash with a connection already in t or that does not fit
// under MaxEntries. It returns how many it restored. An input that is not
// a saved table fails with ErrBadSave and restores nothing; a truncated
// one restores what came before the cut and fails with ErrBadSave too.
func (t *Table) Restore(r io.Reader, now int64, wall time.Time) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	hdr := make([]byte, len(persistMagic)+12)
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:len(persistMagic)]) != persistMagic {
		return 0, ErrBadSave
	}
	if v := binary.LittleEndian.Uint32(hdr[len(persistMagic):]); v != persistVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", ErrBadSave, v, persistVersion)
	}
	saved := time.Unix(0, int64(binary.LittleEndian.Uint64(hdr[len(persistMagic)+4:])))
	elapsed := max(int64(wall.Sub(saved)), 0)
	now = max(now, 0)
	n := 0
	for {
		var rec record
		if err := binary.Read(br, binary.LittleEndian, &rec); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, fmt.Errorf("%w: truncated after %d connections", ErrBadSave, n)
			}
			return n, err
		}
		if rec.Orig == [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
			return n, nil
		}
		left := rec.Left - elapsed
		if left <= 0 {
			continue
		}
		if t.restoreConn(&rec, now+left, now) {
			n++
		}
	}
}

// restoreConn links one saved connection with its deadline at deadline.
func (t *Table) restoreConn(rec *record, deadline, now int64) bool {
	orig, reply := keyFrom(&rec.Orig), keyFrom(&rec.Reply)
	switch orig.proto {
	case header.ProtoTCP, header.ProtoUDP, header.ProtoICMP:
	default:
		return false
	}
	if orig.proto != reply.proto || TCPState(rec.State&uint8(stateMask)) >= numTCPStates {
		return false
	}
	ho := t.hash(&orig)
	if !t.reserve(ho, now) {
		return false
	}
	c := new(Conn)
	c.st.Store(packState(uint64(rec.State)&^flagRemoved, deadline>>deadlineShift))
	for d := range 2 {
		c.pkts[d].Store(rec.Pkts[d])
		c.bytes[d].Store(rec.Bytes[d])
	}
	if orig.proto == header.ProtoTCP {
		// The saved windows are as old as the save (up to an interval
		// before a kill -9), and the endpoints went on meanwhile: each
		// direction's window is learnt again from its next segment, as
		// for a connection picked up mid-stream (liberal), keeping the
		// options only SYNs carry (window scale, SACK).
		for d, w := range rec.Win {
			c.tcp.seen[d] = tcpWindow{scale: w.Scale, flags: w.Flags&(twScale|twSackPerm) | twLiberal}
		}
	}
	if res, _ := t.link(c, &orig, &reply, ho, now); res != linkDone {
		t.n.Add(-1)
		return false
	}
	if orig.proto != header.ProtoICMP {
		t.bysrc.add(c)
	}
	t.limAdd(c)
	t.live.Add(1)
	return true
}
