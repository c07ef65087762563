package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

// psRow is one endpoint as ps --format's template sees it. Every field is
// a string, as docker ps's are, so that a table's header is rendered by
// the same template over psHeader.
type psRow struct {
	Name       string
	Status     string // "Up 3 minutes", "Exited (0) 2 seconds ago"
	State      string // created, running, exited, restarting, removing
	IP         string // the first NIC's address
	IPs        string // every NIC's address, comma-separated
	Networks   string // every NIC's network, comma-separated
	Ports      string // "0.0.0.0:8080->80/tcp, …"
	Command    string // shell-quoted, truncated unless --no-trunc
	Created    string // "2006-01-02 15:04:05 -0700 MST"
	RunningFor string // "3 minutes ago"
	PID        string // "0" unless running
	ExitCode   string // "" while running or if it never ran
	Hostname   string
}

// psHeader holds the column names of psRow's fields.
var psHeader = psRow{
	Name: "NAME", Status: "STATUS", State: "STATE", IP: "IP", IPs: "IPS", Networks: "NETWORKS",
	Ports: "PORTS", Command: "COMMAND", Created: "CREATED AT", RunningFor: "CREATED", PID: "PID",
	ExitCode: "EXIT CODE", Hostname: "HOSTNAME",
}

// psTable is ps's default table.
const psTable = "table {{.Name}}\t{{.Status}}\t{{.Networks}}\t{{.IPs}}\t{{.Ports}}\t{{.Command}}"

// maxCommand is how much of a command ps shows without --no-trunc.
const maxCommand = 40

func newPsRow(e control.Endpoint, now time.Time, trunc bool) psRow {
	r := psRow{
		Name: e.Name, Status: e.Status, State: e.State, Hostname: e.Hostname, PID: strconv.Itoa(e.PID),
		Created:    e.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: humanDuration(now.Sub(e.Created)) + " ago",
		Command:    quoteCmd(e.Cmd),
	}
	if trunc && len(r.Command) > maxCommand {
		r.Command = r.Command[:maxCommand-1] + "…"
	}
	if e.ExitCode != nil {
		r.ExitCode = strconv.Itoa(*e.ExitCode)
	}
	var ips, nets []string
	for _, n := range e.NICs {
		if n.IP != "" {
			ips = append(ips, n.IP)
		}
		if n.Network != "" {
			nets = append(nets, n.Network)
		}
	}
	if len(e.NICs) > 0 {
		r.IP = e.NICs[0].IP
	}
	r.IPs, r.Networks = strings.Join(ips, ","), strings.Join(nets, ",")
	ports := make([]string, len(e.Ports))
	for i, p := range e.Ports {
		ports[i] = portString(p)
	}
	r.Ports = strings.Join(ports, ", ")
	return r
}

// portString writes p as docker ps does: 0.0.0.0:8080->80/tcp, or with
// ranges 0.0.0.0:8000-8010->8000-8010/udp.
func portString(p control.PortMap) string {
	host, cont := strconv.Itoa(p.HostPort), strconv.Itoa(p.ContainerPort)
	if n := p.HostPortEnd - p.HostPort; n > 0 {
		host += "-" + strconv.Itoa(p.HostPortEnd)
		cont += "-" + strconv.Itoa(p.ContainerPort+n)
	}
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return ip + ":" + host + "->" + cont + "/" + p.Proto
}

