package dns

import (
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// startHandler serves s.Handler(networkOf) over TCP on a random port of
// 127.0.0.1 until the test ends and returns its address.
func startHandler(t *testing.T, s *Server, networkOf func(netip.Addr) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{Listener: ln, Handler: s.Handler(networkOf), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func TestHandlerTCP(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	t.Cleanup(func() { s.Close() })
	testNames(s)
	var many []Record
	for i := range 100 {
		many = append(many, Record{Name: "many", Addr: netip.AddrFrom4([4]byte{10, 0, 3, byte(i)})})
	}
	s.SetNetwork("net3", many)

	networks := map[netip.Addr]string{netip.MustParseAddr("127.0.0.1"): "net1"}
	net1 := startHandler(t, s, func(a netip.Addr) string { return networks[a] })
	net3 := startHandler(t, s, func(netip.Addr) string { return "net3" })
	none := startHandler(t, s, func(netip.Addr) string { return "" })

	tests := []struct {
		name   string
		server string
		qname  string
		rcode  int
		count  int // answers
	}{
		{name: "local", server: net1, qname: "apple-server", count: 1},
		{name: "alias", server: net1, qname: "web", count: 2},
		{name: "other network", server: net1, qname: "banana.net2", rcode: mdns.RcodeNameError},
		{name: "forwarded", server: net1, qname: "example.com", count: 1},
		{name: "no truncation over TCP", server: net3, qname: "many", count: 100},
		{name: "no network", server: none, qname: "apple-server", rcode: mdns.RcodeRefused},
	}
	c := &mdns.Client{Net: "tcp"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := new(mdns.Msg).SetQuestion(mdns.Fqdn(tt.qname), mdns.TypeA)
			m, _, err := c.Exchange(req, tt.server)
			if err != nil {
				t.Fatalf("Exchange(%s) over TCP: %v", tt.qname, err)
			}
			if m.Rcode != tt.rcode || len(m.Answer) != tt.count || m.Truncated {
				t.Errorf("answer %s with %d records, TC %v; want %s with %d",
					mdns.RcodeToString[m.Rcode], len(m.Answer), m.Truncated, mdns.RcodeToString[tt.rcode], tt.count)
			}
		})
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream got %d queries, want 1", n)
	}
}

// TestHandlerUDP checks that an answer through Handler to a client over UDP
// is truncated like one from ServeUDP.
func TestHandlerUDP(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { s.Close() })
	var many []Record
	for i := range 100 {
		many = append(many, Record{Name: "many", Addr: netip.AddrFrom4([4]byte{10, 0, 3, byte(i)})})
	}
	s.SetNetwork("net3", many)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{PacketConn: pc, Handler: s.Handler(func(netip.Addr) string { return "net3" }), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })

	m, _, err := new(mdns.Client).Exchange(new(mdns.Msg).SetQuestion("many.", mdns.TypeA), pc.LocalAddr().String())
	if err != nil {
		t.Fatalf("Exchange over UDP: %v", err)
	}
	m.Compress = true // as sent
	if !m.Truncated || m.Len() > mdns.MinMsgSize {
		t.Errorf("answer TC %v, %d bytes; want TC and at most 512 bytes", m.Truncated, m.Len())
	}
}
