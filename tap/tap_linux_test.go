package tap

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// socketpairDevice returns a Device over one end of a SOCK_SEQPACKET
// socketpair and the raw other end, which behaves like the kernel side of a
// TAP: one message is one virtio header plus frame.
func socketpairDevice(t *testing.T) (*Device, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDevice("sp0", fds[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); unix.Close(fds[1]) })
	return d, fds[1]
}

func frame(n int, fill byte) []byte {
	f := make([]byte, header.VirtioNetLen+n)
	f[0] = header.VirtioNetFlagNeedsCsum // a virtio header that must pass through
	f[6] = 34
	f[8] = 16
	for i := header.VirtioNetLen; i < len(f); i++ {
		f[i] = fill
	}
	return f
}

func newBufs(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, port.BufferSize)
	}
	return bufs
}

func TestReadDrainsUntilEAGAIN(t *testing.T) {
	d, peer := socketpairDevice(t)
	var want [][]byte
	for i := range 5 {
		f := frame(60+i*100, byte(i+1))
		want = append(want, f)
		if _, err := unix.Write(peer, f); err != nil {
			t.Fatal(err)
		}
	}
	bufs, sizes := newBufs(BatchSize), make([]int, BatchSize)
	n, err := d.Read(bufs, sizes, port.ReadOffset)
	if err != nil || n != 5 {
		t.Fatalf("Read = %d, %v; want 5 frames in one call", n, err)
	}
	for i := range n {
		got := bufs[i][port.ReadOffset-header.VirtioNetLen : port.ReadOffset+sizes[i]]
		if !bytes.Equal(got, want[i]) {
			t.Errorf("frame %d: got %d bytes %x..., want %d bytes %x...", i, len(got), got[:12], len(want[i]), want[i][:12])
		}
	}
}

func TestReadRespectsBatch(t *testing.T) {
	d, peer := socketpairDevice(t)
	for i := range 3 {
		unix.Write(peer, frame(64, byte(i)))
	}
	bufs, sizes := newBufs(2), make([]int, 2)
	if n, err := d.Read(bufs, sizes, port.ReadOffset); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v; want 2", n, err)
	}
	if n, err := d.Read(bufs, sizes, port.ReadOffset); n != 1 || err != nil {
		t.Fatalf("second Read = %d, %v; want 1", n, err)
	}
}

func TestReadSkipsRunts(t *testing.T) {
	d, peer := socketpairDevice(t)
	unix.Write(peer, []byte{1, 2, 3})
	unix.Write(peer, frame(64, 7))
	bufs, sizes := newBufs(4), make([]int, 4)
	if n, err := d.Read(bufs, sizes, port.ReadOffset); n != 1 || err != nil || sizes[0] != 64 {
		t.Fatalf("Read = %d, %v, size %d; want one 64-byte frame", n, err, sizes[0])
	}
}

func TestWriteKeepsVirtioHeader(t *testing.T) {
	d, peer := socketpairDevice(t)
	bufs := [][]byte{frame(100, 0xaa), frame(1500, 0xbb)}
	if n, err := d.Write(bufs, header.VirtioNetLen); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v; want 2, nil", n, err)
	}
	got := make([]byte, 4096)
	for i, want := range bufs {
		m, err := unix.Read(peer, got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:m], want) {
			t.Errorf("message %d: %d bytes, want %d with the virtio header first", i, m, len(want))
		}
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	d, _ := socketpairDevice(t)
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(1), make([]int, 1)
		_, err := d.Read(bufs, sizes, port.ReadOffset)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read park in the netpoller
	d.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, port.ErrClosed) {
			t.Fatalf("Read after Close = %v, want port.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5 s after Close")
	}
	if _, err := d.Write([][]byte{frame(64, 1)}, header.VirtioNetLen); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Write after Close = %v, want port.ErrClosed", err)
	}
}

