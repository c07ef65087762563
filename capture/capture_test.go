package capture

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/port"
)

var (
	macA = header.MAC{0x02, 0x42, 0xac, 0x12, 0, 2}
	macB = header.MAC{0x02, 0x76, 0x73, 0, 0, 1}
	t0   = time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
)

func tcpFrame(t *testing.T) []byte {
	return testframe.IPv4{Eth: testframe.Eth{Src: macA, Dst: macB},
		Src: netip.MustParseAddrPort("172.18.0.2:40000"), Dst: netip.MustParseAddrPort("169.254.127.1:80"),
		Proto: header.ProtoTCP, TCP: testframe.TCP{Flags: header.TCPFlagSYN, Seq: 7}}.Frame(t)
}

// TestPcapng: one interface block per port with its name, packets on the
// right interface with their direction, real length and time, a comment
// on offloaded frames, and the drops in the first interface's statistics.
func TestPcapng(t *testing.T) {
	ifaces := []Interface{{Port: 3, Name: "web/eth0", Description: "tap of endpoint web"}, {Port: port.Router, Name: "router"}}
	var buf bytes.Buffer
	w, err := NewPcapng(&buf, ifaces, 0, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	f := tcpFrame(t)
	gso := [header.VirtioNetLen]byte{}
	header.VirtioNet(gso[:]).Encode(&header.VirtioNetFields{GSOType: header.VirtioNetGSOTCPv4, GSOSize: 1448, HdrLen: 54})
	records := []*datapath.Record{
		{Port: 3, Dir: datapath.In, Time: t0, Len: len(f), Data: f},
		{Port: port.Router, Dir: datapath.Out, Time: t0.Add(time.Millisecond), Len: 65000, Data: f, Virtio: gso},
		{Port: 99, Dir: datapath.In, Time: t0, Len: len(f), Data: f}, // no block: skipped
	}
	for _, r := range records {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(4); err != nil {
		t.Fatal(err)
	}

	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	type pkt struct {
		iface   int
		dir     pcapgo.NgEpbFlag
		length  int
		time    time.Time
		comment string
	}
	var got []pkt
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		if !bytes.Equal(data, f) {
			t.Errorf("packet data %x, want %x", data, f)
		}
		p := pkt{iface: ci.InterfaceIndex, length: ci.Length, time: ci.Timestamp.UTC(), comment: strings.Join(opts.Comments, "|")}
		if opts.Flags != nil {
			p.dir = opts.Flags.Direction
		}
		got = append(got, p)
	}
	want := []pkt{
		{0, pcapgo.NgEpbFlagDirectionInbound, len(f), t0, ""},
		{1, pcapgo.NgEpbFlagDirectionOutbound, 65000, t0.Add(time.Millisecond), "offloaded super-frame: TCPv4 segmentation, 1448-byte segments"},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d packets %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := r.NInterfaces(); n != 2 {
		t.Fatalf("%d interfaces, want 2", n)
	}
	for i, it := range ifaces {
		got, _ := r.Interface(i)
		if got.Name != it.Name || got.Filter != "tcp" {
			t.Errorf("interface %d = %q filter %q, want %q filter tcp", i, got.Name, got.Filter, it.Name)
		}
	}
	if _, err := NewPcapng(&buf, nil, 0, ""); err == nil {
		t.Error("NewPcapng without interfaces succeeded")
	}
}

// TestSummary: one line with time, port, direction and the headers, as
// tcpdump prints them.
func TestSummary(t *testing.T) {
	f := tcpFrame(t)
	got := Summary(&datapath.Record{Port: 3, Dir: datapath.Out, Time: t0, Len: len(f), Data: f}, "web/eth0")
	want := "10:00:00.123456 web/eth0 out 02:42:ac:12:00:02 > 02:76:73:00:00:01, IP 172.18.0.2 > 169.254.127.1 ttl 64, TCP 40000 > 80 [S] seq 7, length 60"
	if got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	arp := testframe.ARPRequest(macA, netip.MustParseAddr("172.18.0.2"), netip.MustParseAddr("172.18.0.1")).Frame(t)
	got = Summary(&datapath.Record{Port: 3, Dir: datapath.In, Time: t0, Len: len(arp), Data: arp}, "web/eth0")
	if !strings.Contains(got, "ARP who-has 172.18.0.1 tell 172.18.0.2") || !strings.Contains(got, " in ") {
		t.Errorf("Summary of an ARP request = %q", got)
	}
}
