package dns

import (
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// newQuery returns a packed query for name and qtype with RD set, and an
// EDNS0 OPT record advertising bufsize when bufsize is not 0.
func newQuery(t testing.TB, name string, qtype uint16, bufsize uint16) (*mdns.Msg, []byte) {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qtype)
	if bufsize != 0 {
		m.SetEdns0(bufsize, false)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query for %s: %v", name, err)
	}
	return m, b
}

// result is one call of a ServeUDP reply function.
type result struct {
	msg  *mdns.Msg
	size int
}

// serve calls s.ServeUDP and returns its answer, whether it came before
// ServeUDP returned, and fails if none comes within 5 s.
func serve(t testing.TB, s *Server, network string, query []byte) (r result, sync bool) {
	t.Helper()
	ch := make(chan result, 2)
	var calls atomic.Int32
	s.ServeUDP(network, query, func(resp []byte) {
		calls.Add(1)
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			t.Errorf("Unpack(answer %x) = %v", resp, err)
		}
		ch <- result{msg: m, size: len(resp)}
	})
	sync = calls.Load() == 1
	select {
	case r = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("ServeUDP(%q) gave no answer within 5 s", network)
	}
	time.Sleep(time.Millisecond) // a second call would be a bug; give it a chance to show
	if n := calls.Load(); n != 1 {
		t.Errorf("reply called %d times, want 1", n)
	}
	return r, sync
}

// fakeUpstream is a resolver on 127.0.0.1, UDP and TCP on one port.
type fakeUpstream struct {
	addr    netip.AddrPort
	queries atomic.Int64 // queries received, over UDP and TCP
}

// startUpstream serves h on a random port of 127.0.0.1 until the test ends.
func startUpstream(t testing.TB, h func(w mdns.ResponseWriter, r *mdns.Msg)) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("listen tcp beside udp: %v", err)
	}
	u.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		u.queries.Add(1)
		h(w, r)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// deadUpstream returns the address of a UDP socket that never answers.
func deadUpstream(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// answerA answers every query with addr as an A record, or NXDOMAIN for
// names starting with "nx".
func answerA(addr string) func(w mdns.ResponseWriter, r *mdns.Msg) {
	return func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		q := r.Question[0]
		if len(q.Name) > 2 && q.Name[:2] == "nx" {
			m.Rcode = mdns.RcodeNameError
		} else if q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: header(q.Name, mdns.TypeA, 60), A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	}
}

// rcodeOnly answers every query with rcode.
func rcodeOnly(rcode int) func(w mdns.ResponseWriter, r *mdns.Msg) {
	return func(w mdns.ResponseWriter, r *mdns.Msg) {
		_ = w.WriteMsg(new(mdns.Msg).SetRcode(r, rcode))
	}
}

// waitGoroutines waits until at most n goroutines run, failing after 5 s.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running, want at most %d (leak)", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rdata returns the data of each record of rrs as text ("10.0.1.2",
// "apple-server.").
func rdata(rrs []mdns.RR) []string {
	var s []string
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *mdns.A:
			s = append(s, rr.A.String())
		case *mdns.AAAA:
			s = append(s, rr.AAAA.String())
		case *mdns.PTR:
			s = append(s, rr.Ptr)
		case *mdns.SOA:
			s = append(s, "SOA "+rr.Hdr.Name)
		default:
			s = append(s, rr.String())
		}
	}
	return s
}
