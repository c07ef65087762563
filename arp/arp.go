// Package arp answers and builds ARP packets (RFC 826) and keeps a
// neighbour cache with aging, for the switch's router: it owns each
// network's gateway address, answers for the addresses it assigned (ARP
// suppression), resolves the uplink's next hop and announces endpoints with
// gratuitous ARP (RFC 5227 §3).
//
// The entry points are the builders Reply, Request and Gratuitous, which
// write a complete Ethernet frame into a caller's buffer and return its
// length, and NewCache for the neighbour table. Pure logic: time is passed
// in as monotonic nanoseconds.
package arp

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/vswitchd/vswitchd/header"
)

// FrameLen is the length of an Ethernet ARP frame without padding.
const FrameLen = header.EthernetLen + header.ARPLen

// Reply writes into b (at least FrameLen bytes) the reply to the request
// req, saying that ip is at mac, addressed to the requester. It returns the
// frame length.
func Reply(b []byte, req header.ARP, mac header.MAC, ip netip.Addr) int {
	return build(b, header.ARPReply, mac, ip, req.SenderMAC(), req.SenderIP(), req.SenderMAC())
}

// Request writes into b a broadcast request from (mac, ip) for target. It
// returns the frame length.
func Request(b []byte, mac header.MAC, ip, target netip.Addr) int {
	return build(b, header.ARPRequest, mac, ip, header.MAC{}, target, header.Broadcast)
}

// Gratuitous writes into b a gratuitous ARP request announcing that ip is at
// mac (sender and target address both ip, broadcast), which updates peers'
// caches after an endpoint is re-created (RFC 5227 §3). It returns the
// frame length.
func Gratuitous(b []byte, mac header.MAC, ip netip.Addr) int {
	return build(b, header.ARPRequest, mac, ip, header.MAC{}, ip, header.Broadcast)
}

func build(b []byte, op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr, dst header.MAC) int {
	header.Ethernet(b).Encode(&header.EthernetFields{Dst: dst, Src: sha, Type: header.EtherTypeARP})
	header.ARP(b[header.EthernetLen:]).Encode(&header.ARPFields{
		Op: op, SenderMAC: sha, SenderIP: spa, TargetMAC: tha, TargetIP: tpa,
	})
	return FrameLen
}

// IsGratuitous reports whether a is a gratuitous ARP (sender and target
// protocol addresses equal).
func IsGratuitous(a header.ARP) bool { return a.SenderIP() == a.TargetIP() }

// DefaultTimeout is how long a learned neighbour stays valid without being
// refreshed (Linux's base_reachable_time is 30 s; stale entries linger
// longer there, but the switch re-resolves instead).
const DefaultTimeout = 60 * time.Second

// Cache is a neighbour table: IPv4 address → MAC, with aging. It is safe for
// concurrent use.
type Cache struct {
	timeout int64 // nanoseconds

	mu      sync.RWMutex // guards entries
	entries map[netip.Addr]entry
}

type entry struct {
	mac     header.MAC
	updated int64
	static  bool
}

// Neighbor is a cache entry for listings.
type Neighbor struct {
	IP     netip.Addr
	MAC    header.MAC
	Static bool
	Age    time.Duration
}

// NewCache returns a cache whose dynamic entries expire after timeout (0
// means DefaultTimeout).
func NewCache(timeout time.Duration) *Cache {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Cache{timeout: int64(timeout), entries: map[netip.Addr]entry{}}
}

// Update records that ip is at mac, as seen at now. It does not replace a
// static entry.
func (c *Cache) Update(ip netip.Addr, mac header.MAC, now int64) {
	c.mu.RLock()
	e, ok := c.entries[ip]
	c.mu.RUnlock()
	if ok && (e.static || e.mac == mac && now-e.updated < c.timeout/4) {
		return // unchanged and fresh: no write lock on the common path
	}
	c.mu.Lock()
	if e, ok := c.entries[ip]; !ok || !e.static {
		c.entries[ip] = entry{mac: mac, updated: now}
	}
	c.mu.Unlock()
}

// SetStatic records a permanent entry.
func (c *Cache) SetStatic(ip netip.Addr, mac header.MAC) {
	c.mu.Lock()
	c.entries[ip] = entry{mac: mac, static: true}
	c.mu.Unlock()
}

// Delete removes ip's entry, static or not.
func (c *Cache) Delete(ip netip.Addr) {
	c.mu.Lock()
	delete(c.entries, ip)
	c.mu.Unlock()
}

// Lookup returns ip's MAC if it has a valid entry at now.
func (c *Cache) Lookup(ip netip.Addr, now int64) (header.MAC, bool) {
	c.mu.RLock()
	e, ok := c.entries[ip]
	c.mu.RUnlock()
	if !ok || !e.static && now-e.updated >= c.timeout {
		return header.MAC{}, false
	}
	return e.mac, true
}

// Age removes dynamic entries older than the timeout and returns how many.
func (c *Cache) Age(now int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for ip, e := range c.entries {
		if !e.static && now-e.updated >= c.timeout {
			delete(c.entries, ip)
			n++
		}
	}
	return n
}

// Entries returns the valid entries at now, sorted by address.
func (c *Cache) Entries(now int64) []Neighbor {
	c.mu.RLock()
	out := make([]Neighbor, 0, len(c.entries))
	for ip, e := range c.entries {
		if !e.static && now-e.updated >= c.timeout {
			continue
		}
		n := Neighbor{IP: ip, MAC: e.mac, Static: e.static}
		if !e.static {
			n.Age = time.Duration(now - e.updated)
		}
		out = append(out, n)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}
