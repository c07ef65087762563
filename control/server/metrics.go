package server

import (
	"runtime"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vxlan"
)

// Metrics follow Prometheus' naming conventions: one prefix (vswitchd_),
// counters end in _total, units are in the name (_bytes_total,
// _frames_total), gauges hold current values, and the sum over a metric's
// labels means something. So received and transmitted traffic are separate
// metrics, as node_exporter's receive/transmit pairs are: a switched frame
// is received on one port and sent on one or many others, and rx+tx would
// count it twice or more. Label values are the names `vswitchctl ports`
// and `vswitchctl stats` show.
//
// Every drop is counted once: per ingress port by reason
// (vswitchd_port_drops_total, the datapath's reasons and the router's), or,
// for frames with no ingress port, in vswitchd_deferred_drops_total.
// vswitchd_router_events_total has the router's other counters only.
// Known label values are reported with zeros, so that a series exists
// before its first event and rate() sees that event.

// collector exposes a Backend's counters as Prometheus metrics on /metrics.
// Each scrape calls Backend.Stats, Endpoints and Networks once.
type collector struct{ b Backend }

var _ prometheus.Collector = (*collector)(nil)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descBuildInfo = newDesc("vswitchd_build_info", "Always 1; the labels say which vswitchd is running.", "version", "commit", "goversion")

	descPortRxFrames = newDesc("vswitchd_port_rx_frames_total", "Frames received on the port.", "port", "kind")
	descPortRxBytes  = newDesc("vswitchd_port_rx_bytes_total", "Bytes received on the port.", "port", "kind")
	descPortTxFrames = newDesc("vswitchd_port_tx_frames_total", "Frames sent on the port.", "port", "kind")
	descPortTxBytes  = newDesc("vswitchd_port_tx_bytes_total", "Bytes sent on the port.", "port", "kind")
	descPortDrops    = newDesc("vswitchd_port_drops_total",
		"Frames dropped, by port and reason: the datapath's and the router's reasons for frames received on the port (vlan-ingress, spoofed, isolation, no-route…), and the port device's own.",
		"port", "reason")
	descDeferredDrops = newDesc("vswitchd_deferred_drops_total",
		"Frames the switch generated outside its receive loops (DNS answers from upstreams, ARP) and dropped on their way, by reason; they have no ingress port.",
		"reason")
	descPorts = newDesc("vswitchd_ports", "Switch ports, by kind.", "kind")

	descVTEPRxFrames = newDesc("vswitchd_vtep_rx_frames_total", "VXLAN datagrams a vxlan port received from the remote VTEP (vtep \"other\": those beyond the VTEPs counted one by one).", "port", "vtep")
	descVTEPRxBytes  = newDesc("vswitchd_vtep_rx_bytes_total", "UDP payload bytes (VXLAN header and inner frame) a vxlan port received from the remote VTEP.", "port", "vtep")
	descVTEPTxFrames = newDesc("vswitchd_vtep_tx_frames_total", "VXLAN datagrams a vxlan port sent to the remote VTEP.", "port", "vtep")
	descVTEPTxBytes  = newDesc("vswitchd_vtep_tx_bytes_total", "UDP payload bytes a vxlan port sent to the remote VTEP.", "port", "vtep")
	descVTEPRxErrors = newDesc("vswitchd_vtep_rx_errors_total", "Datagrams from the remote VTEP dropped at decapsulation, by reason (short, bad-flags, bad-vni, unknown-vtep, inner-tagged, rx-truncated).", "port", "vtep", "reason")

	descRouterEvents = newDesc("vswitchd_router_events_total",
		"What the router did, by event (routed, masquerade, dnat, arp-reply…); its drops are in vswitchd_port_drops_total.",
		"event")

	descDNSQueries = newDesc("vswitchd_dns_queries_total",
		"DNS queries to the gateways, by result; a forwarded query no upstream answers counts again as servfail.",
		"result")

	descProxyConns  = newDesc("vswitchd_proxy_connections_total", "Connections (TCP) and flows (UDP) to published host ports.", "proto")
	descProxyActive = newDesc("vswitchd_proxy_active_connections", "Connections (TCP) and flows (UDP) to published host ports open now.", "proto")
	descProxyBytes  = newDesc("vswitchd_proxy_bytes_total", "Payload bytes relayed for published host ports: in from clients to endpoints, out back.", "direction")
	descRedirected  = newDesc("vswitchd_proxy_redirected_total", "The host's TCP connects to published ports sent straight to the endpoint by the cgroup/connect4 program, not relayed.")

	descEndpoints       = newDesc("vswitchd_endpoints", "Endpoints, by state: running (its command runs, or it has none and is up), exited (its command ended or was stopped), created (its command never ran), restarting (waiting to run it again), removing.", "state")
	descNetworks        = newDesc("vswitchd_networks", "Networks.")
	descNetworkEndpoint = newDesc("vswitchd_network_endpoints", "Endpoints attached to the network.", "network")
)

