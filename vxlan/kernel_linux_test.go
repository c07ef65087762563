package vxlan

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/tap"
	"github.com/vswitchd/vswitchd/vlan"
)

// The kernel interop lab: namespace V holds a Port on 10.99.0.1, namespace
// K a Linux vxlan device vx0 (VNI 42, remote 10.99.0.1) on 10.99.0.2 with
// the overlay address 10.50.0.2; a veth pair und0–und1 is the underlay.
// The test itself plays the overlay host 10.50.0.1 (macA) behind the Port,
// on VLAN 10.
var (
	underV           = netip.MustParseAddr("10.99.0.1")
	underK           = netip.MustParseAddr("10.99.0.2")
	kernelVNI uint32 = 42
	labVID    uint16 = 10
)

type kernelLab struct {
	*lab
	v, k  *labNS
	p     *Port
	vxMAC header.MAC // vx0's MAC

	// The overlay host 10.50.0.2 the test talks to: vx0 in K here, a
	// host behind Open vSwitch in the OVS lab.
	host    *labNS
	hostMAC header.MAC
}

// newKernelLab builds the lab; vxArgs are extra `ip link add vx0 type
// vxlan` arguments, mod adjusts the Port's options.
func newKernelLab(t *testing.T, vxArgs []string, mod func(*Options)) *kernelLab {
	testutil.RequireTools(t, "ip", "ping", "tcpdump", "ethtool")
	kl := &kernelLab{lab: newLab(t)}
	kl.v, kl.k = kl.ns("v"), kl.ns("k")
	kl.v.ip("link", "add", "und0", "type", "veth", "peer", "name", "und1", "netns", kl.k.name)
	kl.v.ip("addr", "add", underV.String()+"/24", "dev", "und0")
	kl.k.ip("addr", "add", underK.String()+"/24", "dev", "und1")
	kl.v.ip("link", "set", "und0", "up")
	kl.k.ip("link", "set", "und1", "up")
	// As on a wire, checksums leave the kernel's VTEP complete. With
	// checksum offload on the veth the kernel would hand the Port's
	// socket inner frames whose checksum is still to be filled (the skb
	// stays CHECKSUM_PARTIAL across the veth, and a UDP socket has no way
	// to say so), which Open vSwitch's userspace datapath suffers as well.
	if out, err := kl.k.run(10*time.Second, "ethtool", "-K", "und1", "tx", "off"); err != nil {
		t.Fatalf("ethtool -K und1 tx off: %v\n%s", err, out)
	}
	kl.k.ip(append([]string{"link", "add", "vx0", "type", "vxlan", "id", fmt.Sprint(kernelVNI), "remote", underV.String(),
		"local", underK.String(), "dstport", "4789"}, vxArgs...)...)
	kl.k.ip("addr", "add", "10.50.0.2/24", "dev", "vx0")
	kl.k.ip("link", "set", "vx0", "up")
	kl.vxMAC = linkMAC(t, kl.k, "vx0")
	kl.host, kl.hostMAC = kl.k, kl.vxMAC

	opt := Options{Local: underV}
	if mod != nil {
		mod(&opt)
	}
	kl.p = kl.v.open(opt)
	setNetworks(t, kl.p, Network{VNI: kernelVNI, VID: labVID, Peers: []netip.Addr{underK}})
	return kl
}

func linkMAC(t *testing.T, n *labNS, ifname string) header.MAC {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(n.ip("-j", "link", "show", ifname)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show %s: %v %v", ifname, links, err)
	}
	m, err := header.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expect reads frames until one matches, ignoring others, and returns it
// decoded (without its tag, which must be VLAN 10).
func expect(t *testing.T, r *reader, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f := <-r.c:
			vid, inner := untag(t, f.data)
			if vid != labVID {
				t.Fatalf("frame read with VLAN %d, want %d", vid, labVID)
			}
			pk := gopacket.NewPacket(inner, layers.LayerTypeEthernet, gopacket.Default)
			if match(pk) {
				return pk
			}
		case <-deadline:
			t.Fatalf("no %s read in %v", what, wait)
			return nil
		}
	}
}

func arpReply(t testing.TB, req *layers.ARP, mac header.MAC) []byte {
	eth := &layers.Ethernet{DstMAC: req.SourceHwAddress, SrcMAC: hw(mac), EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: layers.ARPReply, SourceHwAddress: hw(mac), SourceProtAddress: req.DstProtAddress,
		DstHwAddress: req.SourceHwAddress, DstProtAddress: req.SourceProtAddress}
	return serialize(t, eth, arp)
}

