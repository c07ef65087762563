package nat

import (
	"sync"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// TestEstablishedNoAllocs: the per-packet path of an established flow —
// Decode, Lookup, Apply — allocates nothing, in both directions, for
// TCP, UDP, ICMP echo and a related ICMP error.
func TestEstablishedNoAllocs(t *testing.T) {
	tb := New(Options{Seed: 1})
	syn := tcpFrame(t, ap(inner1, 40000), ap(server, 443), fSYN, "")
	mustCreate(t, tb, zoneNet, zoneUplink, syn, masq(), 0)
	mustApply(t, tb, zoneUplink, tcpFrame(t, ap(server, 443), ap(uplink, 40000), fSYN|fACK, ""), Reply, 0)
	mustCreate(t, tb, zoneNet, zoneUplink, udpFrame(t, ap(inner1, 5000), ap(server, 53), "q"), masq(), 0)
	mustCreate(t, tb, zoneNet, zoneUplink, echoFrame(t, inner1, server, header.ICMPv4Echo, 3, 1), masq(), 0)
	sent := udpFrame(t, ap(inner1, 5000), ap(server, 53), "q")
	mustApply(t, tb, zoneNet, sent, Original, 0)

	frames := []struct {
		zone Zone
		f    []byte
	}{
		{zoneNet, tcpFrame(t, ap(inner1, 40000), ap(server, 443), fACK|fPSH, "data")},
		{zoneUplink, tcpFrame(t, ap(server, 443), ap(uplink, 40000), fACK, "")},
		{zoneNet, udpFrame(t, ap(inner1, 5000), ap(server, 53), "q")},
		{zoneUplink, udpFrame(t, ap(server, 53), ap(uplink, 5000), "a")},
		{zoneNet, echoFrame(t, inner1, server, header.ICMPv4Echo, 3, 2)},
		{zoneUplink, echoFrame(t, server, uplink, header.ICMPv4EchoReply, 3, 2)},
		{zoneUplink, icmpErrorFrame(t, router2, uplink, header.ICMPv4TimeExceeded, 0, 0, testframe.Datagram(t, sent))},
	}
	work := make([]byte, 128)
	var p header.Parsed
	for _, fr := range frames {
		n := testing.AllocsPerRun(1000, func() {
			w := work[:len(fr.f)]
			copy(w, fr.f)
			if err := p.Decode(w); err != nil {
				t.Fatal(err)
			}
			c, d, ok := tb.Lookup(fr.zone, w, &p, sec(1))
			if !ok {
				t.Fatalf("Lookup(%x) found nothing", w)
			}
			if v := tb.Apply(w, &p, c, d, false, sec(1)); v != VerdictAccept {
				t.Fatalf("Apply = %v", v)
			}
		})
		if n != 0 {
			t.Errorf("Lookup+Apply of %x: %v allocations, want 0", fr.f, n)
		}
	}
}

// TestConcurrent hammers one table from several goroutines — creations,
// lookups and translations in both directions, sweeps, listings and
// flushes — for the race detector, then checks the index.
func TestConcurrent(t *testing.T) {
	tb := New(Options{Seed: 3, MaxEntries: 300, PortMin: 20000, PortMax: 20199,
		Timeouts: Timeouts{UDPUnreplied: 1e9, UDPAssured: 2e9}})
	var wg sync.WaitGroup
	const workers = 4
	frames := make([][2][]byte, 64)
	for i := range frames {
		src := ap(inner1, uint16(1000+i))
		if i%2 == 1 {
			src = ap(inner2, uint16(1000+i-1)) // same ports from two hosts: allocation
		}
		frames[i][0] = udpFrame(t, src, ap(server, 53), "q")
		frames[i][1] = tcpFrame(t, src, ap(server, 80), fSYN, "")
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p header.Parsed
			buf := make([]byte, 128)
			for i := range 3000 {
				now := int64(i) * 1e6
				fr := frames[(i*7+w*13)%len(frames)][i%2]
				f := buf[:len(fr)]
				copy(f, fr)
				if p.Decode(f) != nil {
					panic("decode")
				}
				c, d, ok := tb.Lookup(zoneNet, f, &p, now)
				if !ok {
					var err error
					if c, err = tb.Create(zoneNet, zoneUplink, &p, masq(), now); err != nil {
						continue
					}
					d = Original
				}
				tb.Apply(f, &p, c, d, false, now)
				// The answer.
				var r []byte
				if p.Proto == header.ProtoUDP {
					r = udpFrame(t, ap(server, p.DstPort), ap(uplink, p.SrcPort), "a")
				} else {
					r = tcpFrame(t, ap(server, p.DstPort), ap(uplink, p.SrcPort), fSYN|fACK, "")
				}
				if p.Decode(r) != nil {
					panic("decode")
				}
				if c, d, ok := tb.Lookup(zoneUplink, r, &p, now); ok {
					tb.Apply(r, &p, c, d, false, now)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 300 {
			now := int64(i) * 10e6
			tb.Sweep(now, 50)
			_ = tb.Entries(now)
			_ = tb.Stats()
			if i%100 == 99 {
				tb.Flush()
			}
		}
	}()
	wg.Wait()
	checkTableInvariants(t, tb)
}
