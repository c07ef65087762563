package nat

import (
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// rawSeg is one scripted segment with explicit numbers.
type rawSeg struct {
	name     string
	d        Dir
	flags    uint8
	seq, ack uint32
	n        int // payload bytes
	win      uint16
	wantInv  bool
	want     TCPState
}

// runSegs builds a connection from the first segment (an Original SYN or,
// loose, ACK) and applies the rest, checking verdict and state after each:
// the table of segment sequences that Linux's nf_conntrack_proto_tcp
// accepts or marks invalid (tcp_in_window, tcp_conntracks).
func runSegs(t *testing.T, opt Options, segs []rawSeg) *Conn {
	t.Helper()
	tb := New(opt)
	frame := func(s rawSeg) []byte {
		src, dst := ap(inner1, 40000), ap(server, 443)
		if s.d == Reply {
			src, dst = ap(server, 443), ap(uplink, 40000)
		}
		win := s.win
		if win == 0 {
			win = 64240
		}
		return testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: src, Dst: dst, Proto: header.ProtoTCP, ID: 1,
			TCP: testframe.TCP{Flags: s.flags, Seq: s.seq, Ack: s.ack, Window: win}, Payload: make([]byte, s.n)}.Frame(t)
	}
	f := frame(segs[0])
	p := decode(t, f)
	c, err := tb.Create(zoneNet, zoneUplink, p, masq(), 0)
	if err != nil {
		if segs[0].wantInv {
			return nil
		}
		t.Fatalf("%s: Create = %v", segs[0].name, err)
	}
	if v := tb.Apply(f, p, c, Original, false, 0); (v == VerdictInvalid) != segs[0].wantInv {
		t.Fatalf("%s: Apply = %v", segs[0].name, v)
	}
	for i, s := range segs[1:] {
		f := frame(s)
		p := decode(t, f)
		zone := zoneNet
		if s.d == Reply {
			zone = zoneUplink
		}
		got, d, ok := tb.Lookup(zone, f, p, sec(float64(i+1)))
		if !ok || got != c || d != s.d {
			t.Fatalf("%s: Lookup = %v %v", s.name, d, ok)
		}
		v := tb.Apply(f, p, c, d, false, sec(float64(i+1)))
		if (v == VerdictInvalid) != s.wantInv {
			t.Errorf("%s: verdict %v, want invalid=%v", s.name, v, s.wantInv)
		}
		if st := c.TCPState(); st != s.want {
			t.Errorf("%s: state %v, want %v", s.name, st, s.want)
		}
	}
	return c
}

// handshake is a client (ISN 1000) and server (ISN 9000) handshake plus
// 100 bytes each way.
var handshake = []rawSeg{
	{name: "syn", d: Original, flags: fSYN, seq: 1000, want: TCPSynSent},
	{name: "syn-ack", d: Reply, flags: fSYN | fACK, seq: 9000, ack: 1001, want: TCPSynRecv},
	{name: "ack", d: Original, flags: fACK, seq: 1001, ack: 9001, want: TCPEstablished},
	{name: "data out", d: Original, flags: fACK | fPSH, seq: 1001, ack: 9001, n: 100, want: TCPEstablished},
	{name: "data in", d: Reply, flags: fACK | fPSH, seq: 9001, ack: 1101, n: 100, want: TCPEstablished},
	{name: "ack in", d: Original, flags: fACK, seq: 1101, ack: 9101, want: TCPEstablished},
}

func thenSegs(segs ...rawSeg) []rawSeg { return append(append([]rawSeg(nil), handshake...), segs...) }

