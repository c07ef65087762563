package server_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vxlan"
)

// statsBackend is a fakeBackend whose Stats the test changes.
type statsBackend struct {
	*fakeBackend
	mu    sync.Mutex // guards stats
	stats daemon.Stats
}

// Stats implements server.Backend.
func (b *statsBackend) Stats() daemon.Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

func (b *statsBackend) setStats(s daemon.Stats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats = s
}

// metricsStats returns Stats whose counters grow with n, shaped as the
// daemon makes them: an endpoint's tap port whose drops include the
// router's reasons (its router counts are those drops and more), a routed
// uplink, a VXLAN port with a drop reason of its own device, frames
// dropped with no ingress port, and every section's counters.
func metricsStats(n uint64) daemon.Stats {
	var web, up router.Counts
	web[router.Routed] = 10 + n
	web[router.DNSQuery] = 4
	web[router.DropIsolation] = 3 + n
	web[router.DropNoRoute] = 1
	up[router.Masquerade] = 2 * n
	up[router.DropNATFull] = n
	total := web
	total.Add(&up)
	total[router.ARPReply] = 6 // answered for the host's leg, whose port is gone

	upDrops := map[string]uint64{}
	if n > 0 {
		upDrops["nat-full"] = n // CounterValues omits zero counts
	}
	return daemon.Stats{
		Ports: []daemon.PortInfo{
			{ID: 3, Name: "web/eth0", Kind: datapath.KindTap, Endpoint: "web", Counters: datapath.CounterValues{
				RxFrames: 5 + n, RxBytes: 500 + 100*n, TxFrames: 7 + 2*n, TxBytes: 700 + 200*n,
				Drops:  map[string]uint64{"vlan-ingress": 2 + n, "isolation": 3 + n, "no-route": 1},
				Router: web,
			}},
			{ID: 4, Name: "uplink0", Kind: datapath.KindSystem, Routed: true, Counters: datapath.CounterValues{
				RxFrames: 1 + n, RxBytes: 60 + 60*n, Drops: upDrops, Router: up,
			}},
			{ID: 5, Name: "vxlan0", Kind: datapath.KindVXLAN, Counters: datapath.CounterValues{
				Drops: map[string]uint64{"bad-vni": 8 + n},
			}, VTEPs: []vxlan.VTEPStats{
				{Addr: ip("10.99.0.2"), RxFrames: 10 + n, RxBytes: 1000 + 100*n, TxFrames: 20 + 2*n, TxBytes: 2000 + 200*n,
					RxErrors: map[string]uint64{vxlan.DropBadFlags: 1 + n}},
				{Addr: ip("fd00::2"), TxFrames: 3},
				// The VTEPs beyond the ones counted one by one.
				{RxFrames: 4, RxBytes: 400, RxErrors: map[string]uint64{vxlan.DropUnknownVTEP: 6 + n, vxlan.DropShort: 2}},
			}},
		},
		Deferred: datapath.CounterValues{Drops: map[string]uint64{"vlan-egress": 1, "no-buffer": 3 + n}},
		FDB:      bridge.Stats{Entries: 4 + n, Learned: 9 + n, Moved: 1, Expired: 2 + n, Evicted: 0, Limited: 5},
		Router:   total,
		NAT: nat.Stats{
			Entries: 10 + n, Created: 20 + 3*n, Expired: 5 + n, EarlyDropped: 2, Flushed: 3, TableFull: 1, NoPort: 2 + n, Invalid: 3,
			Unsupported: 4, FragmentsTranslated: 5, FragmentsDropped: 6, ICMPErrorsTranslated: 7,
		},
		Defrag: nat.DefragStats{Queues: 2 + n, Bytes: 3000 + n, Budget: 4 << 20},
		DNS: dns.Stats{
			Queries: 30 + 2*n, Local: 10 + n, Forwarded: 8 + n, NXDomain: 4, ServFail: 3, Overflow: 1, Refused: 2,
			NotImp: 1, Malformed: 2, Dropped: 1, Truncated: 1, NoForward: 1, Unmatched: 2,
			CacheHits: 5 + n, CacheMisses: 3 + n, CacheEvictions: 1 + n, CacheEntries: 7,
		},
		Proxy: proxy.Stats{
			TCPConns: 6 + n, TCPActive: 2, UDPFlows: 3, UDPActive: 1 + n, BytesIn: 1000 + 10*n, BytesOut: 5000,
			DialErrors: 1, UDPDropped: 2, Redirected: 4 + n,
		},
	}
}

