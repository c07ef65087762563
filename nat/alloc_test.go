package nat

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

func TestPortKeptWhenFree(t *testing.T) {
	tb := New(Options{Seed: 1})
	for i, dst := range []netip.AddrPort{ap(server, 53), ap(server, 54), ap(inner2, 80)} {
		// One source, any destination: its port is kept.
		f := udpFrame(t, ap(inner1, 5000), dst, "")
		c := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
		if got := c.Tuple(Reply).DstPort; got != 5000 {
			t.Errorf("connection %d: port %d, want 5000 kept", i, got)
		}
	}
}

// TestEndpointIndependentMapping: a second source colliding on a port gets
// another mapping, and keeps it toward every destination (RFC 4787 REQ-1),
// even one toward which the first source's port is free; the first source
// keeps its own.
func TestEndpointIndependentMapping(t *testing.T) {
	tb := New(Options{Seed: 1})
	mapped := func(src netip.Addr, dst netip.AddrPort) uint16 {
		t.Helper()
		return mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(src, 5000), dst, ""), masq(), 0).Tuple(Reply).DstPort
	}
	a1 := mapped(inner1, ap(server, 3478))
	b1 := mapped(inner2, ap(server, 3478))
	b2 := mapped(inner2, ap(server, 3479))
	a2 := mapped(inner1, ap(server, 3479))
	if a1 != 5000 || a2 != 5000 {
		t.Errorf("first source mapped to %d and %d, want 5000 both", a1, a2)
	}
	if b1 == 5000 || b1 != b2 {
		t.Errorf("second source mapped to %d and %d, want one port other than 5000", b1, b2)
	}
	// Once the first source's connections are gone, its mapping is free.
	tb.Flush()
	if p := mapped(inner2, ap(server, 3479)); p != 5000 {
		t.Errorf("after a flush the second source got %d, want 5000", p)
	}
}

// TestBySourceIndexEmpties: connections of colliding sources, removed as
// they expire in any order, leave nothing in the by-source index (chains
// and owned counts), and the mapping rules hold while they live.
func TestBySourceIndexEmpties(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 256, PortMin: 40000, PortMax: 40015})
	srcs := []netip.Addr{inner1, inner2, netip.MustParseAddr("10.0.0.3")}
	var conns []*Conn
	for i := range 60 {
		src := srcs[i%len(srcs)]
		f := udpFrame(t, ap(src, uint16(5000+i%4)), ap(server, uint16(3000+i)), "")
		c := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), sec(float64(i)))
		conns = append(conns, c)
	}
	// Every indexed connection of a source shares one mapping.
	bySrc := map[srcKey]mapKey{}
	for _, c := range conns {
		if !c.bs.inSrc {
			continue
		}
		if m, ok := bySrc[srcOf(c)]; ok && m != mapOf(c) {
			t.Errorf("source %+v indexed under %+v and %+v", srcOf(c), m, mapOf(c))
		}
		bySrc[srcOf(c)] = mapOf(c)
	}
	if n := tb.Sweep(sec(1e6), 1<<20); n != len(conns) {
		t.Fatalf("Sweep removed %d, want %d", n, len(conns))
	}
	for i, c := range tb.bysrc.srcB {
		if c != nil {
			t.Errorf("source bucket %d still holds %v", i, c.Tuple(Original))
		}
	}
	for i, c := range tb.bysrc.mapB {
		if c != nil {
			t.Errorf("mapping bucket %d still holds %v", i, c.Tuple(Original))
		}
	}
	if len(tb.bysrc.owned) != 0 {
		t.Errorf("owned counts left: %v", tb.bysrc.owned)
	}
}

