package impair

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// fakeClock is a Clock whose time moves only by Advance. Timers fire during
// Advance, by a non-blocking send, as time.Timer does.
type fakeClock struct {
	mu     sync.Mutex // guards now and timers
	now    int64
	timers []*fakeTimer
}

type fakeTimer struct {
	c     *fakeClock
	ch    chan time.Time
	at    int64 // guarded by c.mu
	armed bool  // guarded by c.mu
}

func (c *fakeClock) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer() Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now += int64(d)
	for _, t := range c.timers {
		if t.armed && t.at <= c.now {
			t.fire()
		}
	}
}

// fire sends on the timer's channel; c.mu is held.
func (t *fakeTimer) fire() {
	t.armed = false
	select {
	case t.ch <- time.Time{}:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(at int64) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drain()
	t.at, t.armed = at, true
	if at <= t.c.now {
		t.fire()
	}
}

func (t *fakeTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.armed = false
	t.drain()
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

var (
	macA = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	macB = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}
	ipA  = net.IP{10, 0, 0, 1}
	ipB  = net.IP{10, 0, 0, 2}
)

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// udpFrame returns an IPv4/UDP frame with a complete checksum and payload
// bytes of payload (filled with seq), behind tags VLAN tags.
func udpFrame(tb testing.TB, tags, payload int, seq byte) []byte {
	tb.Helper()
	var ls []gopacket.SerializableLayer
	switch tags {
	case 0:
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4})
	default:
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4})
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ipA, DstIP: ipB}
	u := &layers.UDP{SrcPort: 4000, DstPort: 5000}
	must(tb, u.SetNetworkLayerForChecksum(ip))
	pl := make([]byte, payload)
	for i := range pl {
		pl[i] = seq
	}
	ls = append(ls, ip, u, gopacket.Payload(pl))
	buf := gopacket.NewSerializeBuffer()
	must(tb, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

// tcpFrame returns an IPv4/TCP frame (with a 12-byte timestamp option, so
// 66 bytes of headers) and the virtio-net header a TAP with TSO would give
// it: NEEDS_CSUM with the pseudo-header sum in the checksum field, and a
// GSO type when mss is not 0. full is the same frame with its checksum
// complete.
func tcpFrame(tb testing.TB, payload, mss int) (frame, full []byte, vh header.VirtioNet) {
	tb.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: ipA, DstIP: ipB}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1000, Ack: 1, ACK: true, PSH: true, Window: 500,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 1, 0, 2, 0, 3, 0, 4}},
		}}
	must(tb, tcp.SetNetworkLayerForChecksum(ip))
	pl := make([]byte, payload)
	for i := range pl {
		pl[i] = byte(i * 7)
	}
	buf := gopacket.NewSerializeBuffer()
	must(tb, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, tcp, gopacket.Payload(pl)))
	full = append([]byte(nil), buf.Bytes()...)
	frame = append([]byte(nil), full...)
	const l3, l4 = header.EthernetLen, header.EthernetLen + 20
	l4len := uint16(len(frame) - l4)
	binary.BigEndian.PutUint16(frame[l4+header.TCPChecksumOffset:], header.IPv4(frame[l3:]).PseudoHeaderChecksum(l4len))
	vf := header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, CsumStart: l4, CsumOffset: header.TCPChecksumOffset}
	if mss != 0 {
		vf.GSOType, vf.GSOSize, vf.HdrLen = header.VirtioNetGSOTCPv4, uint16(mss), l4+32
	}
	vh = make(header.VirtioNet, header.VirtioNetLen)
	vh.Encode(&vf)
	return frame, full, vh
}

// checksumsOK reports whether frame's IPv4 header and TCP or UDP checksums
// are valid.
func checksumsOK(frame []byte) bool {
	l3 := l2Len(frame)
	ip := header.IPv4(frame[l3:])
	if !ip.IsValid() || !ip.IsChecksumValid() {
		return false
	}
	l4 := frame[l3+ip.HeaderLength() : l3+int(ip.TotalLength())]
	return header.Checksum(l4, ip.PseudoHeaderChecksum(uint16(len(l4)))) == 0xffff
}

// bitsDiffer returns the number of bits in which a and b differ, and the
// offset of the first differing byte; -1 if their lengths differ.
func bitsDiffer(a, b []byte) (n, at int) {
	if len(a) != len(b) {
		return -1, -1
	}
	at = -1
	for i := range a {
		x := a[i] ^ b[i]
		for ; x != 0; x &= x - 1 {
			n++
		}
		if a[i] != b[i] && at < 0 {
			at = i
		}
	}
	return n, at
}

// batch returns Write buffers holding frames at port.WriteOffset, with
// zero virtio headers.
func batch(frames ...[]byte) [][]byte {
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = append(make([]byte, port.WriteOffset), f...)
	}
	return bufs
}

// nullPort is an inner port that allocates nothing: Read returns copies of
// frame, Write counts.
type nullPort struct {
	frame   []byte
	written atomic.Int64
	drops   map[string]uint64
}

func (p *nullPort) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for i := range bufs {
		clear(bufs[i][offset-header.VirtioNetLen : offset])
		sizes[i] = copy(bufs[i][offset:], p.frame)
	}
	return len(bufs), nil
}

func (p *nullPort) Write(bufs [][]byte, offset int) (int, error) {
	p.written.Add(int64(len(bufs)))
	return len(bufs), nil
}

func (p *nullPort) BatchSize() int { return 32 }
func (p *nullPort) Close() error   { return nil }

func (p *nullPort) DeviceDrops() map[string]uint64 { return p.drops }

func ptr[T any](v T) *T { return &v }
