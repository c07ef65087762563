package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
)

// modes are the two ways a Port handles offloads.
var modes = []struct {
	name string
	feat features
}{
	{"vnet", allFeatures},
	{"software", features{ignoreOutgoing: true, filter: true}},
}

// tagCase is a frame sent from the peer: tags (TPID, TCI pairs) as they
// are on the wire, outermost first.
type tagCase struct {
	name string
	tags []uint16
}

var tagCases = []tagCase{
	{"untagged", nil},
	{"802.1Q", []uint16{0x8100, header.MakeTCI(5, false, 100)}},
	{"802.1ad", []uint16{0x88a8, header.MakeTCI(3, true, 200)}},
	{"QinQ", []uint16{0x88a8, header.MakeTCI(1, false, 300), 0x8100, header.MakeTCI(6, false, 42)}},
	{"untagged again", nil},
	{"priority-tagged", []uint16{0x8100, header.MakeTCI(7, false, 0)}},
	{"802.1Q max VID", []uint16{0x8100, header.MakeTCI(0, false, 4094)}},
}

// TestPrivilegedReadTags sends untagged, 802.1Q, 802.1ad and QinQ frames
// from the veth peer and checks that Read returns each exactly as sent: the
// outer tag, which the kernel moves into the auxdata, put back with its
// TPID, PCP, DEI and VID. Frames are read one by one (so the read layout
// guess is right or wrong in turn) and then all in one batch.
func TestPrivilegedReadTags(t *testing.T) {
	testutil.Privileged(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, m.feat)
			peer := l.raw("vb", false)
			dst, src := l.mac("va"), l.mac("vb")
			bufs, sizes := newBufs(p.BatchSize())

			var want [][]byte
			for i, c := range append(tagCases, tagCases...) {
				f := ether(dst, src, c.tags, etherTest, testPayload(100+i*97, byte(i)))
				want = append(want, f)
				peer.send(nil, f)
				if n := readTimeout(t, p, bufs, sizes, 5*time.Second); n != 1 {
					t.Fatalf("%s: Read = %d frames, want 1", c.name, n)
				}
				checkFrame(t, c.name, bufs[0], sizes[0], f)
			}

			for _, f := range want {
				peer.send(nil, f)
			}
			got := 0
			for got < len(want) {
				n := readTimeout(t, p, bufs, sizes, 5*time.Second)
				for i := range n {
					checkFrame(t, fmt.Sprintf("batch frame %d", got+i), bufs[i], sizes[i], want[got+i])
				}
				got += n
			}
			if s := p.Stats(); s != (Stats{}) {
				t.Errorf("Stats = %+v, want none", s)
			}
		})
	}
}

// checkFrame compares the frame in buf with want and checks that the
// virtio header says no offload.
func checkFrame(t *testing.T, what string, buf []byte, size int, want []byte) {
	t.Helper()
	got := buf[port.ReadOffset : port.ReadOffset+size]
	if !bytes.Equal(got, want) {
		t.Errorf("%s: read %d bytes\n% x\nwant %d bytes\n% x", what, len(got), got[:min(len(got), 24)], len(want), want[:min(len(want), 24)])
	}
	vh := header.VirtioNet(buf[port.ReadOffset-header.VirtioNetLen : port.ReadOffset])
	if vh.NeedsCsum() || vh.IsGSO() {
		t.Errorf("%s: virtio header % x, want no offload", what, []byte(vh))
	}
}

// TestPrivilegedWrite writes a batch of untagged and tagged frames and
// checks that the peer receives each one, tag included.
func TestPrivilegedWrite(t *testing.T) {
	testutil.Privileged(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, m.feat)
			peer := l.raw("vb", false)
			dst, src := l.mac("vb"), l.mac("va")

			var bufs, want [][]byte
			for i, c := range tagCases {
				f := ether(dst, src, c.tags, etherTest, testPayload(60+i*200, byte(i)))
				want = append(want, f)
				b := make([]byte, port.WriteOffset+len(f))
				copy(b[port.WriteOffset:], f)
				bufs = append(bufs, b)
			}
			n, err := p.Write(bufs, port.WriteOffset)
			if n != len(bufs) || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(bufs))
			}
			for i, w := range want {
				_, got, ok := peer.recv()
				if !ok {
					t.Fatalf("frame %d (%s) not received", i, tagCases[i].name)
				}
				if !bytes.Equal(got, w) {
					t.Errorf("frame %d (%s): peer got\n% x\nwant\n% x", i, tagCases[i].name, got[:24], w[:24])
				}
			}
		})
	}
}

