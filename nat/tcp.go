package nat

import (
	"encoding/binary"
	"sync"

	"github.com/vswitchd/vswitchd/header"
)

// TCP tracking follows Linux's nf_conntrack_proto_tcp: the state table
// below (tcp_conntracks, with SYN_SENT2 for simultaneous open) and, for
// every segment the table does not ignore, the sequence and window checks
// of tcp_in_window (RFC 793 §3.3 acceptable-sequence and acceptable-ACK
// tests, with window scaling, RFC 7323). A segment outside the window is
// invalid: it is not translated, changes nothing, and is counted, so a
// blind RST or FIN from outside cannot close a connection.

// tcpClass is the kind of TCP segment, as far as the state machine cares.
type tcpClass uint8

const (
	tcpSyn tcpClass = iota
	tcpSynAck
	tcpFin
	tcpAck
	tcpRst
	tcpNoFlags
	numTCPClasses
)

// classifyTCP maps TCP flags to a class: RST wins, then SYN (with or
// without ACK), then FIN, then ACK.
func classifyTCP(flags uint8) tcpClass {
	switch {
	case flags&header.TCPFlagRST != 0:
		return tcpRst
	case flags&header.TCPFlagSYN != 0:
		if flags&header.TCPFlagACK != 0 {
			return tcpSynAck
		}
		return tcpSyn
	case flags&header.TCPFlagFIN != 0:
		return tcpFin
	case flags&header.TCPFlagACK != 0:
		return tcpAck
	}
	return tcpNoFlags
}

// Pseudo-states in the transition table.
const (
	tIgn TCPState = 0xfe // valid, state unchanged, window not checked
	tInv TCPState = 0xff // invalid: not translated, counted
)

// Short names for the transition table.
const (
	sSS = TCPSynSent
	sSR = TCPSynRecv
	sES = TCPEstablished
	sFW = TCPFinWait
	sCW = TCPCloseWait
	sLA = TCPLastAck
	sTW = TCPTimeWait
	sCL = TCPClose
	sS2 = TCPSynSent2
	sIG = tIgn
	sIV = tInv
)

