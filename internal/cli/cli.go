// Package cli is vswitchctl: a cobra command tree that drives vswitchd over
// its API. It is only a client: every command is one or two API calls, and
// every listing has --json. The entry point is Run.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vswitchd/vswitchd/control"
)

// exitError carries an exit code out of a command (exec and attached run
// exit with their command's code).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run runs vswitchctl with args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case ctx.Err() != nil:
		// Interrupted (SIGINT/SIGTERM): exit as a shell would, quietly.
		return 130
	default:
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return 1
	}
}

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	socket         string
	client         *control.Client
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "vswitchctl",
		Short: "Drive vswitchd, the userspace virtual switch",
		Long: `vswitchctl talks to vswitchd over its Unix socket (default ` + control.DefaultSocket + `,
or $` + control.SocketEnv + `, or --socket). Docker-like verbs manage networks and endpoints;
switch verbs show what the datapath does.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			a.client = control.NewClient(a.socket)
		},
	}
	root.PersistentFlags().StringVar(&a.socket, "socket", "", "vswitchd API socket (default $"+control.SocketEnv+" or "+control.DefaultSocket+")")
	root.AddGroup(&cobra.Group{ID: "docker", Title: "Networks and endpoints:"}, &cobra.Group{ID: "switch", Title: "Switch:"})
	for _, c := range []*cobra.Command{a.networkCmd(), a.runCmd(), a.execCmd(), a.psCmd(), a.rmCmd(), a.logsCmd(), a.publishCmd(), a.unpublishCmd()} {
		c.GroupID = "docker"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.fdbCmd(), a.portsCmd(), a.portCmd(), a.statsCmd(), a.uplinkCmd(), a.conntrackCmd(), a.natCmd()} {
		c.GroupID = "switch"
		root.AddCommand(c)
	}
	root.AddCommand(a.versionCmd())
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the daemon's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := a.client.Version(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "vswitchd %s (API %s)\n", v.Version, v.API)
			return nil
		},
	}
}

// printJSON writes v indented.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tabwriter on stdout; call Flush.
func (a *app) table(header ...string) *tabwriter.Writer {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	return w
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
		defer signal.Stop(winch)
		go func() {
			for range winch {
				send()
			}
		}()
	}
	code, err := f(ctx, stdio)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}
