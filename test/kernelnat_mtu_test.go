//go:build linux

package test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// TestPrivilegedKernelNATPathMTU: endpoints at MTU 1500 behind an uplink
// of MTU 1400 and a far link of 1300 (beyond the kernel router inet, whose
// server announces an MSS of 1460 regardless). TCP bulk completes both
// ways through the masquerade and a published port, with the MSS clamp
// (the default) and without it (path MTU discovery alone: vswitchd's own
// fragmentation-needed at 1400, inet's at 1300 translated back); tcpdump
// in the endpoint sees the errors addressed to it, and tracepath finds the
// path MTU of 1300.
func TestPrivilegedKernelNATPathMTU(t *testing.T) {
	testutil.RequireTools(t, "iperf3", "tcpdump", "tracepath", "ping")
	for _, clamp := range []bool{true, false} {
		t.Run(fmt.Sprintf("mss-clamp=%v", clamp), func(t *testing.T) {
			l := startLab(t, labOptions{args: []string{fmt.Sprintf("--mss-clamp=%v", clamp)}})
			in := setupMTUInternet(t, l)
			l.mustCtl("network", "create", "--subnet", "172.28.0.0/24", "mtu")
			l.mustCtl("run", "-d", "--net", "mtu", "--name", "a")
			l.mustCtl("run", "-d", "--net", "mtu", "--name", "web", "-p", "5202:5201", "--", "iperf3", "-s")
			aIP := nicOn(t, l, "a", "mtu").IP
			webIP := nicOn(t, l, "web", "mtu").IP
			in.srv.start(t, "iperf3", "-s")
			waitListening(t, in.srv.run, "tcp", 5201)
			waitListening(t, l.epRunner("web"), "tcp", 5201)
			capA := startCapture(t, l.epNS(t, "a"), "eth0", "icmp")
			capWeb := startCapture(t, l.epNS(t, "web"), "eth0", "icmp")

			bulk := func(what string, r result) {
				t.Helper()
				out := r.stdout + r.stderr
				if r.code != 0 || !strings.Contains(out, "receiver") {
					t.Fatalf("%s: %v", what, r)
				}
				m := regexp.MustCompile(`([\d.]+) ([KMG])bits/sec.*receiver`).FindStringSubmatch(out)
				if m == nil || m[2] == "K" {
					t.Errorf("%s: receiver rate %v:\n%s\n%s", what, m, out, l.ctl("stats").stdout)
				} else {
					t.Logf("%s: %s %sbit/s", what, m[1], m[2])
				}
			}
			bulk("endpoint → srv through the masquerade", l.exec("a", "iperf3", "-c", srvAddr, "-t", "2"))
			bulk("srv → endpoint through the masquerade", l.exec("a", "iperf3", "-c", srvAddr, "-t", "2", "-R"))
			bulk("srv → the published port", in.srv.run("iperf3", "-c", uplinkAddr, "-p", "5202", "-t", "2"))
			bulk("the published port → srv", in.srv.run("iperf3", "-c", uplinkAddr, "-p", "5202", "-t", "2", "-R"))

			t.Logf("router: mss-clamped %d, gso-resized %d, drop-too-big %d, fragmented %d",
				l.routerStat(t, "mss-clamped"), l.routerStat(t, "gso-resized"), l.routerStat(t, "drop-too-big"), l.routerStat(t, "fragmented"))
			// inet's fragmentation needed (MTU 1300), translated back to
			// each endpoint's own address.
			capA.waitFor(t, 5*time.Second, "> "+aIP+":", "need to frag (mtu 1300)")
			capWeb.waitFor(t, 5*time.Second, "> "+webIP+":", "need to frag (mtu 1300)")
			if !clamp {
				// vswitchd's own: the uplink's MTU, from the gateway. Bulk
				// TCP may not show it: its first window can go as one GSO
				// super-frame (resized, not refused), and once inet's 1300
				// is learnt nothing larger is sent. A DF ping of 1500 bytes
				// that ignores the cached path MTU (-M probe) always does.
				l.exec("a", "ping", "-M", "probe", "-s", "1472", "-c", "1", "-W", "1", srvAddr)
				capA.waitFor(t, 5*time.Second, gateway(t, l, "mtu")+" > "+aIP+":", "need to frag (mtu 1400)")
				if n := l.routerStat(t, "drop-too-big"); n == 0 {
					t.Error("no drop-too-big counted")
				}
			} else if n := l.routerStat(t, "mss-clamped"); n == 0 {
				t.Error("no mss-clamped counted")
			}

			if clamp {
				out := l.mustExec("a", "tracepath", "-n", srv2Addr) // no path MTU cached yet
				if !strings.Contains(out, "pmtu 1400") || !regexp.MustCompile(`Resume: pmtu 1300`).MatchString(out) {
					t.Errorf("tracepath does not find the path MTU of 1300 (1400 on the uplink):\n%s", out)
				}
			}
		})
	}
}