func TestTCPWindow(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
		segs []rawSeg
	}{
		{"handshake", Options{}, handshake},
		{"blind RST far below the window", Options{}, thenSegs(
			rawSeg{name: "rst", d: Reply, flags: fRST, seq: 9101 + 3000000000, wantInv: true, want: TCPEstablished},
			rawSeg{name: "data goes on", d: Reply, flags: fACK, seq: 9101, ack: 1101, n: 10, want: TCPEstablished})},
		{"blind RST above the window", Options{}, thenSegs(
			rawSeg{name: "rst", d: Reply, flags: fRST, seq: 9101 + 1000000, wantInv: true, want: TCPEstablished})},
		{"RST in the window but not at the next sequence: state kept (challenge ACK)", Options{}, thenSegs(
			rawSeg{name: "rst", d: Reply, flags: fRST, seq: 9101 + 1000, want: TCPEstablished})},
		{"RST at the next sequence closes", Options{}, thenSegs(
			rawSeg{name: "rst", d: Reply, flags: fRST, seq: 9101, want: TCPClose})},
		{"RST from inside at the next sequence closes", Options{}, thenSegs(
			rawSeg{name: "rst", d: Original, flags: fRST | fACK, seq: 1101, ack: 9101, want: TCPClose})},
		{"blind FIN", Options{}, thenSegs(
			rawSeg{name: "fin", d: Reply, flags: fFIN | fACK, seq: 9101 + 5000000, ack: 1101, wantInv: true, want: TCPEstablished})},
		{"ACK of data never sent", Options{}, thenSegs(
			rawSeg{name: "ack", d: Reply, flags: fACK, seq: 9101, ack: 1101 + 200000, wantInv: true, want: TCPEstablished})},
		{"retransmission inside the window", Options{}, thenSegs(
			rawSeg{name: "again", d: Original, flags: fACK | fPSH, seq: 1001, ack: 9101, n: 100, want: TCPEstablished})},
		{"refused: RST-ACK of the SYN", Options{}, []rawSeg{
			{name: "syn", d: Original, flags: fSYN, seq: 1000, want: TCPSynSent},
			{name: "rst", d: Reply, flags: fRST | fACK, seq: 0, ack: 1001, want: TCPClose}}},
		{"RST-ACK acknowledging another SYN", Options{}, []rawSeg{
			{name: "syn", d: Original, flags: fSYN, seq: 1000, want: TCPSynSent},
			{name: "rst", d: Reply, flags: fRST | fACK, seq: 0, ack: 777777, wantInv: true, want: TCPSynSent}}},
		{"simultaneous open", Options{}, []rawSeg{
			{name: "syn out", d: Original, flags: fSYN, seq: 1000, want: TCPSynSent},
			{name: "syn in", d: Reply, flags: fSYN, seq: 9000, want: TCPSynSent2},
			{name: "syn-ack out", d: Original, flags: fSYN | fACK, seq: 1000, ack: 9001, want: TCPSynRecv},
			{name: "syn-ack in", d: Reply, flags: fSYN | fACK, seq: 9000, ack: 1001, want: TCPSynRecv},
			{name: "ack out", d: Original, flags: fACK, seq: 1001, ack: 9001, want: TCPEstablished},
			{name: "data in", d: Reply, flags: fACK, seq: 9001, ack: 1001, n: 50, want: TCPEstablished}}},
		{"TIME_WAIT reused by a new SYN", Options{}, thenSegs(
			rawSeg{name: "fin out", d: Original, flags: fFIN | fACK, seq: 1101, ack: 9101, want: TCPFinWait},
			rawSeg{name: "fin in", d: Reply, flags: fFIN | fACK, seq: 9101, ack: 1102, want: TCPLastAck},
			rawSeg{name: "last ack", d: Original, flags: fACK, seq: 1102, ack: 9102, want: TCPTimeWait},
			rawSeg{name: "new syn", d: Original, flags: fSYN, seq: 500000, want: TCPSynSent},
			rawSeg{name: "new syn-ack", d: Reply, flags: fSYN | fACK, seq: 700000, ack: 500001, want: TCPSynRecv},
			rawSeg{name: "new ack", d: Original, flags: fACK, seq: 500001, ack: 700001, want: TCPEstablished})},
		{"loose pick-up", Options{}, []rawSeg{
			{name: "ack", d: Original, flags: fACK, seq: 5000, ack: 7000, n: 10, want: TCPEstablished},
			{name: "reply", d: Reply, flags: fACK, seq: 7000, ack: 5010, want: TCPEstablished}}},
		{"no loose pick-up", Options{NoTCPLoose: true}, []rawSeg{
			{name: "ack", d: Original, flags: fACK, seq: 5000, ack: 7000, wantInv: true}}},
		{"window scaling", Options{}, []rawSeg{
			{name: "syn", d: Original, flags: fSYN, seq: 1000, want: TCPSynSent},
			{name: "syn-ack", d: Reply, flags: fSYN | fACK, seq: 9000, ack: 1001, want: TCPSynRecv},
			{name: "ack", d: Original, flags: fACK, seq: 1001, ack: 9001, want: TCPEstablished},
			{name: "beyond an unscaled window", d: Original, flags: fACK, seq: 1001 + 70000, ack: 9001, wantInv: true, want: TCPEstablished}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSegs(t, tt.opt, tt.segs)
		})
	}
}
