package state

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/vlan"
)

// cmpState compares states and what is compiled from them: addresses,
// prefixes and VLAN sets are comparable structs with unexported fields.
var cmpState = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, vlan.Set{})

// testPrefix is the namespace prefix of the fixture.
const testPrefix = "vsw-"

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	addr = netip.MustParseAddr
	pfx  = netip.MustParsePrefix
)

func mac(s string) header.MAC {
	m, err := header.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func vset(s string) vlan.Set {
	v, err := vlan.ParseSet(s)
	if err != nil {
		panic(err)
	}
	return v
}

func pub(s string) Publish {
	p, err := ParsePublish(s)
	if err != nil {
		panic(err)
	}
	return p
}

// fixture returns a fresh, valid state using every feature: two networks
// (listed out of ID order, one with a gateway other than the first
// address), owned and attached endpoints, an endpoint on two networks,
// trunk NICs with and without a network, published ports, system ports
// in three modes and an uplink. fuzz_test.go's validStateJSON is the same
// state as a hand-written state.json.
func fixture() *State {
	return &State{
		Version:   Version,
		Prefix:    testPrefix,
		HostMAC:   mac("02:00:00:00:00:aa"),
		UplinkMAC: mac("02:00:00:00:00:bb"),
		Networks: []*Network{
			{Name: "alpha", ID: 2, VLAN: 100, Subnet: pfx("172.18.0.0/16"), Gateway: addr("172.18.0.1"), MAC: GatewayMAC(2), Created: t0},
			{Name: "beta", ID: 1, VLAN: 10, Subnet: pfx("10.1.0.0/24"), Gateway: addr("10.1.0.254"), MAC: GatewayMAC(1), Internal: true, Created: t0},
		},
		Endpoints: []*Endpoint{
			{
				Name: "web", Netns: "vsw-web", NetnsID: 4026532001, Cmd: []string{"nginx", "-g", "daemon off;"}, Env: []string{"A=1"},
				Publish: []Publish{pub("8080:80"), pub("127.0.0.1:5353:53/udp")}, Created: t0, PID: 42,
				NICs: []*NIC{
					{Interface: "eth0", Network: "alpha", IP: addr("172.18.0.2"), MAC: mac("02:42:ac:12:00:02"), Aliases: []string{"www"}},
					{Interface: "eth1", Network: "beta", IP: addr("10.1.0.2"), MAC: mac("02:42:0a:01:00:02"), Aliases: []string{"api"}},
				},
			},
			{
				Name: "db", Netns: "vsw-db", NetnsID: 4026532002, Remove: true, Created: t0,
				NICs: []*NIC{{Interface: "eth0", Network: "alpha", IP: addr("172.18.0.3"), MAC: mac("02:42:ac:12:00:03")}},
			},
			{
				Name: "pod", NetnsPath: "/run/netns/cni-1234", NetnsID: 4026532004, Created: t0,
				NICs: []*NIC{{Interface: "eth0", Network: "beta", IP: addr("10.1.0.3"), MAC: mac("02:42:0a:01:00:03")}},
			},
			{
				Name: "router1", Netns: "vsw-router1", NetnsID: 4026532003, Created: t0,
				NICs: []*NIC{{Interface: "eth0", Network: "beta", IP: addr("10.1.0.4"), MAC: mac("02:42:0a:01:00:04"),
					Trunk: true, VLANs: vset("10,20"), Native: 10}},
			},
			{
				Name: "tap", Netns: "vsw-tap", Created: t0, Phase: Creating, Publish: []Publish{pub("9000:90")},
				NICs: []*NIC{{Interface: "eth0", MAC: mac("02:aa:bb:cc:dd:ee"), Trunk: true, VLANs: vset("10-20")}},
			},
		},
		Ports: []*SysPort{
			{Interface: "veth0", Mode: vlan.Trunk, VLANs: vset("10-20")},
			{Interface: "veth1", Mode: vlan.Access, VLAN: 10},
			{Interface: "veth2", Mode: vlan.Dot1QTunnel, VLAN: 100, VLANs: vset("10-20")},
		},
		Uplink: &Uplink{Interface: "eth9", Address: pfx("203.0.113.2/24"), Gateway: addr("203.0.113.1")},
	}
}

// checkKind reports whether err matches kind and no other kind; kind nil
// means no error.
func checkKind(err, kind error) bool {
	if kind == nil {
		return err == nil
	}
	for _, k := range []error{ErrInvalid, ErrNotFound, ErrConflict} {
		if errors.Is(err, k) != (k == kind) {
			return false
		}
	}
	return true
}

func TestErrorf(t *testing.T) {
	cause := errors.New("boom")
	for _, kind := range []error{ErrInvalid, ErrNotFound, ErrConflict} {
		t.Run(kind.Error(), func(t *testing.T) {
			err := Errorf(kind, "network %q: %w", "alpha", cause)
			if want := `network "alpha": boom`; err.Error() != want {
				t.Errorf("Errorf(%v).Error() = %q, want %q", kind, err.Error(), want)
			}
			if !errors.Is(err, cause) || !checkKind(err, kind) {
				t.Errorf("Errorf(%v, ...%%w) matches cause %v, kinds exactly %v; want true, true", kind, errors.Is(err, cause), checkKind(err, kind))
			}
		})
	}
}

func TestFixtureValid(t *testing.T) {
	if err := fixture().Validate(); err != nil {
		t.Fatalf("fixture().Validate() = %v, want nil", err)
	}
}

// TestSaveLoad: what Save writes, Load reads back equal; the file is 0600
// in a directory made 0700; a second Save replaces the first.
func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "vswitchd")
	s := fixture()
	if err := s.Save(dir); err != nil {
		t.Fatalf("Save(%s) = %v", dir, err)
	}
	got, err := Load(dir, "ignored-")
	if err != nil {
		t.Fatalf("Load(%s) = %v", dir, err)
	}
	if diff := cmp.Diff(fixture(), got, cmpState); diff != "" {
		t.Errorf("Load after Save (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{{dir, fs.ModeDir | 0o700}, {filepath.Join(dir, File), 0o600}} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Errorf("Lstat(%s) = %v", c.path, err)
		} else if fi.Mode() != c.want {
			t.Errorf("mode of %s = %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, File+".tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save left %s.tmp behind: %v", File, err)
	}

	s.RemoveEndpoint("web")
	s.Uplink = nil
	if err := s.Save(dir); err != nil {
		t.Fatalf("second Save = %v", err)
	}
	got, err = Load(dir, testPrefix)
	if err != nil || got.Endpoint("web") != nil || got.Uplink != nil || len(got.Endpoints) != 4 {
		t.Errorf("Load after a second Save = %d endpoints, web %v, uplink %v, %v; want the second state", len(got.Endpoints), got.Endpoint("web"), got.Uplink, err)
	}

	if err := Remove(dir); err != nil {
		t.Errorf("Remove(%s) = %v", dir, err)
	}
	if err := Remove(dir); err != nil {
		t.Errorf("Remove(%s) again = %v, want nil for a missing file", dir, err)
	}
	if got, err := Load(dir, testPrefix); err != nil || len(got.Networks) != 0 {
		t.Errorf("Load after Remove = %+v, %v; want an empty state", got, err)
	}
}

// TestSaveReplacesCrashLeftover: a plain state.json.tmp left by a crash is
// replaced.
func TestSaveReplacesCrashLeftover(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, File+".tmp"), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fixture().Save(dir); err != nil {
		t.Fatalf("Save over a leftover temporary file = %v", err)
	}
	if _, err := Load(dir, testPrefix); err != nil {
		t.Errorf("Load = %v", err)
	}
}

