package afpacket

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
)

// TestPrivilegedFanout: a port with EnableFanout(4) receives on four
// sockets of a PACKET_FANOUT_HASH group; frames of 32 UDP flows injected
// on the peer all arrive, each flow on one queue only and in order.
func TestPrivilegedFanout(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("sw0", "peer0", nil)
	p := l.open("sw0", Options{}, allFeatures)
	var err error
	netns.Do(l.ns, func() error { err = p.EnableFanout(4); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if p.Queues() != 4 {
		t.Fatalf("Queues = %d, want 4", p.Queues())
	}
	const flows, perFlow = 32, 20
	type rec struct{ flow, seq, queue int }
	var mu sync.Mutex
	var got []rec
	var wg sync.WaitGroup
	for q := range p.Queues() {
		wg.Go(func() {
			bufs, sizes := newBufs(16)
			for {
				n, err := p.ReadQueue(q, bufs, sizes, port.ReadOffset)
				if err != nil {
					return
				}
				for i := range n {
					var pk header.Parsed
					if pk.Decode(bufs[i][port.ReadOffset:port.ReadOffset+sizes[i]]) != nil || pk.Proto != header.ProtoUDP {
						continue
					}
					pl := bufs[i][port.ReadOffset+pk.PayloadOff:]
					mu.Lock()
					got = append(got, rec{flow: int(pk.SrcPort) - 10000, seq: int(pl[0]), queue: q})
					mu.Unlock()
				}
			}
		})
	}
	raw := l.raw("peer0", false)
	src, dst := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2")
	for s := range perFlow {
		for f := range flows {
			raw.send(nil, testframe.IPv4{Eth: testframe.Eth{Src: [6]byte{2, 0, 0, 0, 0, 1}, Dst: [6]byte{2, 0, 0, 0, 0, 2}},
				Src: netip.AddrPortFrom(src, uint16(10000+f)), Dst: netip.AddrPortFrom(dst, 53), Proto: header.ProtoUDP,
				Payload: []byte{byte(s), 0, 0, 0}}.Frame(t))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= flows*perFlow {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Close()
	wg.Wait()
	if len(got) != flows*perFlow {
		t.Fatalf("received %d frames, want %d", len(got), flows*perFlow)
	}
	queueOf := map[int]int{}
	next := map[int]int{}
	used := map[int]bool{}
	for _, r := range got {
		if q, ok := queueOf[r.flow]; ok && q != r.queue {
			t.Errorf("flow %d on queues %d and %d", r.flow, q, r.queue)
		}
		queueOf[r.flow] = r.queue
		used[r.queue] = true
		if r.seq != next[r.flow] {
			t.Errorf("flow %d: frame %d after %d: out of order", r.flow, r.seq, next[r.flow]-1)
		}
		next[r.flow] = r.seq + 1
	}
	if len(used) < 2 {
		t.Errorf("32 flows all on queue(s) %v: not spread", used)
	}
}
