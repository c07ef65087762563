package state

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/header"
)

// overlaySpec is a valid overlay network request.
func overlaySpec() NetworkSpec {
	return NetworkSpec{Name: "ov", Subnet: pfx("10.50.0.0/24"), IPRange: pfx("10.50.0.64/26"), MTU: 1450,
		Overlay: &Overlay{VNI: 42, Peers: []netip.Addr{addr("10.99.0.2"), addr("10.99.0.3")}}}
}

// TestNewOverlayNetwork checks overlay requests: the gateway MAC derived
// from the VNI (the same on every host), port 4789 by default, and bad
// input refused with one line, as the API shows it.
func TestNewOverlayNetwork(t *testing.T) {
	s := fixture()
	n, err := s.NewNetwork(overlaySpec(), nil, leg, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := &Network{Name: "ov", ID: 3, VLAN: 101, Subnet: pfx("10.50.0.0/24"), Gateway: addr("10.50.0.1"),
		MAC: mac("02:76:78:00:00:2a"), Created: t0, MTU: 1450, IPRange: pfx("10.50.0.64/26"),
		Overlay: &Overlay{VNI: 42, Peers: []netip.Addr{addr("10.99.0.2"), addr("10.99.0.3")}, Port: header.VXLANPort}}
	if diff := cmp.Diff(want, n, cmpState); diff != "" {
		t.Errorf("NewNetwork (-want +got):\n%s", diff)
	}
	s.Networks = append(s.Networks, n)
	checkAdopted(t, "NewNetwork", s)

	for _, c := range []struct {
		name     string
		edit     func(*NetworkSpec)
		wantKind error
		wantMsg  string
	}{
		{"VNI 0", func(sp *NetworkSpec) { sp.Name, sp.Overlay.VNI = "x", 0 }, ErrInvalid, "vni 0 out of range 1-16777215"},
		{"VNI too big", func(sp *NetworkSpec) { sp.Name, sp.Overlay.VNI = "x", 1<<24 }, ErrInvalid, "vni 16777216 out of range 1-16777215"},
		{"VNI taken", func(sp *NetworkSpec) { sp.Name, sp.Subnet, sp.IPRange = "x", pfx("10.51.0.0/24"), netip.Prefix{} }, ErrConflict, `vni 42 is used by network "ov"`},
		{"no subnet", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.Overlay.VNI = "x", netip.Prefix{}, netip.Prefix{}, 7
		}, ErrInvalid, "an overlay network needs --subnet"},
		{"range outside", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.Overlay.VNI, sp.IPRange = "x", pfx("10.51.0.0/24"), 7, pfx("10.52.0.0/26")
		}, ErrInvalid, "ip-range 10.52.0.0/26 is not inside subnet 10.51.0.0/24"},
		{"range wider", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.Overlay.VNI, sp.IPRange = "x", pfx("10.51.0.0/24"), 7, pfx("10.51.0.0/16")
		}, ErrInvalid, "is not inside subnet"},
		{"range host bits", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.Overlay.VNI, sp.IPRange = "x", pfx("10.51.0.0/24"), 7, pfx("10.51.0.65/26")
		}, ErrInvalid, "not a canonical IPv4 prefix"},
		{"multicast peer", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.Overlay.VNI, sp.Overlay.Peers = "x", pfx("10.51.0.0/24"), netip.Prefix{}, 7, []netip.Addr{addr("239.1.1.1")}
		}, ErrInvalid, "peer 239.1.1.1: not a unicast address"},
		{"peer twice", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.Overlay.VNI, sp.Overlay.Peers = "x", pfx("10.51.0.0/24"), netip.Prefix{}, 7, []netip.Addr{addr("10.99.0.2"), addr("10.99.0.2")}
		}, ErrInvalid, "peer 10.99.0.2 listed twice"},
		{"mixed families", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.Overlay.VNI, sp.Overlay.Peers = "x", pfx("10.51.0.0/24"), netip.Prefix{}, 7, []netip.Addr{addr("10.99.0.2"), addr("fd00::2")}
		}, ErrInvalid, "not of the other peers' family"},
		{"peer of another family than local", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.Overlay.VNI, sp.Overlay.Local = "x", pfx("10.51.0.0/24"), netip.Prefix{}, 7, addr("fd00::1")
		}, ErrInvalid, "not of the local address fd00::1's family"},
		{"MTU too small", func(sp *NetworkSpec) {
			sp.Name, sp.Subnet, sp.IPRange, sp.MTU = "x", pfx("10.51.0.0/24"), netip.Prefix{}, 500
		}, ErrInvalid, "mtu 500 out of range 576-65535"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := overlaySpec()
			sp.Overlay = sp.Overlay.Clone()
			c.edit(&sp)
			_, err := s.NewNetwork(sp, nil, leg, t0)
			checkPlan(t, "NewNetwork", err, c.wantKind, c.wantMsg)
		})
	}
}

