//go:build linux

package test

import (
	"bufio"
	"context"
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
	"github.com/vswitchd/vswitchd/netns"
)

// README examples are tests, so they cannot drift from what the code does.
//
// The convention (documented in the README's Testing section): every code
// block fenced as ```sh is run, in order, each block by `bash -e` in the
// repository root, exactly as printed — unless the line just before its
// fence is `<!-- not run: REASON -->`. Blocks fenced otherwise (``` or
// ```text) are output or synopses and are not run. A block must therefore
// be safe to run as root on a test machine (the tour works in a --lab
// namespace), stop everything it starts, and leave nothing behind.

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line   int    // of the opening fence, 1-based
	code   string // the block's lines
	skip   string // the not-run reason, if any
	fenced string // the fence's info string ("sh")
}

var notRunRE = regexp.MustCompile(`^<!-- not run: (.+) -->$`)

// readmeBlocks returns the fenced code blocks of the README at path.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	prev := ""
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{line: n, fenced: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
			if m := notRunRE.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.skip = m[1]
			}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: code block at line %d is not closed", path, cur.line)
	}
	return blocks
}

// TestReadmeBlocksParse: the README has the blocks this convention
// expects: the two commands (not run: they are make demo and make test),
// and a quick tour that is run.
func TestReadmeBlocksParse(t *testing.T) {
	var run, skipped int
	for _, b := range readmeBlocks(t, filepath.Join(repoRoot(t), "README.md")) {
		if b.fenced != "sh" {
			continue
		}
		if b.skip != "" {
			skipped++
		} else {
			run++
		}
	}
	if run == 0 || skipped == 0 {
		t.Errorf("README.md: %d sh blocks run, %d marked not run; want the tour run and the two commands marked", run, skipped)
	}
}

// TestPrivilegedReadme runs every ```sh block of README.md with bash -e in
// the repository root, as printed, and checks that each exits 0 and
// leaves nothing behind: no namespace, /etc/netns entry or process of the
// names the block uses, no daemon from the checkout's bin/. The blocks use
// fixed names (the tour's vswlab, apple-server, …, its /tmp/vswitchd.sock),
// so this test never runs in parallel with another.
func TestPrivilegedReadme(t *testing.T) {
	testutil.Privileged(t)
	testutil.RequireTools(t, "make", "ip", "ping", "nc", "tcpdump", "podman", "busybox", "nsenter")
	root := repoRoot(t)
	for _, b := range readmeBlocks(t, filepath.Join(root, "README.md")) {
		if b.fenced != "sh" {
			continue
		}
		t.Run("line"+strconv.Itoa(b.line), func(t *testing.T) {
			if b.skip != "" {
				t.Logf("not run: %s", b.skip)
				return
			}
			runReadmeBlock(t, root, b)
		})
	}
}

// words returns the names a block mentions: its tokens made of the
// characters namespace names may hold.
func words(code string) map[string]bool {
	m := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z0-9_.-]+`).FindAllString(code, -1) {
		if netns.ValidateName(w) == nil {
			m[w] = true
		}
	}
	return m
}

// runReadmeBlock runs one block and checks for leaks.
func runReadmeBlock(t *testing.T, root string, b readmeBlock) {
	names := words(b.code)
	// The names must be free before the run: they are the README's, not
	// this test's, and a collision would make the run or the leak check lie.
	before, _ := netns.List()
	for _, n := range before {
		if names[n] {
			t.Fatalf("namespace %s exists before the README block runs (a previous run or a real one?)", n)
		}
	}
	pidFiles := regexp.MustCompile(`--pid-file[ =](\S+)`).FindAllStringSubmatch(b.code, -1)
	for _, m := range regexp.MustCompile(`--socket[ =](\S+)`).FindAllStringSubmatch(b.code, -1) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := control.NewClient(m[1]).Version(ctx)
		cancel()
		if err == nil {
			t.Fatalf("a vswitchd already answers on %s, which the README block uses", m[1])
		}
	}
	// The tour's daemon uses the default state directory; remove it after
	// the run if the run made it.
	_, statErr := os.Stat("/var/lib/vswitchd")
	madeStateDir := os.IsNotExist(statErr)

	script := filepath.Join(t.TempDir(), "block.sh")
	if err := os.WriteFile(script, []byte(b.code), 0o644); err != nil {
		t.Fatal(err)
	}
	// Remember the namespaces the block makes (by inode), to find
	// processes left in them after they are gone.
	inodes := map[uint64]string{}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			ns, _ := netns.List()
			for _, n := range ns {
				var st syscall.Stat_t
				if names[n] && syscall.Stat(netns.Path(n), &st) == nil {
					inodes[st.Ino] = n
				}
			}
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", script)
	cmd.Dir = root
	cmd.Env = withoutEnvVars(os.Environ(), "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VSWITCHD_SOCKET")
	// This machine's podman needs these (see the README's CNI section).
	cmd.Env = append(cmd.Env, `PODMAN_LIMITS=default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]`,
		`PODMAN_RUNTIME=runtime = "runc"`)
	// Whatever the block leaves running is found below; do not wait for
	// it to close the output.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	close(stopWatch)
	<-watched
	if err != nil {
		t.Errorf("README.md block at line %d: %v\n%s", b.line, err, out)
		rescueReadme(t, root, pidFiles)
	} else {
		t.Logf("README.md block at line %d:\n%s", b.line, out)
	}

	after, _ := netns.List()
	for _, n := range after {
		if names[n] {
			t.Errorf("leak: namespace %s left by the README block", n)
			killAll(n)
			netns.Delete(n)
		}
	}
	if ents, err := os.ReadDir(netns.EtcDir); err == nil {
		for _, e := range ents {
			if names[e.Name()] {
				t.Errorf("leak: %s/%s left by the README block", netns.EtcDir, e.Name())
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			if ns, ok := inodes[st.Ino]; ok {
				t.Errorf("leak: process %s still runs in namespace %s", strings.Split(p, "/")[2], ns)
			}
		}
	}
	checkNoRepoDaemons(t)
	for _, m := range pidFiles {
		if _, err := os.Stat(m[1]); err == nil {
			t.Errorf("leak: pid file %s", m[1])
			os.Remove(m[1])
		}
	}
	if _, err := os.Stat("/var/lib/vswitchd/state.json"); err == nil {
		t.Errorf("leak: /var/lib/vswitchd/state.json (a daemon did not shut down cleanly)")
	}
	if madeStateDir {
		os.RemoveAll("/var/lib/vswitchd")
	}
}

// rescueReadme stops what a failed README block left running: the
// daemons named by its PID files (vswitchd stop checks they are vswitchd),
// then whatever the default state directory still records.
func rescueReadme(t *testing.T, root string, pidFiles [][]string) {
	bin := filepath.Join(root, "bin", "vswitchd")
	for _, m := range pidFiles {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r := runCmd(ctx, "", bin, "stop", "--pid-file", m[1])
		cancel()
		t.Logf("rescue: vswitchd stop --pid-file %s: %v", m[1], r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := runCmd(ctx, "", bin, "cleanup")
	t.Logf("rescue: vswitchd cleanup: %v", r)
}
