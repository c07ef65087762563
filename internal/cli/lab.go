package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) labCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Bring labs up and down from topology files",
		Long: `lab brings up a lab declared in a YAML topology file: networks, endpoints (their
networks, addresses, aliases, published ports, command, environment), system ports, the
uplink and link impairments. lab up converges: run it again with a changed file and only
what differs is added, changed or removed, live; endpoints the change does not touch are
left alone. lab down removes exactly what the lab made. Several labs coexist: their
networks and endpoints are named PREFIX + the file's name, PREFIX being the lab's name
and "-" unless the file sets prefix:. The schema is examples/topology.schema.json.`,
	}
	c.AddCommand(a.labUpCmd(), a.labDownCmd(), a.labShowCmd(), a.labLsCmd(), a.labPingallCmd())
	return c
}

func (a *app) labUpCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "up FILE",
		Short: "Bring a lab up, or converge it to a changed file",
		Example: `  vswitchctl lab up examples/seed.yaml
  vswitchctl lab up examples/impaired.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := readTopology(args[0])
			if err != nil {
				return err
			}
			p, err := a.api().LabUp(cmd.Context(), t)
			if err != nil {
				return err
			}
			return a.printPlan(p, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a control.LabPlan")
	return c
}

func (a *app) labDownCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "down FILE|NAME",
		Short: "Remove what a lab made: its endpoints, networks, system ports and uplink",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			p, err := a.api().LabDown(cmd.Context(), name)
			if err != nil {
				return err
			}
			return a.printPlan(p, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a control.LabPlan")
	return c
}

// labName is the lab a lab down argument names: a topology file's name:,
// or the argument itself if it is no file.
func labName(arg string) (string, error) {
	if !strings.HasSuffix(arg, ".yaml") && !strings.HasSuffix(arg, ".yml") && !strings.Contains(arg, "/") {
		return arg, nil
	}
	t, err := readTopology(arg)
	if err != nil {
		return "", err
	}
	return t.Name, nil
}

func (a *app) labShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show FILE",
		Short: "Compare a topology file with the running switch: what lab up would change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := readTopology(args[0])
			if err != nil {
				return err
			}
			p, err := a.api().LabPlan(cmd.Context(), t)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(p)
			}
			w := a.table("STATUS", "KIND", "NAME", "DETAIL")
			status := map[string]string{
				control.ActionKeep: "up", control.ActionCreate: "missing", control.ActionUpdate: "differs",
				control.ActionRecreate: "differs", control.ActionRemove: "not in file",
			}
			pending := 0
			for _, ch := range p.Changes {
				if ch.Action != control.ActionKeep {
					pending++
				}
				row(w, status[ch.Action], ch.Kind, ch.Name, orDash(ch.Detail))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if pending == 0 {
				fmt.Fprintf(a.stdout, "lab %s is up to date\n", t.Name)
			} else {
				fmt.Fprintf(a.stdout, "lab %s: %d to change (vswitchctl lab up %s)\n", t.Name, pending, args[0])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a control.LabPlan (applied false)")
	return c
}

func (a *app) labLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the labs that are up",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ls, err := a.api().Labs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(nonNil(ls))
			}
			w := a.table("NAME", "FILE", "PREFIX", "NETWORKS", "ENDPOINTS", "PORTS", "UPLINK")
			for _, l := range ls {
				row(w, l.Name, orDash(l.File), orDash(l.Prefix), len(l.Networks), len(l.Endpoints), len(l.Ports), orDash(l.Uplink))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Lab")
	return c
}

// printPlan prints what lab up or down did.
func (a *app) printPlan(p control.LabPlan, asJSON bool) error {
	if asJSON {
		return a.printJSON(p)
	}
	counts := map[string]int{}
	w := a.table("ACTION", "KIND", "NAME", "DETAIL")
	for _, ch := range p.Changes {
		counts[ch.Action]++
		row(w, ch.Action, ch.Kind, ch.Name, orDash(ch.Detail))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, act := range []string{control.ActionCreate, control.ActionRecreate, control.ActionUpdate, control.ActionRemove, control.ActionKeep} {
		if n := counts[act]; n > 0 {
			word := map[string]string{control.ActionCreate: "created", control.ActionRecreate: "recreated",
				control.ActionUpdate: "updated", control.ActionRemove: "removed", control.ActionKeep: "unchanged"}[act]
			parts = append(parts, fmt.Sprintf("%d %s", n, word))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	fmt.Fprintf(a.stdout, "lab %s: %s\n", p.Lab, strings.Join(parts, ", "))
	return nil
}

// pingTarget is an endpoint pingall pings from and to.
type pingTarget struct {
	name string
	nets []string          // networks in NIC order
	ips  map[string]string // network → address
	icc  map[string]bool   // network → endpoints reach each other
	run  bool              // running: exec works
}

func (a *app) labPingallCmd() *cobra.Command {
	var asJSON bool
	var parallel int
	c := &cobra.Command{
		Use:   "pingall [FILE]",
		Short: "Ping every pair of a lab's endpoints from inside them; compare with the topology",
		Long: `pingall pings, from inside each endpoint of the lab (every endpoint of the switch without
FILE), every other endpoint's address: on the first network they share, or else its first
address. It prints a matrix: ok (reached, as the topology expects: they share a network that
does not isolate its endpoints), -- (not reached, as expected), and !ok or !-- where reality
differs from the topology, and exits 1 if any pair differs. Pings run in parallel, at most
--parallel at a time, each ping -c 3 -i 0.2 -W 1 (reached if any reply comes back).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var t *control.Topology
			if len(args) == 1 {
				tt, err := readTopology(args[0])
				if err != nil {
					return err
				}
				t = &tt
			}
			targets, err := a.pingTargets(ctx, t)
			if err != nil {
				return err
			}
			res := a.pingAll(ctx, targets, max(1, parallel))
			if t != nil {
				res.Lab = t.Name
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if asJSON {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else if err := a.printMatrix(targets, res); err != nil {
				return err
			}
			if res.Mismatches > 0 {
				return fmt.Errorf("pingall: %d of %d pairs differ from the topology", res.Mismatches, len(res.Pairs))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a control.PingAll")
	c.Flags().IntVar(&parallel, "parallel", 8, "pings at a time")
	return c
}

// pingTargets lists the endpoints to ping with what the topology expects:
// from the file when given (its endpoints, networks and icc), else from the
// running switch.
func (a *app) pingTargets(ctx context.Context, t *control.Topology) ([]pingTarget, error) {
	eps, err := a.api().Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	nets, err := a.api().Networks(ctx)
	if err != nil {
		return nil, err
	}
	icc := map[string]bool{}
	for _, n := range nets {
		icc[n.Name] = n.ICC
	}
	byName := map[string]control.Endpoint{}
	for _, e := range eps {
		byName[e.Name] = e
	}
	var out []pingTarget
	if t == nil {
		for _, e := range eps {
			pt := pingTarget{name: e.Name, ips: map[string]string{}, icc: icc, run: e.State == control.StateRunning}
			for _, n := range e.NICs {
				if n.IP != "" {
					pt.nets = append(pt.nets, n.Network)
					pt.ips[n.Network] = n.IP
				}
			}
			if len(pt.nets) > 0 {
				out = append(out, pt)
			}
		}
		return out, nil
	}
	prefix := t.Name + "-"
	if t.Prefix != nil {
		prefix = *t.Prefix
	}
	fileICC := map[string]bool{}
	for _, n := range t.Networks {
		fileICC[prefix+n.Name] = n.ICC == nil || *n.ICC
	}
	for _, fe := range t.Endpoints {
		if len(fe.Networks) == 0 {
			continue // a trunk: no address to ping
		}
		name := prefix + fe.Name
		e, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("endpoint %s of lab %s is not up (vswitchctl lab up %s)", name, t.Name, t.File)
		}
		pt := pingTarget{name: name, ips: map[string]string{}, icc: fileICC, run: e.State == control.StateRunning}
		for _, fn := range fe.Networks {
			pt.nets = append(pt.nets, prefix+fn.Network)
		}
		for _, n := range e.NICs {
			if n.IP != "" {
				pt.ips[n.Network] = n.IP
			}
		}
		out = append(out, pt)
	}
	return out, nil
}

// pingAll pings every ordered pair, at most parallel at a time.
func (a *app) pingAll(ctx context.Context, targets []pingTarget, parallel int) control.PingAll {
	var res control.PingAll
	for _, from := range targets {
		for _, to := range targets {
			if from.name == to.name {
				continue
			}
			p := control.PingPair{From: from.name, To: to.name}
			for _, n := range from.nets {
				if slices.Contains(to.nets, n) {
					p.Expected = from.icc[n]
					if p.IP == "" {
						p.IP = to.ips[n]
					}
				}
			}
			if p.IP == "" && len(to.nets) > 0 {
				p.IP = to.ips[to.nets[0]]
			}
			if !from.run {
				p.Error = from.name + " is not running"
			} else if p.IP == "" {
				p.Error = to.name + " has no address"
			}
			res.Pairs = append(res.Pairs, p)
		}
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range res.Pairs {
		p := &res.Pairs[i]
		if p.Error != "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			code, err := a.api().Exec(pctx, p.From, control.Exec{Cmd: []string{"ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", p.IP}},
				&control.IO{Stdout: io.Discard, Stderr: io.Discard})
			switch {
			case err != nil:
				p.Error = err.Error()
			default:
				p.Reached = code == 0
			}
		}()
	}
	wg.Wait()
	for i := range res.Pairs {
		p := &res.Pairs[i]
		p.Match = p.Error == "" && p.Reached == p.Expected
		if !p.Match {
			res.Mismatches++
		}
	}
	if res.Pairs == nil {
		res.Pairs = []control.PingPair{}
	}
	return res
}

