// Package dns is the name service the switch answers at each network's
// gateway address, the vswitchd counterpart of Docker's embedded DNS server
// (127.0.0.11), served at the gateway without DNAT.
//
// The entry point is New, which returns a Server. The control plane tells it
// the names each network sees with SetNetwork, RemoveNetwork and SetHost, and
// the resolvers to forward to with SetUpstreams (see UpstreamsFromResolvConf).
// The router hands it each UDP query addressed to a gateway with ServeUDP,
// which never blocks on the network; TCP queries reach a real listener of the
// daemon whose miekg dns.Handler comes from Handler. Messages are parsed and
// built with github.com/miekg/dns.
//
// # Answer rules
//
// Names compare case-insensitively (RFC 4343); answers keep the case of the
// question. A query is answered from the first rule that matches:
//
//  1. A message whose header cannot be read (shorter than the 12-byte header
//     of RFC 1035 §4.1.1), or that is itself a response (QR set), is dropped:
//     answering a response would let one spoofed packet loop between two
//     gateways. A message that cannot be unpacked, or that does not hold
//     exactly one question, gets FORMERR (RFC 1035 §4.1.1); more than one OPT
//     record also gets FORMERR and an EDNS version other than 0 gets BADVERS
//     (RFC 6891 §6.1.1, §6.1.3). An opcode other than QUERY gets NOTIMP.
//  2. A query from no network ("" from Handler's networkOf, or passed to
//     ServeUDP) gets REFUSED.
//  3. A local name gets an authoritative (AA) answer with Options.TTL:
//     every Record of the query's network (endpoint names, aliases,
//     "NAME.NETWORK") and host.vswitchd.internal when SetHost gave it an
//     address. A name with several records (an alias shared by endpoints)
//     gets all its addresses. IPv4 addresses answer A, IPv6 addresses AAAA;
//     any other type, or a family the name has no address of, gets NOERROR
//     with no answer (NODATA, RFC 2308 §2.2) and is never forwarded.
//  4. A reverse name (RFC 1035 §3.5, RFC 3596 §2.5) of a local address gets
//     PTR records naming every Record with that address, in Record order, so
//     callers list an endpoint's own name first.
//  5. NXDOMAIN, authoritative and never forwarded: every other single-label
//     name, and every name at or under "NETWORK." for any network the server
//     knows or under "vswitchd.internal.". A network therefore sees only its
//     own records: another network's "NAME.NETWORK" is NXDOMAIN like any
//     unknown local name. A network named like a real top-level domain
//     shadows it for every network.
//  6. Any other name is forwarded, unchanged but for a fresh random ID, to
//     every upstream in parallel over UDP, retried over TCP with the same
//     upstream when the answer is truncated (RFC 1035 §4.2.2). The first
//     NOERROR or NXDOMAIN answer whose question matches wins and gets the
//     client's ID; SERVFAIL, REFUSED and other codes from one upstream wait
//     for the others. No good answer within Options.Timeout, no upstream, more
//     than Options.MaxInflight forwarded queries, or a closed server: SERVFAIL
//     at once, never a hang. Forwarding all upstreams at once avoids the
//     sequential 2 s+ stalls of Docker's resolver (moby/moby#20335).
//
// Over UDP an answer larger than 512 bytes, or the client's EDNS0 payload
// size (RFC 6891 §6.2.3, §6.2.5) capped at Options.MaxUDPSize, is truncated
// and has TC set (RFC 1035 §4.2.1, RFC 2181 §9) so that the client retries
// over TCP. A query with an OPT record gets one back advertising
// Options.MaxUDPSize with the client's DO bit (RFC 6891 §7, RFC 3225 §3).
// Recursion is available (RA) while there are upstreams.
//
// Answers carry no SOA, so negative answers are not cached downstream
// (RFC 2308 §5); names change live, and SetNetwork takes effect for the next
// query.
//
// # Concurrency
//
// All methods are safe for concurrent use. Names are an immutable snapshot
// replaced whole (atomic.Pointer), so lookups take no lock. Each forwarded
// query runs one goroutine per upstream, owned by the Server; Close cancels
// them, answers their queries SERVFAIL and waits until they have returned.
package dns
