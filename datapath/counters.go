package datapath

import "sync/atomic"

// Reason is why the datapath dropped a frame. The router counts its own
// reasons (no route, isolation, NAT); DropRouter here says only that the
// router took the decision.
type Reason uint8

// Drop reasons.
const (
	DropMalformed   Reason = iota // shorter than an Ethernet header or a tag it announces
	DropVLANIngress               // refused by the ingress port's VLAN policy
	DropVLANEgress                // learned port no longer carries the frame's VLAN
	DropSpoofed                   // source MAC, IPv4 source or ARP sender not the endpoint's own
	DropSamePort                  // destination is on the ingress port
	DropRouter                    // dropped by the router (see router stats)
	DropNoBuffer                  // no spare buffer for a flood copy or generated frame
	DropTxError                   // the egress device refused the frame
	numReasons
)

var reasonNames = [numReasons]string{
	DropMalformed:   "malformed",
	DropVLANIngress: "vlan-ingress",
	DropVLANEgress:  "vlan-egress",
	DropSpoofed:     "spoofed",
	DropSamePort:    "same-port",
	DropRouter:      "router",
	DropNoBuffer:    "no-buffer",
	DropTxError:     "tx-error",
}

// String returns the reason's name as shown by `vswitchctl stats`.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons returns every drop reason in order.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Counters are the per-port counters. Workers add to them once per batch.
type Counters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64
	drops             [numReasons]atomic.Uint64
}

// CounterValues is a snapshot of Counters.
type CounterValues struct {
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	Drops             map[string]uint64 // by Reason.String(); zero counts omitted
}

// Values returns a snapshot of c.
func (c *Counters) Values() CounterValues {
	v := CounterValues{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(),
		TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(),
		Drops: map[string]uint64{},
	}
	for r := range c.drops {
		if n := c.drops[r].Load(); n != 0 {
			v.Drops[Reason(r).String()] = n
		}
	}
	return v
}

// batchCounts accumulates a worker's counts for one batch.
type batchCounts struct {
	rxFrames, rxBytes uint64
	drops             [numReasons]uint64
}

func (b *batchCounts) flush(c *Counters) {
	if b.rxFrames != 0 {
		c.rxFrames.Add(b.rxFrames)
		c.rxBytes.Add(b.rxBytes)
	}
	for r, n := range b.drops {
		if n != 0 {
			c.drops[r].Add(n)
		}
	}
	*b = batchCounts{}
}
