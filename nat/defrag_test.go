package nat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// datagram returns a UDP datagram (as a frame) with n payload bytes.
func datagram(t testing.TB, id uint16, n int) []byte {
	t.Helper()
	pl := make([]byte, n)
	for i := range pl {
		pl[i] = byte(i*7 + int(id))
	}
	return testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB}, Src: ap(inner1, 5000), Dst: ap(server, 53),
		Proto: header.ProtoUDP, ID: id, Payload: pl}.Frame(t)
}

// cut returns the fragment of frame (one unfragmented IPv4 datagram with a
// 20-byte header) holding payload bytes [off, end).
func cut(frame []byte, off, end int) []byte {
	const l3 = header.EthernetLen
	ip := header.IPv4(frame[l3:])
	total := int(ip.TotalLength()) - header.IPv4MinLen
	f := append([]byte(nil), frame[:l3+header.IPv4MinLen]...)
	f = append(f, frame[l3+header.IPv4MinLen+off:l3+header.IPv4MinLen+end]...)
	fip := header.IPv4(f[l3:])
	fip.SetTotalLength(uint16(header.IPv4MinLen + end - off))
	w := uint16(off / 8)
	if end < total {
		w |= header.IPv4FlagMF
	}
	binary.BigEndian.PutUint16(f[l3+6:], w)
	fip.SetChecksum(0)
	fip.SetChecksum(fip.CalculateChecksum())
	return f
}

// pieces cuts frame into fragments of size bytes of payload (a multiple
// of 8).
func pieces(frame []byte, size int) [][]byte {
	total := int(header.IPv4(frame[header.EthernetLen:]).TotalLength()) - header.IPv4MinLen
	var out [][]byte
	for off := 0; off < total; off += size {
		out = append(out, cut(frame, off, min(off+size, total)))
	}
	return out
}

func addAll(t *testing.T, d *Defrag, frags [][]byte, now int64) (Datagram, DefragResult) {
	t.Helper()
	var g Datagram
	var r DefragResult
	for _, f := range frags {
		g, r = d.Add(zoneNet, f, decode(t, f), now)
	}
	return g, r
}

