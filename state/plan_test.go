package state

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// Environment of the plans: a route of the daemon's namespace, the host
// leg's prefix and interface.
var (
	routes = []netip.Prefix{pfx("172.19.5.0/24")}
	leg    = pfx("172.17.255.252/30")
)

const hostIf = "vsw0"

// checkPlan checks a plan's error against the wanted kind and message and
// returns whether the plan succeeded as wanted.
func checkPlan(t *testing.T, call string, err, wantKind error, wantMsg string) bool {
	t.Helper()
	if !checkKind(err, wantKind) {
		t.Fatalf("%s error = %v, want kind %v", call, err, wantKind)
	}
	if err != nil {
		if !strings.Contains(err.Error(), wantMsg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s error = %q, want one line containing %q", call, err, wantMsg)
		}
		return false
	}
	return true
}

// checkAdopted validates s after a plan's result was added to it: the
// planner must never hand out what Load would refuse.
func checkAdopted(t *testing.T, call string, s *State) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Errorf("%s: the state with its result does not validate: %v", call, err)
	}
}

func TestNewNetwork(t *testing.T) {
	// now is t0 plus 900 ms, in another zone: Created is UTC, in seconds.
	now := t0.Add(900 * time.Millisecond).In(time.FixedZone("CET", 3600))
	gamma := func(id router.NetworkID, vid vlan.ID, subnet, gw string, internal bool) *Network {
		return &Network{Name: "gamma", ID: id, VLAN: vid, Subnet: pfx(subnet), Gateway: addr(gw), MAC: GatewayMAC(id), Internal: internal, Created: t0}
	}
	manyNetworks := func(n int, vlanOf func(i int) vlan.ID) func(s *State) {
		return func(s *State) {
			*s = *New(testPrefix)
			for i := range n {
				s.Networks = append(s.Networks, &Network{Name: fmt.Sprintf("n%d", i), ID: router.NetworkID(i + 1), VLAN: vlanOf(i)})
			}
		}
	}
	tests := []struct {
		name     string
		mutate   func(s *State) // of the fixture
		spec     NetworkSpec
		used     []netip.Prefix
		hostLeg  netip.Prefix
		want     *Network
		wantKind error
		wantMsg  string
	}{
		{name: "auto", spec: NetworkSpec{Name: "gamma"}, used: routes, hostLeg: leg,
			want: gamma(3, 101, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "auto in an empty state", mutate: func(s *State) { *s = *New(testPrefix) }, spec: NetworkSpec{Name: "gamma"},
			want: gamma(1, 100, "172.17.0.0/16", "172.17.0.1", false)},
		{name: "auto avoids the host leg", mutate: func(s *State) { *s = *New(testPrefix) }, spec: NetworkSpec{Name: "gamma"}, hostLeg: leg,
			want: gamma(1, 100, "172.18.0.0/16", "172.18.0.1", false)},
		{name: "auto avoids routes", mutate: func(s *State) { *s = *New(testPrefix) }, spec: NetworkSpec{Name: "gamma"},
			used: []netip.Prefix{pfx("172.16.0.0/12")}, want: gamma(1, 100, "192.168.0.0/20", "192.168.0.1", false)},
		{name: "auto avoids the uplink", mutate: func(s *State) {
			s.Networks = nil
			s.Endpoints = nil
			s.Uplink.Address, s.Uplink.Gateway = pfx("172.17.0.2/16"), zeroAddr
		}, spec: NetworkSpec{Name: "gamma"}, want: gamma(1, 100, "172.18.0.0/16", "172.18.0.1", false)},
		{name: "auto with a gateway", spec: NetworkSpec{Name: "gamma", Gateway: addr("172.20.0.9")}, used: routes, hostLeg: leg,
			want: gamma(3, 101, "172.20.0.0/16", "172.20.0.9", false)},
		{name: "auto with a gateway outside", spec: NetworkSpec{Name: "gamma", Gateway: addr("10.0.0.1")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "gateway 10.0.0.1 is not a host address of 172.20.0.0/16"},
		{name: "no free subnet", spec: NetworkSpec{Name: "gamma"}, used: []netip.Prefix{pfx("0.0.0.0/0")}, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: "(use --subnet)"},
		{name: "explicit", spec: NetworkSpec{Name: "gamma", Subnet: pfx("192.168.50.0/24"), Gateway: addr("192.168.50.254"), VLAN: 30, Internal: true},
			used: routes, hostLeg: leg, want: gamma(3, 30, "192.168.50.0/24", "192.168.50.254", true)},
		{name: "explicit without gateway", spec: NetworkSpec{Name: "gamma", Subnet: pfx("10.2.0.0/30")}, used: routes, hostLeg: leg,
			want: gamma(3, 101, "10.2.0.0/30", "10.2.0.1", false)},
		{name: "explicit may overlap a route", spec: NetworkSpec{Name: "gamma", Subnet: pfx("172.19.0.0/16")}, used: routes, hostLeg: leg,
			want: gamma(3, 101, "172.19.0.0/16", "172.19.0.1", false)},
		{name: "explicit overlapping a network", spec: NetworkSpec{Name: "gamma", Subnet: pfx("172.18.5.0/24")}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: `subnet 172.18.5.0/24 overlaps network "alpha" (172.18.0.0/16)`},
		{name: "explicit containing a network", spec: NetworkSpec{Name: "gamma", Subnet: pfx("10.0.0.0/8")}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: `overlaps network "beta"`},
		{name: "explicit overlapping the host leg", spec: NetworkSpec{Name: "gamma", Subnet: pfx("172.17.255.0/24")}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: "overlaps the host leg (172.17.255.252/30)"},
		{name: "explicit overlapping the uplink", spec: NetworkSpec{Name: "gamma", Subnet: pfx("203.0.113.128/25")}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: "overlaps the uplink (203.0.113.0/24)"},
		{name: "host bits set", spec: NetworkSpec{Name: "gamma", Subnet: pfx("10.5.0.1/24")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: `subnet "10.5.0.1/24": host bits set (did you mean 10.5.0.0/24?)`},
		{name: "IPv6 subnet", spec: NetworkSpec{Name: "gamma", Subnet: pfx("fd00::/64")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "only IPv4"},
		{name: "loopback subnet", spec: NetworkSpec{Name: "gamma", Subnet: pfx("127.1.0.0/16")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: `subnet "127.1.0.0/16": overlaps 127.0.0.0/8 (loopback)`},
		{name: "this-network subnet", spec: NetworkSpec{Name: "gamma", Subnet: pfx("0.0.0.0/24")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "0.0.0.0/8 (this network)"},
		{name: "multicast subnet", spec: NetworkSpec{Name: "gamma", Subnet: pfx("239.1.0.0/16")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "224.0.0.0/4 (multicast)"},
		{name: "class E subnet", spec: NetworkSpec{Name: "gamma", Subnet: pfx("255.255.255.0/24")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "240.0.0.0/4"},
		{name: "subnet covering them", spec: NetworkSpec{Name: "gamma", Subnet: pfx("0.0.0.0/1")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "overlaps 0.0.0.0/8"},
		{name: "subnet /31", spec: NetworkSpec{Name: "gamma", Subnet: pfx("10.5.0.0/31")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "too small"},
		{name: "gateway outside", spec: NetworkSpec{Name: "gamma", Subnet: pfx("192.168.50.0/24"), Gateway: addr("192.168.51.1")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "gateway 192.168.51.1 is not a host address of 192.168.50.0/24"},
		{name: "gateway broadcast", spec: NetworkSpec{Name: "gamma", Subnet: pfx("192.168.50.0/24"), Gateway: addr("192.168.50.255")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "gateway 192.168.50.255"},
		{name: "gateway network address", spec: NetworkSpec{Name: "gamma", Subnet: pfx("192.168.50.0/24"), Gateway: addr("192.168.50.0")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "gateway 192.168.50.0"},
		{name: "IPv6 gateway", spec: NetworkSpec{Name: "gamma", Subnet: pfx("192.168.50.0/24"), Gateway: addr("fd00::1")}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "gateway fd00::1: not an IPv4 address"},
		{name: "bad name", spec: NetworkSpec{Name: "gam ma"}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: `network name: invalid name "gam ma"`},
		{name: "empty name", spec: NetworkSpec{}, used: routes, hostLeg: leg, wantKind: ErrInvalid, wantMsg: "network name"},
		{name: "long name", spec: NetworkSpec{Name: strings.Repeat("n", 64)}, used: routes, hostLeg: leg, wantKind: ErrInvalid, wantMsg: "longer than 63"},
		{name: "scope-like name", spec: NetworkSpec{Name: "@web"}, used: routes, hostLeg: leg, wantKind: ErrInvalid, wantMsg: "network name"},
		{name: "duplicate", spec: NetworkSpec{Name: "alpha", Subnet: pfx("10.9.0.0/24")}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: `network "alpha" already exists`},
		{name: "VLAN taken", spec: NetworkSpec{Name: "gamma", VLAN: 10}, used: routes, hostLeg: leg,
			wantKind: ErrConflict, wantMsg: `vlan 10 is used by network "beta"`},
		{name: "VLAN 4094", spec: NetworkSpec{Name: "gamma", VLAN: 4094}, used: routes, hostLeg: leg,
			want: gamma(3, 4094, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "VLAN 4095", spec: NetworkSpec{Name: "gamma", VLAN: 4095}, used: routes, hostLeg: leg,
			wantKind: ErrInvalid, wantMsg: "vlan 4095 out of range 1-4094"},
		{name: "VLAN auto skips taken ones", mutate: func(s *State) {
			s.Networks[1].VLAN = 101
			s.Endpoints[3].NICs[0].Native = 101
			s.Networks = append(s.Networks, &Network{Name: "n3", ID: 3, VLAN: 103, Subnet: pfx("10.3.0.0/24"), Gateway: addr("10.3.0.1"), MAC: GatewayMAC(3)})
		}, spec: NetworkSpec{Name: "gamma"}, used: routes, hostLeg: leg, want: gamma(4, 102, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "VLAN auto from 100 above manual ones", mutate: func(s *State) { s.Networks[0].VLAN = 7 }, spec: NetworkSpec{Name: "gamma"},
			used: routes, hostLeg: leg, want: gamma(3, 100, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "no free VLAN", mutate: manyNetworks(int(vlan.MaxID-FirstAutoVLAN)+1, func(i int) vlan.ID { return FirstAutoVLAN + vlan.ID(i) }),
			spec: NetworkSpec{Name: "gamma"}, used: routes, hostLeg: leg, wantKind: ErrConflict, wantMsg: "no free vlan"},
		{name: "no free VLAN, explicit one free", mutate: manyNetworks(int(vlan.MaxID-FirstAutoVLAN)+1, func(i int) vlan.ID { return FirstAutoVLAN + vlan.ID(i) }),
			spec: NetworkSpec{Name: "gamma", VLAN: 5}, used: routes, hostLeg: leg, want: gamma(3996, 5, "172.18.0.0/16", "172.18.0.1", false)},
		{name: "ID reused lowest first", mutate: func(s *State) { s.Networks[1].ID, s.Networks[1].MAC = 3, GatewayMAC(3) }, spec: NetworkSpec{Name: "gamma"}, used: routes, hostLeg: leg,
			want: gamma(1, 101, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "ID in a gap", mutate: func(s *State) { s.Networks[0].ID, s.Networks[0].MAC = 3, GatewayMAC(3) }, spec: NetworkSpec{Name: "gamma"}, used: routes, hostLeg: leg,
			want: gamma(2, 101, "172.20.0.0/16", "172.20.0.1", false)},
		{name: "no free ID", mutate: manyNetworks(int(router.MaxNetworkID), func(int) vlan.ID { return 0 }),
			spec: NetworkSpec{Name: "gamma", Subnet: pfx("10.0.0.0/24"), VLAN: 5}, used: routes, hostLeg: leg, wantKind: ErrConflict, wantMsg: "no free network id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			got, err := s.NewNetwork(tt.spec, tt.used, tt.hostLeg, now)
			call := fmt.Sprintf("NewNetwork(%+v)", tt.spec)
			if !checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("%s (-want +got):\n%s", call, diff)
			}
			if len(s.Networks) < 100 { // not the exhaustion cases, whose states are not valid
				s.Networks = append(s.Networks, got)
				checkAdopted(t, call, s)
			}
		})
	}
}

func TestNewEndpoint(t *testing.T) {
	nic := func(ifname, network, ip string) *NIC {
		n := &NIC{Interface: ifname, Network: network}
		if ip != "" {
			n.IP, n.MAC = addr(ip), EndpointMAC(addr(ip))
		}
		return n
	}
	owned := func(name string, nics ...*NIC) *Endpoint {
		return &Endpoint{Name: name, Netns: testPrefix + name, Created: t0, NICs: nics}
	}
	with := func(e *Endpoint, f func(e *Endpoint)) *Endpoint { f(e); return e }
	trunk := func(n *NIC, vlans string, native vlan.ID) *NIC {
		n.Trunk, n.VLANs, n.Native = true, vset(vlans), native
		return n
	}
	tests := []struct {
		name      string
		mutate    func(s *State) // of the fixture
		spec      EndpointSpec
		want      *Endpoint
		randomMAC bool // the NIC's MAC is random: check it, then ignore it
		wantKind  error
		wantMsg   string
	}{
		{name: "derived MAC taken by hand: a random one", mutate: func(s *State) {
			s.Endpoints[1].NICs[0].IP = addr("172.18.0.9") // db keeps MAC 02:42:ac:12:00:03
		}, spec: EndpointSpec{Name: "app", Network: "alpha"}, randomMAC: true,
			want: owned("app", nic("eth0", "alpha", "172.18.0.3"))},
		{name: "lowest free address", spec: EndpointSpec{Name: "app", Network: "alpha"},
			want: owned("app", nic("eth0", "alpha", "172.18.0.4"))},
		{name: "address in a hole", mutate: func(s *State) {
			s.Endpoints[1].NICs[0].IP, s.Endpoints[1].NICs[0].MAC = addr("172.18.0.9"), EndpointMAC(addr("172.18.0.9"))
		}, spec: EndpointSpec{Name: "app", Network: "alpha"},
			want: owned("app", nic("eth0", "alpha", "172.18.0.3"))},
		{name: "address below a last-address gateway", spec: EndpointSpec{Name: "app", Network: "beta"},
			want: owned("app", nic("eth0", "beta", "10.1.0.1"))},
		{name: "everything copied", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"a1", "a.b"}, Publish: []Publish{pub("8081:80")},
			Cmd: []string{"sleep", "inf"}, Env: []string{"X=1"}, Remove: true},
			want: &Endpoint{Name: "app", Netns: "vsw-app", Cmd: []string{"sleep", "inf"}, Env: []string{"X=1"}, Remove: true, Publish: []Publish{pub("8081:80")}, Created: t0,
				NICs: []*NIC{{Interface: "eth0", Network: "alpha", IP: addr("172.18.0.4"), MAC: mac("02:42:ac:12:00:04"), Aliases: []string{"a1", "a.b"}}}}},
		{name: "--ip", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("172.18.3.4")},
			want: owned("app", nic("eth0", "alpha", "172.18.3.4"))},
		{name: "--ip taken", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("172.18.0.2")},
			wantKind: ErrConflict, wantMsg: `network "alpha": address 172.18.0.2 is already in use`},
		{name: "--ip taken by a trunk", spec: EndpointSpec{Name: "app", Network: "beta", IP: addr("10.1.0.4")},
			wantKind: ErrConflict, wantMsg: "address 10.1.0.4 is already in use"},
		{name: "--ip outside", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("10.9.0.2")},
			wantKind: ErrInvalid, wantMsg: "address 10.9.0.2 is outside the subnet 172.18.0.0/16"},
		{name: "--ip the gateway", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("172.18.0.1")},
			wantKind: ErrInvalid, wantMsg: "address 172.18.0.1 is the gateway"},
		{name: "--ip the broadcast address", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("172.18.255.255")},
			wantKind: ErrInvalid, wantMsg: "network or broadcast address"},
		{name: "--ip the network address", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("172.18.0.0")},
			wantKind: ErrInvalid, wantMsg: "network or broadcast address"},
		{name: "--ip IPv6", spec: EndpointSpec{Name: "app", Network: "alpha", IP: addr("fd00::2")},
			wantKind: ErrInvalid, wantMsg: "--ip fd00::2: not an IPv4 address"},
		{name: "network full", mutate: func(s *State) {
			s.Networks[1].Subnet, s.Networks[1].Gateway = pfx("10.1.0.0/30"), addr("10.1.0.1")
			s.Endpoints = s.Endpoints[:1]
		}, spec: EndpointSpec{Name: "app", Network: "beta"}, wantKind: ErrConflict, wantMsg: `network "beta": no free address in 10.1.0.0/30`},
		{name: "unknown network", spec: EndpointSpec{Name: "app", Network: "gamma"}, wantKind: ErrNotFound, wantMsg: `network "gamma" not found`},
		{name: "no network", spec: EndpointSpec{Name: "app"}, wantKind: ErrInvalid, wantMsg: "run needs --net NETWORK (or --trunk)"},
		{name: "bad name", spec: EndpointSpec{Name: "a/b", Network: "alpha"}, wantKind: ErrInvalid, wantMsg: `endpoint name: invalid name "a/b"`},
		{name: "empty name", spec: EndpointSpec{Network: "alpha"}, wantKind: ErrInvalid, wantMsg: "endpoint name"},
		{name: "duplicate", spec: EndpointSpec{Name: "web", Network: "alpha"}, wantKind: ErrConflict, wantMsg: `endpoint "web" already exists`},
		{name: "namespace name too long", spec: EndpointSpec{Name: strings.Repeat("e", 60), Network: "alpha"},
			wantKind: ErrInvalid, wantMsg: "namespace name"},
		{name: "name of the longest namespace", spec: EndpointSpec{Name: strings.Repeat("e", 59), Network: "alpha"},
			want: owned(strings.Repeat("e", 59), nic("eth0", "alpha", "172.18.0.4"))},
		{name: "aliases", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"database"}},
			want: with(owned("app", nic("eth0", "alpha", "172.18.0.4")), func(e *Endpoint) { e.NICs[0].Aliases = []string{"database"} })},
		{name: "alias is another endpoint's name", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"DB"}},
			wantKind: ErrConflict, wantMsg: `alias "DB" is the name of endpoint "db"`},
		{name: "alias is the host's name", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"host.vswitchd.internal"}},
			wantKind: ErrInvalid, wantMsg: `alias "host.vswitchd.internal": a name vswitchd's DNS answers itself`},
		{name: "alias is Docker's gateway name", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"gateway.docker.internal"}},
			wantKind: ErrInvalid, wantMsg: `alias "gateway.docker.internal"`},
		{name: "alias under a reserved zone", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"x.Docker.Internal"}},
			wantKind: ErrInvalid, wantMsg: `alias "x.Docker.Internal"`},
		{name: "too many aliases", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: manyAliases(MaxAliases + 1)},
			wantKind: ErrInvalid, wantMsg: "65 aliases: at most 64 per network"},
		{name: "alias twice", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"x", "X"}},
			wantKind: ErrInvalid, wantMsg: `alias "X" given twice`},
		{name: "name is a reserved name", spec: EndpointSpec{Name: "host.docker.internal", Network: "alpha"},
			wantKind: ErrInvalid, wantMsg: `endpoint name "host.docker.internal"`},
		{name: "scope alias", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"ok", "@web"}}, wantKind: ErrInvalid, wantMsg: `alias "@web"`},
		{name: "bad alias", spec: EndpointSpec{Name: "app", Network: "alpha", Aliases: []string{"a b"}}, wantKind: ErrInvalid, wantMsg: `alias "a b"`},

		{name: "attached", spec: EndpointSpec{Name: "app", Network: "beta", NetnsPath: "/var/run/docker/netns/abc", IfName: "veth-app", MAC: mac("02:11:22:33:44:55")},
			want: &Endpoint{Name: "app", NetnsPath: "/var/run/docker/netns/abc", Created: t0,
				NICs: []*NIC{{Interface: "veth-app", Network: "beta", IP: addr("10.1.0.1"), MAC: mac("02:11:22:33:44:55")}}}},
		{name: "attached, defaults", spec: EndpointSpec{Name: "app", Network: "beta", NetnsPath: "/proc/1234/ns/net"},
			want: &Endpoint{Name: "app", NetnsPath: "/proc/1234/ns/net", Created: t0, NICs: []*NIC{nic("eth0", "beta", "10.1.0.1")}}},
		{name: "attached outside the run dirs", spec: EndpointSpec{Name: "app", Network: "beta", NetnsPath: "/tmp/ns"},
			wantKind: ErrInvalid, wantMsg: `netns path "/tmp/ns": not under /run/netns`},
		{name: "attached escaping", spec: EndpointSpec{Name: "app", Network: "beta", NetnsPath: "/run/netns/../etc"},
			wantKind: ErrInvalid, wantMsg: `netns path "/run/netns/../etc": not an absolute, clean path`},
		{name: "attached relative", spec: EndpointSpec{Name: "app", Network: "beta", NetnsPath: "run/netns/x"},
			wantKind: ErrInvalid, wantMsg: "not an absolute, clean path"},
		{name: "bad interface name", spec: EndpointSpec{Name: "app", Network: "beta", IfName: "eth 0"},
			wantKind: ErrInvalid, wantMsg: `interface name: invalid name "eth 0"`},
		{name: "interface name too long", spec: EndpointSpec{Name: "app", Network: "beta", IfName: "a-very-long-ifname"},
			wantKind: ErrInvalid, wantMsg: "longer than 15"},
		{name: "multicast MAC", spec: EndpointSpec{Name: "app", Network: "beta", MAC: mac("01:00:5e:00:00:01")},
			wantKind: ErrInvalid, wantMsg: "mac 01:00:5e:00:00:01 is not a unicast address"},

		{name: "trunk on a network", spec: EndpointSpec{Name: "app", Network: "beta", Trunk: true, VLANs: vset("10,20")},
			want: owned("app", trunk(nic("eth0", "beta", "10.1.0.1"), "10,20", 10))},
		{name: "trunk with the network's native", spec: EndpointSpec{Name: "app", Network: "beta", Trunk: true, Native: 10},
			want: owned("app", trunk(nic("eth0", "beta", "10.1.0.1"), "", 10))},
		{name: "trunk with another native", spec: EndpointSpec{Name: "app", Network: "beta", Trunk: true, Native: 20},
			wantKind: ErrInvalid, wantMsg: `--native 20 differs from network "beta"'s vlan 10`},
		{name: "trunk on no network", spec: EndpointSpec{Name: "app", Trunk: true, VLANs: vset("10-20")},
			want: owned("app", trunk(nic("eth0", "", ""), "10-20", 0)), randomMAC: true},
		{name: "trunk on no network with a native", spec: EndpointSpec{Name: "app", Trunk: true, Native: 5},
			want: owned("app", trunk(nic("eth0", "", ""), "", 5)), randomMAC: true},
		{name: "trunk on no network with a MAC", spec: EndpointSpec{Name: "app", Trunk: true, MAC: mac("02:00:00:00:01:01")},
			want: owned("app", &NIC{Interface: "eth0", MAC: mac("02:00:00:00:01:01"), Trunk: true})},
		{name: "trunk on no network with --ip", spec: EndpointSpec{Name: "app", Trunk: true, IP: addr("10.1.0.9")},
			wantKind: ErrInvalid, wantMsg: "--ip needs --net"},
		{name: "trunk native 4095", spec: EndpointSpec{Name: "app", Trunk: true, Native: 4095},
			wantKind: ErrInvalid, wantMsg: "invalid vlan policy"},
		{name: "--vlans without --trunk", spec: EndpointSpec{Name: "app", Network: "beta", VLANs: vset("10")},
			wantKind: ErrInvalid, wantMsg: "--vlans and --native need --trunk"},
		{name: "--native without --trunk", spec: EndpointSpec{Name: "app", Network: "beta", Native: 10},
			wantKind: ErrInvalid, wantMsg: "--vlans and --native need --trunk"},

		{name: "publish, other protocol", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("8080:80/udp")}},
			want: with(owned("app", nic("eth0", "alpha", "172.18.0.4")), func(e *Endpoint) { e.Publish = []Publish{pub("8080:80/udp")} })},
		{name: "publish, other host address", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("127.0.0.2:5353:53/udp")}},
			want: with(owned("app", nic("eth0", "alpha", "172.18.0.4")), func(e *Endpoint) { e.Publish = []Publish{pub("127.0.0.2:5353:53/udp")} })},
		{name: "publish overlapping another endpoint's", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("8000-8090:8000-8090")}},
			wantKind: ErrConflict, wantMsg: `publish 8000-8090:8000-8090/tcp for "app": host port already published by "web" (8080:80/tcp)`},
		{name: "publish overlapping on every address", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("5353:53/udp")}},
			wantKind: ErrConflict, wantMsg: `already published by "web" (127.0.0.1:5353:53/udp)`},
		{name: "publish overlapping an endpoint without address", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("9000:9000")}},
			wantKind: ErrConflict, wantMsg: `already published by "tap"`},
		{name: "publish overlapping itself", spec: EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("8081:80"), pub("8081:81")}},
			wantKind: ErrInvalid, wantMsg: "publish 8081:81/tcp overlaps 8081:80/tcp"},
		{name: "publish without a network", spec: EndpointSpec{Name: "app", Trunk: true, Publish: []Publish{pub("8081:80")}},
			wantKind: ErrInvalid, wantMsg: "published ports need --net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			got, err := s.NewEndpoint(tt.spec, t0.Add(999*time.Millisecond))
			call := fmt.Sprintf("NewEndpoint(%+v)", tt.spec)
			if !checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				return
			}
			if tt.randomMAC {
				m := got.NICs[0].MAC
				if m.IsMulticast() || m[0]&2 == 0 {
					t.Errorf("%s MAC = %v, want unicast, locally administered", call, m)
				}
				tt.want.NICs[0].MAC = m
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("%s (-want +got):\n%s", call, diff)
			}
			s.Endpoints = append(s.Endpoints, got)
			checkAdopted(t, call, s)
		})
	}
}

