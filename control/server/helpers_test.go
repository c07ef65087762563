package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
	"github.com/vswitchd/vswitchd/vlan"
)

// cmpDomain compares the domain values the fake records: addresses,
// prefixes and VLAN sets are comparable structs with unexported fields.
var cmpDomain = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, vlan.Set{})

// call is one Backend method call the fake recorded, with the domain
// arguments the server passed.
type call struct {
	Method string
	Args   []any
}

// fakeBackend answers every method with canned domain values, or with
// errs[method] when set, and records its calls. Run, Exec and Logs run the
// functions the test sets.
type fakeBackend struct {
	mu    sync.Mutex // guards calls and level
	calls []call
	level slog.Level // what SetLogLevel set; info at first

	errs map[string]error
	run  func(ctx context.Context, spec daemon.RunSpec, stdio *supervisor.IO) (daemon.EndpointInfo, int, error)
	exec func(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error)
	logs func(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error
	// lastCapture is the capture StartCapture made last (under mu).
	lastCapture *fakeCapture
}

var _ server.Backend = (*fakeBackend)(nil)

var (
	created    = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	startedAt  = time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC)
	finishedAt = time.Date(2025, 1, 2, 3, 6, 30, 0, time.UTC)
)

var (
	ip     = netip.MustParseAddr
	prefix = netip.MustParsePrefix
)

