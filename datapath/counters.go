package datapath

import (
	"sync/atomic"

	"github.com/vswitchd/vswitchd/router"
)

// Reason is why the datapath dropped a frame. The router's own reasons (no
// route, isolation, NAT…) are router drop Counters, counted per port next
// to these.
type Reason uint8

// Drop reasons.
const (
	DropMalformed   Reason = iota // shorter than an Ethernet header or a tag it announces
	DropVLANIngress               // refused by the ingress port's VLAN policy
	DropVLANEgress                // learned port no longer carries the frame's VLAN
	DropSpoofed                   // source MAC, IPv4 source or ARP sender not the endpoint's own
	DropSamePort                  // destination is on the ingress port
	DropNoRouter                  // for the router, but the datapath has none
	DropNoBuffer                  // no spare buffer for a flood copy or generated frame
	DropTxError                   // the egress device refused the frame
	DropICC                       // between two isolated ports (icc=false)
	numReasons
)

var reasonNames = [numReasons]string{
	DropMalformed:   "malformed",
	DropVLANIngress: "vlan-ingress",
	DropVLANEgress:  "vlan-egress",
	DropSpoofed:     "spoofed",
	DropSamePort:    "same-port",
	DropNoRouter:    "no-router",
	DropNoBuffer:    "no-buffer",
	DropTxError:     "tx-error",
	DropICC:         "icc",
}

// String returns the reason's name as shown by `vswitchctl ports`.
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

// Counters are the per-port counters. The port's worker adds to them once
// per batch; Write errors are added by whichever worker wrote.
type Counters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64
	drops             [numReasons]atomic.Uint64
	router            [router.NumCounters]atomic.Uint64 // what the router did with this port's frames
}

// CounterValues is a snapshot of Counters.
type CounterValues struct {
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	// Drops holds the datapath's and the router's drop reasons for
	// frames received on the port (Reason.String, router
	// Counter.Reason); zero counts are omitted.
	Drops map[string]uint64
	// Router is what the router did with the port's frames.
	Router router.Counts
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
	for i := range c.router {
		n := c.router[i].Load()
		v.Router[i] = n
		if rc := router.Counter(i); rc.IsDrop() && n != 0 {
			v.Drops[rc.Reason()] += n
		}
	}
	return v
}

// batchCounts accumulates a worker's counts for one batch: plain memory
// of its own, added to the port's atomics once per batch.
type batchCounts struct {
	rxFrames, rxBytes uint64
	drops             [numReasons]uint64
	router            router.Counts
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
	for i, n := range b.router {
		if n != 0 {
			c.router[i].Add(n)
		}
	}
	*b = batchCounts{}
}
