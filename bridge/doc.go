// Package bridge implements the learning bridge's MAC table (forwarding
// database): it maps a (VLAN ID, MAC address) pair to the port the address
// was last seen on, ages dynamic entries out, holds static entries, bounds
// learning per port and in total, and decides for each frame whether to
// forward it to one port, flood it or drop it.
//
// The entry point is New, which returns a *Table. The datapath makes one
// call per frame, (*Table).Forward, which learns the source address on the
// ingress port and looks up the destination. The control plane adds static
// entries, flushes, sweeps expired entries with Age and lists the table with
// Entries.
//
// # Semantics
//
// Learning is keyed on (VID, source MAC). Multicast, broadcast and all-zero
// source addresses are never learned. A MAC seen on another port moves
// there. A port holding PortLimit dynamic entries learns no new address:
// the frame is still forwarded and replies to it flood; if the address was
// known on another port, that entry is removed, being wrong now. When the
// table holds Capacity dynamic entries, learning a new address evicts one,
// as Open vSwitch does: the least recently seen entry of the port with the
// most entries. Ties go to the lowest port number among equally busy ports,
// then to the lowest (VID, MAC) among entries seen at the same time. Before
// evicting a live entry, or refusing one at a port's limit, the table
// reclaims the least recently seen expired entry if there is one, so
// expired entries never cost a live address its place.
//
// Expired dynamic entries count as absent for Lookup, Forward and Entries,
// but stay stored (in Len and Stats.Entries, and removable by Delete and the
// Flush variants) until Age sweeps them or learning reclaims them.
//
// # Time
//
// Time is passed in as int64 nanoseconds on a monotonic clock the caller
// chooses; the datapath passes a coarse one. Last-seen times are stored
// floored to the millisecond, and a frame from a known address records its
// time only if the stored one is at least RefreshInterval old (AgingTime/8,
// at most 1 s; Open vSwitch keeps MAC ages to the second). So a dynamic
// entry expires between AgingTime − RefreshInterval − 1 ms and AgingTime
// after the last frame from its address, and a steady stream of frames from
// a known address writes nothing at all.
//
// # Concurrency
//
// A Table is safe for concurrent use. The hash table is split into shards,
// each an open-addressing array of 16-byte slots guarded by a seqlock:
// Lookup, Forward and Learn of a known, recently seen address take no lock
// and write no shared memory, so forwarding goroutines never contend. All
// writers (learning a new address, a move, a refresh, every control-plane
// call) serialise on one mutex. Bulk operations take it for one shard at a
// time and rebuild a shard's array out of place, so they hold up neither
// learning for long nor lookups at all.
package bridge
