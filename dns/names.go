package dns

import (
	"maps"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// Names every scope resolves besides its records, in canonical form
// (RFC 4034 §6.2).
const (
	// HostName resolves to the address set by SetHost.
	HostName = "host.vswitchd.internal."
	// DockerHostName is Docker's name for the host, which compose files
	// use; it resolves like HostName.
	DockerHostName = "host.docker.internal."
	// GatewayName resolves to the gateway of the querying scope
	// (NetworkOptions.Gateway), as Docker Desktop's does.
	GatewayName = "gateway.docker.internal."
)

// Zones the Server is authoritative for besides the network names: names at
// or under them are never forwarded.
const (
	internalZone = "vswitchd.internal."
	dockerZone   = "docker.internal."
)

// The SOA of the zones the Server answers for, put in the authority section
// of negative answers (RFC 2308 §3). Names change live, so its TTL and
// MINIMUM, which bound how long a resolver caches a negative answer
// (RFC 2308 §5), are short. The other fields are those of the locally served
// zones of RFC 6303 §3.
const (
	negativeTTL = 5
	soaMbox     = "nobody.invalid."
	soaRefresh  = 3600
	soaRetry    = 1200
	soaExpire   = 604800
)

// Record is one name a scope sees: an A record, or an AAAA record when Addr
// is an IPv6 address.
type Record struct {
	// Name is a single label ("apple-server", an alias) or a longer name
	// such as "NAME.NETWORK". Case and a trailing dot do not matter.
	Name string
	// Addr is the address Name resolves to. An IPv4-mapped IPv6 address is
	// treated as IPv4 and a zone is dropped.
	Addr netip.Addr
	// Network is the network the record belongs to, or "". When set, the
	// Server also answers "Name.Network" (unless Name already ends in
	// ".Network"), so endpoint names and aliases both resolve qualified by
	// their network, and a name several networks of one scope have answers
	// with the records of the first of them only (Docker's rule for an
	// endpoint on several networks). Records without a Network are one
	// group of their own.
	Network string
}

// NetworkOptions are the settings of one scope besides its names. The zero
// value is the default.
type NetworkOptions struct {
	// NoForward answers REFUSED for every name that would be forwarded,
	// without asking an upstream or reading the cache, and clears RA in
	// the scope's answers: the endpoints of an --internal network learn
	// nothing outside the switch, not even through DNS (Docker's fix for
	// CVE-2024-29018).
	NoForward bool
	// Gateway is the address GatewayName resolves to in the scope; the
	// zero Addr leaves the name NXDOMAIN.
	Gateway netip.Addr
}

// zone holds the names one scope sees. It is never changed once published.
type zone struct {
	addrs    map[string][]netip.Addr // canonical name → addresses, in Record order
	ptrs     map[string]string       // canonical reverse name → canonical name of the first record with that address
	networks []string                // canonical names of the Record networks
	opts     NetworkOptions
	gwPTR    string // reverse name of opts.Gateway; "" when unset
}

// table is everything answered locally. SetNetwork, SetNetworkOptions,
// RemoveNetwork and SetHost build a new table and publish it whole; a
// published table is never changed.
type table struct {
	zones    map[string]*zone    // by scope name exactly as given to SetNetwork
	reserved map[string]struct{} // canonical zone apexes (scope and record network names, internal zones): names at or under them are never forwarded
	host     netip.Addr          // address of HostName; invalid = unset
	hostPTR  string              // reverse name of host; "" when unset
	serial   uint32              // SOA serial: counts the tables published
}

// SetNetwork replaces the names the scope network sees with records. A scope
// is a network (its name) or any other set of names the caller queries by,
// such as an endpoint's. Records with an invalid name, network or address
// are skipped and logged. The scope's NetworkOptions are kept. It takes
// effect for the next query; queries being answered keep the names they
// started with.
func (s *Server) SetNetwork(network string, records []Record) {
	if network == "" {
		s.log.Warn("dns: set network: empty network name ignored")
		return
	}
	z, skipped := newZone(records)
	if skipped > 0 {
		s.log.Warn("dns: set network: invalid records skipped", "network", network, "skipped", skipped)
	}
	s.update(func(t *table) {
		if old := t.zones[network]; old != nil {
			z.opts, z.gwPTR = old.opts, old.gwPTR
		}
		t.zones[network] = z
	})
	s.log.Debug("dns: network names set", "network", network, "names", len(z.addrs))
}

// SetNetworkOptions sets the options of the scope network, keeping its
// names; a scope not yet given to SetNetwork starts with none. For a new
// scope, call it before SetNetwork so that no query sees the scope with the
// default options.
func (s *Server) SetNetworkOptions(network string, opt NetworkOptions) {
	if network == "" {
		s.log.Warn("dns: set network options: empty network name ignored")
		return
	}
	s.update(func(t *table) {
		z := &zone{}
		if old := t.zones[network]; old != nil {
			*z = *old // the maps are shared: published zones are never changed
		}
		z.opts, z.gwPTR = opt, ""
		if opt.Gateway.IsValid() {
			z.opts.Gateway = opt.Gateway.Unmap().WithZone("")
			z.gwPTR = reverseName(z.opts.Gateway)
		}
		t.zones[network] = z
	})
}

// newZone returns the zone of records and the number of records skipped as
// invalid.
func newZone(records []Record) (*zone, int) {
	z := &zone{
		addrs: make(map[string][]netip.Addr, 2*len(records)),
		ptrs:  make(map[string]string, len(records)),
	}
	group := make(map[string]string, len(records)) // canonical name → network of its first record
	skipped := 0
	for _, r := range records {
		name, ok := canonicalName(r.Name)
		network := ""
		if ok && r.Network != "" {
			network, ok = canonicalName(r.Network)
		}
		if !ok || !r.Addr.IsValid() {
			skipped++
			continue
		}
		addr := r.Addr.Unmap().WithZone("")
		canon := name
		if network != "" {
			z.networks = appendNew(z.networks, network)
			if full, ok := canonicalName(name + network); ok && !mdns.IsSubDomain(network, name) {
				canon = full
			}
			z.addrs[canon] = appendNew(z.addrs[canon], addr)
		}
		if first, seen := group[name]; !seen || first == network {
			group[name] = network
			z.addrs[name] = appendNew(z.addrs[name], addr)
		}
		rev := reverseName(addr)
		if _, ok := z.ptrs[rev]; !ok {
			z.ptrs[rev] = canon
		}
	}
	return z, skipped
}

// RemoveNetwork forgets the scope network, its names and its options. Names
// under "NETWORK." are forwarded again unless another scope has the same
// canonical name.
func (s *Server) RemoveNetwork(network string) {
	s.update(func(t *table) { delete(t.zones, network) })
}

// SetHost makes HostName and DockerHostName resolve to addr in every scope.
// An invalid addr unsets them, and the names get NXDOMAIN.
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
		serial:  old.serial + 1,
	}
	f(t)
	t.reserved = map[string]struct{}{internalZone: {}, dockerZone: {}}
	for network, z := range t.zones {
		if name, ok := canonicalName(network); ok {
			t.reserved[name] = struct{}{}
		}
		for _, name := range z.networks {
			t.reserved[name] = struct{}{}
		}
	}
	s.names.Store(t)
}

