package filter_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/vswitchd/vswitchd/filter"
)

// The seed corpus in testdata/fuzz/FuzzCompile is made from diffExprs and
// badExprs by
//
//	go test -run TestFuzzCompileCorpus -write-corpus ./filter/
//
// TestFuzzCompileCorpus fails when a file is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// badExprs are malformed expressions that seed the fuzzer's search of the
// error paths.
var badExprs = []string{
	"tcp $ 80", "tcp and", "not", "host", "(tcp or udp", "tcp)", "()", "ip[0 = 1", "foo", "10.0.0.1",
	"net 10.0.0.0/33", "net 10.0.0.1/8", "ether host 01:02:03", "tcp port x", "port 70000", "portrange 80-x",
	"ip port 80", "port 08", "vlan 5000", "mpls", "tcp[0:3] = 1", "ip[0] / 0 = 1", "ip[0] << 32 = 1", "len",
	"tcp + 1 > 0", `\ tcp`, "((((tcp", "host 1.2.3.4 and (5.6.7.8 or", "ether proto \\foo", "-(-(-len)) > 1",
}

// corpusFile returns s in the "go test fuzz v1" encoding.
func corpusFile(s string) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nstring(%q)\n", s)
}

func TestFuzzCompileCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzCompile")
	if *writeCorpus {
		must(t, os.MkdirAll(dir, 0o755))
	}
	seeds := map[string]string{}
	for i, e := range diffExprs {
		seeds[fmt.Sprintf("expr-%03d", i)] = e
	}
	for i, e := range badExprs {
		seeds[fmt.Sprintf("bad-%03d", i)] = e
	}
	for name, expr := range seeds {
		path := filepath.Join(dir, name)
		want := corpusFile(expr)
		if *writeCorpus {
			must(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); run go test -run TestFuzzCompileCorpus -write-corpus", path, err)
		}
	}
}

// fuzzFrames returns the corpus frames small enough to run on every fuzz
// input.
func fuzzFrames(tb testing.TB) [][]byte {
	var out [][]byte
	for _, fr := range corpus(tb) {
		if len(fr.data) <= 2000 {
			out = append(out, fr.data)
		}
	}
	return out
}

// checkAgree fails unless Match agrees with x/net/bpf's VM running
// Program, and with the program compiled without peepholes wherever that
// one reads no field past the end of frame (the peepholes drop loads
// whose value cannot change the verdict, as libpcap's optimizer does; they
// never add one).
func checkAgree(t *testing.T, f, plain *filter.Filter, vm *bpf.VM, frame []byte) {
	t.Helper()
	want := f.Match(frame)
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("%q: bpf.VM: %v", f.Expr(), err)
	}
	if got := n != 0; got != want {
		t.Fatalf("%q: VM(%x) = %v, Match %v\n%s", f.Expr(), short(frame), got, want, f)
	}
	pv, plainShort := filter.Run(plain.Raw(), frame)
	_, optShort := filter.Run(f.Raw(), frame)
	if got := pv != 0; !plainShort && got != want {
		t.Fatalf("%q: unoptimized Match(%x) = %v, Match %v\n%s\nunoptimized:\n%s", f.Expr(), short(frame), got, want, f, plain)
	}
	if optShort && !plainShort {
		t.Fatalf("%q: Match(%x) reads past the end, the unoptimized program does not\n%s\nunoptimized:\n%s", f.Expr(), short(frame), f, plain)
	}
}

// FuzzCompile checks that Compile never panics; that its errors are one
// line and point into the expression; and that a program it returns passes
// the kernel's rules, assembles to Raw, runs in bpf.VM with the same
// verdicts as Match, and gives the same verdicts without the peepholes.
func FuzzCompile(f *testing.F) {
	frames := fuzzFrames(f)
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := filter.Compile(expr)
		if err != nil {
			checkError(t, expr, err)
			return
		}
		raw := flt.Raw()
		if err := filter.Validate(raw); err != nil {
			t.Fatalf("Compile(%q): invalid program: %v\n%s", expr, err, flt)
		}
		asm, err := bpf.Assemble(flt.Program())
		if err != nil || !slices.Equal(asm, raw) {
			t.Fatalf("Compile(%q): Assemble(Program()) = %v, %v; want Raw() %v", expr, asm, err, raw)
		}
		vm, err := bpf.NewVM(flt.Program())
		if err != nil {
			t.Fatalf("Compile(%q): bpf.NewVM: %v", expr, err)
		}
		plain, err := filter.CompileUnoptimized(expr)
		if err != nil {
			t.Fatalf("CompileUnoptimized(%q): %v", expr, err)
		}
		for _, fr := range frames {
			checkAgree(t, flt, plain, vm, fr)
		}
		checkAgree(t, flt, plain, vm, []byte(expr)) // a frame the fuzzer steers
	})
}

// matchExprs are the filters FuzzMatch runs on every random frame.
var matchExprs = []string{
	"tcp port 80", "host 10.0.0.1 or 2001:db8::1", "vlan and vlan and udp port 53", "not ip and not arp",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "icmp[icmptype] == icmp-echo or icmp6[icmp6type] == icmp6-echo",
	"ip[2:2] > len - 14", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420", "portrange 1-1023 and not src net 10.0.0.0/8",
	"ether proto 0x42 or ether broadcast", "ip[ip[0] & 0xf] = 1 or ip6[len % 40] = 2", "ip[9] % 7 + 1 = ip[8] / 3",
}

// FuzzMatch runs fixed filters on random frames: Match must not panic and
// must agree with bpf.VM and with the unoptimized program.
func FuzzMatch(f *testing.F) {
	for _, fr := range fuzzFrames(f) {
		f.Add(fr)
	}
	type compiled struct {
		f, plain *filter.Filter
		vm       *bpf.VM
	}
	var cs []compiled
	for _, e := range matchExprs {
		flt := mustCompile(f, e)
		plain, err := filter.CompileUnoptimized(e)
		must(f, err)
		vm, err := bpf.NewVM(flt.Program())
		must(f, err)
		cs = append(cs, compiled{flt, plain, vm})
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, c := range cs {
			checkAgree(t, c.f, c.plain, c.vm, frame)
		}
	})
}