// TestPrivilegedOutgoingNotRead checks that Read never returns frames
// leaving the interface: the port's own writes and those of another socket
// on the same interface (as the host's stack or a second vswitchd socket
// would send). Each mechanism is tried alone; with neither, the other
// socket's frames do show up, which proves the test can see a failure.
// (The kernel never loops a frame back to the socket that sent it,
// skb_loop_sk, so the port's own writes stay out even then.)
func TestPrivilegedOutgoingNotRead(t *testing.T) {
	testutil.Privileged(t)
	for _, c := range []struct {
		name     string
		feat     features
		wantSeen bool
	}{
		{"both", allFeatures, false},
		{"PACKET_IGNORE_OUTGOING", features{vnetHdr: true, ignoreOutgoing: true}, false},
		{"BPF filter", features{vnetHdr: true, filter: true}, false},
		{"neither", features{vnetHdr: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, c.feat)
			other := l.raw("va", false)
			peer := l.raw("vb", false)
			dst, src := l.mac("vb"), l.mac("va")

			own := ether(dst, src, nil, etherTest, []byte("own write"))
			b := append(make([]byte, port.WriteOffset), own...)
			for range 3 {
				if n, err := p.Write([][]byte{b}, port.WriteOffset); n != 1 || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				other.send(nil, ether(dst, src, nil, etherTest, []byte("other socket")))
			}
			for range 6 {
				if _, _, ok := peer.recv(); !ok {
					t.Fatal("peer did not receive the writes")
				}
			}
			marker := ether(src, dst, nil, etherTest, []byte("marker from the peer"))
			peer.send(nil, marker)

			bufs, sizes := newBufs(p.BatchSize())
			ownSeen, otherSeen := 0, 0
			for done := false; !done; {
				n := readTimeout(t, p, bufs, sizes, 5*time.Second)
				for i := range n {
					f := bufs[i][port.ReadOffset : port.ReadOffset+sizes[i]]
					switch {
					case bytes.Equal(f, marker):
						done = true
					case bytes.Contains(f, []byte("own write")):
						ownSeen++
					case bytes.Contains(f, []byte("other socket")):
						otherSeen++
					}
				}
			}
			if ownSeen != 0 {
				t.Errorf("Read returned %d of the port's own writes", ownSeen)
			}
			if seen := otherSeen != 0; seen != c.wantSeen {
				t.Errorf("Read returned %d frames another socket sent out of the interface; want them seen = %v", otherSeen, c.wantSeen)
			}
		})
	}
}

// TestPrivilegedCloseUnblocksRead checks that Close makes a Read blocked in
// the netpoller return port.ErrClosed, and later calls too.
func TestPrivilegedCloseUnblocksRead(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	p := l.open("va", Options{}, allFeatures)
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(1)
		_, err := p.Read(bufs, sizes, port.ReadOffset)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Read park in the netpoller
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, port.ErrClosed) {
			t.Fatalf("Read after Close = %v, want port.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5 s after Close")
	}
	bufs, sizes := newBufs(1)
	if _, err := p.Read(bufs, sizes, port.ReadOffset); !errors.Is(err, port.ErrClosed) {
		t.Errorf("Read after Close = %v, want port.ErrClosed", err)
	}
	if _, err := p.Write(bufs, port.ReadOffset); !errors.Is(err, port.ErrClosed) {
		t.Errorf("Write after Close = %v, want port.ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, port.ErrClosed) {
		t.Errorf("second Close = %v, want port.ErrClosed", err)
	}
}

// TestPrivilegedOpenErrors checks Open's errors for bad names and options.
func TestPrivilegedOpenErrors(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	for _, c := range []struct {
		name, ifname string
		opt          Options
		want         string
		is           error
	}{
		{"missing link", "nosuch0", Options{}, `open system port "nosuch0": link not found`, ErrLinkNotFound},
		{"empty name", "", Options{}, `open system port "": interface name must have 1 to 15 characters`, nil},
		{"long name", "abcdefghijklmnop", Options{}, `open system port "abcdefghijklmnop": interface name must have 1 to 15 characters`, nil},
		{"negative batch", "va", Options{BatchSize: -1}, `open system port "va": batch size -1 outside 1..1024`, nil},
		{"huge batch", "va", Options{BatchSize: 5000}, `open system port "va": batch size 5000 outside 1..1024`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p *Port
			err := netns.Do(l.ns, func() (err error) {
				p, err = Open(c.ifname, c.opt)
				return err
			})
			if err == nil {
				p.Close()
				t.Fatalf("Open(%q) succeeded", c.ifname)
			}
			if err.Error() != c.want {
				t.Errorf("Open(%q) = %q, want %q", c.ifname, err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("Open(%q) = %v, want it to wrap %v", c.ifname, err, c.is)
			}
		})
	}
}

