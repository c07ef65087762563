//go:build linux

package test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// fragScript sends a UDP datagram of SIZE bytes (pattern SEED) from SPORT
// to DST:DPORT in 1000-byte fragments, in ORDER: in-order, reverse (the
// first fragment last), shuffle, or overlap (a fragment overlapping the
// first by 8 bytes comes second: the datagram must be dropped).
const fragScript = `
dst, dport, size, order, seed, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
payload = bytes(((i*7 + seed*13 + i//251) & 0xff) for i in range(size))
p = IP(dst=dst, id=random.randint(1, 65535))/UDP(sport=sport, dport=dport)/Raw(payload)
fr = fragment(p, fragsize=1000)
if order == 'reverse':
    fr.reverse()
elif order == 'shuffle':
    random.seed(seed)
    while fr[0].frag == 0:
        random.shuffle(fr)
elif order == 'overlap':
    raw_ = bytes(p[IP].payload)
    o = IP(dst=dst, id=p.id, flags='MF', frag=(1000-8)//8, proto=17)/Raw(raw_[992:2000])
    fr = [fr[0], o] + fr[1:]
send(fr, verbose=0)
print('sent', len(fr))
`

// floodScript sends COUNT first fragments (MF set, never completed) of
// distinct datagrams from SRC to DST:DPORT. SRC is an address no real
// traffic uses: fragments are keyed by addresses, protocol and IP ID, so
// a complete datagram sent later from a flooding address could draw the
// ID of a held incomplete one and be merged with it (and dropped as an
// overlap, as Linux would too).
const floodScript = `
src, dst, dport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pkts = [IP(src=src, dst=dst, id=i, flags='MF')/UDP(sport=40001, dport=dport, len=3000, chksum=0)/Raw(b'x'*1264) for i in range(1, count+1)]
send(pkts, verbose=0)
print('sent', len(pkts))
`

