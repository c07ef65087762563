package nat

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/vswitchd/vswitchd/header"
)

// Dir is the direction of a packet relative to its connection, possibly
// with the Related bit.
type Dir uint8

const (
	// Original is the direction of the packet that created the connection.
	Original Dir = 0
	// Reply is the opposite direction.
	Reply Dir = 1
	// Related is set by Lookup on an ICMP error that quotes a packet of
	// the connection; the base direction is the one the error travels in.
	// Apply translates the error; it does not change the connection.
	Related Dir = 2
)

// Base returns d without the Related bit.
func (d Dir) Base() Dir { return d & Reply }

// IsRelated reports whether d has the Related bit.
func (d Dir) IsRelated() bool { return d&Related != 0 }

func (d Dir) String() string {
	s := "original"
	if d.Base() == Reply {
		s = "reply"
	}
	if d.IsRelated() {
		s += "/related"
	}
	return s
}

// TCPState is a TCP connection's tracking state (the Linux nf_conntrack
// names).
type TCPState uint8

// TCP states.
const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2 // both sides sent a SYN: simultaneous open
	numTCPStates
)

var tcpStateNames = [numTCPStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
}

func (s TCPState) String() string {
	if s < numTCPStates {
		return tcpStateNames[s]
	}
	return fmt.Sprintf("TCPState(%d)", uint8(s))
}

// ParseTCPState reads a state name as conntrack -L prints it
// (ESTABLISHED), in any case.
func ParseTCPState(name string) (TCPState, error) {
	for s, n := range tcpStateNames {
		if strings.EqualFold(n, name) {
			return TCPState(s), nil
		}
	}
	return 0, fmt.Errorf("tcp state %q: want one of %s", name, strings.Join(tcpStateNames[1:], ", "))
}

// Tuple is one direction of a connection as it appears on the wire. For
// ICMP echo both ports hold the identifier.
type Tuple struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

func (t Tuple) String() string {
	return fmt.Sprintf("proto=%d src=%v dst=%v sport=%d dport=%d", t.Proto, t.Src, t.Dst, t.SrcPort, t.DstPort)
}

// key is a tuple in a zone: the hash key. It is 16 bytes and comparable.
// For ICMP echo, sport and dport both hold the identifier and icmp holds
// the type (echo request for the direction that sends requests, echo reply
// for the other), so that inverse(key) is well defined.
type key struct {
	zone  Zone
	proto uint8
	icmp  uint8
	src   uint32 // IPv4 address as a big-endian number
	dst   uint32
	sport uint16
	dport uint16
}

// inverse returns the key of a packet going the other way, in zone z.
func (k key) inverse(z Zone) key {
	r := key{zone: z, proto: k.proto, src: k.dst, dst: k.src, sport: k.dport, dport: k.sport}
	if k.proto == header.ProtoICMP {
		r.icmp = invertEcho(k.icmp)
	}
	return r
}

func invertEcho(t uint8) uint8 {
	if t == header.ICMPv4Echo {
		return header.ICMPv4EchoReply
	}
	return header.ICMPv4Echo
}

// words packs k into two machine words for hashing.
func (k *key) words() (uint64, uint64) {
	w0 := uint64(k.zone) | uint64(k.proto)<<16 | uint64(k.icmp)<<24 | uint64(k.src)<<32
	w1 := uint64(k.dst) | uint64(k.sport)<<32 | uint64(k.dport)<<48
	return w0, w1
}