// icmpEcho builds an echo request (or reply) from (smac, sip) to (dmac, dip).
func icmpEcho(t testing.TB, dmac, smac header.MAC, sip, dip netip.Addr, typ uint8, id, seq uint16, payload []byte) []byte {
	eth := &layers.Ethernet{DstMAC: hw(dmac), SrcMAC: hw(smac), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: nip(sip), DstIP: nip(dip)}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return serialize(t, eth, ip, icmp, gopacket.Payload(payload))
}

// TestPrivilegedVXLANKernel checks the Port against the Linux vxlan device
// frame by frame: the test, as host 10.50.0.1 behind the Port, resolves
// and pings the kernel's 10.50.0.2; then the kernel pings 10.50.0.1 and
// the test answers. A capture of the underlay shows VNI 42 both ways and
// different outer source ports for two inner flows.
func TestPrivilegedVXLANKernel(t *testing.T) {
	testutil.Privileged(t)
	for _, learning := range []bool{false, true} {
		name := map[bool]string{false: "nolearning", true: "learning"}[learning]
		t.Run(name, func(t *testing.T) {
			var args []string
			if !learning {
				args = []string{"nolearning"}
			}
			kl := newKernelLab(t, args, nil)
			testKernelPing(t, kl)
		})
	}
}

func testKernelPing(t *testing.T, kl *kernelLab) {
	capt := kl.v.capture("und0", "udp", "port", "4789")
	r := startReader(t, kl.p)

	// The test resolves 10.50.0.2 and pings it.
	write(t, kl.p, tagged(arpRequest(t, macA, ipA, ipB), labVID))
	pk := expect(t, r, "ARP reply", func(pk gopacket.Packet) bool {
		a, ok := pk.Layer(layers.LayerTypeARP).(*layers.ARP)
		return ok && a.Operation == layers.ARPReply && netip.AddrFrom4([4]byte(a.SourceProtAddress)) == ipB
	})
	if got := header.MAC(pk.Layer(layers.LayerTypeARP).(*layers.ARP).SourceHwAddress); got != kl.hostMAC {
		t.Errorf("ARP reply says 10.50.0.2 is at %v, want %v", got, kl.hostMAC)
	}
	for seq := uint16(1); seq <= 3; seq++ {
		write(t, kl.p, tagged(icmpEcho(t, kl.hostMAC, macA, ipA, ipB, layers.ICMPv4TypeEchoRequest, 77, seq, []byte("vswitchd vxlan")), labVID))
		expect(t, r, fmt.Sprintf("echo reply %d", seq), func(pk gopacket.Packet) bool {
			c, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			return ok && c.TypeCode.Type() == layers.ICMPv4TypeEchoReply && c.Id == 77 && c.Seq == seq
		})
	}

	// Two inner UDP flows whose hashes pick different sending sockets.
	sport1, sport2 := uint16(40000), uint16(40001)
	f1 := udpFrame(t, kl.hostMAC, macA, ipA, ipB, sport1, 9, []byte("flow one"))
	for pick(flowHash(tagged(f1, labVID), 16, kl.p.seed), len(kl.p.sys.src)) ==
		pick(flowHash(tagged(udpFrame(t, kl.hostMAC, macA, ipA, ipB, sport2, 9, nil), labVID), 16, kl.p.seed), len(kl.p.sys.src)) {
		sport2++
	}
	f2 := udpFrame(t, kl.hostMAC, macA, ipA, ipB, sport2, 9, []byte("flow two"))
	write(t, kl.p, tagged(f1, labVID), tagged(f2, labVID), tagged(f1, labVID), tagged(f2, labVID))

	// The kernel pings 10.50.0.1; the test answers ARP and echo.
	ping := kl.host.start("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.50.0.1")
	stop := make(chan struct{})
	answered := make(chan int, 1)
	go func() {
		n := 0
		defer func() { answered <- n }()
		for {
			select {
			case <-stop:
				return
			case f := <-r.c:
				_, inner := untag(t, f.data)
				pk := gopacket.NewPacket(inner, layers.LayerTypeEthernet, gopacket.Default)
				if a, ok := pk.Layer(layers.LayerTypeARP).(*layers.ARP); ok && a.Operation == layers.ARPRequest &&
					netip.AddrFrom4([4]byte(a.DstProtAddress)) == ipA {
					writeErr(t, kl.p, tagged(arpReply(t, a, macA), labVID))
				}
				if c, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && c.TypeCode.Type() == layers.ICMPv4TypeEchoRequest {
					ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
					writeErr(t, kl.p, tagged(icmpEcho(t, header.MAC(eth.SrcMAC), macA, ipA, netip.AddrFrom4([4]byte(ip.SrcIP)),
						layers.ICMPv4TypeEchoReply, c.Id, c.Seq, c.Payload), labVID))
					n++
				}
			}
		}
	}()
	if !ping.wait(15 * time.Second) {
		t.Fatalf("ping from the kernel did not finish: %s", ping.output())
	}
	close(stop)
	if n := <-answered; ping.cmd.ProcessState.ExitCode() != 0 || n < 3 {
		t.Fatalf("ping 10.50.0.1 from the kernel: exit %d after %d echo replies:\n%s", ping.cmd.ProcessState.ExitCode(), n, ping.output())
	}

	// The capture: every datagram, the Port's and the peer's, carries
	// VNI 42; the two flows left from different source ports, each from
	// one.
	file := capt.stop()
	flows := map[uint16]map[uint16]bool{} // inner UDP source port → outer source ports
	var ours, theirs int
	for _, pk := range readPcap(t, file) {
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		vx, _ := pk.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
		if ip == nil || udp == nil || vx == nil {
			t.Fatalf("captured a datagram that is not VXLAN: %v", pk)
		}
		if !vx.ValidIDFlag || vx.VNI != kernelVNI || udp.DstPort != 4789 {
			t.Errorf("captured VNI %d (I flag %v) to port %d, want VNI %d to 4789", vx.VNI, vx.ValidIDFlag, udp.DstPort, kernelVNI)
		}
		if netip.AddrFrom4([4]byte(ip.SrcIP)) != underV {
			theirs++
			continue
		}
		ours++
		if udp.SrcPort < MinSourcePort {
			t.Errorf("our datagram from source port %d, below %d", udp.SrcPort, MinSourcePort)
		}
		inner := gopacket.NewPacket(vx.Payload, layers.LayerTypeEthernet, gopacket.Default)
		if u, ok := inner.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && u.DstPort == 9 {
			if flows[uint16(u.SrcPort)] == nil {
				flows[uint16(u.SrcPort)] = map[uint16]bool{}
			}
			flows[uint16(u.SrcPort)][uint16(udp.SrcPort)] = true
		}
	}
	t.Logf("captured %d datagrams from the Port, %d from the peer; inner flow → outer source ports: %v", ours, theirs, flows)
	if ours < 8 || theirs < 8 {
		t.Errorf("captured %d datagrams from the Port and %d from the peer, want at least 8 each\n%s", ours, theirs, capt.p.output())
	}
	p1, p2 := flows[sport1], flows[sport2]
	if len(p1) != 1 || len(p2) != 1 {
		t.Fatalf("flows left from source ports %v and %v, want one port each", p1, p2)
	}
	for a := range p1 {
		if p2[a] {
			t.Errorf("both flows left from source port %d", a)
		}
	}

	// The host's MAC was learned at its VTEP; nothing was dropped.
	var found bool
	for _, e := range kl.p.RemoteEntries(kl.p.Now()) {
		if e.MAC == kl.hostMAC && e.VNI == kernelVNI && e.VID == labVID && e.VTEP == underK && !e.Static {
			found = true
		}
	}
	if !found {
		t.Errorf("%v not learned at %v: %+v", kl.hostMAC, underK, kl.p.RemoteEntries(kl.p.Now()))
	}
	if d := kl.p.DeviceDrops(); len(d) != 0 {
		t.Errorf("drops: %v", d)
	}
	if st := kl.p.VTEPStats(); len(st) != 1 || st[0].Addr != underK || st[0].RxFrames == 0 || st[0].TxFrames == 0 {
		t.Errorf("VTEPStats = %+v, want traffic with %v only", st, underK)
	}
}