func mac(s string) header.MAC {
	m, err := header.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func vlans(s string) vlan.Set {
	v, err := vlan.ParseSet(s)
	if err != nil {
		panic(err)
	}
	return v
}

func publish(s string) state.Publish {
	p, err := state.ParsePublish(s)
	if err != nil {
		panic(err)
	}
	return p
}

// seq returns the numbers from a to b.
func seq(a, b int) []int {
	var out []int
	for n := a; n <= b; n++ {
		out = append(out, n)
	}
	return out
}

// Canned domain answers, each followed by the API value it converts to.
var (
	// alpha is isolated (icc=false).
	cannedNetworkInfo = daemon.NetworkInfo{
		Network: state.Network{
			Name: "alpha", ID: 1, VLAN: 10, Subnet: prefix("172.18.0.0/24"), Gateway: ip("172.18.0.1"),
			MAC: mac("02:00:00:00:0a:01"), Internal: true, Isolated: true, Created: created,
		},
		Endpoints: []daemon.NetworkEndpoint{{Endpoint: "web", Interface: "eth0", MAC: mac("02:00:00:00:0a:02"), IP: ip("172.18.0.2"), Aliases: []string{"www"}}},
		DNSNames:  []dns.Record{{Name: "web", Addr: ip("172.18.0.2")}, {Name: "www", Addr: ip("172.18.0.2")}},
	}
	cannedNetwork = control.Network{
		Name: "alpha", ID: 1, VLAN: 10, Subnet: "172.18.0.0/24", Gateway: "172.18.0.1", GatewayMAC: "02:00:00:00:0a:01",
		Internal: true, ICC: false, Created: created,
		Endpoints: []control.NetworkEndpoint{{Endpoint: "web", Interface: "eth0", MAC: "02:00:00:00:0a:02", IP: "172.18.0.2", Aliases: []string{"www"}}},
		DNSNames:  []control.DNSName{{Name: "web", IP: "172.18.0.2"}, {Name: "www", IP: "172.18.0.2"}},
	}

	// A network without endpoints or names: the API lists them as empty
	// arrays, never null. It is not isolated: icc is true.
	emptyNetworkInfo = daemon.NetworkInfo{Network: state.Network{
		Name: "empty", ID: 2, VLAN: 100, Subnet: prefix("172.19.0.0/16"), Gateway: ip("172.19.0.1"),
		MAC: state.GatewayMAC(2), Created: created,
	}}
	emptyNetwork = control.Network{
		Name: "empty", ID: 2, VLAN: 100, Subnet: "172.19.0.0/16", Gateway: "172.19.0.1", GatewayMAC: "02:76:73:00:00:02",
		ICC: true, Created: created, Endpoints: []control.NetworkEndpoint{}, DNSNames: []control.DNSName{},
	}

	// web's command exited with 3 after a run, under a restart policy; its
	// NIC is a native-untagged trunk with an address on alpha.
	exitCode           = 3
	cannedEndpointInfo = daemon.EndpointInfo{
		Name: "web", Netns: "vswitchd-web", Hostname: "web.example", Cmd: []string{"sleep", "inf"}, Env: []string{"A=1", "B=2"},
		State: daemon.StateExited, Status: "Exited (3) 2 minutes ago", ExitCode: &exitCode,
		StartedAt: startedAt, FinishedAt: finishedAt,
		Restart: state.RestartPolicy{Name: "on-failure", MaxRetries: 5}, RestartCount: 2,
		DNS:        []netip.Addr{ip("192.0.2.53"), ip("2001:db8::53")},
		ExtraHosts: []state.HostEntry{{Name: "db", IP: ip("10.0.0.5")}, {Name: "host", HostGateway: true}},
		Published:  []state.Publish{publish("8080:80"), publish("127.0.0.1:5353-5354:53-54/udp")},
		Created:    created,
		NICs: []daemon.NICInfo{{
			NIC: state.NIC{Interface: "eth0", Network: "alpha", IP: ip("172.18.0.2"), MAC: mac("02:00:00:00:0a:02"),
				Aliases: []string{"www"}, Trunk: true, VLANs: vlans("10,20,30-32"), Native: 10},
			Port: "vsw-web0", Mode: "native-untagged", PrefixLen: 24, Gateway: ip("172.18.0.1"),
		}},
	}
	cannedEndpoint = control.Endpoint{
		Name: "web", Netns: "vswitchd-web", Hostname: "web.example",
		State: control.StateExited, Status: "Exited (3) 2 minutes ago", ExitCode: &exitCode,
		StartedAt: &startedAt, FinishedAt: &finishedAt, RestartPolicy: "on-failure:5", RestartCount: 2,
		Cmd: []string{"sleep", "inf"}, Env: []string{"A=1", "B=2"},
		DNS:        []string{"192.0.2.53", "2001:db8::53"},
		ExtraHosts: []string{"db:10.0.0.5", "host:host-gateway"},
		NICs: []control.NIC{{Interface: "eth0", Network: "alpha", MAC: "02:00:00:00:0a:02", IP: "172.18.0.2",
			PrefixLen: 24, Gateway: "172.18.0.1", Aliases: []string{"www"}, Port: "vsw-web0", Mode: "native-untagged",
			VLANs: []int{10, 20, 30, 31, 32}, Native: 10}},
		Ports: []control.PortMap{
			{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Spec: "8080:80/tcp"},
			{Proto: "udp", HostIP: "127.0.0.1", HostPort: 5353, HostPortEnd: 5354, ContainerPort: 53, Spec: "127.0.0.1:5353-5354:53-54/udp"},
		},
		Created: created,
	}

	// An attached, running endpoint without a command: an access NIC
	// (VLANs never shown, even if set), a trunk NIC on no network without
	// an address (all VLANs: none listed), and published ports with a host
	// address. It never exited: exit_code and finished_at are null.
	podInfo = daemon.EndpointInfo{
		Name: "pod", Netns: "/run/netns/cni-1", Attached: true, Hostname: "pod", State: daemon.StateRunning, Status: "Up 5 minutes",
		PID: 7, StartedAt: startedAt, Created: created,
		Published: []state.Publish{publish("127.0.0.1:5353:53/udp"), publish("9000-9001:90-91")},
		NICs: []daemon.NICInfo{
			{NIC: state.NIC{Interface: "eth0", Network: "alpha", IP: ip("172.18.0.3"), MAC: mac("02:42:ac:12:00:03"), VLANs: vlans("5")},
				Port: "pod/eth0", Mode: "access", PrefixLen: 24, Gateway: ip("172.18.0.1")},
			{NIC: state.NIC{Interface: "eth1", MAC: mac("02:11:22:33:44:55"), Trunk: true},
				Port: "pod/eth1", Mode: "trunk"},
		},
	}
	pod = control.Endpoint{
		Name: "pod", Netns: "/run/netns/cni-1", Attached: true, Hostname: "pod", State: control.StateRunning, Status: "Up 5 minutes",
		PID: 7, StartedAt: &startedAt, RestartPolicy: "no", Created: created,
		Cmd: []string{}, Env: []string{}, DNS: []string{}, ExtraHosts: []string{},
		Ports: []control.PortMap{
			{Proto: "udp", HostIP: "127.0.0.1", HostPort: 5353, HostPortEnd: 5353, ContainerPort: 53, Spec: "127.0.0.1:5353:53/udp"},
			{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 9000, HostPortEnd: 9001, ContainerPort: 90, Spec: "9000-9001:90-91/tcp"},
		},
		NICs: []control.NIC{
			{Interface: "eth0", Network: "alpha", MAC: "02:42:ac:12:00:03", IP: "172.18.0.3", PrefixLen: 24, Gateway: "172.18.0.1",
				Aliases: []string{}, Port: "pod/eth0", Mode: "access", VLANs: []int{}},
			{Interface: "eth1", MAC: "02:11:22:33:44:55", Aliases: []string{}, Port: "pod/eth1", Mode: "trunk", VLANs: []int{}},
		},
	}

	cannedFDBEntries = []daemon.FDBEntry{
		{VLAN: 10, MAC: mac("02:00:00:00:0a:02"), Port: "vsw-web0", Age: 1500 * time.Millisecond},
		{VLAN: 10, MAC: mac("02:00:00:00:0a:01"), Port: "router", Static: true},
	}
	cannedFDB = []control.FDBEntry{{VLAN: 10, MAC: "02:00:00:00:0a:02", Port: "vsw-web0", Age: 1.5}, {VLAN: 10, MAC: "02:00:00:00:0a:01", Port: "router", Static: true}}

	cannedPortInfo = daemon.PortInfo{
		ID: 3, Name: "tap0", Kind: datapath.KindTap, Endpoint: "web", VLAN: vlan.Policy{Mode: vlan.Access, VID: 10},
		Counters: datapath.CounterValues{RxFrames: 5, RxBytes: 500, TxFrames: 7, TxBytes: 700, Drops: map[string]uint64{"vlan-ingress": 2}},
	}
	cannedPort = control.Port{ID: 3, Name: "tap0", Kind: "tap", Endpoint: "web", Mode: "access", VLAN: 10, VLANs: []int{}, Routed: false,
		RxFrames: 5, RxBytes: 500, TxFrames: 7, TxBytes: 700, Drops: map[string]uint64{"vlan-ingress": 2}, VTEPs: []control.VTEP{}}

	// Ports in every mode, and what the API shows of their VLANs: a list
	// of numbers, all_vlans for a trunk of every VLAN, drops {} when none.
	portInfos = []daemon.PortInfo{
		cannedPortInfo,
		{ID: 4, Name: "uplink0", Kind: datapath.KindSystem, Routed: true, Counters: datapath.CounterValues{RxFrames: 1}},
		{ID: 5, Name: "veth0", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.Trunk, Trunks: vlans("10-20")}},
		{ID: 6, Name: "veth1", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.Trunk}},
		{ID: 7, Name: "veth2", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.NativeUntagged, VID: 10, Trunks: vlans("10,30")}},
		{ID: 8, Name: "veth3", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.NativeTagged, VID: 10}},
		{ID: 9, Name: "veth4", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.Dot1QTunnel, VID: 100, CVLANs: vlans("10-20")}},
		{ID: 10, Name: "host0", Kind: datapath.KindInternal, Routed: true},
		{ID: 11, Name: "veth5", Kind: datapath.KindSystem, VLAN: vlan.Policy{Mode: vlan.Dot1QTunnel, VID: 200}},
		{ID: 12, Name: "vxlan0", Kind: datapath.KindVXLAN, VLAN: vlan.Policy{Mode: vlan.Access, VID: 30},
			Counters: datapath.CounterValues{Drops: map[string]uint64{}}},
	}
	ports = []control.Port{
		cannedPort,
		{ID: 4, Name: "uplink0", Kind: "system", Mode: "routed", Routed: true, VLANs: []int{}, RxFrames: 1, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 5, Name: "veth0", Kind: "system", Mode: "trunk", VLANs: seq(10, 20), Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 6, Name: "veth1", Kind: "system", Mode: "trunk", VLANs: []int{}, AllVLANs: true, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 7, Name: "veth2", Kind: "system", Mode: "native-untagged", VLAN: 10, VLANs: []int{10, 30}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 8, Name: "veth3", Kind: "system", Mode: "native-tagged", VLAN: 10, VLANs: []int{}, AllVLANs: true, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 9, Name: "veth4", Kind: "system", Mode: "dot1q-tunnel", VLAN: 100, VLANs: seq(10, 20), Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 10, Name: "host0", Kind: "internal", Mode: "routed", Routed: true, VLANs: []int{}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		// A dot1q-tunnel accepting every customer VLAN: an empty list,
		// and not all_vlans (that is for trunks).
		{ID: 11, Name: "veth5", Kind: "system", Mode: "dot1q-tunnel", VLAN: 200, VLANs: []int{}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
		{ID: 12, Name: "vxlan0", Kind: "vxlan", Mode: "access", VLAN: 30, VLANs: []int{}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}},
	}

	cannedStatsInfo = daemon.Stats{
		Ports:    []daemon.PortInfo{cannedPortInfo, portInfos[1]},
		Deferred: datapath.CounterValues{Drops: map[string]uint64{"vlan-ingress": 1, "no-buffer": 3}},
		FDB:      bridge.Stats{Learned: 9},
		Router: func() router.Counts {
			var c router.Counts
			c[router.Routed] = 11
			c[router.DropIsolation] = 2
			return c
		}(),
		NAT:   nat.Stats{Created: 1},
		DNS:   dns.Stats{Queries: 4},
		Proxy: proxy.Stats{TCPConns: 6},
	}
	// cannedStats lists every counter of each section by name, zeros
	// included; drops are summed over the ports and the deferred frames.
	cannedStats = control.Stats{
		Ports: []control.Port{cannedPort, ports[1]},
		Drops: map[string]uint64{"vlan-ingress": 3, "no-buffer": 3},
		FDB:   map[string]uint64{"entries": 0, "learned": 9, "moved": 0, "expired": 0, "evicted": 0, "limited": 0},
		Router: map[string]uint64{
			"routed": 11, "masquerade": 0, "dnat": 0, "arp-reply": 0, "arp-suppressed": 0, "echo-reply": 0,
			"dns-query": 0, "icmp-error-sent": 0, "arp-pending": 0,
			"drop-no-route": 0, "drop-isolation": 2, "drop-icc": 0, "drop-internal": 0, "drop-nat-full": 0, "drop-nat-no-port": 0,
			"drop-nat-invalid": 0, "drop-unresolved": 0, "drop-ttl-exceeded": 0, "drop-malformed": 0,
			"drop-not-ipv4": 0, "drop-not-for-us": 0, "drop-fragment": 0, "drop-no-buffer": 0,
			"fragmented": 0, "reassembled": 0, "mss-clamped": 0, "gso-resized": 0, "rst-sent": 0,
			"drop-too-big": 0, "drop-frag-overlap": 0, "drop-frag-timeout": 0, "drop-frag-budget": 0,
		},
		NAT: map[string]uint64{
			"entries": 0, "created": 1, "expired": 0, "early_dropped": 0, "flushed": 0, "table_full": 0, "endpoint_limit": 0, "no_port": 0,
			"invalid": 0, "unsupported": 0, "fragments_translated": 0, "fragments_dropped": 0, "icmp_errors_translated": 0,
			"defrag_datagrams": 0, "defrag_bytes": 0, "defrag_zone_budget": 0,
		},
		DNS: map[string]uint64{
			"queries": 4, "local": 0, "forwarded": 0, "nxdomain": 0, "servfail": 0, "refused": 0, "malformed": 0, "dropped": 0,
			"overflow": 0, "not_imp": 0, "truncated": 0, "no_forward": 0, "unmatched": 0,
			"cache_hits": 0, "cache_misses": 0, "cache_evictions": 0, "cache_entries": 0,
		},
		Proxy: map[string]uint64{
			"tcp_conns": 6, "tcp_active": 0, "udp_flows": 0, "udp_active": 0, "bytes_in": 0, "bytes_out": 0, "dial_errors": 0, "udp_dropped": 0, "tcp_redirected": 0,
		},
	}

	uplinkMAC        = mac("02:00:00:00:ff:01")
	cannedUplinkInfo = daemon.UplinkInfo{
		Uplink: state.Uplink{Interface: "eth0", Address: prefix("198.51.100.7/24"), Gateway: ip("198.51.100.1")},
		MAC:    uplinkMAC,
	}
	cannedUplink = control.Uplink{Interface: "eth0", Address: "198.51.100.7/24", Gateway: "198.51.100.1", MAC: "02:00:00:00:ff:01"}

	// Connections as the daemon lists them: each with its zones' names.
	cannedConnInfos = []daemon.ConnInfo{
		{Entry: nat.Entry{
			Zone: 1, ReplyZone: 65521, Proto: header.ProtoTCP, State: nat.TCPEstablished, Timeout: 432000 * time.Second, Assured: true,
			Original: nat.Tuple{Proto: header.ProtoTCP, Src: ip("172.18.0.2"), Dst: ip("203.0.113.9"), SrcPort: 40000, DstPort: 443},
			Reply:    nat.Tuple{Proto: header.ProtoTCP, Src: ip("203.0.113.9"), Dst: ip("198.51.100.7"), SrcPort: 443, DstPort: 40000},
			Packets:  [2]uint64{6, 4}, Bytes: [2]uint64{600, 400},
			Window: [2]nat.TCPWindow{{End: 1101, MaxEnd: 74101, MaxWin: 64240, MaxAck: 9101, Scale: 7}, {End: 9101, MaxEnd: 65341, MaxWin: 65000, MaxAck: 1101, Scale: 7}},
		}, ZoneName: "alpha", ReplyZoneName: "uplink"},
		{Entry: nat.Entry{
			Zone: 2, ReplyZone: 65521, Proto: header.ProtoUDP, Timeout: 29500 * time.Millisecond,
			Original: nat.Tuple{Proto: header.ProtoUDP, Src: ip("172.19.0.2"), Dst: ip("192.0.2.53"), SrcPort: 5000, DstPort: 53},
			Reply:    nat.Tuple{Proto: header.ProtoUDP, Src: ip("192.0.2.53"), Dst: ip("198.51.100.7"), SrcPort: 53, DstPort: 5000},
			Packets:  [2]uint64{1}, Bytes: [2]uint64{60},
		}, ZoneName: "empty", ReplyZoneName: "uplink"},
		{Entry: nat.Entry{
			Zone: 1, ReplyZone: 1, Proto: header.ProtoICMP, Timeout: 30 * time.Second, SeenReply: true,
			Original: nat.Tuple{Proto: header.ProtoICMP, Src: ip("172.18.0.2"), Dst: ip("172.18.0.1"), SrcPort: 7, DstPort: 7},
			Reply:    nat.Tuple{Proto: header.ProtoICMP, Src: ip("172.18.0.1"), Dst: ip("172.18.0.2"), SrcPort: 7, DstPort: 7},
		}, ZoneName: "alpha", ReplyZoneName: "alpha"},
		{Entry: nat.Entry{
			Zone: 65522, ReplyZone: 1, Proto: 47, Timeout: time.Second,
			Original: nat.Tuple{Proto: 47, Src: ip("172.18.0.254"), Dst: ip("172.18.0.3")},
			Reply:    nat.Tuple{Proto: 47, Src: ip("172.18.0.3"), Dst: ip("172.18.0.254")},
		}, ZoneName: "host", ReplyZoneName: "alpha"},
	}
	cannedConns = []control.Conn{
		{Proto: "tcp", State: "ESTABLISHED", Timeout: 432000, Zone: "alpha", ZoneID: 1, ReplyZone: "uplink", ReplyZoneID: 65521,
			Orig:    control.Tuple{Src: "172.18.0.2", Dst: "203.0.113.9", SrcPort: 40000, DstPort: 443},
			Reply:   control.Tuple{Src: "203.0.113.9", Dst: "198.51.100.7", SrcPort: 443, DstPort: 40000},
			Assured: true, Packets: 10, Bytes: 1000,
			Windows: []control.TCPWindow{{End: 1101, MaxEnd: 74101, MaxWin: 64240, MaxAck: 9101, Scale: 7}, {End: 9101, MaxEnd: 65341, MaxWin: 65000, MaxAck: 1101, Scale: 7}}},
		{Proto: "udp", Timeout: 29, Zone: "empty", ZoneID: 2, ReplyZone: "uplink", ReplyZoneID: 65521,
			Orig:    control.Tuple{Src: "172.19.0.2", Dst: "192.0.2.53", SrcPort: 5000, DstPort: 53},
			Reply:   control.Tuple{Src: "192.0.2.53", Dst: "198.51.100.7", SrcPort: 53, DstPort: 5000},
			Packets: 1, Bytes: 60, Windows: []control.TCPWindow{}},
		{Proto: "icmp", Timeout: 30, Zone: "alpha", ZoneID: 1, ReplyZone: "alpha", ReplyZoneID: 1,
			Orig:  control.Tuple{Src: "172.18.0.2", Dst: "172.18.0.1", SrcPort: 7, DstPort: 7},
			Reply: control.Tuple{Src: "172.18.0.1", Dst: "172.18.0.2", SrcPort: 7, DstPort: 7}, Windows: []control.TCPWindow{}},
		{Proto: "47", Timeout: 1, Zone: "host", ZoneID: 65522, ReplyZone: "alpha", ReplyZoneID: 1,
			Orig:  control.Tuple{Src: "172.18.0.254", Dst: "172.18.0.3"},
			Reply: control.Tuple{Src: "172.18.0.3", Dst: "172.18.0.254"}, Windows: []control.TCPWindow{}},
	}

	// cannedTop is what Top lists.
	cannedTop = control.Top{
		Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
		Processes: [][]string{
			{"root", "4242", "1", "0", "03:05", "?", "00:00:00", "sleep inf"},
			{"nobody", "4243", "4242", "0", "03:05", "pts/0", "00:00:01", "sh -c echo hi"},
		},
	}

	cannedNATRules = daemon.NATRules{
		Masquerade: []daemon.Masquerade{
			{Network: "alpha", Subnet: prefix("172.18.0.0/24"), To: ip("198.51.100.7")},
			{Network: "gamma", Subnet: prefix("172.20.0.0/24"), Reason: "internal"},
		},
		Published: []daemon.PublishedPort{
			{Endpoint: "web", Publish: publish("8080-8089:80-89"), Target: ip("172.18.0.2")},
			{Endpoint: "dns", Publish: publish("127.0.0.1:5353:53/udp"), Target: ip("172.18.0.4")},
		},
	}
	cannedNAT = control.NATRules{
		Masquerade: []control.Masquerade{{Network: "alpha", Subnet: "172.18.0.0/24", To: "198.51.100.7"}, {Network: "gamma", Subnet: "172.20.0.0/24", Reason: "internal"}},
		Published: []control.Published{
			{Endpoint: "web", Proto: "tcp", HostIP: "0.0.0.0", HostPort: "8080-8089", Target: "172.18.0.2", ContPort: "80-89"},
			{Endpoint: "dns", Proto: "udp", HostIP: "127.0.0.1", HostPort: "5353", Target: "172.18.0.4", ContPort: "53"},
		},
	}
)

