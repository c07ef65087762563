package dns

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Defaults for the zero values of Options.
const (
	// DefaultTimeout bounds one forwarded query, all upstreams together.
	DefaultTimeout = 2 * time.Second
	// DefaultTTL is the TTL of local answers, Docker's.
	DefaultTTL = 600
	// DefaultMaxInflight is Docker's bound on concurrent forwarded queries.
	DefaultMaxInflight = 1024
	// DefaultMaxUDPSize is the largest UDP answer sent: the payload size of
	// DNS Flag Day 2020, which fits an unfragmented IPv6 packet at the
	// minimum MTU of 1280, because the router writes each answer as one
	// unfragmented frame.
	DefaultMaxUDPSize = 1232
	// DefaultCacheSize is the number of forwarded answers cached.
	DefaultCacheSize = 10000
)

// headerLen is the size of the DNS message header (RFC 1035 §4.1.1).
const headerLen = 12

// Options configures a Server. The zero value of each field is its default.
type Options struct {
	// Upstreams are the resolvers asked for names that are not local.
	// Empty means no forwarding: such names get SERVFAIL at once.
	Upstreams []netip.AddrPort
	// Timeout bounds each forwarded query; 0 means DefaultTimeout.
	Timeout time.Duration
	// TTL is the TTL of local answers; 0 means DefaultTTL.
	TTL uint32
	// MaxInflight bounds the forwarded queries in flight; 0 means
	// DefaultMaxInflight. Queries beyond it get SERVFAIL (Stats.Overflow).
	// Each one in flight holds a timer and an ID on a socket per upstream.
	MaxInflight int
	// MaxUDPSize caps the size of UDP answers below the client's EDNS0
	// payload size (RFC 6891 §6.2.5); 0 means DefaultMaxUDPSize. Values
	// below 512 mean 512.
	MaxUDPSize int
	// CacheSize bounds the number of forwarded answers cached; 0 means
	// DefaultCacheSize and a negative value disables the cache. The least
	// recently used answer makes room for a new one (Stats.CacheEvictions).
	CacheSize int
	// Now is the clock of the cache; nil means time.Now.
	Now func() time.Time
	// Logger receives control-plane logs, never one per query; nil discards.
	Logger *slog.Logger
}

// Server answers DNS queries on the gateways of the switch's networks. Its
// methods are safe for concurrent use.
type Server struct {
	ttl         uint32
	timeout     time.Duration
	maxInflight int64
	maxUDP      int
	log         *slog.Logger
	now         func() time.Time
	cache       *cache // nil when disabled

	mu        sync.Mutex                       // serialises writers of names
	names     atomic.Pointer[table]            // local names; replaced whole under mu, read without a lock
	upstreams atomic.Pointer[[]netip.AddrPort] // replaced whole by SetUpstreams

	fwd forwarder // the forwarded queries, their sockets and goroutines

	stats counters
}

// counters are the atomic counters behind Stats.
type counters struct {
	queries, local, forwarded, nxdomain, servfail, overflow,
	refused, noForward, notimp, malformed, dropped, truncated, unmatched,
	cacheHits, cacheMisses, cacheEvictions atomic.Uint64
}

// Stats counts queries by outcome. Every query counts in Queries and in
// exactly one of Local, NXDomain, CacheHits, Forwarded, ServFail, Refused,
// NotImp and Malformed, except that a forwarded query that gets SERVFAIL or
// REFUSED counts in both Forwarded and ServFail or Refused.
type Stats struct {
	Queries   uint64 // messages received, over UDP and through Handler
	Local     uint64 // answered NOERROR from local names (addresses, PTR, SOA or NODATA)
	Forwarded uint64 // sent to the upstreams
	NXDomain  uint64 // answered NXDOMAIN locally, without forwarding
	ServFail  uint64 // answered SERVFAIL: no upstream, timeout, all upstreams failed, overflow, closed
	Overflow  uint64 // of ServFail, refused because MaxInflight queries were being forwarded
	Refused   uint64 // answered REFUSED: no network, a NoForward scope, or every upstream refused
	NoForward uint64 // of Refused, names that a NoForward scope may not forward
	NotImp    uint64 // answered NOTIMP: opcode other than QUERY
	Malformed uint64 // answered FORMERR or BADVERS, or dropped
	Dropped   uint64 // of Malformed, not answered at all: header unreadable or QR set
	Truncated uint64 // UDP answers truncated here, with TC set
	// Unmatched counts messages from upstreams that answer no query in
	// flight — another ID or question, unreadable, or late: after another
	// upstream answered or the query timed out — and are dropped.
	Unmatched uint64

	CacheHits      uint64 // answered from the cache of forwarded answers
	CacheMisses    uint64 // names to forward that the cache did not hold
	CacheEvictions uint64 // cached answers dropped, before they expired, to make room
	CacheEntries   uint64 // answers in the cache now, some maybe expired
}

