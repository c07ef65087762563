//go:build linux

package test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// The README's two commands, `sudo make demo` and `sudo make test`, on a
// fresh machine: Go found without PATH, tools installed by scripts/deps.sh,
// files made as root given back to the checkout's owner.

// securePath is sudo's secure_path on Debian and Ubuntu: no Go on it.
const securePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// makeEnv returns the environment for a make run as a user would start it:
// PATH as given, and nothing an enclosing make (make test) passes down.
func makeEnv(path string, extra ...string) []string {
	env := withoutEnvVars(os.Environ(), "PATH", "GO", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT", "MAKE_TERMERR")
	return append(append(env, "PATH="+path), extra...)
}

func withoutEnvVars(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}

// goFallback returns the make arguments that point the Makefile's
// fallback at this machine's Go when it is not in /usr/local/go, the place
// the README asks for.
func goFallback(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no Go in /usr/local/go/bin or on PATH")
	}
	abs, err := filepath.Abs(goBin)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"GO_FALLBACK=" + abs}
}

// lookMake returns the path of make, or skips t without it.
func lookMake(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	return p
}

// fakePath makes a directory of stand-ins (shell scripts that exit 0) for
// the named tools and returns it, for a PATH with exactly those tools.
func fakePath(t *testing.T, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range tools {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// depsList returns deps.sh's table for target: tool → package.
func depsList(t *testing.T, target string) map[string]string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(repoRoot(t), "scripts/deps.sh"), "--list", target).Output()
	if err != nil {
		t.Fatalf("deps.sh --list %s: %v", target, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("deps.sh --list %s: line %q is not TOOL PACKAGE", target, line)
		}
		m[f[0]] = f[1]
	}
	return m
}

// runDeps runs deps.sh with exactly dir on PATH.
func runDeps(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", append([]string{filepath.Join(repoRoot(t), "scripts/deps.sh")}, args...)...)
	cmd.Env = []string{"PATH=" + dir, "LANG=C"}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDepsTable: deps.sh maps the tools the tests, make demo and make bench
// run to the Debian/Ubuntu packages that install them.
func TestDepsTable(t *testing.T) {
	want := map[string]map[string]string{
		"test": {
			"ip": "iproute2", "ss": "iproute2", "ping": "iputils-ping", "nc": "netcat-openbsd",
			"iperf3": "iperf3", "tcpdump": "tcpdump", "dig": "dnsutils", "arping": "arping",
			"socat": "socat", "traceroute": "traceroute", "ovs-vswitchd": "openvswitch-switch",
			"ovs-vsctl": "openvswitch-switch", "ovsdb-server": "openvswitch-switch",
			"ovsdb-tool": "openvswitch-switch", "dnsmasq": "dnsmasq-base", "ethtool": "ethtool",
			"ps": "procps", "nsenter": "util-linux", "make": "make",
		},
		"demo":  {"ip": "iproute2", "ping": "iputils-ping", "nc": "netcat-openbsd"},
		"bench": {"ip": "iproute2", "ping": "iputils-ping", "iperf3": "iperf3", "iptables": "iptables"},
	}
	for target, tools := range want {
		got := depsList(t, target)
		for tool, pkg := range tools {
			if got[tool] != pkg {
				t.Errorf("deps.sh --list %s: %s → %q, want %q", target, tool, got[tool], pkg)
			}
		}
	}
}

// TestDepsKnowsEveryTool: every tool a test asks for with
// testutil.RequireTools is in deps.sh's list for make test, so make test
// installs it and no privileged test skips for a missing tool.
func TestDepsKnowsEveryTool(t *testing.T) {
	root := repoRoot(t)
	known := depsList(t, "test")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "RequireTools" {
				return true
			}
			for _, arg := range call.Args[1:] {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				tool, _ := strconv.Unquote(lit.Value)
				seen++
				if _, ok := known[tool]; !ok {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s: RequireTools(%q), but scripts/deps.sh does not install %s for make test", rel, tool, tool)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no RequireTools call: the scan is broken")
	}
}

// TestDepsCheck: `deps.sh --check` reports exactly the tools missing from
// PATH and the apt-get command for their packages, each package once, and
// fails; with everything present it is silent and succeeds. Without
// --check, where it cannot install (no apt-get on this PATH), it reports
// the same and fails.
func TestDepsCheck(t *testing.T) {
	all := depsList(t, "test")
	absent := []string{"dig", "ovs-vsctl", "ovsdb-tool", "ss", "nc"}
	var present []string
	for tool := range all {
		if !slices.Contains(absent, tool) {
			present = append(present, tool)
		}
	}
	dir := fakePath(t, present...)

	r := runDeps(t, dir, "--check", "test")
	if r.code == 0 {
		t.Fatalf("deps.sh --check test with %v absent: exit 0, want non-zero\n%v", absent, r)
	}
	missingTools, pkgs := parseDepsReport(t, r.stderr)
	slices.Sort(absent)
	slices.Sort(missingTools)
	if !slices.Equal(missingTools, absent) {
		t.Errorf("reported missing %v, want %v\n%v", missingTools, absent, r)
	}
	wantPkgs := []string{"dnsutils", "iproute2", "netcat-openbsd", "openvswitch-switch"}
	slices.Sort(pkgs)
	if !slices.Equal(pkgs, wantPkgs) {
		t.Errorf("apt-get packages %v, want %v (each once)\n%v", pkgs, wantPkgs, r)
	}

	r2 := runDeps(t, dir, "test")
	if r2.code == 0 || !strings.Contains(r2.stderr, "apt-get install") {
		t.Errorf("deps.sh test without apt-get on PATH: want a failure naming the apt-get command\n%v", r2)
	}

	full := fakePath(t, append(present, absent...)...)
	if r := runDeps(t, full, "--check", "test"); r.code != 0 || r.stdout+r.stderr != "" {
		t.Errorf("deps.sh --check test with every tool present: want exit 0 and no output\n%v", r)
	}
	if r := runDeps(t, full, "--check", "nosuchtarget"); r.code == 0 {
		t.Errorf("deps.sh --check nosuchtarget: exit 0, want a usage error")
	}
}

// parseDepsReport reads deps.sh's two-line report: "make T needs: TOOL...
// (not on PATH)" and "install them with: apt-get install ... PKG...".
func parseDepsReport(t *testing.T, s string) (tools, pkgs []string) {
	t.Helper()
	for _, line := range strings.Split(s, "\n") {
		if _, after, ok := strings.Cut(line, " needs: "); ok {
			tools = strings.Fields(strings.TrimSuffix(after, " (not on PATH)"))
		}
		if _, after, ok := strings.Cut(line, "install them with: "); ok {
			f := strings.Fields(after)
			if len(f) < 3 || f[0] != "apt-get" || f[1] != "install" {
				t.Fatalf("install line %q is not an apt-get install command", line)
			}
			for _, w := range f[2:] {
				if !strings.HasPrefix(w, "-") {
					pkgs = append(pkgs, w)
				}
			}
		}
	}
	if tools == nil || pkgs == nil {
		t.Fatalf("deps.sh report lacks the tools or the install line:\n%s", s)
	}
	return tools, pkgs
}

// TestMakeWithoutGo: with no Go at GO_FALLBACK nor on PATH, make says in
// one line what to install, and fails without doing anything.
func TestMakeWithoutGo(t *testing.T) {
	mk := lookMake(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, "--no-print-directory", "GO_FALLBACK=/nonexistent/go/bin/go", "build")
	cmd.Dir = repoRoot(t)
	cmd.Env = makeEnv(t.TempDir()) // an empty directory: no go, nothing else
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("make build without Go succeeded:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "Go not found") || !strings.Contains(lines[0], "https://go.dev/dl/") {
		t.Errorf("make build without Go printed:\n%s\nwant one line saying Go was not found and where to get it", out)
	}
}

// TestPrivilegedMakeDemo: `sudo make demo` on this machine: PATH is sudo's
// secure_path, without Go, so the Makefile must find Go itself.
func TestPrivilegedMakeDemo(t *testing.T) {
	testutil.Privileged(t)
	mk := lookMake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, append([]string{"--no-print-directory", "demo"}, goFallback(t)...)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = makeEnv(securePath)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Walkthrough done: every check passed") || strings.Contains(string(out), "✗") {
		t.Fatalf("make demo with PATH=%s: %v\n%s", securePath, err, out)
	}
	// demo.sh checks for namespaces itself; nothing of the repo's binaries
	// may still run.
	checkNoRepoDaemons(t)
}