// scalar is a metric without labels, read from the Stats.
type scalar struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*daemon.Stats) uint64
}

func counter(name, help string, v func(*daemon.Stats) uint64) scalar {
	return scalar{newDesc(name, help), prometheus.CounterValue, v}
}

func gauge(name, help string, v func(*daemon.Stats) uint64) scalar {
	return scalar{newDesc(name, help), prometheus.GaugeValue, v}
}

var scalars = []scalar{
	gauge("vswitchd_mac_table_entries", "MAC table entries, static ones included.", func(s *daemon.Stats) uint64 { return s.FDB.Entries }),
	counter("vswitchd_mac_table_learned_total", "MAC addresses learned.", func(s *daemon.Stats) uint64 { return s.FDB.Learned }),
	counter("vswitchd_mac_table_moved_total", "MAC addresses seen moving to another port.", func(s *daemon.Stats) uint64 { return s.FDB.Moved }),
	counter("vswitchd_mac_table_expired_total", "MAC table entries removed after aging out.", func(s *daemon.Stats) uint64 { return s.FDB.Expired }),
	counter("vswitchd_mac_table_evicted_total", "Live MAC table entries removed to stay within the table's capacity.", func(s *daemon.Stats) uint64 { return s.FDB.Evicted }),
	counter("vswitchd_mac_table_limited_total", "Frames whose source MAC was not learned because the port had its limit.", func(s *daemon.Stats) uint64 { return s.FDB.Limited }),

	gauge("vswitchd_conntrack_entries", "Connections in the NAT connection table, expired ones not yet removed included.", func(s *daemon.Stats) uint64 { return conntrackEntries(s.NAT) }),
	counter("vswitchd_conntrack_created_total", "Connections created.", func(s *daemon.Stats) uint64 { return s.NAT.Created }),
	counter("vswitchd_conntrack_expired_total", "Connections removed after their timeout.", func(s *daemon.Stats) uint64 { return s.NAT.Expired }),
	counter("vswitchd_conntrack_early_dropped_total", "Unassured connections evicted to make room for a new one.", func(s *daemon.Stats) uint64 { return s.NAT.EarlyDropped }),
	counter("vswitchd_conntrack_flushed_total", "Connections removed by a flush.", func(s *daemon.Stats) uint64 { return s.NAT.Flushed }),
	counter("vswitchd_conntrack_table_full_total", "Connections not created because the table was full.", func(s *daemon.Stats) uint64 { return s.NAT.TableFull }),
	counter("vswitchd_conntrack_endpoint_limit_total", "Connections not created because their endpoint held its limit and none evictable.", func(s *daemon.Stats) uint64 { return s.NAT.EndpointLimit }),
	counter("vswitchd_conntrack_no_port_total", "Connections not created because no masquerade port was free.", func(s *daemon.Stats) uint64 { return s.NAT.NoPort }),
	counter("vswitchd_conntrack_invalid_total", "Packets invalid for their connection, or untrackable.", func(s *daemon.Stats) uint64 { return s.NAT.Invalid }),
	counter("vswitchd_conntrack_unsupported_total", "Connections not created because their protocol cannot be translated.", func(s *daemon.Stats) uint64 { return s.NAT.Unsupported }),
	counter("vswitchd_conntrack_fragments_translated_total", "Non-first fragments translated.", func(s *daemon.Stats) uint64 { return s.NAT.FragmentsTranslated }),
	counter("vswitchd_conntrack_fragments_dropped_total", "Non-first fragments dropped because their first fragment was not tracked.", func(s *daemon.Stats) uint64 { return s.NAT.FragmentsDropped }),
	gauge("vswitchd_defrag_datagrams", "Incomplete IPv4 datagrams whose fragments are held for reassembly.", func(s *daemon.Stats) uint64 { return s.Defrag.Queues }),
	gauge("vswitchd_defrag_bytes", "Memory charged to the fragments held for reassembly (payload plus a fixed overhead per fragment), all zones.", func(s *daemon.Stats) uint64 { return s.Defrag.Bytes }),
	counter("vswitchd_conntrack_icmp_errors_translated_total", "ICMP errors about a tracked connection translated.", func(s *daemon.Stats) uint64 { return s.NAT.ICMPErrorsTranslated }),

	counter("vswitchd_dns_overflow_total", "DNS queries answered SERVFAIL because too many were being forwarded (part of result servfail).", func(s *daemon.Stats) uint64 { return s.DNS.Overflow }),
	counter("vswitchd_dns_dropped_total", "DNS messages not answered at all: header unreadable, or a response (part of result malformed).", func(s *daemon.Stats) uint64 { return s.DNS.Dropped }),
	counter("vswitchd_dns_upstream_unmatched_total", "Messages from DNS upstreams dropped because they answer no query in flight: another ID or question, or late.", func(s *daemon.Stats) uint64 { return s.DNS.Unmatched }),
	counter("vswitchd_dns_truncated_total", "DNS answers over UDP truncated by the switch (TC set).", func(s *daemon.Stats) uint64 { return s.DNS.Truncated }),
	counter("vswitchd_dns_cache_hits_total", "Forwardable DNS queries answered from the cache.", func(s *daemon.Stats) uint64 { return s.DNS.CacheHits }),
	counter("vswitchd_dns_cache_misses_total", "Forwardable DNS queries the cache did not hold.", func(s *daemon.Stats) uint64 { return s.DNS.CacheMisses }),
	counter("vswitchd_dns_cache_evictions_total", "Cached DNS answers dropped before they expired, to make room.", func(s *daemon.Stats) uint64 { return s.DNS.CacheEvictions }),
	gauge("vswitchd_dns_cache_entries", "DNS answers in the cache, some maybe expired.", func(s *daemon.Stats) uint64 { return s.DNS.CacheEntries }),
	counter("vswitchd_dns_no_forward_total", "DNS queries refused because their scope may not be forwarded (part of result refused).", func(s *daemon.Stats) uint64 { return s.DNS.NoForward }),

	counter("vswitchd_proxy_dial_errors_total", "Connections to endpoints, or UDP flow sockets, for published host ports that failed.", func(s *daemon.Stats) uint64 { return s.Proxy.DialErrors }),
	counter("vswitchd_proxy_udp_datagrams_dropped_total", "UDP datagrams to published host ports dropped because the rule's flow table was full.", func(s *daemon.Stats) uint64 { return s.Proxy.UDPDropped }),
}

