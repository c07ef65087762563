package server

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// TestAppendConn: the streamed encoding of a connection is byte for byte
// what encoding/json makes of the control.Conn it describes, and it
// allocates nothing.
func TestAppendConn(t *testing.T) {
	a := netip.MustParseAddr
	tcp := daemon.ConnInfo{Entry: nat.Entry{
		Zone: 1, ReplyZone: 65521, Proto: header.ProtoTCP, State: nat.TCPEstablished, Timeout: 432000 * time.Second, Assured: true,
		Original: nat.Tuple{Proto: header.ProtoTCP, Src: a("172.18.0.2"), Dst: a("203.0.113.9"), SrcPort: 40000, DstPort: 443},
		Reply:    nat.Tuple{Proto: header.ProtoTCP, Src: a("203.0.113.9"), Dst: a("198.51.100.7"), SrcPort: 443, DstPort: 40000},
		Packets:  [2]uint64{6, 4}, Bytes: [2]uint64{600, 400},
		Window: [2]nat.TCPWindow{{End: 1, MaxEnd: 2, MaxWin: 3, MaxAck: 4, Scale: 7}, {End: 4294967295, MaxEnd: 5, MaxWin: 6, MaxAck: 7}},
	}, ZoneName: "alpha", ReplyZoneName: "uplink"}
	udp := daemon.ConnInfo{Entry: nat.Entry{
		Zone: 2, ReplyZone: 65521, Proto: header.ProtoUDP, Timeout: 29500 * time.Millisecond,
		Original: nat.Tuple{Proto: header.ProtoUDP, Src: a("172.19.0.2"), Dst: a("192.0.2.53"), SrcPort: 5000, DstPort: 53},
		Reply:    nat.Tuple{Proto: header.ProtoUDP, Src: a("192.0.2.53"), Dst: a("198.51.100.7"), SrcPort: 53, DstPort: 5000},
	}, ZoneName: `we"ird\name<`, ReplyZoneName: "zone-9"}
	for _, tt := range []struct {
		in   daemon.ConnInfo
		want control.Conn
	}{
		{tcp, control.Conn{Proto: "tcp", State: "ESTABLISHED", Timeout: 432000, Zone: "alpha", ZoneID: 1, ReplyZone: "uplink", ReplyZoneID: 65521,
			Orig:    control.Tuple{Src: "172.18.0.2", Dst: "203.0.113.9", SrcPort: 40000, DstPort: 443},
			Reply:   control.Tuple{Src: "203.0.113.9", Dst: "198.51.100.7", SrcPort: 443, DstPort: 40000},
			Assured: true, Packets: 10, Bytes: 1000,
			Windows: []control.TCPWindow{{End: 1, MaxEnd: 2, MaxWin: 3, MaxAck: 4, Scale: 7}, {End: 4294967295, MaxEnd: 5, MaxWin: 6, MaxAck: 7}}}},
		{udp, control.Conn{Proto: "udp", Timeout: 29, Zone: `we"ird\name<`, ZoneID: 2, ReplyZone: "zone-9", ReplyZoneID: 65521,
			Orig:    control.Tuple{Src: "172.19.0.2", Dst: "192.0.2.53", SrcPort: 5000, DstPort: 53},
			Reply:   control.Tuple{Src: "192.0.2.53", Dst: "198.51.100.7", SrcPort: 53, DstPort: 5000},
			Windows: []control.TCPWindow{}}},
	} {
		want, err := json.Marshal(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendConn(nil, &tt.in); string(got) != string(want) {
			t.Errorf("appendConn =\n%s\nwant\n%s", got, want)
		}
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = appendConn(buf[:0], &tcp) }); n != 0 {
		t.Errorf("appendConn allocates %v times, want 0", n)
	}
}
