// Package daemon holds vswitchd's desired state — networks, endpoints,
// system ports, the uplink and published ports — and makes the machine
// match it: named namespaces with TAP NICs, addresses and routes, processes
// inside them, the host's leg, and the datapath's and router's tables. It
// implements control.Backend; every change is saved to the state directory
// before it is acknowledged.
//
// The entry point is New, then Start; Close tears everything down unless
// Config.Keep is set.
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/vswitchd/vswitchd/bridge"
	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/ipam"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/netns"
	"github.com/vswitchd/vswitchd/proxy"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/tap"
)

// Version is vswitchd's version, reported by the API.
var Version = "0.1.0-dev"

// Defaults.
const (
	DefaultStateDir = "/var/lib/vswitchd"
	DefaultHostIf   = "vswitch0"
	// DefaultHostCIDR is the link between the host and the router: the
	// host (host.vswitchd.internal) takes the first address, the router
	// the second. Link-local, so it is never routed off the machine.
	DefaultHostCIDR = "169.254.127.0/30"
	// firstAutoVLAN is where automatically assigned network VLANs start,
	// leaving 1–99 for VLANs users number themselves.
	firstAutoVLAN = 100
	// stopGrace is how long processes get between SIGTERM and SIGKILL.
	stopGrace = 3 * time.Second
)

// nudPermanent is the kernel's NUD_PERMANENT neighbour state (linux/neighbour.h),
// spelled out so the package also builds where netlink does not define it.
const nudPermanent = 0x80

// Config configures the daemon.
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
	// Uplink, if set, is attached at start (command-line --uplink).
	Uplink *control.Uplink
	// Keep leaves namespaces, TAPs and processes in place at Close and
	// keeps the state, for a restart to re-adopt.
	Keep bool
	// Exe is the vswitchd binary run (as `vswitchd nsexec`) to enter
	// endpoints; default os.Executable.
	Exe string
	// FDB and NAT configure the tables.
	FDB bridge.Options
	NAT nat.Options
	// NoARPSuppression turns ARP suppression off.
	NoARPSuppression bool
	Logger           *slog.Logger
}

// Daemon is a running vswitchd.
type Daemon struct {
	cfg Config
	log *slog.Logger

	dp     *datapath.Datapath
	rt     *router.Router
	dns    *dns.Server
	proxy  *proxy.Proxy
	dnsTCP *mdns.Server

	// mu serialises changes: it guards state, subnets, eps, sysPorts,
	// uplinkPort, hostPort and the kernel objects they describe.
	mu         sync.Mutex
	state      *State
	subnets    map[string]*ipam.Subnet // by network name
	eps        map[string]*epRuntime   // by endpoint name
	sysPorts   map[string]datapath.PortID
	uplinkPort datapath.PortID
	hostPort   datapath.PortID
	hostLeg    router.HostLeg
	hostMAC    header.MAC // the router's MAC on the host leg
	uplinkMAC  header.MAC // the router's MAC on the uplink
	selfNS     netns.Handle

	wg      sync.WaitGroup // process waiters and --rm removers
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
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		cfg.Exe = exe
	}
	if err := netns.ValidateIfName(cfg.HostIf); err != nil {
		return nil, fmt.Errorf("host interface: %w", err)
	}
	return &Daemon{
		cfg:      cfg,
		log:      cfg.Logger,
		subnets:  map[string]*ipam.Subnet{},
		eps:      map[string]*epRuntime{},
		sysPorts: map[string]datapath.PortID{},
		closing:  make(chan struct{}),
	}, nil
}

// Start builds the switch: datapath, router, DNS, the host's leg, then what
// the saved state describes, re-adopting namespaces and TAPs that survived.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.selfNS, err = netns.Current(); err != nil {
		return err
	}
	st, err := loadState(d.cfg.StateDir)
	if err != nil {
		return err
	}
	if len(st.Endpoints) > 0 && st.Prefix != d.cfg.NetnsPrefix {
		return fmt.Errorf("state in %s uses namespace prefix %q, not %q", d.cfg.StateDir, st.Prefix, d.cfg.NetnsPrefix)
	}
	st.Prefix = d.cfg.NetnsPrefix
	d.state = st
	if d.hostMAC, err = persistentMAC(&st.HostMAC); err != nil {
		return err
	}
	if d.uplinkMAC, err = persistentMAC(&st.UplinkMAC); err != nil {
		return err
	}

	ups := d.cfg.DNSUpstreams
	if ups == nil {
		ups, _ = dns.UpstreamsFromResolvConf("/etc/resolv.conf")
	}
	d.dns = dns.New(dns.Options{Upstreams: ups, Logger: d.log})
	d.rt = router.New(router.Options{NAT: nat.New(d.cfg.NAT), DNS: d.dns})
	d.dp = datapath.New(datapath.Options{FDB: d.cfg.FDB, Router: d.rt, Logger: d.log})
	d.proxy = proxy.New(proxy.Options{Logger: d.log})

	defer func() {
		if err != nil {
			d.teardown(false)
		}
	}()
	if err := d.startHostLeg(); err != nil {
		return err
	}
	if err := d.restore(); err != nil {
		return err
	}
	if d.cfg.Uplink != nil {
		if _, err := d.setUplinkLocked(*d.cfg.Uplink); err != nil {
			return err
		}
	}
	return d.saveLocked()
}

