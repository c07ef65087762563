package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/version"
)

// Exit statuses besides a command's own.
const (
	exitError      = 1   // vswitchctl or the daemon refused
	exitCannotExec = 126 // the command exists but cannot be run (docker's code)
	exitNotFound   = 127 // no such command (docker's code)
	exitInterrupt  = 130 // SIGINT/SIGTERM, as a shell reports it
)

// exitStatus carries an exit code out of a command without a message: exec
// and attached run exit with their command's code.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// codedError is an error printed as usual but exiting with code.
type codedError struct {
	code int
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }

// multiError is the failures of a command given several names (rm a b c):
// each is printed on its own Error line, as docker does.
type multiError []error

func (m multiError) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (m multiError) Unwrap() []error { return m }

// joinErrors returns nil, the one error, or a multiError.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}

// Run runs vswitchctl with args (without the program name) and returns the
// process exit code: 0, the command's own for exec and attached run, 126 or
// 127 when the daemon cannot start the command, 130 when ctx ends, else 1
// after one "Error: …" line per failure on stderr.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, isTerminal: isTerminal}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.root()
	if args == nil {
		args = []string{} // nil makes cobra read os.Args
	}
	root.SetArgs(args)
	return a.exitCode(ctx, root.ExecuteContext(ctx))
}

// exitCode prints err and returns the status for it.
func (a *app) exitCode(ctx context.Context, err error) int {
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return es.code
	case ctx.Err() != nil:
		return exitInterrupt // interrupted: exit as a shell would, quietly
	}
	code := exitError
	var ce codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	errs := []error{err}
	var m multiError
	if errors.As(err, &m) {
		errs = m
	}
	for _, e := range errs {
		msg := strings.ReplaceAll(strings.TrimSpace(e.Error()), "\n", "; ")
		fmt.Fprintf(a.stderr, "Error: %s\n", msg)
	}
	return code
}

// app is one invocation's state: its stdio, flags and client.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	socket         string          // --socket
	client         *control.Client // made on first use, after flags are parsed
	now            func() time.Time
	isTerminal     func(io.Reader) bool
}

// api returns the client for --socket. Completion functions call it too,
// after cobra has parsed the command line being completed.
func (a *app) api() *control.Client {
	if a.client == nil {
		a.client = control.NewClient(a.socket)
	}
	return a.client
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "vswitchctl",
		Short: "Drive vswitchd, the userspace virtual switch",
		Long: `vswitchctl talks to vswitchd over its Unix socket (default ` + control.DefaultSocket + `,
or $` + control.SocketEnv + `, or --socket). Docker-like verbs manage networks and endpoints;
switch verbs show what the datapath does, as ovs-vsctl, bridge fdb and conntrack do.

Every listing has --json, which prints the API's types (see control/api.go). Errors are
one "Error: ..." line on stderr with exit status 1; run and exec exit with the command's
status, 127 when the command does not exist and 126 when it cannot be run.`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("vswitchctl {{.Version}}\n")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.socket, "socket", "", "vswitchd API socket (default $"+control.SocketEnv+" or "+control.DefaultSocket+")")
	root.AddGroup(&cobra.Group{ID: "docker", Title: "Networks and endpoints:"}, &cobra.Group{ID: "switch", Title: "Switch:"},
		&cobra.Group{ID: "debug", Title: "Seeing inside:"}, &cobra.Group{ID: "lab", Title: "Labs and links:"})
	for _, c := range []*cobra.Command{
		a.networkCmd(), a.runCmd(), a.execCmd(), a.psCmd(), a.inspectCmd(), a.startCmd(), a.stopCmd(),
		a.restartCmd(), a.killCmd(), a.rmCmd(), a.topCmd(), a.logsCmd(), a.publishCmd(), a.unpublishCmd(),
	} {
		c.GroupID = "docker"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		a.showCmd(), a.fdbCmd(), a.portsCmd(), a.portCmd(), a.statsCmd(), a.uplinkCmd(), a.conntrackCmd(),
		a.natCmd(), a.logLevelCmd(), a.systemCmd(),
	} {
		c.GroupID = "switch"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.captureCmd(), a.traceCmd()} {
		c.GroupID = "debug"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.labCmd(), a.linkCmd(), a.uiCmd()} {
		c.GroupID = "lab"
		root.AddCommand(c)
	}
	root.AddCommand(a.versionCmd())
	root.SetHelpCommand(a.helpCmd())
	// Made now rather than at Execute, so that the loop below covers them.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	strictParents(root)
	return root
}