// conntrackEntries is the number of connections (nat.Table.Len).
func conntrackEntries(n nat.Stats) uint64 { return n.Entries }

// dnsResults are the values of vswitchd_dns_queries_total's result label,
// named as in `vswitchctl stats`.
var dnsResults = []struct {
	name  string
	value func(*daemon.Stats) uint64
}{
	{"local", func(s *daemon.Stats) uint64 { return s.DNS.Local }},
	{"forwarded", func(s *daemon.Stats) uint64 { return s.DNS.Forwarded }},
	{"nxdomain", func(s *daemon.Stats) uint64 { return s.DNS.NXDomain }},
	{"servfail", func(s *daemon.Stats) uint64 { return s.DNS.ServFail }},
	{"refused", func(s *daemon.Stats) uint64 { return s.DNS.Refused }},
	{"not_imp", func(s *daemon.Stats) uint64 { return s.DNS.NotImp }},
	{"malformed", func(s *daemon.Stats) uint64 { return s.DNS.Malformed }},
}

// dropReasons are the drop reasons every port reports, zeros included:
// the datapath's, then the router's (Counter.Reason) not among them. A
// port's device may add reasons of its own.
var dropReasons = func() []string {
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
}()

// portKinds are the kinds vswitchd_ports reports, zeros included.
var portKinds = []datapath.Kind{datapath.KindTap, datapath.KindInternal, datapath.KindSystem, datapath.KindVXLAN}

