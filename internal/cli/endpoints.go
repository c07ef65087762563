package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vswitchd/vswitchd/control"
)

// each runs f for every name, printing the names it succeeded for (as
// docker stop, rm… do) and returning every failure.
func (a *app) each(names []string, f func(string) error) error {
	var errs []error
	for _, name := range names {
		if err := f(name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(a.stdout, name)
	}
	return joinErrors(errs)
}

func (a *app) inspectCmd() *cobra.Command {
	var format string
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect [--format TEMPLATE] ENDPOINT...",
		Short: "Show endpoints as JSON (a list of control.Endpoint), like docker inspect",
		Long: `inspect prints a JSON list of the endpoints named, as docker inspect does; --format applies a
Go template to each instead ({{.State}}, {{.PID}}, {{(index .NICs 0).IP}}, {{json .Ports}};
"json" prints one object per line). An unknown name is an error, after the endpoints that were
found.`,
		Example: `  vswitchctl inspect web
  vswitchctl inspect --format '{{.Name}} {{.State}} {{range .NICs}}{{.IP}} {{end}}' web db`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := []control.Endpoint{}
			var errs []error
			for _, name := range args {
				e, err := a.api().Endpoint(cmd.Context(), name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				es = append(es, e)
			}
			var err error
			if format != "" {
				err = printObjects(a.stdout, format, es)
			} else {
				err = a.printJSON(es)
			}
			if err != nil {
				return err
			}
			return joinErrors(errs)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "Go template over each control.Endpoint, or json")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (the default)")
	c.MarkFlagsMutuallyExclusive("json", "format")
	return c
}

// stopTimeout reads stop's and restart's -t: seconds, 0 for SIGKILL at
// once, -1 (not given) for the daemon's default. Docker's -t -1 (wait
// forever) is refused: an API call does not wait forever.
func stopTimeout(cmd *cobra.Command, t int) (int, error) {
	if !cmd.Flags().Changed("timeout") {
		return -1, nil
	}
	if t < 0 {
		return 0, fmt.Errorf("--timeout %d: want seconds, 0 or more (0 sends SIGKILL at once)", t)
	}
	return t, nil
}

// timeoutFlag adds stop's and restart's -t, --timeout, also spelt --time
// (docker's older name).
func timeoutFlag(c *cobra.Command, timeout *int) {
	c.Flags().IntVarP(timeout, "timeout", "t", 0, "seconds between SIGTERM and SIGKILL, 0: at once (default 3)")
	c.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "time" {
			name = "timeout"
		}
		return pflag.NormalizedName(name)
	})
}

