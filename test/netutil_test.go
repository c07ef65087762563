//go:build linux

package test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/netns"
)

// sendRaw sends frame out of ifname inside the named namespace through an
// AF_PACKET socket, bypassing the namespace's IP stack, as a misbehaving
// endpoint would.
func sendRaw(t *testing.T, ns, ifname string, frame []byte) {
	t.Helper()
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = netns.Do(h, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6})
	})
	if err != nil {
		t.Fatalf("send raw frame in %s: %v", ns, err)
	}
}

// buildFrame serializes layers with lengths and checksums computed.
func buildFrame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// arpFrame builds an Ethernet ARP packet.
func arpFrame(t *testing.T, op uint16, srcMAC, dstMAC net.HardwareAddr, senderIP, targetIP string, targetMAC net.HardwareAddr) []byte {
	return buildFrame(t,
		&layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: srcMAC, SourceProtAddress: net.ParseIP(senderIP).To4(),
			DstHwAddress: targetMAC, DstProtAddress: net.ParseIP(targetIP).To4(),
		})
}

// peerNS is a namespace the test made, joined to the lab by a veth pair:
// an outside host (an upstream DNS server, the internet, an OVS switch).
type peerNS struct {
	name string
}

// newPeer creates namespace short-<lab id> joined to the lab by a veth
// pair: labIf in the lab (with labAddr) and peerIf in the peer (with
// peerAddr); an empty address leaves that end without one.
func (l *lab) newPeer(t *testing.T, short, labIf, labAddr, peerIf, peerAddr string) *peerNS {
	t.Helper()
	p := l.newNS(t, short)
	veth(t, l.name, labIf, p.name, peerIf)
	if labAddr != "" {
		addAddr(t, l.name, labIf, labAddr)
	}
	if peerAddr != "" {
		addAddr(t, p.name, peerIf, peerAddr)
	}
	return p
}

// run runs a command in the peer namespace.
func (p *peerNS) run(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, "", "ip", append([]string{"netns", "exec", p.name}, args...)...)
}

// start runs a long-lived command in the peer namespace; it and what it
// forks are killed (by process group) at cleanup.
func (p *peerNS) start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd, _ := startProcess(t, "ip", append([]string{"netns", "exec", p.name}, args...)...)
	return cmd
}

// close kills what runs in the peer namespace and deletes it (its veth
// goes with it).
func (p *peerNS) close() {
	if pids, err := netns.Pids(p.name); err == nil {
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	for range 50 {
		if pids, _ := netns.Pids(p.name); len(pids) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	netns.Delete(p.name)
}

// waitListening waits until something in ns listens on port (tcp or udp).
func waitListening(t *testing.T, run func(...string) result, proto string, port int) {
	t.Helper()
	flag := "-ltn"
	if proto == "udp" {
		flag = "-lun"
	}
	eventually(t, 10*time.Second, func() error {
		if strings.Contains(run("ss", flag).stdout, fmt.Sprintf(":%d ", port)) {
			return nil
		}
		return fmt.Errorf("nothing listens on %s port %d", proto, port)
	})
}