// TestSaveRefusesSymlink: a symlink planted at state.json.tmp, dangling or
// not, makes Save fail without writing through it or removing it.
func TestSaveRefusesSymlink(t *testing.T) {
	tests := []struct {
		name   string
		target string // created with content "precious" unless dangling
		exists bool
	}{
		{"to a file", "victim", true},
		{"dangling", "created-by-save", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			target := filepath.Join(other, tt.target)
			if tt.exists {
				if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(dir, File+".tmp")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if err := fixture().Save(dir); err == nil {
				t.Errorf("Save with a symlink at %s = nil, want an error", link)
			}
			b, err := os.ReadFile(target)
			switch {
			case tt.exists && (err != nil || string(b) != "precious"):
				t.Errorf("symlink target = %q, %v; want it untouched", b, err)
			case !tt.exists && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("Save created the symlink's target: %q, %v", b, err)
			}
			if dest, err := os.Readlink(link); err != nil || dest != target {
				t.Errorf("symlink at %s = %q, %v; want it left alone", link, dest, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, File)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Save wrote %s although it failed: %v", File, err)
			}
		})
	}
}

// TestLoadRefusesSymlink: Load does not follow a symlink at state.json,
// even to a valid state.
func TestLoadRefusesSymlink(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := fixture().Save(other); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, File)
	if err := os.Symlink(filepath.Join(other, File), path); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, testPrefix)
	if err == nil || !errors.Is(err, syscall.ELOOP) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load with a symlink at %s = %v, %v; want ELOOP naming the file", path, s, err)
	}
}

