package datapath

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// TestTap: a tap gets the frames of its ports both ways, filtered, cut to
// its snaplen; a full ring drops (counted) and never blocks forwarding;
// removing the tap closes Done.
func TestTap(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(10), nil)
	s.add("b", access(10), nil)
	s.add("c", access(10), nil)
	onlyB := func(f []byte) bool { return header.MAC(f[6:12]) == macB || header.MAC(f[0:6]) == macB }
	tap := NewTap([]port.ID{s.ids["a"], s.ids["b"]}, onlyB, 20, 4)
	s.dp.AddTap(tap)

	fb := udpFrame(t, macB, macA, 0, 10)
	s.ports["b"].Inject(fb) // b → a: in on b, out (flooded) on a
	s.expect("a")
	s.expect("c")
	var got []string
	for range 2 {
		select {
		case r := <-tap.Records():
			if r.Len != len(fb) || len(r.Data) != 20 || !bytes.Equal(r.Data, fb[:20]) || r.Time.IsZero() {
				t.Errorf("record %+v: want the frame's first 20 bytes and its length %d", r, len(fb))
			}
			got = append(got, fmt.Sprintf("%d %s", r.Port, r.Dir))
			tap.Release(r)
		case <-time.After(time.Second):
			t.Fatalf("tap got %v, want 2 records", got)
		}
	}
	want := []string{fmt.Sprintf("%d in", s.ids["b"]), fmt.Sprintf("%d out", s.ids["a"])}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	// The filter: a → c (no B) is not captured.
	a.Inject(udpFrame(t, macA, macC, 0, 10))
	s.expect("c")
	select {
	case r := <-tap.Records():
		t.Errorf("the filter let %x through", r.Data)
	case <-time.After(100 * time.Millisecond):
	}

	// Nobody reads: the ring (4) fills, the rest is dropped, and the
	// frames are still forwarded.
	for range 10 {
		s.ports["b"].Inject(udpFrame(t, macB, macA, 0, 10))
		s.expect("a")
	}
	if tap.Dropped() == 0 || tap.Matched() != 2+20 {
		t.Errorf("matched %d dropped %d, want 22 matched and drops", tap.Matched(), tap.Dropped())
	}
	s.dp.RemoveTap(tap)
	select {
	case <-tap.Done():
	default:
		t.Error("Done not closed after RemoveTap")
	}
}

// BenchmarkForwardCapture is BenchmarkForward's untagged single flow with a
// capture attached: of another port (the cost of having any tap), and of
// the forwarding ports with a ring nobody drains (a stalled reader: every
// frame matched and dropped) or one drained as fast as it fills.
func BenchmarkForwardCapture(b *testing.B) {
	for _, tc := range []string{"off", "other-port", "stalled", "drained"} {
		b.Run(tc, func(b *testing.B) {
			w, _, done := benchWorker(b, 1, access(10))
			defer done()
			var tap *Tap
			switch tc {
			case "other-port":
				tap = NewTap([]port.ID{port.ID(99)}, nil, 0, 0)
			case "stalled", "drained":
				tap = NewTap([]port.ID{1, 2}, nil, 0, 0)
			}
			if tap != nil {
				w.dp.AddTap(tap)
				defer w.dp.RemoveTap(tap)
			}
			stop := make(chan struct{})
			defer close(stop)
			if tc == "drained" {
				go func() {
					for {
						select {
						case r := <-tap.Records():
							tap.Release(r)
						case <-stop:
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			for b.Loop() {
				w.batch(len(w.bufs))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(w.bufs)), "ns/frame")
		})
	}
}
