package vxlan

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// fakeClock is an injected Options.Clock; the test advances it while the
// Port's reader runs.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) clock() int64            { return c.now.Load() }
func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

// openPorts opens one Port on each loopback address, all on one UDP port
// chosen at random (retried if taken), closed at cleanup. mod, if not nil,
// adjusts each port's options.
func openPorts(t testing.TB, addrs []netip.Addr, mod func(i int, o *Options)) []*Port {
	t.Helper()
	for range 20 {
		dport := uint16(20000 + rand.IntN(20000))
		var ps []*Port
		var err error
		for i, a := range addrs {
			o := Options{Local: a, Port: dport, SourcePorts: 4}
			if mod != nil {
				mod(i, &o)
			}
			var p *Port
			if p, err = Open(o); err != nil {
				break
			}
			ps = append(ps, p)
		}
		if err == nil {
			for _, p := range ps {
				t.Cleanup(func() { p.Close() })
			}
			return ps
		}
		for _, p := range ps {
			p.Close()
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Fatal(err)
		}
	}
	t.Fatal("no free UDP port for the test")
	return nil
}

func setNetworks(t testing.TB, p *Port, nets ...Network) {
	t.Helper()
	if err := p.SetNetworks(nets); err != nil {
		t.Fatal(err)
	}
}

// frame is a frame read from a port, with its virtio header.
type frame struct {
	vh   []byte
	data []byte
}

// reader reads a Port in a goroutine, so tests can wait with a timeout.
// It stops when the port is closed.
type reader struct {
	c    chan frame
	done chan struct{}
}

func startReader(t testing.TB, p *Port) *reader {
	r := &reader{c: make(chan frame, 4096), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		bufs := make([][]byte, p.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, port.BufferSize)
		}
		sizes := make([]int, len(bufs))
		for {
			n, err := p.Read(bufs, sizes, port.ReadOffset)
			if err != nil {
				if !errors.Is(err, port.ErrClosed) {
					t.Errorf("Read: %v", err)
				}
				return
			}
			for i := range n {
				b := bufs[i]
				r.c <- frame{
					vh:   append([]byte(nil), b[port.ReadOffset-header.VirtioNetLen:port.ReadOffset]...),
					data: append([]byte(nil), b[port.ReadOffset:port.ReadOffset+sizes[i]]...),
				}
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-r.done
	})
	return r
}

// next returns the next frame read, failing t after d.
func (r *reader) next(t testing.TB, d time.Duration) frame {
	t.Helper()
	select {
	case f := <-r.c:
		return f
	case <-time.After(d):
		t.Fatalf("no frame read in %v", d)
		return frame{}
	}
}

// none checks that nothing more is read within d.
func (r *reader) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case f := <-r.c:
		t.Fatalf("unexpected frame read: % x", f.data[:min(len(f.data), 40)])
	case <-time.After(d):
	}
}

// write writes frames (zero virtio headers) to p and checks all were
// accepted.
func write(t testing.TB, p *Port, frames ...[]byte) {
	t.Helper()
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = wbuf(f, nil)
	}
	if n, err := p.Write(bufs, header.VirtioNetLen); n != len(frames) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(frames))
	}
}

// untag returns a tagged frame's VID and the frame without its tag.
func untag(tb testing.TB, frame []byte) (uint16, []byte) {
	tb.Helper()
	if len(frame) < 18 || binary.BigEndian.Uint16(frame[12:]) != header.EtherTypeVLAN {
		tb.Fatalf("frame not 802.1Q-tagged: % x", frame[:min(len(frame), 18)])
	}
	vid := binary.BigEndian.Uint16(frame[14:]) & 0x0fff
	return vid, append(append([]byte(nil), frame[:12]...), frame[16:]...)
}

// tcpSuper builds a tagged TCP/IPv4 super-frame of payload bytes as a TAP
// with TSO hands it over: virtio GSO TCPv4 with gso_size mss, NEEDS_CSUM,
// and the pseudo-header sum over the whole TCP length in the checksum
// field. It returns the frame and its virtio header.
func tcpSuper(tb testing.TB, vid uint16, sport uint16, payload, mss int) ([]byte, header.VirtioNet) {
	tb.Helper()
	pl := make([]byte, payload)
	for i := range pl {
		pl[i] = byte(i*7 + i>>8)
	}
	eth := &layers.Ethernet{DstMAC: hw(macB), SrcMAC: hw(macA), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: nip(ipA), DstIP: nip(ipB), Id: 100, Flags: layers.IPv4DontFragment}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 5201, Seq: 1000, Ack: 1, ACK: true, PSH: true, Window: 512}
	tcp.SetNetworkLayerForChecksum(ip)
	f := tagged(serialize(tb, eth, ip, tcp, gopacket.Payload(pl)), vid)
	l3 := header.EthernetLen + header.VLANTagLen
	l4 := l3 + header.IPv4MinLen
	v4 := header.IPv4(f[l3:])
	header.TCP(f[l4:]).SetChecksum(v4.PseudoHeaderChecksum(uint16(len(f) - l4)))
	vh := make(header.VirtioNet, header.VirtioNetLen)
	vh.Encode(&header.VirtioNetFields{Flags: header.VirtioNetFlagNeedsCsum, GSOType: header.VirtioNetGSOTCPv4,
		HdrLen: uint16(l4 + header.TCPMinLen), GSOSize: uint16(mss), CsumStart: uint16(l4), CsumOffset: header.TCPChecksumOffset})
	return f, vh
}

// wbuf returns a buffer holding vh (zero if nil) then frame, for Write at
// offset header.VirtioNetLen.
func wbuf(frame []byte, vh header.VirtioNet) []byte {
	b := make([]byte, header.VirtioNetLen, header.VirtioNetLen+len(frame))
	copy(b, vh)
	return append(b, frame...)
}