func (a *app) stopCmd() *cobra.Command {
	var timeout int
	c := &cobra.Command{
		Use:   "stop [-t SECONDS] ENDPOINT...",
		Short: "Stop endpoints' commands (SIGTERM, then SIGKILL); the endpoints stay",
		Long: `stop sends SIGTERM to each endpoint's command and SIGKILL after the timeout (default 3 s).
The endpoint, its NICs and addresses stay; start runs the command again.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(isRunning),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := stopTimeout(cmd, timeout)
			if err != nil {
				return err
			}
			return a.each(args, func(name string) error { return a.api().Stop(cmd.Context(), name, t) })
		},
	}
	timeoutFlag(c, &timeout)
	return c
}

func (a *app) startCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "start ENDPOINT...",
		Short:             "Run stopped endpoints' commands again",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(func(e control.Endpoint) bool { return !isRunning(e) }),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.each(args, func(name string) error { return commandError(a.api().Start(cmd.Context(), name)) })
		},
	}
}

func (a *app) restartCmd() *cobra.Command {
	var timeout int
	c := &cobra.Command{
		Use:               "restart [-t SECONDS] ENDPOINT...",
		Short:             "Stop endpoints' commands and run them again",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := stopTimeout(cmd, timeout)
			if err != nil {
				return err
			}
			return a.each(args, func(name string) error { return commandError(a.api().Restart(cmd.Context(), name, t)) })
		},
	}
	timeoutFlag(c, &timeout)
	return c
}

// signals are the names kill completes.
var signals = []string{"KILL", "TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "STOP", "CONT"}

func (a *app) killCmd() *cobra.Command {
	var sig string
	c := &cobra.Command{
		Use:               "kill [-s SIGNAL] ENDPOINT...",
		Short:             "Send a signal (default KILL) to endpoints' commands",
		Example:           `  vswitchctl kill -s HUP web`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(isRunning),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.each(args, func(name string) error { return a.api().Kill(cmd.Context(), name, sig) })
		},
	}
	c.Flags().StringVarP(&sig, "signal", "s", "", "signal: a name (KILL, SIGHUP, TERM) or a number (default KILL)")
	c.RegisterFlagCompletionFunc("signal", cobra.FixedCompletions(signals, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func (a *app) rmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:               "rm [-f] ENDPOINT...",
		Short:             "Remove endpoints: stop their processes, delete namespace, NICs and files",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeEndpoints(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.each(args, func(name string) error { return a.api().RemoveEndpoint(cmd.Context(), name, force) })
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "stop a running command first")
	return c
}

func (a *app) topCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:               "top ENDPOINT",
		Short:             "List the processes running in an endpoint",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.api().Top(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(control.Top{Titles: nonNil(t.Titles), Processes: nonNil(t.Processes)})
			}
			w := a.table(t.Titles...)
			for _, p := range t.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: control.Top")
	return c
}

func (a *app) logsCmd() *cobra.Command {
	var o control.LogOptions
	var tail string
	c := &cobra.Command{
		Use:               "logs [-f] [-n N] [-t] ENDPOINT",
		Short:             "Show the output of an endpoint's background command",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return fmt.Errorf("--tail %q: want a number of lines or all", tail)
				}
				switch {
				case n == 0 && o.Follow:
					// The API reads tail=0 as "all".
					return errors.New("--tail 0 with --follow is not supported yet (the API has no way to skip all old lines)")
				case n == 0:
					_, err := a.api().Endpoint(cmd.Context(), args[0])
					return err
				case n > 0:
					o.Tail = n
				}
			}
			return a.api().LogsWith(cmd.Context(), args[0], o, a.stdout)
		},
	}
	c.Flags().BoolVarP(&o.Follow, "follow", "f", false, "follow the output until the command exits")
	c.Flags().StringVarP(&tail, "tail", "n", "all", "show only the last N lines")
	c.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "prefix each line with its time (RFC 3339)")
	return c
}

func (a *app) publishCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "publish ENDPOINT SPEC",
		Short:             "Publish a port of an existing endpoint ([IP:][HOST[-END]:]CONTAINER[-END][/tcp|/udp]); prints it as published",
		Example:           "  vswitchctl publish web 8080:80\n  vswitchctl publish web 80      # a free host port, printed: 32768:80/tcp",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.api().Publish(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, p.Spec)
			return nil
		},
	}
}

func (a *app) unpublishCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "unpublish ENDPOINT SPEC",
		Short:             "Remove a published port (SPEC as published, or just its container port)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeEndpointArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.api().Unpublish(cmd.Context(), args[0], args[1])
		},
	}
}

// isRunning reports whether e's command runs (or is about to run again).
func isRunning(e control.Endpoint) bool {
	return e.State == control.StateRunning || e.State == control.StateRestarting
}

// endpointUp reports whether ps shows e without -a: its command runs, or
// it has no command and so is up as long as it exists (docker ps shows
// only running containers; an endpoint without a command is a pause
// container).
func endpointUp(e control.Endpoint) bool {
	if isRunning(e) || e.State == "" { // no state (a daemon before API v1's states): show it
		return true
	}
	return len(e.Cmd) == 0 && e.State != control.StateExited && e.State != control.StateRemoving
}
