//go:build linux

package test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// The kernel's side of TestPrivilegedKernelNATSideBySide: a router
// namespace kr doing what Docker's iptables rules do (MASQUERADE of its
// inside subnet, DNAT of published ports), attached to the same "internet"
// as vswitchd's uplink, by a link of the same MTU (1400), with a client
// namespace kc behind it at 1500.
const (
	krOutAddr = "192.0.2.2" // kr's outside address, as uplinkAddr is vswitchd's
	kcAddr    = "172.31.0.2"
)

func setupKernelRouter(t *testing.T, l *lab, in *internet) (kr, kc *peerNS) {
	t.Helper()
	kr, kc = l.newNS(t, "kr"), l.newNS(t, "kc")
	veth(t, in.inet.name, "eth2", kr.name, "out0")
	veth(t, kr.name, "in0", kc.name, "eth0")
	addAddr(t, in.inet.name, "eth2", "192.0.2.1/24")
	addAddr(t, kr.name, "out0", krOutAddr+"/24")
	addAddr(t, kr.name, "in0", "172.31.0.1/24")
	addAddr(t, kc.name, "eth0", kcAddr+"/24")
	for _, c := range []struct {
		ns   *peerNS
		args []string
	}{
		{in.inet, []string{"ip", "link", "set", "eth2", "mtu", "1400"}},
		{kr, []string{"ip", "link", "set", "out0", "mtu", "1400"}},
		{kr, []string{"ip", "route", "add", "default", "via", "192.0.2.1"}},
		{kc, []string{"ip", "route", "add", "default", "via", "172.31.0.1"}},
		{kr, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{kr, []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.31.0.0/24", "-o", "out0", "-j", "MASQUERADE"}},
		{kr, []string{"iptables", "-t", "nat", "-A", "PREROUTING", "-i", "out0", "-p", "tcp", "--dport", "5202", "-j", "DNAT", "--to-destination", kcAddr + ":5201"}},
		{kr, []string{"iptables", "-t", "nat", "-A", "PREROUTING", "-i", "out0", "-p", "udp", "--dport", "5202", "-j", "DNAT", "--to-destination", kcAddr + ":5201"}},
		{kr, []string{"iptables", "-t", "nat", "-A", "PREROUTING", "-i", "out0", "-p", "udp", "--dport", "7701", "-j", "DNAT", "--to-destination", kcAddr + ":7701"}},
	} {
		if r := c.ns.run(c.args...); r.code != 0 {
			t.Fatalf("%s in %s: %v", strings.Join(c.args, " "), c.ns.name, r)
		}
	}
	return kr, kc
}

// iperfJSON is the part of iperf3 -J's report the side-by-side test reads.
type iperfJSON struct {
	End struct {
		Sum struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			Packets       int     `json:"packets"`
			LostPackets   int     `json:"lost_packets"`
		} `json:"sum"`
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

func parseIperf(r result) (iperfJSON, error) {
	var j iperfJSON
	if r.code != 0 {
		return j, fmt.Errorf("iperf3: %v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		return j, fmt.Errorf("iperf3 -J: %w\n%s", err, r.stdout)
	}
	return j, nil
}

// natPath is one of the two NATs the side-by-side test compares.
type natPath struct {
	name   string
	inside string                 // the client namespace behind the NAT
	pub    string                 // the NAT's outside address
	exec   func(...string) result // runs a command in inside
}

// TestPrivilegedKernelNATSideBySide runs the same traffic through vswitchd
// and through kernel routing with iptables MASQUERADE and DNAT, on the
// same path (a 1400-byte link to the kernel router inet, a 1300-byte link
// beyond it, endpoints at 1500): UDP datagrams of 3,000 to 65,000 bytes
// echoed one at a time, every one intact through both (what the kernel
// does is the expectation), and TCP bulk both ways through the masquerade
// and the published port. It logs, for the record and not as a pass
// condition (speed belongs to benchmarks), the share of UDP datagrams
// delivered at 200 Mbit/s offered (iperf3 -u) and the TCP rates of each
// path.
func TestPrivilegedKernelNATSideBySide(t *testing.T) {
	testutil.RequireTools(t, "iptables", "iperf3")
	l := startLab(t, labOptions{})
	in := setupMTUInternet(t, l)
	_, kc := setupKernelRouter(t, l, in)
	l.mustCtl("network", "create", "--subnet", "172.23.0.0/24", "side")
	l.mustCtl("run", "-d", "--net", "side", "--name", "a")
	l.mustCtl("run", "-d", "--net", "side", "--name", "web", "-p", "5202:5201", "-p", "5202:5201/udp", "-p", "7701:7701/udp", "--", "iperf3", "-s")
	kc.start(t, "iperf3", "-s")
	in.srv.start(t, "iperf3", "-s")
	waitListening(t, in.srv.run, "tcp", 5201)
	waitListening(t, kc.run, "tcp", 5201)
	waitListening(t, l.epRunner("web"), "tcp", 5201)
	paths := []natPath{
		{"iptables", kc.name, krOutAddr, kc.run},
		{"vswitchd", l.epNS(t, "a"), uplinkAddr, func(args ...string) result { return l.exec("a", args...) }},
	}
	pubNS := map[string]string{"iptables": kc.name, "vswitchd": l.epNS(t, "web")}

	udpEcho(udpIn(t, in.srv.name, srvAddr+":7700"))
	for _, p := range paths {
		udpEcho(udpIn(t, pubNS[p.name], "0.0.0.0:7701"))
	}
	counts := []struct{ size, n int }{{3000, 200}, {8000, 100}, {30000, 20}, {65000, 10}}
	t.Run("UDP echoed one at a time", func(t *testing.T) {
		for _, p := range paths {
			out := udpIn(t, p.inside, "0.0.0.0:0")
			back := udpIn(t, in.srv.name, srvAddr+":0")
			for _, k := range counts {
				var lostOut, lostPub int
				for i := range k.n {
					if udpRoundTrip(out, srvAddr+":7700", i+k.size, k.size, 3*time.Second) != nil {
						lostOut++
					}
					if udpRoundTrip(back, p.pub+":7701", i+k.size, k.size, 3*time.Second) != nil {
						lostPub++
					}
				}
				t.Logf("%-8s %5d-byte datagrams echoed intact: masquerade %d/%d, published port %d/%d", p.name, k.size, k.n-lostOut, k.n, k.n-lostPub, k.n)
				if lostOut+lostPub > 0 {
					t.Errorf("%s: %d-byte datagrams lost: %d through the masquerade, %d through the published port (of %d each)", p.name, k.size, lostOut, lostPub, k.n)
				}
			}
		}
	})

	t.Run("UDP rates", func(t *testing.T) {
		for _, rate := range []string{"200M"} {
			for _, k := range counts {
				line := fmt.Sprintf("UDP %5d B at %4s offered, delivered:", k.size, rate)
				for _, p := range paths {
					for _, dir := range []struct {
						what string
						run  func(...string) result
						dst  string
					}{{"masquerade", p.exec, srvAddr}, {"published", in.srv.run, p.pub + " -p 5202"}} {
						args := append([]string{"iperf3", "-c"}, strings.Fields(dir.dst)...)
						j, err := parseIperf(dir.run(append(args, "-u", "-l", strconv.Itoa(k.size), "-b", rate, "-t", "2", "-J")...))
						if err != nil {
							t.Errorf("%s %s: %v", p.name, dir.what, err)
							continue
						}
						s := j.End.Sum
						pct := 0.0
						if s.Packets > 0 {
							pct = 100 * float64(s.Packets-s.LostPackets) / float64(s.Packets)
						}
						line += fmt.Sprintf("  %s %s %5.1f%%", p.name, dir.what, pct)
					}
				}
				t.Log(line)
			}
		}
	})

	t.Run("TCP bulk", func(t *testing.T) {
		for _, p := range paths {
			line := p.name + " TCP over the 1400/1300-byte path, Gbit/s:"
			for _, c := range []struct {
				what string
				run  func(...string) result
				args []string
			}{
				{"out", p.exec, []string{srvAddr}},
				{"in (-R)", p.exec, []string{srvAddr, "-R"}},
				{"to the published port", in.srv.run, []string{p.pub, "-p", "5202"}},
				{"from the published port (-R)", in.srv.run, []string{p.pub, "-p", "5202", "-R"}},
			} {
				j, err := parseIperf(c.run(append(append([]string{"iperf3", "-c"}, c.args...), "-t", "2", "-J")...))
				if err != nil {
					t.Errorf("%s %s: %v", p.name, c.what, err)
					continue
				}
				bps := j.End.SumReceived.BitsPerSecond
				if bps < 1e6 {
					t.Errorf("%s %s: %.0f bit/s received: stalled", p.name, c.what, bps)
				}
				line += fmt.Sprintf("  %s %.2f", c.what, bps/1e9)
			}
			t.Log(line)
		}
	})
}
