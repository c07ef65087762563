package nat

import (
	"errors"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// Errors returned by Create. They are sentinels, never wrapped, so the
// fast path does not allocate; branch with errors.Is.
var (
	// ErrTableFull means the table holds Options.MaxEntries connections and
	// none near the new one was expired or unassured.
	ErrTableFull = errors.New("nat: connection table full")
	// ErrNoPort means no free source port (or ICMP identifier) was found
	// for the connection's reply tuple.
	ErrNoPort = errors.New("nat: no free port")
	// ErrUnsupported means the packet is not IPv4, not TCP, UDP or ICMP
	// echo, or the action holds a non-IPv4 address.
	ErrUnsupported = errors.New("nat: unsupported packet or action")
	// ErrInvalid means the packet cannot open a connection: a TCP segment
	// other than a SYN or a bare ACK, an ICMP echo reply, an ICMP error
	// that quotes no tracked connection, or a malformed L4 header.
	ErrInvalid = errors.New("nat: packet cannot start a connection")
	// ErrFragment means the packet is a non-first IPv4 fragment whose
	// first fragment has not been seen; vswitchd does not reassemble.
	ErrFragment = errors.New("nat: fragment without its first fragment")
	// ErrExists means the packet's tuple is the reply tuple of a live
	// connection, created concurrently after the caller's Lookup; look up
	// again.
	ErrExists = errors.New("nat: tuple is a reply tuple of a connection")
	// ErrEndpointLimit means the connection's source endpoint holds
	// Options.MaxPerEndpoint connections (or a reserve's worth while the
	// table is nearly full) and none of them is evictable.
	ErrEndpointLimit = errors.New("nat: endpoint connection limit reached")
)

// DefaultMaxEntries is the default size of the table, Linux's
// nf_conntrack_max on a machine of a few GiB.
const DefaultMaxEntries = 262144

// Options configures a Table. Zero values select the defaults.
type Options struct {
	// MaxEntries is the most connections the table holds; 0 means
	// DefaultMaxEntries.
	// Concurrent Create calls may exceed it by at most their number.
	MaxEntries int
	// PortMin and PortMax bound the source ports masquerade allocates when
	// an action gives no range and the original port is taken; 0 means
	// 1024 and 65535. They are swapped if PortMin > PortMax. An original
	// port below 1024 is remapped within 1–511 or 600–1023 instead, as
	// Linux does (RFC 4787 REQ-3).
	PortMin, PortMax uint16
	// Timeouts are the idle timeouts; zero fields take Linux's defaults.
	Timeouts Timeouts
	// NoTCPLoose refuses to pick up a TCP connection from a segment other
	// than a SYN (Linux's nf_conntrack_tcp_loose=0). By default a bare ACK
	// of a connection older than the table creates it as ESTABLISHED,
	// with its window checks relaxed until both sides were seen.
	NoTCPLoose bool
	// MaxPerEndpoint is the most connections one endpoint (a source
	// address in a zone) opens; 0 means MaxEntries/DefaultMaxPerEndpointDiv,
	// negative unlimited. See limit.go for what happens at the limit.
	MaxPerEndpoint int
	// Reserve is how many entries short of full the table starts keeping
	// room for endpoints holding fewer connections than Reserve; 0 means
	// MaxEntries/DefaultReserveDiv, negative none.
	Reserve int
	// Seed keys the hash of the table and of port allocation; 0 means a
	// random seed. Set it only to make tests reproducible.
	Seed uint64
}

// Timeouts are idle timeouts per protocol state. Zero fields take the
// Linux nf_conntrack defaults given for each.
type Timeouts struct {
	TCPSynSent     time.Duration // 2 min
	TCPSynRecv     time.Duration // 60 s
	TCPEstablished time.Duration // 5 days
	TCPFinWait     time.Duration // 2 min
	TCPCloseWait   time.Duration // 60 s
	TCPLastAck     time.Duration // 30 s
	TCPTimeWait    time.Duration // 2 min
	TCPClose       time.Duration // 10 s
	TCPSynSent2    time.Duration // 2 min
	UDPUnreplied   time.Duration // 30 s
	UDPAssured     time.Duration // 120 s, once a reply was seen
	ICMP           time.Duration // 30 s
}

// DefaultTimeouts returns Linux's default conntrack timeouts.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:     2 * time.Minute,
		TCPSynRecv:     60 * time.Second,
		TCPEstablished: 5 * 24 * time.Hour,
		TCPFinWait:     2 * time.Minute,
		TCPCloseWait:   60 * time.Second,
		TCPLastAck:     30 * time.Second,
		TCPTimeWait:    2 * time.Minute,
		TCPClose:       10 * time.Second,
		TCPSynSent2:    2 * time.Minute,
		UDPUnreplied:   30 * time.Second,
		UDPAssured:     120 * time.Second,
		ICMP:           30 * time.Second,
	}
}

