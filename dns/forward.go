package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// Bounds of the sockets toward the upstreams.
const (
	// poolSize is the most UDP sockets open toward one upstream for new
	// queries, dnsmasq's 64 random-port sockets: a forged answer must hit
	// one of their ports as well as the query's ID (RFC 5452 §4, §9.2).
	poolSize = 64
	// sockQueries is how many queries one socket sends before it is
	// retired, so that its port changes under steady load too.
	sockQueries = 1000
	// sockAge is how long one socket takes new queries at most.
	sockAge = 10 * time.Second
	// maxResponse is the largest UDP message read from an upstream.
	maxResponse = 65535
)

// forwarder sends forwarded queries to the upstreams and matches their
// answers. Each upstream has a pool of up to poolSize connected UDP sockets
// with random source ports, each read by one goroutine; a query goes out on
// a random socket of each upstream with a random ID unused on that socket,
// and an answer counts only if it comes from the upstream (the kernel drops
// any other source of a connected socket), to that socket, with that ID and
// the query's question. A socket is retired after sockQueries queries or
// sockAge, and closed once no query waits on it.
type forwarder struct {
	inflight atomic.Int64 // forwarded queries not yet answered

	// Limits of the socket pools: the constants above, lowered by tests.
	poolSize, sockQueries int
	sockAge               time.Duration

	ctx    context.Context    // parent of TCP retries; cancelled by Close
	cancel context.CancelFunc // cancels ctx
	wg     sync.WaitGroup     // one per forwarded query not yet answered, socket reader, TCP retry

	mu      sync.Mutex                   // guards everything below, every upSock's fields but conn, and every forwarding's and exchange's state
	closed  bool                         // set by Close: no more forwarding
	pools   map[netip.AddrPort][]*upSock // per upstream: the sockets taking new queries (nil slots are free)
	open    map[*upSock]struct{}         // every socket not yet closed, retired ones included
	waiting map[*forwarding]struct{}     // every forwarded query not yet finished
}

// upSock is one connected UDP socket toward an upstream.
type upSock struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	up   netip.AddrPort

	// Guarded by forwarder.mu.
	pending map[uint16]*exchange // the exchanges waiting for an answer, by query ID
	uses    int                  // queries sent
	slot    int                  // index in its pool; -1 once retired
	closed  bool
	timer   *time.Timer // retires the socket at sockAge
}

// forwarding is one forwarded query, asked of every upstream at once.
type forwarding struct {
	s        *Server
	req      *mdns.Msg      // the client's query; read only
	key      cacheKey       // of req
	done     func(response) // called once, by deliver
	deadline time.Time      // of the whole query, for TCP retries

	// Guarded by forwarder.mu.
	ex       []exchange  // one per upstream
	left     int         // exchanges not ended
	refused  int         // upstreams that answered REFUSED
	finished bool        // the outcome is decided; deliver follows
	timer    *time.Timer // calls expire at the timeout
}

// exchange is a forwarding's query to one upstream. Its fields are guarded
// by forwarder.mu.
type exchange struct {
	f      *forwarding
	up     netip.AddrPort
	sock   *upSock            // while waiting for a UDP answer
	id     uint16             // the query's ID on sock
	cancel context.CancelFunc // ends the TCP retry while there is one
	ended  bool
}

// outcome is what ends a forwarding.
type outcome int

const (
	goOn       outcome = iota // not ended yet
	answered                  // a good answer
	allRefused                // every upstream refused
	failed                    // SERVFAIL: timeout, failures, Close
)

