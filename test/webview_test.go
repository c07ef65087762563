//go:build linux

package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// TestPrivilegedWebView loads the web view in a real headless Chromium,
// relayed from the lab daemon's socket by vswitchctl ui --listen, and
// checks the DOM: the lab's endpoint and network names are drawn, and the
// frame counter moves while a ping runs. The screenshot is saved in the
// test's temporary directory (its path is logged).
func TestPrivilegedWebView(t *testing.T) {
	testutil.RequireTools(t, "ip", "ping", "chromium")
	l := startLab(t, labOptions{args: []string{"--http", "127.0.0.1:18080"}})
	if out := l.mustCtl("ui"); strings.TrimSpace(out) != "http://127.0.0.1:18080/ui/" {
		t.Errorf("vswitchctl ui with --http: %q", out)
	}
	l.mustCtl("lab", "up", filepath.Join(repoRoot(t), "examples", "impaired.yaml"))

	// vswitchctl ui --listen relays the socket to a loopback port.
	_, out := startProcess(t, filepath.Join(binDir, "vswitchctl"), "--socket", l.socket, "ui", "--listen", "127.0.0.1:0")
	var url string
	eventually(t, 10*time.Second, func() error {
		m := listenRE.FindStringSubmatch(out.String())
		if m == nil {
			return errorf("vswitchctl ui --listen printed %q", out.String())
		}
		url = m[1]
		return nil
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1400, 900),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	var names, first string
	err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`g.endpoint[data-name="wan-client"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`g.network[data-name="wan-lan"]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("g.node")).map(g => g.dataset.name).join(",")`, &names),
		chromedp.Text(`#total-frames`, &first, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	for _, n := range []string{"wan-server", "wan-client", "wan-peer", "wan-lan", "wan-wan"} {
		if !strings.Contains(","+names+",", ","+n+",") {
			t.Errorf("web view shows %q, want %s among them", names, n)
		}
	}
	// Traffic: the counter must move while it flows.
	server := l.endpoint("wan-server").NICs[0].IP
	ping := l.execStart(t, "wan-peer", "ping", "-n", "-c", "40", "-i", "0.1", server)
	var later string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := chromedp.Run(ctx, chromedp.Sleep(time.Second), chromedp.Text(`#total-frames`, &later, chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		if later != first {
			break
		}
	}
	if later == first {
		t.Errorf("frame counter stayed at %s while a ping ran", first)
	}
	t.Logf("frames switched: %s → %s", first, later)
	// Click an endpoint: its inspect JSON appears.
	var inspect string
	if err := chromedp.Run(ctx,
		chromedp.Click(`g.endpoint[data-name="wan-client"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("inspect").textContent.includes('"name": "wan-client"')`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#inspect`, &inspect, chromedp.ByID),
	); err != nil {
		t.Errorf("inspect wan-client: %v (%q)", err, inspect)
	}
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 90)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "webview.png")
	if dir := os.Getenv("VSWITCHD_TEST_ARTIFACTS"); dir != "" {
		path = filepath.Join(dir, "webview.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	ping.wait(t, 30*time.Second)
	cancel()
	cancelAlloc() // chromedp kills the browser it started, by its PID
}

var listenRE = regexp.MustCompile(`web view at (http://\S+/ui/)`)

func chromiumPath(t *testing.T) string {
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
