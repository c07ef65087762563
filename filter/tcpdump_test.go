package filter_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/vswitchd/vswitchd/filter"
)

// diffExprs are the expressions compiled by both this package and
// libpcap (through tcpdump) and run over the frame corpus. Service names
// are ones libpcap, on Debian, also maps to TCP, UDP and SCTP.
var diffExprs = []string{
	"",
	// protocols
	"ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "pim", "esp", "ah", "vrrp",
	"not ip", "not tcp and not udp", "!arp && !ip6", "ip and not (tcp or udp)", "icmp or icmp6",
	"ip or arp and host 10.0.0.2",
	// hosts and nets
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "ip host 8.8.8.8", "arp host 10.0.0.2",
	"arp dst host 10.0.0.2", "rarp src host 0.0.0.0", "host 10.0.0.1 or 8.8.8.8", "host 10.0.0.1 and not 10.0.0.2",
	"src and dst net 10.0.0.0/8", "src or dst host 10.0.0.2", "not host 10.0.0.1 and not 8.8.8.8",
	"host 10.0.0.1 and (10.0.0.2 or 8.8.8.8)", "host 10.0.0.1 and (port 80 or port 443)", "src 10.0.0.1",
	"net 10.0.0.0/8", "src net 10.0.0.0/24", "dst net 224.0.0.0/4", "net 10.0.0.0 mask 255.255.255.0", "net 10",
	"net 192.168", "net 0.0.0.0/0", "host 10.0", "udp and dst 8.8.8.8",
	"host 2001:db8::1", "ip6 src host 2001:db8::1", "net 2001:db8::/32", "dst net ff02::/16", "ip6 net fe80::/10",
	"net 2001:db8::/36", "ip6 net ::/0", "ip6 dst host ff02::fb",
	// ports
	"port 80", "port 53", "src port 80", "dst port 80", "tcp port 80", "udp port 53", "tcp port 80 or 443",
	"port 80 or 443 or 53", "portrange 1-1023", "tcp dst portrange 440-450", "udp src portrange 5000-6000",
	"port domain", "sctp port 80", "tcp src port 40000", "port 80 and not 443", "src or dst port 53",
	"src and dst port 5353", "(tcp or udp) and port 53", "tcp and (src port 80 or dst port 80)", "tcp port 22",
	// proto
	"ip proto 47", "proto \\tcp", "ip proto \\udp", "ip6 proto 58", "ip6 proto \\tcp", "proto 50", "ip proto 2",
	// link layer
	"ether host 02:42:0a:00:00:01", "ether src 02:42:0a:00:00:01", "ether dst ff:ff:ff:ff:ff:ff",
	"ether src and dst 02:42:0a:00:00:01", "ether host 0242.0a00.0002", "ether proto 0x88cc", "ether proto \\arp",
	"ether proto \\ip6", "ether proto 0x42", "ether proto 6", "ether broadcast", "broadcast", "ether multicast",
	"multicast", "ip multicast", "ip6 multicast", "ip broadcast", "ether multicast and not ether broadcast",
	// VLANs: after "vlan", primitives look inside the tag
	"vlan", "vlan 100", "vlan 200", "vlan 10", "vlan and tcp", "vlan 100 and tcp port 80", "vlan and vlan",
	"vlan 10 and vlan 200 and tcp", "vlan and vlan and icmp", "vlan 100 or vlan 200", "not vlan", "vlan and ip6",
	"vlan 100 and arp", "vlan and host 10.0.0.1", "vlan 300 and udp", "vlan and ether host 02:42:0a:00:00:01",
	"vlan and ip[9] = 6", "tcp or vlan and tcp",
	// lengths
	"less 64", "greater 1000", "len > 100", "len <= 60", "len - 14 >= 40", "length = 60",
	// byte and flag expressions
	"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
	"tcp[tcpflags] & tcp-rst != 0", "tcp[13] = 18", "tcp[tcpflags] == tcp-syn|tcp-ack",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", "icmp[icmptype] == icmp-echo",
	"icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply", "icmp[icmpcode] = 3",
	"icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit", "ip[8] < 64", "ip[2:2] > 100",
	"ip[6:2] & 0x1fff != 0", "ip[0] & 0xf > 5", "udp[8:2] = 0x1234", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420",
	"ether[0] & 1 != 0", "ether[12:2] = 0x8100", "ip6[6] = 17", "arp[7] = 2", "udp[4:2] > 100",
	"tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)", "tcp[12] - ip[0] > 0", "ip[9] % 7 = 6", "ip[9] / 2 = 3", "ip[9] ^ 0xff = 0xf9",
	"ip[9] * 3 - 1 = 17", "ip[9] % 4 + 1 = 3", "ether[len - 1] = 0", "ip[len - 40:2] != 1", "ip[0] = tcp[0]",
	"tcp[ip[0] & 0xf] = 0", "udp[0:2] = udp[2:2]", "ether[0:4] | ether[4:2] != 0", "ip[1] >> 2 = 0",
	"5 < ip[8]", "0x45 = ip[0]", "ip[16] >= 224", "ip6[24] == 0xff", "sctp[2:2] = 80", "igmp[0] = 0x16",
	"len > 0 and ether[12:2] > 1500", "ip[2:2] = len - 14", "ether[6:4] - 1 < 0x0a000000",
	// many alternatives: jumps longer than 255 instructions need trampolines
	hosts(24),
}

