//go:build linux

package host

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vswitchd/vswitchd/afpacket"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/tap"
)

func init() {
	RegisterPortType("system", func(name string) (port.Port, error) {
		return afpacket.Open(name, afpacket.Options{Promiscuous: true})
	})
}

// nudPermanent is the kernel's NUD_PERMANENT neighbour state.
const nudPermanent = 0x80

// dumpRetries is how often a netlink dump interrupted by a concurrent
// change is retried (STYLE 21; the CNI plugins' netlinksafe does the same).
const dumpRetries = 5

// Linux is the Host of a real machine: netlink, TAP devices, AF_PACKET,
// mounts under /run/netns and files under /etc/netns. The daemon's
// namespace is the one the process started in.
type Linux struct {
	// Inherited, if set, holds TAPs a previous vswitchd handed over
	// (--takeover): OpenNIC and CreateHostLeg take theirs from it.
	Inherited *Inherited
	// TAPQueues is the number of queues of the endpoint NICs CreateNIC
	// makes and OpenNIC attaches (tap.Options.Queues); 0 or 1: one.
	TAPQueues int
}

var _ Host = Linux{}

// openNS returns a handle to ns.
func openNS(ns NS) (netns.Handle, error) {
	if ns.Name != "" {
		return netns.Open(ns.Name)
	}
	return netns.OpenPath(ns.Path)
}

