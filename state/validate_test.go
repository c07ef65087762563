package state

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/vlan"
)

// corruptions are impossible states, each made by one change to the
// fixture, and what the error must say. Every one is representable in
// state.json, so each is also checked through Parse and Load.
var corruptions = []struct {
	name   string
	mutate func(s *State)
	want   string
}{
	// The state itself.
	{"bad prefix", func(s *State) { s.Prefix = "vsw/" }, `netns_prefix: invalid name "vsw/x"`},
	{"prefix starting with a dash", func(s *State) { s.Prefix = "-vsw" }, "netns_prefix"},

	// Networks.
	{"null network", func(s *State) { s.Networks = append(s.Networks, nil) }, "networks[2]: null"},
	{"bad network name", func(s *State) { s.Networks[0].Name = "al pha" }, `network "al pha": invalid name`},
	{"empty network name", func(s *State) { s.Networks[0].Name = "" }, `network "": invalid name: empty`},
	{"duplicate network name", func(s *State) {
		s.Networks = append(s.Networks, &Network{Name: "alpha", ID: 3, VLAN: 300, Subnet: pfx("10.9.0.0/24"), Gateway: addr("10.9.0.1"), MAC: GatewayMAC(3)})
	}, `network "alpha": listed twice`},
	{"duplicate network ID", func(s *State) { s.Networks[1].ID, s.Networks[1].MAC = 2, GatewayMAC(2) }, `network "beta": id 2 is network "alpha"'s too`},
	{"duplicate VLAN", func(s *State) { s.Networks[1].VLAN = 100 }, `network "beta": vlan 100 is network "alpha"'s too`},
	{"overlapping subnets", func(s *State) {
		s.Networks[1].Subnet, s.Networks[1].Gateway = pfx("172.18.5.0/24"), addr("172.18.5.1")
	}, `network "beta": subnet 172.18.5.0/24 overlaps network "alpha" (172.18.0.0/16)`},
	{"containing subnet", func(s *State) {
		s.Networks[1].Subnet, s.Networks[1].Gateway = pfx("172.0.0.0/8"), addr("172.0.0.1")
	}, `network "beta": subnet 172.0.0.0/8 overlaps network "alpha"`},
	{"network ID 0", func(s *State) { s.Networks[0].ID, s.Networks[0].MAC = 0, GatewayMAC(0) }, `network "alpha": id 0 out of range 1-65519`},
	{"network ID 0xfff0", func(s *State) { s.Networks[0].ID, s.Networks[0].MAC = 0xfff0, GatewayMAC(0xfff0) }, "id 65520 out of range"},
	{"network ID 0xffff", func(s *State) { s.Networks[0].ID, s.Networks[0].MAC = 0xffff, GatewayMAC(0xffff) }, "id 65535 out of range"},
	{"VLAN 0", func(s *State) { s.Networks[0].VLAN = 0 }, `network "alpha": vlan 0 out of range 1-4094`},
	{"VLAN 4095", func(s *State) { s.Networks[0].VLAN = 4095 }, "vlan 4095 out of range"},
	{"no subnet", func(s *State) { s.Networks[0].Subnet = zeroPrefix }, "subnet invalid Prefix: not an IPv4 prefix"},
	{"IPv6 subnet", func(s *State) { s.Networks[0].Subnet, s.Networks[0].Gateway = pfx("fd00::/64"), addr("fd00::1") }, "subnet fd00::/64: not an IPv4 prefix"},
	{"subnet host bits", func(s *State) { s.Networks[0].Subnet = pfx("172.18.0.1/16") }, "subnet 172.18.0.1/16: host bits set"},
	{"subnet /31", func(s *State) { s.Networks[0].Subnet, s.Networks[0].Gateway = pfx("172.18.0.0/31"), addr("172.18.0.1") }, "too small"},
	{"gateway outside subnet", func(s *State) { s.Networks[0].Gateway = addr("10.9.9.1") }, `network "alpha": gateway 10.9.9.1 is not a host address of 172.18.0.0/16`},
	{"gateway is the network address", func(s *State) { s.Networks[0].Gateway = addr("172.18.0.0") }, "gateway 172.18.0.0 is not a host address"},
	{"gateway is the broadcast address", func(s *State) { s.Networks[0].Gateway = addr("172.18.255.255") }, "gateway 172.18.255.255 is not a host address"},
	{"no gateway", func(s *State) { s.Networks[0].Gateway = zeroAddr }, "gateway invalid IP is not a host address"},
	{"IPv4-mapped gateway", func(s *State) { s.Networks[0].Gateway = addr("::ffff:172.18.0.1") }, "gateway ::ffff:172.18.0.1 is not a host address"},
	{"gateway MAC not derived", func(s *State) { s.Networks[0].MAC = mac("02:00:00:00:00:01") }, `network "alpha": gateway mac 02:00:00:00:00:01, want 02:76:73:00:00:02 (derived from id 2)`},

	// Endpoints.
	{"null endpoint", func(s *State) { s.Endpoints[1] = nil }, "endpoints[1]: null"},
	{"bad endpoint name", func(s *State) { s.Endpoints[1].Name, s.Endpoints[1].Netns = "d/b", "vsw-d/b" }, `endpoint "d/b": invalid name`},
	{"duplicate endpoint", func(s *State) { s.Endpoints = append(s.Endpoints, s.Endpoints[4].Clone()) }, `endpoint "tap": listed twice`},
	{"netns not prefix and name", func(s *State) { s.Endpoints[1].Netns = "victim" }, `endpoint "db": netns "victim", want "vsw-db" (prefix "vsw-" and the endpoint's name)`},
	{"netns without prefix", func(s *State) { s.Endpoints[1].Netns = "db" }, `netns "db", want "vsw-db"`},
	{"netns path outside", func(s *State) { s.Endpoints[2].NetnsPath = "/etc/passwd" }, `endpoint "pod": netns path "/etc/passwd": not under /run/netns`},
	{"netns path escaping", func(s *State) { s.Endpoints[2].NetnsPath = "/run/netns/../etc" }, `netns path "/run/netns/../etc": not an absolute, clean path`},
	{"netns path relative", func(s *State) { s.Endpoints[2].NetnsPath = "run/netns/pod" }, "not an absolute, clean path"},
	{"netns path trailing slash", func(s *State) { s.Endpoints[2].NetnsPath = "/run/netns/pod/" }, "not an absolute, clean path"},
	{"netns path is a run dir", func(s *State) { s.Endpoints[2].NetnsPath = "/run/netns" }, "not under"},
	{"netns path sibling of a run dir", func(s *State) { s.Endpoints[2].NetnsPath = "/run/netnsX/pod" }, "not under"},
	{"bad phase", func(s *State) { s.Endpoints[4].Phase = "deleting" }, `endpoint "tap": phase "deleting": want "creating", "removing" or none`},
	{"null NIC", func(s *State) { s.Endpoints[0].NICs[1] = nil }, `endpoint "web": nics[1]: null`},
	{"bad interface name", func(s *State) { s.Endpoints[0].NICs[1].Interface = "eth1-is-far-too-long" }, `endpoint "web": invalid name "eth1-is-far-too-long"`},
	{"duplicate interface", func(s *State) { s.Endpoints[0].NICs[1].Interface = "eth0" }, `endpoint "web": interface eth0 listed twice`},
	{"multicast MAC", func(s *State) { s.Endpoints[0].NICs[0].MAC = mac("01:00:5e:00:00:01") }, `endpoint "web": eth0: mac 01:00:5e:00:00:01 is not a unicast address`},
	{"broadcast MAC", func(s *State) { s.Endpoints[0].NICs[0].MAC = mac("ff:ff:ff:ff:ff:ff") }, "mac ff:ff:ff:ff:ff:ff is not a unicast address"},
	{"zero MAC", func(s *State) { s.Endpoints[0].NICs[0].MAC = mac("00:00:00:00:00:00") }, "mac 00:00:00:00:00:00 is not a unicast address"},
	{"bad alias", func(s *State) { s.Endpoints[0].NICs[0].Aliases = []string{"www", "w w"} }, `endpoint "web": eth0: alias "w w"`},
	{"scope alias", func(s *State) { s.Endpoints[0].NICs[0].Aliases = []string{"@web"} }, `alias "@web"`},
	{"empty alias", func(s *State) { s.Endpoints[0].NICs[0].Aliases = []string{""} }, `alias ""`},
	{"NIC on an unknown network", func(s *State) { s.Endpoints[0].NICs[1].Network = "gamma" }, `endpoint "web": eth1: network "gamma" not found`},
	{"two NICs on a network", func(s *State) {
		s.Endpoints[0].NICs[1] = &NIC{Interface: "eth1", Network: "alpha", IP: addr("172.18.0.9"), MAC: EndpointMAC(addr("172.18.0.9"))}
	}, `endpoint "web": two NICs on network "alpha"`},
	{"access NIC without a network", func(s *State) { s.Endpoints[0].NICs[1].Network = "" }, "eth1: no network (only a trunk NIC may have none"},
	{"trunk NIC without a network with an address", func(s *State) { s.Endpoints[4].NICs[0].IP = addr("10.9.0.2") }, `endpoint "tap": eth0: no network`},
	{"access NIC without an address", func(s *State) { s.Endpoints[1].NICs[0].IP = zeroAddr }, `endpoint "db": eth0: no address on network "alpha"`},
	{"address outside the subnet", func(s *State) { s.Endpoints[1].NICs[0].IP = addr("10.9.9.9") }, `endpoint "db": eth0: address 10.9.9.9 is not a free host address of 172.18.0.0/16`},
	{"address is the gateway", func(s *State) { s.Endpoints[2].NICs[0].IP = addr("10.1.0.254") }, "address 10.1.0.254 is not a free host address of 10.1.0.0/24"},
	{"address is the network address", func(s *State) { s.Endpoints[1].NICs[0].IP = addr("172.18.0.0") }, "address 172.18.0.0 is not a free host address"},
	{"address is the broadcast address", func(s *State) { s.Endpoints[1].NICs[0].IP = addr("172.18.255.255") }, "address 172.18.255.255 is not a free host address"},
	{"IPv6 address", func(s *State) { s.Endpoints[1].NICs[0].IP = addr("fd00::3") }, "address fd00::3 is not a free host address"},
	{"address used twice", func(s *State) { s.Endpoints[1].NICs[0].IP = addr("172.18.0.2") }, `endpoint "db": eth0: address 172.18.0.2 is endpoint "web"'s too`},
	{"trunk native differs from the network's VLAN", func(s *State) { s.Endpoints[3].NICs[0].Native = 20 }, `endpoint "router1": eth0: native vlan 20 is not network "beta"'s vlan 10`},
	{"trunk on a network without native", func(s *State) { s.Endpoints[3].NICs[0].Native = 0 }, `native vlan 0 is not network "beta"'s vlan 10`},
	{"trunk native out of range", func(s *State) { s.Endpoints[4].NICs[0].Native = 4095 }, `endpoint "tap": eth0: invalid vlan policy`},

	// System ports.
	{"null port", func(s *State) { s.Ports[0] = nil }, "ports[0]: null"},
	{"bad port name", func(s *State) { s.Ports[0].Interface = "veth 0" }, `port "veth 0": invalid name`},
	{"duplicate port", func(s *State) { s.Ports[1].Interface = "veth0" }, `port "veth0": listed twice`},
	{"access port without a VLAN", func(s *State) { s.Ports[1].VLAN = 0 }, `port "veth1": invalid vlan policy: access port needs a vlan`},
	{"access port with VLANs", func(s *State) { s.Ports[1].VLANs = vset("10") }, `port "veth1": --vlans is for trunk ports`},
	{"trunk port with a VLAN", func(s *State) { s.Ports[0].VLAN = 5 }, `port "veth0": invalid vlan policy: trunk port has vlan 5`},
	{"native port without a VLAN", func(s *State) { s.Ports[0].Mode = vlan.NativeUntagged }, "native-untagged port needs a vlan"},
	{"dot1q-tunnel port with VLAN 4095", func(s *State) { s.Ports[2].VLAN = 4095 }, "dot1q-tunnel port needs a vlan in 1-4094, not 4095"},

	// The uplink.
	{"bad uplink interface", func(s *State) { s.Uplink.Interface = "" }, "uplink: invalid name: empty"},
	{"uplink IPv6", func(s *State) { s.Uplink.Address = pfx("2001:db8::2/64") }, "uplink: address 2001:db8::2/64: want an IPv4 prefix of /30 or wider"},
	{"uplink /31", func(s *State) { s.Uplink.Address = pfx("203.0.113.2/31") }, "want an IPv4 prefix of /30 or wider"},
	{"uplink without address", func(s *State) { s.Uplink.Address = zeroPrefix }, "want an IPv4 prefix"},
	{"uplink network address", func(s *State) { s.Uplink.Address = pfx("203.0.113.0/24") }, "uplink: address 203.0.113.0/24 is the network or broadcast address"},
	{"uplink broadcast address", func(s *State) { s.Uplink.Address = pfx("203.0.113.255/24") }, "address 203.0.113.255/24 is the network or broadcast address"},
	{"uplink gateway outside", func(s *State) { s.Uplink.Gateway = addr("198.51.100.1") }, "uplink: gateway 198.51.100.1 is not another address of 203.0.113.0/24"},
	{"uplink gateway is its address", func(s *State) { s.Uplink.Gateway = addr("203.0.113.2") }, "gateway 203.0.113.2 is not another address"},
	{"uplink IPv6 gateway", func(s *State) { s.Uplink.Gateway = addr("fe80::1") }, "gateway fe80::1 is not another address"},
	{"uplink overlapping a network", func(s *State) { s.Uplink.Address, s.Uplink.Gateway = pfx("10.1.0.200/16"), zeroAddr }, `uplink: 10.1.0.0/16 overlaps network "beta" (10.1.0.0/24)`},
	{"uplink inside a network", func(s *State) { s.Uplink.Address, s.Uplink.Gateway = pfx("172.18.200.2/24"), zeroAddr }, `uplink: 172.18.200.0/24 overlaps network "alpha"`},
	{"uplink interface also a system port", func(s *State) { s.Uplink.Interface = "veth1" }, `uplink: interface "veth1" is also a system port`},
}

