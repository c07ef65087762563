package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// lab is a private network namespace made for one test, removed by
// t.Cleanup.
type lab struct {
	t    testing.TB
	name string
	ns   netns.Handle
	nl   *netlink.Handle
}

// newLab creates a namespace named afpt-<random> with IPv6 off, so the
// kernel sends no neighbour discovery of its own on the test's links.
func newLab(t testing.TB) *lab {
	t.Helper()
	name := fmt.Sprintf("afpt-%08x", rand.Uint32())
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			t.Error(err)
		}
	})
	h, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	nl, err := netns.HandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := netns.Sysctl(h, key, "1"); err != nil {
			t.Fatal(err)
		}
	}
	return &lab{t: t, name: name, ns: h, nl: nl}
}

// veth creates the pair a–b, with a in l and b in peer (l if nil), and sets
// both up. They go away with their namespaces.
func (l *lab) veth(a, b string, peer *lab) {
	l.t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
	if peer != nil {
		v.PeerNamespace = netlink.NsFd(int(peer.ns))
	} else {
		peer = l
	}
	if err := l.nl.LinkAdd(v); err != nil {
		l.t.Fatalf("add veth %s-%s: %v", a, b, err)
	}
	l.up(a)
	peer.up(b)
}

func (l *lab) up(name string) {
	l.t.Helper()
	link, err := l.nl.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.nl.LinkSetUp(link); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) addr(name, cidr string) {
	l.t.Helper()
	link, err := l.nl.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.nl.AddrAdd(link, a); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) mac(name string) net.HardwareAddr {
	l.t.Helper()
	link, err := l.nl.LinkByName(name)
	if err != nil {
		l.t.Fatal(err)
	}
	return link.Attrs().HardwareAddr
}

// open opens a Port on ifname inside l, closed by t.Cleanup.
func (l *lab) open(ifname string, opt Options, feat features) *Port {
	l.t.Helper()
	var p *Port
	err := netns.Do(l.ns, func() (err error) {
		p, err = open(ifname, opt, feat)
		return err
	})
	if err != nil {
		l.t.Fatalf("open %s: %v", ifname, err)
	}
	l.t.Cleanup(func() { p.Close() })
	return p
}

// rawSocket is a plain AF_PACKET socket on a test link: the far end that
// injects frames (tagged ones too) and checks what a Port wrote.
type rawSocket struct {
	t    testing.TB
	fd   int
	vnet bool
}

// raw opens a blocking AF_PACKET socket bound to ifname inside l, with
// PACKET_AUXDATA and, if vnet, PACKET_VNET_HDR, and a 2 s receive timeout.
func (l *lab) raw(ifname string, vnet bool) *rawSocket {
	l.t.Helper()
	var fd int
	err := netns.Do(l.ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		opts := [][2]int{{unix.SOL_PACKET, unix.PACKET_AUXDATA}}
		if vnet {
			opts = append(opts, [2]int{unix.SOL_PACKET, unix.PACKET_VNET_HDR})
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(fd, o[0], o[1], 1); err != nil {
				return err
			}
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		l.t.Fatalf("raw socket on %s: %v", ifname, err)
	}
	s := &rawSocket{t: l.t, fd: fd, vnet: vnet}
	l.t.Cleanup(func() { unix.Close(fd) })
	return s
}

// send writes one frame (after vh, if the socket has PACKET_VNET_HDR).
func (s *rawSocket) send(vh, frame []byte) {
	s.t.Helper()
	msg := frame
	if s.vnet {
		if vh == nil {
			vh = make([]byte, header.VirtioNetLen)
		}
		msg = append(append([]byte(nil), vh...), frame...)
	}
	if _, err := unix.Write(s.fd, msg); err != nil {
		s.t.Fatalf("raw send: %v", err)
	}
}

// recv reads one frame with its tag put back from the auxdata, and its
// virtio header, if the socket has one, exactly as the kernel wrote it (its
// offsets count from the frame without the tag). ok is false after the
// timeout.
func (s *rawSocket) recv() (vh, frame []byte, ok bool) {
	s.t.Helper()
	buf := make([]byte, 70000)
	oob := make([]byte, 256)
	n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
	if errors.Is(err, unix.EAGAIN) {
		return nil, nil, false
	}
	if err != nil {
		s.t.Fatalf("raw recv: %v", err)
	}
	buf = buf[:n]
	if s.vnet {
		vh, buf = buf[:header.VirtioNetLen], buf[header.VirtioNetLen:]
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range cmsgs {
		if c.Header.Level != unix.SOL_PACKET || c.Header.Type != unix.PACKET_AUXDATA {
			continue
		}
		aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&c.Data[0]))
		if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			tag := binary.BigEndian.AppendUint16(nil, aux.Vlan_tpid)
			tag = binary.BigEndian.AppendUint16(tag, aux.Vlan_tci)
			buf = append(append(append([]byte(nil), buf[:12]...), tag...), buf[12:]...)
		}
	}
	return vh, buf, true
}

// ether builds a frame dst, src, then each tag (TPID, TCI pairs), then
// etherType and payload, not padded.
func ether(dst, src net.HardwareAddr, tags []uint16, etherType uint16, payload []byte) []byte {
	return append(l2(dst, src, tags, etherType).Header(), payload...)
}

// l2 returns the Ethernet header from src to dst with tags, (TPID, TCI)
// pairs, and etherType.
func l2(dst, src net.HardwareAddr, tags []uint16, etherType uint16) testframe.Eth {
	e := testframe.Eth{Src: [6]byte(src), Dst: [6]byte(dst), Type: etherType}
	for i := 0; i+1 < len(tags); i += 2 {
		e.Tags = append(e.Tags, testframe.Tag{TPID: tags[i], TCI: tags[i+1]})
	}
	return e
}

// etherTest is the IEEE 802 local experimental EtherType, used for test
// frames nothing else sends.
const etherTest = 0x88b5

func testPayload(n int, seq byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seq + byte(i)
	}
	return p
}

func newBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, port.BufferSize)
	}
	return bufs, make([]int, n)
}

// readTimeout reads one batch from p, failing t after d.
func readTimeout(t testing.TB, p *Port, bufs [][]byte, sizes []int, d time.Duration) int {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	c := make(chan result, 1)
	go func() {
		n, err := p.Read(bufs, sizes, port.ReadOffset)
		c <- result{n, err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("Read: %v", r.err)
		}
		return r.n
	case <-time.After(d):
		p.Close() // unblock the reader
		<-c
		t.Fatalf("Read: nothing after %v", d)
		return 0
	}
}