// persistentMAC returns the MAC saved in *s, generating and saving a random
// locally administered one the first time.
func persistentMAC(s *string) (header.MAC, error) {
	if *s != "" {
		return header.ParseMAC(*s)
	}
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&^1 | 2 // unicast, locally administered
	*s = m.String()
	return m, nil
}

// startHostLeg creates the internal port: a TAP in the daemon's namespace
// holding the host's address on the router link, and the TCP DNS listener
// on that address.
func (d *Daemon) startHostLeg() error {
	hostAddr := d.cfg.HostCIDR.Masked().Addr().Next()
	rtAddr := hostAddr.Next()
	if old, err := netlink.LinkByName(d.cfg.HostIf); err == nil {
		// A leftover of a crashed run (the TAP is not persistent, so
		// this is rare): replace it.
		netlink.LinkDel(old)
	}
	dev, err := tap.Create(tap.Options{Name: d.cfg.HostIf})
	if err != nil {
		return fmt.Errorf("host leg: %w", err)
	}
	link, err := netlink.LinkByName(d.cfg.HostIf)
	if err != nil {
		dev.Close()
		return fmt.Errorf("host leg: %w", err)
	}
	addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(hostAddr, d.cfg.HostCIDR.Bits()))}
	if err := netlink.AddrAdd(link, addr); err != nil {
		dev.Close()
		return fmt.Errorf("host leg: add %s: %w", addr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		dev.Close()
		return fmt.Errorf("host leg: set up: %w", err)
	}
	// The leg is IPv4: keep the host from sending router solicitations
	// and other IPv6 noise into it.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+d.cfg.HostIf+"/disable_ipv6", []byte("1"), 0o644)
	var tapMAC header.MAC
	copy(tapMAC[:], link.Attrs().HardwareAddr)
	id, err := d.dp.AddPort(dev, datapath.PortConfig{Name: d.cfg.HostIf, Kind: datapath.KindInternal, Routed: true})
	if err != nil {
		dev.Close()
		return err
	}
	d.hostPort = id
	d.hostLeg = router.HostLeg{Port: id, MAC: d.hostMAC, Addr: rtAddr, HostAddr: hostAddr, HostMAC: tapMAC}
	// The router's address on the leg is known to the host kernel at once,
	// so the first packet to an endpoint need not wait for ARP.
	netlink.NeighSet(&netlink.Neigh{
		LinkIndex: link.Attrs().Index, State: nudPermanent,
		IP: rtAddr.AsSlice(), HardwareAddr: d.hostMAC.HardwareAddr(),
	})

	l, err := net.Listen("tcp", netip.AddrPortFrom(hostAddr, 0).String())
	if err != nil {
		return fmt.Errorf("dns over tcp: %w", err)
	}
	d.hostLeg.DNSPort = uint16(l.Addr().(*net.TCPAddr).Port)
	d.dnsTCP = &mdns.Server{Listener: l, Handler: d.dns.Handler(d.rt.ScopeOf)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.dnsTCP.ActivateAndServe()
	}()
	d.dns.SetHost(hostAddr)
	return nil
}

// HostAddr returns host.vswitchd.internal, the host's address on its leg.
func (d *Daemon) HostAddr() netip.Addr { return d.hostLeg.HostAddr }

// Close tears the switch down: unless Config.Keep, every endpoint (its
// processes, namespace and TAPs), the host leg, the routes and the state
// file are removed.
func (d *Daemon) Close() error {
	select {
	case <-d.closing:
		return nil
	default:
	}
	close(d.closing)
	d.mu.Lock()
	err := d.teardown(!d.cfg.Keep)
	d.mu.Unlock()
	d.wg.Wait()
	return err
}

// teardown stops everything; remove says whether kernel objects and the
// state go too. Callers hold mu.
func (d *Daemon) teardown(remove bool) error {
	var errs []error
	if d.dnsTCP != nil {
		d.dnsTCP.Shutdown()
	}
	if d.proxy != nil {
		errs = append(errs, d.proxy.Close())
	}
	if d.state != nil {
		for _, e := range append([]*Endpoint(nil), d.state.Endpoints...) {
			if remove {
				errs = append(errs, d.removeEndpointLocked(e, true))
			} else {
				d.detachEndpoint(e)
			}
		}
	}
	if d.dp != nil {
		errs = append(errs, d.dp.Close())
	}
	if d.dns != nil {
		d.dns.Close()
	}
	// The host leg's TAP is not persistent: closing its fd (in dp.Close)
	// removed it, and its routes with it.
	if remove && d.state != nil {
		d.state = &State{Version: stateVersion, Prefix: d.cfg.NetnsPrefix}
		if err := os.Remove(filepath.Join(d.cfg.StateDir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		os.RemoveAll(filepath.Join(d.cfg.StateDir, "logs"))
	}
	if d.selfNS.IsOpen() {
		d.selfNS.Close()
	}
	return errors.Join(errs...)
}

func (d *Daemon) saveLocked() error { return d.state.save(d.cfg.StateDir) }

// Version implements control.Backend.
func (d *Daemon) Version() control.Version {
	return control.Version{API: control.APIVersion, Version: Version}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
