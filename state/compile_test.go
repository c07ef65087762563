package state

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// The fixture's networks as the router sees them, in ID order.
var (
	routerBeta = router.Network{
		ID: 1, Name: "beta", VID: 10, Subnet: pfx("10.1.0.0/24"), Gateway: addr("10.1.0.254"), MAC: GatewayMAC(1), Internal: true,
		Endpoints: []router.Neighbor{
			{IP: addr("10.1.0.2"), MAC: mac("02:42:0a:01:00:02"), Name: "web", Scope: "@web"},
			{IP: addr("10.1.0.3"), MAC: mac("02:42:0a:01:00:03"), Name: "pod", Scope: "@pod"},
			{IP: addr("10.1.0.4"), MAC: mac("02:42:0a:01:00:04"), Name: "router1", Scope: "@router1"},
		},
	}
	routerAlpha = router.Network{
		ID: 2, Name: "alpha", VID: 100, Subnet: pfx("172.18.0.0/16"), Gateway: addr("172.18.0.1"), MAC: GatewayMAC(2),
		Endpoints: []router.Neighbor{
			{IP: addr("172.18.0.2"), MAC: mac("02:42:ac:12:00:02"), Name: "web", Scope: "@web"},
			{IP: addr("172.18.0.3"), MAC: mac("02:42:ac:12:00:03"), Name: "db", Scope: "@db"},
		},
	}
	// web's published ports, to its primary NIC (eth0 on alpha); tap's
	// are left out: it has no address.
	routerPublished = []router.Published{
		{Proto: header.ProtoTCP, HostPort: 8080, HostPortEnd: 8080, Addr: addr("172.18.0.2"), ContPort: 80, Network: 2, Endpoint: "web"},
		{Proto: header.ProtoUDP, HostIP: addr("127.0.0.1"), HostPort: 5353, HostPortEnd: 5353, Addr: addr("172.18.0.2"), ContPort: 53, Network: 2, Endpoint: "web"},
	}
)

func TestRouterConfig(t *testing.T) {
	host := &router.HostLeg{Port: 1, MAC: mac("02:00:00:00:00:aa"), Addr: addr("172.17.255.253"), HostAddr: addr("172.17.255.254")}
	uplink := &router.Uplink{Port: 7, MAC: mac("02:00:00:00:00:bb"), Addr: pfx("203.0.113.2/24"), Gateway: addr("203.0.113.1")}
	tests := []struct {
		name   string
		mutate func(s *State) // of the fixture
		rt     Runtime
		want   router.Config
	}{
		{name: "everything", rt: Runtime{Host: host, UplinkPort: 7, NoARPSuppression: true},
			want: router.Config{Networks: []router.Network{routerBeta, routerAlpha}, Host: host, Uplink: uplink, Published: routerPublished, NoARPSuppression: true}},
		{name: "uplink not attached", rt: Runtime{Host: host},
			want: router.Config{Networks: []router.Network{routerBeta, routerAlpha}, Host: host, Published: routerPublished}},
		{name: "no uplink", mutate: func(s *State) { s.Uplink = nil }, rt: Runtime{UplinkPort: 7},
			want: router.Config{Networks: []router.Network{routerBeta, routerAlpha}, Published: routerPublished}},
		{name: "primary NIC on the second network", mutate: func(s *State) {
			web := s.Endpoint("web")
			web.NICs[0], web.NICs[1] = web.NICs[1], web.NICs[0]
		}, want: router.Config{Networks: []router.Network{routerBeta, routerAlpha}, Published: []router.Published{
			{Proto: header.ProtoTCP, HostPort: 8080, HostPortEnd: 8080, Addr: addr("10.1.0.2"), ContPort: 80, Network: 1, Endpoint: "web"},
			{Proto: header.ProtoUDP, HostIP: addr("127.0.0.1"), HostPort: 5353, HostPortEnd: 5353, Addr: addr("10.1.0.2"), ContPort: 53, Network: 1, Endpoint: "web"},
		}}},
		{name: "port ranges", mutate: func(s *State) { s.Endpoint("db").Publish = []Publish{pub("9000-9009:100-109/udp")} },
			want: router.Config{Networks: []router.Network{routerBeta, routerAlpha}, Published: append(append([]router.Published(nil), routerPublished...),
				router.Published{Proto: header.ProtoUDP, HostPort: 9000, HostPortEnd: 9009, Addr: addr("172.18.0.3"), ContPort: 100, Network: 2, Endpoint: "db"})}},
		{name: "network without endpoints", mutate: func(s *State) {
			s.Networks = append(s.Networks, &Network{Name: "gamma", ID: 9, VLAN: 9, Subnet: pfx("10.9.0.0/24"), Gateway: addr("10.9.0.1"), MAC: GatewayMAC(9)})
		}, want: router.Config{Networks: []router.Network{routerBeta, routerAlpha,
			{ID: 9, Name: "gamma", VID: 9, Subnet: pfx("10.9.0.0/24"), Gateway: addr("10.9.0.1"), MAC: GatewayMAC(9)}}, Published: routerPublished}},
		{name: "empty", mutate: func(s *State) { *s = *New(testPrefix) }, rt: Runtime{Host: host, UplinkPort: 7}, want: router.Config{Host: host}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			got := s.RouterConfig(tt.rt)
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("RouterConfig(%+v) (-want +got):\n%s", tt.rt, diff)
			}
		})
	}
}