// TestBySourceIndexConcurrent: sources colliding on ports, created from
// several goroutines while another goroutine sweeps them as they expire,
// leave the index empty once all are gone (run with -race).
func TestBySourceIndexConcurrent(t *testing.T) {
	tb := New(Options{Seed: 1, MaxEntries: 4096, PortMin: 40000, PortMax: 40063})
	var wg sync.WaitGroup
	stop, swept := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(swept)
		for now := 0.0; ; now += 0.5 {
			select {
			case <-stop:
				return
			default:
			}
			tb.Sweep(sec(now), 1<<20)
		}
	}()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				src := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 8)})
				f := udpFrame(t, ap(src, uint16(5000+i%16)), ap(server, uint16(3000+i)), "")
				var p header.Parsed
				if err := p.Decode(f); err != nil {
					t.Error(err)
					return
				}
				tb.Create(zoneNet, zoneUplink, &p, masq(), sec(float64(i)/100))
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-swept
	tb.Sweep(sec(1e9), 1<<20)
	tb.Sweep(sec(1e9), 1<<20)
	for i := range tb.bysrc.srcB {
		if tb.bysrc.srcB[i] != nil || tb.bysrc.mapB[i] != nil {
			t.Fatalf("bucket %d not empty after every connection expired", i)
		}
	}
	if len(tb.bysrc.owned) != 0 {
		t.Errorf("owned counts left: %v", tb.bysrc.owned)
	}
}

// TestCrowdedRangeSkipsOwnerSearch: when nearly every port of the range is
// owned, a colliding source still gets a port (any whose reply tuple is
// free), without first searching for an unowned one.
func TestCrowdedRangeSkipsOwnerSearch(t *testing.T) {
	tb := New(Options{Seed: 1, PortMin: 40000, PortMax: 40007})
	for i := range 8 {
		mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, uint16(40000+i)), ap(server, 53), ""), masq(), 0)
	}
	if _, _, crowded := tb.bysrc.choose(srcKey{zone: zoneNet, proto: header.ProtoUDP, addr: u32(inner2), port: 40000}, u32(uplink), 40000, true, 40000, 40007); !crowded {
		t.Fatal("a range whose 8 ports are all owned is not crowded")
	}
	c := mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner2, 40000), ap(server, 54), ""), masq(), 0)
	if p := c.Tuple(Reply).DstPort; p < 40000 || p > 40007 {
		t.Errorf("colliding source got port %d, want one in 40000–40007", p)
	}
}

func TestPortAllocatedWhenTaken(t *testing.T) {
	tb := New(Options{Seed: 1, PortMin: 20000, PortMax: 20099})
	c1 := mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 5000), ap(server, 53), ""), masq(), 0)
	f := udpFrame(t, ap(inner2, 5000), ap(server, 53), "")
	c2 := mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), 0)
	p1, p2 := c1.Tuple(Reply).DstPort, c2.Tuple(Reply).DstPort
	if p1 != 5000 || p2 < 20000 || p2 > 20099 {
		t.Errorf("ports %d, %d; want 5000 and one in 20000–20099", p1, p2)
	}
	if got := wireTuple(t, f).SrcPort; got != p2 {
		t.Errorf("frame source port %d, want %d", got, p2)
	}
	// Replies reach their own connections.
	for _, c := range []*Conn{c1, c2} {
		r := udpFrame(t, ap(server, 53), ap(uplink, c.Tuple(Reply).DstPort), "")
		if got := mustApply(t, tb, zoneUplink, r, Reply, 0); got != c {
			t.Errorf("reply to port %d found another connection", c.Tuple(Reply).DstPort)
		}
		if got := wireTuple(t, r).Dst; got != c.Tuple(Original).Src {
			t.Errorf("reply delivered to %v, want %v", got, c.Tuple(Original).Src)
		}
	}
}