// Action is the translation Create sets up for a new connection.
type Action struct {
	// SNAT rewrites the source to SNATAddr (the source address is kept if
	// SNATAddr is the zero Addr). SNATPorts is the range of source ports
	// (ICMP identifiers) to map to; {0, 0} keeps the original port when
	// the reply tuple is free and otherwise allocates from Options' range
	// (identifiers from 0–65535). A non-zero range keeps the original port
	// only if it lies in the range; {p, 0} means {p, p}. Without SNAT, a
	// reply tuple that is taken still gets a new source port from Options'
	// range, as in Linux, so two connections never share a tuple.
	SNAT      bool
	SNATAddr  netip.Addr
	SNATPorts [2]uint16
	// DNAT rewrites the destination to DNATAddr (kept if zero) and
	// DNATPort (kept if 0; ignored for ICMP).
	DNAT     bool
	DNATAddr netip.Addr
	DNATPort uint16
}

// Verdict is what Apply did with a frame.
type Verdict uint8

const (
	// VerdictAccept means the frame was translated (or needed no change)
	// and the connection updated: forward it.
	VerdictAccept Verdict = iota
	// VerdictInvalid means the frame is not valid for the connection (a
	// TCP segment out of state, or a frame that does not match p); it was
	// not modified. Drop it. Counted in Stats.Invalid.
	VerdictInvalid
)

func (v Verdict) String() string {
	if v == VerdictAccept {
		return "accept"
	}
	return "invalid"
}

// Stats are cumulative counters.
type Stats struct {
	Entries              uint64 // connections in the table now (a gauge), as Len
	Created              uint64 // connections created
	Expired              uint64 // removed after their timeout (lazily or by Sweep)
	EarlyDropped         uint64 // unassured connections evicted for a new one
	Flushed              uint64 // removed by Flush
	TableFull            uint64 // Create failed with ErrTableFull
	EndpointLimit        uint64 // Create failed with ErrEndpointLimit
	NoPort               uint64 // Create failed with ErrNoPort
	Invalid              uint64 // ErrInvalid from Create and VerdictInvalid from Apply
	Unsupported          uint64 // ErrUnsupported from Create
	FragmentsTranslated  uint64 // non-first fragments translated
	FragmentsDropped     uint64 // non-first fragments without a tracked first fragment
	ICMPErrorsTranslated uint64 // related ICMP errors translated
}

type counters struct {
	created, expired, earlyDropped, flushed   atomic.Uint64
	tableFull, noPort, invalid, unsupported   atomic.Uint64
	endpointLimit                             atomic.Uint64
	fragsTranslated, fragsDropped, icmpErrors atomic.Uint64
}

// Entry describes one connection for listing (vswitchctl conntrack list).
type Entry struct {
	Zone, ReplyZone Zone
	Proto           uint8
	// State is the TCP state; TCPNone for UDP and ICMP.
	State TCPState
	// Timeout is the time left before the connection expires if idle.
	Timeout time.Duration
	// Assured is set once traffic was seen both ways (TCP: established).
	Assured   bool
	SeenReply bool
	// Window is the TCP window state of each direction (by Dir).
	Window [2]TCPWindow
	// Original is the tuple of the packet that created the connection,
	// Reply the tuple of its answer (the inverse of the translated
	// original).
	Original, Reply Tuple
	// Packets and Bytes (IPv4 total lengths) are indexed by Dir.
	Packets, Bytes [2]uint64
}

