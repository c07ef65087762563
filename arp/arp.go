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
	"sync/atomic"
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

// Cache is a neighbour table: IPv4 address → MAC, with aging. It is safe
// for concurrent use. Readers (Lookup, on the routed fast path) load an
// immutable map through an atomic pointer and never write shared memory;
// writers copy the map, which is small and changes rarely.
type Cache struct {
	timeout int64 // nanoseconds

	mu   sync.Mutex                    // serialises writers
	snap atomic.Pointer[map[ip4]entry] // immutable once stored
}

// ip4 is the key of an IPv4 address: a 4-byte key hashes several times
// faster than a netip.Addr, and Lookup is on the routed fast path.
type ip4 [4]byte

func key(ip netip.Addr) (ip4, bool) {
	if !ip.Is4() {
		return ip4{}, false
	}
	return ip.As4(), true
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
	c := &Cache{timeout: int64(timeout)}
	c.snap.Store(&map[ip4]entry{})
	return c
}

func (c *Cache) entries() map[ip4]entry { return *c.snap.Load() }

// change copies the map under mu, lets f edit the copy, and publishes it.
// Callers hold mu.
func (c *Cache) change(f func(m map[ip4]entry)) {
	old := c.entries()
	m := make(map[ip4]entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	f(m)
	c.snap.Store(&m)
}

// Update records that ip is at mac, as seen at now. It does not replace a
// static entry.
func (c *Cache) Update(ip netip.Addr, mac header.MAC, now int64) {
	k, ok := key(ip)
	if !ok {
		return
	}
	if e, ok := c.entries()[k]; ok && (e.static || e.mac == mac && now-e.updated < c.timeout/4) {
		return // unchanged and fresh: no copy on the common path
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.change(func(m map[ip4]entry) {
		if e, ok := m[k]; !ok || !e.static {
			m[k] = entry{mac: mac, updated: now}
		}
	})
}

// SetStatic records a permanent entry.
func (c *Cache) SetStatic(ip netip.Addr, mac header.MAC) {
	k, ok := key(ip)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.change(func(m map[ip4]entry) { m[k] = entry{mac: mac, static: true} })
}

// Delete removes ip's entry, static or not.
func (c *Cache) Delete(ip netip.Addr) {
	k, ok := key(ip)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries()[k]; ok {
		c.change(func(m map[ip4]entry) { delete(m, k) })
	}
}

// Lookup returns ip's MAC if it has a valid entry at now. It only reads.
func (c *Cache) Lookup(ip netip.Addr, now int64) (header.MAC, bool) {
	k, ok := key(ip)
	if !ok {
		return header.MAC{}, false
	}
	e, ok := c.entries()[k]
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
	for _, e := range c.entries() {
		if !e.static && now-e.updated >= c.timeout {
			n++
		}
	}
	if n > 0 {
		c.change(func(m map[ip4]entry) {
			for ip, e := range m {
				if !e.static && now-e.updated >= c.timeout {
					delete(m, ip)
				}
			}
		})
	}
	return n
}

// Entries returns the valid entries at now, sorted by address.
func (c *Cache) Entries(now int64) []Neighbor {
	entries := c.entries()
	out := make([]Neighbor, 0, len(entries))
	for k, e := range entries {
		if !e.static && now-e.updated >= c.timeout {
			continue
		}
		n := Neighbor{IP: netip.AddrFrom4(k), MAC: e.mac, Static: e.static}
		if !e.static {
			n.Age = time.Duration(now - e.updated)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}
