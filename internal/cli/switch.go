package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) fdbCmd() *cobra.Command {
	c := &cobra.Command{Use: "fdb", Short: "Show, add to or flush the MAC table (forwarding database)"}
	c.AddCommand(a.fdbShowCmd(), a.fdbAddCmd(), a.fdbDelCmd(), a.fdbFlushCmd())
	return c
}

func (a *app) fdbShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "show",
		Aliases: []string{"ls", "list"},
		Short:   "List the MAC table: VLAN, MAC, port, learned or static, age",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := a.api().FDB(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(nonNil(es))
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
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.FDBEntry")
	return c
}

// parseMAC checks a MAC address and writes it as the API does.
func parseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%q is not a MAC address (want 02:42:ac:11:00:02)", s)
	}
	return hw.String(), nil
}

func (a *app) fdbAddCmd() *cobra.Command {
	var req control.FDBAdd
	c := &cobra.Command{
		Use:   "add MAC (--port PORT (--vlan N | --network NAME) | --network NAME --vtep IP)",
		Short: "Add a static MAC table entry (never aged out, never learned elsewhere)",
		Long: `add puts MAC on a port for good. With --vtep instead of --port, MAC is on overlay network
--network behind the VTEP (another host) at IP: frames to it go there without flooding.`,
		Example: `  vswitchctl fdb add 02:00:00:00:00:01 --port veth-ovs --vlan 10
  vswitchctl fdb add 02:00:00:00:00:02 --port veth-ovs --network test-network
  vswitchctl fdb add 02:00:00:00:00:03 --network ov --vtep 10.99.0.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan"); err != nil {
				return err
			}
			mac, err := parseMAC(args[0])
			if err != nil {
				return err
			}
			req.MAC = mac
			_, err = a.api().AddFDB(cmd.Context(), req)
			return err
		},
	}
	c.Flags().StringVar(&req.Port, "port", "", "the port the MAC is on")
	c.Flags().IntVar(&req.VLAN, "vlan", 0, "the entry's VLAN")
	c.Flags().StringVar(&req.Network, "network", "", "the entry's VLAN is this network's")
	c.Flags().StringVar(&req.VTEP, "vtep", "", "the MAC is behind this VTEP of overlay network --network")
	c.MarkFlagsOneRequired("port", "vtep")
	c.MarkFlagsMutuallyExclusive("port", "vtep")
	c.MarkFlagsMutuallyExclusive("vtep", "vlan")
	c.MarkFlagsOneRequired("vlan", "network")
	c.MarkFlagsMutuallyExclusive("vlan", "network")
	c.RegisterFlagCompletionFunc("port", a.completePortFlag)
	c.RegisterFlagCompletionFunc("network", a.completeNetworkFlag)
	return c
}

func (a *app) fdbDelCmd() *cobra.Command {
	var vlan int
	var network string
	c := &cobra.Command{
		Use:     "del MAC (--vlan N | --network NAME)",
		Aliases: []string{"rm"},
		Short:   "Remove a static MAC table entry",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan"); err != nil {
				return err
			}
			mac, err := parseMAC(args[0])
			if err != nil {
				return err
			}
			if network != "" {
				n, err := a.api().Network(cmd.Context(), network)
				if err != nil {
					return err
				}
				vlan = n.VLAN
			}
			return a.api().DeleteFDB(cmd.Context(), vlan, mac)
		},
	}
	c.Flags().IntVar(&vlan, "vlan", 0, "the entry's VLAN")
	c.Flags().StringVar(&network, "network", "", "the entry's VLAN is this network's")
	c.MarkFlagsOneRequired("vlan", "network")
	c.MarkFlagsMutuallyExclusive("vlan", "network")
	c.RegisterFlagCompletionFunc("network", a.completeNetworkFlag)
	return c
}

func (a *app) fdbFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Forget all learned MACs (static entries stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.api().FlushFDB(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "flushed %d entries\n", n)
			return nil
		},
	}
}

func (a *app) portsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ports",
		Short: "List switch ports: type, endpoint, mode, VLANs and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := a.api().Ports(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(nonNil(ps))
			}
			w := a.table("ID", "PORT", "TYPE", "ENDPOINT", "MODE", "VLAN", "VLANS", "QUEUES", "RX-FRAMES", "RX-BYTES", "TX-FRAMES", "TX-BYTES", "DROPS")
			for _, p := range ps {
				row(w, p.ID, p.Name, p.Kind, orDash(p.Endpoint), orDash(p.Mode), vlanOrDash(p.VLAN), portVLANs(p), p.Queues,
					p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, dropSum(p.Drops))
				for _, v := range p.VTEPs { // a vxlan port's traffic per remote VTEP
					row(w, "", "  vtep "+v.Addr, "", "", "", "", "", "", v.RxFrames, v.RxBytes, v.TxFrames, v.TxBytes, dropSum(v.RxErrors))
				}
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Port")
	return c
}

func vlanOrDash(v int) string {
	if v == 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

// portVLANs says which VLANs a trunk or dot1q-tunnel port carries: "all",
// a list, or "-" for other modes.
func portVLANs(p control.Port) string {
	switch {
	case p.AllVLANs:
		return "all"
	case len(p.VLANs) > 0:
		return vlanList(p.VLANs)
	case p.Mode == "dot1q-tunnel":
		return "all"
	}
	return "-"
}

// vlanList writes VLAN IDs as ranges: 10,20,30-40.
func vlanList(vs []int) string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	var b strings.Builder
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(vs[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(vs[j]))
		}
		i = j + 1
	}
	return b.String()
}

func dropSum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// portModes are the VLAN modes of port add and set.
var portModes = []string{"access", "trunk", "native-untagged", "native-tagged", "dot1q-tunnel"}

const portModesHelp = `Modes follow Open vSwitch: access (--vlan N), trunk (--vlans LIST, empty = all; with --native N
the native VLAN goes untagged), native-untagged / native-tagged (--native N), dot1q-tunnel (--vlan N:
the port's frames, tagged or not, travel in an 802.1ad outer tag of VLAN N; --vlans limits the
customer VLANs).`

func (a *app) portCmd() *cobra.Command {
	c := &cobra.Command{Use: "port", Short: "Attach, reconfigure or detach existing interfaces (system ports, through AF_PACKET)"}
	c.AddCommand(a.portAddCmd(), a.portSetCmd(), a.portDelCmd())
	return c
}

func (a *app) portAddCmd() *cobra.Command {
	var req control.PortAdd
	c := &cobra.Command{
		Use:   "add IFACE --mode MODE [--vlan N] [--vlans LIST] [--native N]",
		Short: "Attach an existing interface (a veth, a NIC) as a switch port",
		Long:  portModesHelp,
		Example: `  vswitchctl port add veth-ovs --mode trunk --vlans 10,20
  vswitchctl port add veth-cust --mode dot1q-tunnel --vlan 30`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan", "native"); err != nil {
				return err
			}
			req.Interface = args[0]
			p, err := a.api().AddPort(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, p.Name)
			return nil
		},
	}
	c.Flags().StringVar(&req.Mode, "mode", "access", strings.Join(portModes, ", "))
	c.Flags().IntVar(&req.VLAN, "vlan", 0, "VLAN of an access or dot1q-tunnel port")
	c.Flags().StringVar(&req.VLANs, "vlans", "", "VLANs of a trunk (e.g. 10,20,30-40; default all), or customer VLANs of a dot1q-tunnel port")
	c.Flags().IntVar(&req.Native, "native", 0, "native VLAN of a trunk (sent untagged)")
	c.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions(portModes, noFiles))
	return c
}

func (a *app) portSetCmd() *cobra.Command {
	var req control.PortSet
	c := &cobra.Command{
		Use:               "set IFACE --mode MODE [--vlan N] [--vlans LIST] [--native N]",
		Short:             "Change a system port's VLAN configuration, live",
		Long:              "set replaces the port's whole VLAN configuration, as port add would set it.\n\n" + portModesHelp,
		Example:           `  vswitchctl port set veth-ovs --mode trunk --vlans 10,20,30 --native 5`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completePorts("system"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noZeroVLAN(cmd, "vlan", "native"); err != nil {
				return err
			}
			p, err := a.api().SetPort(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, p.Name)
			return nil
		},
	}
	c.Flags().StringVar(&req.Mode, "mode", "", strings.Join(portModes, ", "))
	c.Flags().IntVar(&req.VLAN, "vlan", 0, "VLAN of an access or dot1q-tunnel port")
	c.Flags().StringVar(&req.VLANs, "vlans", "", "VLANs of a trunk (e.g. 10,20,30-40; default all), or customer VLANs of a dot1q-tunnel port")
	c.Flags().IntVar(&req.Native, "native", 0, "native VLAN of a trunk (sent untagged)")
	c.MarkFlagRequired("mode")
	c.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions(portModes, noFiles))
	return c
}

func (a *app) portDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "del IFACE",
		Aliases:           []string{"rm"},
		Short:             "Detach a system port",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completePorts("system"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.api().RemovePort(cmd.Context(), args[0])
		},
	}
}

func (a *app) statsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Show counters: ports, drops by reason, MAC table, router, NAT, DNS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.api().Stats(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				st.Ports = nonNil(st.Ports)
				return a.printJSON(st)
			}
			w := a.table("PORT", "RX-FRAMES", "TX-FRAMES", "DROPS")
			for _, p := range st.Ports {
				var ds []string
				for _, k := range sortedKeys(p.Drops) {
					ds = append(ds, fmt.Sprintf("%s=%d", k, p.Drops[k]))
				}
				row(w, p.Name, p.RxFrames, p.TxFrames, orDash(strings.Join(ds, " ")))
				for _, v := range p.VTEPs {
					var es []string
					for _, k := range sortedKeys(v.RxErrors) {
						es = append(es, fmt.Sprintf("%s=%d", k, v.RxErrors[k]))
					}
					row(w, "  vtep "+v.Addr, v.RxFrames, v.TxFrames, orDash(strings.Join(es, " ")))
				}
			}
			w.Flush()
			for _, sec := range []struct {
				name string
				m    map[string]uint64
			}{{"drops", st.Drops}, {"fdb", st.FDB}, {"router", st.Router}, {"nat", st.NAT}, {"dns", st.DNS}, {"proxy", st.Proxy}} {
				fmt.Fprintf(a.stdout, "\n%s:", sec.name)
				some := false
				for _, k := range sortedKeys(sec.m) {
					if sec.m[k] != 0 {
						fmt.Fprintf(a.stdout, " %s=%d", k, sec.m[k])
						some = true
					}
				}
				if !some {
					fmt.Fprint(a.stdout, " -")
				}
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.Stats")
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

// uplink returns the uplink, or nil when none is set (the API's 404).
func (a *app) uplink(cmd *cobra.Command) (*control.Uplink, error) {
	u, err := a.api().Uplink(cmd.Context())
	if errors.Is(err, control.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
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
			out, err := a.api().SetUplink(cmd.Context(), u)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s via %s\n", out.Interface, out.Address, orDash(out.Gateway))
			return nil
		},
	}
	set.Flags().StringVar(&u.Address, "address", "", "the switch's external address, CIDR (e.g. 203.0.113.2/24)")
	set.Flags().StringVar(&u.Gateway, "gateway", "", "next hop for off-link destinations")
	set.MarkFlagRequired("address")
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the uplink",
		Long: `show prints the uplink. With none set it prints "no uplink" (with --json: null) and exits 0,
as ip route show prints nothing for a missing route: an unset uplink is a state, not an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := a.uplink(cmd)
			switch {
			case err != nil:
				return err
			case asJSON:
				return a.printJSON(u)
			case u == nil:
				fmt.Fprintln(a.stdout, "no uplink")
				return nil
			}
			fmt.Fprintf(a.stdout, "interface %s\naddress   %s\ngateway   %s\nmac       %s\n", u.Interface, u.Address, orDash(u.Gateway), orDash(u.MAC))
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.Uplink, or null")
	del := &cobra.Command{
		Use:     "del",
		Aliases: []string{"rm"},
		Short:   "Remove the uplink",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.api().RemoveUplink(cmd.Context())
		},
	}
	c.AddCommand(set, show, del)
	return c
}

