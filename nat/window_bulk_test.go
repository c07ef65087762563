package nat

import (
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// TestTCPWindowScaledBulk: a bulk transfer from the reply side with
// window scaling on both SYNs (the case Linux's tcp_new/tcp_in_window
// split exists for) stays in the window: every segment and ACK passes.
func TestTCPWindowScaledBulk(t *testing.T) {
	tb := New(Options{})
	ws := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	mk := func(d Dir, flags uint8, seq, ack uint32, win uint16, n int, opts []byte) ([]byte, *header.Parsed) {
		src, dst := ap(inner1, 40000), ap(server, 443)
		if d == Reply {
			src, dst = ap(server, 443), ap(uplink, 40000)
		}
		f := testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: src, Dst: dst, Proto: header.ProtoTCP, ID: 1,
			TCP: testframe.TCP{Flags: flags, Seq: seq, Ack: ack, Window: win, Options: opts}, Payload: make([]byte, n)}.Frame(t)
		return f, decode(t, f)
	}
	f, p := mk(Original, fSYN, 1000, 0, 64240, 0, ws)
	c, _ := tb.Create(zoneNet, zoneUplink, p, masq(), 0)
	if tb.Apply(f, p, c, Original, false, 0) != VerdictAccept {
		t.Fatal("syn")
	}
	f, p = mk(Reply, fSYN|fACK, 9000, 1001, 65160, 0, ws)
	if tb.Apply(f, p, c, Reply, false, 0) != VerdictAccept {
		t.Fatal("synack")
	}
	f, p = mk(Original, fACK, 1001, 9001, 502, 0, nil)
	if tb.Apply(f, p, c, Original, false, 0) != VerdictAccept {
		t.Fatal("ack")
	}
	seq := uint32(9001)
	win := uint16(502)
	for i := 0; i < 2000; i++ {
		f, p = mk(Reply, fACK, seq, 1001, 509, 1248, nil)
		if v := tb.Apply(f, p, c, Reply, false, 0); v != VerdictAccept {
			t.Fatalf("data %d: %+v", i, c.tcp.seen)
		}
		seq += 1248
		if i%2 == 1 {
			if win < 3000 {
				win += 20
			}
			f, p = mk(Original, fACK, 1001, seq, win, 0, nil)
			if v := tb.Apply(f, p, c, Original, false, 0); v != VerdictAccept {
				t.Fatalf("ack %d: %+v", i, c.tcp.seen)
			}
		}
	}
}