// TestIPRange checks that automatic addresses come from the network's IP
// range, skipping avoided ones, while --ip may name any address of the
// subnet; and that two hosts with disjoint ranges never collide.
func TestIPRange(t *testing.T) {
	s := New(testPrefix)
	n, err := s.NewNetwork(overlaySpec(), nil, leg, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Networks = append(s.Networks, n)
	var got []netip.Addr
	for i, spec := range []EndpointSpec{
		{Name: "a"},
		{Name: "b", Avoid: []netip.Addr{addr("10.50.0.65"), addr("10.50.0.66"), addr("192.0.2.1")}},
		{Name: "c", IP: addr("10.50.0.5")},
		{Name: "d"},
	} {
		spec.Network = "ov"
		e, err := s.NewEndpoint(spec, t0)
		if err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
		s.Endpoints = append(s.Endpoints, e)
		got = append(got, e.NICs[0].IP)
	}
	want := []netip.Addr{addr("10.50.0.64"), addr("10.50.0.67"), addr("10.50.0.5"), addr("10.50.0.65")}
	if !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v", got, want)
	}
	checkAdopted(t, "NewEndpoint", s)
	// The range runs out.
	small := overlaySpec()
	small.Name, small.Subnet, small.IPRange, small.Overlay = "tiny", pfx("10.60.0.0/24"), pfx("10.60.0.252/30"), nil
	n, err = s.NewNetwork(small, nil, leg, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Networks = append(s.Networks, n)
	var errMsg string
	for i := range 5 {
		e, err := s.NewEndpoint(EndpointSpec{Name: "t" + string(rune('0'+i)), Network: "tiny"}, t0)
		if err != nil {
			errMsg = err.Error()
			break
		}
		s.Endpoints = append(s.Endpoints, e)
	}
	if n := len(s.Attached("tiny")); n != 3 || !strings.Contains(errMsg, "no free address in ip-range 10.60.0.252/30") {
		t.Errorf("ip-range 10.60.0.252/30 gave %d addresses, then %q; want 3 (.252-.254), then no free address", n, errMsg)
	}
}

// TestPeers checks WithPeer and WithoutPeer.
func TestPeers(t *testing.T) {
	s := New(testPrefix)
	n, err := s.NewNetwork(overlaySpec(), nil, leg, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Networks = append(s.Networks, n)
	m, err := s.WithPeer(n, addr("10.99.0.4"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Overlay.Peers, []netip.Addr{addr("10.99.0.2"), addr("10.99.0.3"), addr("10.99.0.4")}) || len(n.Overlay.Peers) != 2 {
		t.Errorf("WithPeer: %v (original %v)", m.Overlay.Peers, n.Overlay.Peers)
	}
	checkAdopted(t, "WithPeer", s.ReplaceNetwork(m))
	for _, c := range []struct {
		peer     string
		wantKind error
		wantMsg  string
	}{
		{"10.99.0.2", ErrConflict, "already a peer"},
		{"0.0.0.0", ErrInvalid, "not a unicast address"},
		{"fd00::9", ErrInvalid, "not of the other peers' family"},
	} {
		_, err := s.WithPeer(n, addr(c.peer))
		checkPlan(t, "WithPeer "+c.peer, err, c.wantKind, c.wantMsg)
	}
	m, err = s.WithoutPeer(n, addr("10.99.0.2"))
	if err != nil || !slices.Equal(m.Overlay.Peers, []netip.Addr{addr("10.99.0.3")}) {
		t.Errorf("WithoutPeer: %v, %v", m, err)
	}
	_, err = s.WithoutPeer(n, addr("10.99.0.9"))
	checkPlan(t, "WithoutPeer", err, ErrNotFound, "10.99.0.9 is not a peer")
	plain := &Network{Name: "plain"}
	_, err = s.WithPeer(plain, addr("10.99.0.4"))
	checkPlan(t, "WithPeer on a plain network", err, ErrInvalid, "not an overlay network")
}

// TestStaticRemotes checks static remote entries: validation, their
// place in the state file, and that they go with their network.
func TestStaticRemotes(t *testing.T) {
	s := fixture()
	n, err := s.NewNetwork(overlaySpec(), nil, leg, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Networks = append(s.Networks, n)
	r, err := s.NewStaticRemote("ov", mac("02:42:0a:32:00:99"), addr("10.99.0.7"))
	if err != nil {
		t.Fatal(err)
	}
	s.StaticRemotes = append(s.StaticRemotes, r)
	checkAdopted(t, "NewStaticRemote", s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back, cmpState); diff != "" {
		t.Errorf("state through JSON (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		name, network, mac, vtep string
		wantKind                 error
		wantMsg                  string
	}{
		{"no network", "nosuch", "02:00:00:00:00:01", "10.99.0.7", ErrNotFound, `network "nosuch" not found`},
		{"plain network", "alpha", "02:00:00:00:00:01", "10.99.0.7", ErrInvalid, "not an overlay network"},
		{"group MAC", "ov", "01:00:5e:00:00:01", "10.99.0.7", ErrInvalid, "needs a unicast address"},
		{"gateway MAC", "ov", "02:76:78:00:00:2a", "10.99.0.7", ErrConflict, "gateway"},
		{"local endpoint's MAC", "ov", "02:42:ac:12:00:02", "10.99.0.7", ErrConflict, "endpoint web's eth0"},
		{"bad VTEP", "ov", "02:00:00:00:00:01", "224.0.0.1", ErrInvalid, "not a unicast address"},
	} {
		_, err := s.NewStaticRemote(c.network, mac(c.mac), addr(c.vtep))
		checkPlan(t, "NewStaticRemote "+c.name, err, c.wantKind, c.wantMsg)
	}
	s.RemoveNetwork("ov")
	if len(s.StaticRemotes) != 0 {
		t.Errorf("static remotes after network rm: %v", s.StaticRemotes)
	}
}

// TestValidateOverlay checks what Validate refuses in overlay networks.
func TestValidateOverlay(t *testing.T) {
	base := func() *State {
		s := fixture()
		n, err := s.NewNetwork(overlaySpec(), nil, leg, t0)
		if err != nil {
			t.Fatal(err)
		}
		s.Networks = append(s.Networks, n)
		return s
	}
	for _, c := range []struct {
		name   string
		mutate func(s *State)
		want   string
	}{
		{"MAC not from the VNI", func(s *State) { s.Networks[2].MAC = GatewayMAC(3) }, "derived from vni 42"},
		{"VNI twice", func(s *State) {
			o := *s.Networks[2]
			o.Name, o.ID, o.VLAN, o.Subnet, o.Gateway, o.IPRange = "ov2", 4, 102, pfx("10.51.0.0/24"), addr("10.51.0.1"), netip.Prefix{}
			s.Networks = append(s.Networks, &o)
		}, "vni 42 is network \"ov\"'s too"},
		{"port 0", func(s *State) { s.Networks[2].Overlay.Port = 0 }, "vxlan port 0"},
		{"range outside", func(s *State) { s.Networks[2].IPRange = pfx("10.9.0.0/26") }, "not inside subnet"},
		{"MTU", func(s *State) { s.Networks[2].MTU = 70000 }, "mtu 70000 out of range"},
		{"static remote on a plain network", func(s *State) {
			s.StaticRemotes = append(s.StaticRemotes, StaticRemote{Network: "alpha", MAC: mac("02:00:00:00:00:01"), VTEP: addr("10.99.0.9")})
		}, "not an overlay network"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.mutate(s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() = %v, want one line containing %q", err, c.want)
			}
		})
	}
	// The router gets the MTU.
	s := base()
	for _, rn := range s.RouterConfig(Runtime{}).Networks {
		if want := map[string]int{"ov": 1450}[rn.Name]; rn.MTU != want {
			t.Errorf("router network %s MTU %d, want %d", rn.Name, rn.MTU, want)
		}
	}
}