// inNS runs f with a netlink handle acting in ns.
func inNS(ns NS, f func(h netns.Handle, nh *netlink.Handle) error) error {
	h, err := openNS(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	nh, err := netns.HandleAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	return f(h, nh)
}

// CreateNamespace implements Host.
func (Linux) CreateNamespace(name string) error {
	if err := netns.Create(name); err != nil {
		return err
	}
	err := inNS(Named(name), func(h netns.Handle, nh *netlink.Handle) error {
		// vswitchd networks are IPv4: no stray router solicitations.
		for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
			if err := netns.Sysctl(h, k, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		lo, err := nh.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		return nh.LinkSetUp(lo)
	})
	if err != nil {
		netns.Delete(name)
		return fmt.Errorf("prepare network namespace %q: %w", name, err)
	}
	return nil
}

// DeleteNamespace implements Host.
func (Linux) DeleteNamespace(name string) error { return netns.Delete(name) }

// NamespaceExists implements Host.
func (Linux) NamespaceExists(ns NS) bool {
	if ns.Name != "" {
		return netns.Exists(ns.Name)
	}
	return netns.ExistsPath(ns.Path)
}

// NamespaceID implements Host: the inode number of the namespace's nsfs
// file, which the kernel keeps for the namespace's whole life.
func (Linux) NamespaceID(ns NS) (uint64, error) {
	h, err := openNS(ns) // refuses what is not a namespace
	if err != nil {
		return 0, err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return 0, fmt.Errorf("network namespace %s: %w", ns, err)
	}
	return st.Ino, nil
}

// TAPs implements Host.
func (Linux) TAPs(ns NS) ([]string, error) {
	var names []string
	err := inNS(ns, func(_ netns.Handle, nh *netlink.Handle) error {
		links, err := retryDump(nh.LinkList)
		if err != nil {
			return fmt.Errorf("list interfaces in %s: %w", ns, err)
		}
		for _, l := range links {
			if l.Type() == "tuntap" {
				names = append(names, l.Attrs().Name)
			}
		}
		return nil
	})
	return names, err
}

// Pids implements Host.
func (Linux) Pids(ns NS) ([]int, error) { return netns.PidsPath(ns.Path) }

// CreateNIC implements Host: the TAP is made in the daemon's namespace
// under a random name, moved into ns, renamed, addressed and raised there.
func (l Linux) CreateNIC(ns NS, cfg NICConfig) (port.Port, error) {
	var rnd [4]byte
	rand.Read(rnd[:])
	tmpName := "vt" + hex.EncodeToString(rnd[:])
	dev, err := tap.Create(tap.Options{Name: tmpName, Persist: true, Queues: l.TAPQueues})
	if err != nil {
		return nil, err
	}
	err = inNS(ns, func(h netns.Handle, nh *netlink.Handle) error {
		link, err := netlink.LinkByName(tmpName)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetNsFd(link, int(h)); err != nil {
			return fmt.Errorf("move %s into %s: %w", tmpName, ns, err)
		}
		l, err := nh.LinkByName(tmpName)
		if err != nil {
			return err
		}
		if err := nh.LinkSetName(l, cfg.Name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", tmpName, cfg.Name, err)
		}
		if err := nh.LinkSetHardwareAddr(l, cfg.MAC.HardwareAddr()); err != nil {
			return fmt.Errorf("set MAC of %s: %w", cfg.Name, err)
		}
		if cfg.MTU != 0 {
			if err := nh.LinkSetMTU(l, cfg.MTU); err != nil {
				return fmt.Errorf("set MTU of %s: %w", cfg.Name, err)
			}
		}
		if cfg.Addr.IsValid() {
			a := &netlink.Addr{IPNet: prefixNet(cfg.Addr)}
			if err := nh.AddrAdd(l, a); err != nil {
				return fmt.Errorf("add %s to %s: %w", a, cfg.Name, err)
			}
		}
		if err := nh.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", cfg.Name, err)
		}
		if cfg.Gateway.IsValid() {
			if err := nh.RouteReplace(defaultRoute(l, cfg.Gateway)); err != nil {
				return fmt.Errorf("default route via %s: %w", cfg.Gateway, err)
			}
		}
		return nil
	})
	if err != nil {
		dev.Close()
		// Persistent: delete it wherever it ended up.
		if l, lerr := netlink.LinkByName(tmpName); lerr == nil {
			netlink.LinkDel(l)
		}
		inNS(ns, func(_ netns.Handle, nh *netlink.Handle) error {
			for _, n := range []string{tmpName, cfg.Name} {
				if l, err := nh.LinkByName(n); err == nil {
					nh.LinkDel(l)
				}
			}
			return nil
		})
		return nil, err
	}
	return withQueueDrops(dev, ns, cfg.Name), nil
}

// nicDevice is a TAP port that also reports the drops in its kernel queue
// (port.DeviceCounter), read from its netdev's counters through a netlink
// socket in its namespace.
type nicDevice struct {
	*tap.Device
	ifname string

	mu sync.Mutex      // guards nh (a netlink handle is not for concurrent use)
	nh *netlink.Handle // acts in the TAP's namespace; nil after Close
}

var _ port.DeviceCounter = (*nicDevice)(nil)

// withQueueDrops wraps dev, the TAP ifname in ns, so that its queue drops
// are counted. Without a netlink socket in ns it returns dev alone.
func withQueueDrops(dev *tap.Device, ns NS, ifname string) port.Port {
	var nh *netlink.Handle
	err := func() error {
		if ns == (NS{}) {
			var err error
			nh, err = netlink.NewHandle()
			return err
		}
		h, err := openNS(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		nh, err = netns.HandleAt(h)
		return err
	}()
	if err != nil {
		return dev
	}
	return &nicDevice{Device: dev, ifname: ifname, nh: nh}
}

// DeviceDrops implements port.DeviceCounter: the TAP's tx_dropped, as
// QueueDrop.
func (d *nicDevice) DeviceDrops() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nh == nil {
		return nil
	}
	l, err := d.nh.LinkByName(d.ifname)
	if err != nil || l.Attrs().Statistics == nil || l.Attrs().Statistics.TxDropped == 0 {
		return nil
	}
	return map[string]uint64{QueueDrop: l.Attrs().Statistics.TxDropped}
}

// Close implements port.Port.
func (d *nicDevice) Close() error {
	err := d.Device.Close()
	d.mu.Lock()
	if d.nh != nil {
		d.nh.Close()
		d.nh = nil
	}
	d.mu.Unlock()
	return err
}

func defaultRoute(l netlink.Link, gw netip.Addr) *netlink.Route {
	return &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice(), Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
}

// OpenNIC implements Host.
func (l Linux) OpenNIC(ns NS, ifname string) (port.Port, error) {
	if fds, ok := l.Inherited.TakeQueues(NICKey(ns, ifname)); ok {
		return tap.FromFD(ifname, fds...)
	}
	h, err := openNS(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var dev *tap.Device
	err = netns.Do(h, func() error {
		var err error
		dev, err = tap.Open(ifname, l.TAPQueues)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("re-adopt %s in %s: %w", ifname, ns, err)
	}
	return withQueueDrops(dev, ns, ifname), nil
}

// NICExists implements Host.
func (Linux) NICExists(ns NS, ifname string) bool {
	return inNS(ns, func(_ netns.Handle, nh *netlink.Handle) error {
		_, err := nh.LinkByName(ifname)
		return err
	}) == nil
}

// DeleteNIC implements Host.
func (Linux) DeleteNIC(ns NS, ifname string) error {
	err := inNS(ns, func(_ netns.Handle, nh *netlink.Handle) error {
		l, err := nh.LinkByName(ifname)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return err
		}
		return nh.LinkDel(l)
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s in %s: %w", ifname, ns, err)
	}
	return nil
}

// SetDefaultRoute implements Host.
func (Linux) SetDefaultRoute(ns NS, ifname string, gw netip.Addr) error {
	return inNS(ns, func(_ netns.Handle, nh *netlink.Handle) error {
		l, err := nh.LinkByName(ifname)
		if err != nil {
			return err
		}
		if err := nh.RouteReplace(defaultRoute(l, gw)); err != nil {
			return fmt.Errorf("default route via %s in %s: %w", gw, ns, err)
		}
		return nil
	})
}

// WriteEtc implements Host.
func (Linux) WriteEtc(name string, files map[string][]byte) error {
	for f, b := range files {
		if err := netns.WriteEtc(name, f, b); err != nil {
			return err
		}
	}
	return nil
}

// RemoveEtc implements Host.
func (Linux) RemoveEtc(name string) error { return netns.RemoveEtc(name) }

// CreateHostLeg implements Host.
func (l Linux) CreateHostLeg(cfg HostLegConfig) (port.Port, header.MAC, error) {
	var dev *tap.Device
	var err error
	if fd, ok := l.Inherited.Take(HostLegKey(cfg.Name)); ok {
		// Handed over by the previous vswitchd: the TAP never went
		// away, nor its address and routes.
		dev, err = tap.FromFD(cfg.Name, fd)
	} else {
		if old, err := netlink.LinkByName(cfg.Name); err == nil {
			// A leftover of a crashed run (the TAP is not persistent,
			// so this is rare): replace it.
			netlink.LinkDel(old)
		}
		dev, err = tap.Create(tap.Options{Name: cfg.Name})
	}
	if err != nil {
		return nil, header.MAC{}, fmt.Errorf("host leg: %w", err)
	}
	fail := func(err error) (port.Port, header.MAC, error) {
		dev.Close()
		return nil, header.MAC{}, fmt.Errorf("host leg: %w", err)
	}
	link, err := netlink.LinkByName(cfg.Name)
	if err != nil {
		return fail(err)
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: prefixNet(cfg.Addr)}); err != nil {
		return fail(fmt.Errorf("add %s: %w", cfg.Addr, err))
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fail(fmt.Errorf("set up: %w", err))
	}
	// The leg is IPv4: keep the host from sending router solicitations
	// and other IPv6 noise into it. A kernel without IPv6 has no file.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+cfg.Name+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(fmt.Errorf("disable IPv6: %w", err))
	}
	// The router's address is known to the host kernel at once, so the
	// first packet to an endpoint need not wait for ARP.
	if err := netlink.NeighSet(&netlink.Neigh{
		LinkIndex: link.Attrs().Index, State: nudPermanent,
		IP: cfg.RouterAddr.AsSlice(), HardwareAddr: cfg.RouterMAC.HardwareAddr(),
	}); err != nil {
		return fail(fmt.Errorf("neighbour %s: %w", cfg.RouterAddr, err))
	}
	var mac header.MAC
	copy(mac[:], link.Attrs().HardwareAddr)
	return withQueueDrops(dev, NS{}, cfg.Name), mac, nil
}

// AddRoute implements Host.
func (Linux) AddRoute(dst netip.Prefix, via netip.Addr, dev string) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("route %s: %w", dst, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(dst), Gw: via.AsSlice()}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s via %s: %w", dst, via, err)
	}
	return nil
}

