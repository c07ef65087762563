package bridge

import (
	"errors"
	"strconv"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/vlan"
)

// host returns a locally administered unicast MAC ending in n.
func host(n byte) header.MAC { return header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, n} }

var (
	hostA = host(0xa)
	hostB = host(0xb)
	hostC = host(0xc)
	hostD = host(0xd)
	mcast = header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
)

func sec(n int) int64 { return int64(n) * int64(time.Second) }

// A step is one call on a table and its expected result.
type step interface {
	run(t *testing.T, tb *Table)
}

type learn struct {
	vid  vlan.ID
	mac  header.MAC
	port port.ID
	now  int64
	want Event
}

func (s learn) run(t *testing.T, tb *Table) {
	t.Helper()
	if got := tb.Learn(s.vid, s.mac, s.port, s.now); got != s.want {
		t.Errorf("Learn(%d, %v, %d, %d) = %v, want %v", s.vid, s.mac, s.port, s.now, got, s.want)
	}
}

type lookup struct {
	vid      vlan.ID
	mac      header.MAC
	now      int64
	wantPort port.ID
	wantOK   bool
}

func (s lookup) run(t *testing.T, tb *Table) {
	t.Helper()
	port, ok := tb.Lookup(s.vid, s.mac, s.now)
	if port != s.wantPort || ok != s.wantOK {
		t.Errorf("Lookup(%d, %v, %d) = %d, %v, want %d, %v", s.vid, s.mac, s.now, port, ok, s.wantPort, s.wantOK)
	}
}

// found and absent build lookups.
func found(vid vlan.ID, mac header.MAC, now int64, port port.ID) lookup {
	return lookup{vid, mac, now, port, true}
}

func absent(vid vlan.ID, mac header.MAC, now int64) lookup {
	return lookup{vid, mac, now, port.None, false}
}

type forward struct {
	vid      vlan.ID
	src, dst header.MAC
	in       port.ID
	now      int64
	wantOut  port.ID
	wantD    Decision
}

func (s forward) run(t *testing.T, tb *Table) {
	t.Helper()
	out, d := tb.Forward(s.vid, s.src, s.dst, s.in, s.now)
	if out != s.wantOut || d != s.wantD {
		t.Errorf("Forward(%d, %v, %v, %d, %d) = %d, %v, want %d, %v", s.vid, s.src, s.dst, s.in, s.now, out, d, s.wantOut, s.wantD)
	}
}

type addStatic struct {
	vid     vlan.ID
	mac     header.MAC
	port    port.ID
	wantErr error
}

func (s addStatic) run(t *testing.T, tb *Table) {
	t.Helper()
	if err := tb.AddStatic(s.vid, s.mac, s.port); !errors.Is(err, s.wantErr) {
		t.Errorf("AddStatic(%d, %v, %d) = %v, want %v", s.vid, s.mac, s.port, err, s.wantErr)
	}
}

type del struct {
	vid  vlan.ID
	mac  header.MAC
	want bool
}

func (s del) run(t *testing.T, tb *Table) {
	t.Helper()
	if got := tb.Delete(s.vid, s.mac); got != s.want {
		t.Errorf("Delete(%d, %v) = %v, want %v", s.vid, s.mac, got, s.want)
	}
}

// count is a call returning a number of entries: Flush, FlushPort,
// FlushVLAN, RemovePort, Age or Len.
type count struct {
	name string
	f    func(*Table) int
	want int
}

func (s count) run(t *testing.T, tb *Table) {
	t.Helper()
	if got := s.f(tb); got != s.want {
		t.Errorf("%s = %d, want %d", s.name, got, s.want)
	}
}

func flush(want int) count { return count{"Flush()", (*Table).Flush, want} }
func flushPort(port port.ID, want int) count {
	return count{"FlushPort(" + itoa(int(port)) + ")", func(tb *Table) int { return tb.FlushPort(port) }, want}
}
func flushVLAN(vid vlan.ID, want int) count {
	return count{"FlushVLAN(" + itoa(int(vid)) + ")", func(tb *Table) int { return tb.FlushVLAN(vid) }, want}
}
func removePort(port port.ID, want int) count {
	return count{"RemovePort(" + itoa(int(port)) + ")", func(tb *Table) int { return tb.RemovePort(port) }, want}
}
func age(now int64, want int) count {
	return count{"Age(" + itoa(int(now)) + ")", func(tb *Table) int { return tb.Age(now) }, want}
}
func length(want int) count { return count{"Len()", (*Table).Len, want} }