func TestPortRangeExhaustion(t *testing.T) {
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP, header.ProtoICMP} {
		t.Run(fmt.Sprint(proto), func(t *testing.T) {
			tb := New(Options{Seed: 1})
			a := Action{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{30000, 30007}}
			seen := map[uint16]bool{}
			for i := range 9 {
				src := netip.AddrFrom4([4]byte{172, 18, 1, byte(i)})
				var f []byte
				if proto == header.ProtoICMP {
					f = echoFrame(t, src, server, header.ICMPv4Echo, 7, 1)
				} else {
					f = ip4(ap(src, 30000), ap(server, 80), proto, fSYN, "").Frame(t)
				}
				p := decode(t, f)
				c, err := tb.Create(zoneNet, zoneUplink, p, a, 0)
				if i == 8 {
					if !errors.Is(err, ErrNoPort) {
						t.Fatalf("ninth Create = %v, want ErrNoPort", err)
					}
					break
				}
				if err != nil {
					t.Fatalf("Create %d = %v", i, err)
				}
				port := c.Tuple(Reply).DstPort
				if port < 30000 || port > 30007 || seen[port] {
					t.Fatalf("Create %d got port %d (seen %v)", i, port, seen)
				}
				seen[port] = true
			}
			if s := tb.Stats(); s.NoPort != 1 || tb.Len() != 8 {
				t.Errorf("NoPort %d, Len %d; want 1, 8", s.NoPort, tb.Len())
			}
			// A port frees up when its connection expires.
			f := ip4(ap(inner1, 1), ap(server, 80), header.ProtoUDP, 0, "").Frame(t)
			if proto == header.ProtoICMP {
				f = echoFrame(t, inner1, server, header.ICMPv4Echo, 7, 1)
			} else if proto == header.ProtoTCP {
				f = tcpFrame(t, ap(inner1, 1), ap(server, 80), fSYN, "")
			}
			if _, err := tb.Create(zoneNet, zoneUplink, decode(t, f), a, sec(1e6)); err != nil {
				t.Errorf("Create after expiry = %v", err)
			}
		})
	}
}

// TestExplicitRangeKeepsPortInRange: a range that includes the source port
// keeps it; one that does not maps into the range.
func TestExplicitRange(t *testing.T) {
	tb := New(Options{Seed: 1})
	c := mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 30003), ap(server, 1), ""),
		Action{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{30000, 30007}}, 0)
	if p := c.Tuple(Reply).DstPort; p != 30003 {
		t.Errorf("port %d, want 30003 kept", p)
	}
	c = mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 999), ap(server, 1), ""),
		Action{SNAT: true, SNATAddr: uplink, SNATPorts: [2]uint16{40000, 0}}, 0)
	if p := c.Tuple(Reply).DstPort; p != 40000 {
		t.Errorf("port %d, want 40000", p)
	}
}

// TestPrivilegedPorts: a taken source port below 1024 is remapped within
// its class, as Linux does.
func TestPrivilegedPorts(t *testing.T) {
	tb := New(Options{Seed: 1})
	for _, tc := range []struct{ port, lo, hi uint16 }{{80, 1, 511}, {700, 600, 1023}, {5000, 1024, 65535}} {
		mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, tc.port), ap(server, 9), ""), masq(), 0)
		c := mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner2, tc.port), ap(server, 9), ""), masq(), 0)
		if p := c.Tuple(Reply).DstPort; p == tc.port || p < tc.lo || p > tc.hi {
			t.Errorf("source port %d remapped to %d, want within %d–%d", tc.port, p, tc.lo, tc.hi)
		}
	}
}

