package afpacket

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// TestPrivilegedZeroAllocs checks that Read and Write allocate nothing per
// batch in steady state: tagged and untagged frames read (so both read
// layouts and both tag placements run), a batch written back, and, without
// PACKET_VNET_HDR, a super-frame segmented in software.
func TestPrivilegedZeroAllocs(t *testing.T) {
	testutil.Privileged(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			l := newLab(t)
			l.veth("va", "vb", nil)
			p := l.open("va", Options{}, m.feat)
			peer := l.raw("vb", false)
			dst, src := l.mac("va"), l.mac("vb")
			var in [][]byte
			for i, c := range tagCases {
				in = append(in, ether(dst, src, c.tags, etherTest, testPayload(200, byte(i))))
			}
			bufs, sizes := newBufs(p.BatchSize())
			out := make([][]byte, len(bufs))

			full, _ := tcpFrame(t, src, dst, nil, 8000)
			gf, gvh := testframe.Partial(t, full, 1000)
			gso := [][]byte{append(append(make([]byte, 0, header.VirtioNetLen+len(gf)), gvh.Bytes()...), gf...)}

			allocs := testing.AllocsPerRun(100, func() {
				for _, f := range in {
					if err := rawWrite(peer, f); err != nil {
						t.Fatal(err)
					}
				}
				for got := 0; got < len(in); {
					n, err := p.Read(bufs, sizes, port.ReadOffset)
					if err != nil {
						t.Fatal(err)
					}
					for i := range n {
						out[i] = bufs[i][:port.ReadOffset+sizes[i]]
					}
					if w, err := p.Write(out[:n], port.ReadOffset); w != n || err != nil {
						t.Fatalf("Write = %d, %v; want %d", w, err, n)
					}
					got += n
				}
				if w, err := p.Write(gso, header.VirtioNetLen); w != 1 || err != nil {
					t.Fatalf("Write super-frame = %d, %v", w, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%.1f allocations per batch, want 0", allocs)
			}
		})
	}
}

// BenchmarkPrivilegedRead measures frames/s a Port reads from a veth, fed
// by a second Port writing 64-byte frames on the peer in batches.
func BenchmarkPrivilegedRead(b *testing.B) {
	testutil.Privileged(b)
	for _, size := range []int{64, 1500} {
		b.Run(sizeName(size), func(b *testing.B) {
			l := newLab(b)
			l.veth("va", "vb", nil)
			rx := l.open("va", Options{}, allFeatures)
			tx := l.open("vb", Options{}, allFeatures)
			f := ether(l.mac("va"), l.mac("vb"), nil, etherTest, testPayload(size-header.EthernetLen, 0))
			wbufs := make([][]byte, DefaultBatchSize)
			for i := range wbufs {
				wbufs[i] = append(make([]byte, header.VirtioNetLen), f...)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					tx.Write(wbufs, header.VirtioNetLen)
				}
			}()
			bufs, sizes := newBufs(rx.BatchSize())
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for got := 0; got < b.N; {
				n, err := rx.Read(bufs, sizes, port.ReadOffset)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
		})
	}
}

// BenchmarkPrivilegedWrite measures frames/s a Port writes to a veth in
// batches of DefaultBatchSize (the peer end drops them).
func BenchmarkPrivilegedWrite(b *testing.B) {
	testutil.Privileged(b)
	for _, size := range []int{64, 1500} {
		b.Run(sizeName(size), func(b *testing.B) {
			l := newLab(b)
			l.veth("va", "vb", nil)
			tx := l.open("va", Options{}, allFeatures)
			f := ether(l.mac("vb"), l.mac("va"), nil, etherTest, testPayload(size-header.EthernetLen, 0))
			wbufs := make([][]byte, DefaultBatchSize)
			for i := range wbufs {
				wbufs[i] = append(make([]byte, header.VirtioNetLen), f...)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for sent < b.N {
				n, _ := tx.Write(wbufs, header.VirtioNetLen)
				sent += n
			}
			b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "frames/s")
		})
	}
}

func sizeName(n int) string { return fmt.Sprintf("%dB", n) }

// rawWrite sends frame from s without the allocations of testing.T.Helper.
func rawWrite(s *rawSocket, frame []byte) error {
	_, err := unix.Write(s.fd, frame)
	return err
}
