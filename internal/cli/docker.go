package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) networkCmd() *cobra.Command {
	c := &cobra.Command{Use: "network", Short: "Manage networks"}
	c.AddCommand(a.networkCreateCmd(), a.networkLsCmd(), a.networkInspectCmd(), a.networkRmCmd(),
		a.networkConnectCmd(), a.networkDisconnectCmd())
	return c
}

func (a *app) networkCreateCmd() *cobra.Command {
	var req control.NetworkCreate
	c := &cobra.Command{
		Use:   "create [flags] NAME",
		Short: "Create a network (a VLAN with a subnet, gateway, IPAM and DNS)",
		Example: `  vswitchctl network create test-network
  vswitchctl network create --subnet 10.10.0.0/24 --vlan 10 vlan10
  vswitchctl network create --internal backend`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan"); err != nil {
				return err
			}
			req.Name = args[0]
			n, err := a.client.CreateNetwork(cmd.Context(), req)
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
			ns, err := a.client.Networks(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return a.printJSON(ns)
			case quiet:
				for _, n := range ns {
					fmt.Fprintln(a.stdout, n.Name)
				}
				return nil
			}
			w := a.table("NAME", "VLAN", "SUBNET", "GATEWAY", "ENDPOINTS", "INTERNAL")
			for _, n := range ns {
				row(w, n.Name, n.VLAN, n.Subnet, n.Gateway, len(n.Endpoints), n.Internal)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print names only")
	return c
}

func (a *app) networkInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect NAME...",
		Short: "Show a network: subnet, gateway, VLAN, endpoints and the DNS names it serves",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ns []control.Network
			for _, name := range args {
				n, err := a.client.Network(cmd.Context(), name)
				if err != nil {
					return err
				}
				ns = append(ns, n)
			}
			if asJSON {
				return a.printJSON(ns)
			}
			for i, n := range ns {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				fmt.Fprintf(a.stdout, "Network:   %s (id %d)\nVLAN:      %d\nSubnet:    %s\nGateway:   %s (%s)\nInternal:  %v\nCreated:   %s\n",
					n.Name, n.ID, n.VLAN, n.Subnet, n.Gateway, n.GatewayMAC, n.Internal, n.Created.Format("2006-01-02 15:04:05 MST"))
				fmt.Fprintln(a.stdout, "Endpoints:")
				w := a.table("  ENDPOINT", "INTERFACE", "MAC", "IP", "ALIASES")
				for _, e := range n.Endpoints {
					row(w, "  "+e.Endpoint, e.Interface, e.MAC, e.IP, orDash(strings.Join(e.Aliases, ",")))
				}
				w.Flush()
				fmt.Fprintln(a.stdout, "DNS names:")
				w = a.table("  NAME", "ADDRESS")
				for _, d := range n.DNSNames {
					row(w, "  "+d.Name, d.IP)
				}
				w.Flush()
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) networkRmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [-f] NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove networks (refused while endpoints are attached, unless --force)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, name := range args {
				if err := a.client.RemoveNetwork(cmd.Context(), name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(a.stdout, name)
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "disconnect attached endpoints first")
	return c
}

func (a *app) networkConnectCmd() *cobra.Command {
	var req control.Connect
	c := &cobra.Command{
		Use:     "connect [flags] NETWORK ENDPOINT",
		Short:   "Connect a running endpoint to a network (adds a NIC: eth1, …)",
		Example: `  vswitchctl network connect applesonly apple-server`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Endpoint = args[1]
			return a.client.Connect(cmd.Context(), args[0], req)
		},
	}
	c.Flags().StringVar(&req.IP, "ip", "", "IPv4 address on the network (default: the next free one)")
	c.Flags().StringArrayVar(&req.Aliases, "alias", nil, "extra DNS name on this network (repeatable)")
	return c
}

func (a *app) networkDisconnectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disconnect NETWORK ENDPOINT",
		Short: "Disconnect an endpoint from a network (removes the NIC and its names)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.Disconnect(cmd.Context(), args[0], control.Disconnect{Endpoint: args[1]})
		},
	}
}

