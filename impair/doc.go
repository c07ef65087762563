// Package impair emulates bad links inside the switch, as Linux netem does
// on a qdisc: delay, jitter, loss, duplication, corruption, reordering and a
// rate limit, per port and per direction, changed while traffic flows.
//
// The entry point is New, which wraps a port.Port in a Port — a decorator
// implementing the same interface, as gVisor's link/sniffer and link/nested
// wrap an endpoint. Port.Set changes one direction's Settings (Out, frames
// the switch writes to the port, toward the endpoint; In, frames it reads
// from the port) with a partial Update; Port.Reset removes them;
// Port.Settings, Port.Show and Settings.String print them as `tc qdisc
// show` prints netem ("delay 50ms 5ms loss 1% rate 10Mbit"); Port.Stats and
// Port.DeviceDrops count what was done. ParseUpdate reads tc-style
// arguments and Update.SetFlag command-line flags, with ParseDuration,
// ParsePercent, ParseRate and ParseSize for the values (tc's units).
//
// The decisions are made by an Engine: pure logic with the time passed in
// and a seeded random source, no goroutines, which also holds the delayed
// frames in the order they are due. Port adds the buffers, the clock and
// the goroutines.
//
// # Semantics, compared with netem
//
//	setting      netem                                 impair
//	delay D J    uniform in [D-J, D+J) by default;     uniform in [D-J, D+J] (Uniform) or D + J·N(0,1)
//	             a negative delay sends at once          clamped to ±4J (Normal); a negative delay is 0
//	jitter       reorders frames (time-sorted queue),  the same: with jitter and no rate, frames may
//	             unless a rate is set                    overtake each other; with a rate, order is kept
//	loss P       per packet; with duplicate, the       per frame, first: a lost frame is not duplicated
//	             copies are lost independently
//	duplicate P  the copy re-enters netem (its own     the copy gets its own jitter, reorder and
//	             delay, corruption and loss)             corruption draws, not its own loss
//	corrupt P    one random bit of the packet; a       one bit after the Ethernet header and VLAN tags;
//	             partial checksum is completed first;    a partial checksum is completed first; a GSO
//	             GSO packets are segmented first         super-frame is segmented first (see below)
//	reorder P    "reorder P gap N": after N-1 delayed  the same, counted per copy; needs a delay, as tc
//	  gap N      packets, each is sent at once with      insists; a reordered frame still pays its bytes
//	             probability P; not rate limited         to the rate limit, so later frames wait for them
//	rate R       serialisation: each packet leaves     token bucket of Burst bytes (0: no burst, frames
//	             len/R after the previous one            leave len/R apart as in netem; an idle link lets
//	                                                     the first one go at once, netem holds it len/R)
//	limit N      packets queued; more are dropped      frames held; more are dropped (impair-queue-full)
//	seed S       reproducible random decisions         the same; 0 picks a random seed, shown afterwards
//	correlation, loss models (gemodel, state), slot, ECN, pareto tables: not supported
//
// Order of decisions for each frame: loss; duplication; the queue limit,
// when a delay, jitter or rate is set (a copy arriving while Limit frames
// are held is dropped, as netem checks its limit); then, per copy, reorder
// or delay (with jitter) followed by the rate limit; then corruption. Delay
// and rate compose as in netem: a frame becomes eligible after its delay,
// then waits in first-in first-out order for the token bucket, so with a
// rate set frames never overtake each other. Without jitter or rate, a
// constant delay keeps the order too.
//
// Offloaded frames. A GSO super-frame (a virtio-net header with a GSO type)
// counts its real bytes on the wire for the rate limit: its payload cut
// into gso_size segments, each with a copy of the headers (WireBytes). It is
// lost, duplicated and corrupted as a unit — one decision, one draw. When it
// is corrupted it is split into its segments first (offload.Segment) and one
// bit of one segment is flipped, as netem segments a GSO packet before
// corrupting it: a super-frame's checksums are computed by whoever segments
// it, after the damage, so a receiver would never notice a bit flipped in
// the super-frame itself. The corrupted frame leaves as segments.
//
// Time and order. Frames due at once are written by the caller of Write
// without a copy (unless corrupted). Delayed frames are copied into buffers
// of a bounded pool sized to them (Write and Read may not keep the caller's
// buffers), held by the Engine, and written in batches by the Out
// releaser goroutine at their due time. In frames are read by a pump
// goroutine while In impairments are set, and Read returns them when they
// are due. Frames already held when settings change keep their due times.
// A Port with no impairment passes every call straight to the inner port
// after one atomic load, and allocates nothing.
//
// Directions are seen from the switch, as netem on the host side of a
// veth: Out impairs what the endpoint receives, In what it sends.
package impair
