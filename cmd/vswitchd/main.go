// Command vswitchd is the userspace virtual switch daemon: it runs in the
// network namespace it was started in, serves the vswitchctl API on a Unix
// socket, and on SIGTERM or SIGINT stops, leaving its endpoints and state
// for the next start to re-adopt (--cleanup-on-exit, which --lab implies,
// removes everything it created instead). It holds a lock on its state directory for its whole life, so
// one daemon at a time uses a directory.
//
//	vswitchd [flags]                      run the switch in the foreground
//	vswitchd --detach [flags]             run it in the background; return once the API answers
//	vswitchd --lab NAME [flags]           run it inside a new private namespace NAME, removed on exit
//	vswitchd stop --pid-file PATH         stop the vswitchd whose PID is in PATH and wait for it
//	vswitchd cleanup [--state-dir DIR]    remove what a crashed vswitchd left behind
//	vswitchd --version                    print the version and commit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/internal/statedir"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
	"github.com/vswitchd/vswitchd/tap"
)

// Environment variables a parent vswitchd sets for the one it starts.
const (
	// labEnv names the lab namespace the daemon runs in (--lab).
	labEnv = "VSWITCHD_LAB"
	// lockFDEnv is the descriptor of the state directory lock the --lab
	// parent took and passed down (see statedir.Inherit).
	lockFDEnv = "VSWITCHD_LOCK_FD"
)

func init() {
	// The main goroutine keeps the main thread, the thread group leader,
	// for the whole run, so no goroutine that switches network namespaces
	// (netns.Do, startInNetns) ever runs on it: /proc/PID/ns/net, which
	// netns.Pids and `ip netns pids` read, is the leader's, and a --lab
	// process whose leader sat in the lab would count (and kill) itself as
	// a process left in the lab.
	runtime.LockOSThread()
}

func main() {
	os.Exit(vswitchd(os.Args[1:]))
}

// vswitchd runs the command line args and returns the exit status: 0, 1
// when the daemon or a command fails, 2 for a usage error.
func vswitchd(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "nsexec":
			return nsexec(args[1:])
		case "cleanup":
			return subcommand("cleanup", cleanup, args[1:])
		case "stop":
			return subcommand("stop", stop, args[1:])
		}
	}
	cfg, o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		return 2
	}
	switch {
	case o.version:
		fmt.Printf("vswitchd %s\n", version.String())
		return 0
	case o.detach:
		return detach(cfg, o)
	case o.lab != "":
		return runLab(cfg, o)
	}
	return runDaemon(cfg, o)
}

// subcommand runs `vswitchd NAME ARGS`: a usage error exits 2, any other
// error 1, each as one line on stderr.
func subcommand(name string, f func([]string) error, args []string) int {
	err := f(args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "vswitchd %s: %v (see vswitchd %s --help)\n", name, err, name)
		return 2
	}
	fmt.Fprintf(os.Stderr, "vswitchd %s: %v\n", name, err)
	return 1
}

// usageError is a command-line mistake.
type usageError struct{ error }

// parseSub parses a subcommand's flags, printing --help on stdout and
// returning flag errors as usageError.
func parseSub(fs *flag.FlagSet, usage string, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stdout, "Usage: %s\n\nFlags:\n", usage)
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// options are the flags that are not daemon configuration.
type options struct {
	socket  string
	lab     string
	pidFile string
	detach  bool
	version bool
	// takeover receives a running daemon's descriptors (takeover_linux.go).
	takeover bool
	// logLevel is the --log-level as given, for the start-up line.
	logLevel string
	// http serves the web view and the API's reads on a TCP address;
	// httpPublic allows one that is not loopback.
	http       string
	httpPublic bool
	// set holds every flag given on the command line (name → value), to
	// start another vswitchd with the same configuration.
	set map[string]string
}

// argsWithout returns the command-line flags as --name=value, leaving out
// the named ones: what a parent vswitchd passes to the one it starts.
func (o options) argsWithout(skip ...string) []string {
	var args []string
	for name, v := range o.set {
		if !slices.Contains(skip, name) {
			args = append(args, "--"+name+"="+v)
		}
	}
	// Sorted, so a command line reads the same every time.
	slices.Sort(args)
	return args
}

