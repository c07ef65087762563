//go:build linux

package test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedRunAndExec covers the process side of endpoints: a
// foreground run passes stdout, stderr and the exit code through and --rm
// removes the endpoint; a background run keeps its output for logs; exec
// passes stdin and exit codes.
func TestPrivilegedRunAndExec(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")

	r := l.ctl("run", "--rm", "--net", "n", "--name", "fg", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	if r.code != 3 || strings.TrimSpace(r.stdout) != "to-stdout" || strings.TrimSpace(r.stderr) != "to-stderr" {
		t.Fatalf("foreground run: %v; want exit 3 with the streams kept apart", r)
	}
	eventually(t, 5*time.Second, func() error {
		if netns.Exists(l.prefix + "fg") {
			return errorf("--rm: namespace of fg still exists")
		}
		return nil
	})
	if _, err := l.client.Endpoint(context.Background(), "fg"); err == nil {
		t.Error("--rm: fg still listed")
	}

	l.mustCtl("run", "-d", "--net", "n", "--name", "bg", "--", "sh", "-c", "echo line-one; sleep 0.2; echo line-two; sleep 300")
	eventually(t, 5*time.Second, func() error {
		if out := l.mustCtl("logs", "bg"); !strings.Contains(out, "line-one") || !strings.Contains(out, "line-two") {
			return errorf("logs bg = %q", out)
		}
		return nil
	})
	if e := l.endpoint("bg"); e.State != control.StateRunning || e.PID == 0 || !strings.HasPrefix(e.Status, "Up ") {
		t.Errorf("ps: bg state %q status %q pid %d, want running", e.State, e.Status, e.PID)
	}
	// A command that ends is reported with its code.
	l.mustCtl("run", "-d", "--net", "n", "--name", "done", "--", "sh", "-c", "exit 4")
	eventually(t, 5*time.Second, func() error {
		if e := l.endpoint("done"); e.State != control.StateExited || e.ExitCode == nil || *e.ExitCode != 4 || !strings.HasPrefix(e.Status, "Exited (4) ") {
			return errorf("done: state %q exit %v status %q, want exited (4)", e.State, e.ExitCode, e.Status)
		}
		return nil
	})
	// rm without -f refuses a running command, with -f stops it.
	if r := l.ctl("rm", "bg"); r.code == 0 || !strings.Contains(r.stderr, "rm -f") {
		t.Errorf("rm of a running endpoint: %v", r)
	}
	l.mustCtl("rm", "-f", "bg")

	// exec needs a running endpoint, as docker exec does.
	if r := l.exec("done", "true"); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("exec in an exited endpoint: %v, want refused: not running", r)
	}
	// exec: exit codes, stdin, the endpoint's own /etc/hosts view (in
	// an endpoint without a command: up while it exists).
	l.mustCtl("run", "-d", "--net", "n", "--name", "idle")
	if r := l.exec("idle", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec exit 7: %v", r)
	}
	if r := l.exec("idle", "nosuchcommand"); r.code != 127 {
		t.Errorf("exec of a missing command: %v, want exit 127", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r = runCmd(ctx, "piped-in\n", filepath.Join(binDir, "vswitchctl"), "--socket", l.socket, "exec", "-i", "idle", "--", "cat")
	if r.code != 0 || r.stdout != "piped-in\n" {
		t.Errorf("exec -i cat: %v", r)
	}
	if out := l.mustExec("idle", "cat", "/etc/hosts"); !strings.Contains(out, "\tidle") {
		t.Errorf("exec sees /etc/hosts without the endpoint's name:\n%s", out)
	}
}

// TestPrivilegedRunTTY: run -it gives the command a terminal.
func TestPrivilegedRunTTY(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "n")
	cmd := exec.Command(filepath.Join(binDir, "vswitchctl"), "--socket", l.socket, "run", "--rm", "-it", "--net", "n", "--name", "shell", "--", "sh")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	ptmx.Write([]byte("tty >/dev/null && echo is-a-$((6*7))-tty\n"))
	time.Sleep(500 * time.Millisecond)
	ptmx.Write([]byte("exit 5\n"))
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
			t.Errorf("run -it exited with %v, want status 5", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run -it did not end; output so far:\n%s", out.String())
	}
	ptmx.Close()
	<-done
	if !strings.Contains(out.String(), "is-a-42-tty") {
		t.Errorf("the command did not get a terminal:\n%s", out.String())
	}
}

// TestPrivilegedUplinkAndConntrackVerbs: uplink show and del, conntrack
// flush, and a published port bound to one host address.
func TestPrivilegedUplinkAndConntrackVerbs(t *testing.T) {
	testutil.RequireTools(t, "nc", "ping")
	l := startLab(t, labOptions{})
	setupInternet(t, l)
	l.mustCtl("network", "create", "n")
	l.mustCtl("run", "-d", "--net", "n", "--name", "a")
	var u control.Uplink
	l.ctlJSON(&u, "uplink", "show")
	if u.Interface != "up0" || u.Address != uplinkAddr+"/24" || u.Gateway != inetAddr || u.MAC == "" {
		t.Errorf("uplink show = %+v", u)
	}
	l.mustExec("a", "ping", "-c1", "-W2", srvAddr)
	if out := l.mustCtl("conntrack", "flush"); !strings.Contains(out, "flushed 1") {
		t.Errorf("conntrack flush: %q", out)
	}
	var cs []control.Conn
	l.ctlJSON(&cs, "conntrack", "list")
	if len(cs) != 0 {
		t.Errorf("conntrack list after flush: %+v", cs)
	}
	l.mustCtl("uplink", "del")
	if r := l.ctl("uplink", "show"); r.code != 0 || strings.TrimSpace(r.stdout) != "no uplink" {
		t.Errorf("uplink show after del: %v, want \"no uplink\", exit 0", r)
	}
	if r := l.ctl("uplink", "show", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "null" {
		t.Errorf("uplink show --json after del: %v, want null, exit 0", r)
	}
	if r := l.exec("a", "ping", "-c1", "-W1", srvAddr); r.code == 0 {
		t.Error("the outside is still reachable after uplink del")
	}

	// -p IP:HOST:CONT binds the host side to that address only.
	l.mustCtl("run", "-d", "--net", "n", "--name", "web", "-p", "127.0.0.1:8081:80", "--",
		"socat", "TCP4-LISTEN:80,fork,reuseaddr", "SYSTEM:echo web-ok")
	waitListening(t, l.epRunner("web"), "tcp", 80)
	if r := l.host("nc", "-w", "3", "127.0.0.1", "8081"); !strings.Contains(r.stdout, "web-ok") {
		t.Errorf("127.0.0.1:8081 from the host: %v", r)
	}
	if r := l.host("ss", "-ltn"); !strings.Contains(r.stdout, "127.0.0.1:8081") {
		t.Errorf("host listener not bound to 127.0.0.1 only:\n%s", r.stdout)
	}
}