const (
	shardBits = 8
	numShards = 1 << shardBits
	// minSlots is a shard's smallest non-empty table.
	minSlots = 16
	// earlyDropScan is how many connections Create examines for an
	// eviction victim when the table is full (Linux scans 8 buckets).
	earlyDropScan = 128
	// sweepBatch is how many expired connections Sweep collects under one
	// shard's lock before removing them.
	sweepBatch = 64
	// refreshUnits is the granularity of deadline refreshes (1 s), so an
	// established flow does not write its connection's state word on
	// every packet.
	refreshUnits = int64(time.Second) >> deadlineShift
)

// Table is the connection table. It is safe for concurrent use: Lookup
// and Apply take no lock (see shard), Create and removals lock the one or
// two shards involved, and the control-plane calls (Sweep, Entries,
// Flush) lock shards one at a time, except Flush, which locks them all.
type Table struct {
	// Immutable after New.
	seed                                [3]uint64
	max                                 int64
	portMin, portMax                    uint32
	tcpTimeout                          [numTCPStates]int64 // ns, by TCPState
	udpUnreplied, udpAssured, icmpTimeo int64               // ns
	loose                               bool                // pick up TCP connections mid-stream

	// n counts linked connections plus the reservations of Create calls
	// in progress; it is what the limit applies to. live counts linked
	// connections only.
	n, live atomic.Int64

	shards [numShards]shard // each guards itself; see shard

	bysrc bySource // masqueraded sources and their mappings; guarded by its own locks

	lim limiter // per-endpoint lists and limits; see limit.go

	sweep struct {
		mu         sync.Mutex // guards shard, pos and buf; held for a whole Sweep call
		shard, pos int
		buf        [sweepBatch]*Conn
	}

	stats counters // atomics
}

