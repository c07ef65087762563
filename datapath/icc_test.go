package datapath

import "testing"

// TestIsolatedPorts: isolated ports (a network with icc=false) exchange no
// frames, unicast or flooded, and the drop is counted as icc; they still
// reach a port that is not isolated (a trunk toward the outside), which
// reaches them.
func TestIsolatedPorts(t *testing.T) {
	s := newSwitch(t)
	add := func(name string, isolated bool) {
		s.add(name, access(10), nil)
		cfg := PortConfig{Name: name, Kind: KindMem, VLAN: access(10), Isolated: isolated}
		if err := s.dp.SetPortConfig(s.ids[name], cfg); err != nil {
			t.Fatal(err)
		}
	}
	add("a", true)
	add("b", true)
	add("up", false)

	// A broadcast from a floods to up only.
	s.ports["a"].Inject(udpFrame(t, macA, bcast, 0, 10))
	s.expect("up")
	s.expectNone("b")
	// up answers, learning C; b learns its own MAC by a broadcast.
	s.ports["up"].Inject(udpFrame(t, macC, bcast, 0, 10))
	s.expect("a")
	s.expect("b")
	s.ports["b"].Inject(udpFrame(t, macB, macC, 0, 10))
	s.expect("up")
	// a → b, unicast to a known MAC: dropped.
	s.ports["a"].Inject(udpFrame(t, macA, macB, 0, 10))
	s.expectNone("b")
	eventuallyDrop(t, s, "a", DropICC)
	// up → b is fine.
	s.ports["up"].Inject(udpFrame(t, macC, macB, 0, 10))
	s.expect("b")
	if DropICC.String() != "icc" {
		t.Errorf("DropICC = %q, want icc", DropICC)
	}
}
