package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) fdbCmd() *cobra.Command {
	c := &cobra.Command{Use: "fdb", Short: "Show or flush the MAC table (forwarding database)"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "List the MAC table: VLAN, MAC, port, learned or static, age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := a.client.FDB(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(es)
			}
			w := a.table("VLAN", "MAC", "PORT", "TYPE", "AGE")
			for _, e := range es {
				typ, age := "learned", fmt.Sprintf("%.0fs", e.Age)
				if e.Static {
					typ, age = "static", "-"
				}
				row(w, e.VLAN, e.MAC, e.Port, typ, age)
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	flush := &cobra.Command{
		Use:   "flush",
		Short: "Forget all learned MACs (static entries stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.client.FlushFDB(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "flushed %d entries\n", n)
			return nil
		},
	}
	c.AddCommand(show, flush)
	return c
}

func (a *app) portsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ports",
		Short: "List switch ports: type, mode, VLANs and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := a.client.Ports(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(ps)
			}
			w := a.table("ID", "PORT", "TYPE", "MODE", "VLAN", "RX-FRAMES", "RX-BYTES", "TX-FRAMES", "TX-BYTES", "DROPS")
			for _, p := range ps {
				vl := "-"
				switch {
				case p.VLANs != "" && p.VLAN != 0:
					vl = fmt.Sprintf("%d;%s", p.VLAN, p.VLANs)
				case p.VLANs != "":
					vl = p.VLANs
				case p.VLAN != 0:
					vl = fmt.Sprint(p.VLAN)
				}
				row(w, p.ID, p.Name, p.Kind, orDash(p.Mode), vl, p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, dropSum(p.Drops))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func dropSum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func (a *app) portCmd() *cobra.Command {
	c := &cobra.Command{Use: "port", Short: "Attach or detach existing interfaces (system ports, through AF_PACKET)"}
	var req control.PortAdd
	add := &cobra.Command{
		Use:   "add IFACE --mode MODE [--vlan N] [--vlans LIST] [--native N]",
		Short: "Attach an existing interface (a veth, a NIC) as a switch port",
		Long: `Modes follow Open vSwitch: access (--vlan N), trunk (--vlans LIST, empty = all; with --native N
the native VLAN goes untagged), native-untagged / native-tagged (--native N), dot1q-tunnel (--vlan N:
the port's frames, tagged or not, travel in an 802.1ad outer tag of VLAN N; --vlans limits the
customer VLANs).`,
		Example: `  vswitchctl port add veth-ovs --mode trunk --vlans 10,20
  vswitchctl port add veth-cust --mode dot1q-tunnel --vlan 30`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan", "native"); err != nil {
				return err
			}
			req.Interface = args[0]
			p, err := a.client.AddPort(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, p.Name)
			return nil
		},
	}
	add.Flags().StringVar(&req.Mode, "mode", "access", "access, trunk, native-untagged, native-tagged or dot1q-tunnel")
	add.Flags().IntVar(&req.VLAN, "vlan", 0, "VLAN of an access or dot1q-tunnel port")
	add.Flags().StringVar(&req.VLANs, "vlans", "", "VLANs of a trunk (e.g. 10,20,30-40; default all), or customer VLANs of a dot1q-tunnel port")
	add.Flags().IntVar(&req.Native, "native", 0, "native VLAN of a trunk (sent untagged)")
	del := &cobra.Command{
		Use:     "del IFACE",
		Aliases: []string{"rm"},
		Short:   "Detach a system port",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.RemovePort(cmd.Context(), args[0])
		},
	}
	c.AddCommand(add, del)
	return c
}

