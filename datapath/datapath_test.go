package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/tap/taptest"
	"github.com/vswitchd/vswitchd/vlan"
)

var (
	macA  = header.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB  = header.MAC{0x02, 0, 0, 0, 0, 0x0b}
	macC  = header.MAC{0x02, 0, 0, 0, 0, 0x0c}
	bcast = header.Broadcast
)

// udpFrame builds an untagged IPv4/UDP frame, or a tagged one (PCP 5) if
// vid != 0.
func udpFrame(t testing.TB, src, dst header.MAC, vid uint16, payload int) []byte {
	t.Helper()
	f := testframe.IPv4{Eth: testframe.Eth{Src: src, Dst: dst}, Proto: header.ProtoUDP,
		Src: netip.MustParseAddrPort("10.0.0.1:1000"), Dst: netip.MustParseAddrPort("10.0.0.2:2000"), Payload: make([]byte, payload)}
	if vid != 0 {
		f.Eth.Tags = []testframe.Tag{testframe.CTag(5, false, vid)}
	}
	return f.Frame(t)
}

type testSwitch struct {
	t     *testing.T
	dp    *Datapath
	ports map[string]*taptest.Port
	ids   map[string]port.ID
}

func newSwitch(t *testing.T) *testSwitch {
	s := &testSwitch{t: t, dp: New(Options{}), ports: map[string]*taptest.Port{}, ids: map[string]port.ID{}}
	t.Cleanup(func() {
		before := runtime.NumGoroutine()
		s.dp.Close()
		if n := s.dp.PoolInUse(); n != 0 {
			t.Errorf("%d spare buffers still out after Close", n)
		}
		_ = before
	})
	return s
}

func (s *testSwitch) add(name string, pol vlan.Policy, g *Guard) *taptest.Port {
	s.t.Helper()
	p := taptest.New(name, 256)
	id, err := s.dp.AddPort(p, PortConfig{Name: name, Kind: KindMem, VLAN: pol, Guard: g})
	if err != nil {
		s.t.Fatal(err)
	}
	s.ports[name], s.ids[name] = p, id
	return p
}

func access(vid vlan.ID) vlan.Policy { return vlan.Policy{Mode: vlan.Access, VID: vid} }

// expect receives one frame on port name within a second.
func (s *testSwitch) expect(name string) taptest.Frame {
	s.t.Helper()
	f, ok := s.ports[name].Recv(time.Second)
	if !ok {
		s.t.Fatalf("port %s received nothing", name)
	}
	return f
}

// expectNone checks port name receives nothing for a while.
func (s *testSwitch) expectNone(name string) {
	s.t.Helper()
	if f, ok := s.ports[name].Recv(100 * time.Millisecond); ok {
		s.t.Fatalf("port %s received an unexpected frame %x", name, f.Data[:min(len(f.Data), 32)])
	}
}

func TestFloodLearnForward(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(10), nil)
	b := s.add("b", access(10), nil)
	s.add("c", access(10), nil)
	s.add("other", access(20), nil)

	fa := udpFrame(t, macA, bcast, 0, 10)
	a.Inject(fa)
	for _, p := range []string{"b", "c"} {
		if got := s.expect(p); !bytes.Equal(got.Data, fa) {
			t.Fatalf("flood to %s = %x, want %x", p, got.Data, fa)
		}
	}
	s.expectNone("other") // another VLAN
	s.expectNone("a")     // never back out of the ingress port

	// b answers a: now a unicast, only to a.
	fb := udpFrame(t, macB, macA, 0, 10)
	b.Inject(fb)
	if got := s.expect("a"); !bytes.Equal(got.Data, fb) {
		t.Fatalf("unicast to a = %x, want %x", got.Data, fb)
	}
	s.expectNone("c")
	// And a to b is unicast too.
	a.Inject(udpFrame(t, macA, macB, 0, 10))
	s.expect("b")
	s.expectNone("c")

	ps := s.dp.Ports()
	var rx, tx uint64
	for _, p := range ps {
		rx += p.Counters.RxFrames
		tx += p.Counters.TxFrames
	}
	if rx != 3 || tx != 4 {
		t.Errorf("counters rx=%d tx=%d, want 3 and 4", rx, tx)
	}
}

