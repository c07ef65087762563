// Command vswitchd is the userspace virtual switch daemon: it runs in the
// foreground in the network namespace it was started in, serves the
// vswitchctl API on a Unix socket, and on SIGTERM or SIGINT removes
// everything it created (unless --keep).
//
//	vswitchd [flags]                 run the switch
//	vswitchd --lab NAME [flags]      run it inside a new private namespace NAME, removed on exit
//	vswitchd cleanup [--state-dir]   remove what a crashed vswitchd left behind
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/state"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "nsexec":
			os.Exit(nsexec(os.Args[2:]))
		case "cleanup":
			if err := cleanup(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "vswitchd cleanup: %v\n", err)
				os.Exit(1)
			}
			return
		}
	}
	cfg, opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vswitchd: %v\n", err)
		os.Exit(2)
	}
	if opts.lab != "" {
		os.Exit(runLab(opts.lab, os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, opts); err != nil {
		log.Fatalf("vswitchd: %v", err)
	}
}

// options are the flags that are not daemon configuration.
type options struct {
	socket string
	lab    string
}

func parseFlags(args []string) (daemon.Config, options, error) {
	var cfg daemon.Config
	var o options
	fs := flag.NewFlagSet("vswitchd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: vswitchd [flags]
       vswitchd --lab NAME [flags]
       vswitchd cleanup [--state-dir DIR]

vswitchd is a userspace virtual switch: Docker-style networks and endpoints with every
frame forwarded by Go code. It runs in the foreground in the network namespace it was
started in and is driven by vswitchctl over --socket.

Flags:
`)
		fs.PrintDefaults()
	}
	var upstreams, uplink, uplinkAddr, uplinkGW, hostCIDR, logLevel string
	fs.StringVar(&o.socket, "socket", control.DefaultSocket, "API socket path (mode 0600)")
	fs.StringVar(&cfg.StateDir, "state-dir", daemon.DefaultStateDir, "where the desired state and logs are kept")
	fs.BoolVar(&cfg.Keep, "keep", false, "on exit, leave endpoints (namespaces, TAPs, processes) and state for the next start to re-adopt")
	fs.StringVar(&upstreams, "dns-upstream", "", "upstream DNS resolvers ADDR[:PORT][,ADDR…] (default: from /etc/resolv.conf)")
	fs.StringVar(&uplink, "uplink", "", "interface to attach as the router's outside")
	fs.StringVar(&uplinkAddr, "uplink-address", "", "the switch's external address on the uplink, CIDR")
	fs.StringVar(&uplinkGW, "uplink-gateway", "", "next hop on the uplink")
	fs.StringVar(&cfg.HostIf, "host-if", daemon.DefaultHostIf, "name of the host's leg (an internal TAP)")
	fs.StringVar(&hostCIDR, "host-cidr", daemon.DefaultHostCIDR, "prefix of the host–router link; the host takes the first address (host.vswitchd.internal)")
	fs.StringVar(&cfg.NetnsPrefix, "netns-prefix", "", "prefix of endpoint namespace names")
	fs.IntVar(&cfg.FDB.Capacity, "fdb-capacity", bridge.DefaultCapacity, "MAC table size")
	fs.IntVar(&cfg.FDB.PortLimit, "fdb-port-limit", bridge.DefaultPortLimit, "MACs learned per port (-1: unlimited)")
	fs.DurationVar(&cfg.FDB.AgingTime, "fdb-aging", bridge.DefaultAgingTime, "MAC aging time")
	fs.IntVar(&cfg.NAT.MaxEntries, "conntrack-max", nat.DefaultMaxEntries, "conntrack table size (entries)")
	fs.BoolVar(&cfg.NoARPSuppression, "no-arp-suppression", false, "flood ARP requests for endpoint addresses instead of answering them")
	fs.StringVar(&o.lab, "lab", "", "create network namespace `NAME`, run inside it, and delete it on exit")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, o, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
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

// run starts the daemon and the API server and waits for ctx.
func run(ctx context.Context, cfg daemon.Config, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create namespaces and TAPs")
	}
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
	srv := server.New(d, cfg.Logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	cfg.Logger.Info("vswitchd ready", "socket", o.socket, "state_dir", cfg.StateDir, "host", d.HostAddr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cfg.Logger.Info("shutting down", "keep", cfg.Keep)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx)
	cancel()
	os.Remove(o.socket)
	return errors.Join(err, d.Close())
}
