package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

// overview is what show --json prints: the switch in one object.
type overview struct {
	Networks  []control.Network  `json:"networks"`
	Ports     []control.Port     `json:"ports"`
	Endpoints []control.Endpoint `json:"endpoints"`
	Uplink    *control.Uplink    `json:"uplink"` // null when none is set
}

func (a *app) showCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Show the whole switch: networks and their endpoints, ports, the uplink (like ovs-vsctl show)",
		Long: `show prints an overview, as ovs-vsctl show does: each network with its VLAN, subnet and gateway
and the endpoints on it (interface, address, MAC); each port with its kind, endpoint and that
endpoint's state, VLAN mode and VLANs; the uplink. --json prints {networks, ports, endpoints,
uplink} with the API's types (uplink null when none is set).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var o overview
			var err error
			if o.Networks, err = a.api().Networks(ctx); err != nil {
				return err
			}
			if o.Ports, err = a.api().Ports(ctx); err != nil {
				return err
			}
			if o.Endpoints, err = a.api().Endpoints(ctx); err != nil {
				return err
			}
			if o.Uplink, err = a.uplink(cmd); err != nil {
				return err
			}
			o.Networks, o.Ports, o.Endpoints = nonNil(o.Networks), nonNil(o.Ports), nonNil(o.Endpoints)
			if asJSON {
				return a.printJSON(o)
			}
			a.printOverview(o)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {networks, ports, endpoints, uplink}")
	return c
}

func (a *app) printOverview(o overview) {
	w := a.stdout
	state := map[string]string{}
	for _, e := range o.Endpoints {
		state[e.Name] = e.State
	}
	for _, n := range o.Networks {
		fmt.Fprintf(w, "Network %s\n", n.Name)
		attrs := []string{fmt.Sprintf("vlan: %d", n.VLAN), "subnet: " + n.Subnet, "gateway: " + n.Gateway + " (" + n.GatewayMAC + ")"}
		if n.Internal {
			attrs = append(attrs, "internal")
		}
		if !n.ICC {
			attrs = append(attrs, "icc: false")
		}
		fmt.Fprintf(w, "    %s\n", strings.Join(attrs, ", "))
		for _, e := range n.Endpoints {
			fmt.Fprintf(w, "    Endpoint %s\n        %s: %s %s", e.Endpoint, e.Interface, orDash(e.IP), e.MAC)
			if len(e.Aliases) > 0 {
				fmt.Fprintf(w, ", aliases: %s", strings.Join(e.Aliases, ","))
			}
			fmt.Fprintln(w)
		}
	}
	for _, p := range o.Ports {
		fmt.Fprintf(w, "Port %s\n", p.Name)
		attrs := []string{"kind: " + p.Kind}
		if p.Endpoint != "" {
			attrs = append(attrs, "endpoint: "+p.Endpoint+" ("+orDash(state[p.Endpoint])+")")
		}
		attrs = append(attrs, "mode: "+orDash(p.Mode))
		if p.VLAN != 0 {
			attrs = append(attrs, fmt.Sprintf("vlan: %d", p.VLAN))
		}
		if v := portVLANs(p); v != "-" {
			attrs = append(attrs, "vlans: "+v)
		}
		fmt.Fprintf(w, "    %s\n", strings.Join(attrs, ", "))
	}
	if u := o.Uplink; u != nil {
		fmt.Fprintf(w, "Uplink %s\n    address: %s, gateway: %s, mac: %s\n", u.Interface, u.Address, orDash(u.Gateway), orDash(u.MAC))
	} else {
		fmt.Fprintln(w, "Uplink: none")
	}
}