// New returns a Server with no names. Close stops its forwarding.
func New(opt Options) *Server {
	s := &Server{
		ttl:         opt.TTL,
		timeout:     opt.Timeout,
		maxInflight: int64(opt.MaxInflight),
		maxUDP:      opt.MaxUDPSize,
		log:         opt.Logger,
		now:         opt.Now,
	}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxInflight <= 0 {
		s.maxInflight = DefaultMaxInflight
	}
	if s.maxUDP == 0 {
		s.maxUDP = DefaultMaxUDPSize
	}
	s.maxUDP = min(max(s.maxUDP, mdns.MinMsgSize), mdns.MaxMsgSize)
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case opt.CacheSize == 0:
		s.cache = newCache(DefaultCacheSize)
	case opt.CacheSize > 0:
		s.cache = newCache(opt.CacheSize)
	}
	s.names.Store(newTable())
	s.SetUpstreams(opt.Upstreams)
	s.fwd.init()
	return s
}

// SetUpstreams replaces the resolvers asked for names that are not local.
// Invalid entries are skipped; port 0 means 53. Queries already forwarded
// keep their upstreams, and cached answers stay until they expire.
func (s *Server) SetUpstreams(u []netip.AddrPort) {
	ups := make([]netip.AddrPort, 0, len(u))
	for _, ap := range u {
		if !ap.Addr().IsValid() {
			continue
		}
		port := ap.Port()
		if port == 0 {
			port = 53
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), port)
		if !slices.Contains(ups, ap) {
			ups = append(ups, ap)
		}
	}
	s.upstreams.Store(&ups)
}

// Close stops forwarding. Queries being forwarded are answered SERVFAIL, and
// the sockets toward the upstreams are closed and their goroutines have
// returned, when Close returns; later queries for names
// that are neither local nor cached get SERVFAIL at once. Local names and
// the cache are still answered. Close always returns nil.
func (s *Server) Close() error {
	s.fwd.close()
	return nil
}

// Stats returns the query counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Queries:   c.queries.Load(),
		Local:     c.local.Load(),
		Forwarded: c.forwarded.Load(),
		NXDomain:  c.nxdomain.Load(),
		ServFail:  c.servfail.Load(),
		Overflow:  c.overflow.Load(),
		Refused:   c.refused.Load(),
		NoForward: c.noForward.Load(),
		NotImp:    c.notimp.Load(),
		Malformed: c.malformed.Load(),
		Dropped:   c.dropped.Load(),
		Truncated: c.truncated.Load(),
		Unmatched: c.unmatched.Load(),

		CacheHits:      c.cacheHits.Load(),
		CacheMisses:    c.cacheMisses.Load(),
		CacheEvictions: c.cacheEvictions.Load(),
		CacheEntries:   uint64(s.cache.len()),
	}
}

// ServeUDP answers query, one DNS message that arrived over UDP on network's
// gateway. It calls reply exactly once with the answer — before returning
// for local, cached and error answers, from another goroutine for forwarded
// queries, maybe before ServeUDP returns — unless the message is dropped (Stats.Dropped), when
// it never calls it. resp is only valid during the call to reply, which
// should not block. ServeUDP never blocks on the network and does not keep
// query. network is a scope given to SetNetwork; one never given has no
// names of its own, and "" gets REFUSED.
func (s *Server) ServeUDP(network string, query []byte, reply func(resp []byte)) {
	s.stats.queries.Add(1)
	req := new(mdns.Msg)
	if err := req.Unpack(query); err != nil {
		if m := s.unpackable(query); m != nil {
			s.writeUDP(nil, response{msg: m}, reply)
		}
		return
	}
	s.serve(network, req, func(r response) { s.writeUDP(req, r, reply) })
}

// response is the answer to one query: msg, or wire when it comes packed
// from the cache. The zero response means the query is dropped.
type response struct {
	msg  *mdns.Msg
	wire []byte
}

// unpackable counts a query that miekg could not unpack and returns its
// FORMERR answer, or nil when it must be dropped.
func (s *Server) unpackable(query []byte) *mdns.Msg {
	s.stats.malformed.Add(1)
	hdr := new(mdns.Msg)
	if len(query) < headerLen || hdr.Unpack(query[:headerLen]) != nil || hdr.Response {
		s.stats.dropped.Add(1)
		return nil
	}
	return formErr(hdr)
}

// udpSize returns the largest UDP answer the client of req can receive
// (RFC 1035 §4.2.1, RFC 6891 §6.2.5). A nil req means the query was
// unreadable: the limit is 512 bytes.
func (s *Server) udpSize(req *mdns.Msg) int {
	size := mdns.MinMsgSize
	if req != nil {
		if opt := req.IsEdns0(); opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
	}
	return min(size, s.maxUDP)
}

// writeUDP packs r, truncated to what the client of req can receive over
// UDP, and passes it to reply; a zero r is dropped.
func (s *Server) writeUDP(req *mdns.Msg, r response, reply func([]byte)) {
	size := s.udpSize(req)
	resp := r.msg
	if r.wire != nil {
		if len(r.wire) <= size {
			reply(r.wire)
			return
		}
		resp = new(mdns.Msg)
		if err := resp.Unpack(r.wire); err != nil {
			reply(s.packFailed(req))
			return
		}
	}
	if resp == nil {
		return
	}
	tc := resp.Truncated
	resp.Truncate(size)
	if resp.Truncated && !tc {
		s.stats.truncated.Add(1)
	}
	b, err := resp.Pack()
	if err != nil {
		b = s.packFailed(resp)
	}
	reply(b)
}

