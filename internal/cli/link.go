package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) linkCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "link",
		Short: "Impair links in the switch: delay, jitter, loss, rate, duplication, corruption, reordering",
		Long: `link impairs the frames of an endpoint NIC or a system port inside the switch, as
tc netem would on the host side of a veth, but without tc: the switch delays, drops,
rate-limits, duplicates, corrupts and reorders frames itself. A TARGET is ENDPOINT (all its
NICs), ENDPOINT:IFACE, or a system port's interface. The direction is seen from the switch:
out (the default) impairs the frames it sends toward the endpoint, in those the endpoint
sends. Impairments are kept in the daemon's state and come back after a restart.`,
	}
	c.AddCommand(a.linkSetCmd(), a.linkShowCmd(), a.linkResetCmd())
	return c
}

// linkFlags are link set's settings, in the order tc prints them.
var linkFlags = []struct{ name, help string }{
	{"delay", "hold every frame this long (50ms, 1.5s)"},
	{"jitter", "vary the delay by up to this much (5ms)"},
	{"distribution", "shape of the jitter: uniform or normal"},
	{"loss", "drop this share of frames (1%)"},
	{"duplicate", "send this share of frames twice (0.1%)"},
	{"corrupt", "flip one bit in this share of frames (0.01%)"},
	{"reorder", "send this share of frames at once, ahead of delayed ones (25%; needs --delay)"},
	{"gap", "reorder only after this many delayed frames (netem's gap)"},
	{"rate", "limit to this rate (10mbit, 1gbit; none removes it)"},
	{"burst", "token bucket depth for --rate (32kb); 0: frames evenly spaced"},
	{"limit", "frames held at most (default 1000); more are dropped"},
	{"seed", "seed of the random decisions, for reproducible runs (0: random)"},
}

func (a *app) linkSetCmd() *cobra.Command {
	var req control.LinkSet
	vals := map[string]*string{}
	var asJSON bool
	c := &cobra.Command{
		Use:   "set TARGET [--delay D] [--jitter D] [--loss P] [--rate R] [--burst S] [--duplicate P] [--corrupt P] [--reorder P] [--direction in|out|both] [--seed N]",
		Short: "Change a link's impairments; settings not given keep their values",
		Example: `  vswitchctl link set apple-server --delay 50ms --jitter 5ms
  vswitchctl link set apple-server:eth1 --loss 20% --direction both
  vswitchctl link set apple-server --rate 10mbit --burst 32kb
  vswitchctl link set apple-server --delay 0     # the loss and rate stay`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := map[string]**string{
				"delay": &req.Delay, "jitter": &req.Jitter, "distribution": &req.Distribution, "loss": &req.Loss,
				"duplicate": &req.Duplicate, "corrupt": &req.Corrupt, "reorder": &req.Reorder, "gap": &req.Gap,
				"rate": &req.Rate, "burst": &req.Burst, "limit": &req.Limit, "seed": &req.Seed,
			}
			n := 0
			for _, f := range linkFlags {
				if cmd.Flags().Changed(f.name) {
					*set[f.name] = vals[f.name]
					n++
				}
			}
			if n == 0 {
				return fmt.Errorf("link set %s: nothing to change (give --delay, --loss, --rate, ...)", args[0])
			}
			ls, err := a.api().SetLink(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return a.printLinks(ls, asJSON)
		},
		ValidArgsFunction: a.completeEndpointArg(nil),
	}
	for _, f := range linkFlags {
		v := new(string)
		vals[f.name] = v
		c.Flags().StringVar(v, f.name, "", f.help)
	}
	c.Flags().StringVar(&req.Direction, "direction", "out", "out (toward the endpoint), in (from it) or both")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Link")
	return c
}

func (a *app) linkShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "show [TARGET]",
		Aliases: []string{"ls"},
		Short:   "Show the impairments of every endpoint NIC and system port, or of TARGET's",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			ls, err := a.api().Links(cmd.Context(), target)
			if err != nil {
				return err
			}
			return a.printLinks(ls, asJSON)
		},
		ValidArgsFunction: a.completeEndpointArg(nil),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Link")
	return c
}

func (a *app) linkResetCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:               "reset TARGET [--direction in|out|both]",
		Short:             "Remove a link's impairments (both directions unless --direction)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			ls, err := a.api().ResetLink(cmd.Context(), args[0], dir)
			if err != nil {
				return err
			}
			return a.printLinks(ls, asJSON)
		},
	}
	c.Flags().StringVar(&dir, "direction", "both", "out, in or both")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Link")
	return c
}

// printLinks prints links as a table: one line per port and direction.
func (a *app) printLinks(ls []control.Link, asJSON bool) error {
	if asJSON {
		return a.printJSON(nonNil(ls))
	}
	w := a.table("PORT", "DIR", "IMPAIRMENT", "DELAYED", "LOST", "DUPLICATED", "CORRUPTED", "REORDERED", "QUEUED")
	for _, l := range ls {
		for _, d := range []struct {
			name string
			li   control.LinkImpairment
		}{{"out", l.Out}, {"in", l.In}} {
			li := d.li
			row(w, l.Port, d.name, li.Summary, li.Delayed, li.Lost, li.Duplicated, li.Corrupted, li.Reordered, li.Queued)
		}
	}
	return w.Flush()
}