// expectDatagram waits for one datagram of size bytes with pattern seed
// on c (or, with none, checks that nothing arrives for timeout).
func expectDatagram(c *net.UDPConn, seed, size int, timeout time.Duration) error {
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := c.ReadFromUDP(buf)
	if size < 0 {
		if err == nil {
			return fmt.Errorf("a %d-byte datagram from %v arrived, want none", n, from)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("no %d-byte datagram: %w", size, err)
	}
	if !bytes.Equal(buf[:n], pattern(seed, size)) {
		return fmt.Errorf("got %d bytes from %v, not the %d-byte datagram sent", n, from, size)
	}
	return nil
}

// TestPrivilegedKernelNATFragments: UDP datagrams of 3,000 to 65,000 bytes
// (fragmented by the sender, refragmented by vswitchd for the 1400-byte
// uplink and by inet for the 1300-byte far link) cross the masquerade and
// a published port both ways with every byte intact; fragments sent in
// reverse and shuffled order (scapy) from an endpoint and from outside
// arrive; an overlapping fragment drops its datagram (counted); a flood
// of datagrams that never complete is evicted within the budget while
// complete ones still get through.
func TestPrivilegedKernelNATFragments(t *testing.T) {
	testutil.RequireTools(t, "scapy")
	l := startLab(t, labOptions{})
	in := setupMTUInternet(t, l)
	l.mustCtl("network", "create", "--subnet", "172.29.0.0/24", "frag")
	l.mustCtl("run", "-d", "--net", "frag", "--name", "a")
	l.mustCtl("run", "-d", "--net", "frag", "--name", "web", "-p", "7701:7701/udp", "-p", "7702:7702/udp")
	aNS, webNS := l.epNS(t, "a"), l.epNS(t, "web")
	// At a low rate (one datagram in flight) every datagram arrives both
	// ways, byte for byte: 1,200 of 3,000 bytes among them, more than the
	// 1,000 fragmented datagrams that used to fill the old fragment table
	// for 30 s.
	counts := []struct{ size, n int }{{3000, 1200}, {8000, 200}, {30000, 40}, {65000, 20}}
	roundTrips := func(t *testing.T, c *net.UDPConn, dst string) {
		t.Helper()
		for _, k := range counts {
			lost := 0
			for i := range k.n {
				if err := udpRoundTrip(c, dst, i+k.size, k.size, 3*time.Second); err != nil {
					if lost++; lost <= 3 {
						t.Errorf("%s and back: %v", dst, err)
					}
				}
			}
			t.Logf("%d-byte datagrams: %d of %d echoed intact", k.size, k.n-lost, k.n)
		}
	}
	t.Run("masquerade", func(t *testing.T) {
		srv := udpIn(t, in.srv.name, srvAddr+":7700")
		udpEcho(srv)
		roundTrips(t, udpIn(t, aNS, "0.0.0.0:0"), srvAddr+":7700")
	})
	t.Run("published", func(t *testing.T) {
		web := udpIn(t, webNS, "0.0.0.0:7701")
		udpEcho(web)
		roundTrips(t, udpIn(t, in.srv.name, srvAddr+":0"), uplinkAddr+":7701")
	})

	srvRecv := udpIn(t, in.srv.name, srvAddr+":7800")
	webRecv := udpIn(t, webNS, "0.0.0.0:7702")
	for i, order := range []string{"reverse", "shuffle", "in-order"} {
		t.Run("scapy "+order, func(t *testing.T) {
			seed := 100 + i
			r := scapy(t, aNS, fragScript, srvAddr, "7800", "5000", order, strconv.Itoa(seed), "40000")
			if r.code != 0 {
				t.Fatalf("scapy in the endpoint: %v", r)
			}
			if err := expectDatagram(srvRecv, seed, 5000, 5*time.Second); err != nil {
				t.Errorf("fragments from the endpoint, %s: %v", order, err)
			}
			r = scapy(t, in.srv.name, fragScript, uplinkAddr, "7702", "5000", order, strconv.Itoa(seed+50), "40000")
			if r.code != 0 {
				t.Fatalf("scapy outside: %v", r)
			}
			if err := expectDatagram(webRecv, seed+50, 5000, 5*time.Second); err != nil {
				t.Errorf("fragments from outside to the published port, %s: %v", order, err)
			}
		})
	}

	t.Run("overlap", func(t *testing.T) {
		before := l.routerStat(t, "drop-frag-overlap")
		if r := scapy(t, aNS, fragScript, srvAddr, "7800", "3000", "overlap", "7", "40002"); r.code != 0 {
			t.Fatalf("scapy: %v", r)
		}
		if err := expectDatagram(srvRecv, 7, -1, 2*time.Second); err != nil {
			t.Error(err)
		}
		if after := l.routerStat(t, "drop-frag-overlap"); after <= before {
			t.Errorf("drop-frag-overlap %d → %d, want it counted", before, after)
		}
	})

	t.Run("flood of incomplete datagrams", func(t *testing.T) {
		// Other zones may hold a little (the overlap's leftovers).
		before := l.natStat(t, "defrag_bytes")
		r := scapy(t, in.srv.name, floodScript, "198.51.100.9", uplinkAddr, "7702", "3500")
		if r.code != 0 || !strings.Contains(r.stdout, "sent 3500") {
			t.Fatalf("scapy flood: %v", r)
		}
		eventually(t, 10*time.Second, func() error {
			if n := l.routerStat(t, "drop-frag-budget"); n == 0 {
				return fmt.Errorf("no incomplete datagram evicted after 3500 (%d MiB) of them", 3500*1300>>20)
			}
			return nil
		})
		// The uplink's zone holds the flood, within its budget.
		held, budget := l.natStat(t, "defrag_bytes")-before, l.natStat(t, "defrag_zone_budget")
		t.Logf("after the flood: %d bytes held for reassembly (%d before; budget %d per zone), %d datagrams evicted",
			held, before, budget, l.routerStat(t, "drop-frag-budget"))
		if budget == 0 || held > budget || held < budget/2 {
			t.Errorf("after the flood %d bytes are held, want at most the budget %d (and most of it: the flood is larger)", held, budget)
		}
		// Complete datagrams still get through, from outside and from
		// the endpoint.
		c := udpIn(t, in.srv.name, srvAddr+":0")
		web := udpIn(t, webNS, "0.0.0.0:7701")
		udpEcho(web)
		if err := udpRoundTrip(c, uplinkAddr+":7701", 9, 8000, 3*time.Second); err != nil {
			t.Errorf("after the flood: %v", err)
		}
	})
}
