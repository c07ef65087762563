package nat

import "github.com/vswitchd/vswitchd/header"

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
	tIgn TCPState = 0xfe // valid, state unchanged
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
	sIG = tIgn
	sIV = tInv
)

// tcpNext[dir][class][state] is the state after a segment, following the
// Linux nf_conntrack state diagram without SYN_SENT2 and without window
// tracking. A SYN from the originator in TIME_WAIT or CLOSE re-opens the
// connection (tcpStep clears its flags).
var tcpNext = [2][numTCPClasses][numTCPStates]TCPState{
	Original: {
		//           NONE SYN_SENT SYN_RECV ESTAB FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE
		tcpSyn:     {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS},
		tcpSynAck:  {sIV, sIG, sIG, sIV, sIV, sIV, sIV, sIV, sIV}, // simultaneous open
		tcpFin:     {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL},
		tcpAck:     {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL}, // NONE→ESTAB: loose pick-up
		tcpRst:     {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoFlags: {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	Reply: {
		tcpSyn:     {sIV, sIG, sIV, sIV, sIV, sIV, sIV, sIV, sIV}, // simultaneous open
		tcpSynAck:  {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG},
		tcpFin:     {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL},
		tcpAck:     {sIV, sIG, sIG, sES, sCW, sCW, sTW, sTW, sCL},
		tcpRst:     {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoFlags: {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpInitial returns the state of a connection created by a segment with
// flags: SYN_SENT for a SYN, ESTABLISHED for a bare ACK (loose pick-up of
// a connection that predates the table), and false for anything else.
func tcpInitial(flags uint8) (TCPState, bool) {
	s := tcpNext[Original][classifyTCP(flags)][TCPNone]
	return s, s < numTCPStates
}

// tcpStep returns the state word after a segment with flags in direction
// d, and false if the segment is invalid in the current state. w's
// deadline is left for the caller.
func tcpStep(w uint64, d Dir, flags uint8) (uint64, bool) {
	cur := TCPState(w & stateMask)
	if cur >= numTCPStates {
		return w, false
	}
	class := classifyTCP(flags)
	next := tcpNext[d][class][cur]
	switch next {
	case tInv:
		return w, false
	case tIgn:
		next = cur
	}
	if d == Original && class == tcpSyn && (cur == TCPTimeWait || cur == TCPClose) {
		w &^= flagAssured | flagSeenReply // re-opened: a new connection on the same tuple
	}
	if d == Reply {
		w |= flagSeenReply
	}
	if next == TCPEstablished && w&flagSeenReply != 0 {
		w |= flagAssured
	}
	return w&^stateMask | uint64(next), true
}
