package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for the zero fields of Options.
const (
	// DefaultUDPIdleTimeout is how long a UDP flow lives without a datagram
	// in either direction. A flow holds a socket and a goroutine and has
	// no replied/unreplied state, so its one timer sits between the two
	// Linux conntrack timeouts that the switch's NAT applies to the same
	// published port from outside (nat.DefaultTimeouts): 30 s unreplied,
	// 120 s replied. It outlasts the keepalives UDP protocols send to hold
	// NAT state (WireGuard's customary 25 s) and frees the sockets of
	// finished exchanges, such as DNS queries, within a minute.
	// docker-proxy uses 90 s.
	DefaultUDPIdleTimeout = 60 * time.Second
	// DefaultMaxUDPFlows is the default bound on live UDP flows per rule: a
	// flow costs a file descriptor, so an unbounded table lets one client
	// spraying source ports exhaust the daemon's descriptors.
	DefaultMaxUDPFlows = 4096
	// DefaultDialTimeout bounds connecting to the target; the target is
	// one hop away on the switch, so a slow connect means it is not there.
	DefaultDialTimeout = 5 * time.Second
)

// Options configure a Proxy. The zero value gives the defaults.
type Options struct {
	// UDPIdleTimeout is how long a UDP flow lives without traffic in
	// either direction; 0 means DefaultUDPIdleTimeout.
	UDPIdleTimeout time.Duration
	// MaxUDPFlows bounds the live UDP flows of each rule; a datagram from
	// a new client beyond it is dropped and counted in Stats.UDPDropped.
	// 0 means DefaultMaxUDPFlows.
	MaxUDPFlows int
	// DialTimeout bounds each TCP connect to a target; 0 means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// Steer, if set, steers a TCP range's ports to one listener bound to
	// its first port (package steer's Listener); when it fails, the range
	// gets a listener per port.
	Steer func(ip netip.Addr, lo, hi uint16, l net.Listener) (io.Closer, error)
	// Redirect, if set, sends the host's own TCP connects to an IPv4
	// rule's host ports straight to the target through the switch
	// (package steer's Redirect), so they skip the relay; what it does not
	// take still reaches the listeners. Its Redirected count is
	// Stats.Redirected.
	Redirect Redirector
	// Inherited, if set, returns the descriptor of a listening socket a
	// previous process handed over under a ListenerKey (handover.go);
	// Add serves it instead of binding the port again.
	Inherited func(key string) (int, bool)
	// Logger receives rule changes at Info and rate-limited warnings
	// (target not answering, accept failures). Nothing is logged per
	// connection or per datagram. Nil discards.
	Logger *slog.Logger
}

// Stats are the proxy's counters since New, summed over all rules.
type Stats struct {
	TCPConns   uint64 // TCP connections accepted
	TCPActive  uint64 // TCP connections open now
	UDPFlows   uint64 // UDP flows created
	UDPActive  uint64 // UDP flows live now
	BytesIn    uint64 // payload bytes relayed from clients to targets
	BytesOut   uint64 // payload bytes relayed from targets to clients
	DialErrors uint64 // target connects or UDP flow sockets that failed
	UDPDropped uint64 // datagrams dropped because a rule's flow table was full
	Redirected uint64 // TCP connects sent straight to a target by Options.Redirect (never accepted here)
}

// Proxy relays connections made to published host ports to their targets.
// Its methods are safe for concurrent use.
type Proxy struct {
	opt   Options      // defaults applied; read-only after New
	log   *slog.Logger // never nil
	start time.Time    // base of the monotonic activity stamps of UDP flows
	home  int          // the daemon's network namespace (fd), where dialIn returns; -1 if unknown
	stats counters
	pipes pipePool // drained relay pipes, kept for the next connections

	mu     sync.Mutex // guards rules and closed; never taken by serving goroutines
	rules  []*rule    // published rules in Add order
	closed bool
}

// counters back Stats; serving goroutines update them without locks.
type counters struct {
	tcpConns, tcpActive, udpFlows, udpActive  atomic.Uint64
	bytesIn, bytesOut, dialErrors, udpDropped atomic.Uint64
}

