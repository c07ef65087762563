// Package daemon is vswitchd's control plane: a thin façade that keeps the
// desired state (package state), makes the machine match it through a
// host.Host, runs endpoints' processes with a supervisor.Supervisor, and
// configures the datapath, the router and the DNS server from the state
// compiled.
//
// Every change is a transaction: the request is validated and planned
// against the state (pure), the host is changed step by step with an undo
// for each step, and the new state is saved before it is adopted; a
// failure at any step undoes the steps before it, so the state file and
// the host agree. Creating and removing an endpoint are also written ahead
// in the state (Endpoint.Phase), so a crash half-way is finished or rolled
// back at the next start. The daemon's lock is never held across slow work:
// stopping an endpoint's processes (up to supervisor.StopGrace) happens
// with the endpoint marked busy and the lock released.
//
// The entry point is New, then Start; Close stops the switch and leaves
// the endpoints and the state for the next start to re-adopt, or, with
// Config.CleanupOnExit, tears everything down.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/steer"
	"github.com/vswitchd/vswitchd/supervisor"
	"github.com/vswitchd/vswitchd/tap"
	"github.com/vswitchd/vswitchd/vxlan"
)

// Defaults.
const (
	DefaultStateDir = "/var/lib/vswitchd"
	DefaultHostIf   = "vswitch0"
	// DefaultHostCIDR is the link between the host and the router: the
	// host (host.vswitchd.internal) takes the first address, the router
	// the second. Link-local, so it is never routed off the machine.
	DefaultHostCIDR = "169.254.127.0/30"
)

// Publisher opens the host-side listeners of published ports (the proxy
// package's Proxy).
type Publisher interface {
	Add(proxy.Rule) error
	Remove(proxy.Rule) error
	Stats() proxy.Stats
	Close() error
}

// Config configures the daemon. The zero value of each field is its
// default.
type Config struct {
	StateDir string
	// NetnsPrefix is prepended to endpoint names to form namespace names
	// (tests use it to keep parallel daemons apart). Default "".
	NetnsPrefix string
	// HostIf and HostCIDR configure the host's leg.
	HostIf   string
	HostCIDR netip.Prefix
	// DNSUpstreams are the resolvers for names that are not local; nil
	// means the daemon namespace's /etc/resolv.conf.
	DNSUpstreams []netip.AddrPort
	// DNSCacheSize is how many forwarded answers the DNS server caches;
	// 0 means dns.DefaultCacheSize, negative none.
	DNSCacheSize int
	// Uplink, if set, is attached at start (command-line --uplink).
	Uplink *state.UplinkSpec
	// CleanupOnExit removes every endpoint (namespaces, TAPs, processes,
	// /etc/netns files), network and the state at Close. By default Close
	// leaves them all for the next start to re-adopt, as dockerd keeps
	// its networks across restarts.
	CleanupOnExit bool
	// Exe is the vswitchd binary run (as `vswitchd nsexec`) to enter
	// endpoints; default os.Executable.
	Exe string
	// FDB and NAT configure the tables.
	FDB bridge.Options
	NAT nat.Options
	// ConntrackSaveInterval is how often the connection table is written
	// to the state directory (conntrack.go); 0 means
	// DefaultConntrackSaveInterval, negative only at a keeping stop.
	ConntrackSaveInterval time.Duration
	// NoARPSuppression turns ARP suppression off.
	NoARPSuppression bool
	// NoMSSClamp leaves the MSS of SYNs crossing the uplink alone
	// (router.Config.MSSClamp, on by default).
	NoMSSClamp bool
	// NoConnectRedirect relays every host connection to a published port
	// instead of sending IPv4 TCP ones straight to the endpoint through
	// the switch with a cgroup/connect4 program (steer.Redirect).
	NoConnectRedirect bool
	// TAPQueues is the number of queues of each endpoint NIC (a
	// multi-queue TAP above 1, each queue with its own worker); 0 means
	// DefaultTAPQueues. A NIC re-adopted after a restart keeps the mode it
	// was made in.
	TAPQueues int
	Logger    *slog.Logger

	// Host carries out changes to the machine; nil means host.Linux.
	Host host.Host
	// Inherited holds the descriptors the daemon this one takes over
	// handed over (Handover): host.Linux and the proxy take theirs from
	// it at Start, which then closes the rest.
	Inherited *host.Inherited
	// Publisher opens published ports' host listeners; nil means a
	// proxy.Proxy.
	Publisher Publisher
	// Command, if set, builds the command that runs a process spec,
	// instead of `Exe nsexec` (unit tests run plain commands).
	Command func(supervisor.Spec) *exec.Cmd
	// SaveHook, if set, is called before each state save; an error fails
	// the save. Tests use it to inject failures.
	SaveHook func(*state.State) error
	// NoDefaultNetwork leaves out the default network (control.DefaultNetwork,
	// docker0's counterpart) that Start otherwise makes.
	NoDefaultNetwork bool
	// LogLevel, if set, is the level of Logger's handler, changed at run
	// time by SetLogLevel.
	LogLevel *slog.LevelVar
	// OpenVXLAN opens the vxlan port of overlay networks; nil means
	// vxlan.Open (in the daemon's namespace). Unit tests fake it.
	OpenVXLAN func(vxlan.Options) (VXLANPort, error)
}