// New returns an empty table.
func New(opt Options) *Table {
	t := &Table{max: int64(opt.MaxEntries), loose: !opt.NoTCPLoose}
	if t.max <= 0 {
		t.max = DefaultMaxEntries
	}
	lo, hi := uint32(opt.PortMin), uint32(opt.PortMax)
	if lo == 0 {
		lo = 1024
	}
	if hi == 0 {
		hi = 65535
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	t.portMin, t.portMax = lo, hi
	switch {
	case opt.MaxPerEndpoint == 0:
		t.lim.max = max(t.max/DefaultMaxPerEndpointDiv, 1)
	case opt.MaxPerEndpoint > 0:
		t.lim.max = int64(opt.MaxPerEndpoint)
	}
	switch {
	case opt.Reserve == 0:
		t.lim.reserve = t.max / DefaultReserveDiv
	case opt.Reserve > 0:
		t.lim.reserve = min(int64(opt.Reserve), t.max)
	}

	to, def := opt.Timeouts, DefaultTimeouts()
	pick := func(v, d time.Duration) int64 {
		if v <= 0 {
			return int64(d)
		}
		return int64(v)
	}
	t.tcpTimeout = [numTCPStates]int64{
		TCPNone:        pick(to.TCPClose, def.TCPClose),
		TCPSynSent:     pick(to.TCPSynSent, def.TCPSynSent),
		TCPSynRecv:     pick(to.TCPSynRecv, def.TCPSynRecv),
		TCPEstablished: pick(to.TCPEstablished, def.TCPEstablished),
		TCPFinWait:     pick(to.TCPFinWait, def.TCPFinWait),
		TCPCloseWait:   pick(to.TCPCloseWait, def.TCPCloseWait),
		TCPLastAck:     pick(to.TCPLastAck, def.TCPLastAck),
		TCPTimeWait:    pick(to.TCPTimeWait, def.TCPTimeWait),
		TCPClose:       pick(to.TCPClose, def.TCPClose),
		TCPSynSent2:    pick(to.TCPSynSent2, def.TCPSynSent2),
	}
	t.udpUnreplied = pick(to.UDPUnreplied, def.UDPUnreplied)
	t.udpAssured = pick(to.UDPAssured, def.UDPAssured)
	t.icmpTimeo = pick(to.ICMP, def.ICMP)

	s := opt.Seed
	if s == 0 {
		s = rand.Uint64()
	}
	for i := range t.seed {
		t.seed[i] = splitmix64(&s)
	}
	t.bysrc.init(t.max, splitmix64(&s))
	return t
}

func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hash is a seeded 128→64-bit multiply-mix (the wyhash construction) of a
// key: fast, allocation-free, and keyed so that remote hosts cannot aim
// tuples at one shard.
func (t *Table) hash(k *key) uint64 {
	a, b := k.words()
	hi, lo := bits.Mul64(a^t.seed[0], b^t.seed[1])
	hi, lo = bits.Mul64(hi^t.seed[2], lo^0xe7037ed1a0b428db)
	return hi ^ lo
}

func shardOf(h uint64) int { return int(h >> (64 - shardBits)) }

// Len returns the number of connections, including expired ones not yet
// removed.
func (t *Table) Len() int { return int(t.live.Load()) }

// Max returns the most connections the table holds.
func (t *Table) Max() int { return int(t.max) }

// Stats returns the counters.
func (t *Table) Stats() Stats {
	s := &t.stats
	return Stats{
		Entries:              uint64(max(t.live.Load(), 0)),
		Created:              s.created.Load(),
		Expired:              s.expired.Load(),
		EarlyDropped:         s.earlyDropped.Load(),
		Flushed:              s.flushed.Load(),
		TableFull:            s.tableFull.Load(),
		EndpointLimit:        s.endpointLimit.Load(),
		NoPort:               s.noPort.Load(),
		Invalid:              s.invalid.Load(),
		Unsupported:          s.unsupported.Load(),
		FragmentsTranslated:  s.fragsTranslated.Load(),
		FragmentsDropped:     s.fragsDropped.Load(),
		ICMPErrorsTranslated: s.icmpErrors.Load(),
	}
}

type removeReason uint8

const (
	removeExpired removeReason = iota
	removeEarlyDrop
)

// remove unlinks c if it is still linked and still qualifies: expired for
// removeExpired, expired or unassured for removeEarlyDrop. It reports
// whether it removed c.
func (t *Table) remove(c *Conn, now int64, why removeReason) bool {
	ho, hr := t.hash(&c.tuple[Original]), t.hash(&c.tuple[Reply])
	a, b := shardOf(ho), shardOf(hr)
	t.lock2(a, b)
	w := c.st.Load()
	ok := w&flagRemoved == 0
	if ok {
		switch why {
		case removeExpired:
			ok = expired(w, now)
		case removeEarlyDrop:
			ok = evictable(w, now)
		}
	}
	if !ok {
		t.unlock2(a, b)
		return false
	}
	for d, h := range [2]uint64{ho, hr} {
		s := &t.shards[shardOf(h)]
		if fc, _, i := s.find(&c.tuple[d], uint32(h)); fc == c {
			s.deleteAt(i)
		}
	}
	for !c.st.CompareAndSwap(w, w|flagRemoved) {
		w = c.st.Load()
	}
	t.unlock2(a, b)
	t.bysrc.remove(c)
	t.limRemove(c)
	t.n.Add(-1)
	t.live.Add(-1)
	if why == removeEarlyDrop && !expired(w, now) {
		t.stats.earlyDropped.Add(1)
	} else {
		t.stats.expired.Add(1)
	}
	return true
}

// earlyDrop evicts one connection to make room, preferring an expired
// one, else the evictable one (see evictable) closest to expiry among the
// first earlyDropScan connections from the new key's position.
func (t *Table) earlyDrop(h uint64, now int64) bool {
	var victim *Conn
	var best int64
	examined := 0
	start := shardOf(h)
scan:
	for n := 0; n < numShards && examined < earlyDropScan; n++ {
		s := &t.shards[(start+n)%numShards]
		s.mu.Lock()
		tab := s.slots()
		mask := len(tab) - 1
		for j := 0; j < len(tab) && examined < earlyDropScan; j++ {
			e := &tab[(int(uint32(h))+j)&mask]
			c := e.c.Load()
			if c == nil || e.hd.Load()&1 != uint64(Original) {
				continue
			}
			examined++
			w := c.st.Load()
			if expired(w, now) {
				victim = c
				s.mu.Unlock()
				break scan
			}
			if evictable(w, now) && (victim == nil || deadlineOf(w) < best) {
				victim, best = c, deadlineOf(w)
			}
		}
		s.mu.Unlock()
	}
	return victim != nil && t.remove(victim, now, removeEarlyDrop)
}

// reserve claims room for one connection, evicting one if the table is
// full: the oldest evictable one of the endpoint holding the most, else
// one near h.
func (t *Table) reserve(h uint64, now int64) bool {
	if t.n.Add(1) <= t.max {
		return true
	}
	if t.evictHeavy(now) || t.earlyDrop(h, now) {
		return true
	}
	t.n.Add(-1)
	return false
}

// Sweep removes expired connections incrementally. Each call examines at
// most budget connections (empty slots are skipped), continuing where the
// previous call stopped, and never more than one pass over the table; it
// returns the number removed. Run it from the control plane's timer, with
// a budget of about Len()/(timeout of interest × calls per second).
func (t *Table) Sweep(now int64, budget int) int {
	sw := &t.sweep
	sw.mu.Lock()
	defer sw.mu.Unlock()
	removed := 0
	for passed := 0; budget > 0 && passed <= numShards; {
		s := &t.shards[sw.shard]
		n := 0
		s.mu.Lock()
		tab := s.slots()
		for sw.pos < len(tab) && budget > 0 && n < sweepBatch {
			e := &tab[sw.pos]
			sw.pos++
			c := e.c.Load()
			if c == nil || e.hd.Load()&1 != uint64(Original) {
				continue
			}
			budget--
			if expired(c.st.Load(), now) {
				sw.buf[n] = c
				n++
			}
		}
		done := sw.pos >= len(tab)
		s.mu.Unlock()
		for i := range sw.buf[:n] {
			if t.remove(sw.buf[i], now, removeExpired) {
				removed++
			}
			sw.buf[i] = nil
		}
		if done {
			sw.pos = 0
			sw.shard = (sw.shard + 1) % numShards
			passed++
		}
	}
	return removed
}

// Flush removes every connection and returns how many there were.
func (t *Table) Flush() int {
	for i := range t.shards {
		t.shards[i].mu.Lock()
	}
	removed := 0
	for i := range t.shards {
		s := &t.shards[i]
		tab := s.slots()
		for j := range tab {
			c := tab[j].c.Load()
			if c != nil && tab[j].hd.Load()&1 == uint64(Original) {
				for {
					w := c.st.Load()
					if c.st.CompareAndSwap(w, w|flagRemoved) {
						break
					}
				}
				removed++
			}
		}
		s.clear()
	}
	for i := range t.shards {
		t.shards[i].mu.Unlock()
	}
	t.n.Add(int64(-removed))
	t.live.Add(int64(-removed))
	t.bysrc.clear()
	t.limClear()
	t.stats.flushed.Add(uint64(removed))
	return removed
}

// Entries returns a snapshot of the live connections for listing. It
// allocates; it is for the control plane. Range lists them without
// holding them all.
func (t *Table) Entries(now int64) []Entry {
	var out []Entry
	t.Range(now, func(e *Entry) bool {
		out = append(out, *e)
		return true
	})
	return out
}

// timeoutOf returns the idle timeout for state word w of a connection of
// protocol proto.
func (t *Table) timeoutOf(proto uint8, w uint64) int64 {
	switch proto {
	case header.ProtoTCP:
		return t.tcpTimeout[w&stateMask]
	case header.ProtoUDP:
		if w&flagSeenReply != 0 {
			return t.udpAssured
		}
		return t.udpUnreplied
	}
	return t.icmpTimeo
}
