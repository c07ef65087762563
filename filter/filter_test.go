package filter_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/vswitchd/vswitchd/filter"
)

func mustCompile(tb testing.TB, expr string) *filter.Filter {
	tb.Helper()
	f, err := filter.Compile(expr)
	if err != nil {
		tb.Fatalf("Compile(%q): %v", expr, err)
	}
	return f
}

// frameByName returns the corpus frame called name.
func frameByName(tb testing.TB, frames []frame, name string) []byte {
	tb.Helper()
	for _, fr := range frames {
		if fr.name == name {
			return fr.data
		}
	}
	tb.Fatalf("no frame %q in the corpus", name)
	return nil
}

// TestMatchSets checks, for hand-worked expressions, exactly which frames of
// the corpus match.
func TestMatchSets(t *testing.T) {
	frames := corpus(t)
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{
			name: "tcp port",
			expr: "tcp port 80",
			want: []string{"tcp syn", "tcp syn-ack", "tcp http get", "tso super-frame tcp 80"},
		},
		{
			name: "udp port first fragment only",
			expr: "udp port 53",
			want: []string{"udp dns query", "udp dns response", "ipv4 first fragment"},
		},
		{
			name: "port covers sctp",
			expr: "port 80",
			want: []string{"tcp syn", "tcp syn-ack", "tcp http get", "sctp to 80", "tso super-frame tcp 80"},
		},
		{
			name: "host covers arp and short frames holding the address",
			expr: "host 10.0.0.1",
			want: []string{"arp request", "arp reply", "icmp echo request", "icmp echo reply", "icmp port unreachable",
				"tcp syn", "tcp syn-ack", "tcp http get", "tcp rst", "tcp fin-ack 443", "tcp ssh with ip options",
				"udp dns query", "udp dns response", "udp mdns ipv4", "udp to 192.168.1.10", "ipv4 first fragment",
				"ipv4 later fragment", "ipv4 middle fragment tcp", "igmp", "sctp to 80", "gre", "esp",
				"tso super-frame tcp 80", "ipv4 header only", "tcp cut in ports"},
		},
		{
			name: "vlan id then port inside the tag",
			expr: "vlan 100 and tcp port 80",
			want: []string{"vlan 100 tcp syn", "vlan 100 ipv6 tcp"},
		},
		{
			name: "two tags",
			expr: "vlan and vlan",
			want: []string{"qinq 88a8 10 / 200 tcp", "double 8100 100 / 200 icmp"},
		},
		{
			name: "outer and inner vid",
			expr: "vlan 10 and vlan 200 and tcp",
			want: []string{"qinq 88a8 10 / 200 tcp"},
		},
		{
			name: "icmp type",
			expr: "icmp[icmptype] == icmp-echo",
			want: []string{"icmp echo request"},
		},
		{
			name: "tcp flags",
			expr: "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
			want: []string{"tcp syn", "tcp syn-ack", "tcp http get", "tcp fin-ack 443", "tcp ssh with ip options",
				"tso super-frame tcp 80"},
		},
		{
			name: "ip6",
			expr: "ip6",
			want: []string{"ipv6 tcp syn 443", "ipv6 udp mdns", "ipv6 icmp echo", "ipv6 neighbor solicit",
				"ipv6 fragment header tcp", "ipv6 hop-by-hop udp 53", "ipv6 tso super-frame", "ipv6 cut at 30",
				"ipv6 header only"},
		},
		{
			name: "arp",
			expr: "arp",
			want: []string{"arp request", "arp reply"},
		},
		{
			name: "ether broadcast",
			expr: "ether broadcast",
			want: []string{"arp request", "rarp request", "udp dhcp discover", "vlan 100 arp", "broadcast non-ip"},
		},
		{
			name: "greater",
			expr: "greater 1000",
			want: []string{"ipv4 first fragment", "tso super-frame tcp 80", "ipv6 tso super-frame"},
		},
		{
			name: "ip but not tcp or udp",
			expr: "ip and not (tcp or udp)",
			want: []string{"icmp echo request", "icmp echo reply", "icmp port unreachable", "igmp", "sctp to 80", "gre", "esp"},
		},
		{
			name: "ipv6 tcp port",
			expr: "ip6 and tcp port 443",
			want: []string{"ipv6 tcp syn 443", "ipv6 tso super-frame"},
		},
		{
			name: "ipv6 net",
			expr: "dst net ff02::/16",
			want: []string{"ipv6 udp mdns", "ipv6 neighbor solicit"},
		},
		{
			name: "ip multicast includes limited broadcast",
			expr: "ip multicast",
			want: []string{"udp dhcp discover", "udp mdns ipv4", "igmp"},
		},
		{
			name: "ip broadcast",
			expr: "ip broadcast",
			want: []string{"udp dhcp discover"},
		},
		{
			name: "portrange",
			expr: "portrange 5000-6000",
			want: []string{"udp mdns ipv4", "udp to 192.168.1.10", "sctp to 80", "ipv6 udp mdns"},
		},
		{
			name: "ether proto",
			expr: "ether proto 0x88cc",
			want: []string{"lldp"},
		},
		{
			name: "llc sap",
			expr: "ether proto 0x42",
			want: []string{"802.3 llc stp"},
		},
		{
			name: "repeated host qualifier",
			expr: "host 8.8.8.8 or 192.168.1.10",
			want: []string{"udp dns query", "udp dns response", "udp to 192.168.1.10", "ipv4 first fragment",
				"ipv4 later fragment", "gre", "esp"},
		},
		{
			name: "repeated port qualifier under not",
			expr: "tcp port 80 and not 40000",
			want: []string{"tcp http get", "tso super-frame tcp 80"},
		},
		{
			name: "http get payload",
			expr: "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420",
			want: []string{"tcp http get"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.expr)
			for _, fr := range frames {
				want := slices.Contains(tt.want, fr.name)
				if got := f.Match(fr.data); got != want {
					t.Errorf("%s: Match(%x) = %v, want %v", fr.name, short(fr.data), got, want)
				}
			}
			if t.Failed() {
				t.Logf("program:\n%s", f)
			}
		})
	}
}

