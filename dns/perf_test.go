package dns

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// BenchmarkDNSPerf measures queries per second over loopback UDP with
// dnsperf(1), of this package's ServeUDP behind a socket read by one
// goroutine, and of dnsmasq(8) as a baseline, each answering a local name
// and a forwarded name from its cache. ns/op is per query, as dnsperf
// measures it with 100 queries outstanding. It skips unless dnsperf and
// dnsmasq are installed (Debian: apt-get install dnsperf dnsmasq-base).
func BenchmarkDNSPerf(b *testing.B) {
	for _, tool := range []string{"dnsperf", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	up := startUpstream(b, answerA("192.0.2.1"))

	s := New(Options{Upstreams: []netip.AddrPort{up.addr}})
	b.Cleanup(func() { s.Close() })
	testNames(s)
	ours := serveSocket(b, s, "net1")
	theirs := startDnsmasq(b, up.addr)

	for _, srv := range []struct {
		name string
		addr netip.AddrPort
	}{{"vswitchd", ours}, {"dnsmasq", theirs}} {
		for _, q := range []struct{ name, query string }{{"local", "web A"}, {"cached", "example.com A"}} {
			b.Run(srv.name+"/"+q.name, func(b *testing.B) {
				dnsperf(b, srv.addr, q.query)
			})
		}
	}
}

// dnsperf sends b.N copies of query ("NAME TYPE") to addr and reports the
// rate dnsperf measured.
func dnsperf(b *testing.B, addr netip.AddrPort, query string) {
	b.Helper()
	data := filepath.Join(b.TempDir(), "queries")
	if err := os.WriteFile(data, []byte(query+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("dnsperf", "-s", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())),
		"-d", data, "-n", strconv.Itoa(b.N), "-q", "100", "-t", "2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Queries per second:\s+([0-9.]+)`).FindSubmatch(out)
	lost := regexp.MustCompile(`Queries lost:\s+([0-9]+)`).FindSubmatch(out)
	if m == nil || lost == nil {
		b.Fatalf("dnsperf output without a rate:\n%s", out)
	}
	if !bytes.Equal(lost[1], []byte("0")) || !bytes.Contains(out, []byte("NOERROR")) {
		b.Fatalf("dnsperf: queries lost or not NOERROR:\n%s", out)
	}
	qps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || qps == 0 {
		b.Fatalf("dnsperf rate %q: %v", m[1], err)
	}
	b.ReportMetric(qps, "queries/s")
	b.ReportMetric(1e9/qps, "ns/op")
}

// serveSocket serves s on a UDP socket of 127.0.0.1 for scope, reading
// queries from one goroutine as the router does, until the benchmark ends.
func serveSocket(b *testing.B, s *Server, scope string) netip.AddrPort {
	return serveUDP(b, func(pc *net.UDPConn, q []byte, client netip.AddrPort) {
		s.ServeUDP(scope, q, func(resp []byte) { _, _ = pc.WriteToUDPAddrPort(resp, client) })
	})
}

// startDnsmasq runs dnsmasq on a free port of 127.0.0.1 with the name "web"
// and upstream as its only server, until the benchmark ends.
func startDnsmasq(b *testing.B, upstream netip.AddrPort) netip.AddrPort {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen udp: %v", err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	cmd := exec.Command("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port="+strconv.Itoa(int(addr.Port())),
		"--host-record=web,10.0.1.2", fmt.Sprintf("--server=%s#%d", upstream.Addr(), upstream.Port()),
		"--cache-size=10000", "--pid-file=", "--log-facility=-")
	if os.Geteuid() == 0 {
		cmd.Args = append(cmd.Args, "--user=root", "--group=root")
	}
	logPath := filepath.Join(b.TempDir(), "dnsmasq.log")
	log, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close() // the child has its own copy
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		b.Fatalf("start dnsmasq: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := &mdns.Client{Timeout: 100 * time.Millisecond}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, _, err := c.Exchange(new(mdns.Msg).SetQuestion("web.", mdns.TypeA), addr.String()); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			b.Fatalf("dnsmasq does not answer on %s:\n%s", addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
