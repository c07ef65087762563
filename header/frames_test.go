package header_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
)

// Addresses shared by the tests.
var (
	macA = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}

	ip4A = netip.MustParseAddr("10.0.0.1")
	ip4B = netip.MustParseAddr("192.168.77.2")
	ip6A = netip.MustParseAddr("fd00:1::1")
	ip6B = netip.MustParseAddr("2001:db8:dead:beef::42")
)

func nip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// l2 is the link layer of the golden frames: macA to macB, tagged with tags.
func l2(tags ...testframe.Tag) testframe.Eth {
	return testframe.Eth{Src: macA, Dst: macB, Tags: tags}
}

// ip4 and ip6 describe the golden frames' IPv4 and IPv6 packets: from A to
// B, from port sport to dport for TCP and UDP.
func ip4(proto uint8, sport, dport uint16) testframe.IPv4 {
	return testframe.IPv4{Eth: l2(), Src: netip.AddrPortFrom(ip4A, sport), Dst: netip.AddrPortFrom(ip4B, dport),
		Proto: proto, TOS: 0x10, ID: 0x1234, DF: true, TTL: 64}
}

func ip6(proto uint8, sport, dport uint16) testframe.IPv6 {
	return testframe.IPv6{Eth: l2(), Src: netip.AddrPortFrom(ip6A, sport), Dst: netip.AddrPortFrom(ip6B, dport),
		Proto: proto, TrafficClass: 0xb8, FlowLabel: 0x12345, HopLimit: 63}
}

// Golden frames used by the allocation test, the benchmarks and the fuzz
// seed corpus.

func frameARP(tb testing.TB) []byte {
	return testframe.ARPRequest(macA, ip4A, ip4B).Frame(tb)
}

func frameTCP4(tb testing.TB) []byte {
	f := ip4(header.ProtoTCP, 40000, 443)
	f.TCP = testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH, Seq: 1000, Ack: 2000, Window: 502,
		Options: testframe.TSOptions()}
	f.Payload = testframe.Payload(512)
	return f.Frame(tb)
}

func frameTCP4SYN(tb testing.TB) []byte {
	f := ip4(header.ProtoTCP, 40000, 443)
	f.TCP = testframe.TCP{Flags: header.TCPFlagSYN, Seq: 999, Window: 64240, Options: testframe.SYNOptions()}
	return f.Frame(tb)
}

func frameUDP4Tagged(tb testing.TB) []byte {
	f := ip4(header.ProtoUDP, 5353, 53)
	f.Eth = l2(testframe.CTag(5, false, 100))
	f.Payload = testframe.Payload(40)
	return f.Frame(tb)
}

func frameICMP4QinQ(tb testing.TB) []byte {
	f := ip4(header.ProtoICMP, 0, 0)
	f.Eth = l2(testframe.STag(0, false, 10), testframe.CTag(3, true, 20))
	f.ICMP = testframe.ICMP{Type: header.ICMPv4Echo, ID: 0x4242, Seq: 7}
	f.Payload = testframe.Payload(56)
	return f.Frame(tb)
}

func frameICMP4Unreachable(tb testing.TB) []byte {
	inner := ip4(header.ProtoUDP, 5353, 9)
	inner.Payload = testframe.Payload(10)
	f := ip4(header.ProtoICMP, 0, 0)
	f.Src, f.Dst = f.Dst, f.Src
	f.ICMP = testframe.ICMP{Type: header.ICMPv4DstUnreachable, Code: header.ICMPv4PortUnreachable}
	f.Payload = inner.Packet(tb)[:28]
	return f.Frame(tb)
}

func frameUDP4Options(tb testing.TB) []byte {
	f := ip4(header.ProtoUDP, 1000, 2000)
	f.Options = []byte{148, 4, 0, 0} // router alert
	f.Payload = testframe.Payload(33)
	return f.Frame(tb)
}

func frameTCP6(tb testing.TB) []byte {
	f := ip6(header.ProtoTCP, 50000, 22)
	f.TCP = testframe.TCP{Flags: header.TCPFlagACK, Seq: 0xfffffff0, Ack: 1, Window: 1000, Options: testframe.TSOptions()}
	f.Payload = testframe.Payload(200)
	return f.Frame(tb)
}

func frameUDP6Ext(tb testing.TB) []byte {
	f := ip6(header.ProtoUDP, 546, 547)
	f.Ext = []testframe.Ext{testframe.HopByHop(5, 2, 0, 0), testframe.DestOpts()} // router alert; PadN
	f.Payload = testframe.Payload(25)
	return f.Frame(tb)
}

func frameUDP6Frag(tb testing.TB, off uint16, more bool) []byte {
	f := ip6(header.ProtoUDP, 4000, 4001)
	f.Ext = []testframe.Ext{testframe.Fragment(off, more, 0xdeadbeef)}
	f.Payload = testframe.Payload(1440)
	if off != 0 {
		f.NoL4, f.Payload = true, testframe.Payload(64)
	}
	return f.Frame(tb)
}

func frameUDP4Frag(tb testing.TB, off uint16, more bool) []byte {
	f := ip4(header.ProtoUDP, 4000, 4001)
	f.DF, f.MF, f.FragOff = false, more, off
	f.Payload = testframe.Payload(1472)
	if off != 0 {
		f.NoL4, f.Payload = true, testframe.Payload(100)
	}
	return f.Frame(tb)
}

func frameICMP6Echo(tb testing.TB) []byte {
	f := ip6(header.ProtoICMPv6, 0, 0)
	f.ICMP = testframe.ICMP{Type: 128, ID: 9, Seq: 1} // echo request
	f.Payload = testframe.Payload(32)
	return f.Frame(tb)
}

// frameTSO4 returns a TCP/IPv4 TSO super-frame as a TAP delivers it: three
// 1448-byte segments' worth of payload behind one set of headers, the IP
// total length covering all of it and the TCP checksum field holding the
// folded, non-inverted pseudo-header sum (CHECKSUM_PARTIAL).
func frameTSO4(tb testing.TB) []byte {
	f := ip4(header.ProtoTCP, 40000, 5201)
	f.TCP = testframe.TCP{Flags: header.TCPFlagACK | header.TCPFlagPSH, Seq: 1, Ack: 1, Window: 502, Options: testframe.TSOptions()}
	f.Payload = testframe.Payload(3 * 1448)
	partial, _ := testframe.Partial(tb, f.Frame(tb), 1448)
	return partial
}

// goldenFrames lists the frames of the fuzz seed corpus.
func goldenFrames(tb testing.TB) []struct {
	name  string
	frame []byte
} {
	return []struct {
		name  string
		frame []byte
	}{
		{"arp", frameARP(tb)},
		{"tcp4", frameTCP4(tb)},
		{"tcp4-syn", frameTCP4SYN(tb)},
		{"udp4-tagged", frameUDP4Tagged(tb)},
		{"icmp4-qinq", frameICMP4QinQ(tb)},
		{"icmp4-unreachable", frameICMP4Unreachable(tb)},
		{"udp4-options", frameUDP4Options(tb)},
		{"udp4-frag-first", frameUDP4Frag(tb, 0, true)},
		{"udp4-frag-last", frameUDP4Frag(tb, 1480, false)},
		{"tcp6", frameTCP6(tb)},
		{"udp6-ext", frameUDP6Ext(tb)},
		{"udp6-frag-first", frameUDP6Frag(tb, 0, true)},
		{"udp6-frag-last", frameUDP6Frag(tb, 1448, false)},
		{"icmp6-echo", frameICMP6Echo(tb)},
		{"tso4-superframe", frameTSO4(tb)},
	}
}