// packFailed returns a bare SERVFAIL for the query m is or answers, for an
// answer that could not be packed.
func (s *Server) packFailed(m *mdns.Msg) []byte {
	s.stats.servfail.Add(1)
	f := new(mdns.Msg)
	f.Id, f.Response, f.Opcode, f.Rcode = m.Id, true, m.Opcode, mdns.RcodeServerFailure
	f.RecursionDesired = m.RecursionDesired
	b, err := f.Pack()
	if err != nil {
		panic("dns: pack bare SERVFAIL: " + err.Error()) // unreachable: a header alone always packs
	}
	return b
}

// Handler returns a miekg dns.Handler that answers queries received by a
// dns.Server, normally the daemon's TCP listener on the gateway addresses.
// networkOf maps the client's address to its scope; "" means none and the
// query gets REFUSED. Answers to clients over UDP are truncated as by
// ServeUDP. ServeDNS blocks until the answer is written.
func (s *Server) Handler(networkOf func(netip.Addr) string) mdns.Handler {
	return &handler{s: s, networkOf: networkOf}
}

type handler struct {
	s         *Server
	networkOf func(netip.Addr) string
}

var _ mdns.Handler = (*handler)(nil)

// ServeDNS implements dns.Handler.
func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	s := h.s
	s.stats.queries.Add(1)
	var (
		addr netip.Addr
		udp  bool
	)
	switch a := w.RemoteAddr().(type) {
	case *net.TCPAddr:
		addr = a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		addr, udp = a.AddrPort().Addr().Unmap(), true
	}
	done := make(chan response, 1)
	s.serve(h.networkOf(addr), req, func(r response) { done <- r })
	r := <-done
	switch {
	case udp:
		s.writeUDP(req, r, func(b []byte) { _, _ = w.Write(b) })
	case r.wire != nil:
		_, _ = w.Write(r.wire)
	case r.msg != nil:
		r.msg.Compress = true
		if err := w.WriteMsg(r.msg); err != nil {
			_, _ = w.Write(s.packFailed(r.msg))
		}
	}
}

// serve answers req, a parsed query from the scope network ("" for none).
// It calls done exactly once with the answer, or with the zero response
// when the query is dropped: before returning, or, for a forwarded query,
// from another goroutine.
func (s *Server) serve(network string, req *mdns.Msg, done func(response)) {
	switch {
	case req.Response:
		s.stats.malformed.Add(1)
		s.stats.dropped.Add(1)
		done(response{})
		return
	case req.Opcode != mdns.OpcodeQuery:
		s.stats.notimp.Add(1)
		done(response{msg: new(mdns.Msg).SetRcode(req, mdns.RcodeNotImplemented)})
		return
	case len(req.Question) != 1 || countOPT(req) > 1:
		s.stats.malformed.Add(1)
		done(response{msg: formErr(req)})
		return
	}
	if network == "" {
		s.stats.refused.Add(1)
		done(response{msg: s.answer(req, mdns.RcodeRefused, false)})
		return
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		// RFC 6891 §6.1.3: answer BADVERS with the highest version we
		// support.
		s.stats.malformed.Add(1)
		done(response{msg: s.answer(req, mdns.RcodeBadVers, false)})
		return
	}

	res := s.names.Load().lookup(network, req.Question[0], s.ttl)
	var m *mdns.Msg
	switch {
	case res.kind == found:
		s.stats.local.Add(1)
		m = s.answer(req, mdns.RcodeSuccess, true)
	case res.kind == nxdomain:
		s.stats.nxdomain.Add(1)
		m = s.answer(req, mdns.RcodeNameError, true)
	case res.noForward:
		s.stats.refused.Add(1)
		s.stats.noForward.Add(1)
		m = s.answer(req, mdns.RcodeRefused, false)
	default:
		s.forward(req, done)
		return
	}
	m.Answer, m.Ns = res.answer, res.authority
	if res.noForward {
		m.RecursionAvailable = false
	}
	done(response{msg: m})
}

// answer returns the reply to req with rcode, and an OPT record when req has
// one (RFC 6891 §7).
func (s *Server) answer(req *mdns.Msg, rcode int, authoritative bool) *mdns.Msg {
	m := new(mdns.Msg).SetRcode(req, rcode)
	m.Authoritative = authoritative
	m.RecursionAvailable = len(*s.upstreams.Load()) > 0
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(uint16(s.maxUDP), opt.Do())
	}
	return m
}

// formErr returns a FORMERR answer to the query whose header is in req: the
// header alone, since the rest may be what is wrong.
func formErr(req *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcodeFormatError(req)
	m.RecursionDesired = req.RecursionDesired
	return m
}

// countOPT returns the number of OPT records in the additional section of m.
func countOPT(m *mdns.Msg) int {
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == mdns.TypeOPT {
			n++
		}
	}
	return n
}