// writeErr is write for goroutines other than the test's: it reports with
// Errorf.
func writeErr(t *testing.T, p *Port, frames ...[]byte) {
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = wbuf(f, nil)
	}
	if n, err := p.Write(bufs, header.VirtioNetLen); n != len(frames) || err != nil {
		t.Errorf("Write = %d, %v; want %d, nil", n, err, len(frames))
	}
}

func readPcap(t *testing.T, file string) []gopacket.Packet {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	var out []gopacket.Packet
	for {
		data, _, err := rd.ReadPacketData()
		if err != nil {
			if !strings.Contains(err.Error(), "EOF") {
				t.Fatalf("read %s: %v", file, err)
			}
			return out
		}
		out = append(out, gopacket.NewPacket(data, rd.LinkType(), gopacket.Default))
	}
}

// tapRelay connects a TAP to the Port as a two-port switch would: frames
// read from the TAP get VLAN 10 pushed and go to the Port; frames read from
// the Port lose their tag and go to the TAP. Super-frames from the TAP keep
// their virtio header, so the Port segments them. It stops when the ports
// are closed.
func tapRelay(t *testing.T, tp *tap.Device, p *Port) {
	var wg sync.WaitGroup
	relay := func(from, to port.Port, move func(b []byte) int) {
		defer wg.Done()
		bufs := make([][]byte, from.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, port.BufferSize)
		}
		sizes := make([]int, len(bufs))
		out := make([][]byte, len(bufs))
		for {
			n, err := from.Read(bufs, sizes, port.ReadOffset)
			if err != nil {
				return
			}
			start := 0
			for i := range n {
				start = move(bufs[i])
				out[i] = bufs[i][:port.ReadOffset+sizes[i]]
			}
			if _, err := to.Write(out[:n], start); errors.Is(err, port.ErrClosed) {
				return
			}
		}
	}
	wg.Add(2)
	go relay(tp, p, func(b []byte) int { return vlan.Push(b, port.ReadOffset, header.EtherTypeVLAN, labVID) })
	go relay(p, tp, func(b []byte) int { return vlan.Pop(b, port.ReadOffset) })
	t.Cleanup(func() {
		tp.Close()
		p.Close()
		wg.Wait()
	})
}

