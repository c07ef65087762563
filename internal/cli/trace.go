package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

// traceSenders are the senders trace completes besides endpoint names.
var traceSenders = []string{"host", "outside:"}

func (a *app) traceCmd() *cobra.Command {
	var req control.TraceRequest
	var lo control.LiveTraceOptions
	var live, asJSON bool
	c := &cobra.Command{
		Use:   "trace FROM TO | --live [TARGET...]",
		Short: "Explain how the switch treats a packet, hop by hop: why can A not reach B",
		Long: `trace builds the packet FROM would send to TO and runs it through the switch's real
pipeline in dry-run mode: nothing is learned, no connection is created, no counter moves and
nothing is sent. It prints every stage — the ingress port and its VLAN policy, anti-spoofing,
the MAC table, the router (gateway, route, the conntrack entry or the NAT rule that would make
one: masquerade, published-port DNAT, hairpin), the egress ports and their tagging — then the
receiver's answer the same way, and last the verdict. It exits 0 when the packet is delivered
(and its answer comes back), 1 when it is dropped.

FROM is an endpoint (the NIC toward TO, or ENDPOINT:IFACE), "host", or "outside:IP" (a packet
from IP arriving on the uplink). TO is an endpoint name, an alias or a DNS name as FROM would
resolve it (its /etc/hosts and the switch's DNS; no upstream is asked), or an IP, with an
optional :PORT (host.vswitchd.internal:45678). The packet is an ICMP echo request, a TCP SYN
with a port (--proto udp for UDP), from FROM's address, MAC and route; --src forges the source
address, to see anti-spoofing. A drop names the counter it would have bumped, as "ports" and
"stats" show it.

--live traces real frames instead: each frame received on the targets (an endpoint, its NICs;
ENDPOINT:IFACE; a port; a network's ports; uplink; none: every port) that matches --filter (a
tcpdump expression) is run through the same dry-run path just before the switch processes it,
and its trace printed, for -c frames or until Ctrl-C. A reader that falls behind misses traces
(counted); forwarding never waits for it.`,
		Example: `  vswitchctl trace red-apple orange-server
  vswitchctl trace apple-server host.vswitchd.internal:45678
  vswitchctl trace outside:198.51.100.9 203.0.113.2:45678
  vswitchctl trace red-apple apple-server --src 172.19.0.99
  vswitchctl trace --live -c 5 --filter icmp red-apple`,
		ValidArgsFunction: a.completeTrace(&live),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if live {
				for _, f := range []string{"proto", "port", "sport", "src"} {
					if fl.Changed(f) {
						return fmt.Errorf("--%s is for tracing a packet (FROM TO), not --live", f)
					}
				}
				if lo.Count < 0 {
					return fmt.Errorf("-c %d: want a number of frames, 0 or more", lo.Count)
				}
				lo.Targets = args
				return a.liveTrace(cmd, lo, asJSON)
			}
			if fl.Changed("filter") || fl.Changed("count") {
				return errors.New("--filter and -c go with --live")
			}
			if len(args) != 2 {
				return fmt.Errorf(`"vswitchctl trace" needs FROM and TO (or --live), got %d arguments`, len(args))
			}
			req.From, req.To = args[0], args[1]
			if err := checkTraceRequest(cmd, &req); err != nil {
				return err
			}
			t, err := a.api().Trace(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				if err := a.printJSON(t); err != nil {
					return err
				}
			} else {
				writeTrace(a.stdout, t)
			}
			if !t.Delivered {
				return exitStatus{exitError}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&req.Proto, "proto", "", "the packet: `icmp` (an echo request; the default), tcp (a SYN; the default with a port) or udp")
	f.IntVar(&req.Port, "port", 0, "destination port `N` (or TO:N)")
	f.IntVar(&req.SrcPort, "sport", 0, "source port `N` (ICMP: the echo identifier; default 43210)")
	f.StringVar(&req.Src, "src", "", "forge the source address: send from `IP` instead of FROM's own")
	f.BoolVar(&asJSON, "json", false, "print the API's object (control.Trace; with --live one control.LiveTraceEvent a line)")
	f.BoolVar(&live, "live", false, "trace real frames of the targets as the switch handles them")
	f.StringVar(&lo.Filter, "filter", "", "with --live: only frames matching this tcpdump `EXPR` (e.g. 'icmp or tcp port 80')")
	f.IntVarP(&lo.Count, "count", "c", 0, "with --live: stop after `N` frames (default: until Ctrl-C)")
	return c
}

// checkTraceRequest refuses bad flags before any request.
func checkTraceRequest(cmd *cobra.Command, req *control.TraceRequest) error {
	switch strings.ToLower(req.Proto) {
	case "", "icmp", "tcp", "udp":
	default:
		return fmt.Errorf("--proto %q: want icmp, tcp or udp", req.Proto)
	}
	fl := cmd.Flags()
	if fl.Changed("port") && (req.Port < 1 || req.Port > 65535) {
		return fmt.Errorf("--port %d out of range 1-65535", req.Port)
	}
	if fl.Changed("sport") && (req.SrcPort < 1 || req.SrcPort > 65535) {
		return fmt.Errorf("--sport %d out of range 1-65535", req.SrcPort)
	}
	if strings.EqualFold(req.Proto, "icmp") && req.Port != 0 {
		return errors.New("--port: icmp has no ports (use --proto tcp or udp)")
	}
	if req.Src != "" {
		if ip, err := netip.ParseAddr(req.Src); err != nil || !ip.Is4() {
			return fmt.Errorf("--src %q: want an IPv4 address", req.Src)
		}
	}
	return nil
}

// writeTrace prints a trace: how the packet was made, each run's stages,
// and the verdict on the last line.
func writeTrace(w io.Writer, t control.Trace) {
	if t.From != "" && t.To != "" {
		fmt.Fprintf(w, "%-9s %s → %s\n", "trace", t.From, t.To)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "%-9s %s\n", "note", n)
	}
	if t.Forward != nil {
		writeRun(w, "packet", *t.Forward)
	}
	if t.Reply != nil {
		writeRun(w, "reply", *t.Reply)
	}
	fmt.Fprintf(w, "verdict: %s\n", t.Verdict)
}