func (b *fakeBackend) record(method string, args ...any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call{Method: method, Args: args})
	return b.errs[method]
}

// takeCalls returns the calls recorded so far and forgets them.
func (b *fakeBackend) takeCalls() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls
	b.calls = nil
	return c
}

// CreateNetwork implements server.Backend.
func (b *fakeBackend) CreateNetwork(spec state.NetworkSpec) (daemon.NetworkInfo, error) {
	if err := b.record("CreateNetwork", spec); err != nil {
		return daemon.NetworkInfo{}, err
	}
	return cannedNetworkInfo, nil
}

// Networks implements server.Backend.
func (b *fakeBackend) Networks() []daemon.NetworkInfo {
	b.record("Networks")
	return []daemon.NetworkInfo{cannedNetworkInfo, emptyNetworkInfo}
}

// Network implements server.Backend.
func (b *fakeBackend) Network(name string) (daemon.NetworkInfo, error) {
	if err := b.record("Network", name); err != nil {
		return daemon.NetworkInfo{}, err
	}
	n := cannedNetworkInfo
	n.Name = name
	return n, nil
}

// RemoveNetwork implements server.Backend.
func (b *fakeBackend) RemoveNetwork(name string, force bool) error {
	return b.record("RemoveNetwork", name, force)
}

