//go:build linux

package cni

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/netns"
)

// checkNIC checks, in the namespace at netnsPath, that interface ifname
// exists, is up, has MAC mac and (when valid) address addr.
func checkNIC(netnsPath, ifname, mac string, addr netip.Prefix) error {
	h, err := netns.OpenPath(netnsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", netnsPath, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", netnsPath, err)
	}
	defer nh.Close()
	link, err := nh.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("interface %s in %s: %w", ifname, netnsPath, err)
	}
	a := link.Attrs()
	if !strings.EqualFold(a.HardwareAddr.String(), mac) {
		return fmt.Errorf("interface %s has MAC %s, vswitchd gave it %s", ifname, a.HardwareAddr, mac)
	}
	if a.Flags&1 == 0 { // net.FlagUp
		return fmt.Errorf("interface %s is down", ifname)
	}
	if !addr.IsValid() {
		return nil
	}
	addrs, err := nh.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	for _, x := range addrs {
		ones, _ := x.Mask.Size()
		if ip, ok := netip.AddrFromSlice(x.IP.To4()); ok && netip.PrefixFrom(ip, ones) == addr {
			return nil
		}
	}
	return fmt.Errorf("interface %s does not have %s", ifname, addr)
}