// TestMatch checks single verdicts that document BPF's and libpcap's
// semantics.
func TestMatch(t *testing.T) {
	frames := corpus(t)
	tests := []struct {
		name  string
		expr  string
		frame string
		want  bool
	}{
		{"empty expression matches an empty frame", "", "empty", true},
		{"a load past the end drops the frame even under not", "not ip", "empty", false},
		{"not ip on arp", "not ip", "arp request", true},
		{"not ip on ip", "not ip", "tcp syn", false},
		{"less needs no load", "less 100", "empty", true},
		{"len of an empty frame", "len = 0", "empty", true},
		{"len is the whole super-frame", "len > 65000", "tso super-frame tcp 80", true},
		{"tcp looks through an ipv6 fragment header", "tcp", "ipv6 fragment header tcp", true},
		{"ports do not look through ipv6 extension headers", "tcp port 80", "ipv6 fragment header tcp", false},
		{"hop-by-hop hides the udp port", "udp port 53", "ipv6 hop-by-hop udp 53", false},
		{"ip6 proto sees the first next header", "ip6 proto 0", "ipv6 hop-by-hop udp 53", true},
		{"a later fragment is still udp", "udp", "ipv4 later fragment", true},
		{"a later fragment has no ports", "udp port 80", "ipv4 later fragment", false},
		{"a later fragment has no tcp header", "tcp[13] = 0x12", "ipv4 middle fragment tcp", false},
		{"the ip header length is honoured", "tcp dst port 22", "tcp ssh with ip options", true},
		{"one vlan looks one tag deep", "vlan and tcp", "qinq 88a8 10 / 200 tcp", false},
		{"two vlans look two tags deep", "vlan and vlan and tcp", "qinq 88a8 10 / 200 tcp", true},
		{"vlan or vlan steps twice", "vlan 200 or vlan 200", "qinq 88a8 10 / 200 tcp", true},
		{"9100 is a vlan tpid", "vlan 300 and udp port 53", "9100 300 udp", true},
		{"ether host ignores vlan offsets", "vlan and ether src 02:42:0a:00:00:01", "vlan 100 tcp syn", true},
		{"arp host is the sender or target address", "host 10.0.0.2", "arp request", true},
		{"ipv6 port", "tcp port 80 or 443", "ipv6 tcp syn 443", true},
		{"ipv6 net prefix", "net 2001:db8::/32", "ipv6 icmp echo", true},
		{"abbreviated host is a network", "host 10.0", "tcp syn", true},
		{"unary minus", "-ip[8] = -64", "tcp syn", true},
		{"ether multicast is not unicast", "multicast", "tcp syn", false},
		{"service name", "port domain", "udp dns query", true},
		{"proto name", "ip proto gre", "gre", true},
		{"escaped proto keyword", "ip proto \\tcp", "tcp syn", true},
		{"src or dst", "src or dst port 53", "udp dns response", true},
		{"src and dst", "src and dst port 5353", "udp mdns ipv4", true},
		{"ip6 multicast", "ip6 multicast", "ipv6 neighbor solicit", true},
		{"less is at most", "less 60", "arp request", true},
		{"greater is at least", "greater 60", "arp request", true},
		{"an offset past 2 GiB is never in a frame", "ip[-1] = 0", "tcp syn", false},
		{"not even under not", "not tcp[0x7ffffff0] = 0", "tcp syn", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.expr)
			data := frameByName(t, frames, tt.frame)
			if got := f.Match(data); got != tt.want {
				t.Errorf("Match(%x) = %v, want %v\n%s", short(data), got, tt.want, f)
			}
		})
	}
}

