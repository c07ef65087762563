// Package trace records what the switch's pipeline decided about one frame:
// the ingress port's VLAN policy, anti-spoofing, the MAC table, the router
// (gateway, route, conntrack, NAT), and the egress ports with their tagging.
// The datapath and the router fill a Trace when they run a frame in dry-run
// mode (datapath.Datapath.Explain), which changes nothing: no MAC is
// learned, no connection created, no counter moved, no frame sent.
//
// The entry point is the Trace type; its zero value is ready to use.
package trace

import (
	"fmt"
	"strings"
)

// Stage names the part of the pipeline a step belongs to.
type Stage string

// Stages, in pipeline order.
const (
	Ingress   Stage = "ingress"   // the port the frame entered by, its VLAN policy
	Guard     Stage = "guard"     // anti-spoofing on endpoint ports
	Bridge    Stage = "bridge"    // MAC table: learn and look up
	Router    Stage = "router"    // the L3 gateway: ARP, ICMP, DNS, routing
	Conntrack Stage = "conntrack" // connection table lookups and NAT rules
	Egress    Stage = "egress"    // output ports and their tagging
)

// Step is one decision.
type Step struct {
	Stage  Stage  `json:"stage"`
	Detail string `json:"detail"`
}

// Verdict is how the frame's journey ended.
type Verdict string

// Verdicts.
const (
	Delivered Verdict = "delivered" // sent to one or more ports
	Consumed  Verdict = "consumed"  // answered or absorbed by the switch itself
	Dropped   Verdict = "dropped"
)

// Output is one port the frame would leave by.
type Output struct {
	Port    string `json:"port"`    // port name
	PortID  uint16 `json:"port_id"` // port.ID
	Tagging string `json:"tagging"` // "untagged", "tag 10 (0x8100)", …
	// Frame is the frame as it would leave (after NAT and tagging).
	Frame []byte `json:"frame,omitempty"`
}

// Trace is the record of one dry run. It is not safe for concurrent use.
type Trace struct {
	Steps   []Step   `json:"steps"`
	Outputs []Output `json:"outputs"`
	// Generated are frames the switch would have sent in answer (an ARP
	// reply, an ICMP error, a DNS answer).
	Generated []Output `json:"generated,omitempty"`
	Verdict   Verdict  `json:"verdict"`
	// Reason says why, for Dropped (a counter name such as "isolation")
	// and Consumed.
	Reason string `json:"reason,omitempty"`
	// Hypothetical holds opaque state one stage leaves for later runs
	// of the same trace: the router keeps the connections a forward
	// direction would have created, so tracing the reply finds them.
	Hypothetical []any `json:"-"`
}

// Add records a step.
func (t *Trace) Add(s Stage, format string, args ...any) {
	t.Steps = append(t.Steps, Step{Stage: s, Detail: fmt.Sprintf(format, args...)})
}

// Drop ends the trace with a drop for reason, recording detail as a step
// of stage s.
func (t *Trace) Drop(s Stage, reason, format string, args ...any) {
	t.Add(s, format, args...)
	t.Verdict, t.Reason = Dropped, reason
}

// Consume ends the trace with the switch itself taking the frame.
func (t *Trace) Consume(s Stage, reason, format string, args ...any) {
	t.Add(s, format, args...)
	t.Verdict, t.Reason = Consumed, reason
}

// String formats the trace one step per line, the verdict last.
func (t *Trace) String() string {
	var b strings.Builder
	for _, s := range t.Steps {
		fmt.Fprintf(&b, "%-9s %s\n", s.Stage, s.Detail)
	}
	for _, o := range t.Outputs {
		fmt.Fprintf(&b, "%-9s %s, %s\n", Egress, o.Port, o.Tagging)
	}
	v := string(t.Verdict)
	if t.Reason != "" {
		v += " (" + t.Reason + ")"
	}
	fmt.Fprintf(&b, "verdict   %s\n", v)
	return b.String()
}
