//go:build linux

package test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
)

// tsharkFields reads a pcapng file with tshark and returns one row of
// fields per packet.
func tsharkFields(t *testing.T, file string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := runCmd(ctx, "", "tshark", args...)
	if r.code != 0 {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), r)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

// captureRun is a vswitchctl capture running in the background.
type captureRun struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func (l *lab) startCaptureCtl(t *testing.T, stdout io.Writer, args ...string) *captureRun {
	t.Helper()
	c := &captureRun{stderr: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(filepath.Join(binDir, "vswitchctl"), append([]string{"--socket", l.socket, "capture"}, args...)...)
	c.cmd.Stdout, c.cmd.Stderr = stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	time.Sleep(300 * time.Millisecond) // the tap is attached
	return c
}

// stop interrupts the capture (Ctrl-C) and returns its report.
func (c *captureRun) stop(t *testing.T) string {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	return c.wait(t)
}

func (c *captureRun) wait(t *testing.T) string {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("vswitchctl capture: %v\n%s", err, c.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("vswitchctl capture did not end\n%s", c.stderr)
	}
	return c.stderr.String()
}

var capturedRE = regexp.MustCompile(`(?m)^(\d+) packets captured\n(\d+) packets dropped by the switch$`)

// TestPrivilegedCapture: one pcapng capture of two endpoints on different
// networks and the uplink follows a TCP connection through the router's
// DNAT (to a published port via host.vswitchd.internal) and a ping out
// through the masquerade: each packet appears on each port it crossed,
// with its direction and as it was there (before and after translation);
// tcpdump and tshark read the file, from disk and from a pipe.
func TestPrivilegedCapture(t *testing.T) {
	testutil.RequireTools(t, "tshark", "tcpdump", "nc", "ping")
	l := startLab(t, labOptions{})
	setupInternet(t, l)
	walkthrough(t, l)
	l.mustCtl("run", "-d", "--net", "test-network", "--name", "echo-server", "-p", "45678:45678", "--",
		"sh", "-c", "while :; do nc -l -p 45678 >/dev/null; done")
	waitListening(t, l.epRunner("echo-server"), "tcp", 45678)
	red := nicOn(t, l, "red-apple", "applesonly").IP
	echo := nicOn(t, l, "echo-server", "test-network").IP

	file := filepath.Join(t.TempDir(), "walk.pcapng")
	c := l.startCaptureCtl(t, nil, "-w", file, "--filter", "tcp port 45678 or icmp", "red-apple", "echo-server", "uplink")
	l.mustExec("red-apple", "sh", "-c", "echo hi | nc -N -w 5 host.vswitchd.internal 45678")
	l.mustExec("red-apple", "ping", "-c1", "-W2", srvAddr)
	report := c.stop(t)
	m := capturedRE.FindStringSubmatch(report)
	if m == nil || m[1] == "0" || m[2] != "0" {
		t.Fatalf("capture report %q, want packets captured and none dropped", report)
	}

	rows := tsharkFields(t, file, "frame.interface_name", "frame.packet_flags_direction", "ip.src", "ip.dst", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "icmp.type")
	if n, _ := strconv.Atoi(m[1]); n != len(rows) {
		t.Errorf("report says %s packets, tshark read %d", m[1], len(rows))
	}
	has := func(want ...string) bool {
		for _, r := range rows {
			if strings.Join(r, "|") == strings.Join(want, "|") {
				return true
			}
		}
		return false
	}
	const in, out = "0x00000001", "0x00000002"
	for _, want := range [][]string{
		// The SYN as red-apple sent it, to the host's address…
		{"red-apple/eth0", in, red, "169.254.127.1", "45678", "1", "0", ""},
		// …and as echo-server received it, after the DNAT.
		{"echo-server/eth0", out, red, echo, "45678", "1", "0", ""},
		// The ping as red-apple sent it, and on the uplink after the
		// masquerade, and its reply both ways.
		{"red-apple/eth0", in, red, srvAddr, "", "", "", "8"},
		{"up0", out, uplinkAddr, srvAddr, "", "", "", "8"},
		{"up0", in, srvAddr, uplinkAddr, "", "", "", "0"},
		{"red-apple/eth0", out, srvAddr, red, "", "", "", "0"},
	} {
		if !has(want...) {
			t.Errorf("capture has no packet %v; it has:\n%s", want, joinRows(rows))
		}
	}
	for _, r := range rows {
		if r[4] != "" && r[4] != "45678" && r[5] == "1" && r[6] == "0" {
			t.Errorf("the filter let through %v", r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r := runCmd(ctx, "", "tcpdump", "-n", "-r", file); r.code != 0 || !strings.Contains(r.stdout, "ICMP echo request") {
		t.Errorf("tcpdump -r: %v", r)
	}

	// -w - into tcpdump and tshark reading a pipe; -c ends it.
	for _, reader := range []string{"tcpdump -n -r -", "tshark -r -"} {
		pipe := exec.Command("sh", "-c", filepath.Join(binDir, "vswitchctl")+" --socket "+l.socket+" capture -w - -c 2 --filter icmp red-apple | "+reader)
		var outBuf syncBuffer
		pipe.Stdout, pipe.Stderr = &outBuf, &outBuf
		if err := pipe.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		l.mustExec("red-apple", "ping", "-c1", "-W2", srvAddr)
		waited := make(chan error, 1)
		go func() { waited <- pipe.Wait() }()
		select {
		case err := <-waited:
			if err != nil || !strings.Contains(outBuf.String(), red) || !strings.Contains(outBuf.String(), "2 packets captured") {
				t.Errorf("capture -w - -c 2 | %s: %v\n%s", reader, err, outBuf.String())
			}
		case <-time.After(20 * time.Second):
			pipe.Process.Kill()
			t.Errorf("capture -c 2 | %s did not end:\n%s", reader, outBuf.String())
		}
	}

	// Without -w: one line per packet, with its port and direction.
	var text syncBuffer
	c = l.startCaptureCtl(t, &text, "-c", "2", "--filter", "icmp", "red-apple")
	l.mustExec("red-apple", "ping", "-c1", "-W2", srvAddr)
	c.wait(t)
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "red-apple/eth0 in ") || !strings.Contains(lines[0], "IP "+red+" > "+srvAddr) ||
		!strings.Contains(lines[1], "red-apple/eth0 out") || !strings.Contains(lines[1], "ICMP EchoReply") {
		t.Errorf("capture without -w printed:\n%s", text.String())
	}
}

func joinRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, " | ") + "\n")
	}
	return b.String()
}