// TestImplicitPortRemap: a DNAT-only connection whose reply tuple clashes
// with another connection gets a new source port, as in Linux.
func TestImplicitPortRemap(t *testing.T) {
	tb := New(Options{Seed: 1})
	// inner1:80 sends to client:6000 (track only)...
	mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 80), ap(client, 6000), ""), Action{}, 0)
	// ...and client:6000 reaches inner1:80 through a published port: its
	// reply tuple, inner1:80 → client:6000 in the network's zone, is taken.
	f := udpFrame(t, ap(client, 6000), ap(uplink, 8080), "")
	c := mustCreate(t, tb, zoneUplink, zoneNet, f, Action{DNAT: true, DNATAddr: inner1, DNATPort: 80}, 0)
	if got := wireTuple(t, f); got.SrcPort == 6000 || got.Dst != inner1 || got.DstPort != 80 {
		t.Errorf("translated %+v, want a remapped source port", got)
	}
	checkChecksums(t, f)
	r := udpFrame(t, ap(inner1, 80), ap(client, c.Tuple(Reply).DstPort), "")
	mustApply(t, tb, zoneNet, r, Reply, 0)
	if got, want := wireTuple(t, r), (tuple5{uplink, client, 8080, 6000}); got != want {
		t.Errorf("reply %+v, want %+v", got, want)
	}
}

// TestNoDuplicateReplyTuples is a property test: whatever the sequence of
// creations (random sources, tiny port ranges, concurrent expiry), no two
// live connections share a key, and every connection is found under both
// of its tuples.
func TestNoDuplicateReplyTuples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := New(Options{Seed: 7, PortMin: 10000, PortMax: 10031, Timeouts: Timeouts{UDPUnreplied: 2e9}})
	created, noPort := 0, 0
	for i := range 3000 {
		now := int64(i) * 10e6 // 10 ms apart: connections expire after 200 creations
		src := netip.AddrFrom4([4]byte{172, 18, 0, byte(2 + rng.IntN(8))})
		dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + rng.IntN(2))})
		var f []byte
		switch rng.IntN(3) {
		case 0:
			f = tcpFrame(t, ap(src, uint16(10000+rng.IntN(40))), ap(dst, 80), fSYN, "")
		case 1:
			f = udpFrame(t, ap(src, uint16(10000+rng.IntN(40))), ap(dst, 53), "")
		case 2:
			f = echoFrame(t, src, dst, header.ICMPv4Echo, uint16(rng.IntN(4)), 1)
		}
		p := decode(t, f)
		if _, _, ok := tb.Lookup(zoneNet, f, p, now); ok {
			continue
		}
		a := Action{SNAT: true, SNATAddr: uplink}
		if rng.IntN(2) == 0 {
			a.SNATPorts = [2]uint16{10000, 10015}
		}
		_, err := tb.Create(zoneNet, zoneUplink, p, a, now)
		switch {
		case err == nil:
			created++
		case errors.Is(err, ErrNoPort):
			noPort++
		default:
			t.Fatalf("Create = %v", err)
		}
		if i%100 == 0 {
			checkTableInvariants(t, tb)
		}
	}
	checkTableInvariants(t, tb)
	if created == 0 || noPort == 0 {
		t.Errorf("created %d, exhausted %d: the test should exercise both", created, noPort)
	}
}

// checkTableInvariants walks every shard: each key is present once, each
// connection has exactly its two slots, and Lookup-style finds return
// them.
func checkTableInvariants(t *testing.T, tb *Table) {
	t.Helper()
	keys := map[key]*Conn{}
	slots := map[*Conn]int{}
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		n := 0
		tab := s.slots()
		for j := range tab {
			c := tab[j].c.Load()
			if c == nil {
				continue
			}
			n++
			hd := tab[j].hd.Load()
			k := c.tuple[hd&1]
			if other, dup := keys[k]; dup {
				t.Fatalf("key %+v held by %p and %p", k, other, c)
			}
			keys[k] = c
			slots[c]++
			h := tb.hash(&k)
			if shardOf(h) != i || hd != packHD(uint32(h), Dir(hd&1)) {
				t.Fatalf("slot of %+v in shard %d, hd %#x", k, i, hd)
			}
			if fc, fd, _ := s.find(&k, uint32(h)); fc != c || fd != Dir(hd&1) {
				t.Fatalf("find(%+v) = %p", k, fc)
			}
			if lc, ld := s.lookup(&k, uint32(h)); lc != c || ld != Dir(hd&1) {
				t.Fatalf("lookup(%+v) = %p", k, lc)
			}
		}
		if n != s.n || (n == 0) != (len(tab) == 0) || (len(tab) > 0 && n*4 > len(tab)*3) {
			t.Fatalf("shard %d counts %d, holds %d in %d slots", i, s.n, n, len(tab))
		}
		s.mu.Unlock()
	}
	for c, n := range slots {
		if n != 2 {
			t.Fatalf("connection %v has %d slots", c.Tuple(Original), n)
		}
		// The reply tuple inverts the translated original.
		o, r := c.tuple[Original], c.tuple[Reply]
		if o.proto != r.proto || (o.proto == header.ProtoICMP && (r.icmp != header.ICMPv4EchoReply || r.sport != r.dport)) {
			t.Fatalf("bad tuples %+v %+v", o, r)
		}
	}
	if len(slots) != tb.Len() {
		t.Fatalf("Len %d, connections %d", tb.Len(), len(slots))
	}
}

