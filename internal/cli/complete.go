package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

// Shell completion asks the running daemon for names: endpoints, networks,
// ports. Without a daemon (or when it does not answer within
// completeTimeout) there are no completions, and nothing is printed but
// cobra's directive line.

// completeTimeout bounds the API call behind one press of TAB.
const completeTimeout = 2 * time.Second

const noFiles = cobra.ShellCompDirectiveNoFileComp

// completeCtx returns the context of a completion's API call.
func completeCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completeTimeout)
}

// matching returns the names that start with prefix and are not in skip.
func matching(names []string, prefix string, skip []string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !slices.Contains(skip, n) {
			out = append(out, n)
		}
	}
	return out
}

// endpointNames lists the endpoints keep accepts (nil: all).
func (a *app) endpointNames(cmd *cobra.Command, keep func(control.Endpoint) bool) []string {
	ctx, cancel := completeCtx(cmd)
	defer cancel()
	es, err := a.api().Endpoints(ctx)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range es {
		if keep == nil || keep(e) {
			names = append(names, e.Name)
		}
	}
	return names
}

// networkNames lists the networks.
func (a *app) networkNames(cmd *cobra.Command) []string {
	ctx, cancel := completeCtx(cmd)
	defer cancel()
	ns, err := a.api().Networks(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	return names
}

// portNames lists the ports of kind (empty: all).
func (a *app) portNames(cmd *cobra.Command, kind string) []string {
	ctx, cancel := completeCtx(cmd)
	defer cancel()
	ps, err := a.api().Ports(ctx)
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range ps {
		if kind == "" || p.Kind == kind {
			names = append(names, p.Name)
		}
	}
	return names
}

// completeEndpoints completes any number of endpoint names (rm, stop,
// inspect…), each once.
func (a *app) completeEndpoints(keep func(control.Endpoint) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return matching(a.endpointNames(cmd, keep), toComplete, args), noFiles
	}
}

// completeEndpointArg completes the first argument with an endpoint name
// (exec, logs, top, publish) and leaves the rest to the shell.
func (a *app) completeEndpointArg(keep func(control.Endpoint) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return matching(a.endpointNames(cmd, keep), toComplete, nil), noFiles
	}
}

// completeNetworks completes up to limit network names (-1: any number).
func (a *app) completeNetworks(limit int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if limit >= 0 && len(args) >= limit {
			return nil, noFiles
		}
		return matching(a.networkNames(cmd), toComplete, args), noFiles
	}
}

// completeNetworkThenEndpoint completes network connect's and disconnect's
// NETWORK ENDPOINT; for disconnect (attached) only the network's endpoints.
func (a *app) completeNetworkThenEndpoint(attached bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return matching(a.networkNames(cmd), toComplete, nil), noFiles
		case 1:
			on := func(e control.Endpoint) bool {
				return slices.ContainsFunc(e.NICs, func(n control.NIC) bool { return n.Network == args[0] })
			}
			keep := func(e control.Endpoint) bool { return on(e) == attached }
			return matching(a.endpointNames(cmd, keep), toComplete, nil), noFiles
		}
		return nil, noFiles
	}
}

// completePorts completes one port name of kind (empty: any).
func (a *app) completePorts(kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		return matching(a.portNames(cmd, kind), toComplete, nil), noFiles
	}
}

// completePortFlag completes a flag's value with a port name.
func (a *app) completePortFlag(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return matching(a.portNames(cmd, ""), toComplete, nil), noFiles
}

// completeNetworkFlag completes a flag's value with a network name.
func (a *app) completeNetworkFlag(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return matching(a.networkNames(cmd), toComplete, nil), noFiles
}