// validateGaps are states the API would never make, which Validate
// accepts although its doc promises to be as strict as the API: each is
// a bug in Validate, skipped here, saying what is missing.
var validateGaps = []struct {
	name   string
	mutate func(s *State)
	want   string
}{
	{name: "access NIC with VLANs", mutate: func(s *State) { s.Endpoints[1].NICs[0].VLANs = vset("5") }, want: "--vlans and --native need --trunk"},
	{name: "access NIC with a native VLAN", mutate: func(s *State) { s.Endpoints[1].NICs[0].Native = 7 }, want: "--vlans and --native need --trunk"},
	{name: "multicast router MAC", mutate: func(s *State) { s.HostMAC = mac("ff:ff:ff:ff:ff:ff") }, want: "host_leg_mac"},
	{name: "namespace name too long", mutate: func(s *State) {
		s.Endpoints[4].Name = strings.Repeat("t", 60)
		s.Endpoints[4].Netns = testPrefix + s.Endpoints[4].Name
	}, want: "longer than 63"},
	{name: "port published twice", mutate: func(s *State) { s.Endpoints[1].Publish = []Publish{pub("8080:8080")} }, want: "already published"},
	{name: "overlapping published ports", mutate: func(s *State) { s.Endpoints[1].Publish = []Publish{pub("7000-7010:80-90"), pub("7005:80")} }, want: "overlaps"},
}

