package router

import "sync/atomic"

type stat uint8

const (
	statRouted         stat = iota // forwarded between interfaces
	statMasquerade                 // new connections masqueraded to the uplink
	statDNAT                       // new connections to published ports
	statARPReply                   // ARP requests for router addresses answered
	statARPSuppressed              // ARP requests for endpoint addresses answered by the switch
	statEchoReply                  // ICMP echo requests to router addresses answered
	statDNSQuery                   // DNS queries over UDP to gateways
	statICMPSent                   // ICMP errors sent (time exceeded, unreachable)
	statNoRoute                    // drop: no route, or nothing at the destination
	statIsolation                  // drop: destination in another network
	statInternal                   // drop: --internal network tried to leave
	statNATFull                    // drop: conntrack table full
	statNATNoPort                  // drop: no free masquerade port
	statNATInvalid                 // drop: untrackable or invalid for its connection
	statUnresolved                 // frames held while the next hop is resolved
	statUnresolvedDrop             // drop: next hop did not answer, or queue full
	statTTLExceeded                // drop: TTL expired (time exceeded sent)
	statMalformed                  // drop: bad ARP or IP header
	statNotIPv4                    // drop: neither ARP nor IPv4
	statNotForUs                   // drop: to a router address, no service there
	statFragment                   // drop: fragment to a router address
	statNoBuffer                   // drop: no spare buffer for a generated frame
	numStats
)

var statNames = [numStats]string{
	statRouted:         "routed",
	statMasquerade:     "masquerade",
	statDNAT:           "dnat",
	statARPReply:       "arp-reply",
	statARPSuppressed:  "arp-suppressed",
	statEchoReply:      "echo-reply",
	statDNSQuery:       "dns-query",
	statICMPSent:       "icmp-error-sent",
	statNoRoute:        "drop-no-route",
	statIsolation:      "drop-isolation",
	statInternal:       "drop-internal",
	statNATFull:        "drop-nat-full",
	statNATNoPort:      "drop-nat-no-port",
	statNATInvalid:     "drop-nat-invalid",
	statUnresolved:     "arp-pending",
	statUnresolvedDrop: "drop-unresolved",
	statTTLExceeded:    "drop-ttl-exceeded",
	statMalformed:      "drop-malformed",
	statNotIPv4:        "drop-not-ipv4",
	statNotForUs:       "drop-not-for-us",
	statFragment:       "drop-fragment",
	statNoBuffer:       "drop-no-buffer",
}

type counters [numStats]atomic.Uint64

func (c *counters) inc(s stat) { c[s].Add(1) }

// Stats returns the router's counters by name (see `vswitchctl stats`).
func (r *Router) Stats() map[string]uint64 {
	m := make(map[string]uint64, numStats)
	for i := range r.stats {
		m[statNames[i]] = r.stats[i].Load()
	}
	return m
}