func (fw *forwarder) init() {
	fw.poolSize, fw.sockQueries, fw.sockAge = poolSize, sockQueries, sockAge
	fw.ctx, fw.cancel = context.WithCancel(context.Background())
	fw.pools = make(map[netip.AddrPort][]*upSock)
	fw.open = make(map[*upSock]struct{})
	fw.waiting = make(map[*forwarding]struct{})
}

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
	// The query goes out unchanged but for its ID (RFC 5452 §9.2), set
	// per upstream below.
	wire, err := req.Pack()
	if err != nil {
		done(response{msg: s.servFail(req)})
		return
	}
	fw := &s.fwd
	if fw.inflight.Add(1) > s.maxInflight {
		fw.inflight.Add(-1)
		s.stats.overflow.Add(1)
		done(response{msg: s.servFail(req)})
		return
	}
	f := &forwarding{s: s, req: req, key: key, done: done, deadline: time.Now().Add(s.timeout),
		ex: make([]exchange, len(ups)), left: len(ups)}
	type send struct {
		e    *exchange
		sock *upSock
		id   uint16
	}
	var sendBuf [4]send
	sends := sendBuf[:0]

	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		fw.inflight.Add(-1)
		done(response{msg: s.servFail(req)})
		return
	}
	fw.wg.Add(1)
	s.stats.forwarded.Add(1)
	fw.waiting[f] = struct{}{}
	o := goOn
	for i, u := range ups {
		e := &f.ex[i]
		e.f, e.up = f, u
		k := s.socketLocked(u)
		if k == nil {
			o = f.endLocked(e, nil)
			continue
		}
		e.sock, e.id = k, k.add(e)
		sends = append(sends, send{e, k, e.id})
	}
	if o == goOn {
		f.timer = time.AfterFunc(s.timeout, f.expire)
	}
	fw.mu.Unlock()
	if o != goOn {
		f.deliver(o, nil)
		return
	}
	for _, x := range sends {
		binary.BigEndian.PutUint16(wire, x.id)
		if x.sock.write(wire) != nil {
			fw.mu.Lock()
			o := goOn
			if x.e.sock == x.sock && x.e.id == x.id {
				o = f.endLocked(x.e, nil)
			}
			fw.mu.Unlock()
			f.deliver(o, nil)
		}
	}
}

// servFail counts and returns the SERVFAIL answer to req.
func (s *Server) servFail(req *mdns.Msg) *mdns.Msg {
	s.stats.servfail.Add(1)
	return s.answer(req, mdns.RcodeServerFailure, false)
}

// socketLocked returns a socket toward upstream for a new query: a random
// one of its pool, opened if that slot is free or its socket has sent
// sockQueries queries; nil if no socket can be opened. fwd.mu must be held.
func (s *Server) socketLocked(upstream netip.AddrPort) *upSock {
	fw := &s.fwd
	pool := fw.pools[upstream]
	if pool == nil {
		pool = make([]*upSock, fw.poolSize)
		fw.pools[upstream] = pool
	}
	i := rand.IntN(len(pool))
	if k := pool[i]; k != nil {
		if k.uses < fw.sockQueries {
			return k
		}
		fw.retireLocked(k)
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(upstream))
	if err != nil {
		return nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil
	}
	k := &upSock{conn: conn, raw: raw, up: upstream, pending: make(map[uint16]*exchange), slot: i}
	fw.pools[upstream] = pool // again, if retiring the last socket dropped it
	pool[i] = k
	fw.open[k] = struct{}{}
	k.timer = time.AfterFunc(fw.sockAge, func() {
		fw.mu.Lock()
		fw.retireLocked(k)
		fw.mu.Unlock()
	})
	fw.wg.Add(1)
	go s.read(k)
	return k
}

// add registers e on k under a random ID that no other exchange waiting on
// k has, and returns the ID. fwd.mu must be held.
func (k *upSock) add(e *exchange) uint16 {
	for {
		id := uint16(rand.Uint32())
		if k.pending[id] == nil {
			k.pending[id] = e
			k.uses++
			return id
		}
	}
}

// retireLocked takes k out of its pool: it takes no new query, and closes
// once none waits on it. fwd.mu must be held.
func (fw *forwarder) retireLocked(k *upSock) {
	if k.slot < 0 {
		return
	}
	if pool := fw.pools[k.up]; pool != nil && pool[k.slot] == k {
		pool[k.slot] = nil
		if !slices.ContainsFunc(pool, func(k *upSock) bool { return k != nil }) {
			delete(fw.pools, k.up)
		}
	}
	k.slot = -1
	fw.closeIdleLocked(k)
}

// closeIdleLocked closes k if it is retired and no query waits on it.
// fwd.mu must be held.
func (fw *forwarder) closeIdleLocked(k *upSock) {
	if k.slot < 0 && len(k.pending) == 0 {
		fw.closeLocked(k)
	}
}