func TestSamePortDropped(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(1), nil)
	s.add("b", access(1), nil)
	a.Inject(udpFrame(t, macB, bcast, 0, 0)) // learn B on a
	s.expect("b")
	a.Inject(udpFrame(t, macA, macB, 0, 0)) // to B, which is on a
	s.expectNone("b")
	eventuallyDrop(t, s, "a", DropSamePort)
}

func eventuallyDrop(t *testing.T, s *testSwitch, port string, r Reason) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for _, p := range s.dp.Ports() {
			if p.Config.Name == port && p.Counters.Drops[r.String()] > 0 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s drop counted on %s", r, port)
}

func TestTrunkTagging(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(10), nil)
	s.add("b", access(10), nil)
	set, _ := vlan.ParseSet("10,20")
	tr := s.add("trunk", vlan.Policy{Mode: vlan.Trunk, Trunks: set}, nil)
	s.add("v20", access(20), nil)

	// A flood from access VLAN 10 reaches b untagged and the trunk tagged
	// 10 (a copy: the shared frame must stay untagged for b).
	fa := udpFrame(t, macA, bcast, 0, 100)
	a.Inject(fa)
	if got := s.expect("b"); !bytes.Equal(got.Data, fa) {
		t.Fatalf("b got %x, want the untagged frame", got.Data)
	}
	var pk header.Parsed
	got := s.expect("trunk")
	if err := pk.Decode(got.Data); err != nil || pk.Tags != 1 || pk.VID() != 10 || pk.TPID[0] != header.EtherTypeVLAN {
		t.Fatalf("trunk got %x (tags %d vid %d), want one 802.1Q tag of VLAN 10", got.Data[:18], pk.Tags, pk.VID())
	}
	if want := udpFrame(t, macA, bcast, 10, 100); !bytes.Equal(withPCP(got.Data, 5), want) {
		t.Fatalf("tagged frame %x, want %x", got.Data, want)
	}
	s.expectNone("v20")

	// Tagged VLAN 20 from the trunk reaches v20 untagged, PCP dropped with
	// the tag; untagged frames on a trunk are dropped.
	tr.Inject(udpFrame(t, macC, bcast, 20, 100))
	if got := s.expect("v20"); !bytes.Equal(got.Data, udpFrame(t, macC, bcast, 0, 100)) {
		t.Fatalf("v20 got %x", got.Data)
	}
	s.expectNone("a")
	tr.Inject(udpFrame(t, macC, bcast, 0, 0))
	s.expectNone("v20")
	eventuallyDrop(t, s, "trunk", DropVLANIngress)

	// Unicast to the MAC learned on the trunk is tagged in place.
	a.Inject(udpFrame(t, macA, macC, 0, 0))
	got = s.expect("trunk")
	pk.Decode(got.Data)
	if pk.VID() != 10 {
		t.Fatalf("unicast to trunk: vid %d, want 10", pk.VID())
	}
}

// withPCP sets the PCP of the first tag, for comparing with a frame whose
// tag udpFrame built.
func withPCP(f []byte, pcp uint8) []byte {
	c := append([]byte(nil), f...)
	tci := binary.BigEndian.Uint16(c[14:])
	binary.BigEndian.PutUint16(c[14:], tci&0x1fff|uint16(pcp)<<13)
	return c
}

