package vxlan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/netns"
)

// A lab is the set of network namespaces and processes one privileged test
// makes. Everything is removed at cleanup, after which checkLeaks makes sure
// no namespace or process of the test is left.
type lab struct {
	t     *testing.T
	id    string
	mu    sync.Mutex
	names []string // namespaces made
	pids  []int    // processes started
}

// newLab returns an empty lab whose leak check runs after every other
// cleanup of the test.
func newLab(t *testing.T) *lab {
	l := &lab{t: t, id: fmt.Sprintf("%06x", rand.Uint32()&0xffffff)}
	t.Cleanup(l.checkLeaks)
	return l
}

// labNS is one namespace of a lab.
type labNS struct {
	l    *lab
	name string
	h    netns.Handle
}

// ns creates namespace vxt-<lab id>-<tag> with IPv6 off (so the kernel adds
// no neighbour discovery to the overlay) and loopback up.
func (l *lab) ns(tag string) *labNS {
	l.t.Helper()
	name := "vxt-" + l.id + "-" + tag
	if err := netns.Create(name); err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	l.t.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			l.t.Error(err)
		}
	})
	h, err := netns.Open(name)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { h.Close() })
	n := &labNS{l: l, name: name, h: h}
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := netns.Sysctl(h, key, "1"); err != nil {
			l.t.Fatal(err)
		}
	}
	n.ip("link", "set", "lo", "up")
	return n
}

// ip runs `ip -n NS args…`, failing the test on error.
func (n *labNS) ip(args ...string) string {
	n.l.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		n.l.t.Fatalf("ip -n %s %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// run runs a command inside the namespace with a timeout and returns its
// combined output.
func (n *labNS) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...).CombinedOutput()
	return string(out), err
}

// proc is a background process of a lab, stopped by PID at cleanup.
type proc struct {
	cmd  *exec.Cmd
	out  strings.Builder
	mu   sync.Mutex
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs a command inside the namespace in the background (ip netns
// exec execs it, so the PID is the command's). It is stopped at cleanup if
// still running: SIGTERM, then SIGKILL after 5 s.
func (n *labNS) start(name string, args ...string) *proc {
	n.l.t.Helper()
	return n.startEnv(nil, name, args...)
}

// startEnv is start with the environment env (nil: the test's).
func (n *labNS) startEnv(env []string, name string, args ...string) *proc {
	n.l.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		n.l.t.Fatalf("start %s: %v", name, err)
	}
	n.l.mu.Lock()
	n.l.pids = append(n.l.pids, p.cmd.Process.Pid)
	n.l.mu.Unlock()
	go func() { p.cmd.Wait(); close(p.done) }()
	n.l.t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop sends sig to the process and waits up to 5 s for it to exit, then
// kills it.
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// open opens a Port inside the namespace, closed at cleanup.
func (n *labNS) open(opt Options) *Port {
	n.l.t.Helper()
	var p *Port
	err := netns.Do(n.h, func() (err error) {
		p, err = Open(opt)
		return err
	})
	if err != nil {
		n.l.t.Fatal(err)
	}
	n.l.t.Cleanup(func() { p.Close() })
	return p
}

// checkLeaks fails the test if a namespace or process of the lab survived
// its cleanup.
func (l *lab) checkLeaks() {
	for _, name := range l.names {
		if netns.Exists(name) {
			l.t.Errorf("leak: namespace %s still exists", name)
		}
	}
	for _, pid := range l.pids {
		if b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "stat")); err == nil {
			// A zombie would be reaped by Wait; anything else runs.
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] != "Z" {
				l.t.Errorf("leak: process %d still runs: %s", pid, b)
			}
		}
	}
	if ents, err := os.ReadDir(netns.RunDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "vxt-"+l.id) {
				l.t.Errorf("leak: %s/%s", netns.RunDir, e.Name())
			}
		}
	}
}

// capture is a tcpdump writing a pcap file in a namespace.
type capture struct {
	p    *proc
	file string
}

// capture starts tcpdump -w on ifname with filter and returns once it
// listens.
func (n *labNS) capture(ifname string, filter ...string) *capture {
	n.l.t.Helper()
	file := filepath.Join(n.l.t.TempDir(), ifname+".pcap")
	args := append([]string{"-i", ifname, "-n", "-U", "--immediate-mode", "-s", "0", "-Z", "root", "-w", file}, filter...)
	c := &capture{p: n.start("tcpdump", args...), file: file}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.p.output(), "listening on") {
		if time.Now().After(deadline) || c.p.wait(50*time.Millisecond) {
			n.l.t.Fatalf("tcpdump on %s not listening: %s", ifname, c.p.output())
		}
	}
	return c
}

// stop interrupts tcpdump and returns the pcap file's path.
func (c *capture) stop() string {
	c.p.stop(syscall.SIGINT)
	return c.file
}