// PruneNetworks implements server.Backend.
func (b *fakeBackend) PruneNetworks() ([]string, error) {
	if err := b.record("PruneNetworks"); err != nil {
		return nil, err
	}
	return []string{"beta", "gamma"}, nil
}

// Reset implements server.Backend.
func (b *fakeBackend) Reset() (daemon.ResetReport, error) {
	if err := b.record("Reset"); err != nil {
		return daemon.ResetReport{}, err
	}
	return daemon.ResetReport{Endpoints: []string{"web"}, Networks: []string{"beta"}, Uplink: "eth0", StaticMACs: 1}, nil
}

// Connect implements server.Backend.
func (b *fakeBackend) Connect(network string, spec state.ConnectSpec) error {
	return b.record("Connect", network, spec)
}

// Disconnect implements server.Backend.
func (b *fakeBackend) Disconnect(network, endpoint string) error {
	return b.record("Disconnect", network, endpoint)
}

// Run implements server.Backend.
func (b *fakeBackend) Run(ctx context.Context, spec daemon.RunSpec, stdio *supervisor.IO) (daemon.EndpointInfo, int, error) {
	if err := b.record("Run", spec, stdio != nil); err != nil {
		return daemon.EndpointInfo{}, 0, err
	}
	if b.run != nil {
		return b.run(ctx, spec, stdio)
	}
	return cannedEndpointInfo, 0, nil
}

