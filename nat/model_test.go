package nat

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// mconn is the naive model of one connection.
type mconn struct {
	orig, reply key
	deadline    int64
	replied     bool
	c           *Conn
}

// model is a list of connections searched linearly.
type model struct{ conns []*mconn }

func (m *model) lookup(k key, now int64) (*mconn, Dir) {
	for _, mc := range m.conns {
		if now >= mc.deadline {
			continue
		}
		if mc.orig == k {
			return mc, Original
		}
		if mc.reply == k {
			return mc, Reply
		}
	}
	return nil, 0
}

func (m *model) live(now int64) []*mconn {
	var out []*mconn
	for _, mc := range m.conns {
		if now < mc.deadline {
			out = append(out, mc)
		}
	}
	return out
}

func (m *model) touch(mc *mconn, d Dir, now int64) {
	if d == Reply {
		mc.replied = true
	}
	timeout := 30 * time.Second
	if mc.orig.proto == header.ProtoUDP && mc.replied {
		timeout = 120 * time.Second
	}
	mc.deadline = now + int64(timeout)
}

// keyOfFrame is the key of a frame's own tuple in zone.
func keyOfFrame(t *testing.T, zone Zone, f []byte) key {
	p := decode(t, f)
	k := key{zone: zone, proto: p.Proto, src: u32(p.SrcIP), dst: u32(p.DstIP), sport: p.SrcPort, dport: p.DstPort}
	if p.Proto == header.ProtoICMP {
		k.icmp = p.ICMPType
	}
	return k
}

// frameOf builds a frame with k's tuple.
func frameOf(t *testing.T, k key) []byte {
	src, dst := addrOf(k.src), addrOf(k.dst)
	if k.proto == header.ProtoICMP {
		return echoFrame(t, src, dst, k.icmp, k.sport, 1)
	}
	return udpFrame(t, ap(src, k.sport), ap(dst, k.dport), "m")
}

// TestModel drives the table and a naive model with the same random
// packets, creations, clock steps and sweeps, and compares every lookup,
// every translation and the listing.
func TestModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	const lo, hi = 20000, 20003 // a tiny range: exhaustion is common
	tb := New(Options{Seed: seed + 1})
	a := Action{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{lo, hi}}
	var m model
	now := int64(0)
	srcs := []netip.Addr{inner1, inner2, gateway}
	dsts := []netip.Addr{server, client}
	for step := range 4000 {
		switch op := rng.IntN(10); {
		case op < 5: // an outbound packet
			var k key
			if rng.IntN(3) == 0 {
				k = key{zone: zoneNet, proto: header.ProtoICMP, icmp: header.ICMPv4Echo,
					src: u32(srcs[rng.IntN(3)]), dst: u32(dsts[rng.IntN(2)])}
				k.sport = uint16(lo + rng.IntN(6))
				k.dport = k.sport
			} else {
				k = key{zone: zoneNet, proto: header.ProtoUDP, src: u32(srcs[rng.IntN(3)]),
					dst: u32(dsts[rng.IntN(2)]), sport: uint16(lo + rng.IntN(6)), dport: 53}
			}
			modelStep(t, tb, &m, k, a, now)
		case op < 8: // a reply to some connection (maybe expired), or a stray packet
			var k key
			if len(m.conns) > 0 && rng.IntN(4) != 0 {
				k = m.conns[rng.IntN(len(m.conns))].reply
			} else {
				k = key{zone: zoneUplink, proto: header.ProtoUDP, src: u32(server), dst: u32(uplink),
					sport: 53, dport: uint16(lo + rng.IntN(4))}
			}
			modelStep(t, tb, &m, k, a, now)
		case op < 9:
			now += sec(float64(rng.IntN(40)))
		default:
			tb.Sweep(now, 1+rng.IntN(20))
		}
		if step%50 == 0 {
			compareEntries(t, tb, &m, now)
		}
	}
	compareEntries(t, tb, &m, now)
}

