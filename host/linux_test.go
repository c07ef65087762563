//go:build linux

package host

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
)

// TestPrivilegedNICQueueDrops: frames an endpoint sends while nobody reads
// its TAP overflow the TAP's queue; the port reports them as QueueDrop.
func TestPrivilegedNICQueueDrops(t *testing.T) {
	testutil.Privileged(t)
	name := "vsw-hosttest-q"
	var h Linux
	netns.Delete(name)
	if err := h.CreateNamespace(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	dev, err := h.CreateNIC(Named(name), NICConfig{Name: "eth0", MAC: [6]byte{0x02, 0x42, 10, 9, 0, 2},
		Addr: netip.MustParsePrefix("10.9.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	dc, ok := dev.(port.DeviceCounter)
	if !ok {
		t.Fatalf("CreateNIC returned %T, not a port.DeviceCounter", dev)
	}
	if d := dc.DeviceDrops(); d[QueueDrop] != 0 {
		t.Fatalf("DeviceDrops() = %v before any traffic", d)
	}
	// 2000 broadcast datagrams, more than the queue (500) holds; nobody
	// reads the TAP.
	const sent = 2000
	ns, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	err = netns.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return err
		}
		to := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{10, 9, 0, 255}}
		for range sent {
			unix.Sendto(fd, []byte("flood"), 0, to) // a full qdisc may refuse some: fine
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := dc.DeviceDrops()[QueueDrop]
	if got == 0 || got > sent {
		t.Errorf("DeviceDrops()[%q] = %d after %d unread frames, want 1-%d", QueueDrop, got, sent, sent)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if d := dc.DeviceDrops(); d != nil {
		t.Errorf("DeviceDrops() after Close = %v, want nil", d)
	}
}