// Endpoints implements server.Backend.
func (b *fakeBackend) Endpoints() []daemon.EndpointInfo {
	b.record("Endpoints")
	return []daemon.EndpointInfo{cannedEndpointInfo, podInfo}
}

// Endpoint implements server.Backend.
func (b *fakeBackend) Endpoint(name string) (daemon.EndpointInfo, error) {
	if err := b.record("Endpoint", name); err != nil {
		return daemon.EndpointInfo{}, err
	}
	if name == "missing" {
		return daemon.EndpointInfo{}, state.Errorf(state.ErrNotFound, "no endpoint %q", name)
	}
	e := cannedEndpointInfo
	e.Name = name
	return e, nil
}

// RemoveEndpoint implements server.Backend.
func (b *fakeBackend) RemoveEndpoint(name string, force bool) error {
	return b.record("RemoveEndpoint", name, force)
}

// StopEndpoint implements server.Backend.
func (b *fakeBackend) StopEndpoint(name string, grace time.Duration) error {
	return b.record("StopEndpoint", name, grace)
}

// StartEndpoint implements server.Backend.
func (b *fakeBackend) StartEndpoint(name string) error { return b.record("StartEndpoint", name) }

// RestartEndpoint implements server.Backend.
func (b *fakeBackend) RestartEndpoint(name string, grace time.Duration) error {
	return b.record("RestartEndpoint", name, grace)
}