func TestValidateGaps(t *testing.T) {
	for _, tt := range validateGaps {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			tt.mutate(s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

var (
	zeroAddr   netip.Addr
	zeroPrefix netip.Prefix
)

// TestValidateCorrupt: each corruption of the fixture is refused with a
// clear one-line error, by Validate and by Parse and Load of the state
// file it makes, and never panics.
func TestValidateCorrupt(t *testing.T) {
	for _, tt := range corruptions {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			tt.mutate(s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Validate() = %v, want one line containing %q", err, tt.want)
			}

			b, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("marshal the corrupt state: %v", err)
			}
			if got, err := Parse(b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) = %v, %v; want an error containing %q", b, got, err, tt.want)
			}

			dir := t.TempDir()
			path := filepath.Join(dir, File)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := Load(dir, testPrefix); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load = %v, %v; want an error naming %s and containing %q", got, err, path, tt.want)
			}
		})
	}
}

// TestValidateAccepts: unusual but possible states pass.
func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *State)
	}{
		{"fixture", func(s *State) {}},
		{"empty", func(s *State) { *s = *New(testPrefix) }},
		{"no prefix", func(s *State) {
			s.Prefix = ""
			for _, e := range s.Endpoints {
				if e.Owned() {
					e.Netns = e.Name
				}
			}
		}},
		{"no uplink", func(s *State) { s.Uplink = nil }},
		{"uplink without gateway", func(s *State) { s.Uplink.Gateway = zeroAddr }},
		{"uplink /30", func(s *State) { s.Uplink.Address = pfx("203.0.113.2/30") }},
		{"network ID at the maximum", func(s *State) {
			s.Networks[0].ID, s.Networks[0].MAC = router.MaxNetworkID, GatewayMAC(router.MaxNetworkID)
		}},
		{"VLAN 4094", func(s *State) { s.Networks[0].VLAN = 4094 }},
		{"subnet /30", func(s *State) {
			s.Networks[1].Subnet, s.Networks[1].Gateway = pfx("10.1.0.0/30"), addr("10.1.0.1")
			s.Endpoints[0].NICs[1].IP = addr("10.1.0.2")
			s.Endpoints[2].NICs[0].IP = zeroAddr
			s.Endpoints[2].NICs[0].Trunk, s.Endpoints[2].NICs[0].Native = true, 10
			s.Endpoints[3].NICs[0].IP = zeroAddr
		}},
		{"every run dir", func(s *State) {
			for i, d := range RunDirs {
				s.Endpoints = append(s.Endpoints, &Endpoint{Name: fmt.Sprintf("att%d", i), NetnsPath: d + "/ns", NICs: []*NIC{}})
			}
		}},
		{"removing phase", func(s *State) { s.Endpoints[4].Phase = Removing }},
		{"endpoint without NICs", func(s *State) { s.Endpoints[1].NICs = nil }},
		{"trunk port with native", func(s *State) { s.Ports[0].Mode, s.Ports[0].VLAN = vlan.NativeTagged, 10 }},
		{"port type", func(s *State) { s.Ports[0].Type = "vxlan" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			tt.mutate(s)
			if err := s.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidNetnsPath(t *testing.T) {
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"ip netns", "/run/netns/cni-1", true},
		{"ip netns, old path", "/var/run/netns/x", true},
		{"a process's", "/proc/1234/ns/net", true},
		{"rootless", "/run/user/1000/netns/x", true},
		{"podman", "/run/containers/storage/netns/x", true},
		{"docker", "/var/run/docker/netns/abc", true},
		{"empty", "", false},
		{"root", "/", false},
		{"a run dir itself", "/run/netns", false},
		{"trailing slash", "/run/netns/", false},
		{"dot-dot", "/run/netns/../../etc/shadow", false},
		{"double slash", "/run/netns//x", false},
		{"dot", "/run/netns/./x", false},
		{"relative", "run/netns/x", false},
		{"elsewhere", "/etc/netns/x", false},
		{"a run dir's prefix", "/run/netnsfoo", false},
		{"a run dir deeper", "/tmp/run/netns/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidNetnsPath(tt.path); (err == nil) != tt.ok {
				t.Errorf("ValidNetnsPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
		})
	}
}

func TestValidateAlias(t *testing.T) {
	tests := []struct {
		name, alias string
		ok          bool
	}{
		{"word", "www", true},
		{"dotted", "web.internal", true},
		{"underscore and dash", "a_b-c", true},
		{"longest", strings.Repeat("a", 63), true},
		{"empty", "", false},
		{"scope", "@web", false},
		{"leading dash", "-web", false},
		{"leading dot", ".web", false},
		{"space", "w w", false},
		{"slash", "web/x", false},
		{"too long", strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAlias(tt.alias)
			if (err == nil) != tt.ok || !tt.ok && !checkKind(err, ErrInvalid) {
				t.Errorf("ValidateAlias(%q) = %v, want ok %v (else ErrInvalid)", tt.alias, err, tt.ok)
			}
		})
	}
}