// endpointStates are the states vswitchd_endpoints reports, zeros
// included: the values of daemon.EndpointInfo.State.
var endpointStates = []string{daemon.StateRunning, daemon.StateExited, daemon.StateCreated, daemon.StateRestarting, daemon.StateRemoving}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descBuildInfo, descPortRxFrames, descPortRxBytes, descPortTxFrames, descPortTxBytes, descPortDrops,
		descDeferredDrops, descPorts, descRouterEvents, descDNSQueries, descProxyConns, descProxyActive,
		descProxyBytes, descRedirected, descEndpoints, descNetworks, descNetworkEndpoint,
		descVTEPRxFrames, descVTEPRxBytes, descVTEPTxFrames, descVTEPTxBytes, descVTEPRxErrors,
	} {
		ch <- d
	}
	for _, s := range scalars {
		ch <- s.desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), labels...)
	}
	count := func(d *prometheus.Desc, v uint64, labels ...string) { metric(d, prometheus.CounterValue, v, labels...) }
	gauge := func(d *prometheus.Desc, v uint64, labels ...string) { metric(d, prometheus.GaugeValue, v, labels...) }

	gauge(descBuildInfo, 1, version.Version, version.Commit, runtime.Version())

	st := c.b.Stats()
	kinds := map[string]uint64{}
	for _, k := range portKinds {
		kinds[string(k)] = 0
	}
	for _, p := range st.Ports {
		kind := string(p.Kind)
		kinds[kind]++
		v := p.Counters
		count(descPortRxFrames, v.RxFrames, p.Name, kind)
		count(descPortRxBytes, v.RxBytes, p.Name, kind)
		count(descPortTxFrames, v.TxFrames, p.Name, kind)
		count(descPortTxBytes, v.TxBytes, p.Name, kind)
		drops(ch, descPortDrops, v.Drops, p.Name)
		for _, t := range p.VTEPs {
			addr := "other"
			if t.Addr.IsValid() {
				addr = t.Addr.String()
			}
			count(descVTEPRxFrames, t.RxFrames, p.Name, addr)
			count(descVTEPRxBytes, t.RxBytes, p.Name, addr)
			count(descVTEPTxFrames, t.TxFrames, p.Name, addr)
			count(descVTEPTxBytes, t.TxBytes, p.Name, addr)
			for _, reason := range vtepErrors {
				count(descVTEPRxErrors, t.RxErrors[reason], p.Name, addr, reason)
			}
		}
	}
	for k, n := range kinds {
		gauge(descPorts, n, k)
	}
	drops(ch, descDeferredDrops, st.Deferred.Drops)

	for i, n := range st.Router {
		if e := router.Counter(i); !e.IsDrop() {
			count(descRouterEvents, n, e.String())
		}
	}
	for _, s := range scalars {
		metric(s.desc, s.typ, s.value(&st))
	}
	for _, r := range dnsResults {
		count(descDNSQueries, r.value(&st), r.name)
	}
	p := st.Proxy
	count(descProxyConns, p.TCPConns, "tcp")
	count(descProxyConns, p.UDPFlows, "udp")
	gauge(descProxyActive, p.TCPActive, "tcp")
	gauge(descProxyActive, p.UDPActive, "udp")
	count(descProxyBytes, p.BytesIn, "in")
	count(descProxyBytes, p.BytesOut, "out")
	count(descRedirected, p.Redirected)

	states := map[string]uint64{}
	for _, s := range endpointStates {
		states[s] = 0
	}
	for _, e := range c.b.Endpoints() {
		states[e.State]++ // not Status: "Exited (3) 2 minutes ago" is no label value
	}
	for s, n := range states {
		gauge(descEndpoints, n, s)
	}
	nets := c.b.Networks()
	gauge(descNetworks, uint64(len(nets)))
	for _, n := range nets {
		gauge(descNetworkEndpoint, uint64(len(n.Endpoints)), n.Name)
	}
}

// drops sends d's samples for counts by reason, the known reasons with
// zeros, then any other reason counts has; labels come before the reason.
func drops(ch chan<- prometheus.Metric, d *prometheus.Desc, counts map[string]uint64, labels ...string) {
	send := func(reason string, n uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), append(labels[:len(labels):len(labels)], reason)...)
	}
	for _, r := range dropReasons {
		send(r, counts[r])
	}
	for r, n := range counts {
		if !slices.Contains(dropReasons, r) {
			send(r, n)
		}
	}
}

// vtepErrors are the decapsulation drop reasons counted per VTEP, all
// reported (with zeros) for every VTEP.
var vtepErrors = []string{vxlan.DropShort, vxlan.DropBadFlags, vxlan.DropBadVNI, vxlan.DropUnknownVTEP, vxlan.DropInnerTagged, vxlan.DropRxTruncated}
