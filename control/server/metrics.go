package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes a Backend's Stats as Prometheus metrics on /metrics.
type collector struct{ b Backend }

var (
	descPortFrames = prometheus.NewDesc("vswitchd_port_frames_total", "Frames per port and direction.", []string{"port", "kind", "direction"}, nil)
	descPortBytes  = prometheus.NewDesc("vswitchd_port_bytes_total", "Bytes per port and direction.", []string{"port", "kind", "direction"}, nil)
	descPortDrops  = prometheus.NewDesc("vswitchd_port_drops_total", "Frames dropped per port and reason.", []string{"port", "reason"}, nil)
	descSection    = prometheus.NewDesc("vswitchd_counter", "Switch counters by section (fdb, router, nat, dns, proxy) and name.", []string{"section", "name"}, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPortFrames
	ch <- descPortBytes
	ch <- descPortDrops
	ch <- descSection
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := stats(c.b.Stats())
	for _, p := range st.Ports {
		ch <- prometheus.MustNewConstMetric(descPortFrames, prometheus.CounterValue, float64(p.RxFrames), p.Name, p.Kind, "rx")
		ch <- prometheus.MustNewConstMetric(descPortFrames, prometheus.CounterValue, float64(p.TxFrames), p.Name, p.Kind, "tx")
		ch <- prometheus.MustNewConstMetric(descPortBytes, prometheus.CounterValue, float64(p.RxBytes), p.Name, p.Kind, "rx")
		ch <- prometheus.MustNewConstMetric(descPortBytes, prometheus.CounterValue, float64(p.TxBytes), p.Name, p.Kind, "tx")
		for reason, n := range p.Drops {
			ch <- prometheus.MustNewConstMetric(descPortDrops, prometheus.CounterValue, float64(n), p.Name, reason)
		}
	}
	for section, m := range map[string]map[string]uint64{"fdb": st.FDB, "router": st.Router, "nat": st.NAT, "dns": st.DNS, "proxy": st.Proxy} {
		for name, v := range m {
			ch <- prometheus.MustNewConstMetric(descSection, prometheus.UntypedValue, float64(v), section, name)
		}
	}
}
