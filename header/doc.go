// Package header provides zero-copy views of the packet headers vswitchd
// forwards (Ethernet, 802.1Q, ARP, IPv4, IPv6, TCP, UDP, ICMPv4 and the
// virtio-net offload header), the MAC address type, Internet checksums and
// Parsed, the per-frame summary filled once by Decode.
//
// Each header is a named byte slice: methods read and write fields at fixed
// offsets, IsValid reports whether the slice is long enough and well formed,
// and Encode builds a header from a Fields struct. Nothing here allocates, so
// the datapath can decode and rewrite frames in place. The entry point for
// the forwarding path is (*Parsed).Decode.
package header