func TestDefragOrders(t *testing.T) {
	whole := datagram(t, 7, 8000)
	frags := pieces(whole, 1480)
	orders := map[string][][]byte{
		"in order":   frags,
		"reverse":    {frags[5], frags[4], frags[3], frags[2], frags[1], frags[0]},
		"first last": {frags[1], frags[2], frags[3], frags[4], frags[5], frags[0]},
		"shuffled":   {frags[3], frags[0], frags[5], frags[1], frags[4], frags[2]},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			d := NewDefrag(DefragOptions{})
			for i, f := range order[:len(order)-1] {
				if _, r := d.Add(zoneNet, f, decode(t, f), 0); r != FragHeld {
					t.Fatalf("fragment %d: %v, want held", i, r)
				}
			}
			g, r := addAll(t, d, order[len(order)-1:], 0)
			if r != FragComplete {
				t.Fatalf("last fragment: %v, want complete", r)
			}
			if g.MaxFragment() != 1500 {
				t.Errorf("MaxFragment = %d, want 1500", g.MaxFragment())
			}
			out := make([]byte, g.Len())
			if n := g.Assemble(out); !bytes.Equal(out[:n], whole) {
				t.Errorf("reassembled datagram differs:\n got %x\nwant %x", out[:min(n, 64)], whole[:64])
			}
			if st := d.Stats(); st.Reassembled != 1 || st.Queues != 0 || st.Bytes != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestDefragOverlapAndDuplicate(t *testing.T) {
	whole := datagram(t, 8, 3000)
	d := NewDefrag(DefragOptions{})
	a, b := cut(whole, 0, 1600), cut(whole, 1600, 3000)
	if _, r := d.Add(zoneNet, a, decode(t, a), 0); r != FragHeld {
		t.Fatal(r)
	}
	if _, r := d.Add(zoneNet, a, decode(t, a), 0); r != FragDuplicate {
		t.Fatalf("repeat: %v, want duplicate", r)
	}
	over := cut(whole, 1592, 3000) // 8 bytes over the first
	if _, r := d.Add(zoneNet, over, decode(t, over), 0); r != FragOverlap {
		t.Fatalf("overlap: %v", r)
	}
	// The datagram is gone: the rest alone does not complete it.
	if _, r := d.Add(zoneNet, b, decode(t, b), 0); r != FragHeld {
		t.Fatalf("after an overlap: %v, want held (a new, incomplete datagram)", r)
	}
	if st := d.Stats(); st.Overlaps != 1 || st.Duplicates != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDefragInvalid(t *testing.T) {
	whole := datagram(t, 9, 3000)
	for name, f := range map[string][]byte{
		"length not a multiple of 8": cut(whole, 0, 1001),
	} {
		d := NewDefrag(DefragOptions{})
		if _, r := d.Add(zoneNet, f, decode(t, f), 0); r != FragInvalid {
			t.Errorf("%s: %v, want invalid", name, r)
		}
	}
	d := NewDefrag(DefragOptions{})
	last := cut(whole, 1600, 3008)
	d.Add(zoneNet, last, decode(t, last), 0)
	past := cut(datagram(t, 9, 4000), 3008, 3200) // beyond the known end
	if _, r := d.Add(zoneNet, past, decode(t, past), 0); r != FragInvalid {
		t.Errorf("fragment past the last: %v", r)
	}
}

func TestDefragBudgetAndTimeout(t *testing.T) {
	const budget = 64 << 10
	d := NewDefrag(DefragOptions{Budget: budget, Timeout: 30 * time.Second})
	// A flood of first fragments that never complete.
	for id := range 500 {
		f := cut(datagram(t, uint16(id), 3000), 0, 1480)
		d.Add(zoneNet, f, decode(t, f), 0)
		if b := d.ZoneBytes(zoneNet); b > budget {
			t.Fatalf("zone holds %d bytes, budget %d", b, budget)
		}
	}
	st := d.Stats()
	if st.Evicted == 0 || st.Bytes > budget {
		t.Errorf("after the flood: %+v", st)
	}
	// A complete datagram still gets through, and another zone is not
	// affected.
	whole := datagram(t, 60000, 8000)
	if _, r := addAll(t, d, pieces(whole, 1480), sec(1)); r != FragComplete {
		t.Errorf("datagram during a flood: %v", r)
	}
	f := cut(datagram(t, 1, 3000), 0, 1480)
	d.Add(zoneUplink, f, decode(t, f), sec(1))
	if d.ZoneBytes(zoneUplink) == 0 {
		t.Error("the other zone holds nothing")
	}
	if n := d.Expire(sec(29)); n != 0 {
		t.Errorf("Expire before the timeout dropped %d", n)
	}
	if n := d.Expire(sec(30.5)); n == 0 || d.Stats().Queues != 1 {
		t.Errorf("Expire at the timeout dropped %d, %d left", n, d.Stats().Queues)
	}
	d.Expire(sec(40))
	if st := d.Stats(); st.Queues != 0 || st.Bytes != 0 {
		t.Errorf("after expiry: %+v", st)
	}
}

// FuzzDefrag cuts a datagram into fragments at fuzzed offsets (overlaps
// and gaps included) and feeds them in a fuzzed order: Add never panics,
// never exceeds the budget, and a datagram it completes from fragments
// that neither overlap nor repeat is the original.
func FuzzDefrag(f *testing.F) {
	f.Add(uint16(3000), []byte{0, 1, 2, 3}, uint64(1))
	f.Add(uint16(65000), []byte{9, 200, 4, 4, 17}, uint64(7))
	f.Add(uint16(100), []byte{}, uint64(3))
	f.Fuzz(func(t *testing.T, size uint16, cuts []byte, seed uint64) {
		whole := datagram(t, 3, int(size)%65000+1)
		n := len(whole) - header.EthernetLen - header.IPv4MinLen // the IPv4 payload: UDP header and data
		// Offsets: multiples of 8 from the fuzz bytes; each fragment
		// ends at the next cut or, from a byte with the top bit set,
		// 8 bytes past it (an overlap).
		var frags [][]byte
		off := 0
		for i, c := range cuts {
			if off >= n || i > 200 {
				break
			}
			step := (int(c&0x7f) + 1) * 8 * 4
			end := min(off+step, n)
			if end < n {
				end -= end % 8
			}
			if end <= off {
				break
			}
			frags = append(frags, cut(whole, off, end))
			off = end
			if c&0x80 != 0 && off >= 8 && off < n {
				off -= 8 // the next fragment overlaps this one
			}
		}
		if off < n {
			frags = append(frags, cut(whole, off, n))
		}
		r := rand.New(rand.NewPCG(seed, seed))
		r.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
		// A budget from 4 KiB (smaller than many datagrams) to 256 KiB
		// (larger than any).
		budget := 4<<10 + int(seed%64)<<12
		d := NewDefrag(DefragOptions{Budget: budget})
		completed := 0
		for _, fr := range frags {
			var p header.Parsed
			if p.Decode(fr) != nil && !p.L3Valid {
				continue
			}
			g, res := d.Add(zoneNet, fr, &p, 0)
			if zb := d.ZoneBytes(zoneNet); zb > d.Budget() || uint64(zb) != d.Stats().Bytes {
				t.Fatalf("zone holds %d bytes (stats %d), budget %d", zb, d.Stats().Bytes, d.Budget())
			}
			if res == FragComplete {
				completed++
				out := make([]byte, g.Len())
				m := g.Assemble(out)
				if st := d.Stats(); st.Overlaps == 0 && st.Duplicates == 0 && !bytes.Equal(out[:m], whole) {
					t.Fatalf("reassembled %d bytes differ from the %d-byte original", m, len(whole))
				}
			}
		}
		// Without overlaps, and with room for it, the datagram is
		// complete once, whatever the order; otherwise it never is.
		st := d.Stats()
		room := len(whole)+len(frags)*fragOverhead <= budget
		if want := st.Overlaps == 0 && st.Invalid == 0 && room; (completed == 1) != want || completed > 1 {
			t.Fatalf("%d fragments in any order, budget %d: completed %d times; stats %+v", len(frags), budget, completed, st)
		}
		if completed == 1 && (st.Queues != 0 || st.Bytes != 0) {
			t.Fatalf("after completion: %+v, want nothing held", st)
		}
	})
}