func records(network string, pairs ...string) []dns.Record {
	var rs []dns.Record
	for i := 0; i < len(pairs); i += 2 {
		rs = append(rs, dns.Record{Name: pairs[i], Addr: addr(pairs[i+1]), Network: network})
	}
	return rs
}

// The fixture's names, per network: each endpoint's name, then its
// aliases, all tagged with the network (the DNS server also answers them
// as NAME.NETWORK).
var (
	alphaRecords = records("alpha", "web", "172.18.0.2", "www", "172.18.0.2", "db", "172.18.0.3")
	betaRecords  = records("beta", "web", "10.1.0.2", "api", "10.1.0.2", "pod", "10.1.0.3", "router1", "10.1.0.4")
)

func TestNetworkRecords(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(s *State) // of the fixture
		network string
		want    []dns.Record
	}{
		{name: "alpha", network: "alpha", want: alphaRecords},
		{name: "beta", network: "beta", want: betaRecords},
		{name: "a NIC without address has no names", network: "beta", mutate: func(s *State) { s.Endpoint("router1").NICs[0].IP = zeroAddr },
			want: betaRecords[:3]},
		{name: "no endpoints", network: "gamma", mutate: func(s *State) {
			s.Networks = append(s.Networks, &Network{Name: "gamma", ID: 9, VLAN: 9, Subnet: pfx("10.9.0.0/24"), Gateway: addr("10.9.0.1"), MAC: GatewayMAC(9)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			if diff := cmp.Diff(tt.want, s.NetworkRecords(s.Network(tt.network)), cmpState); diff != "" {
				t.Errorf("NetworkRecords(%s) (-want +got):\n%s", tt.network, diff)
			}
		})
	}
}

func TestEndpointRecords(t *testing.T) {
	// both is on beta first, then alpha.
	addBoth := func(s *State) {
		s.Endpoints = append(s.Endpoints, &Endpoint{Name: "both", Netns: "vsw-both", NICs: []*NIC{
			{Interface: "eth0", Network: "beta", IP: addr("10.1.0.5"), MAC: EndpointMAC(addr("10.1.0.5"))},
			{Interface: "eth1", Network: "alpha", IP: addr("172.18.0.5"), MAC: EndpointMAC(addr("172.18.0.5")), Aliases: []string{"db"}},
		}})
	}
	tests := []struct {
		name     string
		mutate   func(s *State) // of the fixture
		endpoint string
		want     []dns.Record
	}{
		{name: "one network", endpoint: "db", want: alphaRecords},
		{name: "attached endpoint", endpoint: "pod", want: betaRecords},
		{name: "trunk with an address", endpoint: "router1", want: betaRecords},
		{name: "no address", endpoint: "tap"},
		// An endpoint sees every network's records, its first
		// network's first; the DNS server answers a name in several
		// with the first network's records.
		{name: "first network first", endpoint: "web", want: append(append([]dns.Record(nil), alphaRecords...), betaRecords...)},
		{name: "a name in two networks: both listed, first network first", mutate: addBoth, endpoint: "both", want: append(
			append(append([]dns.Record(nil), betaRecords...), records("beta", "both", "10.1.0.5")...),
			append(append([]dns.Record(nil), alphaRecords...), records("alpha", "both", "172.18.0.5", "db", "172.18.0.5")...)...)},
		{name: "a name twice in a network keeps both", mutate: addBoth, endpoint: "db", want: append(append([]dns.Record(nil), alphaRecords...),
			records("alpha", "both", "172.18.0.5", "db", "172.18.0.5")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			if diff := cmp.Diff(tt.want, s.EndpointRecords(s.Endpoint(tt.endpoint)), cmpState); diff != "" {
				t.Errorf("EndpointRecords(%s) (-want +got):\n%s", tt.endpoint, diff)
			}
		})
	}
}

func TestDNSScopes(t *testing.T) {
	s := fixture()
	want := map[string][]dns.Record{
		"alpha": alphaRecords, "beta": betaRecords,
		"@web": s.EndpointRecords(s.Endpoint("web")), "@db": alphaRecords, "@pod": betaRecords, "@router1": betaRecords, "@tap": nil,
	}
	if diff := cmp.Diff(want, s.DNSScopes(), cmpState); diff != "" {
		t.Errorf("DNSScopes() (-want +got):\n%s", diff)
	}
	if got := New(testPrefix).DNSScopes(); len(got) != 0 {
		t.Errorf("DNSScopes() of an empty state = %v, want none", got)
	}
	if got := Scope("web"); got != "@web" {
		t.Errorf("Scope(web) = %q, want @web", got)
	}
}

func TestFiles(t *testing.T) {
	const (
		comment   = "# written by vswitchd: the switch answers DNS at the gateway\n"
		localhost = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	)
	tests := []struct {
		name, endpoint    string
		wantResolv, hosts string
	}{
		{"one network", "db", comment + "nameserver 172.18.0.1\noptions ndots:0\n", localhost + "172.18.0.3\tdb\n"},
		{"two networks: the first's gateway, every address", "web", comment + "nameserver 172.18.0.1\noptions ndots:0\n", localhost + "172.18.0.2\tweb\n10.1.0.2\tweb\n"},
		{"gateway not first address", "pod", comment + "nameserver 10.1.0.254\noptions ndots:0\n", localhost + "10.1.0.3\tpod\n"},
		{"trunk with an address", "router1", comment + "nameserver 10.1.0.254\noptions ndots:0\n", localhost + "10.1.0.4\trouter1\n"},
		{"no address", "tap", comment, localhost},
	}
	s := fixture()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Files(s.Endpoint(tt.endpoint), netip.MustParseAddr("169.254.127.1"))
			want := map[string][]byte{"resolv.conf": []byte(tt.wantResolv), "hosts": []byte(tt.hosts)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Files(%s) (-want +got):\n%s", tt.endpoint, diff)
			}
		})
	}
}

