// Package offload completes in software the work a virtio-net header leaves
// to the device, for ports that cannot carry offloaded frames: AF_PACKET
// without PACKET_VNET_HDR, VXLAN, in-memory test ports.
//
// A frame read from a TAP with IFF_VNET_HDR may be CHECKSUM_PARTIAL
// (VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum field holds only the
// pseudo-header sum) and may be a GSO super-frame of up to 64 KiB that the
// receiver is expected to cut into MSS-sized segments. Finish completes the
// checksum of a partial frame in place. Segment, the entry point, turns any
// frame and its virtio header into frames a plain device accepts: a
// super-frame (TCPv4, TCPv6, UDP_L4) becomes one frame per segment, each
// with its own headers and a full checksum; any other frame is copied, its
// checksum finished. MaxSegments tells the caller how many output buffers
// Segment needs.
//
// The segmentation follows Linux tcp_gso_segment and __udp_gso_segment, as
// wireguard-go gsoSplit and Open vSwitch dp_packet_gso do: the Ethernet,
// VLAN, IP and L4 headers are copied to every segment; IPv4 total length,
// identification (+1 per segment) and header checksum, IPv6 payload length,
// the TCP sequence number and the UDP length are rewritten; FIN and PSH stay
// only on the last TCP segment and CWR only on the first. Nothing here
// allocates, and errors are sentinels, so the datapath can count them per
// frame without logging.
package offload