// New returns a Proxy with no rules. The Proxy owns every socket it opens
// and closes them in Remove and Close; the caller must call Close.
func New(opt Options) *Proxy {
	if opt.UDPIdleTimeout <= 0 {
		opt.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if opt.MaxUDPFlows <= 0 {
		opt.MaxUDPFlows = DefaultMaxUDPFlows
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = DefaultDialTimeout
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{opt: opt, log: log, start: time.Now(), home: homeNetns()}
}

// now returns the monotonic time since New in nanoseconds.
func (p *Proxy) now() int64 { return int64(time.Since(p.start)) }

// Add publishes r: it binds every host port of r, and only when all are
// bound starts serving them. If a bind fails, the ports already bound are
// closed and the error names the address, as in
// "publish 0.0.0.0:45678/tcp: address already in use", wrapping the errno
// (errors.Is(err, syscall.EADDRINUSE)). A rule overlapping one already
// published fails with ErrOverlap, a malformed one with ErrInvalidRule,
// and any rule after Close with net.ErrClosed.
func (p *Proxy) Add(r Rule) error {
	n := r.normal()
	if err := n.validate(); err != nil {
		return fmt.Errorf("publish %s: %w", r, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("publish %s: %w", r, net.ErrClosed)
	}
	for _, o := range p.rules {
		if o.n.overlaps(n) {
			return fmt.Errorf("publish %s: %w %s", r, ErrOverlap, o.r)
		}
	}
	ru := &rule{p: p, r: r, n: n}
	if err := ru.listen(); err != nil {
		return err
	}
	ru.serve()
	ru.redirect()
	p.rules = append(p.rules, ru)
	p.log.Info("published", "rule", r.String(), "listeners", len(ru.lns), "steered", ru.steer != nil, "redirected", len(ru.redirected) > 0)
	return nil
}

// Remove unpublishes the rule equal to r (after defaults: an invalid
// HostIP equals 0.0.0.0, HostPortEnd 0 equals HostPort). It closes the
// rule's listeners, resets its live TCP connections, closes its UDP flows
// and returns once all of the rule's goroutines have exited, so the host
// ports are free again. It fails with ErrNoRule if r is not published.
func (p *Proxy) Remove(r Rule) error {
	n := r.normal()
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.rules, func(ru *rule) bool { return ru.n == n })
	if i < 0 {
		return fmt.Errorf("unpublish %s: %w", r, ErrNoRule)
	}
	ru := p.rules[i]
	p.rules = slices.Delete(p.rules, i, i+1)
	ru.shut()
	ru.wg.Wait()
	p.log.Info("unpublished", "rule", ru.r.String())
	return nil
}

// Rules returns the published rules, as given to Add, in the order added.
func (p *Proxy) Rules() []Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := make([]Rule, len(p.rules))
	for i, ru := range p.rules {
		rs[i] = ru.r
	}
	return rs
}

// Close unpublishes every rule as Remove does and waits for all of the
// proxy's goroutines to exit. Later calls to Add fail; Close is
// idempotent and always returns nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for _, ru := range p.rules {
		ru.shut()
	}
	for _, ru := range p.rules {
		ru.wg.Wait()
	}
	p.rules = nil
	p.pipes.close()
	closeNetns(p.home)
	p.home = -1
	return nil
}

// Stats returns a snapshot of the counters. Byte counts of a TCP
// connection are added per MiB relayed and when each direction ends.
func (p *Proxy) Stats() Stats {
	c := &p.stats
	var redirected uint64
	if p.opt.Redirect != nil {
		redirected = p.opt.Redirect.Redirected()
	}
	return Stats{
		TCPConns:   c.tcpConns.Load(),
		TCPActive:  c.tcpActive.Load(),
		UDPFlows:   c.udpFlows.Load(),
		UDPActive:  c.udpActive.Load(),
		BytesIn:    c.bytesIn.Load(),
		BytesOut:   c.bytesOut.Load(),
		DialErrors: c.dialErrors.Load(),
		UDPDropped: c.udpDropped.Load(),
		Redirected: redirected,
	}
}

