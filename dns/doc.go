// Package dns is the name service the switch answers at each network's
// gateway address, the vswitchd counterpart of Docker's embedded DNS server
// (127.0.0.11), served at the gateway without DNAT.
//
// The entry point is New, which returns a Server. The control plane tells it
// the names each scope sees — a network, or an endpoint attached to several —
// with SetNetwork, each scope's options with SetNetworkOptions, and drops a
// scope with RemoveNetwork; SetHost gives the host's address, SetUpstreams
// the resolvers to forward to (see UpstreamsFromResolvConf). The router
// hands it each UDP query addressed to a gateway with ServeUDP, which never
// blocks on the network; TCP queries reach a real listener of the daemon
// whose miekg dns.Handler comes from Handler. Messages are parsed and built
// with github.com/miekg/dns.
//
// # Answer rules
//
// Names compare case-insensitively (RFC 4343); answers keep the case of the
// question. The zone apexes are every scope name, every Record.Network,
// "vswitchd.internal." and "docker.internal.". A query is answered from the
// first rule that matches:
//
//  1. A message whose header cannot be read (shorter than the 12-byte header
//     of RFC 1035 §4.1.1), or that is itself a response (QR set), is dropped:
//     answering a response would let one spoofed packet loop between two
//     gateways. A message that cannot be unpacked, or that does not hold
//     exactly one question, gets FORMERR (RFC 1035 §4.1.1); more than one OPT
//     record also gets FORMERR and an EDNS version other than 0 gets BADVERS
//     (RFC 6891 §6.1.1, §6.1.3). An opcode other than QUERY gets NOTIMP.
//  2. A query from no scope ("" from Handler's networkOf, or passed to
//     ServeUDP) gets REFUSED.
//  3. A local name gets an authoritative (AA) answer with Options.TTL. The
//     local names of a scope are the Name of each of its Records and, for a
//     Record with a Network, "Name.Network" too (unless Name already ends in
//     ".Network"): endpoint names and aliases alike, as Docker. A name that
//     Records of several networks share answers with the Records of the
//     first of those networks in Record order (an endpoint on several
//     networks sees its first network's "db"; "db.NET2" still reaches the
//     other). HostName and DockerHostName are local in every scope once
//     SetHost gave an address, GatewayName in a scope whose
//     NetworkOptions.Gateway is set. A name with several records (an alias
//     shared by endpoints) gets all their addresses. IPv4 addresses answer
//     A, IPv6 addresses AAAA; any other type, or a family the name has no
//     address of, gets NOERROR with no answer (NODATA, RFC 2308 §2.2).
//  4. A reverse name (RFC 1035 §3.5, RFC 3596 §2.5) of a local address gets
//     one PTR record, the address's canonical name, as Docker: that of the
//     first Record with the address ("NAME.NETWORK" when the Record has a
//     Network, else its Name), so callers pass an endpoint's own name before
//     its aliases. The scope's gateway address names GatewayName and the
//     host's HostName. Other types get NODATA.
//  5. A zone apex gets its SOA for type SOA, and NODATA for other types.
//  6. NXDOMAIN, authoritative: every other name under a zone apex. A scope
//     therefore sees only its own networks' records: another network's
//     "NAME.NETWORK" is NXDOMAIN like any unknown local name. A network
//     named like a real top-level domain shadows it for every scope.
//  7. In a scope with NetworkOptions.NoForward, any other name gets REFUSED
//     at once, without a packet to an upstream or a look at the cache, and
//     the scope's answers have RA clear. REFUSED is the policy refusal of
//     RFC 1035 §4.1.1: unlike NXDOMAIN it claims nothing about the name and
//     is not cached as its absence (RFC 2308, RFC 8020), and unlike
//     SERVFAIL it does not invite retries. This is how an --internal
//     network's endpoints are kept from reaching anything outside the
//     switch through DNS (Docker's fix for CVE-2024-29018).
//  8. Any other name — single-label names too, as Docker, since an upstream
//     may know them — is answered from the cache of forwarded answers
//     (below) or forwarded, unchanged but for a fresh random ID, to every
//     upstream in parallel over UDP, retried over TCP with the same upstream
//     when the answer is truncated (RFC 1035 §4.2.2). The first NOERROR or
//     NXDOMAIN answer whose question matches wins, is cached, and gets the
//     client's ID and question; SERVFAIL, REFUSED and other codes from one
//     upstream wait for the others. When every upstream answers REFUSED the
//     client gets REFUSED as soon as the last one does. No good answer within
//     Options.Timeout, no upstream, more than Options.MaxInflight forwarded
//     queries, or a closed server: SERVFAIL at once, never a hang.
//     Forwarding to all upstreams at once avoids the sequential 2 s+ stalls
//     of Docker's resolver (moby/moby#20335).
//
// Forwarded queries leave from up to 64 connected UDP sockets per upstream
// (dnsmasq's pool of random-port sockets), each with a port the kernel picks
// at random; each query takes a random socket of each upstream and a random
// ID unused on it (RFC 5452 §9.2). The kernel drops datagrams to a connected
// socket from any other address than the upstream's; an answer is taken only
// if its ID is that of a query waiting on the socket, QR is set and its
// question is the query's (or absent, as some servers fail or refuse).
// Anything else — a forged or late answer — is dropped and counted
// (Stats.Unmatched) and the query goes on waiting. A socket is retired after
// 1000 queries or 10 s, so its port changes under steady load too, and
// closed once no query waits on it. An ICMP error (port, host or network
// unreachable) for an upstream fails the queries waiting on that socket at
// once.
//
// The NXDOMAIN and NODATA answers of rules 3 to 6 carry in their authority
// section the SOA of the closest zone apex at or above the name (RFC 2308
// §3); a name under no apex (a single label, a reverse name) is its own.
// Its MNAME is the apex, its RNAME "nobody.invalid." and its timers those of
// RFC 6303 §3; its serial changes whenever names change, and its TTL and
// MINIMUM are 5 s, so resolvers cache a negative answer for 5 s at most
// (RFC 2308 §5): names change live, and SetNetwork takes effect for the
// next query.
//
// # Cache
//
// Forwarded answers are cached by question name (lower case), type, class
// and the DO (RFC 3225) and CD (RFC 4035 §3.2.2) bits, not by scope, up to
// Options.CacheSize entries, the least recently used making room. A positive
// answer, one with a record of the type asked, is cached for the smallest
// TTL of its answer records (RFC 2181 §5.2), at most a day. A negative
// answer, NXDOMAIN or NODATA, is cached for the smallest of its SOA's TTL,
// its SOA's MINIMUM (RFC 2308 §5) and the TTLs of its answer records (a
// CNAME chain), at most an hour; without an SOA it is not cached. A TTL with
// the top bit set counts as 0 (RFC 2181 §8), and a TTL of 0, a truncated
// answer, an answer larger than 4096 bytes, REFUSED and SERVFAIL are not
// cached. An answer from the cache is the upstream's with the client's ID,
// RD bit and question case, each TTL capped at the entry's lifetime and
// less the whole seconds it has been cached, and an OPT record as below.
//
// Over UDP an answer larger than 512 bytes, or the client's EDNS0 payload
// size (RFC 6891 §6.2.3, §6.2.5) capped at Options.MaxUDPSize, is truncated
// and has TC set (RFC 1035 §4.2.1, RFC 2181 §9) so that the client retries
// over TCP. A query with an OPT record gets one back advertising
// Options.MaxUDPSize with the client's DO bit (RFC 6891 §7, RFC 3225 §3).
// Recursion is available (RA) while there are upstreams, except to a
// NoForward scope.
//
// # Concurrency
//
// All methods are safe for concurrent use. Names are an immutable snapshot
// replaced whole (atomic.Pointer), so lookups take no lock. The cache's
// entries never change once stored; one mutex guards its index and LRU
// order, held for a map look-up and a list move. Forwarded queries share
// long-lived sockets, each read by one goroutine owned by the Server, and
// one mutex that guards their pending queries; the answer to a forwarded
// query is delivered from a reader (or a timer, or a TCP retry's goroutine).
// Close answers the queries in flight SERVFAIL, closes the sockets and waits
// until their goroutines have returned.
package dns
