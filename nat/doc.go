// Package nat is vswitchd's connection tracker and NAT table: the
// userspace replacement for nf_conntrack and iptables MASQUERADE/DNAT. Its
// entry point is New, which returns a Table; the router calls
// Table.Lookup for every IPv4 packet and, when nothing matches,
// Table.Create with the action it chose, then Table.Apply to rewrite the
// frame in place.
//
// # Model
//
// A packet arrives in a zone: the domain it came from (a network, the
// uplink, the host leg). A connection (Conn) has an original tuple, keyed
// in the zone of the packet that created it, and a reply tuple, keyed in
// the reply zone; the reply tuple is the inverse of the translated
// original, so the answer to a masqueraded packet finds the connection
// under it. Both keys are (zone, protocol, addresses, ports); an ICMP echo
// key also holds the ICMP type, so an echo request from outside never
// matches the reply tuple of an echo sent from inside.
//
// Only IPv4 is supported: Create returns ErrUnsupported for IPv6 and for
// protocols other than TCP, UDP and ICMP echo.
//
// # Translation
//
// Apply rewrites addresses and ports and updates the IPv4 header checksum
// and the L4 checksum incrementally (RFC 1624 eqn. 3), using per-direction
// checksum deltas computed once when the connection is created. A frame
// whose L4 checksum is CHECKSUM_PARTIAL (virtio NEEDS_CSUM, GSO) carries
// the non-inverted pseudo-header sum instead: only address changes update
// it, port changes do not. A UDP checksum of 0 (none, RFC 768) stays 0, and
// a computed 0 is sent as 0xffff.
//
// ICMP errors (RFC 792: destination unreachable, including port
// unreachable and fragmentation needed (RFC 1191), time exceeded,
// parameter problem, source quench, redirect) that quote a packet of a
// tracked connection are related to it: Lookup finds the connection from
// the quoted header and returns a Dir with the Related bit, and Apply
// translates the outer destination (and the outer source when the error
// comes from the connection's peer itself), the quoted IPv4 header with its
// checksum, the quoted ports or echo identifier with the quoted L4
// checksum when it is present, and the ICMP checksum.
//
// IPv4 fragments are not tracked one by one: like Linux's nf_defrag_ipv4,
// the router reassembles them first with a Defrag (NewDefrag), in any
// order, refusing a datagram with overlapping fragments (RFC 5722's rule,
// which Linux applies to IPv4 too), within a per-zone memory budget
// (Linux's ipfrag_high_thresh, 4 MiB) and a 30 s timeout, and hands the
// whole datagram to Lookup, Create and Apply, so it is translated once.
// A non-first fragment given to the table itself matches nothing, and
// Create returns ErrFragment.
//
// # Connection states and timeouts
//
// TCP follows Linux's nf_conntrack_proto_tcp: its state table, SYN_SENT2
// included (a simultaneous open reaches ESTABLISHED), and its window
// tracking (tcp_in_window: RFC 793 acceptable sequence and ACK checks,
// window scaling per RFC 7323), so a segment outside the window — a blind
// RST or FIN injected from outside — is invalid: Apply refuses it, changes
// nothing and counts it. As in Linux since 6.1, a segment that is only
// stale (data below the window, a long-delayed ACK) passes and changes
// nothing, and one overshooting the window by less than the window passes
// (Linux's workaround for such TCPs). An RST before any reply ends the
// connection at once (the SYN was refused). An RST closes the connection only at the
// sequence the other side expects next; one elsewhere in the window
// leaves the state as it is (the endpoint answers it with a challenge ACK,
// RFC 5961). A bare ACK picks up a connection older than the table
// (nf_conntrack_tcp_loose, on unless Options.NoTCPLoose), with window
// checks relaxed until both sides were seen. A new SYN from the originator
// re-opens a connection in TIME_WAIT or CLOSE, windows reset. Timeouts are
// Linux's defaults. A connection is assured once traffic both ways went
// on (TCP: once ESTABLISHED after a reply; UDP: a packet after the first
// reply); ICMP echo connections are never assured, as in Linux. UDP lives 30 s unreplied and 120 s once
// replied; ICMP echo 30 s. Expired connections are removed lazily by
// Lookup and incrementally by Sweep.
//
// # Port allocation
//
// Masquerade keeps the source port when the resulting reply tuple is free
// (port preservation, RFC 4787 and, for TCP, RFC 5382); otherwise it tries
// ports from a seeded hash offset within the range, at most 128, then
// halves the attempts from a fresh offset while they are at least 16, like
// Linux's nf_nat_l4proto_unique_tuple. Mappings are endpoint-independent
// (RFC 4787 REQ-1, RFC 5382 REQ-1): a source that already has a mapping
// gets the same one toward every destination (Linux's
// find_appropriate_src), and a port another source is mapped to is not
// preserved for a new source, so two endpoints colliding on a source port
// each keep one mapping. When no port is found Create returns ErrNoPort; a
// reply tuple that is in use is never reused. An ICMP echo identifier is
// chosen the same way from 0–65535. When an action does not translate the source
// and the reply tuple clashes with another connection, the source port is
// remapped implicitly, as Linux does.
//
// # Limits and concurrency
//
// The table holds at most Options.MaxEntries connections, and one
// endpoint (a source address in a zone) opens at most
// Options.MaxPerEndpoint of them (a quarter of the table by default). An
// endpoint at its limit evicts its own oldest evictable connection —
// expired, closing (TCP FIN_WAIT to CLOSE), or not assured — and gets
// ErrEndpointLimit when it has none. The last Options.Reserve entries (an
// eighth) are kept for endpoints holding fewer than that: a heavier one
// evicts its own first there too. A full table evicts the oldest evictable
// connection of the endpoint holding the most, else one found near the new
// connection's hash (early drop), so established flows and other endpoints
// survive a flood; if it finds none Create returns ErrTableFull.
//
// Assured means traffic both ways that went on after the first reply: TCP
// once ESTABLISHED after a reply; UDP once a packet follows the first
// reply (Linux's stream). A request answered once keeps the replied
// timeout (120 s, RFC 4787 REQ-5) but stays evictable.
//
// A Table is safe for concurrent use by any number of goroutines. The
// index is split into 256 shards by a seeded hash, each an open-addressing
// table (linear probing, 16-byte slots) that Lookup reads without locking
// under a per-shard sequence counter, while Create and removals take the
// shard mutexes; connection state, expiry and counters are atomics (a TCP
// connection's window state has its own mutex, held for one segment), so
// Lookup and Apply write nothing shared but the connection itself. Time is passed in as now, monotonic nanoseconds
// from any fixed origin (for example time.Since(start)); the package starts
// no goroutines and makes no system calls. No per-packet errors are
// logged: every drop reason is a counter in Stats.
package nat