func TestGuardDropsSpoofs(t *testing.T) {
	s := newSwitch(t)
	ga := &Guard{MAC: macA, IPs: nil}
	a := s.add("a", access(1), ga)
	s.add("b", access(1), nil)
	a.Inject(udpFrame(t, macC, bcast, 0, 0)) // wrong MAC
	s.expectNone("b")
	eventuallyDrop(t, s, "a", DropSpoofed)
	a.Inject(udpFrame(t, macA, bcast, 0, 0)) // right MAC, IP 10.0.0.1 not allowed
	s.expectNone("b")
	s.dp.SetPortConfig(s.ids["a"], PortConfig{Name: "a", Kind: KindMem, VLAN: access(1),
		Guard: &Guard{MAC: macA, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}})
	a.Inject(udpFrame(t, macA, bcast, 0, 0))
	s.expect("b")
}

func TestVirtioHeaderPassesThrough(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(10), nil)
	set, _ := vlan.ParseSet("10")
	s.add("trunk", vlan.Policy{Mode: vlan.Trunk, Trunks: set}, nil)
	f := udpFrame(t, macA, macB, 0, 3000)
	var vh [header.VirtioNetLen]byte
	header.VirtioNet(vh[:]).Encode(&header.VirtioNetFields{
		Flags: header.VirtioNetFlagNeedsCsum, GSOType: header.VirtioNetGSOUDPL4, GSOSize: 1400,
		HdrLen: 42, CsumStart: 34, CsumOffset: 6,
	})
	a.InjectVirtio(taptest.Frame{Virtio: vh, Data: f})
	got := s.expect("trunk")
	v := header.VirtioNet(got.Virtio[:])
	if !v.NeedsCsum() || v.GSOSize() != 1400 || v.CsumStart() != 38 || v.HdrLen() != 46 {
		t.Fatalf("virtio header after tagging: flags %d gso %d csum_start %d hdr_len %d; want offsets moved by 4",
			v.Flags(), v.GSOSize(), v.CsumStart(), v.HdrLen())
	}
}

func TestRemovePortAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	dp := New(Options{})
	p1, p2 := taptest.New("p1", 8), taptest.New("p2", 8)
	id1, _ := dp.AddPort(p1, PortConfig{Name: "p1", VLAN: access(1)})
	dp.AddPort(p2, PortConfig{Name: "p2", VLAN: access(1)})
	p1.Inject(udpFrame(t, macA, bcast, 0, 0))
	if _, ok := p2.Recv(time.Second); !ok {
		t.Fatal("no frame before removal")
	}
	if err := dp.RemovePort(id1); err != nil {
		t.Fatal(err)
	}
	if _, ok := dp.FDB().Lookup(1, macA, dp.Now()); ok {
		t.Error("MAC learned on a removed port still in the table")
	}
	if err := dp.RemovePort(id1); err == nil {
		t.Error("removing a port twice succeeded")
	}
	dp.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
	if _, err := dp.AddPort(taptest.New("x", 1), PortConfig{}); err == nil {
		t.Error("AddPort after Close succeeded")
	}
}

func TestInjectFloods(t *testing.T) {
	s := newSwitch(t)
	s.add("a", access(7), nil)
	s.add("b", access(7), nil)
	f := udpFrame(t, macC, bcast, 0, 0)
	if err := s.dp.Inject(f, router.Target{VID: 7}); err != nil {
		t.Fatal(err)
	}
	s.expect("a")
	s.expect("b")
	if err := s.dp.Inject(f[:5], router.Target{VID: 7}); err == nil {
		t.Error("Inject of a runt succeeded")
	}
}

// nullPort is a port.Port whose Write only counts and whose Read is never
// called: the allocation test and benchmarks drive the worker directly.
type nullPort struct{ frames, bytes int }

func (p *nullPort) Read([][]byte, []int, int) (int, error) { select {} }
func (p *nullPort) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		p.frames++
		p.bytes += len(b) - offset
	}
	return len(bufs), nil
}
func (p *nullPort) BatchSize() int { return 64 }
func (p *nullPort) Close() error   { return nil }