// Daemon is a running vswitchd.
type Daemon struct {
	cfg  Config
	log  *slog.Logger
	host host.Host

	dp     *datapath.Datapath
	rt     *router.Router
	dns    *dns.Server
	pub    Publisher
	redir  io.Closer // the proxy's steer.Redirect, or nil
	sup    *supervisor.Supervisor
	dnsTCP *mdns.Server

	// mu serialises changes: it guards st and the runtime fields below,
	// and the host objects they describe.
	mu         sync.Mutex
	st         *state.State
	nics       map[string]map[string]port.ID // endpoint → interface → port
	sysPorts   map[string]port.ID
	uplinkPort port.ID
	hostPort   port.ID
	hostLeg    router.HostLeg
	scopes     map[string]bool // DNS scopes configured
	// busy marks endpoints whose processes are being stopped with mu
	// released; other changes to them are refused meanwhile.
	busy map[string]bool
	// restarts are endpoints' restart-policy bookkeeping.
	restarts map[string]*restarting
	// overlays are the open vxlan ports (overlay.go); remote is the
	// router's view of them, rebuilt with them.
	overlays map[overlayKey]*overlayPort
	remote   remoteARP
	// vxlanByID is overlays by port ID, for readers without mu (port
	// listings); replaced whole by publishRemote.
	vxlanByID atomic.Pointer[map[port.ID]*overlayPort]

	// ownNS is the ID of the daemon's own network namespace (0 if not
	// known): no endpoint may attach to it.
	ownNS uint64

	// labMu serialises lab up and down, which take mu step by step.
	labMu sync.Mutex

	wg      sync.WaitGroup // goroutines the daemon owns (DNS over TCP, --rm removals)
	closing chan struct{}
}

// New prepares a daemon. Start brings it up.
func New(cfg Config) (*Daemon, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.HostIf == "" {
		cfg.HostIf = DefaultHostIf
	}
	if !cfg.HostCIDR.IsValid() {
		cfg.HostCIDR = netip.MustParsePrefix(DefaultHostCIDR)
	}
	if cfg.HostCIDR.Bits() > 30 || !cfg.HostCIDR.Addr().Is4() {
		return nil, fmt.Errorf("host leg %s: need an IPv4 prefix of /30 or wider", cfg.HostCIDR)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Exe == "" && cfg.Command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		cfg.Exe = exe
	}
	if err := netns.ValidateIfName(cfg.HostIf); err != nil {
		return nil, fmt.Errorf("host interface: %w", err)
	}
	if cfg.NetnsPrefix != "" {
		if err := netns.ValidateName(cfg.NetnsPrefix + "x"); err != nil {
			return nil, fmt.Errorf("namespace prefix: %w", err)
		}
	}
	if cfg.TAPQueues == 0 {
		cfg.TAPQueues = DefaultTAPQueues()
	}
	if cfg.TAPQueues < 1 || cfg.TAPQueues > tap.MaxQueues {
		return nil, fmt.Errorf("TAP queues %d: want 1 to %d", cfg.TAPQueues, tap.MaxQueues)
	}
	h := cfg.Host
	if h == nil {
		h = host.Linux{Inherited: cfg.Inherited, TAPQueues: cfg.TAPQueues}
	}
	return &Daemon{
		cfg: cfg, log: cfg.Logger, host: h,
		nics: map[string]map[string]port.ID{}, sysPorts: map[string]port.ID{},
		scopes: map[string]bool{}, busy: map[string]bool{}, restarts: map[string]*restarting{},
		overlays: map[overlayKey]*overlayPort{},
		closing:  make(chan struct{}),
	}, nil
}

