package lab

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vswitchd/vswitchd/control"
)

// TestCompileVXLAN: a network's vxlan section (VXLAN peers) becomes an
// overlay network spec, with its ip_range and mtu; a bad VNI or peer, or
// no subnet, is refused.
func TestCompileVXLAN(t *testing.T) {
	topo := func(n control.LabNetwork) control.Topology {
		n.Name = "ov"
		return control.Topology{Name: "x", Networks: []control.LabNetwork{n}}
	}
	d, err := Compile(topo(control.LabNetwork{Subnet: "10.200.0.0/24", IPRange: "10.200.0.0/25", MTU: 1400,
		VXLAN: &control.LabVXLAN{VNI: 4242, Peers: []string{"10.99.0.2"}}}))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Networks[0].Spec
	if s.Overlay == nil || s.Overlay.VNI != 4242 || !slices.Equal(s.Overlay.Peers, []netip.Addr{netip.MustParseAddr("10.99.0.2")}) ||
		s.IPRange != netip.MustParsePrefix("10.200.0.0/25") || s.MTU != 1400 {
		t.Errorf("spec %+v overlay %+v", s, s.Overlay)
	}
	for name, n := range map[string]control.LabNetwork{
		"vni 0":     {Subnet: "10.200.0.0/24", VXLAN: &control.LabVXLAN{}},
		"bad peer":  {Subnet: "10.200.0.0/24", VXLAN: &control.LabVXLAN{VNI: 1, Peers: []string{"x"}}},
		"no subnet": {VXLAN: &control.LabVXLAN{VNI: 1}},
	} {
		if _, err := Compile(topo(n)); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}