// tcpNext[dir][class][state] is the state after a segment: Linux's
// tcp_conntracks table. One difference: a SYN from the reply side in
// TIME_WAIT (Linux: the server reopens with the roles switched, which it
// handles by deleting the connection and tracking a new one) moves to
// SYN_SENT2 here, as a simultaneous open would, keeping the mapping.
var tcpNext = [2][numTCPClasses][numTCPStates]TCPState{
	Original: {
		//           NONE SYN_SENT SYN_RECV ESTAB FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2
		tcpSyn:     {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		tcpSynAck:  {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		tcpFin:     {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAck:     {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		tcpRst:     {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoFlags: {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	Reply: {
		tcpSyn:     {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sS2, sIV, sS2},
		tcpSynAck:  {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		tcpFin:     {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAck:     {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		tcpRst:     {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoFlags: {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpInitial returns the state of a connection created by a segment with
// flags: SYN_SENT for a SYN, ESTABLISHED for a bare ACK (loose pick-up of
// a connection that predates the table, when loose), and false for
// anything else.
func tcpInitial(flags uint8, loose bool) (TCPState, bool) {
	c := classifyTCP(flags)
	if c == tcpAck && !loose {
		return 0, false
	}
	s := tcpNext[Original][c][TCPNone]
	return s, s < numTCPStates
}

// Window tracking (tcp_in_window).

// maxAckWindow is MAXACKWINCONST: how far below the receiver's highest
// sequence an ACK may lie.
const maxAckWindow = 66000

// Flags of a tcpWindow.
const (
	twScale     uint8 = 1 << iota // sent the window scale option
	twSackPerm                    // sent SACK-permitted
	twMaxAckSet                   // maxack is valid
	twLiberal                     // picked up mid-stream: window failures tolerated
)

// tcpWindow is what one direction's sender has shown (struct
// ip_ct_tcp_state): the highest sequence it sent (end), the highest the
// receiver's window allows it (maxend), its largest window (maxwin), the
// highest ACK it sent (maxack) and its window scale.
type tcpWindow struct {
	end, maxend, maxwin, maxack uint32
	scale                       uint8
	flags                       uint8
}

// tcpTrack is a TCP connection's window state. mu serialises the window
// update and the state transition of one segment; packets of other
// protocols never take it.
type tcpTrack struct {
	mu   sync.Mutex // guards the fields below
	seen [2]tcpWindow
	// The last segment that passed (Linux's last_index, last_dir,
	// last_end): an RST right after data from the same side at the
	// sequence that data ended is part of the same train.
	lastClass tcpClass
	lastDir   Dir
	lastEnd   uint32
}

// TCPWindow is one direction's window state as Entries lists it (what
// `conntrack -L` hides and /proc/net/nf_conntrack does not show either;
// here for diagnosis): the sender's highest sequence sent and allowed, its
// largest window, its highest ACK and its window scale.
type TCPWindow struct {
	End, MaxEnd, MaxWin, MaxAck uint32
	Scale                       uint8
}

func (w *tcpWindow) export() TCPWindow {
	return TCPWindow{End: w.end, MaxEnd: w.maxend, MaxWin: w.maxwin, MaxAck: w.maxack, Scale: w.scale}
}

// before and after compare sequence numbers modulo 2^32 (RFC 793 §3.3).
func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

// tcpSeg is the part of a segment tracking reads.
type tcpSeg struct {
	seq, ack, end uint32
	win           uint32
	flags         uint8
	opts          []byte
}

// parseSeg reads the segment p describes from frame. The payload length
// is the whole super-frame's for a GSO frame, as the kernel's is.
func parseSeg(frame []byte, p *header.Parsed, s *tcpSeg) bool {
	if p.L4Off == 0 || p.PayloadOff > p.L3End || p.L3End > len(frame) || p.PayloadOff-p.L4Off < header.TCPMinLen {
		return false
	}
	t := header.TCP(frame[p.L4Off:p.PayloadOff])
	// Field by field: a composite literal is built on the stack and
	// copied with wide moves that stall on its narrow stores.
	s.seq, s.ack, s.win, s.flags = t.Seq(), t.Ack(), uint32(t.Window()), t.Flags()
	s.opts = t[header.TCPMinLen:]
	s.end = s.seq + uint32(p.L3End-p.PayloadOff)
	if s.flags&header.TCPFlagSYN != 0 {
		s.end++
	}
	if s.flags&header.TCPFlagFIN != 0 {
		s.end++
	}
	return true
}

// options records the window scale and SACK-permitted options of a SYN
// (tcp_options). Option lists are bounded by the header length.
func (w *tcpWindow) options(opts []byte) {
	w.flags &^= twScale | twSackPerm
	w.scale = 0
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case 0: // end of list
			return
		case 1: // NOP
			i++
			continue
		}
		if i+1 >= len(opts) {
			return
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return
		}
		switch {
		case opts[i] == 3 && n == 3: // window scale, RFC 7323 §2.2
			w.flags |= twScale
			w.scale = min(opts[i+2], 14)
		case opts[i] == 4 && n == 2: // SACK permitted, RFC 2018
			w.flags |= twSackPerm
		}
		i += n
	}
}

// start initialises sender from the first segment seen in its direction.
func start(sender, receiver *tcpWindow, s *tcpSeg) {
	if s.flags&header.TCPFlagSYN != 0 {
		sender.end, sender.maxend = s.end, s.end
		sender.maxwin = max(s.win, 1)
		sender.options(s.opts)
		// RFC 7323: scaling is on only if both SYNs carry the option.
		if sender.flags&twScale == 0 || receiver.flags&twScale == 0 {
			sender.scale, receiver.scale = 0, 0
		}
		return
	}
	sender.end = s.end
	sender.maxwin = max(s.win<<sender.scale, 1)
	sender.maxend = s.end + sender.maxwin
	if receiver.maxwin == 0 {
		// Picked up mid-stream (or the reply to it): assume the
		// receiver's window around what the sender acknowledges.
		receiver.end, receiver.maxend = s.ack, s.ack
	}
}

// winVerdict is tcp_in_window's answer (enum nf_ct_tcp_action).
type winVerdict uint8

const (
	winAccept  winVerdict = iota // in the window: the state moves on
	winIgnore                    // stale (delayed ACK, old retransmission): passed, nothing changes
	winInvalid                   // outside the window: dropped and counted
)

// inWindow is tcp_in_window: it checks segment s from direction d against
// the windows in state cur and updates them when it is acceptable. As
// Linux (since 6.1) does, a segment that is merely old — data below the
// receiver's window, an ACK below the lowest acceptable one — is ignored
// rather than invalid: it passes and changes nothing, since a stale
// retransmission or a delayed ACK is normal. One that overshoots the
// receiver's window by at most that window, with an acceptable ACK, is
// accepted (Linux's workaround for TCPs that send more than the window
// allows). Everything else outside the window is invalid, unless the
// connection was picked up mid-stream (liberal), where anything but an RST
// passes.
func (tr *tcpTrack) inWindow(cur TCPState, d Dir, s *tcpSeg) winVerdict {
	sender, receiver := &tr.seen[d], &tr.seen[d^1]
	syn := s.flags&header.TCPFlagSYN != 0
	ack := s.flags&header.TCPFlagACK != 0
	if sender.maxwin == 0 {
		start(sender, receiver, s)
		if syn && !ack {
			return winAccept // simultaneous open: nothing to check yet
		}
	} else if (cur == TCPSynSent && d == Original || cur == TCPSynRecv && d == Reply) && after(s.end, sender.end) {
		// A SYN (or SYN-ACK) retransmitted with a new sequence: the
		// sender restarted (RFC 793 "reinitialized").
		sender.end, sender.maxend = s.end, s.end
		sender.maxwin = max(s.win, 1)
		sender.options(s.opts)
	}
	sack, ackv := s.ack, s.ack
	if !ack || s.flags&(header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagACK|header.TCPFlagRST && s.ack == 0 {
		ackv, sack = receiver.end, receiver.end
	}
	seq, end := s.seq, s.end
	if s.flags&header.TCPFlagRST != 0 && seq == 0 && cur == TCPSynSent {
		seq, end = sender.end, sender.end
	}
	outside := func(v winVerdict) winVerdict {
		if sender.flags&twLiberal != 0 && s.flags&header.TCPFlagRST == 0 {
			return winAccept
		}
		return v
	}
	maxAck := max(sender.maxwin, maxAckWindow)
	ackOK := after(sack, receiver.end-maxAck-1) // not an ACK from long ago
	if after(seq, sender.maxend) {              // beyond the receiver's window
		overshot := end - sender.maxend + 1
		if receiver.maxwin != 0 && after(end, sender.end-receiver.maxwin-1) && ackOK &&
			overshot <= receiver.maxwin && !after(sack, receiver.end) {
			sender.end = end
			return winAccept
		}
		return outside(winInvalid)
	}
	if after(sack, receiver.end) { // acknowledging data never sent
		return outside(winInvalid)
	}
	if receiver.maxwin != 0 && !after(end, sender.end-receiver.maxwin-1) || !ackOK {
		return outside(winIgnore) // data acknowledged long ago, or a long-delayed ACK
	}
	win := s.win
	if !syn {
		win <<= sender.scale
	}
	if swin := win + (sack - ackv); sender.maxwin < swin {
		sender.maxwin = swin
	}
	if after(end, sender.end) {
		sender.end = end
	}
	if ack {
		if sender.flags&twMaxAckSet == 0 || after(ackv, sender.maxack) {
			sender.maxack = ackv
			sender.flags |= twMaxAckSet
		}
	}
	if receiver.maxwin != 0 && after(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if after(sack+win, receiver.maxend-1) {
		receiver.maxend = sack + win
		if win == 0 {
			receiver.maxend++
		}
	}
	return winAccept
}

// tcpStep advances a TCP connection's state word w for segment s in
// direction d (nf_conntrack_tcp_packet) and reports whether the segment
// is valid, and whether it ends the connection at once: an RST before any
// reply was seen (Linux kills such a connection rather than keep it in
// CLOSE: "if only reply is a RST"). The caller holds tr.mu. w's deadline
// is left for the caller.
func tcpStep(tr *tcpTrack, w uint64, d Dir, s *tcpSeg, loose bool) (_ uint64, ok, kill bool) {
	cur := TCPState(w & stateMask)
	if cur >= numTCPStates {
		return w, false, false
	}
	class := classifyTCP(s.flags)
	next := tcpNext[d][class][cur]
	switch {
	case next == tInv:
		return w, false, false
	case next == tIgn:
		return w, true, false // Linux lets it pass untracked
	case d == Original && tr.seen[Original].maxwin == 0 && tr.seen[Reply].maxwin == 0:
		// The segment that created the connection (tcp_new): it starts
		// the originator's window; the reply side's starts with its
		// first segment.
		o := &tr.seen[Original]
		if class == tcpSyn {
			o.end, o.maxend = s.end, s.end
			o.maxwin = max(s.win, 1)
			o.options(s.opts)
			break
		}
		if !loose {
			return w, false, false
		}
		o.end = s.end
		o.maxwin = max(s.win, 1)
		o.maxend = s.end + o.maxwin
		o.flags = twSackPerm | twLiberal
		tr.seen[Reply].flags = twSackPerm | twLiberal
	case class == tcpSyn && (cur == TCPTimeWait || cur == TCPClose) && next < numTCPStates:
		// Re-opened (RFC 1122 §4.2.2.13): a new connection on the same
		// tuple; its windows start afresh.
		tr.seen = [2]tcpWindow{}
		w &^= flagAssured | flagSeenReply
	case class == tcpRst && next == TCPClose:
		// An RST closes only at the sequence the other side expects
		// next; one below it is invalid, one elsewhere in the window
		// keeps the state (the endpoint answers a challenge ACK, RFC
		// 5961 §3.2).
		if other := &tr.seen[d^1]; other.flags&twMaxAckSet != 0 && tr.lastClass != tcpSyn {
			if before(s.seq, other.maxack) {
				return w, false, false
			}
			established := cur == TCPEstablished && w&flagAssured != 0
			train := tr.lastClass == tcpAck && tr.lastDir == d && s.seq == tr.lastEnd
			if established && s.seq != other.maxack && !train {
				next = cur
			}
		}
	}
	switch tr.inWindow(cur, d, s) {
	case winInvalid:
		return w, false, false
	case winIgnore:
		return w, true, false
	}
	tr.lastClass, tr.lastDir, tr.lastEnd = class, d, s.end
	kill = class == tcpRst && w&flagSeenReply == 0
	if d == Reply {
		w |= flagSeenReply
	}
	if next == TCPEstablished && w&flagSeenReply != 0 {
		w |= flagAssured
	}
	return w&^stateMask | uint64(next), true, kill
}

// TCPOption16 returns the 16-bit value of a 4-byte TCP option of kind in
// opts, and its offset in opts; -1 when absent. It is how the router
// finds the MSS option (kind 2) to clamp it.
func TCPOption16(opts []byte, kind uint8) (uint16, int) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return 0, -1
		case 1:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return 0, -1
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return 0, -1
		}
		if opts[i] == kind && n == 4 {
			return binary.BigEndian.Uint16(opts[i+2:]), i + 2
		}
		i += n
	}
	return 0, -1
}