// Start builds the switch: datapath, router, DNS, the host's leg, then what
// the saved state describes, re-adopting namespaces and TAPs that survived
// and finishing operations a crash interrupted.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := state.Load(d.cfg.StateDir, d.cfg.NetnsPrefix)
	if err != nil {
		return err
	}
	if len(st.Endpoints) > 0 && st.Prefix != d.cfg.NetnsPrefix {
		return fmt.Errorf("state in %s uses namespace prefix %q, not %q", d.cfg.StateDir, st.Prefix, d.cfg.NetnsPrefix)
	}
	st.Prefix = d.cfg.NetnsPrefix
	if st.HostMAC.IsZero() {
		st.HostMAC = state.RandomMAC()
	}
	if st.UplinkMAC.IsZero() {
		st.UplinkMAC = state.RandomMAC()
	}
	d.st = st
	if id, err := netns.IDOf(os.Getpid()); err == nil && d.cfg.Host == nil {
		d.ownNS = id
	}

	ups := d.cfg.DNSUpstreams
	if ups == nil {
		ups, _ = dns.UpstreamsFromResolvConf("/etc/resolv.conf")
	}
	d.dns = dns.New(dns.Options{Upstreams: ups, Logger: d.log, CacheSize: d.cfg.DNSCacheSize})
	d.rt = router.New(router.Options{NAT: nat.New(d.cfg.NAT), DNS: d.dns})
	d.dp = datapath.New(datapath.Options{FDB: d.cfg.FDB, Router: d.rt, Logger: d.log})
	d.restoreConntrack()
	d.pub = d.cfg.Publisher
	if d.pub == nil {
		opt := proxy.Options{Logger: d.log, Inherited: d.cfg.Inherited.Take, Steer: steer.Listener}
		if !d.cfg.NoConnectRedirect {
			if r, err := steer.NewRedirect(); err != nil {
				d.log.Info("the host's connections to published ports are relayed", "why", err)
			} else {
				d.redir, opt.Redirect = r, r
			}
		}
		d.pub = proxy.New(opt)
	}
	d.sup = supervisor.New(supervisor.Options{
		Exe: d.cfg.Exe, Command: d.cfg.Command, LogDir: filepath.Join(d.cfg.StateDir, "logs"),
		Pids:   func(ns string) ([]int, error) { return d.host.Pids(nsOf(ns)) },
		OnExit: d.mainExited, Logger: d.log,
	})

	defer func() {
		if err != nil {
			close(d.closing) // a daemon that failed to start is done
			d.teardown(false)
		}
	}()
	if err := d.startHostLeg(); err != nil {
		return err
	}
	if err := d.restore(); err != nil {
		return err
	}
	if err := d.ensureDefaultNetwork(); err != nil {
		return err
	}
	if u := d.cfg.Uplink; u != nil {
		if _, err := d.setUplinkLocked(*u); err != nil {
			return err
		}
	}
	if err := d.save(d.st); err != nil {
		return err
	}
	if n := d.cfg.Inherited.Len(); n > 0 {
		d.log.Warn("handed-over descriptors not used", "count", n)
	}
	d.cfg.Inherited.Close()
	if iv := cmp.Or(d.cfg.ConntrackSaveInterval, DefaultConntrackSaveInterval); iv > 0 {
		d.wg.Add(1)
		go d.saveConntrackEvery(iv)
	}
	return nil
}

// nsOf returns the namespace a supervisor namespace string names.
func nsOf(ns string) host.NS {
	if filepath.IsAbs(ns) {
		return host.AtPath(ns)
	}
	return host.Named(ns)
}

// startHostLeg creates the internal port: a TAP in the daemon's namespace
// holding the host's address on the router link, and the TCP DNS listener
// on that address.
func (d *Daemon) startHostLeg() error {
	hostAddr := d.cfg.HostCIDR.Masked().Addr().Next()
	rtAddr := hostAddr.Next()
	dev, tapMAC, err := d.host.CreateHostLeg(host.HostLegConfig{
		Name: d.cfg.HostIf, Addr: netip.PrefixFrom(hostAddr, d.cfg.HostCIDR.Bits()),
		RouterAddr: rtAddr, RouterMAC: d.st.HostMAC,
	})
	if err != nil {
		return err
	}
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: d.cfg.HostIf, Kind: datapath.KindInternal, Routed: true})
	if err != nil {
		dev.Close()
		return err
	}
	d.hostPort = id
	d.hostLeg = router.HostLeg{Port: id, MAC: d.st.HostMAC, Addr: rtAddr, HostAddr: hostAddr, HostMAC: tapMAC}

	l, err := d.host.ListenTCP(netip.AddrPortFrom(hostAddr, 0))
	if err != nil {
		return fmt.Errorf("dns over tcp: %w", err)
	}
	d.hostLeg.DNSPort = uint16(l.Addr().(*net.TCPAddr).Port)
	started := make(chan struct{})
	d.dnsTCP = &mdns.Server{Listener: l, Handler: d.dns.Handler(d.rt.ScopeOf), NotifyStartedFunc: func() { close(started) }}
	exited := make(chan error, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		exited <- d.dnsTCP.ActivateAndServe()
	}()
	// Shutdown before the server has started does nothing: wait for it.
	select {
	case <-started:
	case err := <-exited:
		return fmt.Errorf("dns over tcp: %w", err)
	}
	d.dns.SetHost(hostAddr)
	return nil
}

