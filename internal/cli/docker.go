package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) networkCmd() *cobra.Command {
	c := &cobra.Command{Use: "network", Short: "Manage networks"}
	c.AddCommand(a.networkCreateCmd(), a.networkLsCmd(), a.networkInspectCmd(), a.networkRmCmd(),
		a.networkConnectCmd(), a.networkDisconnectCmd(), a.networkPruneCmd(), a.networkPeerCmd())
	return c
}

func (a *app) networkCreateCmd() *cobra.Command {
	var req control.NetworkCreate
	var icc bool
	var ov control.OverlayCreate
	c := &cobra.Command{
		Use:   "create [flags] NAME",
		Short: "Create a network (a VLAN with a subnet, gateway, IPAM and DNS), on this host or over VXLAN",
		Long: `create makes a network. With --vni it is an overlay network that spans hosts: its frames
reach the other hosts' vswitchd (or a Linux vxlan device, or Open vSwitch) over VXLAN
(RFC 7348) at the --peer addresses, UDP port 4789. Every host creates it with the same
--subnet and --vni, and each host its own --ip-range, so that no two hosts hand out the
same address. Each host's router is the gateway of the endpoints that live there (the same
gateway address and MAC everywhere). NICs get MTU 1450 (--mtu to change it).`,
		Example: `  vswitchctl network create test-network
  vswitchctl network create --subnet 10.10.0.0/24 --vlan 10 vlan10
  vswitchctl network create --internal backend
  vswitchctl network create --icc=false guests
  vswitchctl network create ov --subnet 10.200.0.0/24 --ip-range 10.200.0.0/25 --vni 4242 --peer 10.99.0.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan"); err != nil {
				return err
			}
			req.Name = args[0]
			if cmd.Flags().Changed("icc") {
				req.ICC = &icc
			}
			if cmd.Flags().Changed("vni") {
				req.Overlay = &ov
			} else {
				for _, f := range []string{"peer", "vxlan-port", "local"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s needs --vni (an overlay network)", f)
					}
				}
			}
			n, err := a.api().CreateNetwork(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, n.Name)
			return nil
		},
	}
	c.Flags().StringVar(&req.Subnet, "subnet", "", "subnet in CIDR form (default: a free one from 172.17.0.0/16 onward)")
	c.Flags().StringVar(&req.Gateway, "gateway", "", "gateway address (default: the subnet's first address)")
	c.Flags().IntVar(&req.VLAN, "vlan", 0, "802.1Q VLAN ID 1-4094 (default: assigned from 100)")
	c.Flags().BoolVar(&req.Internal, "internal", false, "never route this network to the outside")
	c.Flags().BoolVar(&icc, "icc", true, "let endpoints of the network reach each other (docker's enable_icc)")
	c.Flags().StringVar(&req.IPRange, "ip-range", "", "allocate automatic addresses from this part of the subnet (CIDR)")
	c.Flags().IntVar(&req.MTU, "mtu", 0, "MTU of the network's NICs (default 1500; 1450 on an overlay network)")
	c.Flags().IntVar(&ov.VNI, "vni", 0, "VXLAN network identifier 1-16777215: makes an overlay network")
	c.Flags().StringSliceVar(&ov.Peers, "peer", nil, "other hosts' VTEP addresses (IP[,IP...]; repeatable)")
	c.Flags().IntVar(&ov.Port, "vxlan-port", 4789, "VXLAN UDP port")
	c.Flags().StringVar(&ov.Local, "local", "", "local VTEP address to bind to (default: any)")
	return c
}

func (a *app) networkPeerCmd() *cobra.Command {
	c := &cobra.Command{Use: "peer", Short: "Add or remove the peer VTEPs of an overlay network, live"}
	for _, add := range []bool{true, false} {
		use, short := "add NETWORK IP...", "Add peer VTEPs (other hosts) to an overlay network"
		if !add {
			use, short = "del NETWORK IP...", "Remove peer VTEPs from an overlay network: no frames go to or come from them"
		}
		sub := &cobra.Command{
			Use:               use,
			Short:             short,
			Args:              cobra.MinimumNArgs(2),
			ValidArgsFunction: a.completeNetworks(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.each(args[1:], func(peer string) error {
					if add {
						return a.api().AddPeer(cmd.Context(), args[0], peer)
					}
					return a.api().DeletePeer(cmd.Context(), args[0], peer)
				})
			},
		}
		if !add {
			sub.Aliases = []string{"rm"}
		}
		c.AddCommand(sub)
	}
	return c
}

func (a *app) networkLsCmd() *cobra.Command {
	var asJSON, quiet bool
	c := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := a.api().Networks(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return a.printJSON(nonNil(ns))
			case quiet:
				for _, n := range ns {
					fmt.Fprintln(a.stdout, n.Name)
				}
				return nil
			}
			w := a.table("NAME", "VLAN", "SUBNET", "GATEWAY", "ENDPOINTS", "INTERNAL", "ICC")
			for _, n := range ns {
				row(w, n.Name, n.VLAN, n.Subnet, n.Gateway, len(n.Endpoints), n.Internal, n.ICC)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Network")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print names only")
	c.MarkFlagsMutuallyExclusive("json", "quiet")
	return c
}

func (a *app) networkInspectCmd() *cobra.Command {
	var asJSON bool
	var format string
	c := &cobra.Command{
		Use:   "inspect [--json | --format TEMPLATE] NAME...",
		Short: "Show networks: subnet, gateway, VLAN, endpoints and the DNS names served",
		Long: `inspect shows each network; with --json, a JSON list of control.Network (as docker network
inspect); with --format, a Go template over each control.Network ({{.Subnet}}, {{.VLAN}},
{{range .Endpoints}}{{.IP}} {{end}}; "json" prints one object per line). An unknown name is
an error, after the networks that were found.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeNetworks(-1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns := []control.Network{}
			var errs []error
			for _, name := range args {
				n, err := a.api().Network(cmd.Context(), name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				ns = append(ns, n)
			}
			var err error
			switch {
			case asJSON:
				err = a.printJSON(ns)
			case format != "":
				err = printObjects(a.stdout, format, ns)
			default:
				a.printNetworks(ns)
			}
			if err != nil {
				return err
			}
			return joinErrors(errs)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Network")
	c.Flags().StringVarP(&format, "format", "f", "", "Go template over each control.Network, or json")
	c.MarkFlagsMutuallyExclusive("json", "format")
	return c
}

func (a *app) printNetworks(ns []control.Network) {
	for i, n := range ns {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "Network:   %s (id %d)\nVLAN:      %d\nSubnet:    %s\nGateway:   %s (%s)\nInternal:  %v\nICC:       %v\nCreated:   %s\n",
			n.Name, n.ID, n.VLAN, n.Subnet, n.Gateway, n.GatewayMAC, n.Internal, n.ICC, n.Created.Format("2006-01-02 15:04:05 MST"))
		if n.IPRange != "" {
			fmt.Fprintf(a.stdout, "IP range:  %s\n", n.IPRange)
		}
		if n.MTU != 0 {
			fmt.Fprintf(a.stdout, "MTU:       %d\n", n.MTU)
		}
		if o := n.Overlay; o != nil {
			local := o.Local
			if local == "" {
				local = "any"
			}
			fmt.Fprintf(a.stdout, "VNI:       %d\nVXLAN:     port %s, UDP %d, local %s\nPeers:     %s\n",
				o.VNI, o.VXLANPort, o.Port, local, orDash(strings.Join(o.Peers, ", ")))
			fmt.Fprintln(a.stdout, "Remote MACs:")
			w := a.table("  MAC", "VTEP", "IP", "TYPE", "AGE")
			for _, r := range o.Remotes {
				typ, age := "learned", fmt.Sprintf("%.0fs", r.Age)
				if r.Static {
					typ, age = "static", "-"
				}
				row(w, "  "+r.MAC, r.VTEP, orDash(r.IP), typ, age)
			}
			w.Flush()
		}
		fmt.Fprintln(a.stdout, "Endpoints:")
		w := a.table("  ENDPOINT", "INTERFACE", "MAC", "IP", "ALIASES")
		for _, e := range n.Endpoints {
			row(w, "  "+e.Endpoint, e.Interface, e.MAC, orDash(e.IP), orDash(strings.Join(e.Aliases, ",")))
		}
		w.Flush()
		fmt.Fprintln(a.stdout, "DNS names:")
		w = a.table("  NAME", "ADDRESS")
		for _, d := range n.DNSNames {
			row(w, "  "+d.Name, d.IP)
		}
		w.Flush()
	}
}

func (a *app) networkRmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:               "rm [-f] NAME...",
		Aliases:           []string{"remove"},
		Short:             "Remove networks (refused while endpoints are attached, unless --force)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeNetworks(-1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.each(args, func(name string) error {
				return a.api().RemoveNetwork(cmd.Context(), name, force)
			})
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "disconnect attached endpoints first")
	return c
}

