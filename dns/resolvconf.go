package dns

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// UpstreamsFromResolvConf returns the addresses of the "nameserver" lines of
// the resolv.conf(5) file at path, in order, each with port 53. Like the C
// library it ignores comments ('#' or ';' to the end of the line), other
// keywords and addresses it cannot parse, and it keeps IPv6 zones
// ("fe80::1%eth0"). Duplicates are dropped. Unlike the C library it keeps
// more than three: the Server asks them all at once. A file without
// nameservers gives an empty list and no error.
func UpstreamsFromResolvConf(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resolv.conf: %w", err)
	}
	defer f.Close()

	var ups []netip.AddrPort
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		addr, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		ap := netip.AddrPortFrom(addr.Unmap(), 53)
		if !slices.Contains(ups, ap) {
			ups = append(ups, ap)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolv.conf %s: %w", path, err)
	}
	return ups, nil
}
