package router

import "sync/atomic"

// Counter is one of the router's counters: something it did, or a reason it
// dropped a frame. Workers count into their own Counts (Packet.Counts), so
// no two workers write the same memory per frame; the datapath sums them
// per port. Frames the router handles outside a worker are counted in the
// router's own deferred counters (Router.Deferred).
type Counter uint8

// Counters.
const (
	Routed        Counter = iota // forwarded between interfaces
	Masquerade                   // new connections masqueraded to the uplink
	DNAT                         // new connections to published ports
	ARPReply                     // ARP requests for router addresses answered
	ARPSuppressed                // ARP requests for endpoint addresses answered by the switch
	EchoReply                    // ICMP echo requests to router addresses answered
	DNSQuery                     // DNS queries over UDP to gateways
	ICMPSent                     // ICMP errors sent (time exceeded, unreachable)
	ARPPending                   // frames held while the next hop is resolved
	Fragmented                   // datagrams sent on in fragments (RFC 791), reassembled ones included
	Reassembled                  // datagrams reassembled from fragments
	MSSClamped                   // SYNs whose MSS option was lowered to the path's MTU
	GSOResized                   // super-frames whose segment size was lowered to the egress MTU
	RSTSent                      // TCP resets sent for segments nothing answers

	// Drop reasons; every counter from here on is one.
	DropNoRoute     // no route, or nothing at the destination
	DropIsolation   // destination in another network
	DropInternal    // --internal network tried to leave
	DropNATFull     // conntrack table full
	DropNATNoPort   // no free masquerade port
	DropNATInvalid  // untrackable or invalid for its connection
	DropUnresolved  // next hop did not answer, or its queue was full
	DropTTL         // TTL expired (time exceeded sent)
	DropMalformed   // bad ARP or IP header
	DropNotIPv4     // neither ARP nor IPv4
	DropNotForUs    // to a router address, no service there
	DropFragment    // a fragment the reassembler refused (invalid, repeated, over the budget)
	DropNoBuffer    // no spare buffer for a generated frame
	DropICC         // between endpoints of an icc=false network
	DropTooBig      // DF set and larger than the egress MTU (fragmentation needed sent)
	DropFragOverlap // a fragment overlapping another of its datagram: the datagram is dropped
	DropFragTimeout // incomplete datagrams dropped after 30 s (counted per datagram)
	DropFragBudget  // incomplete datagrams dropped to keep a zone within its reassembly budget
	NumCounters
)

// firstDrop is the first drop reason.
const firstDrop = DropNoRoute

var counterNames = [NumCounters]string{
	Routed:          "routed",
	Masquerade:      "masquerade",
	DNAT:            "dnat",
	ARPReply:        "arp-reply",
	ARPSuppressed:   "arp-suppressed",
	EchoReply:       "echo-reply",
	DNSQuery:        "dns-query",
	ICMPSent:        "icmp-error-sent",
	ARPPending:      "arp-pending",
	Fragmented:      "fragmented",
	Reassembled:     "reassembled",
	MSSClamped:      "mss-clamped",
	GSOResized:      "gso-resized",
	RSTSent:         "rst-sent",
	DropNoRoute:     "drop-no-route",
	DropIsolation:   "drop-isolation",
	DropInternal:    "drop-internal",
	DropNATFull:     "drop-nat-full",
	DropNATNoPort:   "drop-nat-no-port",
	DropNATInvalid:  "drop-nat-invalid",
	DropUnresolved:  "drop-unresolved",
	DropTTL:         "drop-ttl-exceeded",
	DropMalformed:   "drop-malformed",
	DropNotIPv4:     "drop-not-ipv4",
	DropNotForUs:    "drop-not-for-us",
	DropFragment:    "drop-fragment",
	DropNoBuffer:    "drop-no-buffer",
	DropICC:         "drop-icc",
	DropTooBig:      "drop-too-big",
	DropFragOverlap: "drop-frag-overlap",
	DropFragTimeout: "drop-frag-timeout",
	DropFragBudget:  "drop-frag-budget",
}

// String returns the counter's name in `vswitchctl stats` (router section):
// "routed", "drop-isolation", ….
func (c Counter) String() string {
	if c < NumCounters {
		return counterNames[c]
	}
	return "unknown"
}

// IsDrop reports whether c counts dropped frames.
func (c Counter) IsDrop() bool { return c >= firstDrop && c < NumCounters }

// Reason returns a drop reason's name without the "drop-" prefix, as
// per-port drop listings show it next to the datapath's own reasons
// ("isolation", "no-route"); "" for counters that are not drops.
func (c Counter) Reason() string {
	if !c.IsDrop() {
		return ""
	}
	return counterNames[c][len("drop-"):]
}

// Counts is one worker's (or one port's) router counters.
type Counts [NumCounters]uint64

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Map returns the counters by name (Counter.String), zeros included.
func (c *Counts) Map() map[string]uint64 {
	m := make(map[string]uint64, NumCounters)
	for i, n := range c {
		m[counterNames[i]] = n
	}
	return m
}

// atomicCounts are counters shared by goroutines: the router's deferred
// counters, and the datapath's per-port totals.
type atomicCounts [NumCounters]atomic.Uint64

func (c *atomicCounts) inc(n Counter) { c[n].Add(1) }

func (c *atomicCounts) load() Counts {
	var out Counts
	for i := range c {
		out[i] = c[i].Load()
	}
	return out
}