// u32 returns an IPv4 address as a big-endian number.
func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addrOf(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

func (k key) tuple() Tuple {
	return Tuple{
		Proto:   k.proto,
		Src:     addrOf(k.src),
		Dst:     addrOf(k.dst),
		SrcPort: k.sport,
		DstPort: k.dport,
	}
}

// xlate is what Apply does to a packet in one direction, precomputed when
// the connection is created. Deltas are non-inverted one's-complement sums
// of (~old + new) over the changed 16-bit words (RFC 1624 eqn. 3), so a
// complete checksum becomes ^(^hc + delta) and a partial one p + delta.
type xlate struct {
	ipDelta      uint16 // addresses: the IPv4 header checksum
	l4Delta      uint16 // full L4 checksum: addresses and ports (TCP/UDP), identifier (ICMP)
	partialDelta uint16 // partial L4 checksum: addresses (TCP/UDP), nothing (ICMP)
	what         uint8  // which fields change: xSrc|xSrcPort|xDst|xDstPort
}

const (
	xSrc uint8 = 1 << iota
	xSrcPort
	xDst
	xDstPort
)

// The state word packs, from the low bits: the TCP state (4 bits), flag
// bits, and the deadline in units of 2^deadlineShift ns above bit 8. One
// word lets a compare-and-swap move state and deadline together, so a
// packet refreshing the deadline never undoes a concurrent state change.
const (
	stateMask     uint64 = 0x0f
	flagAssured   uint64 = 1 << 4
	flagSeenReply uint64 = 1 << 5
	flagRemoved   uint64 = 1 << 6 // unlinked from the table; set under both shard locks
	deadlineShift        = 8      // 256 ns units
)

func deadlineOf(w uint64) int64 { return int64(w >> 8) }

func packState(s uint64, deadline int64) uint64 { return uint64(deadline)<<8 | s&0xff }

// expired reports whether state word w is past its deadline at now.
func expired(w uint64, now int64) bool { return now>>deadlineShift >= deadlineOf(w) }

// Conn is a tracked connection. Its tuples and translation are immutable;
// its state, deadline and counters are atomics. A *Conn stays valid (and
// Apply keeps translating with it) after it is removed from the table, so
// a packet that raced with expiry is still translated consistently.
type Conn struct {
	tuple [2]key   // immutable: [Original] in the origin zone, [Reply] in the reply zone
	x     [2]xlate // immutable: what Apply does in each direction

	st atomic.Uint64 // TCP state, flags and deadline; see stateMask

	pkts, bytes [2]atomic.Uint64 // per Dir; bytes count IPv4 total lengths

	tcp tcpTrack // TCP window state; unused for other protocols

	ep epLink // its source endpoint's list (limit.go); guarded by the limiter shard's mutex
	bs bsLink // its places in the by-source index (bysource.go)
}

// Tuple returns the connection's tuple in direction d: Tuple(Original) is
// the packet that created it, Tuple(Reply) the expected answer (the
// inverse of the translated original).
func (c *Conn) Tuple(d Dir) Tuple { return c.tuple[d.Base()].tuple() }

// Zone returns the zone in which packets of direction d arrive.
func (c *Conn) Zone(d Dir) Zone { return c.tuple[d.Base()].zone }

// TCPState returns the TCP state, TCPNone for other protocols.
func (c *Conn) TCPState() TCPState { return TCPState(c.st.Load() & stateMask) }

// Assured reports whether the connection has seen traffic both ways (for
// TCP: reached ESTABLISHED); early drop spares assured connections.
func (c *Conn) Assured() bool { return c.st.Load()&flagAssured != 0 }

// init sets the tuples and precomputes both directions' translations.
func (c *Conn) init(orig, reply key) {
	c.tuple[Original] = orig
	c.tuple[Reply] = reply
	for d := Original; d <= Reply; d++ {
		cur, other := &c.tuple[d], &c.tuple[d^1]
		// A packet with tuple cur leaves as inverse(other).
		c.x[d] = makeXlate(cur.proto, cur.src, cur.dst, cur.sport, cur.dport,
			other.dst, other.src, other.dport, other.sport)
	}
}

func makeXlate(proto uint8, src, dst uint32, sport, dport uint16, nsrc, ndst uint32, nsport, ndport uint16) xlate {
	var x xlate
	var addr, ports uint16
	if src != nsrc {
		x.what |= xSrc
		addr = header.ChecksumCombine(addr, delta32(src, nsrc))
	}
	if dst != ndst {
		x.what |= xDst
		addr = header.ChecksumCombine(addr, delta32(dst, ndst))
	}
	if sport != nsport {
		x.what |= xSrcPort
		ports = header.ChecksumCombine(ports, delta16(sport, nsport))
	}
	if proto != header.ProtoICMP && dport != ndport {
		// For ICMP both "ports" are the one identifier field.
		x.what |= xDstPort
		ports = header.ChecksumCombine(ports, delta16(dport, ndport))
	}
	x.ipDelta = addr
	if proto == header.ProtoICMP {
		x.l4Delta = ports // no pseudo-header (RFC 792)
	} else {
		x.l4Delta = header.ChecksumCombine(addr, ports)
		x.partialDelta = addr
	}
	return x
}

func delta16(old, new uint16) uint16 { return header.ChecksumCombine(^old, new) }

func delta32(o, n uint32) uint16 {
	s := header.ChecksumCombine(^uint16(o>>16), ^uint16(o))
	s = header.ChecksumCombine(s, uint16(n>>16))
	return header.ChecksumCombine(s, uint16(n))
}

// full applies a precomputed delta to a complete (inverted) checksum.
func full(hc, delta uint16) uint16 { return ^header.ChecksumCombine(^hc, delta) }