func (a *app) conntrackCmd() *cobra.Command {
	c := &cobra.Command{Use: "conntrack", Short: "List, count or flush the NAT connection table"}
	c.AddCommand(a.conntrackListCmd(), a.conntrackCountCmd(), a.conntrackFlushCmd())
	return c
}

// conntrackProtos are the protocols conntrack tracks.
var conntrackProtos = []string{"tcp", "udp", "icmp"}

func (a *app) conntrackListCmd() *cobra.Command {
	var asJSON bool
	var f control.ConntrackFilter
	c := &cobra.Command{
		Use:     "list [-p PROTO] [-s IP] [-d IP] [--port N] [--state STATE] [-w ZONE]",
		Aliases: []string{"ls"},
		Short:   "List connections, like conntrack -L",
		Long: `list prints the connections as conntrack -L does, one a line: protocol, timeout, TCP state,
the original and the reply tuple, counters, [ASSURED], then zone=NAME reply-zone=NAME (the
networks, "host" or "uplink" the two directions arrive from) and, for TCP, the window tracking
state of each direction's sender (window=[…] reply-window=[…]: its highest sequence sent, the
highest its receiver's window allows, its largest window, its highest ACK and its window scale,
as Linux's tcp_in_window keeps them). Options select connections:
-s and -d match either tuple's source or destination address, --port either tuple's ports.`,
		Example: `  vswitchctl conntrack list -p tcp --state ESTABLISHED
  vswitchctl conntrack list --zone test-network --port 80`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkConntrackFilter(cmd, &f); err != nil {
				return err
			}
			// The listing streams: each connection is printed as it
			// arrives, so a table of any size costs one entry of memory.
			out := bufio.NewWriter(a.stdout)
			n := 0
			err := a.api().ConntrackEach(cmd.Context(), f, func(c control.Conn) error {
				if !asJSON {
					fmt.Fprintln(out, connString(c))
				} else {
					b, err := json.MarshalIndent(c, "  ", "  ")
					if err != nil {
						return err
					}
					out.WriteString(cond(n == 0, "[\n  ", ",\n  "))
					out.Write(b)
				}
				n++
				return nil
			})
			if asJSON && err == nil {
				out.WriteString(cond(n == 0, "[]\n", "\n]\n"))
			}
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stderr, "vswitchctl conntrack: %d flow entries have been shown.\n", n)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Conn")
	c.Flags().StringVarP(&f.Proto, "proto", "p", "", "protocol: tcp, udp or icmp")
	c.Flags().StringVarP(&f.Src, "src", "s", "", "source address (of either direction)")
	c.Flags().StringVarP(&f.Dst, "dst", "d", "", "destination address (of either direction)")
	c.Flags().IntVar(&f.Port, "port", 0, "port (of either direction)")
	c.Flags().StringVar(&f.State, "state", "", "TCP state (ESTABLISHED, SYN_SENT, TIME_WAIT…)")
	c.Flags().StringVarP(&f.Zone, "zone", "w", "", "zone: a network's name, host or uplink")
	c.RegisterFlagCompletionFunc("proto", cobra.FixedCompletions(conntrackProtos, noFiles))
	c.RegisterFlagCompletionFunc("state", cobra.FixedCompletions([]string{
		"SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
	}, noFiles))
	c.RegisterFlagCompletionFunc("zone", func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return matching(append(a.networkNames(cmd), "host", "uplink"), toComplete, nil), noFiles
	})
	return c
}

