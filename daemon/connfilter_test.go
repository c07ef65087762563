package daemon

import (
	"net/netip"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// TestConnFilter: each field of a conntrack filter, as conntrack -L's
// options: addresses and ports match either tuple, the state only TCP,
// the zone either zone's name.
func TestConnFilter(t *testing.T) {
	a := netip.MustParseAddr
	c := ConnInfo{
		Entry: nat.Entry{Proto: header.ProtoTCP, State: nat.TCPEstablished,
			Original: nat.Tuple{Src: a("172.18.0.2"), Dst: a("203.0.113.9"), SrcPort: 40000, DstPort: 443},
			Reply:    nat.Tuple{Src: a("203.0.113.9"), Dst: a("198.51.100.7"), SrcPort: 443, DstPort: 40000}},
		ZoneName: "alpha", ReplyZoneName: "uplink",
	}
	udp := c
	udp.Proto, udp.State = header.ProtoUDP, nat.TCPNone
	for _, tt := range []struct {
		name string
		f    ConnFilter
		conn ConnInfo
		want bool
	}{
		{"nothing", ConnFilter{}, c, true},
		{"proto", ConnFilter{Proto: header.ProtoTCP}, c, true},
		{"other proto", ConnFilter{Proto: header.ProtoUDP}, c, false},
		{"original source", ConnFilter{Src: a("172.18.0.2")}, c, true},
		{"reply source", ConnFilter{Src: a("203.0.113.9")}, c, true},
		{"no such source", ConnFilter{Src: a("10.0.0.1")}, c, false},
		{"reply destination (masquerade address)", ConnFilter{Dst: a("198.51.100.7")}, c, true},
		{"port", ConnFilter{Port: 443}, c, true},
		{"other port", ConnFilter{Port: 80}, c, false},
		{"state", ConnFilter{State: nat.TCPEstablished, HasState: true}, c, true},
		{"other state", ConnFilter{State: nat.TCPSynSent, HasState: true}, c, false},
		{"state of udp", ConnFilter{State: nat.TCPNone, HasState: true}, udp, false},
		{"zone", ConnFilter{Zone: "alpha"}, c, true},
		{"reply zone", ConnFilter{Zone: "uplink"}, c, true},
		{"other zone", ConnFilter{Zone: "beta"}, c, false},
		{"all together", ConnFilter{Proto: header.ProtoTCP, Src: a("172.18.0.2"), Port: 40000, Zone: "alpha", State: nat.TCPEstablished, HasState: true}, c, true},
	} {
		if got := tt.f.match(tt.conn); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