func TestNilFilterMatchesAll(t *testing.T) {
	var f *filter.Filter
	if !f.Match(nil) {
		t.Errorf("(*Filter)(nil).Match(nil) = false, want true")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"bad character", "tcp $ 80", `filter "tcp $ 80": position 5: unexpected character '$'`},
		{"missing operand after and", "tcp and", `filter "tcp and": position 5: expected an expression after "and"`},
		{"missing operand after not", "not", `filter "not": position 1: expected an expression after "not"`},
		{"missing operand after or", "tcp || ", `filter "tcp || ": position 5: expected an expression after "||"`},
		{"missing address", "host", `filter "host": position 1: expected an address, port or protocol after "host"`},
		{"missing relop operand", "len >", `filter "len >": position 5: expected an arithmetic expression after ">"`},
		{"unclosed paren", "(tcp or udp", `filter "(tcp or udp": position 1: "(" is not closed`},
		{"extra paren", "tcp)", `filter "tcp)": position 4: unbalanced ")"`},
		{"empty parens", "()", `filter "()": position 1: empty "()"`},
		{"unclosed bracket", "ip[0 = 1", `filter "ip[0 = 1": position 6: unexpected "=", expected "]"`},
		{"unknown keyword", "tcp and foo", `filter "tcp and foo": position 9: unknown keyword "foo"`},
		{"unknown keyword at start", "foo", `filter "foo": position 1: unknown keyword "foo"`},
		{"host name", "host example.com", `filter "host example.com": position 6: "example.com" is not an IP address (host names are not resolved)`},
		{"bare address", "10.0.0.1", `filter "10.0.0.1": position 1: "10.0.0.1" needs a qualifier such as host, net or port`},
		{"nothing to inherit", "tcp or 10.0.0.1", `filter "tcp or 10.0.0.1": position 8: "10.0.0.1" needs a qualifier such as host, net or port`},
		{"prefix too long", "net 10.0.0.0/33", `filter "net 10.0.0.0/33": position 14: prefix length 33 is out of range (0-32)`},
		{"host bits in net", "net 10.0.0.1/8", `filter "net 10.0.0.1/8": position 5: non-network bits set in "10.0.0.1/8"`},
		{"host bits in mask", "net 10.0.0.1 mask 255.0.0.0", `filter "net 10.0.0.1 mask 255.0.0.0": position 5: non-network bits set in "10.0.0.1 mask 255.0.0.0"`},
		{"cidr host", "host 10.0.0.0/8", `filter "host 10.0.0.0/8": position 6: "10.0.0.0/8" is a network: write "net 10.0.0.0/8"`},
		{"ipv6 prefix too long", "net 2001:db8::/129", `filter "net 2001:db8::/129": position 16: prefix length 129 is out of range (0-128)`},
		{"bad ipv4", "host 1.2.3.256", `filter "host 1.2.3.256": position 6: "1.2.3.256" is not an IPv4 address`},
		{"short mac", "ether host 01:02:03", `filter "ether host 01:02:03": position 12: "01:02:03" is not an IPv6 or MAC address`},
		{"bad mac digit", "ether host 01:02:03:04:05:0g", `filter "ether host 01:02:03:04:05:0g": position 12: "01:02:03:04:05:0g" is not an IPv6 or MAC address`},
		{"mac without ether", "host aa:bb:cc:dd:ee:ff", `filter "host aa:bb:cc:dd:ee:ff": position 6: "aa:bb:cc:dd:ee:ff" is a MAC address: write "ether host aa:bb:cc:dd:ee:ff"`},
		{"ip with ether", "ether host 10.0.0.1", `filter "ether host 10.0.0.1": position 12: "10.0.0.1" is not a MAC address`},
		{"bad port", "tcp port x", `filter "tcp port x": position 10: "x" is not a port number`},
		{"port out of range", "port 70000", `filter "port 70000": position 6: port 70000 is out of range (0-65535)`},
		{"bad port range", "portrange 80-x", `filter "portrange 80-x": position 11: "80-x" is not a port range such as 1024-65535`},
		{"address as port", "port 1.2.3.4", `filter "port 1.2.3.4": position 6: "1.2.3.4" is not a port number`},
		{"ip port", "ip port 80", `filter "ip port 80": position 9: "ip" does not apply to a port: ports belong to tcp, udp and sctp`},
		{"tcp host", "tcp host 10.0.0.1", `filter "tcp host 10.0.0.1": position 10: "tcp" does not apply to an address; combine with "and" instead`},
		{"ip6 with ipv4", "ip6 host 10.0.0.1", `filter "ip6 host 10.0.0.1": position 10: "ip6" needs an IPv6 address, not "10.0.0.1"`},
		{"octal", "port 08", `filter "port 08": position 6: number 08 contains a digit that is not octal`},
		{"overflow", "len > 4294967296", `filter "len > 4294967296": position 7: number 4294967296 overflows 32 bits`},
		{"vlan id", "vlan 5000", `filter "vlan 5000": position 6: VLAN ID 5000 is out of range (0-4095)`},
		{"ip proto range", "ip proto 300", `filter "ip proto 300": position 10: protocol 300 is out of range (0-255)`},
		{"unknown proto name", "ip proto foo", `filter "ip proto foo": position 10: unknown protocol name "foo"`},
		{"unsupported keyword", "mpls", `filter "mpls": position 1: "mpls" is not supported: the switch does not carry MPLS`},
		{"unsupported link", "decnet host 1.2", `filter "decnet host 1.2": position 1: "decnet" is not supported: this filter covers Ethernet, 802.1Q, ARP, IPv4 and IPv6 only`},
		{"gateway", "gateway snup", `filter "gateway snup": position 1: "gateway" is not supported: it needs host name and /etc/ethers lookups`},
		{"load size", "tcp[0:3] = 1", `filter "tcp[0:3] = 1": position 7: size must be 1, 2 or 4, not "3"`},
		{"division by zero", "ip[0] / 0 = 1", `filter "ip[0] / 0 = 1": position 7: division by zero`},
		{"folded division by zero", "ip[0] % (2 - 2) = 1", `filter "ip[0] % (2 - 2) = 1": position 7: division by zero`},
		{"shift", "ip[0] << 32 = 1", `filter "ip[0] << 32 = 1": position 7: shift by more than 31 bits`},
		{"arithmetic without comparison", "len", `filter "len": position 1: arithmetic expression needs a comparison, such as len > 100`},
		{"arithmetic on boolean", "tcp + 1 > 0", `filter "tcp + 1 > 0": position 5: "+" needs numbers, not a boolean expression`},
		{"comparison of boolean", "tcp > 1", `filter "tcp > 1": position 5: unexpected ">", expected and, or or the end`},
		{"not indexable", "ah[0] = 1", `filter "ah[0] = 1": position 1: "ah" cannot be indexed`},
		{"ether alone", "ether", `filter "ether": position 1: "ether" needs host, src, dst, proto, broadcast, multicast or [`},
		{"ip6 broadcast", "ip6 broadcast", `filter "ip6 broadcast": position 5: "ip6 broadcast" is not valid`},
		{"trailing junk", "tcp udp", `filter "tcp udp": position 5: unexpected "udp", expected and, or or the end`},
		{"escape alone", `\ tcp`, `filter "\\ tcp": position 1: a backslash must be followed by a name`},
		{"too deep", strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300),
			`filter "` + strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300) + `": position 201: expression nested too deeply`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filter.Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = nil error, want %q", tt.expr, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Compile(%q) error\n got %s\nwant %s", tt.expr, got, tt.want)
			}
			checkError(t, tt.expr, err)
		})
	}
}