func TestNewNIC(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(s *State) // of the fixture
		endpoint string         // in the state; "" for other below
		other    *Endpoint
		network  string
		spec     ConnectSpec
		want     *NIC
		wantKind error
		wantMsg  string
	}{
		{name: "next ethN", endpoint: "db", network: "beta",
			want: &NIC{Interface: "eth1", Network: "beta", IP: addr("10.1.0.1"), MAC: EndpointMAC(addr("10.1.0.1"))}},
		{name: "first free ethN", other: &Endpoint{Name: "x", NICs: []*NIC{{Interface: "eth0", Network: "alpha"}, {Interface: "eth2"}}}, network: "beta",
			want: &NIC{Interface: "eth1", Network: "beta", IP: addr("10.1.0.1"), MAC: EndpointMAC(addr("10.1.0.1"))}},
		{name: "after an attached NIC", other: &Endpoint{Name: "x", NICs: []*NIC{{Interface: "veth-x", Network: "alpha"}}}, network: "beta",
			want: &NIC{Interface: "eth0", Network: "beta", IP: addr("10.1.0.1"), MAC: EndpointMAC(addr("10.1.0.1"))}},
		{name: "--ip and aliases", endpoint: "tap", network: "alpha", spec: ConnectSpec{IP: addr("172.18.10.10"), Aliases: []string{"t1", "t2"}},
			want: &NIC{Interface: "eth1", Network: "alpha", IP: addr("172.18.10.10"), MAC: EndpointMAC(addr("172.18.10.10")), Aliases: []string{"t1", "t2"}}},
		{name: "--ip taken", endpoint: "db", network: "beta", spec: ConnectSpec{IP: addr("10.1.0.2")},
			wantKind: ErrConflict, wantMsg: "address 10.1.0.2 is already in use"},
		{name: "--ip outside", endpoint: "db", network: "beta", spec: ConnectSpec{IP: addr("172.18.0.9")},
			wantKind: ErrInvalid, wantMsg: "address 172.18.0.9 is outside the subnet 10.1.0.0/24"},
		{name: "--ip IPv6", endpoint: "db", network: "beta", spec: ConnectSpec{IP: addr("::1")}, wantKind: ErrInvalid, wantMsg: "not an IPv4 address"},
		{name: "already connected", endpoint: "web", network: "alpha",
			wantKind: ErrConflict, wantMsg: `endpoint "web" is already connected to network "alpha"`},
		{name: "unknown network", endpoint: "web", network: "gamma", wantKind: ErrNotFound, wantMsg: `network "gamma" not found`},
		{name: "bad alias", endpoint: "db", network: "beta", spec: ConnectSpec{Aliases: []string{"@db"}}, wantKind: ErrInvalid, wantMsg: `alias "@db"`},
		{name: "alias is another endpoint's name", endpoint: "db", network: "beta", spec: ConnectSpec{Aliases: []string{"web"}},
			wantKind: ErrConflict, wantMsg: `alias "web" is the name of endpoint "web"`},
		{name: "network full", mutate: func(s *State) {
			s.Networks[1].Subnet, s.Networks[1].Gateway = pfx("10.1.0.0/30"), addr("10.1.0.1")
			s.Endpoints = s.Endpoints[:2]
		}, endpoint: "db", network: "beta", wantKind: ErrConflict, wantMsg: "no free address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			e := tt.other
			if tt.endpoint != "" {
				e = s.Endpoint(tt.endpoint)
			}
			got, err := s.NewNIC(e, tt.network, tt.spec)
			call := fmt.Sprintf("NewNIC(%s, %s, %+v)", e.Name, tt.network, tt.spec)
			if !checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("%s (-want +got):\n%s", call, diff)
			}
			if tt.endpoint != "" {
				e.NICs = append(e.NICs, got)
				checkAdopted(t, call, s)
			}
		})
	}
}

