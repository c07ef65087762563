package dns

import (
	"maps"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// HostName is the name every network resolves to the address set by SetHost,
// in canonical form (RFC 4034 §6.2).
const HostName = "host.vswitchd.internal."

// internalZone is the zone of HostName; names under it are never forwarded.
const internalZone = "vswitchd.internal."

// Record is one name a network sees: an A record, or an AAAA record when Addr
// is an IPv6 address.
type Record struct {
	// Name is a single label ("apple-server", an alias) or "NAME.NETWORK".
	// Case and a trailing dot do not matter.
	Name string
	// Addr is the address Name resolves to. An IPv4-mapped IPv6 address is
	// treated as IPv4 and a zone is dropped.
	Addr netip.Addr
}

// zone holds the names one network sees. It is never changed once published.
type zone struct {
	addrs map[string][]netip.Addr // canonical name → addresses, in Record order
	ptrs  map[string][]string     // canonical reverse name → canonical names, in Record order
}

// table is everything answered locally. SetNetwork, RemoveNetwork and SetHost
// build a new table and publish it whole; a published table is never changed.
type table struct {
	zones    map[string]*zone    // by network name exactly as given to SetNetwork
	reserved map[string]struct{} // canonical network names and internalZone: names at or under them are never forwarded
	host     netip.Addr          // address of HostName; invalid = unset
	hostPTR  string              // reverse name of host; "" when unset
}

// SetNetwork replaces the names network sees with records. Records with an
// invalid name or address are skipped and logged. It takes effect for the
// next query; queries being answered keep the names they started with.
func (s *Server) SetNetwork(network string, records []Record) {
	if network == "" {
		s.log.Warn("dns: set network: empty network name ignored")
		return
	}
	z := &zone{
		addrs: make(map[string][]netip.Addr, len(records)),
		ptrs:  make(map[string][]string, len(records)),
	}
	skipped := 0
	for _, r := range records {
		name, ok := canonicalName(r.Name)
		if !ok || !r.Addr.IsValid() {
			skipped++
			continue
		}
		addr := r.Addr.Unmap().WithZone("")
		z.addrs[name] = appendNew(z.addrs[name], addr)
		rev := reverseName(addr)
		z.ptrs[rev] = appendNew(z.ptrs[rev], name)
	}
	if skipped > 0 {
		s.log.Warn("dns: set network: invalid records skipped", "network", network, "skipped", skipped)
	}
	s.update(func(t *table) { t.zones[network] = z })
	s.log.Debug("dns: network names set", "network", network, "names", len(z.addrs))
}

// RemoveNetwork forgets network and its names. Names under "NETWORK." are
// forwarded again unless another network has the same canonical name.
func (s *Server) RemoveNetwork(network string) {
	s.update(func(t *table) { delete(t.zones, network) })
}

// SetHost makes host.vswitchd.internal resolve to addr on every network. An
// invalid addr unsets it, and the name gets NXDOMAIN.
func (s *Server) SetHost(addr netip.Addr) {
	s.update(func(t *table) {
		t.host, t.hostPTR = netip.Addr{}, ""
		if addr.IsValid() {
			t.host = addr.Unmap().WithZone("")
			t.hostPTR = reverseName(t.host)
		}
	})
}

// update publishes a copy of the current table changed by f.
func (s *Server) update(f func(t *table)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.names.Load()
	t := &table{
		zones:   maps.Clone(old.zones),
		host:    old.host,
		hostPTR: old.hostPTR,
	}
	f(t)
	t.reserved = map[string]struct{}{internalZone: {}}
	for network := range t.zones {
		if name, ok := canonicalName(network); ok {
			t.reserved[name] = struct{}{}
		}
	}
	s.names.Store(t)
}

// lookup is the local decision for question q from network.
type lookup int

const (
	forward  lookup = iota // not a local name: ask the upstreams
	found                  // rrs holds the answer (possibly none: NODATA)
	nxdomain               // a local name that does not exist
)

// lookup answers q from network's names. It returns forward when the name is
// not local. ttl is the TTL of the records returned.
func (t *table) lookup(network string, q mdns.Question, ttl uint32) ([]mdns.RR, lookup) {
	name := mdns.CanonicalName(q.Name)
	z := t.zones[network]
	classOK := q.Qclass == mdns.ClassINET || q.Qclass == mdns.ClassANY

	var addrs []netip.Addr
	if name == HostName && t.host.IsValid() {
		addrs = []netip.Addr{t.host}
	} else if z != nil {
		addrs = z.addrs[name]
	}
	if len(addrs) > 0 {
		if !classOK {
			return nil, found
		}
		return addressRRs(q, addrs, ttl), found
	}

	var targets []string
	if z != nil {
		targets = z.ptrs[name]
	}
	if t.hostPTR != "" && name == t.hostPTR {
		targets = append(targets[:len(targets):len(targets)], HostName)
	}
	if len(targets) > 0 {
		if !classOK || (q.Qtype != mdns.TypePTR && q.Qtype != mdns.TypeANY) {
			return nil, found
		}
		rrs := make([]mdns.RR, 0, len(targets))
		for _, target := range targets {
			rrs = append(rrs, &mdns.PTR{Hdr: header(q.Name, mdns.TypePTR, ttl), Ptr: target})
		}
		return rrs, found
	}

	if mdns.CountLabel(name) == 1 || t.isReserved(name) {
		return nil, nxdomain
	}
	return nil, forward
}

// isReserved reports whether name is at or under a network name or
// internalZone. name must be canonical.
func (t *table) isReserved(name string) bool {
	for _, off := range mdns.Split(name) {
		if _, ok := t.reserved[name[off:]]; ok {
			return true
		}
	}
	return false
}

// addressRRs returns the A and AAAA records of addrs that q asks for.
func addressRRs(q mdns.Question, addrs []netip.Addr, ttl uint32) []mdns.RR {
	var rrs []mdns.RR
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY):
			rrs = append(rrs, &mdns.A{Hdr: header(q.Name, mdns.TypeA, ttl), A: a.AsSlice()})
		case a.Is6() && (q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY):
			rrs = append(rrs, &mdns.AAAA{Hdr: header(q.Name, mdns.TypeAAAA, ttl), AAAA: a.AsSlice()})
		}
	}
	return rrs
}

func header(name string, rrtype uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
}

// canonicalName returns name lower-case and fully qualified, and whether it
// is a valid domain name other than the root.
func canonicalName(name string) (string, bool) {
	if name == "" || name == "." {
		return "", false
	}
	if _, ok := mdns.IsDomainName(name); !ok {
		return "", false
	}
	return mdns.CanonicalName(name), true
}

// reverseName returns the in-addr.arpa (RFC 1035 §3.5) or ip6.arpa
// (RFC 3596 §2.5) name of addr, which must be valid and have no zone.
func reverseName(addr netip.Addr) string {
	rev, err := mdns.ReverseAddr(addr.String())
	if err != nil {
		panic("dns: reverse name of " + addr.String() + ": " + err.Error()) // unreachable: addr is valid
	}
	return rev
}

// appendNew appends v to s unless s already holds it.
func appendNew[T comparable](s []T, v T) []T {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