func (a *app) runCmd() *cobra.Command {
	var req control.Run
	var detach, interactive bool
	c := &cobra.Command{
		Use:   "run [flags] --net NETWORK --name NAME [--] [COMMAND [ARG...]]",
		Short: "Create an endpoint (a network namespace with a NIC) and run a command in it",
		Long: `run creates an endpoint: a named network namespace (see ip netns list) with a TAP NIC on the
network, an address, a default route via the gateway and a resolv.conf pointing at the switch's DNS.
With -d the command runs in the background (output kept for logs); without -d it runs in the
foreground, and --rm removes the endpoint when it exits. With no command, -d just creates the
endpoint, and a foreground run starts /bin/sh.`,
		Example: `  vswitchctl run -d --net test-network --name apple-server
  vswitchctl run -d --net test-network --name echo-server -p 45678:45678 -p 45679:45679 -- sh -c 'nc -lp 45678 | nc -lp 45679'
  vswitchctl run --rm -it --net test-network --name shell`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "native"); err != nil {
				return err
			}
			req.Cmd = args
			if req.Name == "" {
				return errors.New("run needs --name NAME")
			}
			if detach {
				if req.TTY || interactive {
					return errors.New("-d cannot be combined with -i or -t")
				}
				e, err := a.client.Run(cmd.Context(), req)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, e.Name)
				return nil
			}
			req.Stdin = interactive
			return a.attach(cmd.Context(), req.TTY, interactive, func(ctx context.Context, stdio *control.IO) (int, error) {
				return a.client.RunAttached(ctx, req, stdio)
			})
		},
	}
	c.Flags().SetInterspersed(false)
	f := c.Flags()
	f.StringVar(&req.Name, "name", "", "endpoint name (also its namespace and DNS name)")
	f.StringVar(&req.Network, "net", "", "network to attach eth0 to")
	f.StringVar(&req.Network, "network", "", "same as --net")
	f.StringVar(&req.IP, "ip", "", "IPv4 address (default: the next free one)")
	f.StringArrayVar(&req.Aliases, "alias", nil, "extra DNS name (repeatable)")
	f.StringArrayVarP(&req.Publish, "publish", "p", nil, "publish a port: [IP:]HOST[-END]:CONTAINER[-END][/tcp|/udp] (repeatable)")
	f.StringArrayVarP(&req.Env, "env", "e", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.BoolVarP(&detach, "detach", "d", false, "run the command in the background")
	f.BoolVar(&req.Remove, "rm", false, "remove the endpoint when the command exits")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&req.TTY, "tty", "t", false, "allocate a terminal")
	f.BoolVar(&req.Trunk, "trunk", false, "make eth0 an 802.1Q trunk (tagged) instead of an access port")
	f.StringVar(&req.VLANs, "vlans", "", "VLANs the trunk carries, e.g. 10,20,30-40 (default: all)")
	f.IntVar(&req.Native, "native", 0, "native VLAN of the trunk, sent untagged (default: the --net network's)")
	return c
}

func (a *app) execCmd() *cobra.Command {
	var req control.Exec
	var interactive bool
	c := &cobra.Command{
		Use:   "exec [flags] ENDPOINT [--] COMMAND [ARG...]",
		Short: "Run a command inside an endpoint (as ip netns exec does) and exit with its code",
		Example: `  vswitchctl exec apple-server -- ping -c1 orange-server
  vswitchctl exec -it apple-server sh`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Cmd = args[1:]
			if req.Cmd[0] == "--" { // flags stop at ENDPOINT, so a -- after it is ours
				req.Cmd = req.Cmd[1:]
			}
			if len(req.Cmd) == 0 {
				return errors.New("exec needs a command")
			}
			req.Stdin = interactive
			return a.attach(cmd.Context(), req.TTY, interactive, func(ctx context.Context, stdio *control.IO) (int, error) {
				return a.client.Exec(ctx, args[0], req, stdio)
			})
		},
	}
	c.Flags().SetInterspersed(false)
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	c.Flags().BoolVarP(&req.TTY, "tty", "t", false, "allocate a terminal")
	c.Flags().StringArrayVarP(&req.Env, "env", "e", nil, "set an environment variable KEY=VALUE (repeatable)")
	return c
}

func (a *app) psCmd() *cobra.Command {
	var asJSON, quiet bool
	c := &cobra.Command{
		Use:     "ps",
		Aliases: []string{"ls"},
		Short:   "List endpoints",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := a.client.Endpoints(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return a.printJSON(es)
			case quiet:
				for _, e := range es {
					fmt.Fprintln(a.stdout, e.Name)
				}
				return nil
			}
			w := a.table("NAME", "STATUS", "NETWORKS", "ADDRESSES", "PORTS", "COMMAND")
			for _, e := range es {
				var nets, ips []string
				for _, n := range e.NICs {
					nets = append(nets, orDash(n.Network))
					ips = append(ips, n.Interface+"="+orDash(n.IP))
				}
				row(w, e.Name, e.Status, strings.Join(nets, ","), strings.Join(ips, " "),
					orDash(strings.Join(e.Published, ",")), orDash(quoteCmd(e.Cmd)))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print names only")
	return c
}

func quoteCmd(argv []string) string {
	q := make([]string, len(argv))
	for i, s := range argv {
		if strings.ContainsAny(s, " \t'\"|&;<>$") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		q[i] = s
	}
	s := strings.Join(q, " ")
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func (a *app) rmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rm [-f] ENDPOINT...",
		Short: "Remove endpoints: stop their processes, delete namespace, NICs and files",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, name := range args {
				if err := a.client.RemoveEndpoint(cmd.Context(), name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(a.stdout, name)
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "stop a running command first")
	return c
}

func (a *app) logsCmd() *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use:   "logs [-f] ENDPOINT",
		Short: "Show the output of an endpoint's background command",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.Logs(cmd.Context(), args[0], follow, a.stdout)
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output until the command exits")
	return c
}

func (a *app) publishCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "publish ENDPOINT SPEC",
		Short:   "Publish a port of a running endpoint ([IP:]HOST[-END]:CONTAINER[-END][/tcp|/udp])",
		Example: `  vswitchctl publish web 8080:80`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.Publish(cmd.Context(), args[0], args[1])
		},
	}
}

func (a *app) unpublishCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unpublish ENDPOINT SPEC",
		Short: "Remove a published port",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.Unpublish(cmd.Context(), args[0], args[1])
		},
	}
}