// DelRoute implements Host.
func (Linux) DelRoute(dst netip.Prefix, via netip.Addr, dev string) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil // the route went with its device
	}
	err = netlink.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(dst), Gw: via.AsSlice()})
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("delete route %s via %s: %w", dst, via, err)
	}
	return nil
}

// UsedPrefixes implements Host.
func (Linux) UsedPrefixes() ([]netip.Prefix, error) {
	var used []netip.Prefix
	rs, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, syscall.AF_INET) })
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		if p, ok := netipPrefix(r.Dst.IP, r.Dst.Mask); ok && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, syscall.AF_INET) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := netipPrefix(a.IP, a.Mask); ok {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// retryDump retries a netlink dump that a concurrent change interrupted.
func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range dumpRetries {
		if out, err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}

// InterfaceExists implements Host.
func (Linux) InterfaceExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// LinkMTU returns the MTU of the daemon namespace's interface name (the
// uplink's, for the router's path MTU handling). It implements
// MTUQuerier.
func (Linux) LinkMTU(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return l.Attrs().MTU, nil
}

// OpenPort implements Host.
func (Linux) OpenPort(typ, name string) (port.Port, error) {
	open, err := Opener(typ)
	if err != nil {
		return nil, err
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set %s up: %w", name, err)
	}
	return open(name)
}

// ListenTCP implements Host.
func (Linux) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	return net.Listen("tcp", addr.String())
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netipPrefix(ip []byte, mask []byte) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := net.IPMask(mask).Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