// TestPrivilegedCaptureStalledReader: a capture whose reader stops
// reading loses frames, counted and reported at the end, and never slows
// forwarding: iperf3 through the captured port is measured with and
// without the stalled capture (reported; timing is not asserted).
func TestPrivilegedCaptureStalledReader(t *testing.T) {
	testutil.RequireTools(t, "iperf3")
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	orange := nicOn(t, l, "orange-server", "test-network").IP
	l.epStart(t, "orange-server", "iperf3", "-s")
	waitListening(t, l.epRunner("orange-server"), "tcp", 5201)
	rate := func() float64 {
		out := l.mustExec("apple-server", "iperf3", "-c", orange, "-t", "2", "-J")
		return iperfBits(t, out)
	}
	base := rate()

	// A reader that does not read: the daemon's writes block, the tap's
	// ring fills, and the rest is dropped.
	pr, pw := io.Pipe()
	ids := make(chan string, 1)
	type result struct {
		st  control.CaptureStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := l.client.Capture(context.Background(), control.CaptureOptions{Targets: []string{"orange-server"}}, pw,
			func(id string) { ids <- id })
		pw.Close()
		done <- result{st, err}
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not start")
	}
	captured := rate()
	if err := l.client.StopCapture(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr) // now read: the stream ends with its trailers
	var res result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("stalled capture did not end after stop")
	}
	if res.err != nil || !res.st.Complete || res.st.Dropped == 0 {
		t.Errorf("stalled capture: %+v %v, want drops counted", res.st, res.err)
	}
	t.Logf("iperf3 through orange-server/eth0: %.2f Gbit/s without capture, %.2f Gbit/s under a stalled capture (%.0f%%); the capture kept %d frames and dropped %d",
		base/1e9, captured/1e9, 100*captured/base, res.st.Captured, res.st.Dropped)
}

// TestPrivilegedCaptureBadInput: an unknown target, a filter that does
// not parse and an unwritable -w are one line each, exit 1, and leave no
// capture or file behind.
func TestPrivilegedCaptureBadInput(t *testing.T) {
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", "-c", "1", "nosuch"}, `capture nosuch: no endpoint`},
		{[]string{"capture", "-c", "1", "--filter", "tcp port", "red-apple"}, "filter"},
		{[]string{"capture", "-c", "1", "--filter", "bogus primitive", "red-apple"}, "filter"},
		{[]string{"capture", "-w", "/nonexistent/dir/x.pcapng", "red-apple"}, "-w /nonexistent/dir/x.pcapng"},
		{[]string{"capture", "-w", filepath.Join(dir, "refused.pcapng"), "nosuch"}, "nosuch"},
		{[]string{"capture", "--snaplen", "-1", "red-apple"}, "snaplen"},
		{[]string{"capture"}, "requires at least 1 arg"},
	} {
		r := l.ctl(tt.args...)
		msg := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 1 || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "Error: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("vswitchctl %s: %v, want one Error line about %q", strings.Join(tt.args, " "), r, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "refused.pcapng")); err == nil {
		t.Error("a refused capture left its file")
	}
}

// epStart runs a command in endpoint ep in the background (ip netns exec,
// killed at cleanup).
func (l *lab) epStart(t *testing.T, ep string, args ...string) {
	t.Helper()
	startProcess(t, "ip", append([]string{"netns", "exec", l.prefix + ep}, args...)...)
}

// iperfBits reads the receiver's rate from iperf3 -J output.
func iperfBits(t *testing.T, out string) float64 {
	t.Helper()
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.End.SumReceived.BitsPerSecond == 0 {
		t.Fatalf("iperf3 -J: %v\n%s", err, out)
	}
	return r.End.SumReceived.BitsPerSecond
}