const usageText = `Usage: vswitchd [flags]
       vswitchd --detach [--pid-file PATH] [flags]
       vswitchd --lab NAME [flags]
       vswitchd stop --pid-file PATH [--timeout D]
       vswitchd cleanup [--state-dir DIR]
       vswitchd --version

vswitchd is a userspace virtual switch: Docker-style networks and endpoints with every
frame forwarded by Go code. It runs in the network namespace it was started in (with
--lab, in a private namespace it creates and deletes) and is driven by vswitchctl over
--socket. One vswitchd at a time uses a --state-dir.

Flags:
`

func parseFlags(args []string) (daemon.Config, options, error) {
	var cfg daemon.Config
	o := options{set: map[string]string{}}
	fs := flag.NewFlagSet("vswitchd", flag.ContinueOnError)
	var upstreams, uplink, uplinkAddr, uplinkGW, hostCIDR string
	fs.StringVar(&o.socket, "socket", control.DefaultSocket, "API socket path (mode 0600)")
	fs.StringVar(&cfg.StateDir, "state-dir", daemon.DefaultStateDir, "where the desired state, the lock and logs are kept (created 0700)")
	fs.BoolVar(&cfg.CleanupOnExit, "cleanup-on-exit", false, "on exit, remove every endpoint (namespaces, TAPs, processes), network and the state (--lab implies it)")
	var keep bool
	fs.BoolVar(&keep, "keep", false, "on exit, leave endpoints and state for the next start to re-adopt: the default, and with --lab it overrides --cleanup-on-exit")
	fs.StringVar(&upstreams, "dns-upstream", "", "upstream DNS resolvers ADDR[:PORT][,ADDR…] (default: from /etc/resolv.conf)")
	var cacheSize int
	fs.IntVar(&cacheSize, "dns-cache-size", dns.DefaultCacheSize, "forwarded DNS answers cached (0: no cache)")
	fs.StringVar(&uplink, "uplink", "", "interface to attach as the router's outside")
	fs.StringVar(&uplinkAddr, "uplink-address", "", "the switch's external address on the uplink, CIDR")
	fs.StringVar(&uplinkGW, "uplink-gateway", "", "next hop on the uplink")
	fs.StringVar(&cfg.HostIf, "host-if", daemon.DefaultHostIf, "name of the host's leg (an internal TAP)")
	fs.StringVar(&hostCIDR, "host-cidr", daemon.DefaultHostCIDR, "prefix of the host–router link; the host takes the first address (host.vswitchd.internal)")
	fs.StringVar(&cfg.NetnsPrefix, "netns-prefix", "", "prefix of endpoint namespace names")
	fs.IntVar(&cfg.FDB.Capacity, "fdb-capacity", bridge.DefaultCapacity, "MAC table size (static entries included)")
	fs.IntVar(&cfg.FDB.PortLimit, "fdb-port-limit", bridge.DefaultPortLimit, "MACs learned per port (-1: unlimited)")
	fs.DurationVar(&cfg.FDB.AgingTime, "fdb-aging", bridge.DefaultAgingTime, "MAC aging time")
	fs.IntVar(&cfg.NAT.MaxEntries, "conntrack-max", nat.DefaultMaxEntries, "conntrack table size (entries)")
	fs.IntVar(&cfg.NAT.MaxPerEndpoint, "conntrack-max-per-endpoint", 0, "connections one endpoint (source address in a zone) opens; at the limit its own oldest evictable one goes (0: conntrack-max/4, -1: unlimited)")
	fs.DurationVar(&cfg.ConntrackSaveInterval, "conntrack-save-interval", daemon.DefaultConntrackSaveInterval, "how often the connection table is written to the state directory, so a kill -9 loses at most this much (0: only at a stop that keeps endpoints)")
	fs.IntVar(&cfg.TAPQueues, "tap-queues", daemon.DefaultTAPQueues(), "queues of each endpoint NIC, each read and written by its own worker, flows spread by hash (1: a single-queue TAP; at most "+strconv.Itoa(tap.MaxQueues)+")")
	fs.BoolVar(&cfg.NoARPSuppression, "no-arp-suppression", false, "flood ARP requests for endpoint addresses instead of answering them")
	mssClamp := fs.Bool("mss-clamp", true, "clamp the MSS of TCP SYNs crossing the uplink to its MTU (--mss-clamp=false: leave it to path MTU discovery)")
	connRedirect := fs.Bool("connect-redirect", true, "send the host's TCP connections to published ports (127.0.0.1, an address named in the publish) straight to the endpoint through the switch with a BPF cgroup/connect4 program (false: relay them, as docker-proxy does)")
	tcpLoose := fs.Bool("conntrack-tcp-loose", true, "pick up TCP connections from a mid-stream segment, like nf_conntrack_tcp_loose (false: only a SYN opens one)")
	fs.BoolVar(&cfg.NoDefaultNetwork, "no-default-network", false, "do not make the default network "+control.DefaultNetwork+" (docker0's counterpart)")
	fs.StringVar(&o.lab, "lab", "", "create network namespace `NAME`, run inside it, and delete it on exit")
	fs.BoolVar(&o.takeover, "takeover", false, "take over the vswitchd running on --state-dir: receive its TAPs and published ports' listening sockets, and start as it stops (upgrades and restarts without closing them)")
	fs.BoolVar(&o.detach, "detach", false, "run in the background (output to STATE-DIR/"+detachLog+"); return once the API answers")
	fs.StringVar(&o.pidFile, "pid-file", "", "write the PID to `PATH` (removed at exit); `vswitchd stop --pid-file PATH` stops it")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (change it later with vswitchctl log-level)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.http, "http", "", "also serve the web view (/ui/) and the API's reads on `ADDR` (host:port, loopback only unless --http-public)")
	fs.BoolVar(&o.httpPublic, "http-public", false, "allow --http on an address that is not loopback (no login: anyone who reaches it sees the switch)")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, usageText)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
		}
		return cfg, o, fmt.Errorf("%w (see vswitchd --help)", err)
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected argument %q (see vswitchd --help)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = f.Value.String() })
	switch {
	case keep && cfg.CleanupOnExit:
		return cfg, o, errors.New("--keep and --cleanup-on-exit contradict each other")
	case o.lab != "" && !keep:
		// A lab is a throwaway: what it made goes with it. The daemon
		// the --lab process starts gets the flag spelled out.
		cfg.CleanupOnExit = true
		o.set["cleanup-on-exit"] = "true"
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return cfg, o, fmt.Errorf("--log-level: %w", err)
	}
	if cfg.TAPQueues < 1 || cfg.TAPQueues > tap.MaxQueues {
		return cfg, o, fmt.Errorf("--tap-queues %d: want 1 to %d", cfg.TAPQueues, tap.MaxQueues)
	}
	switch {
	case cfg.ConntrackSaveInterval < 0:
		return cfg, o, fmt.Errorf("--conntrack-save-interval %v: want 0 or more", cfg.ConntrackSaveInterval)
	case cfg.ConntrackSaveInterval == 0:
		cfg.ConntrackSaveInterval = -1 // never periodically
	}
	if cfg.NAT.MaxPerEndpoint < -1 {
		return cfg, o, fmt.Errorf("--conntrack-max-per-endpoint %d: want -1 (unlimited), 0 (the default) or more", cfg.NAT.MaxPerEndpoint)
	}
	switch {
	case cacheSize < 0:
		return cfg, o, fmt.Errorf("--dns-cache-size %d: want 0 or more", cacheSize)
	case cacheSize == 0:
		cfg.DNSCacheSize = -1
	default:
		cfg.DNSCacheSize = cacheSize
	}
	cfg.NoMSSClamp, cfg.NAT.NoTCPLoose, cfg.NoConnectRedirect = !*mssClamp, !*tcpLoose, !*connRedirect
	cfg.LogLevel = new(slog.LevelVar)
	cfg.LogLevel.Set(lvl)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	p, err := netip.ParsePrefix(hostCIDR)
	if err != nil {
		return cfg, o, fmt.Errorf("--host-cidr: %w", err)
	}
	cfg.HostCIDR = p
	if upstreams != "" {
		for _, s := range strings.Split(upstreams, ",") {
			ap, err := parseUpstream(strings.TrimSpace(s))
			if err != nil {
				return cfg, o, fmt.Errorf("--dns-upstream: %w", err)
			}
			cfg.DNSUpstreams = append(cfg.DNSUpstreams, ap)
		}
	}
	if uplink != "" || uplinkAddr != "" || uplinkGW != "" {
		if uplink == "" || uplinkAddr == "" {
			return cfg, o, errors.New("--uplink needs --uplink-address (and usually --uplink-gateway)")
		}
		u := state.UplinkSpec{Interface: uplink}
		var err error
		if u.Address, err = netip.ParsePrefix(uplinkAddr); err != nil {
			return cfg, o, fmt.Errorf("--uplink-address %q: want IPv4 CIDR such as 203.0.113.2/24", uplinkAddr)
		}
		if uplinkGW != "" {
			if u.Gateway, err = netip.ParseAddr(uplinkGW); err != nil {
				return cfg, o, fmt.Errorf("--uplink-gateway %q: not an IPv4 address", uplinkGW)
			}
		}
		cfg.Uplink = &u
	}
	if o.lab != "" {
		if err := netns.ValidateName(o.lab); err != nil {
			return cfg, o, fmt.Errorf("--lab: %w", err)
		}
	}
	if cfg.StateDir == "" {
		return cfg, o, errors.New("--state-dir: empty")
	}
	return cfg, o, nil
}