// TestPrivilegedOpen checks what Open reports and sets on the interface:
// name, batch size, offloads, and promiscuous mode for as long as the port
// is open.
func TestPrivilegedOpen(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	promisc := func() bool {
		link, err := l.nl.LinkByName("va")
		if err != nil {
			t.Fatal(err)
		}
		return link.Attrs().Promisc != 0
	}
	var p *Port
	err := netns.Do(l.ns, func() (err error) {
		p, err = Open("va", Options{Promiscuous: true, BatchSize: 8})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "va" || p.BatchSize() != 8 || !p.Offloads() {
		t.Errorf("Name, BatchSize, Offloads = %q, %d, %v; want va, 8, true", p.Name(), p.BatchSize(), p.Offloads())
	}
	if !promisc() {
		t.Error("interface not promiscuous while the port is open")
	}
	p.Close()
	if promisc() {
		t.Error("interface still promiscuous after Close")
	}
	q := l.open("va", Options{}, allFeatures)
	if q.BatchSize() != DefaultBatchSize {
		t.Errorf("default BatchSize = %d, want %d", q.BatchSize(), DefaultBatchSize)
	}
	if promisc() {
		t.Error("interface promiscuous without Options.Promiscuous")
	}
}

// TestPrivilegedLinkDown checks that a Read blocked while the interface
// goes down and up again waits out the socket error (ENETDOWN) instead of
// returning it, which would stop the port, and then reads the next frame.
func TestPrivilegedLinkDown(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	p := l.open("va", Options{}, allFeatures)
	type result struct {
		n   int
		err error
	}
	c := make(chan result, 1)
	bufs, sizes := newBufs(4)
	go func() {
		n, err := p.Read(bufs, sizes, port.ReadOffset)
		c <- result{n, err}
	}()
	time.Sleep(50 * time.Millisecond)
	link, err := l.nl.LinkByName("va")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.nl.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case r := <-c:
		t.Fatalf("Read returned %d, %v while the link was down", r.n, r.err)
	default:
	}
	l.up("va")
	peer := l.raw("vb", false)
	f := ether(l.mac("va"), l.mac("vb"), nil, etherTest, []byte("after link up"))
	// The link needs a moment to get its carrier back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		peer.send(nil, f)
		select {
		case r := <-c:
			if r.err != nil || r.n < 1 || !bytes.Equal(bufs[0][port.ReadOffset:port.ReadOffset+sizes[0]], f) {
				t.Fatalf("Read = %d, %v, want the frame sent after link up", r.n, r.err)
			}
			if p.Stats().RxErrors == 0 {
				t.Error("Stats.RxErrors = 0, want the ENETDOWN counted")
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Close()
			t.Fatal("no frame read after link up")
		}
	}
}

// TestPrivilegedTruncated checks that a frame longer than the buffers is
// dropped and counted, and the next one read.
func TestPrivilegedTruncated(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	for _, name := range []string{"va", "vb"} {
		link, err := l.nl.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.nl.LinkSetMTU(link, 9000); err != nil {
			t.Fatal(err)
		}
	}
	p := l.open("va", Options{}, allFeatures)
	peer := l.raw("vb", false)
	dst, src := l.mac("va"), l.mac("vb")
	peer.send(nil, ether(dst, src, nil, etherTest, testPayload(3000, 1)))
	small := ether(dst, src, nil, etherTest, []byte(strings.Repeat("x", 50)))
	peer.send(nil, small)
	bufs, sizes := newBufs(4)
	for i := range bufs {
		bufs[i] = bufs[i][:port.ReadOffset+2000] // too short for 3000
	}
	n := readTimeout(t, p, bufs, sizes, 5*time.Second)
	if n != 1 || !bytes.Equal(bufs[0][port.ReadOffset:port.ReadOffset+sizes[0]], small) {
		t.Fatalf("Read = %d frames (first %d bytes), want only the small frame", n, sizes[0])
	}
	if s := p.Stats(); s.RxTruncated != 1 {
		t.Errorf("Stats.RxTruncated = %d, want 1", s.RxTruncated)
	}
}

// TestPrivilegedWriteTooBig: a frame (not a super-frame) longer than the
// link's MTU with one tag allows — a full-size frame with two tags on a
// 1500-byte link — is refused by the kernel, dropped, and counted as
// tx-too-big, so a QinQ link whose MTU is too small is easy to see. The
// other frames of the batch still go.
func TestPrivilegedWriteTooBig(t *testing.T) {
	testutil.Privileged(t)
	l := newLab(t)
	l.veth("va", "vb", nil)
	p := l.open("va", Options{}, modes[0].feat)
	peer := l.raw("vb", false)
	dst, src := l.mac("vb"), l.mac("va")
	frames := [][]byte{
		ether(dst, src, []uint16{0x88a8, 30, 0x8100, 100}, etherTest, testPayload(1500, 1)), // 1522 bytes
		ether(dst, src, []uint16{0x8100, 100}, etherTest, testPayload(1500, 2)),             // 1518: allowed
	}
	var bufs [][]byte
	for _, f := range frames {
		b := make([]byte, port.WriteOffset+len(f))
		copy(b[port.WriteOffset:], f)
		bufs = append(bufs, b)
	}
	n, err := p.Write(bufs, port.WriteOffset)
	if n != 1 || err == nil {
		t.Fatalf("Write = %d, %v; want 1 and an EMSGSIZE error", n, err)
	}
	if got := p.DeviceDrops()["tx-too-big"]; got != 1 {
		t.Errorf("tx-too-big = %d, want 1 (drops %v)", got, p.DeviceDrops())
	}
	if _, got, ok := peer.recv(); !ok || !bytes.Equal(got, frames[1]) {
		t.Errorf("the single-tagged full-size frame did not arrive")
	}
}