// TestPrivilegedVXLANKernelTCP runs iperf3 between a host behind the Port
// (a TAP with TSO in namespace H, relayed to the Port) and the kernel's
// vx0, both ways: the Port segments the TAP's super-frames and sends them
// with UDP GSO, and decapsulates what the kernel's vxlan sends.
func TestPrivilegedVXLANKernelTCP(t *testing.T) {
	testutil.Privileged(t)
	testutil.RequireTools(t, "iperf3")
	for _, gso := range []bool{true, false} {
		t.Run(map[bool]string{true: "gso", false: "nogso"}[gso], func(t *testing.T) {
			kl := newKernelLab(t, nil, func(o *Options) { o.NoGSO = !gso })
			h := kl.ns("h")
			var tp *tap.Device
			if err := netns.Do(h.h, func() (err error) {
				tp, err = tap.Create(tap.Options{Name: "eth0"})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			h.ip("link", "set", "eth0", "mtu", fmt.Sprint(kl.p.PayloadMTU()), "up")
			h.ip("addr", "add", "10.50.0.1/24", "dev", "eth0")
			tapRelay(t, tp, kl.p)

			for _, reverse := range []bool{false, true} {
				srv := kl.k.start("iperf3", "-s", "-1", "-B", "10.50.0.2")
				args := []string{"-c", "10.50.0.2", "-t", "2", "-J", "--connect-timeout", "3000"}
				if reverse {
					args = append(args, "-R")
				}
				var out string
				var err error
				for try := 0; try < 50; try++ { // until the server listens
					if out, err = h.run(30*time.Second, "iperf3", args...); !strings.Contains(out, "Connection refused") {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil || strings.Contains(out, `"error"`) {
					t.Fatalf("iperf3 %v: %v\n%s\nserver: %s\ndrops %v stats %+v", args, err, out, srv.output(), kl.p.DeviceDrops(), kl.p.Stats())
				}
				var res struct {
					End struct {
						SumReceived struct {
							BitsPerSecond float64 `json:"bits_per_second"`
						} `json:"sum_received"`
					} `json:"end"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("iperf3 output: %v\n%s", err, out)
				}
				dir := map[bool]string{false: "Port → kernel", true: "kernel → Port"}[reverse]
				t.Logf("%s: %.2f Gbit/s", dir, res.End.SumReceived.BitsPerSecond/1e9)
				if res.End.SumReceived.BitsPerSecond < 50e6 {
					t.Errorf("%s: %.1f Mbit/s, want more than 50\n%s", dir, res.End.SumReceived.BitsPerSecond/1e6, out)
				}
				srv.wait(5 * time.Second)
			}
			t.Logf("stats %+v, VTEPs %+v", kl.p.Stats(), kl.p.VTEPStats())
			if d := kl.p.DeviceDrops(); len(d) != 0 {
				t.Errorf("drops: %v", d)
			}
			if st := kl.p.Stats(); st.GSO != gso || st.GSOFallbacks != 0 {
				t.Errorf("GSO %v with %d fallbacks, want %v and none", st.GSO, st.GSOFallbacks, gso)
			}
		})
	}
}
