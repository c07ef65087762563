package afpacket

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
)

// forwarder copies every frame read from one port to another, the smallest
// possible switch, and counts what it moved.
type forwarder struct {
	frames, gso, bytes atomic.Int64
}

func (fw *forwarder) run(from, to *Port) error {
	bufs, sizes := newBufs(from.BatchSize())
	out := make([][]byte, len(bufs))
	for {
		n, err := from.Read(bufs, sizes, port.ReadOffset)
		if err != nil {
			return err
		}
		for i := range n {
			out[i] = bufs[i][:port.ReadOffset+sizes[i]]
			if header.VirtioNet(bufs[i][port.ReadOffset-header.VirtioNetLen:]).IsGSO() {
				fw.gso.Add(1)
			}
			fw.bytes.Add(int64(sizes[i]))
		}
		fw.frames.Add(int64(n))
		// Frames the kernel refuses are dropped, as in the datapath.
		if _, err := to.Write(out[:n], port.ReadOffset); errors.Is(err, port.ErrClosed) {
			return err
		}
	}
}

// TestPrivilegedForwardTCP joins two namespaces through two veth pairs whose
// switch-side ends are Ports, forwarded into each other by a test loop, and
// runs real kernel traffic across: ping, then a TCP transfer of 8 MiB with
// the veths' offloads on (TSO, checksum), whose bytes are checked on the
// far side. With PACKET_VNET_HDR the TCP super-frames cross the switch
// whole; without it they arrive as 64 KiB frames with partial checksums
// that Read describes and Write segments.
func TestPrivilegedForwardTCP(t *testing.T) {
	testutil.Privileged(t)
	testutil.RequireTools(t, "ip", "ping")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sw, h1, h2 := newLab(t), newLab(t), newLab(t)
			sw.veth("a0", "a1", h1)
			sw.veth("b0", "b1", h2)
			h1.addr("a1", "10.9.0.1/24")
			h2.addr("b1", "10.9.0.2/24")
			a := sw.open("a0", Options{Promiscuous: true}, m.feat)
			b := sw.open("b0", Options{Promiscuous: true}, m.feat)

			var ab, ba forwarder
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); ab.run(a, b) }()
			go func() { defer wg.Done(); ba.run(b, a) }()
			t.Cleanup(func() { a.Close(); b.Close(); wg.Wait() })

			out, err := exec.Command("ip", "netns", "exec", h1.name, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.9.0.2").CombinedOutput()
			if err != nil {
				t.Fatalf("ping through the switch: %v\n%s", err, out)
			}

			const size = 8 << 20
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rand.Uint32())
			}
			var ln net.Listener
			if err := netns.Do(h2.ns, func() (err error) {
				ln, err = net.Listen("tcp", "10.9.0.2:0")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			sumc := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					sumc <- nil
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				h := sha256.New()
				n, _ := io.Copy(h, c)
				if n != size {
					t.Errorf("server received %d bytes, want %d", n, size)
				}
				sumc <- h.Sum(nil)
			}()
			var conn net.Conn
			if err := netns.Do(h1.ns, func() (err error) {
				conn, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			start := time.Now()
			if _, err := conn.Write(data); err != nil {
				t.Fatalf("send: %v", err)
			}
			conn.Close()
			got := <-sumc
			elapsed := time.Since(start)
			want := sha256.Sum256(data)
			if !bytes.Equal(got, want[:]) {
				t.Fatalf("server's SHA-256 %x, want %x", got, want)
			}
			t.Logf("%d MiB in %v (%.0f Mbit/s); a→b %d frames (%d GSO, %.0f B avg), b→a %d frames",
				size>>20, elapsed.Round(time.Millisecond), float64(size)*8/elapsed.Seconds()/1e6,
				ab.frames.Load(), ab.gso.Load(), float64(ab.bytes.Load())/float64(ab.frames.Load()), ba.frames.Load())
			if m.feat.vnetHdr && ab.gso.Load() == 0 {
				t.Error("no GSO super-frame crossed the switch with PACKET_VNET_HDR on")
			}
		})
	}
}