func TestNICPolicy(t *testing.T) {
	s := fixture()
	tests := []struct {
		name    string
		nic     *NIC
		want    PortPolicy
		wantErr bool
	}{
		{name: "access with an address", nic: s.Endpoint("web").NICs[0],
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.Access, VID: 100}, Guard: true}},
		{name: "access on the second network", nic: s.Endpoint("web").NICs[1],
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.Access, VID: 10}, Guard: true}},
		{name: "trunk with a native network", nic: s.Endpoint("router1").NICs[0],
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.NativeUntagged, VID: 10, Trunks: vset("10,20")}}},
		{name: "trunk on no network", nic: s.Endpoint("tap").NICs[0],
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.Trunk, Trunks: vset("10-20")}}},
		{name: "trunk of all VLANs", nic: &NIC{Interface: "eth0", Trunk: true},
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.Trunk}}},
		{name: "access without an address", nic: &NIC{Interface: "eth0", Network: "alpha"},
			want: PortPolicy{VLAN: vlan.Policy{Mode: vlan.Access, VID: 100}}},
		{name: "access on no network", nic: &NIC{Interface: "eth0", IP: addr("10.1.0.9")}, wantErr: true},
		{name: "trunk with a bad native", nic: &NIC{Interface: "eth0", Trunk: true, Native: 4095}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.NICPolicy(tt.nic)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NICPolicy(%+v) = %+v, %v; want error %v", tt.nic, got, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("NICPolicy(%+v) (-want +got):\n%s", tt.nic, diff)
			}
			if err := got.VLAN.Validate(); err != nil {
				t.Errorf("NICPolicy(%+v).VLAN.Validate() = %v", tt.nic, err)
			}
		})
	}
}