func parseUpstream(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR or ADDR:PORT", s)
	}
	return netip.AddrPortFrom(a, 53), nil
}

// errNotRoot is why vswitchd refuses to start without root.
var errNotRoot = errors.New("needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create namespaces and TAPs")

// runDaemon runs the switch in this process until SIGTERM or SIGINT: it
// takes the state directory's lock (or adopts the one a --lab parent
// passed down), writes the PID file, logs the configuration, and logs a
// last line when it stops.
func runDaemon(cfg daemon.Config, o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", errNotRoot)
		return 1
	}
	lab := os.Getenv(labEnv)
	var lock *statedir.Lock
	var err error
	if o.takeover {
		begin := time.Now()
		if cfg.Inherited, err = requestTakeover(cfg.StateDir); err != nil {
			fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
			return 1
		}
		defer cfg.Inherited.Close()
		lock, err = takeoverLock(cfg.StateDir)
		cfg.Logger.Info("took over", "descriptors", cfg.Inherited.Len(), "waited", time.Since(begin).Round(time.Microsecond).String())
	} else {
		lock, err = daemonLock(cfg.StateDir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		return 1
	}
	defer lock.Release()
	if o.pidFile != "" {
		if err := writePIDFile(o.pidFile); err != nil {
			fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
			return 1
		}
		defer removePIDFile(o.pidFile)
	}
	supervisor.DefaultSignals() // endpoint commands get default signal dispositions, even under nohup
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logStart(cfg, o, lab)
	start := time.Now()
	err = run(ctx, cfg, o)
	reason := "API server stopped"
	switch {
	case err != nil:
		reason = "error: " + err.Error()
	case ctx.Err() != nil:
		reason = context.Cause(ctx).Error()
	}
	cfg.Logger.Info("vswitchd stopped", "reason", reason, "uptime", time.Since(start).Round(time.Millisecond).String())
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		return 1
	}
	return 0
}