// checkConntrackFilter checks and normalises list's options.
func checkConntrackFilter(cmd *cobra.Command, f *control.ConntrackFilter) error {
	if f.Proto != "" {
		f.Proto = strings.ToLower(f.Proto)
		if !slices.Contains(conntrackProtos, f.Proto) {
			return fmt.Errorf("--proto %q: want tcp, udp or icmp", f.Proto)
		}
	}
	for _, ip := range []struct{ flag, v string }{{"src", f.Src}, {"dst", f.Dst}} {
		if _, err := netip.ParseAddr(ip.v); ip.v != "" && err != nil {
			return fmt.Errorf("--%s %q: not an IP address", ip.flag, ip.v)
		}
	}
	if cmd.Flags().Changed("port") && (f.Port < 1 || f.Port > 65535) {
		return fmt.Errorf("--port %d: want 1-65535", f.Port)
	}
	f.State = strings.ToUpper(f.State)
	return nil
}

// connString writes c as conntrack -L does, with zones named.
func connString(c control.Conn) string {
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
	fmt.Fprintf(&b, " zone=%s reply-zone=%s", orDash(c.Zone), orDash(c.ReplyZone))
	for i, w := range c.Windows {
		fmt.Fprintf(&b, " %s=[end=%d maxend=%d maxwin=%d maxack=%d wscale=%d]",
			[]string{"window", "reply-window"}[min(i, 1)], w.End, w.MaxEnd, w.MaxWin, w.MaxAck, w.Scale)
	}
	return b.String()
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

func (a *app) conntrackCountCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "count",
		Short: "Print the number of connections, like conntrack -C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.api().ConntrackCount(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(n)
			}
			fmt.Fprintln(a.stdout, n.Count)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.ConntrackCount (count and the table's size)")
	return c
}