// newTable returns the table of a Server with no names.
func newTable() *table {
	return &table{
		zones:    map[string]*zone{},
		reserved: map[string]struct{}{internalZone: {}, dockerZone: {}},
		serial:   1,
	}
}

// lookup is the local decision for a question.
type lookup int

const (
	forward  lookup = iota // not a local name: ask the upstreams
	found                  // the name exists: answer holds its records of the type asked (none: NODATA)
	nxdomain               // a local name that does not exist
)

// localAnswer is the local answer to a question.
type localAnswer struct {
	kind      lookup
	answer    []mdns.RR
	authority []mdns.RR // the SOA of a negative answer
	noForward bool      // the scope's NetworkOptions.NoForward
}

// lookup answers q from the names of scope. ttl is the TTL of the records
// returned.
func (t *table) lookup(scope string, q mdns.Question, ttl uint32) localAnswer {
	name := mdns.CanonicalName(q.Name)
	z := t.zones[scope]
	res := localAnswer{kind: found, noForward: z != nil && z.opts.NoForward}
	classOK := q.Qclass == mdns.ClassINET || q.Qclass == mdns.ClassANY

	var addrs []netip.Addr
	switch {
	case name == HostName || name == DockerHostName:
		if t.host.IsValid() {
			addrs = []netip.Addr{t.host}
		}
	case name == GatewayName:
		if z != nil && z.opts.Gateway.IsValid() {
			addrs = []netip.Addr{z.opts.Gateway}
		}
	case z != nil:
		addrs = z.addrs[name]
	}
	if len(addrs) > 0 {
		if classOK {
			res.answer = addressRRs(q, addrs, ttl)
		}
		return t.negative(res, q, name, classOK)
	}

	target := ""
	if z != nil {
		target = z.ptrs[name]
		if target == "" && z.gwPTR != "" && name == z.gwPTR {
			target = GatewayName
		}
	}
	if target == "" && t.hostPTR != "" && name == t.hostPTR {
		target = HostName
	}
	if target != "" {
		if classOK && (q.Qtype == mdns.TypePTR || q.Qtype == mdns.TypeANY) {
			res.answer = []mdns.RR{&mdns.PTR{Hdr: header(q.Name, mdns.TypePTR, ttl), Ptr: target}}
		}
		return t.negative(res, q, name, classOK)
	}

	if _, apex := t.reserved[name]; apex {
		if classOK && q.Qtype == mdns.TypeSOA {
			res.answer = []mdns.RR{t.soa(q.Name, name)}
		}
		return t.negative(res, q, name, classOK)
	}
	if _, ok := t.enclosing(name); ok {
		res.kind = nxdomain
		return t.negative(res, q, name, classOK)
	}
	res.kind = forward
	return res
}

// negative returns res with the SOA of name's zone in the authority section
// when res is NXDOMAIN or NODATA of class IN (RFC 2308 §3).
func (t *table) negative(res localAnswer, q mdns.Question, name string, classOK bool) localAnswer {
	if (res.kind == nxdomain || len(res.answer) == 0) && classOK {
		apex, ok := t.enclosing(name)
		if !ok {
			apex = name // a single label or a reverse name: its own zone
		}
		res.authority = []mdns.RR{t.soa(q.Name, apex)}
	}
	return res
}

// enclosing returns the closest reserved zone apex at or above name, which
// must be canonical.
func (t *table) enclosing(name string) (string, bool) {
	for _, off := range mdns.Split(name) {
		if _, ok := t.reserved[name[off:]]; ok {
			return name[off:], true
		}
	}
	return "", false
}

// soa returns the SOA record of the zone apex, which is qname or one of its
// ancestors; its owner keeps the case of qname.
func (t *table) soa(qname, apex string) *mdns.SOA {
	owner := apex
	if n := len(qname); n >= len(apex) && mdns.CanonicalName(qname[n-len(apex):]) == apex {
		owner = qname[n-len(apex):]
	}
	return &mdns.SOA{
		Hdr:     header(owner, mdns.TypeSOA, negativeTTL),
		Ns:      apex,
		Mbox:    soaMbox,
		Serial:  t.serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  negativeTTL,
	}
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
