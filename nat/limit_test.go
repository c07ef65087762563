package nat

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
)

// udpFlow creates a masqueraded UDP flow from src:sport to the server and
// answers it replies times; it returns the connection, or the error of
// Create.
func udpFlow(t testing.TB, tb *Table, src netip.Addr, sport uint16, replies int, now int64) (*Conn, error) {
	t.Helper()
	f := udpFrame(t, ap(src, sport), ap(server, 53), "")
	p := decode(t, f)
	c, err := tb.Create(zoneNet, zoneUplink, p, masq(), now)
	if err != nil {
		return nil, err
	}
	if v := tb.Apply(f, p, c, Original, false, now); v != VerdictAccept {
		t.Fatalf("Apply(original) = %v", v)
	}
	r := c.Tuple(Reply)
	for range replies {
		mustApply(t, tb, zoneUplink, udpFrame(t, ap(server, 53), ap(r.Dst, r.DstPort), ""), Reply, now)
	}
	return c, nil
}

// alive reports whether c is still in the table.
func alive(c *Conn) bool { return c.st.Load()&flagRemoved == 0 }

// TestEndpointLimitEvictsOwnOldest: an endpoint at its limit makes room by
// evicting its own oldest evictable connection, never another endpoint's;
// with nothing evictable of its own it is refused.
func TestEndpointLimitEvictsOwnOldest(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 1000, MaxPerEndpoint: 10})
	other, err := udpFlow(t, tb, inner2, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var flood []*Conn
	for i := range 25 {
		c, err := udpFlow(t, tb, inner1, uint16(2000+i), 1, sec(float64(i)))
		if err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
		flood = append(flood, c)
	}
	if n := tb.EndpointCount(zoneNet, inner1.As4()); n != 10 {
		t.Errorf("EndpointCount(flooder) = %d, want the limit 10", n)
	}
	for i, c := range flood {
		if want := i >= 15; alive(c) != want {
			t.Errorf("flow %d alive = %v, want %v (oldest evicted first)", i, alive(c), want)
		}
	}
	if !alive(other) {
		t.Error("the other endpoint's connection was evicted")
	}
	if s := tb.Stats(); s.EarlyDropped != 15 || s.EndpointLimit != 0 {
		t.Errorf("EarlyDropped %d EndpointLimit %d, want 15, 0", s.EarlyDropped, s.EndpointLimit)
	}

	// Streams (assured) are not evicted: an endpoint holding only streams
	// is refused.
	tb = New(Options{Seed: 1, MaxEntries: 1000, MaxPerEndpoint: 4})
	for i := range 4 {
		if _, err := udpFlow(t, tb, inner1, uint16(100+i), 2, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := udpFlow(t, tb, inner1, 200, 0, 0); !errors.Is(err, ErrEndpointLimit) {
		t.Errorf("Create beyond the limit with only streams = %v, want ErrEndpointLimit", err)
	}
	if s := tb.Stats(); s.EndpointLimit != 1 {
		t.Errorf("EndpointLimit = %d, want 1", s.EndpointLimit)
	}
	if _, err := udpFlow(t, tb, inner2, 200, 0, 0); err != nil {
		t.Errorf("another endpoint: %v", err)
	}
	// Once they expire, they make room.
	if _, err := udpFlow(t, tb, inner1, 200, 0, sec(1000)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}

// TestEndpointLimitSkipsStreams: assured connections among the oldest are
// passed over (and moved back), so the flood behind them is evicted.
func TestEndpointLimitSkipsStreams(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 10000, MaxPerEndpoint: 200})
	var streams []*Conn
	for i := range 100 { // more than evictScan
		c, err := udpFlow(t, tb, inner1, uint16(100+i), 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, c)
	}
	for i := range 1000 {
		if _, err := udpFlow(t, tb, inner1, uint16(5000+i), 1, 0); err != nil {
			t.Fatalf("flood flow %d: %v", i, err)
		}
	}
	for i, c := range streams {
		if !alive(c) {
			t.Fatalf("stream %d evicted", i)
		}
	}
}

// TestFullTableEvictsHeaviest: when endpoints under their limits fill the
// table, a new connection evicts from the endpoint holding the most, oldest
// first; the reserve keeps room for light endpoints.
func TestFullTableEvictsHeaviest(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 100, MaxPerEndpoint: 60, Reserve: -1})
	a := netip.MustParseAddr("172.18.0.10")
	b := netip.MustParseAddr("172.18.0.11")
	var heavy []*Conn
	for i := range 60 {
		c, err := udpFlow(t, tb, a, uint16(1000+i), 1, sec(float64(i)))
		if err != nil {
			t.Fatal(err)
		}
		heavy = append(heavy, c)
	}
	var light []*Conn
	for i := range 40 {
		c, err := udpFlow(t, tb, b, uint16(1000+i), 1, sec(60))
		if err != nil {
			t.Fatal(err)
		}
		light = append(light, c)
	}
	if tb.Len() != 100 {
		t.Fatalf("Len = %d, want full", tb.Len())
	}
	if _, err := udpFlow(t, tb, inner2, 1, 0, sec(61)); err != nil {
		t.Fatalf("a third endpoint in a full table: %v", err)
	}
	if alive(heavy[0]) || !alive(heavy[1]) {
		t.Error("the heaviest endpoint's oldest connection was not the one evicted")
	}
	for _, c := range light {
		if !alive(c) {
			t.Fatal("a lighter endpoint lost a connection")
		}
	}

	// With a reserve, the heavy endpoint evicts its own once the table is
	// in the reserve, and the light ones find room without evicting.
	tb = New(Options{Seed: 1, MaxEntries: 100, MaxPerEndpoint: -1, Reserve: 20})
	for i := range 200 {
		if _, err := udpFlow(t, tb, a, uint16(1000+i), 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.EndpointCount(zoneNet, a.As4()); n != 80 {
		t.Errorf("flooder holds %d, want 80 (the table less the reserve)", n)
	}
	for i := range 20 {
		if _, err := udpFlow(t, tb, b, uint16(1000+i), 2, 0); err != nil {
			t.Fatalf("light endpoint, flow %d: %v", i, err)
		}
	}
	if n := tb.EndpointCount(zoneNet, b.As4()); n != 20 {
		t.Errorf("light endpoint holds %d, want 20", n)
	}
}

// TestFloodOfRepliedFlows is the lockout: an endpoint floods
// replied UDP flows into a small table; another endpoint's new connections
// all succeed and its streams survive.
func TestFloodOfRepliedFlows(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 2000})
	var streams []*Conn
	for i := range 50 {
		c, err := udpFlow(t, tb, inner2, uint16(100+i), 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, c)
	}
	for i := range 10000 {
		now := sec(float64(i) / 1000)
		if _, err := udpFlow(t, tb, inner1, uint16(1024+i), 1, now); err != nil {
			t.Fatalf("flood flow %d: %v", i, err)
		}
		if i%100 == 0 {
			if _, err := udpFlow(t, tb, inner2, uint16(20000+i), 1, now); err != nil {
				t.Fatalf("other endpoint during the flood (flow %d): %v", i, err)
			}
		}
	}
	for i, c := range streams {
		if !alive(c) {
			t.Fatalf("the other endpoint's stream %d was evicted", i)
		}
	}
	if n, lim := tb.EndpointCount(zoneNet, inner1.As4()), tb.Max()/DefaultMaxPerEndpointDiv; n > lim {
		t.Errorf("flooder holds %d, want ≤ %d", n, lim)
	}
	if s := tb.Stats(); s.TableFull != 0 || s.EndpointLimit != 0 {
		t.Errorf("TableFull %d EndpointLimit %d, want 0", s.TableFull, s.EndpointLimit)
	}
}

// TestLimiterConsistent: after concurrent creates, expiry and flushes the
// endpoint counts match the table.
func TestLimiterConsistent(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 500, MaxPerEndpoint: 100})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := netip.AddrFrom4([4]byte{172, 18, 1, byte(g)})
			for i := range 2000 {
				f := udpFrame(t, ap(src, uint16(1024+i)), ap(server, 53), "")
				tb.Create(zoneNet, zoneUplink, decode(t, f), masq(), sec(float64(i)/100))
				if i%500 == 0 {
					tb.Sweep(sec(float64(i)/100), 100)
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for g := range 4 {
		n := tb.EndpointCount(zoneNet, [4]byte{172, 18, 1, byte(g)})
		if n > 100+4 {
			t.Errorf("endpoint %d holds %d, limit 100", g, n)
		}
		total += n
	}
	if total != tb.Len() {
		t.Errorf("endpoint counts sum to %d, Len %d", total, tb.Len())
	}
	tb.Flush()
	for g := range 4 {
		if n := tb.EndpointCount(zoneNet, [4]byte{172, 18, 1, byte(g)}); n != 0 {
			t.Errorf("after Flush endpoint %d holds %d", g, n)
		}
	}
}
