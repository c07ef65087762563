package nat

import (
	"encoding/json"
	"os"
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
	gone     bool // the segment ends the connection at once (want unused)
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
		if s.gone {
			if es := tb.Entries(sec(float64(i + 1))); len(es) != 0 {
				t.Errorf("%s: %d connections listed, want the connection gone", s.name, len(es))
			}
		} else if st := c.TCPState(); st != s.want {
			t.Errorf("%s: state %v, want %v", s.name, st, s.want)
		}
	}
	return c
}

// tcpSequences is the table of segment sequences and, after each
// segment, whether Linux's conntrack (nf_conntrack_proto_tcp, with
// nf_conntrack_tcp_be_liberal=0) finds it invalid and the state it leaves:
// testdata/tcp_sequences.json, which TestPrivilegedKernelTCPTracking in
// package test replays through a kernel namespace to check that it is the
// kernel's behaviour.
type tcpSequence struct {
	Name    string `json:"name"`
	NoLoose bool   `json:"no_loose"` // nf_conntrack_tcp_loose=0
	Segs    []struct {
		Name    string `json:"name"`
		Dir     string `json:"dir"`   // original or reply
		Flags   string `json:"flags"` // S, A, F, R, P, as tcpdump prints them
		Seq     uint32 `json:"seq"`
		Ack     uint32 `json:"ack"`
		Len     int    `json:"len"`
		Win     uint16 `json:"win"` // 0: 64240
		Invalid bool   `json:"invalid"`
		State   string `json:"state"` // "" when no connection is tracked
	} `json:"segs"`
}

func loadTCPSequences(t *testing.T) []tcpSequence {
	t.Helper()
	b, err := os.ReadFile("testdata/tcp_sequences.json")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []tcpSequence
	if err := json.Unmarshal(b, &seqs); err != nil {
		t.Fatalf("testdata/tcp_sequences.json: %v", err)
	}
	return seqs
}

func TestTCPWindow(t *testing.T) {
	flagBits := map[rune]uint8{'S': fSYN, 'A': fACK, 'F': fFIN, 'R': fRST, 'P': fPSH}
	states := map[string]TCPState{}
	for s := range numTCPStates {
		states[s.String()] = s
	}
	for _, sq := range loadTCPSequences(t) {
		t.Run(sq.Name, func(t *testing.T) {
			var segs []rawSeg
			for i, g := range sq.Segs {
				r := rawSeg{name: g.Name, seq: g.Seq, ack: g.Ack, n: g.Len, win: g.Win, wantInv: g.Invalid}
				if g.Dir == "reply" {
					r.d = Reply
				} else if g.Dir != "original" {
					t.Fatalf("%s: dir %q", g.Name, g.Dir)
				}
				for _, c := range g.Flags {
					if flagBits[c] == 0 {
						t.Fatalf("%s: flag %q", g.Name, c)
					}
					r.flags |= flagBits[c]
				}
				r.gone = g.State == "" && i > 0
				if g.State != "" {
					st, ok := states[g.State]
					if !ok {
						t.Fatalf("%s: state %q", g.Name, g.State)
					}
					r.want = st
				}
				segs = append(segs, r)
			}
			runSegs(t, Options{NoTCPLoose: sq.NoLoose}, segs)
		})
	}
}