// writeRun prints one frame's trip: the frame, each stage's decision, the
// ports it leaves by and what the switch answers.
func writeRun(w io.Writer, label string, r control.TraceRun) {
	fmt.Fprintf(w, "%-9s %s: %s\n", label, r.Port, r.Packet)
	for _, s := range r.Steps {
		fmt.Fprintf(w, "%-9s %s\n", s.Stage, s.Detail)
	}
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "%-9s %s, %s: %s\n", "egress", o.Port, o.Tagging, o.Packet)
	}
	for _, o := range r.Generated {
		fmt.Fprintf(w, "%-9s %s, %s: %s\n", "answers", o.Port, o.Tagging, o.Packet)
	}
}

// liveTrace prints the traces of real frames until the count or Ctrl-C;
// the counts go to stderr.
func (a *app) liveTrace(cmd *cobra.Command, o control.LiveTraceOptions, asJSON bool) error {
	enc := json.NewEncoder(a.stdout)
	end, err := a.api().LiveTrace(cmd.Context(), o, func(lt control.LiveTrace) error {
		if asJSON {
			return enc.Encode(control.LiveTraceEvent{Trace: &lt})
		}
		writeRun(a.stdout, lt.Time.Local().Format("15:04:05.000000"), lt.Run)
		v := lt.Run.Verdict
		if lt.Run.Reason != "" {
			v += " (" + lt.Run.Reason + ")"
		}
		_, err := fmt.Fprintf(a.stdout, "%-9s %s\n\n", "verdict", v)
		return err
	})
	if err != nil || end == nil {
		return err
	}
	if asJSON {
		return enc.Encode(control.LiveTraceEvent{End: end})
	}
	fmt.Fprintf(a.stderr, "%d frames traced\n", end.Traced)
	if end.Missed > 0 {
		fmt.Fprintf(a.stderr, "%d matching frames not traced: the reader was behind\n", end.Missed)
	}
	return nil
}

// completeTrace completes FROM (endpoints, host, outside:) and TO
// (endpoints, host.vswitchd.internal), or --live's targets.
func (a *app) completeTrace(live *bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		names := a.endpointNames(cmd, nil)
		switch {
		case *live:
			names = append(append(names, a.networkNames(cmd)...), a.portNames(cmd, "")...)
			return matching(append(names, "uplink"), toComplete, args), noFiles
		case len(args) == 0:
			return matching(append(names, traceSenders...), toComplete, nil), noFiles
		case len(args) == 1:
			return matching(append(names, "host.vswitchd.internal"), toComplete, nil), noFiles
		}
		return nil, noFiles
	}
}