// checkError checks the form every compile error has: an *Error, one
// line, lower case, pointing into the expression.
func checkError(t *testing.T, expr string, err error) {
	t.Helper()
	var fe *filter.Error
	if !errors.As(err, &fe) {
		t.Fatalf("Compile(%q) error %T, want *filter.Error", expr, err)
	}
	if fe.Expr != expr || fe.Pos < 0 || fe.Pos > len(expr)+1 {
		t.Errorf("Compile(%q) error has Expr %q, Pos %d", expr, fe.Expr, fe.Pos)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("Compile(%q) error is not one line: %q", expr, err)
	}
	if fe.Msg == "" || strings.ToLower(fe.Msg[:1]) != fe.Msg[:1] && !strings.HasPrefix(fe.Msg, "VLAN") && !strings.HasPrefix(fe.Msg, "IPX") &&
		!strings.HasPrefix(fe.Msg, "AppleTalk") && !strings.HasPrefix(fe.Msg, "EtherType") {
		t.Errorf("Compile(%q) error message %q does not start in lower case", expr, fe.Msg)
	}
}

func TestProgramTooLong(t *testing.T) {
	_, err := filter.Compile(hosts(400))
	if err == nil || !strings.Contains(err.Error(), "longer than the 4096 instructions the kernel accepts") {
		t.Fatalf("Compile(400 hosts) error = %v, want a program-too-long error", err)
	}
	checkError(t, hosts(400), err)
}

