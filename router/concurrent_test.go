package router_test

import (
	"sync"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// TestConcurrent runs workers through Input while the configuration is
// replaced and Maintain, Stats and the listings run, for the race
// detector. Every verdict must be valid and every forwarded frame decode.
func TestConcurrent(t *testing.T) {
	h := newHarness(t, nil)
	h.learnGateway()
	type input struct {
		vid   vlan.ID
		port  port.ID
		frame []byte
	}
	var inputs []input
	for i := range 8 {
		p := uint16(40000 + i)
		inputs = append(inputs,
			input{vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, gwA).Frame(t)},
			input{vid: vidA, frame: testframe.ARPRequest(a1MAC, a1IP, a2IP).Frame(t)},
			input{vid: vidA, frame: echo4(t, a1MAC, gwAMAC, a1IP, gwA, p)},
			input{vid: vidA, frame: tcp4(t, a1MAC, gwAMAC, ap(a1IP, p), ap(remoteIP, 443), header.TCPFlagSYN)},
			input{port: upPort, frame: tcp4(t, upGwMAC, upMAC, ap(remoteIP, 443), ap(upIP, p), header.TCPFlagSYN|header.TCPFlagACK)},
			input{vid: vidA, frame: udp4(t, a1MAC, gwAMAC, ap(a1IP, p), ap(remoteIP, 53), "q")},
			input{vid: vidA, frame: dnsQueryFrame(t, a1MAC, gwAMAC, ap(a1IP, p), gwA, "web", p)},
			input{port: upPort, frame: tcp4(t, upGwMAC, upMAC, ap(clientIP, p), ap(upIP, 8080), header.TCPFlagSYN)},
			input{vid: vidB, frame: tcp4(t, b1MAC, gwBMAC, ap(b1IP, p), ap(hostIP, 8081), header.TCPFlagSYN)},
			input{vid: vidA, frame: frame4(t, a1MAC, gwAMAC, testframe.IPv4{Src: ap(a1IP, p), Dst: ap(remoteIP, 53), Proto: header.ProtoUDP, TTL: 1})},
			input{port: upPort, frame: testframe.ARPReply(upGwMAC, upGwIP, upMAC, upIP).Frame(t)},
		)
	}
	alt := testConfig()
	alt.NoARPSuppression = true
	alt.Uplink = nil

	const workers, rounds = 4, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := &fakeSink{}
			var counts router.Counts // the worker's own
			var p header.Parsed
			buf := make([]byte, 2048)
			for i := range rounds * len(inputs) {
				in := inputs[(i+w*7)%len(inputs)]
				frame := buf[:len(in.frame)]
				copy(frame, in.frame)
				if err := p.Decode(frame); err != nil {
					t.Errorf("Decode(%x) = %v", frame, err)
					return
				}
				pkt := router.Packet{Frame: frame, Parsed: &p, VID: in.vid, InPort: inPort, Counts: &counts}
				if in.port != 0 {
					pkt.InPort, pkt.InRouted = in.port, true
				}
				now := t0 + int64(i)*1000
				v, _ := h.r.Input(&pkt, sink, now)
				switch v {
				case router.Pass, router.Consumed, router.Drop:
				case router.Forward:
					var q header.Parsed
					if err := q.Decode(frame); err != nil {
						t.Errorf("forwarded frame %x: Decode = %v", frame, err)
						return
					}
				default:
					t.Errorf("Input(%x) = %v, not a verdict", in.frame, v)
					return
				}
				for _, s := range sink.take() {
					var q header.Parsed
					if err := q.Decode(s.frame); err != nil {
						t.Errorf("sent frame %x: Decode = %v", s.frame, err)
						return
					}
				}
			}
		}()
	}
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				h.r.Configure(alt)
			} else {
				h.r.Configure(testConfig())
			}
			now := t0 + int64(i)*1e6
			h.r.Maintain(now)
			_ = h.r.Deferred()
			_ = h.r.Config()
			_ = h.r.ScopeOf(a2IP)
			_ = h.r.Neighbors().Entries(now)
			_ = h.r.NAT().Entries(now)
			h.r.Announce(now)
			h.inj.take()
		}
	}()
	wg.Wait()
	close(stop)
	side.Wait()
}