// scrape gets /metrics from sock and returns its text, and its vswitchd_
// samples as name{label=value,…} (labels sorted) and the families' types
// by name.
func scrape(t *testing.T, sock string) (body []byte, samples map[string]float64, types map[string]string) {
	t.Helper()
	resp, err := rawClient(sock).Get("http://vswitchd/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	samples, types = map[string]float64{}, map[string]string{}
	for name, mf := range families {
		types[name] = mf.GetType().String()
		if !strings.HasPrefix(name, "vswitchd_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			default:
				v = m.GetUntyped().GetValue()
			}
			samples[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return body, samples, types
}

// withPrefix returns the samples of the metrics whose names start with
// prefix.
func withPrefix(samples map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range samples {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// allDropReasons returns every drop reason a port reports, zeros
// included: the datapath's and the router's, each once (both have
// malformed and no-buffer).
func allDropReasons() []string {
	var rs []string
	for _, r := range datapath.Reasons() {
		rs = append(rs, r.String())
	}
	for c := range router.NumCounters {
		if c.IsDrop() && !slices.Contains(rs, c.Reason()) {
			rs = append(rs, c.Reason())
		}
	}
	return rs
}

// wantDrops returns the drop samples of metric with the given labels
// (before reason): every reason, with counts where given.
func wantDrops(metric, labels string, counts map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, r := range allDropReasons() {
		out[fmt.Sprintf("%s{%sreason=%s}", metric, labels, r)] = counts[r]
	}
	for r, n := range counts {
		out[fmt.Sprintf("%s{%sreason=%s}", metric, labels, r)] = n
	}
	return out
}

// TestMetricsScrape scrapes /metrics, checks it with promlint, and checks every
// vswitchd metric's type and samples against the Backend's Stats,
// Endpoints and Networks: per-port traffic and drops (the router's reasons
// among them), drops without a port, the router's other events, the MAC
// table, conntrack, DNS, the proxy, and build information.
func TestMetricsScrape(t *testing.T) {
	b := &statsBackend{fakeBackend: &fakeBackend{}, stats: metricsStats(0)}
	_, sock := serve(t, b)
	body, got, types := scrape(t, sock)

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// The Go and process collectors are still there.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := types[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}

	wantTypes := map[string]string{
		"vswitchd_build_info":                             "GAUGE",
		"vswitchd_port_rx_frames_total":                   "COUNTER",
		"vswitchd_port_rx_bytes_total":                    "COUNTER",
		"vswitchd_port_tx_frames_total":                   "COUNTER",
		"vswitchd_port_tx_bytes_total":                    "COUNTER",
		"vswitchd_port_drops_total":                       "COUNTER",
		"vswitchd_deferred_drops_total":                   "COUNTER",
		"vswitchd_ports":                                  "GAUGE",
		"vswitchd_router_events_total":                    "COUNTER",
		"vswitchd_mac_table_entries":                      "GAUGE",
		"vswitchd_mac_table_learned_total":                "COUNTER",
		"vswitchd_mac_table_moved_total":                  "COUNTER",
		"vswitchd_mac_table_expired_total":                "COUNTER",
		"vswitchd_mac_table_evicted_total":                "COUNTER",
		"vswitchd_mac_table_limited_total":                "COUNTER",
		"vswitchd_conntrack_entries":                      "GAUGE",
		"vswitchd_conntrack_created_total":                "COUNTER",
		"vswitchd_conntrack_expired_total":                "COUNTER",
		"vswitchd_conntrack_early_dropped_total":          "COUNTER",
		"vswitchd_conntrack_flushed_total":                "COUNTER",
		"vswitchd_conntrack_table_full_total":             "COUNTER",
		"vswitchd_conntrack_no_port_total":                "COUNTER",
		"vswitchd_conntrack_endpoint_limit_total":         "COUNTER",
		"vswitchd_conntrack_invalid_total":                "COUNTER",
		"vswitchd_conntrack_unsupported_total":            "COUNTER",
		"vswitchd_defrag_datagrams":                       "GAUGE",
		"vswitchd_defrag_bytes":                           "GAUGE",
		"vswitchd_conntrack_fragments_translated_total":   "COUNTER",
		"vswitchd_conntrack_fragments_dropped_total":      "COUNTER",
		"vswitchd_conntrack_icmp_errors_translated_total": "COUNTER",
		"vswitchd_dns_queries_total":                      "COUNTER",
		"vswitchd_dns_overflow_total":                     "COUNTER",
		"vswitchd_dns_dropped_total":                      "COUNTER",
		"vswitchd_dns_truncated_total":                    "COUNTER",
		"vswitchd_dns_upstream_unmatched_total":           "COUNTER",
		"vswitchd_dns_cache_hits_total":                   "COUNTER",
		"vswitchd_dns_cache_misses_total":                 "COUNTER",
		"vswitchd_dns_cache_evictions_total":              "COUNTER",
		"vswitchd_dns_cache_entries":                      "GAUGE",
		"vswitchd_dns_no_forward_total":                   "COUNTER",
		"vswitchd_proxy_connections_total":                "COUNTER",
		"vswitchd_proxy_active_connections":               "GAUGE",
		"vswitchd_proxy_bytes_total":                      "COUNTER",
		"vswitchd_proxy_dial_errors_total":                "COUNTER",
		"vswitchd_proxy_redirected_total":                 "COUNTER",
		"vswitchd_proxy_udp_datagrams_dropped_total":      "COUNTER",
		"vswitchd_endpoints":                              "GAUGE",
		"vswitchd_networks":                               "GAUGE",
		"vswitchd_network_endpoints":                      "GAUGE",
		"vswitchd_vtep_rx_frames_total":                   "COUNTER",
		"vswitchd_vtep_rx_bytes_total":                    "COUNTER",
		"vswitchd_vtep_tx_frames_total":                   "COUNTER",
		"vswitchd_vtep_tx_bytes_total":                    "COUNTER",
		"vswitchd_vtep_rx_errors_total":                   "COUNTER",
	}
	gotTypes := map[string]string{}
	for name, typ := range types {
		if strings.HasPrefix(name, "vswitchd_") {
			gotTypes[name] = typ
		}
	}
	if diff := cmp.Diff(wantTypes, gotTypes); diff != "" {
		t.Errorf("/metrics vswitchd families (-want +got):\n%s", diff)
	}

	build := fmt.Sprintf("vswitchd_build_info{commit=%s,goversion=%s,version=%s}", version.Commit, runtime.Version(), version.Version)
	if diff := cmp.Diff(map[string]float64{build: 1}, withPrefix(got, "vswitchd_build_info")); diff != "" {
		t.Errorf("/metrics build info (-want +got):\n%s", diff)
	}

	for _, r := range []string{"malformed", "vlan-ingress", "spoofed", "no-buffer", "tx-error", "isolation", "no-route", "nat-full", "unresolved"} {
		if !slices.Contains(allDropReasons(), r) {
			t.Errorf("drop reasons %q lack %s", allDropReasons(), r)
		}
	}
	wantPorts := map[string]float64{
		"vswitchd_port_rx_frames_total{kind=tap,port=web/eth0}":   5,
		"vswitchd_port_rx_bytes_total{kind=tap,port=web/eth0}":    500,
		"vswitchd_port_tx_frames_total{kind=tap,port=web/eth0}":   7,
		"vswitchd_port_tx_bytes_total{kind=tap,port=web/eth0}":    700,
		"vswitchd_port_rx_frames_total{kind=system,port=uplink0}": 1,
		"vswitchd_port_rx_bytes_total{kind=system,port=uplink0}":  60,
		"vswitchd_port_tx_frames_total{kind=system,port=uplink0}": 0,
		"vswitchd_port_tx_bytes_total{kind=system,port=uplink0}":  0,
		"vswitchd_port_rx_frames_total{kind=vxlan,port=vxlan0}":   0,
		"vswitchd_port_rx_bytes_total{kind=vxlan,port=vxlan0}":    0,
		"vswitchd_port_tx_frames_total{kind=vxlan,port=vxlan0}":   0,
		"vswitchd_port_tx_bytes_total{kind=vxlan,port=vxlan0}":    0,
	}
	for k, v := range wantDrops("vswitchd_port_drops_total", "port=web/eth0,", map[string]float64{"vlan-ingress": 2, "isolation": 3, "no-route": 1}) {
		wantPorts[k] = v
	}
	for k, v := range wantDrops("vswitchd_port_drops_total", "port=uplink0,", nil) {
		wantPorts[k] = v
	}
	for k, v := range wantDrops("vswitchd_port_drops_total", "port=vxlan0,", map[string]float64{"bad-vni": 8}) {
		wantPorts[k] = v
	}
	if diff := cmp.Diff(wantPorts, withPrefix(got, "vswitchd_port_")); diff != "" {
		t.Errorf("/metrics port counters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDrops("vswitchd_deferred_drops_total", "", map[string]float64{"vlan-egress": 1, "no-buffer": 3}), withPrefix(got, "vswitchd_deferred_drops_total")); diff != "" {
		t.Errorf("/metrics drops without a port (-want +got):\n%s", diff)
	}

	// Per remote VTEP of the vxlan port: traffic each way and every
	// decapsulation error reason, zeros included; "other" for the VTEPs
	// beyond those counted one by one.
	wantVTEP := map[string]float64{}
	for _, v := range []struct {
		vtep          string
		rxf, rxb, txf float64
		txb           float64
		errs          map[string]float64
	}{
		{"10.99.0.2", 10, 1000, 20, 2000, map[string]float64{"bad-flags": 1}},
		{"fd00::2", 0, 0, 3, 0, nil},
		{"other", 4, 400, 0, 0, map[string]float64{"unknown-vtep": 6, "short": 2}},
	} {
		l := "port=vxlan0,vtep=" + v.vtep
		wantVTEP["vswitchd_vtep_rx_frames_total{"+l+"}"] = v.rxf
		wantVTEP["vswitchd_vtep_rx_bytes_total{"+l+"}"] = v.rxb
		wantVTEP["vswitchd_vtep_tx_frames_total{"+l+"}"] = v.txf
		wantVTEP["vswitchd_vtep_tx_bytes_total{"+l+"}"] = v.txb
		for _, r := range []string{"short", "bad-flags", "bad-vni", "unknown-vtep", "inner-tagged", "rx-truncated"} {
			wantVTEP["vswitchd_vtep_rx_errors_total{port=vxlan0,reason="+r+",vtep="+v.vtep+"}"] = v.errs[r]
		}
	}
	if diff := cmp.Diff(wantVTEP, withPrefix(got, "vswitchd_vtep_")); diff != "" {
		t.Errorf("/metrics per-VTEP counters (-want +got):\n%s", diff)
	}

	// The router's events; its drops are only in the per-port metric.
	if diff := cmp.Diff(map[string]float64{
		"vswitchd_router_events_total{event=routed}":          10,
		"vswitchd_router_events_total{event=masquerade}":      0,
		"vswitchd_router_events_total{event=dnat}":            0,
		"vswitchd_router_events_total{event=arp-reply}":       6,
		"vswitchd_router_events_total{event=arp-suppressed}":  0,
		"vswitchd_router_events_total{event=echo-reply}":      0,
		"vswitchd_router_events_total{event=dns-query}":       4,
		"vswitchd_router_events_total{event=icmp-error-sent}": 0,
		"vswitchd_router_events_total{event=arp-pending}":     0,
		"vswitchd_router_events_total{event=fragmented}":      0,
		"vswitchd_router_events_total{event=reassembled}":     0,
		"vswitchd_router_events_total{event=mss-clamped}":     0,
		"vswitchd_router_events_total{event=gso-resized}":     0,
		"vswitchd_router_events_total{event=rst-sent}":        0,
	}, withPrefix(got, "vswitchd_router_")); diff != "" {
		t.Errorf("/metrics router events (-want +got):\n%s", diff)
	}

	want := map[string]float64{
		"vswitchd_ports{kind=tap}":      1,
		"vswitchd_ports{kind=system}":   1,
		"vswitchd_ports{kind=internal}": 0,
		"vswitchd_ports{kind=vxlan}":    1,

		"vswitchd_mac_table_entries{}":       4,
		"vswitchd_mac_table_learned_total{}": 9,
		"vswitchd_mac_table_moved_total{}":   1,
		"vswitchd_mac_table_expired_total{}": 2,
		"vswitchd_mac_table_evicted_total{}": 0,
		"vswitchd_mac_table_limited_total{}": 5,

		"vswitchd_conntrack_entries{}":                      10,
		"vswitchd_conntrack_created_total{}":                20,
		"vswitchd_conntrack_expired_total{}":                5,
		"vswitchd_conntrack_early_dropped_total{}":          2,
		"vswitchd_conntrack_flushed_total{}":                3,
		"vswitchd_conntrack_table_full_total{}":             1,
		"vswitchd_conntrack_endpoint_limit_total{}":         0,
		"vswitchd_conntrack_no_port_total{}":                2,
		"vswitchd_conntrack_invalid_total{}":                3,
		"vswitchd_conntrack_unsupported_total{}":            4,
		"vswitchd_defrag_datagrams{}":                       2,
		"vswitchd_defrag_bytes{}":                           3000,
		"vswitchd_conntrack_fragments_translated_total{}":   5,
		"vswitchd_conntrack_fragments_dropped_total{}":      6,
		"vswitchd_conntrack_icmp_errors_translated_total{}": 7,

		"vswitchd_dns_queries_total{result=local}":     10,
		"vswitchd_dns_queries_total{result=forwarded}": 8,
		"vswitchd_dns_queries_total{result=nxdomain}":  4,
		"vswitchd_dns_queries_total{result=servfail}":  3,
		"vswitchd_dns_queries_total{result=refused}":   2,
		"vswitchd_dns_queries_total{result=not_imp}":   1,
		"vswitchd_dns_queries_total{result=malformed}": 2,
		"vswitchd_dns_overflow_total{}":                1,
		"vswitchd_dns_dropped_total{}":                 1,
		"vswitchd_dns_cache_entries{}":                 7,
		"vswitchd_dns_cache_evictions_total{}":         1,
		"vswitchd_dns_cache_hits_total{}":              5,
		"vswitchd_dns_cache_misses_total{}":            3,
		"vswitchd_dns_no_forward_total{}":              1,
		"vswitchd_dns_truncated_total{}":               1,
		"vswitchd_dns_upstream_unmatched_total{}":      2,

		"vswitchd_proxy_connections_total{proto=tcp}":  6,
		"vswitchd_proxy_connections_total{proto=udp}":  3,
		"vswitchd_proxy_active_connections{proto=tcp}": 2,
		"vswitchd_proxy_active_connections{proto=udp}": 1,
		"vswitchd_proxy_bytes_total{direction=in}":     1000,
		"vswitchd_proxy_bytes_total{direction=out}":    5000,
		"vswitchd_proxy_dial_errors_total{}":           1,
		"vswitchd_proxy_redirected_total{}":            4,
		"vswitchd_proxy_udp_datagrams_dropped_total{}": 2,

		// fakeBackend's endpoints: web has exited, pod runs.
		"vswitchd_endpoints{state=running}":    1,
		"vswitchd_endpoints{state=exited}":     1,
		"vswitchd_endpoints{state=created}":    0,
		"vswitchd_endpoints{state=restarting}": 0,
		"vswitchd_endpoints{state=removing}":   0,
		// fakeBackend's networks: alpha with web, and empty.
		"vswitchd_networks{}":                       2,
		"vswitchd_network_endpoints{network=alpha}": 1,
		"vswitchd_network_endpoints{network=empty}": 0,
	}
	rest := map[string]float64{}
	for k, v := range got {
		if !slices.ContainsFunc([]string{"vswitchd_build_info", "vswitchd_port_", "vswitchd_deferred_", "vswitchd_router_", "vswitchd_vtep_"}, func(p string) bool { return strings.HasPrefix(k, p) }) {
			rest[k] = v
		}
	}
	if diff := cmp.Diff(want, rest); diff != "" {
		t.Errorf("/metrics (-want +got):\n%s", diff)
	}
}

// TestMetricsMove scrapes twice while the Backend's counters grow: the
// counters follow them and none goes backwards, and every drop is counted
// once, per port or without one.
func TestMetricsMove(t *testing.T) {
	b := &statsBackend{fakeBackend: &fakeBackend{}, stats: metricsStats(0)}
	_, sock := serve(t, b)
	_, before, types := scrape(t, sock)
	const n = 5
	b.setStats(metricsStats(n))
	_, after, _ := scrape(t, sock)

	for k, v := range before {
		name, _, _ := strings.Cut(k, "{")
		if types[name] == "COUNTER" && after[k] < v {
			t.Errorf("%s went from %v to %v", k, v, after[k])
		}
	}
	for k, delta := range map[string]float64{
		"vswitchd_port_rx_frames_total{kind=tap,port=web/eth0}":                      n,
		"vswitchd_port_rx_bytes_total{kind=tap,port=web/eth0}":                       100 * n,
		"vswitchd_port_tx_frames_total{kind=tap,port=web/eth0}":                      2 * n,
		"vswitchd_port_tx_bytes_total{kind=tap,port=web/eth0}":                       200 * n,
		"vswitchd_port_drops_total{port=web/eth0,reason=isolation}":                  n,
		"vswitchd_port_drops_total{port=web/eth0,reason=no-route}":                   0,
		"vswitchd_port_drops_total{port=uplink0,reason=nat-full}":                    n, // first seen: the series was there at 0
		"vswitchd_port_drops_total{port=vxlan0,reason=bad-vni}":                      n,
		"vswitchd_deferred_drops_total{reason=no-buffer}":                            n,
		"vswitchd_vtep_rx_frames_total{port=vxlan0,vtep=10.99.0.2}":                  n,
		"vswitchd_vtep_rx_bytes_total{port=vxlan0,vtep=10.99.0.2}":                   100 * n,
		"vswitchd_vtep_tx_frames_total{port=vxlan0,vtep=10.99.0.2}":                  2 * n,
		"vswitchd_vtep_tx_bytes_total{port=vxlan0,vtep=10.99.0.2}":                   200 * n,
		"vswitchd_vtep_rx_errors_total{port=vxlan0,reason=bad-flags,vtep=10.99.0.2}": n,
		"vswitchd_vtep_rx_errors_total{port=vxlan0,reason=unknown-vtep,vtep=other}":  n,
		"vswitchd_vtep_tx_frames_total{port=vxlan0,vtep=fd00::2}":                    0,
		"vswitchd_router_events_total{event=routed}":                                 n,
		"vswitchd_router_events_total{event=masquerade}":                             2 * n,
		"vswitchd_mac_table_entries{}":                                               n,
		"vswitchd_mac_table_learned_total{}":                                         n,
		"vswitchd_conntrack_created_total{}":                                         3 * n,
		"vswitchd_conntrack_entries{}":                                               n,
		"vswitchd_dns_cache_hits_total{}":                                            n,
		"vswitchd_conntrack_no_port_total{}":                                         n,
		"vswitchd_dns_queries_total{result=local}":                                   n,
		"vswitchd_dns_queries_total{result=forwarded}":                               n,
		"vswitchd_proxy_connections_total{proto=tcp}":                                n,
		"vswitchd_proxy_active_connections{proto=udp}":                               n,
		"vswitchd_proxy_bytes_total{direction=in}":                                   10 * n,
	} {
		b, okb := before[k]
		a, oka := after[k]
		if !okb || !oka || a-b != delta {
			t.Errorf("%s: %v (present %v) → %v (present %v), want +%v", k, b, okb, a, oka, delta)
		}
	}

	// Every drop once: the per-port and portless drops add up to the
	// Backend's drops, and the router's drop counters are not repeated as
	// events.
	var drops, wantDrops float64
	for k, v := range after {
		if strings.HasPrefix(k, "vswitchd_port_drops_total{") || strings.HasPrefix(k, "vswitchd_deferred_drops_total{") {
			drops += v
		}
		if strings.HasPrefix(k, "vswitchd_router_events_total{event=drop") {
			t.Errorf("/metrics has router drop counter %s as an event", k)
		}
	}
	st := metricsStats(n)
	for _, p := range st.Ports {
		for _, v := range p.Counters.Drops {
			wantDrops += float64(v)
		}
	}
	for _, v := range st.Deferred.Drops {
		wantDrops += float64(v)
	}
	if drops != wantDrops {
		t.Errorf("/metrics drops sum to %v, want %v (the ports' and the deferred frames')", drops, wantDrops)
	}
}