// daemonLock takes the state directory's lock, or adopts the one the
// --lab parent holds and passed down.
func daemonLock(dir string) (*statedir.Lock, error) {
	s := os.Getenv(lockFDEnv)
	if s == "" {
		return statedir.Acquire(dir)
	}
	// Neither this process's children nor anything it starts should see it.
	os.Unsetenv(lockFDEnv)
	os.Unsetenv(labEnv)
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", lockFDEnv, s)
	}
	return statedir.Inherit(dir, uintptr(fd))
}

// logStart logs the one line that says what this daemon is and how it is
// configured, with the defaults filled in.
func logStart(cfg daemon.Config, o options, lab string) {
	upstreams := "from /etc/resolv.conf"
	if len(cfg.DNSUpstreams) > 0 {
		s := make([]string, len(cfg.DNSUpstreams))
		for i, a := range cfg.DNSUpstreams {
			s[i] = a.String()
		}
		upstreams = strings.Join(s, ",")
	}
	uplink := "none"
	if u := cfg.Uplink; u != nil {
		uplink = u.Interface + " " + u.Address.String()
		if u.Gateway.IsValid() {
			uplink += " via " + u.Gateway.String()
		}
	}
	if lab == "" {
		lab = "none"
	}
	cfg.Logger.Info("vswitchd starting",
		"version", version.Version, "commit", version.Commit, "go", runtime.Version(), "pid", os.Getpid(),
		"socket", o.socket, "state_dir", cfg.StateDir, "lab", lab, "netns_prefix", cfg.NetnsPrefix,
		"host_if", cfg.HostIf, "host_cidr", cfg.HostCIDR.String(), "uplink", uplink, "dns_upstreams", upstreams,
		"fdb_capacity", cfg.FDB.Capacity, "fdb_port_limit", cfg.FDB.PortLimit, "fdb_aging", cfg.FDB.AgingTime.String(),
		"conntrack_max", cfg.NAT.MaxEntries, "conntrack_max_per_endpoint", cfg.NAT.MaxPerEndpoint, "cleanup_on_exit", cfg.CleanupOnExit, "arp_suppression", !cfg.NoARPSuppression,
		"log_level", o.logLevel)
}

