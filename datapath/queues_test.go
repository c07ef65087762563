package datapath

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/tap/taptest"
)

// mqPort is an in-memory port with several queues, as a multi-queue TAP:
// queue i is the in-memory port qs[i].
type mqPort struct{ qs []*taptest.Port }

var (
	_ Queues      = (*mqPort)(nil)
	_ QueueWriter = (*mqPort)(nil)
)

func newMQPort(name string, n int) *mqPort {
	p := &mqPort{}
	for range n {
		p.qs = append(p.qs, taptest.New(name, 256))
	}
	return p
}

func (p *mqPort) Queues() int { return len(p.qs) }
func (p *mqPort) ReadQueue(q int, bufs [][]byte, sizes []int, offset int) (int, error) {
	return p.qs[q].Read(bufs, sizes, offset)
}
func (p *mqPort) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return p.ReadQueue(0, bufs, sizes, offset)
}
func (p *mqPort) WriteQueue(q int, bufs [][]byte, offset int) (int, error) {
	return p.qs[q%len(p.qs)].Write(bufs, offset)
}
func (p *mqPort) Write(bufs [][]byte, offset int) (int, error) { return p.WriteQueue(0, bufs, offset) }
func (p *mqPort) BatchSize() int                               { return taptest.BatchSize }
func (p *mqPort) Close() error {
	for _, q := range p.qs {
		q.Close()
	}
	return nil
}

// TestQueuesWriteThroughOwnQueue: frames read on queue q of a multi-queue
// port leave a multi-queue port through its queue q (so a flow, which one
// queue carries, stays on one worker and one queue, in order), and a
// single-queue port through Write; the port listing shows the queues.
func TestQueuesWriteThroughOwnQueue(t *testing.T) {
	s := newSwitch(t)
	a, b := newMQPort("a", 2), newMQPort("b", 2)
	ids := map[string]port.ID{}
	for name, p := range map[string]port.Port{"a": a, "b": b} {
		id, err := s.dp.AddPort(p, PortConfig{Name: name, Kind: KindMem, VLAN: access(10)})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	c := s.add("c", access(10), nil)
	s.dp.FDB().AddStatic(10, macB, ids["b"])
	s.dp.FDB().AddStatic(10, macC, s.ids["c"])
	for _, pi := range s.dp.Ports() {
		want := map[string]int{"a": 2, "b": 2, "c": 1}[pi.Config.Name]
		if pi.Queues != want {
			t.Errorf("port %s: Queues = %d, want %d", pi.Config.Name, pi.Queues, want)
		}
	}

	const frames = 200
	for q := range 2 {
		for i := range frames {
			f := udpFrame(t, macA, macB, 0, 64)
			binary.BigEndian.PutUint32(f[len(f)-4:], uint32(q<<16|i))
			a.qs[q].Inject(f)
		}
	}
	for q := range 2 {
		for i := range frames {
			got, ok := b.qs[q].Recv(time.Second)
			if !ok {
				t.Fatalf("b queue %d: frame %d not received", q, i)
			}
			if seq := binary.BigEndian.Uint32(got.Data[len(got.Data)-4:]); seq != uint32(q<<16|i) {
				t.Fatalf("b queue %d: frame %d is %#x: want %#x (from a's queue %d, in order)", q, i, seq, q<<16|i, q)
			}
		}
		if n := b.qs[q].Pending(); n != 0 {
			t.Errorf("b queue %d: %d frames more than sent", q, n)
		}
	}
	a.qs[1].Inject(udpFrame(t, macA, macC, 0, 64))
	if _, ok := c.Recv(time.Second); !ok {
		t.Error("a frame from a's queue 1 to a single-queue port did not arrive")
	}
}

// mqNull is a nullPort with queues, counting the frames written through
// each.
type mqNull struct {
	*nullPort
	byQueue [4]int
}

func (p *mqNull) WriteQueue(q int, bufs [][]byte, offset int) (int, error) {
	p.byQueue[q%len(p.byQueue)] += len(bufs)
	return p.Write(bufs, offset)
}

// TestQueueWriteNoAllocs: a batch written through a queue other than 0
// allocates nothing.
func TestQueueWriteNoAllocs(t *testing.T) {
	w, out, done := benchWorker(t, 64, access(10))
	defer done()
	mq := &mqNull{nullPort: out}
	var dev port.Port = mq
	w.dp.snap.Load().byID[2].dev.Store(&dev)
	w.q = 1
	if allocs := batchAllocs(w); allocs != 0 {
		t.Errorf("a batch of %d frames through queue 1 allocates %.1f times, want 0", len(w.bufs), allocs)
	}
	if mq.byQueue[1] == 0 || mq.byQueue[0] != 0 {
		t.Errorf("frames written per queue %v: want all through queue 1", mq.byQueue)
	}
}