// strictParents makes every command that only groups subcommands (network,
// fdb, completion, the root…) fail on an unknown subcommand, with one error
// line, instead of cobra's default of printing help and exiting 0. Run
// without a subcommand, such a command prints its help, as docker network
// does.
func strictParents(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictParents(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = unknownSubcommand
	c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
}

// unknownSubcommand is the Args of a command that only groups others.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = fmt.Sprintf("%q", n)
		}
		msg += "; did you mean " + strings.Join(q, " or ") + "?"
	}
	return fmt.Errorf("%s (see '%s --help')", msg, cmd.CommandPath())
}

// helpCmd replaces cobra's help command, which prints the root's usage and
// exits 0 for an unknown topic.
func (a *app) helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND...]",
		Short: "Help about any command",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("unknown help topic %q (see '%s --help')", strings.Join(args, " "), c.Root().Name())
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// versions is what version --json prints: the client's and the daemon's
// versions, Server null when no daemon answers.
type versions struct {
	Client control.Version  `json:"client"`
	Server *control.Version `json:"server"`
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Show the client's and the daemon's versions",
		Long: `version prints vswitchctl's version, commit and Go version, then the daemon's, as docker
version does. With no daemon it prints the client's part, then one error line, and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := versions{Client: control.Version{
				API: control.APIVersion, Version: version.Version, Commit: version.Commit, Go: runtime.Version(),
			}}
			sv, err := a.api().Version(cmd.Context())
			if err == nil {
				v.Server = &sv
			}
			if asJSON {
				if jerr := a.printJSON(v); jerr != nil {
					return jerr
				}
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
			fmt.Fprintf(w, "Client:\n Version:\t%s\n API version:\t%s\n Commit:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				v.Client.Version, v.Client.API, v.Client.Commit, v.Client.Go, runtime.GOOS, runtime.GOARCH)
			if v.Server != nil {
				fmt.Fprintf(w, "\nServer:\n Version:\t%s\n API version:\t%s\n Commit:\t%s\n Go version:\t%s\n",
					sv.Version, sv.API, orDash(sv.Commit), orDash(sv.Go))
			}
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {client, server} (server null without a daemon)")
	return c
}

// printJSON writes v indented.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tabwriter on stdout with header written; call Flush.
func (a *app) table(header ...string) *tabwriter.Writer {
	w := newTabWriter(a.stdout)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	return w
}

func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
}

func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// noZeroVLAN rejects the named VLAN flags when they are given as 0. The API
// reads 0 as "not set" (an automatic VLAN, no native VLAN), so an explicit
// --vlan 0 or --native 0 would silently mean the default; but VLAN 0 is
// the null VID of priority tags, not a VLAN (IEEE 802.1Q-2018 §9.6).
func noZeroVLAN(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed && f.Value.String() == "0" {
			return fmt.Errorf("--%s 0: vlan out of range 1-4094 (leave the flag out for the default)", n)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// commandError maps the daemon's refusal to start a command to docker's
// exit statuses: 127 when the executable does not exist, 126 when it may
// not be run. The API says so only in its message (a 400 for a detached
// run, an error frame for an attached one), so the message is all there is
// to go by; errors from reaching the daemon are left alone.
func commandError(err error) error {
	if err == nil {
		return nil
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "not found in $PATH"):
		return codedError{exitNotFound, err}
	case strings.Contains(msg, "permission denied"):
		return codedError{exitCannotExec, err}
	}
	return err
}

// attach runs an attached command: stdio wired to ours, raw terminal and
// resizes with a TTY.
func (a *app) attach(ctx context.Context, tty, interactive bool, f func(context.Context, *control.IO) (int, error)) error {
	stdio := &control.IO{Stdout: a.stdout, Stderr: a.stderr}
	if tty {
		stdio.Stderr = nil
	}
	if interactive {
		stdio.Stdin = a.stdin
	}
	if tty {
		in, ok := a.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			return errors.New("-t needs a terminal on stdin")
		}
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("set terminal raw: %w", err)
		}
		defer term.Restore(int(in.Fd()), old)
		resize := make(chan control.WinSize, 1)
		stdio.Resize = resize
		send := func() {
			if c, r, err := term.GetSize(int(in.Fd())); err == nil {
				select {
				case resize <- control.WinSize{Rows: uint16(r), Cols: uint16(c)}:
				default:
				}
			}
		}
		send()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer func() {
			signal.Stop(winch)
			close(winch) // ends the goroutine below
		}()
		go func() {
			for range winch {
				send()
			}
		}()
	}
	code, err := f(ctx, stdio)
	if err != nil {
		return commandError(err)
	}
	if code != 0 {
		return exitStatus{code}
	}
	return nil
}
