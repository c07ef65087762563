//go:build linux

package test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// scrape reads the daemon's /metrics over its socket: the raw text and
// each sample by its name and labels.
func (l *lab) scrape() ([]byte, map[string]float64) {
	l.t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", l.socket)
	}}}
	resp, err := hc.Get("http://vswitchd/metrics")
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		l.t.Fatalf("parse /metrics: %v", err)
	}
	samples := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				samples[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				samples[key] = m.GetGauge().GetValue()
			}
		}
	}
	return body, samples
}

// TestPrivilegedMetrics scrapes a real daemon: the exposition passes
// promlint, frame counters move with traffic, a drop appears under its
// port and reason, and gauges count what exists.
func TestPrivilegedMetrics(t *testing.T) {
	testutil.RequireTools(t, "ping")
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	body, before := l.scrape()
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	l.mustExec("apple-server", "ping", "-c3", "-i0.2", "-W2", "orange-server")
	// red-apple and orange-server share no network: the router drops it.
	orange := nicOn(t, l, "orange-server", "test-network").IP
	l.exec("red-apple", "ping", "-c1", "-W1", orange)

	var after map[string]float64
	eventually(t, 5*time.Second, func() error {
		_, after = l.scrape()
		if after[`vswitchd_port_drops_total{port=red-apple/eth0,reason=isolation}`] < 1 {
			return errorf("no isolation drop on red-apple/eth0")
		}
		return nil
	})
	rx := `vswitchd_port_rx_frames_total{kind=tap,port=apple-server/eth0}`
	tx := `vswitchd_port_tx_frames_total{kind=tap,port=orange-server/eth0}`
	if after[rx]-before[rx] < 3 || after[tx]-before[tx] < 3 {
		t.Errorf("counters did not follow the pings: %s %v → %v, %s %v → %v", rx, before[rx], after[rx], tx, before[tx], after[tx])
	}
	for key, want := range map[string]float64{
		`vswitchd_endpoints{state=running}`:              3,
		`vswitchd_networks{}`:                            3, // bridge, test-network, applesonly
		`vswitchd_network_endpoints{network=applesonly}`: 2,
		`vswitchd_ports{kind=tap}`:                       4, // apple-server has two NICs
	} {
		if after[key] != want {
			t.Errorf("%s = %v, want %v", key, after[key], want)
		}
	}
	found := false
	for key, v := range after {
		if strings.HasPrefix(key, "vswitchd_build_info{") && v == 1 {
			found = true
		}
	}
	if !found {
		t.Error("no vswitchd_build_info sample")
	}
}

// TestPrivilegedCompletion: shell completion asks the running daemon for
// endpoint, network and port names.
func TestPrivilegedCompletion(t *testing.T) {
	l := startLab(t, labOptions{})
	walkthrough(t, l)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "exec", ""}, []string{"apple-server", "orange-server", "red-apple"}},
		{[]string{"__complete", "network", "inspect", ""}, []string{"bridge", "test-network", "applesonly"}},
		{[]string{"__complete", "network", "disconnect", "applesonly", ""}, []string{"apple-server", "red-apple"}},
		{[]string{"__complete", "capture", "red"}, []string{"red-apple", "red-apple/eth0"}},
	} {
		r := l.ctl(tt.args...)
		if r.code != 0 {
			t.Errorf("vswitchctl %s: %v", strings.Join(tt.args, " "), r)
			continue
		}
		got := map[string]bool{}
		for _, line := range strings.Split(r.stdout, "\n") {
			if line != "" && !strings.HasPrefix(line, ":") {
				got[strings.SplitN(line, "\t", 2)[0]] = true
			}
		}
		for _, w := range tt.want {
			if !got[w] {
				t.Errorf("vswitchctl %s offers %v, want %s among them", strings.Join(tt.args, " "), r.stdout, w)
			}
		}
	}
}