func TestEmptyExpression(t *testing.T) {
	for _, expr := range []string{"", "  \t\n"} {
		f := mustCompile(t, expr)
		if got, want := f.String(), "(000) ret      #262144\n"; got != want {
			t.Errorf("Compile(%q).String() = %q, want %q", expr, got, want)
		}
	}
}

// TestString pins the tcpdump -d format of one program, checked by hand:
// libpcap's optimizer makes the same 20 instructions (it tests IPv6 first).
func TestString(t *testing.T) {
	want := `(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 11
(002) ldb      [23]
(003) jeq      #0x6             jt 4	jf 19
(004) ldh      [20]
(005) jset     #0x1fff          jt 19	jf 6
(006) ldxb     4*([14]&0xf)
(007) ldh      [x + 14]
(008) jeq      #0x50            jt 18	jf 9
(009) ldh      [x + 16]
(010) jeq      #0x50            jt 18	jf 19
(011) jeq      #0x86dd          jt 12	jf 19
(012) ldb      [20]
(013) jeq      #0x6             jt 14	jf 19
(014) ldh      [54]
(015) jeq      #0x50            jt 18	jf 16
(016) ldh      [56]
(017) jeq      #0x50            jt 18	jf 19
(018) ret      #262144
(019) ret      #0
`
	if got := mustCompile(t, "tcp port 80").String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// TestProgram checks that Program assembles to Raw, that both pass the
// kernel's rules, and that bpf.VM running Program agrees with Match.
func TestProgram(t *testing.T) {
	frames := corpus(t)
	for _, expr := range diffExprs {
		t.Run(expr[:min(len(expr), 60)], func(t *testing.T) {
			f := mustCompile(t, expr)
			raw := f.Raw()
			if err := filter.Validate(raw); err != nil {
				t.Fatalf("Validate: %v\n%s", err, f)
			}
			asm, err := bpf.Assemble(f.Program())
			if err != nil {
				t.Fatalf("Assemble(Program()): %v", err)
			}
			if !slices.Equal(asm, raw) {
				t.Errorf("Assemble(Program()) = %v, want Raw() %v", asm, raw)
			}
			if n := strings.Count(f.String(), "\n"); n != len(raw) {
				t.Errorf("String() has %d lines, want %d", n, len(raw))
			}
			if f.Expr() != expr {
				t.Errorf("Expr() = %q, want %q", f.Expr(), expr)
			}
			vm, err := bpf.NewVM(f.Program())
			if err != nil {
				t.Fatalf("bpf.NewVM: %v", err)
			}
			for _, fr := range frames {
				if got, want := f.Match(fr.data), vmRun(t, vm, fr.data); got != want {
					t.Errorf("%s: Match(%x) = %v, want %v (bpf.VM)", fr.name, short(fr.data), got, want)
				}
			}
		})
	}
}

// mutations returns n frames made from the corpus by truncating and
// flipping bytes, from a fixed seed.
func mutations(frames []frame, n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	for len(out) < n {
		src := frames[r.IntN(len(frames))].data
		b := append([]byte(nil), src[:min(len(src), 200)]...)
		if len(b) > 0 {
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
			if r.IntN(3) == 0 {
				b = b[:r.IntN(len(b)+1)]
			}
		}
		out = append(out, b)
	}
	return out
}

// TestPeepholes checks the code generator's load skipping, jump
// threading and dead-test removal: each expression compiled with and
// without them must agree on the corpus and on mutated frames, except
// where the plain program reads past the end of a frame a load the
// peepholes proved useless.
func TestPeepholes(t *testing.T) {
	frames := corpus(t)
	extra := mutations(frames, 3000)
	for _, fr := range frames {
		extra = append(extra, fr.data)
	}
	exprs := append([]string{"ip and ip", "not ip and ip", "tcp or not tcp", "ip and not ip6 and arp",
		"ether[12:2] = 0x800 and ip[9] = 6 and not ip[9] > 6", "ip[9] > 5 and ip[9] < 7 and tcp",
		"ether[0] & 1 = 0 and ether[0] & 3 != 0", "len > 100 and len > 50 and not len < 60",
		"not sctp or not arp", "(greater 200 or port 80 or not (proto 17))"}, diffExprs...)
	for _, expr := range exprs {
		t.Run(expr[:min(len(expr), 60)], func(t *testing.T) {
			f := mustCompile(t, expr)
			plain, err := filter.CompileUnoptimized(expr)
			if err != nil {
				t.Fatalf("CompileUnoptimized: %v", err)
			}
			if len(f.Raw()) > len(plain.Raw()) {
				t.Errorf("%d instructions optimized, %d not", len(f.Raw()), len(plain.Raw()))
			}
			vm, err := bpf.NewVM(f.Program())
			if err != nil {
				t.Fatalf("bpf.NewVM: %v", err)
			}
			for _, b := range extra {
				checkAgree(t, f, plain, vm, b)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	frames := corpus(t)
	for _, tt := range []struct{ expr, frame string }{
		{"tcp port 80", "tcp syn"},
		{"ip[0] = tcp[0] and tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420", "tcp http get"},
		{"vlan and vlan and icmp", "double 8100 100 / 200 icmp"},
		{"host 2001:db8::1 and tcp", "ipv6 tso super-frame"},
		{"not ip", "empty"},
	} {
		f := mustCompile(t, tt.expr)
		data := frameByName(t, frames, tt.frame)
		if n := testing.AllocsPerRun(1000, func() { f.Match(data) }); n != 0 {
			t.Errorf("%q: Match(%s) allocates %v times, want 0", tt.expr, tt.frame, n)
		}
	}
}

// TestMatchConcurrent runs one Filter from several goroutines (go test
// -race checks the claim that a Filter is safe for concurrent use).
func TestMatchConcurrent(t *testing.T) {
	frames := corpus(t)
	f := mustCompile(t, "tcp port 80 or vlan and udp")
	want := make([]bool, len(frames))
	for i, fr := range frames {
		want[i] = f.Match(fr.data)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for i, fr := range frames {
					if got := f.Match(fr.data); got != want[i] {
						t.Errorf("%s: concurrent Match = %v, want %v", fr.name, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