// TestLoadMissing: no file (or no directory) is an empty state with the
// prefix asked for.
func TestLoadMissing(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "not", "made")} {
		s, err := Load(dir, "p-")
		if err != nil {
			t.Fatalf("Load(%s) = %v", dir, err)
		}
		if diff := cmp.Diff(New("p-"), s, cmpState); diff != "" {
			t.Errorf("Load(%s) (-want +got):\n%s", dir, diff)
		}
	}
}

// TestLoadErrors: a file that is not a state gives one line naming the
// file and what is wrong, and is left alone.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "not valid JSON"},
		{"not JSON", "{", "not valid JSON"},
		{"array", "[]", "not valid JSON"},
		{"null", "null", "version 0"},
		{"trailing garbage", `{"version":1} x`, "not valid JSON"},
		{"no version", `{"netns_prefix":"vsw-"}`, "version 0, this vswitchd reads 1"},
		{"version 2", `{"version":2}`, "version 2, this vswitchd reads 1"},
		{"version as string", `{"version":"1"}`, "not valid JSON"},
		{"unknown field", `{"version":1,"bridges":[]}`, `unknown field "bridges"`},
		{"unknown nested field", `{"version":1,"networks":[{"name":"a","colour":"red"}]}`, `unknown field "colour"`},
		{"wrong type", `{"version":1,"networks":{}}`, "cannot unmarshal"},
		{"bad subnet", `{"version":1,"networks":[{"name":"a","id":1,"vlan":100,"subnet":"10.1.0.0/99","gateway":"10.1.0.1","mac":"02:76:73:00:00:01"}]}`, "10.1.0.0/99"},
		{"bad mac", `{"version":1,"networks":[{"name":"a","mac":"zz:zz"}]}`, "zz:zz"},
		{"bad mode", `{"version":1,"ports":[{"interface":"veth0","mode":"hybrid"}]}`, `"hybrid"`},
		{"bad vlan list", `{"version":1,"ports":[{"interface":"veth0","mode":"trunk","vlans":"1-5000"}]}`, "5000"},
		{"vlan too big", `{"version":1,"networks":[{"name":"a","vlan":70000}]}`, "70000"},
		{"bad publish", `{"version":1,"endpoints":[{"name":"x","publish":["80"]}]}`, `publish "80"`},
		{"impossible state", `{"version":1,"networks":[{"name":"a","id":1,"vlan":0,"subnet":"10.1.0.0/24","gateway":"10.1.0.1","mac":"02:76:73:00:00:01"}]}`, "vlan 0 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, File)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Load(dir, testPrefix)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Load(%s) = %v, %v; want one line naming the file and %q", tt.content, s, err, tt.want)
			}
			if s != nil {
				t.Errorf("Load(%s) returned a state with its error", tt.content)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("Load changed the file to %q", b)
			}
		})
	}
}