// humanDuration says d as docker does ("Less than a second", "About a
// minute", "3 hours").
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	m := int(d.Minutes())
	switch {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	h := int(d.Round(time.Hour).Hours())
	switch {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", h/24/365)
}

func quoteCmd(argv []string) string {
	q := make([]string, len(argv))
	for i, s := range argv {
		if s == "" || strings.ContainsAny(s, " \t\n'\"|&;<>$*?`\\(){}[]#~") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}

// psFilter is ps's --filter: values of one key are alternatives, keys must
// all match, as in docker.
type psFilter map[string][]string

// psStates are the values of status=.
var psStates = []string{control.StateCreated, control.StateRunning, control.StateExited, control.StateRestarting, control.StateRemoving}

// parsePsFilter reads --filter KEY=VALUE flags; one flag may hold several,
// comma-separated (no name or state has a comma).
func parsePsFilter(flags []string) (psFilter, error) {
	f := psFilter{}
	for _, fl := range flags {
		for kv := range strings.SplitSeq(fl, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("--filter %q: want KEY=VALUE", kv)
			}
			switch k {
			case "name", "network":
			case "status":
				if !slices.Contains(psStates, v) {
					return nil, fmt.Errorf("--filter %q: status is one of %s", kv, strings.Join(psStates, ", "))
				}
			default:
				return nil, fmt.Errorf("--filter %q: the keys are name, network and status", kv)
			}
			f[k] = append(f[k], v)
		}
	}
	return f, nil
}

// match reports whether e passes: name is a substring of its name, network
// one of its networks, status its state.
func (f psFilter) match(e control.Endpoint) bool {
	anyOf := func(key string, ok func(string) bool) bool {
		vs, set := f[key]
		return !set || slices.ContainsFunc(vs, ok)
	}
	return anyOf("name", func(v string) bool { return strings.Contains(e.Name, v) }) &&
		anyOf("status", func(v string) bool { return e.State == v }) &&
		anyOf("network", func(v string) bool {
			return slices.ContainsFunc(e.NICs, func(n control.NIC) bool { return n.Network == v })
		})
}

func (a *app) psCmd() *cobra.Command {
	var asJSON, quiet, all, noTrunc bool
	var filters []string
	var format string
	c := &cobra.Command{
		Use:     "ps [-a] [-q] [--filter KEY=VALUE]... [--format TEMPLATE | --json]",
		Aliases: []string{"ls"},
		Short:   "List endpoints (running ones and those without a command; -a: all)",
		Long: `ps lists the endpoints whose command runs (or restarts) and those without a command, which are
up as long as they exist, as docker ps lists running containers; -a adds created and exited ones.

--filter KEY=VALUE (repeatable, or comma-separated) keeps: name=SUBSTRING, network=NAME,
status=created|running|exited|restarting|removing (a status filter implies -a). Values of one
key are alternatives; different keys must all match.

--format is a Go template over each row, whose fields are strings: .Name .Status .State .IP
(the first NIC's) .IPs .Networks .Ports (0.0.0.0:8080->80/tcp) .Command .Created .RunningFor
.PID .ExitCode .Hostname; "table TEMPLATE" adds a header and aligns columns, "json" prints each
row as a JSON line. --json prints the API's list of control.Endpoint instead.`,
		Example: `  vswitchctl ps -a --filter status=exited
  vswitchctl ps --filter network=test-network --format '{{.Name}} {{.IP}}'
  vswitchctl ps --format 'table {{.Name}}\t{{.IP}}\t{{.RunningFor}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parsePsFilter(filters)
			if err != nil {
				return err
			}
			es, err := a.api().Endpoints(cmd.Context())
			if err != nil {
				return err
			}
			_, byStatus := f["status"]
			shown := []control.Endpoint{}
			for _, e := range es {
				if (all || byStatus || endpointUp(e)) && f.match(e) {
					shown = append(shown, e)
				}
			}
			switch {
			case asJSON:
				return a.printJSON(shown)
			case quiet:
				for _, e := range shown {
					fmt.Fprintln(a.stdout, e.Name)
				}
				return nil
			}
			now := a.now()
			rows := make([]psRow, len(shown))
			for i, e := range shown {
				rows[i] = newPsRow(e, now, !noTrunc)
			}
			return printRows(a.stdout, format, psTable, psHeader, rows)
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show all endpoints (default: up ones)")
	c.Flags().StringArrayVar(&filters, "filter", nil, "keep endpoints matching KEY=VALUE: name, network, status (repeatable)")
	c.Flags().StringVar(&format, "format", "", "Go template over each row, table TEMPLATE, or json")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of control.Endpoint")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print names only")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate commands")
	c.MarkFlagsMutuallyExclusive("json", "quiet", "format")
	c.RegisterFlagCompletionFunc("filter", func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		out := []cobra.Completion{"name=", "network="}
		for _, s := range psStates {
			out = append(out, "status="+s)
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	return c
}