func TestSysPortPolicy(t *testing.T) {
	tests := []struct {
		name    string
		port    SysPort
		want    vlan.Policy
		wantErr bool
	}{
		{"access", SysPort{Interface: "veth0", Mode: vlan.Access, VLAN: 10}, vlan.Policy{Mode: vlan.Access, VID: 10}, false},
		{"trunk", SysPort{Interface: "veth0", Mode: vlan.Trunk, VLANs: vset("10-20")}, vlan.Policy{Mode: vlan.Trunk, Trunks: vset("10-20")}, false},
		{"native-tagged", SysPort{Interface: "veth0", Mode: vlan.NativeTagged, VLAN: 5, VLANs: vset("10")}, vlan.Policy{Mode: vlan.NativeTagged, VID: 5, Trunks: vset("10")}, false},
		{"dot1q-tunnel VLANs are customer VLANs", SysPort{Interface: "veth0", Mode: vlan.Dot1QTunnel, VLAN: 100, VLANs: vset("10-20")},
			vlan.Policy{Mode: vlan.Dot1QTunnel, VID: 100, CVLANs: vset("10-20")}, false},
		{"access with VLANs", SysPort{Interface: "veth0", Mode: vlan.Access, VLAN: 10, VLANs: vset("10")}, vlan.Policy{}, true},
		{"access without VLAN", SysPort{Interface: "veth0", Mode: vlan.Access}, vlan.Policy{}, true},
		{"trunk with VLAN", SysPort{Interface: "veth0", Mode: vlan.Trunk, VLAN: 3}, vlan.Policy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.port.Policy()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Policy(%+v) = %+v, %v; want error %v", tt.port, got, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmpState); !tt.wantErr && diff != "" {
				t.Errorf("Policy(%+v) (-want +got):\n%s", tt.port, diff)
			}
		})
	}
}

// TestCompileUsesRuntimePorts: the router's uplink takes the port the
// caller passes, whatever the state says.
func TestCompileUsesRuntimePorts(t *testing.T) {
	tests := []struct {
		name string
		id   port.ID
	}{{"first", 1}, {"any", 42}, {"last", port.None - 1}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fixture().RouterConfig(Runtime{UplinkPort: tt.id})
			if cfg.Uplink == nil || cfg.Uplink.Port != tt.id {
				t.Errorf("RouterConfig(UplinkPort %d).Uplink = %+v, want port %d", tt.id, cfg.Uplink, tt.id)
			}
		})
	}
}