// rule is one published Rule and everything serving it. Its goroutines
// (one per listener, one per TCP connection direction, one per UDP flow)
// are counted in wg; shut makes all of them return.
type rule struct {
	p *Proxy
	r Rule // as given to Add
	n Rule // normal form

	// ctx is cancelled by shut; it aborts dials and accept back-off.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lns    []io.Closer // a *net.TCPListener or *net.UDPConn per host port; set before serve, closed by shut
	steer  io.Closer   // a TCP range steered to lns[0] (steer.go), or nil; closed by shut
	accs   []*acceptor // one per TCP listener, made by serve; closed by shut
	socks  nsSockets   // sockets made in the target's namespace (TargetNetns), not yet used; closed by shut

	// redirected are the host addresses Options.Redirect sends to the
	// target (redirect.go); set before the rule is in rules, removed by shut.
	redirected []netip.AddrPort

	dialLog, readLog limiter

	mu     sync.Mutex // guards the fields below
	closed bool       // set by shut; nothing is tracked after it
	conns  map[tcpConn]struct{}
	flows  map[flowKey]*flow
}

// listen binds every host port of ru, or none.
func (ru *rule) listen() error {
	n := ru.n
	lc := listenConfig(n)
	if done, err := ru.listenSteered(lc); done {
		return err
	}
	for port := n.HostPort; ; port++ {
		addr := netip.AddrPortFrom(n.HostIP, port)
		l, ok, err := ru.p.inherited(n.Proto, addr)
		switch {
		case ok:
		case n.Proto == "tcp":
			l, err = lc.Listen(context.Background(), n.network(), addr.String())
		default:
			l, err = lc.ListenPacket(context.Background(), n.network(), addr.String())
		}
		if err != nil {
			for _, l := range ru.lns {
				l.Close()
			}
			ru.lns = nil
			return fmt.Errorf("publish %s/%s: %w", addr, n.Proto, errnoOf(err))
		}
		ru.lns = append(ru.lns, l)
		if port == n.HostPortEnd {
			return nil
		}
	}
}

// errnoOf returns the errno inside err, so that an error reads
// "address already in use" rather than repeating the address; err if none.
func errnoOf(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// serve starts a goroutine per listener.
func (ru *rule) serve() {
	ru.ctx, ru.cancel = context.WithCancel(context.Background())
	ru.conns = make(map[tcpConn]struct{})
	ru.flows = make(map[flowKey]*flow)
	for i, l := range ru.lns {
		port := ru.n.HostPort + uint16(i)
		if ru.steer != nil {
			port = 0 // every port of the range: the target follows each connection's
		}
		switch l := l.(type) {
		case *net.TCPListener:
			a := newAcceptor(l)
			ru.accs = append(ru.accs, a)
			ru.wg.Go(func() { ru.acceptLoop(a, port) })
		case *net.UDPConn:
			ru.wg.Go(func() { ru.udpLoop(l, port) })
		}
	}
}

// shut closes ru's listeners, TCP connections and UDP flows and cancels
// its dials, without waiting; the goroutines then return on their own.
func (ru *rule) shut() {
	ru.unredirect()
	ru.cancel()
	if ru.steer != nil {
		ru.steer.Close()
	}
	for _, l := range ru.lns {
		l.Close()
	}
	for _, a := range ru.accs {
		a.close()
	}
	ru.socks.close()
	ru.mu.Lock()
	defer ru.mu.Unlock()
	ru.closed = true
	for c := range ru.conns {
		abort(c)
	}
	for _, f := range ru.flows {
		f.conn.Close()
	}
}

// sleep waits d, or less if ru is shut; it reports whether ru is still up.
func (ru *rule) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ru.ctx.Done():
		return false
	}
}

// backoff returns the next delay after a failed accept or read: 5 ms
// doubling to 1 s, as net/http does, so that running out of file
// descriptors does not spin a CPU.
func backoff(d time.Duration) time.Duration {
	return min(max(2*d, 5*time.Millisecond), time.Second)
}

// limiterInterval is the least time between two warnings of one limiter.
const limiterInterval = time.Minute

// limiter rate-limits one kind of warning of one rule.
type limiter struct {
	mu         sync.Mutex // guards the fields below
	next       time.Time  // no warning before this
	suppressed int        // warnings dropped since the last one logged
}

// warn logs msg at Warn for ru unless one was logged in the last
// limiterInterval, in which case it only counts it.
func (l *limiter) warn(ru *rule, msg string, err error) {
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.next = now.Add(limiterInterval)
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	ru.p.log.Warn(msg, "rule", ru.r.String(), "err", err, "suppressed", n)
}