// TestLoadTooLarge: a file beyond maxFileSize is refused without parsing.
func TestLoadTooLarge(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxFileSize + 1); err != nil { // sparse: cheap to make
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(dir, testPrefix); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of a %d-byte file = %v, want an error saying it is too large", maxFileSize+1, err)
	}
}

// TestJSONRoundTrip: the fixture marshals to JSON that Parse reads back
// equal, and its field names are those of the file format.
func TestJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(fixture())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(%s) = %v", b, err)
	}
	if diff := cmp.Diff(fixture(), got, cmpState); diff != "" {
		t.Errorf("Parse(Marshal(fixture)) (-want +got):\n%s", diff)
	}
	for _, want := range []string{`"netns_prefix":"vsw-"`, `"host_leg_mac":"02:00:00:00:00:aa"`, `"netns_path":"/run/netns/cni-1234"`,
		`"publish":["8080:80/tcp","127.0.0.1:5353:53/udp"]`, `"vlans":"10-20"`, `"mode":"dot1q-tunnel"`, `"phase":"creating"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Marshal(fixture) lacks %s:\n%s", want, b)
		}
	}
}

// TestClone: changing anything in a clone, however deep, leaves the
// original as it was.
func TestClone(t *testing.T) {
	orig := fixture()
	c := orig.Clone()
	if diff := cmp.Diff(orig, c, cmpState); diff != "" {
		t.Fatalf("Clone() differs from the original (-orig +clone):\n%s", diff)
	}
	c.Prefix = "other-"
	c.HostMAC[0] = 0xfe
	c.Networks[0].Name = "changed"
	c.Networks[1].Subnet = pfx("10.9.0.0/24")
	c.Networks = append(c.Networks, &Network{Name: "new"})
	web := c.Endpoint("web")
	web.Cmd[0] = "changed"
	web.Env[0] = "B=2"
	web.Publish[0].HostPort = 1
	web.NICs[0].IP = addr("172.18.9.9")
	web.NICs[0].Aliases[0] = "changed"
	web.NICs[1].VLANs.Add(99)
	web.NICs = append(web.NICs, &NIC{Interface: "eth9"})
	c.Endpoints[1].Name = "changed"
	c.RemoveEndpoint("pod")
	c.Ports[0].VLANs.Add(99)
	c.Ports[1].VLAN = 99
	c.RemovePort("veth2")
	c.Uplink.Interface = "changed"
	c.Uplink.Address = pfx("198.51.100.2/24")
	c.RemoveNetwork("beta")
	if diff := cmp.Diff(fixture(), orig, cmpState); diff != "" {
		t.Errorf("the original after changing its clone (-want +got):\n%s", diff)
	}

	e := orig.Endpoint("web")
	ec := e.Clone()
	ec.NICs[0].Aliases = append(ec.NICs[0].Aliases[:0], "x")
	ec.Publish = append(ec.Publish[:0], pub("1:1"))
	if diff := cmp.Diff(fixture().Endpoint("web"), e, cmpState); diff != "" {
		t.Errorf("the endpoint after changing its clone (-want +got):\n%s", diff)
	}

	empty := New("p-").Clone()
	if empty.Uplink != nil || len(empty.Networks)+len(empty.Endpoints)+len(empty.Ports) != 0 || empty.Prefix != "p-" {
		t.Errorf("New(\"p-\").Clone() = %+v, want an empty state with prefix p-", empty)
	}
}

// TestLookups covers the finders and removers.
func TestLookups(t *testing.T) {
	s := fixture()
	tests := []struct {
		name string
		got  bool
	}{
		{"Network(beta)", s.Network("beta") == s.Networks[1]},
		{"Network(gamma)", s.Network("gamma") == nil},
		{"Endpoint(pod)", s.Endpoint("pod") == s.Endpoints[2]},
		{"Endpoint(nope)", s.Endpoint("nope") == nil},
		{"Port(veth1)", s.Port("veth1") == s.Ports[1]},
		{"Port(eth9)", s.Port("eth9") == nil},
		{"NIC(beta)", s.Endpoints[0].NIC("beta") == s.Endpoints[0].NICs[1]},
		{"NIC(gamma)", s.Endpoints[0].NIC("gamma") == nil},
		{"Interface(eth1)", s.Endpoints[0].Interface("eth1") == s.Endpoints[0].NICs[1]},
		{"Interface(eth2)", s.Endpoints[0].Interface("eth2") == nil},
		{"Owned(web)", s.Endpoints[0].Owned()},
		{"!Owned(pod)", !s.Endpoints[2].Owned()},
		{"PortType default", s.Ports[0].PortType() == "system"},
		{"PortType set", (&SysPort{Type: "vxlan"}).PortType() == "vxlan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.got {
				t.Errorf("%s is wrong", tt.name)
			}
		})
	}

	attached := func(network string) []string {
		var names []string
		for _, e := range s.Attached(network) {
			names = append(names, e.Name)
		}
		return names
	}
	for network, want := range map[string][]string{"alpha": {"web", "db"}, "beta": {"web", "pod", "router1"}, "gamma": nil} {
		if diff := cmp.Diff(want, attached(network)); diff != "" {
			t.Errorf("Attached(%s) (-want +got):\n%s", network, diff)
		}
	}

	for _, tt := range []struct {
		endpoint, wantNIC, wantNet string
	}{
		{"web", "eth0", "alpha"}, {"pod", "eth0", "beta"}, {"router1", "eth0", "beta"}, {"tap", "", ""},
	} {
		nic, n := s.Primary(s.Endpoint(tt.endpoint))
		var gotNIC, gotNet string
		if nic != nil {
			gotNIC = nic.Interface
		}
		if n != nil {
			gotNet = n.Name
		}
		if gotNIC != tt.wantNIC || gotNet != tt.wantNet {
			t.Errorf("Primary(%s) = %q on %q, want %q on %q", tt.endpoint, gotNIC, gotNet, tt.wantNIC, tt.wantNet)
		}
	}

	if diff := cmp.Diff([]netip.Prefix{pfx("172.18.0.0/16"), pfx("10.1.0.0/24"), pfx("203.0.113.0/24")}, s.Subnets(), cmpState); diff != "" {
		t.Errorf("Subnets() (-want +got):\n%s", diff)
	}

	s.RemoveNetwork("alpha")
	s.RemoveEndpoint("db")
	s.RemovePort("veth0")
	if s.Network("alpha") != nil || s.Endpoint("db") != nil || s.Port("veth0") != nil || len(s.Networks) != 1 || len(s.Endpoints) != 4 || len(s.Ports) != 2 {
		t.Errorf("after removals: %d networks, %d endpoints, %d ports; want 1, 4, 2", len(s.Networks), len(s.Endpoints), len(s.Ports))
	}
}

// TestMACs: gateway MACs come from the network ID, endpoint MACs from the
// address, random MACs are unicast and locally administered.
func TestMACs(t *testing.T) {
	tests := []struct {
		name      string
		got, want header.MAC
	}{
		{"GatewayMAC(1)", GatewayMAC(1), mac("02:76:73:00:00:01")},
		{"GatewayMAC(0x1234)", GatewayMAC(0x1234), mac("02:76:73:00:12:34")},
		{"EndpointMAC(172.18.0.2)", EndpointMAC(addr("172.18.0.2")), mac("02:42:ac:12:00:02")},
		{"EndpointMAC(10.255.1.254)", EndpointMAC(addr("10.255.1.254")), mac("02:42:0a:ff:01:fe")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
			}
		})
	}
	seen := map[header.MAC]bool{}
	for range 100 {
		m := RandomMAC()
		if m.IsMulticast() || m[0]&2 == 0 || m.IsZero() {
			t.Fatalf("RandomMAC() = %v, want unicast and locally administered", m)
		}
		seen[m] = true
	}
	if len(seen) < 99 {
		t.Errorf("100 RandomMAC() calls gave %d distinct MACs", len(seen))
	}
}