func TestReadWriteNoAllocs(t *testing.T) {
	d, peer := socketpairDevice(t)
	bufs, sizes := newBufs(4), make([]int, 4)
	out := [][]byte{frame(100, 1), frame(200, 2)}
	scratch := make([]byte, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		unix.Write(peer, out[0])
		if n, err := d.Read(bufs, sizes, port.ReadOffset); n != 1 || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if n, err := d.Write(out, header.VirtioNetLen); n != 2 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		unix.Read(peer, scratch)
		unix.Read(peer, scratch)
	})
	if allocs != 0 {
		t.Errorf("a Read and a Write allocate %.1f times, want 0", allocs)
	}
}

// queuesDevice returns a Device with n queues, each over a socketpair, and
// the peers, the kernel side of each queue.
func queuesDevice(t *testing.T, n int) (*Device, []int) {
	t.Helper()
	var fds, peers []int
	for range n {
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds, peers = append(fds, sp[0]), append(peers, sp[1])
	}
	d, err := newDevice("mq0", fds...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		for _, p := range peers {
			unix.Close(p)
		}
	})
	return d, peers
}

// TestQueues: each queue reads and writes its own descriptor; WriteQueue
// takes the queue number modulo Queues, and Read and Write are queue 0.
func TestQueues(t *testing.T) {
	d, peers := queuesDevice(t, 3)
	if d.Queues() != 3 {
		t.Fatalf("Queues = %d, want 3", d.Queues())
	}
	bufs, sizes := newBufs(4), make([]int, 4)
	for q, p := range peers {
		unix.Write(p, frame(60+q, byte(q)))
		if n, err := d.ReadQueue(q, bufs, sizes, port.ReadOffset); n != 1 || err != nil || sizes[0] != 60+q || bufs[0][port.ReadOffset] != byte(q) {
			t.Fatalf("ReadQueue(%d) = %d, %v, size %d; want the frame written to queue %d", q, n, err, sizes[0], q)
		}
	}
	if _, err := d.ReadQueue(3, bufs, sizes, port.ReadOffset); err == nil {
		t.Error("ReadQueue(3) of 3 queues: no error")
	}
	got := make([]byte, 4096)
	for _, c := range []struct{ q, want int }{{0, 0}, {1, 1}, {2, 2}, {4, 1}, {-1, 0}} {
		var err error
		if c.q < 0 {
			_, err = d.Write([][]byte{frame(70, 7)}, header.VirtioNetLen)
		} else {
			_, err = d.WriteQueue(c.q, [][]byte{frame(70, 7)}, header.VirtioNetLen)
		}
		if err != nil {
			t.Fatal(err)
		}
		for p, fd := range peers {
			m, _, err := unix.Recvfrom(fd, got, unix.MSG_DONTWAIT)
			if (p == c.want) != (err == nil) {
				t.Errorf("write to queue %d: peer %d read %d bytes, %v; want the frame on queue %d only", c.q, p, m, err, c.want)
			}
		}
	}
}

// TestQueuesNoAllocs: reading and writing a queue other than 0 allocates
// nothing either.
func TestQueuesNoAllocs(t *testing.T) {
	d, peers := queuesDevice(t, 2)
	bufs, sizes := newBufs(4), make([]int, 4)
	out := [][]byte{frame(100, 1), frame(200, 2)}
	scratch := make([]byte, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		unix.Write(peers[1], out[0])
		if n, err := d.ReadQueue(1, bufs, sizes, port.ReadOffset); n != 1 || err != nil {
			t.Fatalf("ReadQueue = %d, %v", n, err)
		}
		if n, err := d.WriteQueue(1, out, header.VirtioNetLen); n != 2 || err != nil {
			t.Fatalf("WriteQueue = %d, %v", n, err)
		}
		unix.Read(peers[1], scratch)
		unix.Read(peers[1], scratch)
	})
	if allocs != 0 {
		t.Errorf("a ReadQueue and a WriteQueue allocate %.1f times, want 0", allocs)
	}
}