func TestNewPort(t *testing.T) {
	tests := []struct {
		name     string
		spec     PortSpec
		want     *SysPort
		wantKind error
		wantMsg  string
	}{
		{name: "access", spec: PortSpec{Interface: "veth9", Mode: vlan.Access, VLAN: 10},
			want: &SysPort{Interface: "veth9", Mode: vlan.Access, VLAN: 10}},
		{name: "access without VLAN", spec: PortSpec{Interface: "veth9", Mode: vlan.Access},
			wantKind: ErrInvalid, wantMsg: "--mode access needs --vlan 1-4094, got 0"},
		{name: "access VLAN 4095", spec: PortSpec{Interface: "veth9", Mode: vlan.Access, VLAN: 4095},
			wantKind: ErrInvalid, wantMsg: "got 4095"},
		{name: "access with native", spec: PortSpec{Interface: "veth9", Mode: vlan.Access, VLAN: 10, Native: 10},
			wantKind: ErrInvalid, wantMsg: "--native is for trunk ports"},
		{name: "access with VLANs", spec: PortSpec{Interface: "veth9", Mode: vlan.Access, VLAN: 10, VLANs: vset("10")},
			wantKind: ErrInvalid, wantMsg: "--vlans is for trunk ports"},
		{name: "trunk", spec: PortSpec{Interface: "veth9", Mode: vlan.Trunk, VLANs: vset("10-20")},
			want: &SysPort{Interface: "veth9", Mode: vlan.Trunk, VLANs: vset("10-20")}},
		{name: "trunk of all VLANs", spec: PortSpec{Interface: "veth9", Mode: vlan.Trunk},
			want: &SysPort{Interface: "veth9", Mode: vlan.Trunk}},
		{name: "trunk with native becomes native-untagged", spec: PortSpec{Interface: "veth9", Mode: vlan.Trunk, VLANs: vset("20"), Native: 10},
			want: &SysPort{Interface: "veth9", Mode: vlan.NativeUntagged, VLAN: 10, VLANs: vset("20")}},
		{name: "trunk with VLAN", spec: PortSpec{Interface: "veth9", Mode: vlan.Trunk, VLAN: 10},
			wantKind: ErrInvalid, wantMsg: "--vlan is for access and dot1q-tunnel ports"},
		{name: "trunk native 4095", spec: PortSpec{Interface: "veth9", Mode: vlan.Trunk, Native: 4095},
			wantKind: ErrInvalid, wantMsg: "--native 4095 out of range 1-4094"},
		{name: "native-tagged", spec: PortSpec{Interface: "veth9", Mode: vlan.NativeTagged, Native: 10},
			want: &SysPort{Interface: "veth9", Mode: vlan.NativeTagged, VLAN: 10}},
		{name: "native-untagged", spec: PortSpec{Interface: "veth9", Mode: vlan.NativeUntagged, Native: 10, VLANs: vset("10-12")},
			want: &SysPort{Interface: "veth9", Mode: vlan.NativeUntagged, VLAN: 10, VLANs: vset("10-12")}},
		{name: "native-tagged without native", spec: PortSpec{Interface: "veth9", Mode: vlan.NativeTagged},
			wantKind: ErrInvalid, wantMsg: "--mode native-tagged needs --native VLAN"},
		{name: "native-untagged without native", spec: PortSpec{Interface: "veth9", Mode: vlan.NativeUntagged},
			wantKind: ErrInvalid, wantMsg: "--mode native-untagged needs --native VLAN"},
		{name: "dot1q-tunnel", spec: PortSpec{Interface: "veth9", Mode: vlan.Dot1QTunnel, VLAN: 100, VLANs: vset("10-20")},
			want: &SysPort{Interface: "veth9", Mode: vlan.Dot1QTunnel, VLAN: 100, VLANs: vset("10-20")}},
		{name: "dot1q-tunnel without VLAN", spec: PortSpec{Interface: "veth9", Mode: vlan.Dot1QTunnel},
			wantKind: ErrInvalid, wantMsg: "--mode dot1q-tunnel needs --vlan"},
		{name: "dot1q-tunnel with native", spec: PortSpec{Interface: "veth9", Mode: vlan.Dot1QTunnel, VLAN: 100, Native: 5},
			wantKind: ErrInvalid, wantMsg: "--native is for trunk ports"},
		{name: "unknown mode", spec: PortSpec{Interface: "veth9", Mode: vlan.Mode(9)},
			wantKind: ErrInvalid, wantMsg: "unknown vlan mode"},
		{name: "type system is the default", spec: PortSpec{Interface: "veth9", Type: "system", Mode: vlan.Access, VLAN: 10},
			want: &SysPort{Interface: "veth9", Mode: vlan.Access, VLAN: 10}},
		{name: "other type", spec: PortSpec{Interface: "vx0", Type: "vxlan", Mode: vlan.Trunk},
			want: &SysPort{Interface: "vx0", Type: "vxlan", Mode: vlan.Trunk}},
		{name: "bad interface", spec: PortSpec{Interface: "veth 9", Mode: vlan.Access, VLAN: 10},
			wantKind: ErrInvalid, wantMsg: `interface: invalid name "veth 9"`},
		{name: "already a port", spec: PortSpec{Interface: "veth1", Mode: vlan.Access, VLAN: 10},
			wantKind: ErrConflict, wantMsg: `interface "veth1" is already a port`},
		{name: "the uplink", spec: PortSpec{Interface: "eth9", Mode: vlan.Access, VLAN: 10},
			wantKind: ErrConflict, wantMsg: `interface "eth9" is already a port (the uplink or the host leg)`},
		{name: "the host leg", spec: PortSpec{Interface: hostIf, Mode: vlan.Access, VLAN: 10},
			wantKind: ErrConflict, wantMsg: `interface "vsw0" is already a port (the uplink or the host leg)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			got, err := s.NewPort(tt.spec, hostIf)
			call := fmt.Sprintf("NewPort(%+v)", tt.spec)
			if !checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("%s (-want +got):\n%s", call, diff)
			}
			s.Ports = append(s.Ports, got)
			checkAdopted(t, call, s)
		})
	}
}

func TestNewUplink(t *testing.T) {
	tests := []struct {
		name     string
		spec     UplinkSpec
		want     *Uplink
		wantKind error
		wantMsg  string
	}{
		{name: "address and gateway", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.100.1")},
			want: &Uplink{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.100.1")}},
		{name: "no gateway", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/30")},
			want: &Uplink{Interface: "eth8", Address: pfx("198.51.100.2/30")}},
		{name: "same interface again", spec: UplinkSpec{Interface: "eth9", Address: pfx("203.0.113.3/24")},
			want: &Uplink{Interface: "eth9", Address: pfx("203.0.113.3/24")}},
		{name: "bad interface", spec: UplinkSpec{Interface: "", Address: pfx("198.51.100.2/24")},
			wantKind: ErrInvalid, wantMsg: "uplink interface: invalid name: empty"},
		{name: "no address", spec: UplinkSpec{Interface: "eth8"}, wantKind: ErrInvalid, wantMsg: "want IPv4 CIDR"},
		{name: "IPv6", spec: UplinkSpec{Interface: "eth8", Address: pfx("2001:db8::2/64")},
			wantKind: ErrInvalid, wantMsg: `uplink address "2001:db8::2/64": want IPv4 CIDR`},
		{name: "/31", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/31")},
			wantKind: ErrInvalid, wantMsg: `uplink address "198.51.100.2/31"`},
		{name: "network address", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.0/24")},
			wantKind: ErrInvalid, wantMsg: "uplink address 198.51.100.0/24 is the network address"},
		{name: "broadcast address", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.255/24")},
			wantKind: ErrInvalid, wantMsg: "broadcast address"},
		{name: "gateway outside", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.101.1")},
			wantKind: ErrInvalid, wantMsg: "uplink gateway 198.51.101.1 is not another address of 198.51.100.0/24"},
		{name: "gateway is the address", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.100.2")},
			wantKind: ErrInvalid, wantMsg: "uplink gateway 198.51.100.2 is not another address"},
		{name: "IPv6 gateway", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("fe80::1")},
			wantKind: ErrInvalid, wantMsg: `uplink gateway "fe80::1": not an IPv4 address`},
		{name: "overlapping a network", spec: UplinkSpec{Interface: "eth8", Address: pfx("10.1.0.200/16")},
			wantKind: ErrConflict, wantMsg: `uplink 10.1.0.0/16 overlaps network "beta" (10.1.0.0/24)`},
		{name: "a system port", spec: UplinkSpec{Interface: "veth0", Address: pfx("198.51.100.2/24")},
			wantKind: ErrConflict, wantMsg: `interface "veth0" is already a port`},
		{name: "the host leg", spec: UplinkSpec{Interface: hostIf, Address: pfx("198.51.100.2/24")},
			wantKind: ErrConflict, wantMsg: `interface "vsw0" is already a port`},
		{name: "loopback", spec: UplinkSpec{Interface: "lo", Address: pfx("198.51.100.2/24")},
			wantKind: ErrInvalid, wantMsg: "uplink interface lo: loopback cannot be an uplink"},
		{name: "the host leg's address", spec: UplinkSpec{Interface: "eth8", Address: pfx("172.17.255.253/30")},
			wantKind: ErrConflict, wantMsg: "uplink 172.17.255.252/30 overlaps the host leg (172.17.255.252/30)"},
		{name: "gateway is the network address", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.100.0")},
			wantKind: ErrInvalid, wantMsg: "uplink gateway 198.51.100.0 is the network or broadcast address"},
		{name: "gateway is the broadcast address", spec: UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24"), Gateway: addr("198.51.100.255")},
			wantKind: ErrInvalid, wantMsg: "uplink gateway 198.51.100.255 is the network or broadcast address"},
		{name: "loopback address", spec: UplinkSpec{Interface: "eth8", Address: pfx("127.0.0.2/8")},
			wantKind: ErrInvalid, wantMsg: "uplink address 127.0.0.2/8: overlaps 127.0.0.0/8 (loopback)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			got, err := s.NewUplink(tt.spec, hostIf, leg)
			call := fmt.Sprintf("NewUplink(%+v)", tt.spec)
			if !checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpState); diff != "" {
				t.Errorf("%s (-want +got):\n%s", call, diff)
			}
			s.Uplink = got
			checkAdopted(t, call, s)
		})
	}
}

func TestCheckPublish(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		spec     string
		wantKind error
		wantMsg  string
	}{
		{name: "free port", endpoint: "web", spec: "8081:80"},
		{name: "own port, other protocol", endpoint: "web", spec: "8080:80/udp"},
		{name: "another endpoint's port", endpoint: "db", spec: "8080:8080", wantKind: ErrConflict, wantMsg: `already published by "web"`},
		{name: "own port again", endpoint: "web", spec: "8080:81", wantKind: ErrInvalid, wantMsg: "publish 8080:81/tcp overlaps 8080:80/tcp"},
		{name: "no address", endpoint: "tap", spec: "9001:90", wantKind: ErrInvalid, wantMsg: `endpoint "tap" has no address to publish to`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			e := s.Endpoint(tt.endpoint)
			err := s.CheckPublish(e, pub(tt.spec))
			call := fmt.Sprintf("CheckPublish(%s, %s)", tt.endpoint, tt.spec)
			if diff := cmp.Diff(fixture().Endpoint(tt.endpoint).Publish, e.Publish, cmpState); diff != "" {
				t.Errorf("%s changed the endpoint's specs (-want +got):\n%s", call, diff)
			}
			if checkPlan(t, call, err, tt.wantKind, tt.wantMsg) {
				e.Publish = append(e.Publish, pub(tt.spec))
				checkAdopted(t, call, s)
			}
		})
	}
}

// TestPlansDoNotChangeState: no plan changes the state it is asked of.
func TestPlansDoNotChangeState(t *testing.T) {
	s := fixture()
	_, _ = s.NewNetwork(NetworkSpec{Name: "gamma"}, routes, leg, t0)
	_, _ = s.NewEndpoint(EndpointSpec{Name: "app", Network: "alpha", Publish: []Publish{pub("8081:80")}}, t0)
	_, _ = s.NewNIC(s.Endpoint("db"), "beta", ConnectSpec{Aliases: []string{"x"}})
	_, _ = s.NewPort(PortSpec{Interface: "veth9", Mode: vlan.Access, VLAN: 10}, hostIf)
	_, _ = s.NewUplink(UplinkSpec{Interface: "eth8", Address: pfx("198.51.100.2/24")}, hostIf, leg)
	_ = s.CheckPublish(s.Endpoint("web"), pub("8081:80"))
	if diff := cmp.Diff(fixture(), s, cmpState); diff != "" {
		t.Errorf("the state after planning (-want +got):\n%s", diff)
	}
}

// manyAliases returns n distinct aliases.
func manyAliases(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("alias%d", i)
	}
	return out
}