func (a *app) conntrackFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Remove all connections",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.api().FlushConntrack(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "flushed %d connections\n", n)
			return nil
		},
	}
}

func (a *app) natCmd() *cobra.Command {
	c := &cobra.Command{Use: "nat", Short: "Show the translation rules"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show masquerade per network and published ports, like iptables -t nat -L -n",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.api().NAT(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				r.Masquerade, r.Published = nonNil(r.Masquerade), nonNil(r.Published)
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
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.NATRules")
	c.AddCommand(show)
	return c
}

// logLevels are the daemon's log levels.
var logLevels = []string{"debug", "info", "warn", "error"}

func (a *app) logLevelCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "log-level [LEVEL]",
		Short: "Show or set the daemon's log level (debug, info, warn, error)",
		Long: `log-level prints the daemon's log level; with LEVEL it sets it, at run time, and prints the
new one.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cobra.FixedCompletions(logLevels, noFiles),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l control.LogLevel
			var err error
			if len(args) == 1 {
				l, err = a.api().SetLogLevel(cmd.Context(), args[0])
			} else {
				l, err = a.api().GetLogLevel(cmd.Context())
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(l)
			}
			fmt.Fprintln(a.stdout, l.Level)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.LogLevel")
	return c
}

// cond returns a if c, else b.
func cond[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

// resetWarning is system reset's question.
const resetWarning = "WARNING! This will remove every endpoint (and its processes), system port, static MAC entry,\nthe uplink and every network but " + control.DefaultNetwork + ".\nAre you sure you want to continue? [y/N] "

func (a *app) systemCmd() *cobra.Command {
	c := &cobra.Command{Use: "system", Short: "The switch as a whole: reset it to what a fresh start has"}
	var force, asJSON bool
	reset := &cobra.Command{
		Use:   "reset [-f]",
		Short: "Remove every endpoint, network, port, static entry and the uplink; the daemon keeps running",
		Long: `reset brings the switch back to what a fresh start of vswitchd has: it removes every
endpoint (stopping its processes and deleting its namespace, TAPs and files), every static MAC
entry, system port, the uplink and every network but the default one "` + control.DefaultNetwork + `",
and flushes the learned MAC entries and conntrack. CNI attachments are their container runtime's:
they stay (the runtime removes them with DEL), with the networks they are on. The daemon keeps running; its state file
then says the same. Without --force it asks first on a terminal; when stdin is not a terminal
it needs --force. A daemon stopped with SIGTERM keeps everything for its next start; reset (or
vswitchd --cleanup-on-exit) is how to wipe it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				if !a.isTerminal(a.stdin) {
					return errors.New("system reset needs --force when stdin is not a terminal")
				}
				fmt.Fprint(a.stdout, resetWarning)
				line, _ := bufio.NewReader(a.stdin).ReadString('\n')
				if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
					return nil
				}
			}
			r, err := a.api().Reset(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				r.Endpoints, r.Networks, r.Ports, r.Kept = nonNil(r.Endpoints), nonNil(r.Networks), nonNil(r.Ports), nonNil(r.Kept)
				return a.printJSON(r)
			}
			for _, l := range []struct {
				title string
				names []string
			}{{"Deleted Endpoints:", r.Endpoints}, {"Deleted Networks:", r.Networks}, {"Deleted Ports:", r.Ports}} {
				if len(l.names) > 0 {
					fmt.Fprintln(a.stdout, l.title)
					for _, n := range l.names {
						fmt.Fprintln(a.stdout, n)
					}
				}
			}
			if r.Uplink != "" {
				fmt.Fprintf(a.stdout, "Deleted Uplink: %s\n", r.Uplink)
			}
			if r.StaticMACs > 0 {
				fmt.Fprintf(a.stdout, "Deleted Static MAC Entries: %d\n", r.StaticMACs)
			}
			if len(r.Kept) > 0 {
				fmt.Fprintf(a.stdout, "Kept CNI attachments (their runtime removes them): %s\n", strings.Join(r.Kept, ", "))
			}
			return nil
		},
	}
	reset.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	reset.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.SystemReset")
	c.AddCommand(reset)
	return c
}