// benchWorker makes a datapath with an ingress and an egress port on VLAN
// 10, macs distinct source MACs learned on the ingress side and their
// destination learned on the egress side, and a worker whose batch is
// filled with frames from those MACs.
func benchWorker(tb testing.TB, macs int, egress vlan.Policy) (*worker, *nullPort, func()) {
	dp := New(Options{})
	in, out := &nullPort{}, &nullPort{}
	ps := &portState{id: 1, done: make(chan struct{})}
	var din port.Port = in
	ps.dev.Store(&din)
	cin := PortConfig{Name: "in", VLAN: access(10)}
	ps.cfg.Store(&cin)
	po := &portState{id: 2, done: make(chan struct{})}
	var dout port.Port = out
	po.dev.Store(&dout)
	cout := PortConfig{Name: "out", VLAN: egress}
	po.cfg.Store(&cout)
	dp.snap.Store(&snapshot{byID: []*portState{nil, ps, po}, list: []*portState{ps, po}})
	dst := header.MAC{0x02, 0xdd, 0, 0, 0, 1}
	dp.fdb.AddStatic(10, dst, 2)
	w := dp.newWorker(ps, 0)
	frame := udpFrame(tb, macA, dst, 0, 64)
	for i := range w.bufs {
		copy(w.bufs[i][port.ReadOffset:], frame)
		src := header.MAC{0x02, 0xaa, 0, byte((i % macs) >> 16), byte((i % macs) >> 8), byte(i % macs)}
		copy(w.bufs[i][port.ReadOffset+6:], src[:])
		w.sizes[i] = len(frame)
	}
	// Learn every source once.
	for m := range macs {
		dp.fdb.Learn(10, header.MAC{0x02, 0xaa, 0, byte(m >> 16), byte(m >> 8), byte(m)}, 1, dp.Now())
	}
	return w, out, func() { dp.Close() }
}

// TestForwardNoAllocs: a steady-state batch allocates nothing, untagged
// and with a tag pushed on the way out.
func TestForwardNoAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		pol  vlan.Policy
	}{{"access", access(10)}, {"trunk", vlan.Policy{Mode: vlan.Trunk}}} {
		t.Run(tc.name, func(t *testing.T) {
			w, out, done := benchWorker(t, 64, tc.pol)
			defer done()
			if allocs := batchAllocs(w); allocs != 0 {
				t.Errorf("a batch of %d frames allocates %.1f times, want 0", len(w.bufs), allocs)
			}
			if out.frames == 0 {
				t.Fatal("nothing forwarded")
			}
		})
	}
}

// batchAllocs returns the allocations of one batch of w's frames, each
// run on the frames as they were first (after a warm-up batch).
func batchAllocs(w *worker) float64 {
	restore := snapshotBatch(w)
	w.batch(len(w.bufs))
	return testing.AllocsPerRun(100, func() {
		restore()
		w.batch(len(w.bufs))
	})
}

// snapshotBatch returns a function that restores the worker's batch
// buffers to their first contents (a tag push changes them).
func snapshotBatch(w *worker) func() {
	saved := make([][]byte, len(w.bufs))
	for i, b := range w.bufs {
		saved[i] = append([]byte(nil), b[:port.ReadOffset+w.sizes[i]]...)
	}
	return func() {
		for i, b := range w.bufs {
			copy(b, saved[i])
		}
	}
}

// len64 is the batch size of nullPort: with more MACs than that, a batch
// still carries 64 distinct sources and the rest only fill the table.
const len64 = 64