// printMatrix prints the pairs as a matrix, rows pinging columns.
func (a *app) printMatrix(targets []pingTarget, res control.PingAll) error {
	cell := map[[2]string]string{}
	for _, p := range res.Pairs {
		s := "--"
		switch {
		case p.Error != "":
			s = "err"
		case p.Reached:
			s = "ok"
		}
		if !p.Match {
			s = "!" + s
		}
		cell[[2]string{p.From, p.To}] = s
	}
	header := []string{"FROM \\ TO"}
	for _, t := range targets {
		header = append(header, t.name)
	}
	w := a.table(header...)
	for _, from := range targets {
		cols := []any{from.name}
		for _, to := range targets {
			if from.name == to.name {
				cols = append(cols, "")
			} else {
				cols = append(cols, cell[[2]string{from.name, to.name}])
			}
		}
		row(w, cols...)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range res.Pairs {
		if !p.Match {
			what := fmt.Sprintf("reached %s, but the topology expects it not to", p.IP)
			switch {
			case p.Error != "":
				what = "could not ping: " + p.Error
			case !p.Reached:
				what = fmt.Sprintf("did not reach %s, but the topology expects it to", p.IP)
			}
			fmt.Fprintf(a.stdout, "%s → %s: %s\n", p.From, p.To, what)
		}
	}
	fmt.Fprintf(a.stdout, "%d pairs, %d as the topology expects\n", len(res.Pairs), len(res.Pairs)-res.Mismatches)
	return nil
}