// closeLocked closes k; its reader returns. fwd.mu must be held.
func (fw *forwarder) closeLocked(k *upSock) {
	if k.closed {
		return
	}
	k.closed = true
	k.timer.Stop()
	delete(fw.open, k)
	k.conn.Close()
}

// write sends b on k without blocking: a full socket buffer drops it.
func (k *upSock) write(b []byte) error {
	var werr error
	if err := k.raw.Write(func(fd uintptr) bool {
		_, werr = syscall.Write(int(fd), b)
		return true
	}); err != nil {
		return err
	}
	return werr
}

// respBufs holds the buffers the socket readers read into.
var respBufs = sync.Pool{New: func() any { return new([maxResponse]byte) }}

// read reads k's answers until k is closed. A buffer is held only while an
// answer is read and handled, so waiting sockets hold none.
func (s *Server) read(k *upSock) {
	defer s.fwd.wg.Done()
	var (
		buf  *[maxResponse]byte
		n    int
		rerr error
	)
	readFn := func(fd uintptr) bool {
		if buf == nil {
			buf = respBufs.Get().(*[maxResponse]byte)
		}
		n, rerr = syscall.Read(int(fd), buf[:])
		if rerr == syscall.EAGAIN {
			respBufs.Put(buf)
			buf = nil
			return false
		}
		return true
	}
	for {
		err := k.raw.Read(readFn)
		switch {
		case err != nil: // closed
			if buf != nil {
				respBufs.Put(buf)
			}
			return
		case errors.Is(rerr, syscall.ECONNREFUSED), errors.Is(rerr, syscall.EHOSTUNREACH), errors.Is(rerr, syscall.ENETUNREACH):
			// An ICMP error: the upstream is not listening, or not reachable.
			s.unreachable(k)
		case rerr == nil:
			s.received(k, buf[:n])
		}
		if buf != nil {
			respBufs.Put(buf)
			buf = nil
		}
	}
}

// unreachable ends every exchange waiting on k as failed.
func (s *Server) unreachable(k *upSock) {
	fw := &s.fwd
	type end struct {
		f *forwarding
		o outcome
	}
	var ends []end
	fw.mu.Lock()
	for _, e := range k.pending {
		if o := e.f.endLocked(e, nil); o != goOn {
			ends = append(ends, end{e.f, o})
		}
	}
	fw.mu.Unlock()
	for _, x := range ends {
		x.f.deliver(x.o, nil)
	}
}

// received handles b, a message that arrived on k. Unless it is an answer
// to a query waiting on k — same ID, QR set, and the question asked, or
// none — it is dropped and counted (Stats.Unmatched), and the query goes on
// waiting.
func (s *Server) received(k *upSock, b []byte) {
	fw := &s.fwd
	if len(b) < headerLen {
		s.stats.unmatched.Add(1)
		return
	}
	id := binary.BigEndian.Uint16(b)
	fw.mu.Lock()
	e := k.pending[id]
	fw.mu.Unlock()
	if e == nil {
		s.stats.unmatched.Add(1)
		return
	}
	r := new(mdns.Msg)
	if r.Unpack(b) != nil || !r.Response || !answers(e.f.req, r) {
		s.stats.unmatched.Add(1)
		return
	}
	f := e.f
	fw.mu.Lock()
	if k.pending[id] != e {
		// Ended meanwhile: timed out, or answered by another upstream.
		fw.mu.Unlock()
		s.stats.unmatched.Add(1)
		return
	}
	if r.Truncated && !fw.closed {
		// Ask again over TCP (RFC 1035 §4.2.2).
		delete(k.pending, id)
		e.sock = nil
		fw.closeIdleLocked(k)
		ctx, cancel := context.WithDeadline(fw.ctx, f.deadline)
		e.cancel = cancel
		fw.wg.Add(1)
		fw.mu.Unlock()
		go s.retryTCP(ctx, e, id, r)
		return
	}
	o := f.endLocked(e, r)
	fw.mu.Unlock()
	f.deliver(o, r)
}

