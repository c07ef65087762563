package ipam

import (
	"net/netip"
	"testing"
)

func TestFreeSubnet(t *testing.T) {
	tests := []struct {
		name string
		used []string
		want string
	}{
		{"empty", nil, "172.17.0.0/16"},
		{"first taken", []string{"172.17.0.0/16"}, "172.18.0.0/16"},
		{"host route inside", []string{"172.17.5.0/24", "172.18.0.0/16"}, "172.19.0.0/16"},
		{"wide route", []string{"172.16.0.0/12"}, "192.168.0.0/20"},
		{"192.168 partly used", []string{"172.16.0.0/12", "192.168.0.0/20", "192.168.16.1/32"}, "192.168.32.0/20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var used []netip.Prefix
			for _, u := range tt.used {
				used = append(used, netip.MustParsePrefix(u))
			}
			got, err := FreeSubnet(DefaultPools, used)
			if err != nil || got.String() != tt.want {
				t.Fatalf("FreeSubnet(%v) = %v, %v; want %s", tt.used, got, err, tt.want)
			}
		})
	}
	if _, err := FreeSubnet(DefaultPools, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}); err != ErrNoSubnet {
		t.Fatalf("FreeSubnet(everything used) err = %v, want ErrNoSubnet", err)
	}
}

func TestParseSubnet(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0", "10.0.0.1/24", "fd00::/64", "10.0.0.0/31", "banana/8", "10.0.0.0/33"} {
		if _, err := ParseSubnet(bad); err == nil {
			t.Errorf("ParseSubnet(%q) succeeded, want an error", bad)
		}
	}
	if p, err := ParseSubnet("10.1.0.0/24"); err != nil || p.String() != "10.1.0.0/24" {
		t.Errorf("ParseSubnet(10.1.0.0/24) = %v, %v", p, err)
	}
}

func TestSubnetAllocate(t *testing.T) {
	s, err := NewSubnet(netip.MustParsePrefix("10.0.0.0/29"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Gateway().String(); g != "10.0.0.1" {
		t.Fatalf("gateway = %s, want 10.0.0.1", g)
	}
	if err := s.Reserve(netip.MustParseAddr("10.0.0.4")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		a, err := s.Allocate()
		if err != nil {
			break
		}
		got = append(got, a.String())
	}
	want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.6"}
	if len(got) != len(want) {
		t.Fatalf("allocated %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	s.Release(netip.MustParseAddr("10.0.0.3"))
	if a, _ := s.Allocate(); a.String() != "10.0.0.3" {
		t.Fatalf("after release Allocate = %s, want 10.0.0.3", a)
	}
}

func TestReserveErrors(t *testing.T) {
	s, _ := NewSubnet(netip.MustParsePrefix("10.0.0.0/24"), netip.MustParseAddr("10.0.0.254"))
	for _, a := range []string{"10.0.1.5", "10.0.0.0", "10.0.0.255", "10.0.0.254"} {
		if err := s.Reserve(netip.MustParseAddr(a)); err == nil {
			t.Errorf("Reserve(%s) succeeded, want an error", a)
		}
	}
	if _, err := NewSubnet(netip.MustParsePrefix("10.0.0.0/24"), netip.MustParseAddr("10.0.1.1")); err == nil {
		t.Error("NewSubnet with a gateway outside the subnet succeeded")
	}
}

// FuzzParseSubnet: no panic; an accepted subnet is canonical IPv4 with room
// for a gateway and an endpoint, and NewSubnet accepts it.
func FuzzParseSubnet(f *testing.F) {
	for _, s := range []string{"10.1.0.0/24", "172.17.0.0/16", "192.168.0.0/30", "10.0.0.1/24", "fd00::/64", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSubnet(s)
		if err != nil {
			return
		}
		if !p.Addr().Is4() || p.Masked() != p || p.Bits() > 30 {
			t.Fatalf("ParseSubnet(%q) = %v", s, p)
		}
		sub, err := NewSubnet(p, netip.Addr{})
		if err != nil {
			t.Fatalf("NewSubnet(%v): %v", p, err)
		}
		if a, err := sub.Allocate(); err != nil || !p.Contains(a) || a == sub.Gateway() {
			t.Fatalf("Allocate in %v = %v, %v", p, a, err)
		}
	})
}