// hosts returns "host 10.0.0.3 or host 10.0.0.4 or … or host 10.0.0.1".
func hosts(n int) string {
	var hs []string
	for i := 0; i < n; i++ {
		hs = append(hs, fmt.Sprintf("host 10.0.%d.%d", i/200, 3+i%200))
	}
	return strings.Join(append(hs, "host 10.0.0.1"), " or ")
}

// tcpdumpPath returns tcpdump's path or skips the test.
func tcpdumpPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		path = "/usr/bin/tcpdump"
		if _, err := exec.LookPath(path); err != nil {
			t.Skip("tcpdump is not installed: the differential test needs libpcap's compiler")
		}
	}
	return path
}

// tcpdump runs tcpdump to compile expr for Ethernet. tcpdump -d with -y and
// no interface uses pcap_open_dead: it opens no socket and captures
// nothing.
func tcpdump(t *testing.T, path, flag, expr string) string {
	t.Helper()
	args := []string{flag, "-y", "EN10MB"}
	if expr != "" {
		args = append(args, "--", expr)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// parseDDD parses tcpdump -ddd output: a count, then "code jt jf k" lines.
func parseDDD(t *testing.T, out string) []bpf.RawInstruction {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 {
		t.Fatalf("tcpdump -ddd: bad count line in %q", out)
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for _, l := range lines[1:] {
		var code, jt, jf, k uint64
		if _, err := fmt.Sscan(l, &code, &jt, &jf, &k); err != nil {
			t.Fatalf("tcpdump -ddd: line %q: %v", l, err)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(code), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	return prog
}

// vmRun runs prog in x/net/bpf's VM.
func vmRun(t *testing.T, vm *bpf.VM, data []byte) bool {
	t.Helper()
	n, err := vm.Run(data)
	if err != nil {
		t.Fatalf("bpf.VM: %v", err)
	}
	return n != 0
}

// short is at most the first 64 bytes of b, for messages.
func short(b []byte) []byte { return b[:min(len(b), 64)] }

// TestTcpdumpDifferential compiles each expression with this package and
// with libpcap (tcpdump -ddd) and runs both programs in x/net/bpf's VM
// over every frame of the corpus: the verdicts must agree, and Match
// must agree with both.
func TestTcpdumpDifferential(t *testing.T) {
	path := tcpdumpPath(t)
	frames := corpus(t)
	agree := 0
	for _, expr := range diffExprs {
		name := expr
		if len(name) > 60 {
			name = name[:60] + "…"
		}
		t.Run(name, func(t *testing.T) {
			f, err := filter.Compile(expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			theirs := parseDDD(t, tcpdump(t, path, "-ddd", expr))
			theirVM, err := bpf.NewVM(mustDisassemble(t, theirs))
			if err != nil {
				t.Fatalf("libpcap's program in bpf.VM: %v", err)
			}
			ourVM, err := bpf.NewVM(f.Program())
			if err != nil {
				t.Fatalf("our program in bpf.VM: %v\n%s", err, f)
			}
			for _, fr := range frames {
				want := vmRun(t, theirVM, fr.data)
				if got := vmRun(t, ourVM, fr.data); got != want {
					t.Errorf("%s: VM(%x) = %v, want %v (libpcap)", fr.name, short(fr.data), got, want)
				}
				if got := f.Match(fr.data); got != want {
					t.Errorf("%s: Match(%x) = %v, want %v (libpcap)", fr.name, short(fr.data), got, want)
				}
				if v, _ := filter.Run(theirs, fr.data); (v != 0) != want {
					got := v != 0
					t.Errorf("%s: Run(libpcap program, %x) = %v, want %v (bpf.VM)", fr.name, short(fr.data), got, want)
				}
				if !t.Failed() {
					agree++
				}
			}
			if t.Failed() {
				t.Logf("ours:\n%slibpcap's:\n%s", f, filter.Image(theirs))
			}
		})
	}
	t.Logf("%d expressions × %d frames: %d verdicts agree with libpcap", len(diffExprs), len(frames), agree)
}

func mustDisassemble(t *testing.T, raw []bpf.RawInstruction) []bpf.Instruction {
	t.Helper()
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("cannot disassemble %v", raw)
	}
	return ins
}

// TestTcpdumpImage checks that String's format is tcpdump -d's, on
// libpcap's own programs.
func TestTcpdumpImage(t *testing.T) {
	path := tcpdumpPath(t)
	for _, expr := range []string{"tcp port 80", "vlan 100 and host 10.0.0.1", "ip[0] = tcp[0]",
		"tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420", "len - 14 >= 40", "less 100", "ether[0] & 1 = 0",
		"ip[9] % 7 = 6", "ip[9] ^ 3 = 1", "ip[1] << 2 = 4", hosts(24)} {
		t.Run(expr[:min(len(expr), 40)], func(t *testing.T) {
			theirs := parseDDD(t, tcpdump(t, path, "-ddd", expr))
			want := tcpdump(t, path, "-d", expr)
			if got := filter.Image(theirs); got != want {
				t.Errorf("Image(libpcap's %q) =\n%s\nwant (tcpdump -d)\n%s", expr, got, want)
			}
		})
	}
}

// TestTcpdumpKnownDifference pins the one place this package departs from
// libpcap 1.10 on purpose: libpcap's gen_arth keeps the protocol check of
// an arithmetic operator's left operand but drops the right one's, so in
// "ip[0] - tcp[12] …" it reads tcp[12] from any IPv4 packet. Here every
// load keeps its check (tcp[] means a TCP packet), as pcap-filter(7)
// describes.
func TestTcpdumpKnownDifference(t *testing.T) {
	path := tcpdumpPath(t)
	const expr = "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0"
	var udp frame
	for _, fr := range corpus(t) {
		if fr.name == "udp dns query" {
			udp = fr
		}
	}
	f, err := filter.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	theirs := parseDDD(t, tcpdump(t, path, "-ddd", expr))
	v, _ := filter.Run(theirs, udp.data)
	if got, libpcap := f.Match(udp.data), v != 0; got || !libpcap {
		t.Errorf("Match(%x) = %v, libpcap %v; want false (not TCP), libpcap true (no TCP check)", short(udp.data), got, libpcap)
	}
}

// randomAtoms are the primitives TestTcpdumpRandom combines.
var randomAtoms = []string{
	"ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "vlan", "vlan 100", "vlan 200", "vlan 10",
	"host 10.0.0.1", "src host 10.0.0.2", "dst 8.8.8.8", "net 10.0.0.0/8", "dst net 224.0.0.0/4", "host 2001:db8::1",
	"net fe80::/10", "port 80", "src port 53", "tcp dst port 443", "udp port 5353", "portrange 1-1023", "ip proto 47",
	"proto 17", "ether src 02:42:0a:00:00:01", "ether dst ff:ff:ff:ff:ff:ff", "broadcast", "multicast", "ip multicast",
	"ip6 multicast", "ether proto 0x88cc", "less 100", "greater 200", "len > 60", "tcp[tcpflags] & tcp-syn != 0",
	"icmp[icmptype] = icmp-echo", "ip[8] = 64", "ether[12:2] = 0x8100", "udp[0:2] > 1000", "ip6[6] = 58",
	"arp[6:2] = 1", "ip[9] & 1 = 0", "tcp[13] > 0x10", "ip host 10.0.0.2", "arp src host 10.0.0.1",
	"ip6 dst net ff02::/16", "src and dst net 10.0.0.0/8", "ip broadcast", "ether host 02:42:0a:00:00:02",
	"icmp6[icmp6type] = icmp6-echo", "ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "port 53 or 80",
}

func randomExpr(r *rand.Rand, depth int) string {
	if depth > 3 || r.IntN(3) == 0 {
		return randomAtoms[r.IntN(len(randomAtoms))]
	}
	switch r.IntN(4) {
	case 0:
		return "not " + randomExpr(r, depth+1)
	case 1:
		return "(" + randomExpr(r, depth+1) + ")"
	case 2:
		return randomExpr(r, depth+1) + " and " + randomExpr(r, depth+1)
	}
	return randomExpr(r, depth+1) + " or " + randomExpr(r, depth+1)
}

// TestTcpdumpRandom compares random combinations of primitives with
// libpcap over the corpus. On a frame too short for a field the expression
// reads, the verdict depends on which loads an optimizer proved useless,
// and libpcap's (per-edge) choices differ from this package's in a few
// such cases; so pairs where either program reads past the end of the
// frame are not compared. Everywhere else the verdicts must agree. An
// expression libpcap refuses as matching nothing must match no frame here.
func TestTcpdumpRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tcpdump 300 times")
	}
	path := tcpdumpPath(t)
	frames := corpus(t)
	r := rand.New(rand.NewPCG(7, 9))
	var exprs, compared, skipped int
	for range 300 {
		expr := randomExpr(r, 0)
		f := mustCompile(t, expr)
		out, err := exec.Command(path, "-ddd", "-y", "EN10MB", "--", expr).CombinedOutput()
		if err != nil {
			if !strings.Contains(string(out), "expression rejects all packets") {
				t.Fatalf("tcpdump -ddd %q: %v\n%s", expr, err, out)
			}
			for _, fr := range frames {
				if f.Match(fr.data) {
					t.Errorf("%q (libpcap: rejects all packets) on %s: Match(%x) = true, want false", expr, fr.name, short(fr.data))
				}
			}
			continue
		}
		exprs++
		theirs := parseDDD(t, string(out))
		for _, fr := range frames {
			v, theirShort := filter.Run(theirs, fr.data)
			_, ourShort := filter.Run(f.Raw(), fr.data)
			if theirShort || ourShort {
				skipped++
				continue
			}
			compared++
			if got, want := f.Match(fr.data), v != 0; got != want {
				t.Errorf("%q on %s: Match(%x) = %v, want %v (libpcap)\nours:\n%slibpcap's:\n%s",
					expr, fr.name, short(fr.data), got, want, f, filter.Image(theirs))
			}
		}
	}
	t.Logf("%d random expressions: %d verdicts agree with libpcap, %d pairs with a load past the end not compared",
		exprs, compared, skipped)
}