func itoa(n int) string { return strconv.Itoa(n) }

type entries struct {
	now  int64
	want []Entry
}

func (s entries) run(t *testing.T, tb *Table) {
	t.Helper()
	if diff := gocmp.Diff(s.want, tb.Entries(s.now)); diff != "" {
		t.Errorf("Entries(%d) mismatch (-want +got):\n%s", s.now, diff)
	}
}

type stats struct{ want Stats }

func (s stats) run(t *testing.T, tb *Table) {
	t.Helper()
	if diff := gocmp.Diff(s.want, tb.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestTable(t *testing.T) {
	aging := Options{AgingTime: 300 * time.Second}
	tests := []struct {
		name  string
		opt   Options
		steps []step
	}{{
		name: "learn and lookup",
		steps: []step{
			absent(1, hostA, 0),
			learn{1, hostA, 3, 0, EventLearned},
			found(1, hostA, 0, 3),
			learn{1, hostA, 3, sec(1), EventNone},
			absent(2, hostA, sec(1)), // another VLAN
			absent(1, hostB, sec(1)),
			length(1),
		},
	}, {
		name: "same MAC in two VLANs",
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{2, hostA, 2, 0, EventLearned},
			found(1, hostA, 0, 1),
			found(2, hostA, 0, 2),
			entries{0, []Entry{{VID: 1, MAC: hostA, Port: 1}, {VID: 2, MAC: hostA, Port: 2}}},
		},
	}, {
		name: "move",
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostA, 2, sec(1), EventMoved},
			found(1, hostA, sec(1), 2),
			learn{1, hostA, 2, sec(2), EventNone},
			stats{Stats{Entries: 1, Learned: 1, Moved: 1}},
		},
	}, {
		name: "multicast, broadcast, zero and port.None never learned",
		steps: []step{
			learn{1, mcast, 1, 0, EventIgnored},
			learn{1, header.Broadcast, 1, 0, EventIgnored},
			learn{1, header.MAC{}, 1, 0, EventIgnored},
			learn{1, hostA, port.None, 0, EventIgnored},
			absent(1, mcast, 0),
			absent(1, header.Broadcast, 0),
			absent(1, header.MAC{}, 0),
			absent(1, hostA, 0),
			length(0),
			// VLAN 0 and the zero MAC make key 0, which marks empty slots.
			learn{0, hostA, 1, 0, EventLearned},
			absent(0, header.MAC{}, 0),
			del{0, header.MAC{}, false},
			length(1),
		},
	}, {
		name: "aging with injected time",
		opt:  aging,
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			found(1, hostA, sec(299), 1),
			absent(1, hostA, sec(300)),
			entries{sec(300), []Entry{}},
			length(1), // expired but not yet swept
			learn{1, hostA, 1, sec(301), EventLearned},
			stats{Stats{Entries: 1, Learned: 2, Expired: 1}},
		},
	}, {
		name: "frames keep an entry alive",
		opt:  aging,
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostA, 1, sec(200), EventNone},
			found(1, hostA, sec(499), 1),
			absent(1, hostA, sec(500)),
		},
	}, {
		name: "last-seen time is refreshed once per refresh interval",
		opt:  aging, // refresh interval 1 s
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostA, 1, sec(1) - 1, EventNone}, // too soon: not recorded
			absent(1, hostA, sec(300)),
			learn{1, hostA, 1, sec(300), EventLearned},
			learn{1, hostA, 1, sec(301), EventNone}, // recorded
			found(1, hostA, sec(600), 1),
			absent(1, hostA, sec(601)),
		},
	}, {
		name: "negative and sub-millisecond times",
		opt:  aging,
		steps: []step{
			// Last-seen times are floored to the millisecond: -1.5 ms
			// is kept as -2 ms.
			learn{1, hostA, 1, -1_500_000, EventLearned},
			entries{0, []Entry{{VID: 1, MAC: hostA, Port: 1, Age: 2 * time.Millisecond}}},
			found(1, hostA, sec(300)-2_000_001, 1),
			absent(1, hostA, sec(300)-2_000_000),
		},
	}, {
		name: "an older time does not turn the clock back",
		opt:  aging,
		steps: []step{
			learn{1, hostA, 1, sec(100), EventLearned},
			learn{1, hostA, 1, sec(50), EventNone},
			found(1, hostA, sec(399), 1),
		},
	}, {
		name: "Age sweeps expired entries",
		opt:  aging,
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostB, 1, sec(100), EventLearned},
			addStatic{1, hostC, 2, nil},
			age(sec(299), 0),
			age(sec(300), 1),
			length(2),
			entries{sec(300), []Entry{
				{VID: 1, MAC: hostB, Port: 1, Age: 200 * time.Second},
				{VID: 1, MAC: hostC, Port: 2, Static: true},
			}},
			age(sec(400), 1),
			stats{Stats{Entries: 1, Learned: 2, Expired: 2}},
		},
	}, {
		name: "never age",
		opt:  Options{AgingTime: -1},
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			found(1, hostA, sec(1e9), 1),
			age(sec(1e9), 0),
		},
	}, {
		name: "static entries",
		opt:  aging,
		steps: []step{
			addStatic{1, hostA, 5, nil},
			learn{1, hostA, 1, 0, EventStatic}, // does not move
			learn{1, hostA, 5, 0, EventStatic},
			found(1, hostA, sec(1e6), 5), // never ages
			age(sec(1e6), 0),
			flush(0),
			flushPort(5, 0),
			addStatic{1, hostA, 6, nil}, // replaces the static entry
			found(1, hostA, 0, 6),
			del{1, hostA, true},
			del{1, hostA, false},
			absent(1, hostA, 0),
			stats{Stats{}},
		},
	}, {
		name: "static replaces dynamic",
		opt:  Options{PortLimit: 1},
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostB, 1, 0, EventLimited},
			addStatic{1, hostA, 2, nil},
			found(1, hostA, 0, 2),
			learn{1, hostB, 1, 0, EventLearned}, // statics don't count
			entries{0, []Entry{{VID: 1, MAC: hostA, Port: 2, Static: true}, {VID: 1, MAC: hostB, Port: 1}}},
		},
	}, {
		name: "invalid static entries",
		steps: []step{
			addStatic{1, mcast, 1, ErrInvalidMAC},
			addStatic{1, header.Broadcast, 1, ErrInvalidMAC},
			addStatic{1, header.MAC{}, 1, ErrInvalidMAC},
			addStatic{1, hostA, port.None, ErrInvalidPort},
			length(0),
		},
	}, {
		name: "flush variants",
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostB, 2, 0, EventLearned},
			learn{2, hostC, 1, 0, EventLearned},
			learn{2, hostD, 2, 0, EventLearned},
			addStatic{1, hostD, 1, nil},
			flushPort(1, 2), // hostA and hostC, not the static hostD
			found(1, hostD, 0, 1),
			found(1, hostB, 0, 2),
			flushVLAN(2, 1), // hostD in VLAN 2
			found(1, hostB, 0, 2),
			learn{1, hostA, 1, 0, EventLearned},
			flush(2),
			length(1),
			removePort(1, 1), // the static entry too
			length(0),
		},
	}, {
		name: "delete",
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			del{2, hostA, false},
			del{1, hostA, true},
			absent(1, hostA, 0),
			learn{1, hostA, 1, 0, EventLearned},
		},
	}, {
		name: "per-port limit",
		opt:  Options{PortLimit: 2, AgingTime: 300 * time.Second},
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostB, 1, 0, EventLearned},
			learn{1, hostC, 1, 0, EventLimited},
			learn{2, hostC, 1, 0, EventLimited}, // the limit spans VLANs
			absent(1, hostC, 0),
			learn{1, hostC, 2, 0, EventLearned}, // other ports are not limited
			// A frame from the unlearned host still goes out.
			forward{1, hostD, hostC, 1, 0, 2, DecisionForward},
			learn{1, hostA, 1, sec(1), EventNone}, // known hosts refresh
			// Once hostB has expired its place is free.
			learn{1, hostD, 1, sec(300), EventLearned},
			absent(1, hostB, sec(300)),
			found(1, hostA, sec(300), 1),
			stats{Stats{Entries: 3, Learned: 4, Expired: 1, Limited: 3}},
		},
	}, {
		name: "move to a port at its limit",
		opt:  Options{PortLimit: 1},
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			learn{1, hostB, 2, 0, EventLearned},
			learn{1, hostB, 1, 0, EventLimited},
			absent(1, hostB, 0), // the stale entry on port 2 is gone
			stats{Stats{Entries: 1, Learned: 2, Limited: 1}},
		},
	}, {
		name: "capacity evicts the LRU entry of the busiest port",
		opt:  Options{Capacity: 4, PortLimit: -1},
		steps: []step{
			learn{1, hostA, 1, sec(1), EventLearned},
			learn{1, hostB, 1, sec(0), EventLearned}, // older time: least recently seen
			learn{1, hostC, 1, sec(2), EventLearned},
			learn{1, host(1), 2, sec(0), EventLearned},
			learn{1, hostD, 3, sec(3), EventEvicted},
			absent(1, hostB, sec(3)),
			found(1, host(1), sec(3), 2), // older, but on a quieter port
			learn{1, hostA, 1, sec(4), EventNone},
			// Port 1 holds A and C, still the most; C is now its oldest.
			learn{1, host(2), 2, sec(4), EventEvicted},
			absent(1, hostC, sec(4)),
			stats{Stats{Entries: 4, Learned: 6, Evicted: 2}},
		},
	}, {
		name: "eviction ties: lowest port, then lowest VID and MAC",
		opt:  Options{Capacity: 4, PortLimit: -1},
		steps: []step{
			learn{2, hostB, 7, 0, EventLearned},
			learn{2, hostA, 7, 0, EventLearned},
			learn{1, hostC, 3, 0, EventLearned},
			learn{1, hostD, 3, 0, EventLearned},
			learn{1, host(1), 9, 0, EventEvicted}, // port 3 before 7; C before D
			absent(1, hostC, 0),
			learn{1, host(2), 9, 0, EventEvicted}, // port 7 (2 entries); VLAN 2 A before B
			absent(2, hostA, 0),
			found(2, hostB, 0, 7),
		},
	}, {
		name: "capacity reclaims an expired entry before evicting",
		opt:  Options{Capacity: 2, PortLimit: -1, AgingTime: 10 * time.Second},
		steps: []step{
			learn{1, hostA, 1, sec(5), EventLearned},
			learn{1, hostB, 1, sec(0), EventLearned},
			learn{1, hostC, 2, sec(10), EventLearned}, // B expired: reclaimed
			stats{Stats{Entries: 2, Learned: 3, Expired: 1}},
			learn{1, hostD, 2, sec(11), EventEvicted},
			absent(1, hostA, sec(11)), // ports tie at 1 entry; port 1 is lower
			found(1, hostC, sec(11), 2),
		},
	}, {
		name: "forward decisions",
		steps: []step{
			forward{1, hostA, header.Broadcast, 1, 0, port.None, DecisionFlood},
			forward{1, hostA, mcast, 1, 0, port.None, DecisionFlood},
			forward{1, hostA, hostB, 1, 0, port.None, DecisionFlood}, // unknown unicast
			found(1, hostA, 0, 1), // learned from the frame
			forward{1, hostB, hostA, 2, 0, 1, DecisionForward},
			forward{1, hostA, hostB, 1, 0, 2, DecisionForward},
			forward{2, hostA, hostB, 1, 0, port.None, DecisionFlood}, // other VLAN
			forward{1, hostC, hostA, 1, 0, port.None, DecisionDrop},  // A is on the ingress port
			forward{1, hostA, hostA, 1, 0, port.None, DecisionDrop},
		},
	}, {
		name: "forward to a static entry",
		steps: []step{
			addStatic{1, hostA, 4, nil},
			forward{1, hostA, hostA, 1, 0, 4, DecisionForward}, // spoofed source doesn't move it
			forward{1, hostB, hostA, 4, 0, port.None, DecisionDrop},
		},
	}, {
		name: "forward ignores expired entries",
		opt:  aging,
		steps: []step{
			learn{1, hostA, 1, 0, EventLearned},
			forward{1, hostB, hostA, 2, sec(299), 1, DecisionForward},
			forward{1, hostB, hostA, 2, sec(300), port.None, DecisionFlood},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, shardBits := range []int{0, defaultShardBits} {
				tb := newTable(tt.opt, shardBits)
				for _, s := range tt.steps {
					s.run(t, tb)
				}
				checkInvariants(t, tb)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tb := New(Options{})
	if tb.capacity != DefaultCapacity || tb.portLimit != DefaultPortLimit || tb.aging != int64(DefaultAgingTime) {
		t.Errorf("New(Options{}) = capacity %d, limit %d, aging %v; want %d, %d, %v",
			tb.capacity, tb.portLimit, time.Duration(tb.aging), DefaultCapacity, DefaultPortLimit, DefaultAgingTime)
	}
}

func TestRefreshInterval(t *testing.T) {
	tests := []struct {
		aging time.Duration
		want  time.Duration
	}{
		{0, time.Second}, // DefaultAgingTime
		{2 * time.Second, 250 * time.Millisecond},
		{-1, time.Second}, // never age
		{4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.aging.String(), func(t *testing.T) {
			if got := New(Options{AgingTime: tt.aging}).RefreshInterval(); got != tt.want {
				t.Errorf("New(Options{AgingTime: %v}).RefreshInterval() = %v, want %v", tt.aging, got, tt.want)
			}
		})
	}
}

// TestGrowShrink fills one shard far past its first size and empties it
// again, checking the structure at every stage.
func TestGrowShrink(t *testing.T) {
	tb := newTable(Options{PortLimit: -1}, 0)
	const n = 5000
	for i := range n {
		m := header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		if got := tb.Learn(vlan.ID(i%3), m, port.ID(i%7), 0); got != EventLearned {
			t.Fatalf("Learn(%d, %v, %d, 0) = %v, want %v", i%3, m, i%7, got, EventLearned)
		}
	}
	checkInvariants(t, tb)
	if got := tb.FlushPort(0); got != (n+6)/7 {
		t.Errorf("FlushPort(0) = %d, want %d", got, (n+6)/7)
	}
	checkInvariants(t, tb)
	for i := range n {
		m := header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		if i%7 != 0 && !tb.Delete(vlan.ID(i%3), m) {
			t.Fatalf("Delete(%d, %v) = false, want true", i%3, m)
		}
	}
	checkInvariants(t, tb)
	if got := tb.Flush(); got != 0 {
		t.Errorf("Flush() = %d, want 0", got)
	}
	if got := len(tb.shards[0].arr.Load().slots); got > 64 {
		t.Errorf("after emptying, the shard has %d slots, want it shrunk", got)
	}
}

func TestEventString(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"EventMoved", EventMoved.String(), "moved"},
		{"EventIgnored", EventIgnored.String(), "ignored"},
		{"Event(99)", Event(99).String(), "Event(99)"},
		{"DecisionDrop", DecisionDrop.String(), "drop"},
		{"Decision(9)", Decision(9).String(), "Decision(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("String() = %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestCapacityCountsStatic: Capacity bounds every entry, static ones
// included, as Len and Stats report them (a gateway's static MAC once let
// the table hold Capacity+1 entries); a table full of static entries
// learns nothing and refuses another static one.
func TestCapacityCountsStatic(t *testing.T) {
	tb := New(Options{Capacity: 3, PortLimit: -1})
	gw := header.MAC{0x02, 0x76, 0x73, 0, 0, 1}
	if err := tb.AddStatic(1, gw, 9); err != nil {
		t.Fatal(err)
	}
	now := int64(0)
	for i := range 10 {
		now += int64(time.Second)
		tb.Learn(1, header.MAC{0x02, 0x42, 0, 0, 0, byte(i)}, port.ID(1+i%2), now)
		if n := tb.Len(); n > 3 {
			t.Fatalf("after learning %d MACs: Len() = %d, want ≤ capacity 3", i+1, n)
		}
	}
	if s := tb.Stats(); s.Entries != 3 || s.Evicted == 0 {
		t.Errorf("Stats() = %+v, want 3 entries and evictions", s)
	}
	// Static entries take the places of dynamic ones, then nothing fits.
	for i := range 2 {
		if err := tb.AddStatic(1, header.MAC{0x02, 0x76, 0x73, 0, 1, byte(i)}, 9); err != nil {
			t.Fatalf("AddStatic into a table with dynamic entries: %v", err)
		}
	}
	if err := tb.AddStatic(1, header.MAC{0x02, 0x76, 0x73, 0, 2, 0}, 9); !errors.Is(err, ErrFull) {
		t.Errorf("AddStatic into a table full of static entries = %v, want ErrFull", err)
	}
	if ev := tb.Learn(1, header.MAC{0x02, 0x42, 0, 0, 1, 0}, 1, now); ev != EventLimited || tb.Len() != 3 {
		t.Errorf("Learn into a table full of static entries = %v (Len %d), want limited, 3", ev, tb.Len())
	}
	// Replacing an existing static entry needs no room.
	if err := tb.AddStatic(1, gw, 8); err != nil {
		t.Errorf("AddStatic replacing an entry in a full table: %v", err)
	}
}