// Kill implements server.Backend.
func (b *fakeBackend) Kill(name string, sig syscall.Signal) error { return b.record("Kill", name, sig) }

// Top implements server.Backend.
func (b *fakeBackend) Top(name string) ([]string, [][]string, error) {
	if err := b.record("Top", name); err != nil {
		return nil, nil, err
	}
	return cannedTop.Titles, cannedTop.Processes, nil
}

// Exec implements server.Backend.
func (b *fakeBackend) Exec(ctx context.Context, name string, spec daemon.ExecSpec, stdio *supervisor.IO) (int, error) {
	if err := b.record("Exec", name, spec); err != nil {
		return 0, err
	}
	if b.exec != nil {
		return b.exec(ctx, name, spec, stdio)
	}
	return 0, nil
}

// Logs implements server.Backend.
func (b *fakeBackend) Logs(ctx context.Context, name string, o supervisor.LogOptions, w io.Writer) error {
	if err := b.record("Logs", name, o); err != nil {
		return err
	}
	if b.logs != nil {
		return b.logs(ctx, name, o, w)
	}
	_, err := io.WriteString(w, "line 1\nline 2\n")
	return err
}

// boundPort is the host port the fake's Publish picks for a spec without
// one.
const boundPort = 32768

// Publish implements server.Backend: a spec without a host port gets
// boundPort.
func (b *fakeBackend) Publish(name string, p state.Publish) (state.Publish, error) {
	if err := b.record("Publish", name, p); err != nil {
		return state.Publish{}, err
	}
	if p.Unbound() {
		p.HostPort, p.HostEnd = boundPort, boundPort
	}
	return p, nil
}

