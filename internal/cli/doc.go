// Package cli is vswitchctl: a cobra command tree that drives vswitchd over
// its API. It is only a client: every command is one or a few API calls,
// and every listing has --json, which prints the control package's types.
// The entry point is Run.
//
// The command line follows the tools its users know: docker's verbs for
// networks and endpoints (run, ps, inspect, stop, logs…), ovs-vsctl's show,
// conntrack's list options. Errors are one "Error: …" line on stderr and a
// non-zero exit status; help goes to stdout with status 0.
package cli
