package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

// captureTargets are the targets capture completes besides endpoint,
// network and port names.
var captureTargets = []string{"uplink", "router"}

func (a *app) captureCmd() *cobra.Command {
	var o control.CaptureOptions
	var file string
	var refused bool // the daemon refused the capture
	c := &cobra.Command{
		Use:   "capture [-w FILE|-] [-c N] [--duration D] [--snaplen N] [--filter EXPR] TARGET...",
		Short: "Capture the frames crossing ports: pcapng for tcpdump and Wireshark, or a line each",
		Long: `capture copies the frames crossing the targets' ports as the switch sees them: before and
after VLAN tagging and NAT, each with its port and direction. TARGET is an endpoint (all its
NICs), ENDPOINT:IFACE, a port (as "ports" lists them), a network (its ports), "uplink", or
"router" (frames the router consumes, out, and makes, in). Several targets go into one capture,
so one packet can be followed across networks and through NAT.

Without -w each frame is printed as one line (time, port, direction, headers). With -w FILE
(or - for stdout) the capture is a pcapng stream: one interface per port, named after it, each
packet with its direction (epb_flags) and the switch's time stamp; offloaded super-frames at
their real length with a comment. --filter takes a tcpdump expression (pcap-filter(7)).

It ends after -c frames, after --duration, or on Ctrl-C; then it prints how many frames it
captured and how many the switch dropped because the reader was behind (capture never slows
forwarding).`,
		Example: `  vswitchctl capture -c 4 --filter icmp red-apple apple-server
  vswitchctl capture -w - apple-server | tcpdump -n -r -
  vswitchctl capture -w trace.pcapng --duration 10s test-network uplink`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeCaptureTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Count < 0 || o.Snaplen < 0 || o.For < 0 {
				return fmt.Errorf("-c, --snaplen and --duration take 0 or more")
			}
			o.Targets, o.Format = args, control.CaptureText
			var out io.Writer = a.stdout
			if cmd.Flags().Changed("write") {
				o.Format = control.CapturePcapng
				if file != "-" {
					f, made, err := createCaptureFile(file)
					if err != nil {
						return err
					}
					defer f.Close()
					out = f
					defer func() {
						if made && refused {
							os.Remove(file) // leave nothing for a capture that never ran
						}
					}()
				}
			}
			st, err := a.capture(cmd.Context(), o, out)
			var ae *control.APIError
			refused = errors.As(err, &ae)
			if err != nil {
				return err
			}
			if !st.Complete {
				fmt.Fprintf(a.stderr, "capture cut before vswitchd said how it went\n")
				return nil
			}
			fmt.Fprintf(a.stderr, "%d packets captured\n%d packets dropped by the switch\n", st.Captured, st.Dropped)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&file, "write", "w", "", "write pcapng to `FILE` (- for stdout) instead of printing lines")
	f.IntVarP(&o.Count, "count", "c", 0, "stop after `N` frames")
	f.DurationVar(&o.For, "duration", 0, "stop after this long (e.g. 10s)")
	f.IntVar(&o.Snaplen, "snaplen", 0, "keep the first `N` bytes of each frame (default: whole frames)")
	f.StringVar(&o.Filter, "filter", "", "keep only frames matching this tcpdump `EXPR` (e.g. 'tcp port 80')")
	return c
}

// createCaptureFile creates (or truncates) path for writing, and reports
// whether it did not exist before.
func createCaptureFile(path string) (*os.File, bool, error) {
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("-w %s: %w", path, errors.Unwrap(err))
	}
	return f, errors.Is(statErr, os.ErrNotExist), nil
}

// capture runs a capture into out. When ctx ends (Ctrl-C) it asks the
// daemon to stop the capture, so the stream ends cleanly with its
// statistics; if that takes more than a few seconds it cuts the stream.
func (a *app) capture(ctx context.Context, o control.CaptureOptions, out io.Writer) (control.CaptureStats, error) {
	streamCtx, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	ids := make(chan string, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		var id string
		select {
		case id = <-ids:
		case <-done:
			return
		}
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if a.api().StopCapture(stopCtx, id) != nil {
			cut()
			return
		}
		select {
		case <-time.After(5 * time.Second):
			cut()
		case <-done:
		}
	}()
	return a.api().Capture(streamCtx, o, out, func(id string) { ids <- id })
}

// completeCaptureTargets completes endpoint, network and port names, uplink
// and router.
func (a *app) completeCaptureTargets(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	names := append(a.endpointNames(cmd, nil), a.networkNames(cmd)...)
	names = append(append(names, a.portNames(cmd, "")...), captureTargets...)
	return matching(names, toComplete, args), noFiles
}