// Unpublish implements server.Backend.
func (b *fakeBackend) Unpublish(name string, p state.Publish) error {
	return b.record("Unpublish", name, p)
}

// FDB implements server.Backend.
func (b *fakeBackend) FDB() []daemon.FDBEntry {
	b.record("FDB")
	return cannedFDBEntries
}

// FlushFDB implements server.Backend.
func (b *fakeBackend) FlushFDB() int {
	b.record("FlushFDB")
	return 17
}

// AddFDB implements server.Backend: the static entry it was asked for.
func (b *fakeBackend) AddRemoteFDB(network string, m header.MAC, vtep netip.Addr) (daemon.FDBEntry, error) {
	if err := b.record("AddRemoteFDB", network, m, vtep); err != nil {
		return daemon.FDBEntry{}, err
	}
	return daemon.FDBEntry{VLAN: 10, MAC: m, Port: "vxlan:" + vtep.String(), Static: true}, nil
}

func (b *fakeBackend) AddPeer(network string, peer netip.Addr) error {
	return b.record("AddPeer", network, peer)
}

func (b *fakeBackend) DeletePeer(network string, peer netip.Addr) error {
	return b.record("DeletePeer", network, peer)
}

func (b *fakeBackend) AddFDB(vid vlan.ID, m header.MAC, port string) (daemon.FDBEntry, error) {
	if err := b.record("AddFDB", vid, m, port); err != nil {
		return daemon.FDBEntry{}, err
	}
	return daemon.FDBEntry{VLAN: vid, MAC: m, Port: port, Static: true}, nil
}

// DeleteFDB implements server.Backend.
func (b *fakeBackend) DeleteFDB(vid vlan.ID, m header.MAC) error {
	return b.record("DeleteFDB", vid, m)
}

// Ports implements server.Backend.
func (b *fakeBackend) Ports() []daemon.PortInfo {
	b.record("Ports")
	return portInfos
}

// AddPort implements server.Backend.
func (b *fakeBackend) AddPort(spec state.PortSpec) (daemon.PortInfo, error) {
	if err := b.record("AddPort", spec); err != nil {
		return daemon.PortInfo{}, err
	}
	return cannedPortInfo, nil
}

// SetPort implements server.Backend: a system port with the spec's VLAN
// configuration, as the daemon applies it.
func (b *fakeBackend) SetPort(name string, spec state.PortSpec) (daemon.PortInfo, error) {
	if err := b.record("SetPort", name, spec); err != nil {
		return daemon.PortInfo{}, err
	}
	p := vlan.Policy{Mode: spec.Mode, VID: spec.VLAN}
	switch spec.Mode {
	case vlan.Access:
	case vlan.Dot1QTunnel:
		p.CVLANs = spec.VLANs
	default:
		p.VID, p.Trunks = spec.Native, spec.VLANs
	}
	return daemon.PortInfo{ID: 5, Name: name, Kind: datapath.KindSystem, VLAN: p}, nil
}

// RemovePort implements server.Backend.
func (b *fakeBackend) RemovePort(name string) error { return b.record("RemovePort", name) }

// Stats implements server.Backend.
func (b *fakeBackend) Stats() daemon.Stats {
	b.record("Stats")
	return cannedStatsInfo
}

// Uplink implements server.Backend; errs["Uplink"] makes it report none.
func (b *fakeBackend) Uplink() (daemon.UplinkInfo, bool) {
	if err := b.record("Uplink"); err != nil {
		return daemon.UplinkInfo{}, false
	}
	return cannedUplinkInfo, true
}

// SetUplink implements server.Backend.
func (b *fakeBackend) SetUplink(spec state.UplinkSpec) (daemon.UplinkInfo, error) {
	if err := b.record("SetUplink", spec); err != nil {
		return daemon.UplinkInfo{}, err
	}
	return daemon.UplinkInfo{Uplink: state.Uplink(spec), MAC: uplinkMAC}, nil
}

// RemoveUplink implements server.Backend.
func (b *fakeBackend) RemoveUplink() error { return b.record("RemoveUplink") }

// Conntrack implements server.Backend: every canned connection, whatever
// the filter (the daemon's tests cover filtering).
func (b *fakeBackend) ConntrackEach(f daemon.ConnFilter, each func(daemon.ConnInfo) error) error {
	if err := b.record("Conntrack", f); err != nil {
		return err
	}
	for _, c := range cannedConnInfos {
		if err := each(c); err != nil {
			return err
		}
	}
	return nil
}

