// Package lab turns a topology (a control.Topology, parsed by vswitchctl
// from a topology file) into the networks, endpoints, system ports, uplink
// and link impairments it declares, and computes what converging the
// running switch to it changes. The entry points: Compile checks the topology on its own,
// Desired.Plan compares it with the daemon's state and returns the ordered
// steps that the daemon carries out (package daemon, Daemon.LabUp).
//
// It is pure logic: no system calls, the state passed in. Every error
// names the place in the topology file it comes from ("lab.yaml:12: ..."),
// through the lines the file's parser recorded (Topology.Lines).
//
// Names. The lab's networks and endpoints are named Prefix + the file's
// name (Prefix defaults to the lab's name and "-", as containerlab's
// clab-NAME-); each endpoint also answers to its short name on its lab
// networks (a DNS alias). System ports and the uplink are existing
// interfaces and keep their names. Every object the lab makes records
// the lab's name in the state, so lab down removes exactly those.
//
// Convergence. An object the file declares and the switch has is kept
// untouched if it is the same; a network or endpoint whose defining
// settings differ is removed and made again (recreate); an endpoint whose
// extra networks or published ports differ is changed live (connect,
// disconnect, publish, unpublish); impairments are set to exactly what
// the file says. Objects of the lab that the file no longer declares are
// removed. Removals come first, then creations, then changes.
package lab