// BenchmarkForward is the datapath's per-frame cost between two in-memory
// ports: decode, VLAN ingress, MAC learn and lookup, egress grouping, one
// write per batch. No syscalls: this is the in-process ceiling.
func BenchmarkForward(b *testing.B) {
	for _, macs := range []int{1, 100_000} {
		for _, eg := range []struct {
			name string
			pol  vlan.Policy
		}{{"untagged", access(10)}, {"tagged", vlan.Policy{Mode: vlan.Trunk}}} {
			b.Run(fmt.Sprintf("macs=%d/%s", macs, eg.name), func(b *testing.B) {
				w, _, done := benchWorker(b, min(macs, len64), eg.pol)
				defer done()
				if macs > 64 {
					// Fill the table so lookups miss the cache as they would.
					for m := range macs {
						w.dp.fdb.Learn(10, header.MAC{0x02, 0xbb, 0, byte(m >> 16), byte(m >> 8), byte(m)}, 1, w.dp.Now())
					}
				}
				restore := snapshotBatch(w)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if eg.name == "tagged" {
						b.StopTimer()
						restore()
						b.StartTimer()
					}
					w.batch(len(w.bufs))
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(w.bufs)), "ns/frame")
			})
		}
	}
}

// TestForwardCacheFollowsMoves: a worker's cached answer is dropped as soon
// as the MAC table changes, so a MAC that moves is followed at once.
func TestForwardCacheFollowsMoves(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(1), nil)
	b := s.add("b", access(1), nil)
	c := s.add("c", access(1), nil)
	b.Inject(udpFrame(t, macB, bcast, 0, 100)) // B learned on b
	s.expect("a")
	s.expect("c")
	for range 3 { // a's worker caches A→B: b
		a.Inject(udpFrame(t, macA, macB, 0, 100))
		s.expect("b")
	}
	c.Inject(udpFrame(t, macB, bcast, 0, 100)) // B moves to c
	s.expect("a")
	s.expect("b")
	a.Inject(udpFrame(t, macA, macB, 0, 100))
	s.expect("c")
	s.expectNone("b")
}

// countingPort is a decorator that counts the calls through it.
type countingPort struct {
	port.Port
	reads, writes atomic.Int64
}

func (c *countingPort) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	c.reads.Add(1)
	return c.Port.Read(bufs, sizes, offset)
}

func (c *countingPort) Write(bufs [][]byte, offset int) (int, error) {
	c.writes.Add(1)
	return c.Port.Write(bufs, offset)
}

// TestSwapDevice: a port's device is replaced live by a decorator; writes
// and, from the worker's next batch, reads go through it, the port keeps
// its ID and counters, and closing the port closes the decorator.
func TestSwapDevice(t *testing.T) {
	s := newSwitch(t)
	a := s.add("a", access(10), nil)
	b := s.add("b", access(10), nil)
	a.Inject(udpFrame(t, macA, bcast, 0, 10))
	s.expect("b")

	old, ok := s.dp.Device(s.ids["b"])
	if !ok || old != port.Port(b) {
		t.Fatalf("Device(b) = %v, %v; want the port added", old, ok)
	}
	c := &countingPort{Port: b}
	if err := s.dp.SwapDevice(s.ids["b"], a, c); err == nil {
		t.Fatal("SwapDevice with the wrong old device succeeded")
	}
	if err := s.dp.SwapDevice(s.ids["b"], old, c); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.dp.Device(s.ids["b"]); cur != port.Port(c) {
		t.Fatalf("Device(b) after swap = %v, want the decorator", cur)
	}
	a.Inject(udpFrame(t, macA, macB, 0, 10))
	s.expect("b")
	if c.writes.Load() == 0 {
		t.Error("a write to b did not go through the decorator")
	}
	// b's worker was blocked in the old device's Read: its first frame
	// comes that way, later ones through the decorator.
	b.Inject(udpFrame(t, macB, macA, 0, 10))
	s.expect("a")
	b.Inject(udpFrame(t, macB, macA, 0, 10))
	s.expect("a")
	if c.reads.Load() == 0 {
		t.Error("b's worker does not read through the decorator")
	}
	if err := s.dp.RemovePort(s.ids["b"]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([][]byte{make([]byte, 64)}, port.WriteOffset); err == nil {
		t.Error("removing the port did not close the device under the decorator")
	}
	if err := s.dp.SwapDevice(s.ids["b"], c, old); err == nil {
		t.Error("SwapDevice on a removed port succeeded")
	}
}
