package nat

import (
	"bytes"
	"errors"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vswitchd/vswitchd/header"
)

func sortedEntries(tb *Table, now int64) []Entry {
	es := tb.Entries(now)
	sort.Slice(es, func(i, j int) bool { return es[i].Original.String() < es[j].Original.String() })
	return es
}

// TestSaveRestore: a table saved by one process and restored by another
// (another clock origin, 10 s later by the wall clock) has the same
// connections, translations, states, windows and counters, with 10 s less
// to live; what expired meanwhile is left out; mappings and endpoint
// counts are rebuilt.
func TestSaveRestore(t *testing.T) {
	a := New(Options{Seed: 1})
	t0 := sec(100)
	// TCP picked up mid-stream and answered, UDP replied, UDP unreplied
	// (30 s: 5 s left at the save), ICMP echo.
	mustCreate(t, a, zoneNet, zoneUplink, tcpFrame(t, ap(inner1, 40000), ap(server, 443), header.TCPFlagACK, "x"), masq(), t0)
	mustApply(t, a, zoneUplink, tcpFrame(t, ap(server, 443), ap(uplink, 40000), header.TCPFlagACK, ""), Reply, t0)
	mustCreate(t, a, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 5000), ap(server, 53), "q"), masq(), t0)
	mustApply(t, a, zoneUplink, udpFrame(t, ap(server, 53), ap(uplink, 5000), "a"), Reply, t0)
	mustCreate(t, a, zoneNet, zoneUplink, udpFrame(t, ap(inner2, 6000), ap(server, 53), "q"), masq(), t0-sec(25))
	mustCreate(t, a, zoneNet, zoneUplink, echoFrame(t, inner1, server, header.ICMPv4Echo, 9, 1), masq(), t0)

	wall := time.Unix(1_800_000_000, 0)
	var buf bytes.Buffer
	n, err := a.Save(&buf, t0, wall)
	if err != nil || n != 4 {
		t.Fatalf("Save = %d, %v; want 4 connections", n, err)
	}

	b := New(Options{Seed: 2})
	t1 := sec(7) // the new process's clock
	got, err := b.Restore(bytes.NewReader(buf.Bytes()), t1, wall.Add(10*time.Second))
	if err != nil || got != 3 {
		t.Fatalf("Restore = %d, %v; want 3 (the unreplied UDP flow expired meanwhile)", got, err)
	}
	want := sortedEntries(a, t0+sec(10))
	have := sortedEntries(b, t1)
	for i := range want { // windows are learnt again after a restore
		want[i].Window = [2]TCPWindow{{Scale: want[i].Window[0].Scale}, {Scale: want[i].Window[1].Scale}}
	}
	if diff := cmp.Diff(want, have, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("restored entries (-saved, 10 s on +restored):\n%s", diff)
	}
	// The restored connections translate: a reply reaches the inside, and
	// the TCP connection takes segments from where the endpoints went on
	// meanwhile (windows learnt again).
	r := tcpFrame(t, ap(server, 443), ap(uplink, 40000), header.TCPFlagACK, "")
	mustApply(t, b, zoneUplink, r, Reply, t1)
	later := ip4(ap(inner1, 40000), ap(server, 443), header.ProtoTCP, header.TCPFlagACK, "later")
	later.TCP.Seq += 3 << 20
	mustApply(t, b, zoneNet, later.Frame(t), Original, t1)
	if got, want := wireTuple(t, r), (tuple5{server, inner1, 443, 40000}); got != want {
		t.Errorf("reply after restore = %+v, want %+v", got, want)
	}
	// The mapping is endpoint-independent across the restart: the same
	// source toward another server keeps port 5000.
	c := mustCreate(t, b, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 5000), ap(router2, 53), "q"), masq(), t1)
	if p := c.Tuple(Reply).DstPort; p != 5000 {
		t.Errorf("new flow of a restored source mapped to %d, want 5000", p)
	}
	if n := b.EndpointCount(zoneNet, inner1.As4()); n != 4 {
		t.Errorf("EndpointCount after restore = %d, want 4", n)
	}

	// A truncated save restores what came before the cut; garbage nothing.
	cut := buf.Bytes()[:buf.Len()-100]
	if n, err := New(Options{}).Restore(bytes.NewReader(cut), 0, wall); !errors.Is(err, ErrBadSave) || n < 1 {
		t.Errorf("Restore(truncated) = %d, %v; want some and ErrBadSave", n, err)
	}
	for _, in := range [][]byte{nil, []byte("{}"), []byte(persistMagic + "\x02\x00\x00\x00")} {
		if n, err := New(Options{}).Restore(bytes.NewReader(in), 0, wall); !errors.Is(err, ErrBadSave) || n != 0 {
			t.Errorf("Restore(%q) = %d, %v; want 0, ErrBadSave", in, n, err)
		}
	}
}