func TestEarlyDrop(t *testing.T) {
	const max = 64
	// Without per-endpoint limits: the early drop near the hash alone.
	noLimits := Options{Seed: 1, MaxEntries: max, MaxPerEndpoint: -1, Reserve: -1}
	tb := New(noLimits)
	// One assured connection (UDP that went on after a reply)...
	assured := mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 1), ap(server, 53), ""), masq(), 0)
	mustApply(t, tb, zoneUplink, udpFrame(t, ap(server, 53), ap(uplink, 1), ""), Reply, 0)
	mustApply(t, tb, zoneNet, udpFrame(t, ap(inner1, 1), ap(server, 53), ""), Original, 0)
	// ...and a flood of unassured ones, well past the limit.
	for i := range 10 * max {
		f := udpFrame(t, ap(inner2, uint16(1000+i)), ap(server, 53), "")
		mustCreate(t, tb, zoneNet, zoneUplink, f, masq(), int64(i))
	}
	if tb.Len() != max {
		t.Errorf("Len = %d, want the limit %d", tb.Len(), max)
	}
	if s := tb.Stats(); s.EarlyDropped != 10*max+1-max || s.TableFull != 0 {
		t.Errorf("EarlyDropped %d, TableFull %d; want %d, 0", s.EarlyDropped, s.TableFull, 10*max+1-max)
	}
	f := udpFrame(t, ap(server, 53), ap(uplink, 1), "")
	if c, _, ok := tb.Lookup(zoneUplink, f, decode(t, f), 0); !ok || c != assured {
		t.Error("the assured connection was dropped")
	}

	// When everything is assured, nothing can be dropped.
	noLimits.MaxEntries = 8
	tb = New(noLimits)
	for i := range 8 {
		mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, uint16(100+i)), ap(server, 53), ""), masq(), 0)
		mustApply(t, tb, zoneUplink, udpFrame(t, ap(server, 53), ap(uplink, uint16(100+i)), ""), Reply, 0)
		mustApply(t, tb, zoneUplink, udpFrame(t, ap(server, 53), ap(uplink, uint16(100+i)), ""), Reply, 0)
	}
	p := decode(t, udpFrame(t, ap(inner2, 7), ap(server, 53), ""))
	if _, err := tb.Create(zoneNet, zoneUplink, p, masq(), 0); !errors.Is(err, ErrTableFull) {
		t.Errorf("Create in a full assured table = %v, want ErrTableFull", err)
	}
	if tb.Stats().TableFull != 1 || tb.Len() != 8 {
		t.Errorf("TableFull %d, Len %d", tb.Stats().TableFull, tb.Len())
	}
	// An expired connection makes room even if it was assured.
	if _, err := tb.Create(zoneNet, zoneUplink, p, masq(), sec(1000)); err != nil {
		t.Errorf("Create after expiry = %v", err)
	}
}
