package test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import rules of DESIGN.md and the README, enforced per binary and per
// package (as tailscale's tstest/deptest does): what each may link, so a
// forbidden import fails here instead of creeping in.

const module = "github.com/vswitchd/vswitchd/"

// pkgDeps lists a package's dependencies: the module's own (trimmed of the
// module path) and the others (standard library and third party, whole).
type pkgDeps struct {
	own, other []string
	direct     []string // the package's own imports
}

// listDeps returns pkg's transitive dependencies, built as the Makefile
// builds (no cgo).
func listDeps(t *testing.T, pkg string) pkgDeps {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	run := func(args ...string) []string {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.Fields(string(out))
	}
	var d pkgDeps
	for _, p := range run("list", "-deps", module+pkg) {
		if rest, ok := strings.CutPrefix(p, module); ok {
			if rest != pkg {
				d.own = append(d.own, rest)
			}
		} else {
			d.other = append(d.other, p)
		}
	}
	d.direct = run("list", "-f", "{{join .Imports \"\\n\"}}", module+pkg)
	return d
}

// TestBinaryDeps: vswitchctl is only an API client: of vswitchd's packages
// it links the API's types and client, the CLI and the version, and none
// of the daemon, the datapath, netlink, Prometheus, protobuf or the
// profilers.
func TestBinaryDeps(t *testing.T) {
	allowed := []string{"internal/cli", "control", "internal/version"}
	bad := []string{"github.com/prometheus/", "google.golang.org/protobuf/", "net/http/pprof", "runtime/pprof",
		"github.com/vishvananda/", "github.com/miekg/dns", "github.com/google/gopacket", "github.com/creack/pty"}
	d := listDeps(t, "cmd/vswitchctl")
	for _, p := range d.own {
		if !slices.Contains(allowed, p) {
			t.Errorf("vswitchctl links %s; of vswitchd's packages it may link only %v", p, allowed)
		}
	}
	for _, p := range d.other {
		for _, b := range bad {
			if p == b || strings.HasPrefix(p, b) {
				t.Errorf("vswitchctl links %s", p)
			}
		}
	}
	t.Logf("vswitchctl links %d packages", len(d.own)+len(d.other)+1)
}

// TestFastPathImports: the forwarding packages import each other one way
// (header → feature packages → datapath), nothing of the control plane,
// and none of the DNS library, netlink, Prometheus or gopacket; the pure
// logic packages make no system calls themselves.
func TestFastPathImports(t *testing.T) {
	rules := []struct {
		pkg     string
		allowed []string // module packages it may depend on
		pure    bool     // no syscall, x/sys, os/exec of its own
	}{
		{"header", nil, true},
		{"trace", nil, true},
		{"filter", []string{"header"}, true},
		{"port", []string{"header"}, false},
		{"vlan", []string{"header"}, true},
		{"offload", []string{"header"}, true},
		{"arp", []string{"header"}, true},
		{"nat", []string{"header"}, true},
		{"bridge", []string{"header", "port", "vlan"}, true},
		{"router", []string{"header", "port", "vlan", "arp", "nat", "offload", "trace"}, true},
		{"datapath", []string{"header", "port", "vlan", "arp", "nat", "offload", "trace", "bridge", "router"}, false},
		{"impair", []string{"header", "port", "offload"}, false},
		{"vxlan", []string{"header", "port", "offload"}, false},
	}
	bad := []string{"github.com/miekg/dns", "github.com/prometheus/", "github.com/vishvananda/", "github.com/google/gopacket", "net/http"}
	for _, r := range rules {
		if _, err := os.Stat("../" + r.pkg); err != nil {
			continue // not in this tree
		}
		t.Run(r.pkg, func(t *testing.T) {
			d := listDeps(t, r.pkg)
			for _, p := range d.own {
				if !slices.Contains(r.allowed, p) {
					t.Errorf("%s depends on %s; it may depend only on %v", r.pkg, p, r.allowed)
				}
			}
			for _, p := range d.other {
				for _, b := range bad {
					if strings.HasPrefix(p, b) {
						t.Errorf("%s depends on %s", r.pkg, p)
					}
				}
			}
			if r.pure {
				for _, p := range d.direct {
					if p == "syscall" || p == "golang.org/x/sys/unix" || p == "os/exec" {
						t.Errorf("%s is pure logic but imports %s", r.pkg, p)
					}
				}
			}
		})
	}
}
