package dns

import (
	"context"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// forward answers req, a query for a name that is not local, from the cache
// or by sending it to every upstream at once, and calls done exactly once:
// with the cached answer, the first good answer, REFUSED when every upstream
// refuses, or SERVFAIL when there is no answer in time, no upstream, no room
// (MaxInflight) or the server is closed.
func (s *Server) forward(req *mdns.Msg, done func(response)) {
	key := keyOf(req)
	if s.cache != nil {
		now := s.now()
		if e := s.cache.get(key, now); e != nil {
			s.stats.cacheHits.Add(1)
			done(response{wire: e.answer(req, uint16(s.maxUDP), now)})
			return
		}
		s.stats.cacheMisses.Add(1)
	}
	ups := *s.upstreams.Load()
	if len(ups) == 0 {
		done(response{msg: s.servFail(req)})
		return
	}
	if s.fwd.inflight.Add(1) > s.maxInflight {
		s.fwd.inflight.Add(-1)
		s.stats.overflow.Add(1)
		done(response{msg: s.servFail(req)})
		return
	}
	s.fwd.mu.Lock()
	if s.fwd.closed {
		s.fwd.mu.Unlock()
		s.fwd.inflight.Add(-1)
		done(response{msg: s.servFail(req)})
		return
	}
	s.fwd.wg.Add(len(ups))
	s.fwd.mu.Unlock()
	s.stats.forwarded.Add(1)

	ctx, cancel := context.WithTimeout(s.fwd.ctx, s.timeout)
	f := &forwarding{s: s, req: req, key: key, upstreams: int32(len(ups)), done: done, cancel: cancel}
	f.pending.Store(f.upstreams)
	// A fresh random ID toward the upstreams (RFC 5452 §9.2); each
	// exchange packs its own copy, since packing writes to the OPT record.
	q := req.Copy()
	q.Id = mdns.Id()
	for _, u := range ups {
		go f.exchange(ctx, q.Copy(), u)
	}
}

// servFail counts and returns the SERVFAIL answer to req.
func (s *Server) servFail(req *mdns.Msg) *mdns.Msg {
	s.stats.servfail.Add(1)
	return s.answer(req, mdns.RcodeServerFailure, false)
}

// forwarding is one forwarded query. Its exchange goroutines are owned by the
// Server (fwd.wg) and end when ctx is done.
type forwarding struct {
	s         *Server
	req       *mdns.Msg          // the client's query; read only
	key       cacheKey           // of req
	upstreams int32              // the number of exchanges
	done      func(response)     // called once, by the goroutine that sets answered
	cancel    context.CancelFunc // ends the other exchanges once answered
	pending   atomic.Int32       // exchange goroutines still running
	refused   atomic.Int32       // upstreams that answered REFUSED
	answered  atomic.Bool        // done has been called or is being called
}

// exchange asks upstream. The first good answer is cached and relayed to
// the client; the last goroutine to end answers REFUSED if every upstream
// refused, else SERVFAIL, if no upstream answered well.
func (f *forwarding) exchange(ctx context.Context, q *mdns.Msg, upstream netip.AddrPort) {
	defer f.s.fwd.wg.Done()
	r, err := exchange(ctx, q, upstream, f.s.timeout)
	switch {
	case err != nil:
	case good(q, r):
		if f.answered.CompareAndSwap(false, true) {
			f.cancel()
			if f.s.cache != nil {
				f.s.cache.put(f.key, r, f.s.now(), &f.s.stats.cacheEvictions)
			}
			f.done(response{msg: f.s.relay(f.req, r)})
		}
	case refusal(q, r):
		f.refused.Add(1)
	}
	if f.pending.Add(-1) == 0 {
		f.cancel()
		f.s.fwd.inflight.Add(-1)
		if f.answered.CompareAndSwap(false, true) {
			if f.refused.Load() == f.upstreams {
				f.s.stats.refused.Add(1)
				f.done(response{msg: f.s.answer(f.req, mdns.RcodeRefused, false)})
			} else {
				f.done(response{msg: f.s.servFail(f.req)})
			}
		}
	}
}

// exchange asks upstream over UDP, and again over TCP if the answer is
// truncated (RFC 1035 §4.2.2). If TCP fails the truncated answer is returned:
// its TC bit sends the client to TCP in turn.
func exchange(ctx context.Context, q *mdns.Msg, upstream netip.AddrPort, timeout time.Duration) (*mdns.Msg, error) {
	r, err := exchangeOver(ctx, "udp", q, upstream, timeout)
	if err != nil || !r.Truncated {
		return r, err
	}
	if rt, err := exchangeOver(ctx, "tcp", q, upstream, timeout); err == nil {
		return rt, nil
	}
	return r, nil
}

// exchangeOver asks upstream over network ("udp" or "tcp") and returns when
// it answers, timeout passes or ctx is done.
func exchangeOver(ctx context.Context, network string, q *mdns.Msg, upstream netip.AddrPort, timeout time.Duration) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network, Timeout: timeout}
	co, err := c.DialContext(ctx, upstream.String())
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// ExchangeWithConnContext honours only ctx's deadline; closing the
	// connection also ends it when ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, q, co)
	return r, err
}

// good reports whether r is an answer to q worth relaying: a response to the
// same question with NOERROR or NXDOMAIN.
func good(q, r *mdns.Msg) bool {
	return r.Response && (r.Rcode == mdns.RcodeSuccess || r.Rcode == mdns.RcodeNameError) &&
		len(r.Question) == 1 && sameQuestion(q.Question[0], r.Question[0])
}

// refusal reports whether r is a REFUSED answer to q. Some servers refuse
// with no question section (RFC 1035 §4.1.1 leaves it to them).
func refusal(q, r *mdns.Msg) bool {
	return r.Response && r.Rcode == mdns.RcodeRefused &&
		(len(r.Question) == 0 || len(r.Question) == 1 && sameQuestion(q.Question[0], r.Question[0]))
}

// sameQuestion reports whether a and b ask the same, ignoring the case of
// the name (RFC 4343).
func sameQuestion(a, b mdns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && mdns.CanonicalName(a.Name) == mdns.CanonicalName(b.Name)
}

// relay turns r, an upstream's answer to a copy of req, into the answer to
// req: the client's ID and question, and an OPT record advertising our
// payload size exactly when req has one (OPT is hop by hop, RFC 6891 §6.1.1,
// §7).
func (s *Server) relay(req, r *mdns.Msg) *mdns.Msg {
	r.Id = req.Id
	r.Question = req.Question
	opt, reqOpt := r.IsEdns0(), req.IsEdns0()
	switch {
	case opt != nil && reqOpt == nil:
		r.Extra = slices.DeleteFunc(r.Extra, func(rr mdns.RR) bool { return rr.Header().Rrtype == mdns.TypeOPT })
	case opt != nil:
		opt.SetUDPSize(uint16(s.maxUDP))
	case reqOpt != nil:
		r.SetEdns0(uint16(s.maxUDP), reqOpt.Do())
	}
	return r
}