// pruneWarning is docker network prune's question.
const pruneWarning = "WARNING! This will remove all networks not used by at least one endpoint.\nAre you sure you want to continue? [y/N] "

func (a *app) networkPruneCmd() *cobra.Command {
	var force, asJSON bool
	c := &cobra.Command{
		Use:   "prune [-f]",
		Short: "Remove all networks without endpoints (the default network stays)",
		Long: `prune removes every network no endpoint is attached to, except the default network
"` + control.DefaultNetwork + `", and prints the names removed. Without --force it asks first on a
terminal; when stdin is not a terminal it needs --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				if !a.isTerminal(a.stdin) {
					return errors.New("network prune needs --force when stdin is not a terminal")
				}
				fmt.Fprint(a.stdout, pruneWarning)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
					return nil
				}
			}
			p, err := a.api().PruneNetworks(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(control.NetworkPrune{Removed: nonNil(p.Removed)})
			}
			if len(p.Removed) > 0 {
				fmt.Fprintln(a.stdout, "Deleted Networks:")
				for _, n := range p.Removed {
					fmt.Fprintln(a.stdout, n)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.NetworkPrune")
	return c
}

func (a *app) networkConnectCmd() *cobra.Command {
	var req control.Connect
	c := &cobra.Command{
		Use:               "connect [flags] NETWORK ENDPOINT",
		Short:             "Connect a running endpoint to a network (adds a NIC: eth1, …)",
		Example:           `  vswitchctl network connect applesonly apple-server`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeNetworkThenEndpoint(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Endpoint = args[1]
			return a.api().Connect(cmd.Context(), args[0], req)
		},
	}
	c.Flags().StringVar(&req.IP, "ip", "", "IPv4 address on the network (default: the next free one)")
	c.Flags().StringArrayVar(&req.Aliases, "alias", nil, "extra DNS name on this network (repeatable)")
	return c
}

func (a *app) networkDisconnectCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "disconnect NETWORK ENDPOINT",
		Short:             "Disconnect an endpoint from a network (removes the NIC and its names)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeNetworkThenEndpoint(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.api().Disconnect(cmd.Context(), args[0], control.Disconnect{Endpoint: args[1]})
		},
	}
}

// runFlagNames maps the other spellings of run's flags to the ones its
// help shows: --net is docker's old --network, --alias is vswitchctl's
// (and network connect's) name for --network-alias.
var runFlagNames = map[string]string{"net": "network", "alias": "network-alias"}

func (a *app) runCmd() *cobra.Command {
	var req control.Run
	var detach, interactive bool
	c := &cobra.Command{
		Use:   "run [flags] [--] [COMMAND [ARG...]]",
		Short: "Create an endpoint (a network namespace with a NIC) and run a command in it",
		Long: `run creates an endpoint: a named network namespace (see ip netns list) with a TAP NIC on
the network (default "` + control.DefaultNetwork + `"), an address, a default route via the gateway
and a resolv.conf pointing at the switch's DNS.

With -d the command runs in the background (output kept for logs) and run prints the endpoint's
name; without -d it runs in the foreground and run exits with its status (127: no such command,
126: not executable); --rm removes the endpoint when it exits. With no command, -d just creates
the endpoint, and a foreground run starts /bin/sh. Without --name, a name like docker's
(adjective_surname) is made up.

--net is accepted for --network, and --alias for --network-alias. -h is --hostname, as in
docker run; --help shows this help.`,
		Example: `  vswitchctl run -d --net test-network --name apple-server
  vswitchctl run -d --name echo-server -p 45678:45678 -p 45679:45679 -- sh -c 'nc -lp 45678 | nc -lp 45679'
  vswitchctl run -d --name web --expose 80 -P --restart on-failure:3 -- httpd -f
  vswitchctl run --rm -it --net test-network --name shell`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "native"); err != nil {
				return err
			}
			if err := checkRun(&req); err != nil {
				return err
			}
			req.Cmd = args
			if detach && (req.TTY || interactive) {
				return errors.New("-d cannot be combined with -i or -t")
			}
			req.Stdin = interactive
			named := req.Name != ""
			for try := 0; ; try++ {
				if !named {
					req.Name = randomName()
				}
				err := a.runOnce(cmd.Context(), req, detach, interactive)
				// A made-up name may be taken: make up another, as
				// docker's daemon does.
				if named || try == 2 || !errors.Is(err, control.ErrConflict) {
					return err
				}
			}
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if n, ok := runFlagNames[name]; ok {
			name = n
		}
		return pflag.NormalizedName(name)
	})
	f.Bool("help", false, "help for run") // so that -h can be --hostname
	f.StringVar(&req.Name, "name", "", "endpoint name (also its namespace and DNS name; default: made up)")
	f.StringVar(&req.Network, "network", "", "network to attach eth0 to (default \""+control.DefaultNetwork+"\")")
	f.StringVar(&req.IP, "ip", "", "IPv4 address (default: the next free one)")
	f.StringArrayVar(&req.Aliases, "network-alias", nil, "extra DNS name on the network (repeatable)")
	f.StringVarP(&req.Hostname, "hostname", "h", "", "host name inside the endpoint (default: its name)")
	f.StringArrayVar(&req.DNS, "dns", nil, "DNS server for resolv.conf, after the switch's (repeatable)")
	f.StringArrayVar(&req.ExtraHosts, "add-host", nil, "add NAME:IP to /etc/hosts; IP may be host-gateway (repeatable)")
	f.StringVar(&req.Restart, "restart", "", "restart policy: no, on-failure[:N], always, unless-stopped")
	f.StringVarP(&req.User, "user", "u", "", "run the command (and exec's by default) as USER[:GROUP], names or numbers (default root)")
	f.StringArrayVar(&req.CapAdd, "cap-add", nil, "keep a Linux capability that --cap-drop drops, e.g. NET_BIND_SERVICE (repeatable)")
	f.StringArrayVar(&req.CapDrop, "cap-drop", nil, "drop a Linux capability, or ALL, from the endpoint's processes (repeatable)")
	f.StringArrayVarP(&req.Publish, "publish", "p", nil, "publish a port: [IP:][HOST[-END]:]CONTAINER[-END][/tcp|/udp] (repeatable)")
	f.BoolVarP(&req.PublishAll, "publish-all", "P", false, "publish every --expose port on a free host port")
	f.StringArrayVar(&req.Expose, "expose", nil, "a port for -P: PORT[-END][/tcp|/udp] (repeatable)")
	f.StringArrayVarP(&req.Env, "env", "e", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.BoolVarP(&detach, "detach", "d", false, "run the command in the background and print the name")
	f.BoolVar(&req.Remove, "rm", false, "remove the endpoint when the command exits")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&req.TTY, "tty", "t", false, "allocate a terminal")
	f.BoolVar(&req.Trunk, "trunk", false, "make eth0 an 802.1Q trunk (tagged) instead of an access port")
	f.StringVar(&req.VLANs, "vlans", "", "VLANs the trunk carries, e.g. 10,20,30-40 (default: all)")
	f.IntVar(&req.Native, "native", 0, "native VLAN of the trunk, sent untagged (default: the network's)")
	c.RegisterFlagCompletionFunc("network", a.completeNetworkFlag)
	c.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions([]string{"no", "on-failure", "always", "unless-stopped"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// runOnce sends one run request.
func (a *app) runOnce(ctx context.Context, req control.Run, detach, interactive bool) error {
	if detach {
		e, err := a.api().Run(ctx, req)
		if err != nil {
			return commandError(err)
		}
		fmt.Fprintln(a.stdout, e.Name)
		return nil
	}
	return a.attach(ctx, req.TTY, interactive, func(ctx context.Context, stdio *control.IO) (int, error) {
		return a.api().RunAttached(ctx, req, stdio)
	})
}

// checkRun checks and normalises what docker's client checks itself: the
// restart policy, --add-host's form, -P's ports.
func checkRun(req *control.Run) error {
	if err := checkRestart(req.Restart); err != nil {
		return err
	}
	if req.Restart != "" && req.Restart != "no" && req.Remove {
		return errors.New("conflicting options: --restart and --rm")
	}
	for i, h := range req.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if n, i2, ok2 := strings.Cut(h, "="); ok2 && (!ok || len(n) < len(name)) {
			name, ip, ok = n, i2, true // docker also takes NAME=IP
		}
		if !ok || name == "" || ip == "" {
			return fmt.Errorf("--add-host %q: want NAME:IP", h)
		}
		if _, err := netip.ParseAddr(ip); err != nil && ip != "host-gateway" {
			return fmt.Errorf("--add-host %q: %q is not an IP address or host-gateway", h, ip)
		}
		req.ExtraHosts[i] = name + ":" + ip
	}
	if req.PublishAll && len(req.Expose) == 0 {
		return errors.New("-P publishes the ports given with --expose (an endpoint has no image to declare them)")
	}
	return nil
}

// checkRestart checks a docker restart policy.
func checkRestart(p string) error {
	switch p {
	case "", "no", "always", "unless-stopped", "on-failure":
		return nil
	}
	if n, ok := strings.CutPrefix(p, "on-failure:"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return nil
		}
		return fmt.Errorf("--restart %q: the retry count must be a number of 0 or more", p)
	}
	if strings.HasPrefix(p, "always:") || strings.HasPrefix(p, "unless-stopped:") || strings.HasPrefix(p, "no:") {
		return fmt.Errorf("--restart %q: only on-failure takes a retry count", p)
	}
	return fmt.Errorf("--restart %q: want no, on-failure[:N], always or unless-stopped", p)
}

func (a *app) execCmd() *cobra.Command {
	var req control.Exec
	var interactive bool
	c := &cobra.Command{
		Use:   "exec [flags] ENDPOINT [--] COMMAND [ARG...]",
		Short: "Run a command inside an endpoint (as ip netns exec does) and exit with its code",
		Long: `exec runs COMMAND in the endpoint and exits with its status (127: no such command, 126: not
executable). With -d it starts the command in the background and returns at once; its output
is discarded.`,
		Example: `  vswitchctl exec apple-server -- ping -c1 orange-server
  vswitchctl exec -it apple-server sh
  vswitchctl exec -d -w /tmp -u nobody apple-server -- nc -lp 8080`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Cmd = args[1:]
			if req.Cmd[0] == "--" { // flags stop at ENDPOINT, so a -- after it is ours
				req.Cmd = req.Cmd[1:]
			}
			if len(req.Cmd) == 0 {
				return errors.New("exec needs a command")
			}
			if req.Detach {
				if req.TTY || interactive {
					return errors.New("-d cannot be combined with -i or -t")
				}
				return commandError(a.api().ExecDetached(cmd.Context(), args[0], req))
			}
			req.Stdin = interactive
			return a.attach(cmd.Context(), req.TTY, interactive, func(ctx context.Context, stdio *control.IO) (int, error) {
				return a.api().Exec(ctx, args[0], req, stdio)
			})
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&req.Detach, "detach", "d", false, "run the command in the background")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&req.TTY, "tty", "t", false, "allocate a terminal")
	f.StringArrayVarP(&req.Env, "env", "e", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.StringVarP(&req.WorkDir, "workdir", "w", "", "working directory (default /)")
	f.StringVarP(&req.User, "user", "u", "", "run as USER[:GROUP] (names or numbers)")
	return c
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