// NATLimits implements server.Backend.
func (b *fakeBackend) NATLimits() (perEndpoint, reserve int) { return 65536, 32768 }

// ConntrackCount implements server.Backend.
func (b *fakeBackend) ConntrackCount() (n, max int) {
	b.record("ConntrackCount")
	return 4, 262144
}

// FlushConntrack implements server.Backend.
func (b *fakeBackend) FlushConntrack() int {
	b.record("FlushConntrack")
	return 5
}

// NAT implements server.Backend.
func (b *fakeBackend) NAT() daemon.NATRules {
	b.record("NAT")
	return cannedNATRules
}

// LogLevel implements server.Backend.
func (b *fakeBackend) LogLevel() slog.Level {
	b.record("LogLevel")
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.level
}

// SetLogLevel implements server.Backend.
func (b *fakeBackend) SetLogLevel(l slog.Level) error {
	if err := b.record("SetLogLevel", l); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.level = l
	return nil
}

// serve serves b's API on a Unix socket in a temporary directory until the
// test ends, and returns a client for it and the socket's path.
func serve(t *testing.T, b server.Backend) (*control.Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vswitchd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: server.New(b, nil).Handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	})
	return control.NewClient(sock), sock
}

// rawClient returns an HTTP client that dials sock.
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// rawJSON sends method path with body (none if "") through hc, and
// decodes a 2xx answer but 204 into a T; any other answer is an
// *APIError, as the client's. It reaches what the client does not return (a publish's 201
// answer) or cannot send.
func rawJSON[T any](ctx context.Context, hc *http.Client, method, path, body string) (T, error) {
	var out T
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vswitchd"+path, r)
	if err != nil {
		return out, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e control.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return out, &control.APIError{Status: resp.StatusCode, Message: e.Message}
	}
	if resp.StatusCode == http.StatusNoContent {
		return out, nil
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out, err
}

// diffCalls compares recorded calls, domain arguments included.
func diffCalls(want, got []call) string { return cmp.Diff(want, got, cmpDomain) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitGone waits up to 5 s until no goroutine's stack mentions fn, and
// fails the test with those stacks otherwise.
func waitGone(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left [][]byte
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte(fn)) {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of %s still running:\n%s", len(left), fn, bytes.Join(left, []byte("\n\n")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SetLink implements server.Backend: one canned link with the update
// applied.
func (b *fakeBackend) SetLink(target string, dir impair.Direction, u impair.Update) ([]daemon.LinkInfo, error) {
	if err := b.record("SetLink", target, dir, u); err != nil {
		return nil, err
	}
	s, err := impair.Settings{}.Apply(u)
	if err != nil {
		return nil, state.Errorf(state.ErrInvalid, "%w", err)
	}
	return []daemon.LinkInfo{{Port: target + "/eth0", Endpoint: target, Interface: "eth0", Out: s}}, nil
}

// ResetLink implements server.Backend.
func (b *fakeBackend) ResetLink(target string, dir impair.Direction) ([]daemon.LinkInfo, error) {
	if err := b.record("ResetLink", target, dir); err != nil {
		return nil, err
	}
	return []daemon.LinkInfo{{Port: target + "/eth0", Endpoint: target, Interface: "eth0"}}, nil
}

// Links implements server.Backend.
func (b *fakeBackend) Links(target string) ([]daemon.LinkInfo, error) {
	if err := b.record("Links", target); err != nil {
		return nil, err
	}
	return []daemon.LinkInfo{{Port: "apple/eth0", Endpoint: "apple", Interface: "eth0",
		Out: impair.Settings{Delay: 50 * time.Millisecond, Loss: 1, Seed: 3}}}, nil
}

// LabUp implements server.Backend: one canned change.
func (b *fakeBackend) LabUp(t control.Topology, dryRun bool) (control.LabPlan, error) {
	if err := b.record("LabUp", t, dryRun); err != nil {
		return control.LabPlan{}, err
	}
	return control.LabPlan{Lab: t.Name, Applied: !dryRun, Changes: []control.LabChange{{Action: "create", Kind: "network", Name: t.Name + "-lan", Detail: ""}}}, nil
}

// LabDown implements server.Backend.
func (b *fakeBackend) LabDown(name string) (control.LabPlan, error) {
	if err := b.record("LabDown", name); err != nil {
		return control.LabPlan{}, err
	}
	return control.LabPlan{Lab: name, Applied: true, Changes: []control.LabChange{}}, nil
}

// Labs implements server.Backend.
func (b *fakeBackend) Labs() []control.Lab {
	return []control.Lab{{Name: "bare", Networks: []string{}, Endpoints: []string{}, Ports: []string{}}}
}

// Lab implements server.Backend.
func (b *fakeBackend) Lab(name string) (control.Lab, error) {
	if err := b.record("Lab", name); err != nil {
		return control.Lab{}, err
	}
	return control.Lab{Name: name, Networks: []string{}, Endpoints: []string{}, Ports: []string{}}, nil
}