// run starts the daemon and the API server and waits for ctx.
func run(ctx context.Context, cfg daemon.Config, o options) error {
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	l, err := server.Listen(o.socket)
	if err != nil {
		d.Close()
		return err
	}
	srv := server.New(server.DaemonBackend{Daemon: d}, cfg.Logger)
	srv.SetPeerCheck(func(p server.Peer) error { return d.CheckPeer(p.PID, p.UID) })
	errc := make(chan error, 2)
	var web *http.Server
	if o.http != "" {
		hl, err := listenHTTP(o.http, o.httpPublic)
		if err != nil {
			l.Close()
			d.Close()
			return err
		}
		srv.SetHTTPAddr(hl.Addr().String())
		web = &http.Server{Handler: srv.ReadOnlyHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := web.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		cfg.Logger.Info("web view", "url", "http://"+hl.Addr().String()+"/ui/")
	}
	go func() { errc <- srv.Serve(l) }()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	tl, err := listenTakeover(cfg.StateDir, d, func(pid int) { stop(fmt.Errorf("taken over by pid %d", pid)) })
	if err != nil {
		cfg.Logger.Warn("no --takeover for this daemon", "err", err)
	} else if tl != nil {
		defer tl.Close()
	}
	cfg.Logger.Info("vswitchd ready", "socket", o.socket, "state_dir", cfg.StateDir, "host", d.HostAddr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cfg.Logger.Info("shutting down", "cleanup_on_exit", cfg.CleanupOnExit, "reason", context.Cause(ctx))
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx)
	if web != nil {
		web.Shutdown(sctx)
	}
	cancel()
	os.Remove(o.socket)
	return errors.Join(err, d.Close())
}

// listenHTTP listens on addr for the web view: a loopback address unless
// public is set.
func listenHTTP(addr string, public bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: want HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	if !public {
		ip, err := netip.ParseAddr(host)
		if host != "localhost" && (err != nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--http %s: not a loopback address; the web view has no login (add --http-public to serve it there anyway)", addr)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	return l, nil
}