// checkNoRepoDaemons fails t if a process runs the checkout's bin/vswitchd
// or bin/vswitchctl (what make demo and the README tour start).
func checkNoRepoDaemons(t *testing.T) {
	t.Helper()
	root := repoRoot(t)
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, e := range exes {
		target, err := os.Readlink(e)
		if err != nil {
			continue
		}
		target = strings.TrimSuffix(target, " (deleted)")
		if target == filepath.Join(root, "bin/vswitchd") || target == filepath.Join(root, "bin/vswitchctl") {
			pid := strings.Split(e, "/")[2]
			if isZombie(pid) {
				continue
			}
			t.Errorf("leak: process %s still runs %s", pid, target)
		}
	}
}

// isZombie reports whether process pid has exited and waits to be reaped.
func isZombie(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true // gone
	}
	// pid (comm) STATE ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// TestPrivilegedMakeKeepsOwner: a make run as root in a checkout owned by
// someone else gives back every file it made, even when the build fails,
// so a later make without sudo can overwrite them.
func TestPrivilegedMakeKeepsOwner(t *testing.T) {
	testutil.Privileged(t)
	mk := lookMake(t)
	const uid, gid = 65534, 65534 // nobody:nogroup
	src := repoRoot(t)
	dst := filepath.Join(t.TempDir(), "checkout")
	copyTree(t, src, dst)
	if err := os.MkdirAll(filepath.Join(dst, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	chownTree(t, dst, uid, gid)
	// A file a previous root run left behind: it must be given back too.
	if err := os.WriteFile(filepath.Join(dst, "bin", "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	runMake := func(args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, mk, append(append([]string{"--no-print-directory"}, args...), goFallback(t)...)...)
		cmd.Dir = dst
		cmd.Env = makeEnv(securePath)
		out, err := cmd.CombinedOutput()
		t.Logf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	runMake("build", "GOFLAGS=-nosuchflag") // fails
	checkOwner(t, dst, uid)
	runMake("build")
	if _, err := os.Stat(filepath.Join(dst, "bin", "vswitchd")); err != nil {
		t.Fatalf("make build made no binary: %v", err)
	}
	checkOwner(t, dst, uid)
}

// copyTree copies the regular files and directories of src (not .git,
// bin or test.out) to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (rel == ".git" || rel == "bin") || rel == "test.out" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkOwner fails t for every file under dir not owned by uid.
func checkOwner(t *testing.T, dir string, uid int) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(path, &st) == nil && int(st.Uid) != uid {
			rel, _ := filepath.Rel(dir, path)
			t.Errorf("%s is owned by uid %d, want %d (the checkout's owner)", rel, st.Uid, uid)
		}
		return nil
	})
}