// retryTCP asks e's upstream over TCP after the truncated answer r. If TCP
// fails r stands: its TC bit sends the client to TCP in turn.
func (s *Server) retryTCP(ctx context.Context, e *exchange, id uint16, r *mdns.Msg) {
	defer s.fwd.wg.Done()
	f := e.f
	q := f.req.Copy()
	q.Id = id
	if rt, err := exchangeTCP(ctx, q, e.up, s.timeout); err == nil && rt.Id == id && answers(f.req, rt) {
		r = rt
	}
	s.fwd.mu.Lock()
	o := f.endLocked(e, r)
	s.fwd.mu.Unlock()
	f.deliver(o, r)
}

// exchangeTCP asks upstream over TCP and returns when it answers, timeout
// passes or ctx is done.
func exchangeTCP(ctx context.Context, q *mdns.Msg, upstream netip.AddrPort, timeout time.Duration) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "tcp", Timeout: timeout}
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

// endLocked ends e with r, its upstream's answer, or nil for a failure, and
// returns the outcome of the forwarding if e decides it: the first good
// answer wins; when no exchange is left, REFUSED if every upstream refused,
// else SERVFAIL. Once decided, the other exchanges end too. fwd.mu must be
// held; the caller passes the outcome to deliver after unlocking it.
func (f *forwarding) endLocked(e *exchange, r *mdns.Msg) outcome {
	if f.finished || e.ended {
		return goOn
	}
	f.s.fwd.unwaitLocked(e)
	f.left--
	o := goOn
	switch {
	case r == nil:
	case good(f.req, r):
		o = answered
	case refusal(f.req, r):
		f.refused++
	}
	if o == goOn && f.left == 0 {
		o = failed
		if f.refused == len(f.ex) {
			o = allRefused
		}
	}
	if o != goOn {
		f.finishLocked()
	}
	return o
}

// finishLocked ends every exchange of f and stops its timer: its outcome is
// decided. fwd.mu must be held.
func (f *forwarding) finishLocked() {
	f.finished = true
	for i := range f.ex {
		f.s.fwd.unwaitLocked(&f.ex[i])
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	delete(f.s.fwd.waiting, f)
}

// unwaitLocked ends e: it stops waiting on its socket and its TCP retry is
// cancelled. fwd.mu must be held.
func (fw *forwarder) unwaitLocked(e *exchange) {
	e.ended = true
	if k := e.sock; k != nil {
		if k.pending[e.id] == e {
			delete(k.pending, e.id)
		}
		e.sock = nil
		fw.closeIdleLocked(k)
	}
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
}

// expire answers f SERVFAIL at its timeout unless it is answered already.
func (f *forwarding) expire() {
	fw := &f.s.fwd
	fw.mu.Lock()
	if f.finished {
		fw.mu.Unlock()
		return
	}
	f.finishLocked()
	fw.mu.Unlock()
	f.deliver(failed, nil)
}

// deliver answers f's client after outcome o decided it; r is the good
// answer for o == answered. goOn does nothing.
func (f *forwarding) deliver(o outcome, r *mdns.Msg) {
	s := f.s
	if o == goOn {
		return
	}
	s.fwd.inflight.Add(-1)
	switch o {
	case answered:
		if s.cache != nil {
			s.cache.put(f.key, r, s.now(), &s.stats.cacheEvictions)
		}
		f.done(response{msg: s.relay(f.req, r)})
	case allRefused:
		s.stats.refused.Add(1)
		f.done(response{msg: s.answer(f.req, mdns.RcodeRefused, false)})
	default:
		f.done(response{msg: s.servFail(f.req)})
	}
	s.fwd.wg.Done()
}

// close stops forwarding: queries in flight get SERVFAIL, sockets close,
// TCP retries end, and close returns once their goroutines have.
func (fw *forwarder) close() {
	fw.mu.Lock()
	fw.closed = true
	var ended []*forwarding
	for f := range fw.waiting {
		f.finishLocked()
		ended = append(ended, f)
	}
	for k := range fw.open {
		fw.closeLocked(k)
	}
	clear(fw.pools)
	fw.mu.Unlock()
	fw.cancel()
	for _, f := range ended {
		f.deliver(failed, nil)
	}
	fw.wg.Wait()
}

// answers reports whether r answers the question of q, or has no question:
// some servers refuse or fail without one (RFC 1035 §4.1.1 leaves it to
// them).
func answers(q, r *mdns.Msg) bool {
	return len(r.Question) == 0 || len(r.Question) == 1 && sameQuestion(q.Question[0], r.Question[0])
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