// HostAddr returns host.vswitchd.internal, the host's address on its leg.
func (d *Daemon) HostAddr() netip.Addr { return d.hostLeg.HostAddr }

// Close stops the switch: the datapath, the host leg and its routes, the
// published ports' listeners. Endpoints (their processes, namespaces and
// persistent TAPs) and the state stay for the next start, unless
// Config.CleanupOnExit, when they are removed too.
func (d *Daemon) Close() error {
	select {
	case <-d.closing:
		return nil
	default:
	}
	close(d.closing)
	d.mu.Lock()
	for name := range d.restarts {
		d.cancelRestart(name)
	}
	var serr error
	if !d.cfg.CleanupOnExit && d.rt != nil {
		serr = d.saveConntrack()
	} else if d.cfg.CleanupOnExit {
		d.removeConntrack()
	}
	err := errors.Join(serr, d.teardown(d.cfg.CleanupOnExit))
	d.mu.Unlock()
	// Without the lock: an exit being reported waits for it (and then
	// sees closing).
	if d.sup != nil {
		d.sup.Close()
	}
	d.wg.Wait()
	return err
}

// teardown stops everything; remove says whether the host objects and the
// state go too. Callers hold mu.
func (d *Daemon) teardown(remove bool) error {
	var errs []error
	if d.dnsTCP != nil {
		d.dnsTCP.Shutdown()
	}
	if d.pub != nil {
		errs = append(errs, d.pub.Close())
	}
	if d.redir != nil {
		errs = append(errs, d.redir.Close())
		d.redir = nil
	}
	if d.st != nil {
		for _, e := range append([]*state.Endpoint(nil), d.st.Endpoints...) {
			if remove {
				d.sup.Stop(e.Name, procNS(e), supervisor.StopGrace)
				errs = append(errs, d.dismantle(e))
			}
		}
	}
	if d.sup != nil {
		d.sup.Shutdown()
	}
	if d.dp != nil {
		errs = append(errs, d.dp.Close())
	}
	if d.dns != nil {
		d.dns.Close()
	}
	// The host leg's TAP is not persistent: closing its fd (in dp.Close)
	// removed it, and its routes with it.
	if remove && d.st != nil {
		d.st = state.New(d.cfg.NetnsPrefix)
		errs = append(errs, state.Remove(d.cfg.StateDir))
		os.RemoveAll(filepath.Join(d.cfg.StateDir, "logs"))
	}
	return errors.Join(errs...)
}

// save writes st to the state directory. A state that would not load
// again is refused: the daemon never writes what it cannot restart from.
func (d *Daemon) save(st *state.State) error {
	if err := st.Validate(); err != nil {
		return fmt.Errorf("save state: refusing an invalid state: %w", err)
	}
	if d.cfg.SaveHook != nil {
		if err := d.cfg.SaveHook(st); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
	}
	return st.Save(d.cfg.StateDir)
}

// commit saves next and adopts it, then configures the router and DNS
// from it.
func (d *Daemon) commit(next *state.State) error {
	if err := d.save(next); err != nil {
		return err
	}
	d.st = next
	d.sync()
	return nil
}

// sync pushes the state into the router and the DNS server. Callers hold
// mu.
func (d *Daemon) sync() {
	cfg := d.st.RouterConfig(d.routerRuntime())
	if len(d.remote) > 0 {
		cfg.Remote = d.remote
	}
	d.rt.Configure(cfg)
	scopes, opts := d.st.DNSScopes(), d.st.DNSOptions()
	for name, rs := range scopes {
		// Options first: a new internal scope never forwards, not even
		// for a moment.
		d.dns.SetNetworkOptions(name, opts[name])
		d.dns.SetNetwork(name, rs)
		d.scopes[name] = true
	}
	for name := range d.scopes {
		if _, ok := scopes[name]; !ok {
			d.dns.RemoveNetwork(name)
			delete(d.scopes, name)
		}
	}
}

// undo is a stack of steps that reverse what a transaction did so far.
type undo []func()

func (u *undo) push(f func()) { *u = append(*u, f) }

// run reverses every step, last first.
func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// now is the time stamp of new objects.
func now() time.Time { return time.Now() }