func modelStep(t *testing.T, tb *Table, m *model, k key, a Action, now int64) {
	t.Helper()
	f := frameOf(t, k)
	p := decode(t, f)
	mc, md := m.lookup(k, now)
	c, d, ok := tb.Lookup(k.zone, f, p, now)
	switch {
	case mc == nil && ok:
		t.Fatalf("Lookup(%+v) found %v, model nothing", k, c.Tuple(Original))
	case mc != nil && (!ok || c != mc.c || d != md):
		t.Fatalf("Lookup(%+v) = %v %v %v, model %v %v", k, c, d, ok, mc.c, md)
	}
	if ok {
		if v := tb.Apply(f, p, c, d, false, now); v != VerdictAccept {
			t.Fatalf("Apply = %v", v)
		}
		m.touch(mc, d, now)
		other := mc.orig
		if d == Original {
			other = mc.reply
		}
		if got := keyOfFrame(t, other.zone, f); got != other.inverse(other.zone) {
			t.Fatalf("translated to %+v, want %+v", got, other.inverse(other.zone))
		}
		checkChecksums(t, f)
		return
	}
	if k.zone != zoneNet {
		return // strays from outside are not created
	}
	c, err := tb.Create(zoneNet, zoneUplink, p, a, now)
	if errors.Is(err, ErrNoPort) {
		// Every port of the range must be in use for this destination.
		for port := uint16(20000); port <= 20003; port++ {
			r := key{zone: zoneUplink, proto: k.proto, src: k.dst, dst: u32(uplink), sport: k.dport, dport: port}
			if k.proto == header.ProtoICMP {
				r.icmp, r.sport = header.ICMPv4EchoReply, port
			}
			if mc, _ := m.lookup(r, now); mc == nil {
				t.Fatalf("ErrNoPort for %+v but port %d is free", k, port)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("Create(%+v) = %v", k, err)
	}
	mc = &mconn{orig: c.tuple[Original], reply: c.tuple[Reply], c: c}
	if mc.orig != k {
		t.Fatalf("original key %+v, want %+v", mc.orig, k)
	}
	if r := mc.reply; r.src != k.dst || r.dst != u32(uplink) || r.dport < 20000 || r.dport > 20003 {
		t.Fatalf("reply key %+v for %+v", r, k)
	}
	if other, _ := m.lookup(mc.reply, now); other != nil {
		t.Fatalf("reply key %+v already used by %+v", mc.reply, other.orig)
	}
	m.conns = append(m.conns, mc)
	m.touch(mc, Original, now)
	tb.Apply(f, p, c, Original, false, now)
}

func compareEntries(t *testing.T, tb *Table, m *model, now int64) {
	t.Helper()
	want := map[[2]key]bool{}
	for _, mc := range m.live(now) {
		want[[2]key{mc.orig, mc.reply}] = true
	}
	es := tb.Entries(now)
	if len(es) != len(want) {
		t.Fatalf("Entries has %d, model %d", len(es), len(want))
	}
	for _, e := range es {
		o := key{zone: e.Zone, proto: e.Proto, src: u32(e.Original.Src), dst: u32(e.Original.Dst), sport: e.Original.SrcPort, dport: e.Original.DstPort}
		r := key{zone: e.ReplyZone, proto: e.Proto, src: u32(e.Reply.Src), dst: u32(e.Reply.Dst), sport: e.Reply.SrcPort, dport: e.Reply.DstPort}
		if e.Proto == header.ProtoICMP {
			o.icmp, r.icmp = header.ICMPv4Echo, header.ICMPv4EchoReply
		}
		if !want[[2]key{o, r}] {
			t.Fatalf("entry %+v not in the model", e)
		}
	}
	// After a full sweep the table holds exactly the live connections.
	tb.Sweep(now, 1<<30)
	if tb.Len() != len(want) {
		t.Fatalf("Len after sweep %d, model %d", tb.Len(), len(want))
	}
}