func (a *app) statsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Show counters: ports, drops by reason, MAC table, router, NAT, DNS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.client.Stats(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(st)
			}
			w := a.table("PORT", "RX-FRAMES", "TX-FRAMES", "DROPS")
			for _, p := range st.Ports {
				var ds []string
				for _, k := range sortedKeys(p.Drops) {
					ds = append(ds, fmt.Sprintf("%s=%d", k, p.Drops[k]))
				}
				row(w, p.Name, p.RxFrames, p.TxFrames, orDash(strings.Join(ds, " ")))
			}
			w.Flush()
			for _, sec := range []struct {
				name string
				m    map[string]uint64
			}{{"drops", st.Drops}, {"fdb", st.FDB}, {"router", st.Router}, {"nat", st.NAT}, {"dns", st.DNS}, {"proxy", st.Proxy}} {
				fmt.Fprintf(a.stdout, "\n%s:", sec.name)
				any := false
				for _, k := range sortedKeys(sec.m) {
					if sec.m[k] != 0 {
						fmt.Fprintf(a.stdout, " %s=%d", k, sec.m[k])
						any = true
					}
				}
				if !any {
					fmt.Fprint(a.stdout, " -")
				}
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func sortedKeys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (a *app) uplinkCmd() *cobra.Command {
	c := &cobra.Command{Use: "uplink", Short: "Set, show or remove the router's outside interface"}
	var u control.Uplink
	set := &cobra.Command{
		Use:     "set IFACE --address CIDR [--gateway IP]",
		Short:   "Attach IFACE (through AF_PACKET) as the uplink with the switch's external address",
		Example: `  vswitchctl uplink set veth-inet --address 203.0.113.2/24 --gateway 203.0.113.1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u.Interface = args[0]
			if u.Address == "" {
				return fmt.Errorf("uplink set needs --address CIDR")
			}
			out, err := a.client.SetUplink(cmd.Context(), u)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s via %s\n", out.Interface, out.Address, orDash(out.Gateway))
			return nil
		},
	}
	set.Flags().StringVar(&u.Address, "address", "", "the switch's external address, CIDR (e.g. 203.0.113.2/24)")
	set.Flags().StringVar(&u.Gateway, "gateway", "", "next hop for off-link destinations")
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the uplink",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := a.client.Uplink(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(u)
			}
			fmt.Fprintf(a.stdout, "interface %s\naddress   %s\ngateway   %s\nmac       %s\n", u.Interface, u.Address, orDash(u.Gateway), u.MAC)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:     "del",
		Aliases: []string{"rm"},
		Short:   "Remove the uplink",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.client.RemoveUplink(cmd.Context())
		},
	}
	c.AddCommand(set, show, del)
	return c
}

func (a *app) conntrackCmd() *cobra.Command {
	c := &cobra.Command{Use: "conntrack", Short: "List or flush the NAT connection table"}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List connections, like conntrack -L",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := a.client.Conntrack(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(cs)
			}
			for _, c := range cs {
				var b strings.Builder
				fmt.Fprintf(&b, "%-4s %d ", c.Proto, c.Timeout)
				if c.State != "" {
					b.WriteString(c.State + " ")
				}
				b.WriteString(tupleString(c.Proto, c.Orig, true))
				if c.Packets != 0 {
					fmt.Fprintf(&b, " packets=%d bytes=%d", c.Packets, c.Bytes)
				}
				b.WriteString(" " + tupleString(c.Proto, c.Reply, false))
				if c.Assured {
					b.WriteString(" [ASSURED]")
				}
				fmt.Fprintf(&b, " zone=%d reply-zone=%d", c.Zone, c.ReplyZone)
				fmt.Fprintln(a.stdout, b.String())
			}
			fmt.Fprintf(a.stderr, "vswitchctl conntrack: %d flow entries have been shown.\n", len(cs))
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	flush := &cobra.Command{
		Use:   "flush",
		Short: "Remove all connections",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.client.FlushConntrack(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "flushed %d connections\n", n)
			return nil
		},
	}
	c.AddCommand(list, flush)
	return c
}

// tupleString formats a tuple as conntrack -L does; ICMP echo shows its
// type (request in the original direction, reply in the reply one) and
// identifier instead of ports.
func tupleString(proto string, t control.Tuple, orig bool) string {
	s := "src=" + t.Src + " dst=" + t.Dst
	switch {
	case proto == "icmp" && orig:
		s += fmt.Sprintf(" type=8 code=0 id=%d", t.SrcPort)
	case proto == "icmp":
		s += fmt.Sprintf(" type=0 code=0 id=%d", t.SrcPort)
	case t.SrcPort != 0 || t.DstPort != 0:
		s += fmt.Sprintf(" sport=%d dport=%d", t.SrcPort, t.DstPort)
	}
	return s
}

func (a *app) natCmd() *cobra.Command {
	c := &cobra.Command{Use: "nat", Short: "Show the translation rules"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show masquerade per network and published ports, like iptables -t nat -L -n",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.client.NAT(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(r)
			}
			fmt.Fprintln(a.stdout, "Masquerade (POSTROUTING):")
			w := a.table("  NETWORK", "SOURCE", "TO")
			for _, m := range r.Masquerade {
				to := m.To
				if to == "" {
					to = "- (" + m.Reason + ")"
				}
				row(w, "  "+m.Network, m.Subnet, to)
			}
			w.Flush()
			fmt.Fprintln(a.stdout, "Published ports (DNAT):")
			w = a.table("  ENDPOINT", "PROTO", "HOST", "TO")
			for _, p := range r.Published {
				row(w, "  "+p.Endpoint, p.Proto, p.HostIP+":"+p.HostPort, p.Target+":"+p.ContPort)
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.AddCommand(show)
	return c
}
