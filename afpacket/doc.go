// Package afpacket implements the system port: an existing interface (a
// veth, a physical NIC) attached to the switch through an AF_PACKET socket.
//
// The socket is bound to one interface for all protocols and joined to the
// Go netpoller. Read blocks once, then drains the socket with recvmmsg;
// Write sends a batch with sendmmsg. Both reuse message headers made once
// per port, so a batch allocates nothing.
//
// Three things the kernel does to an AF_PACKET socket are undone here:
//
//   - Frames leaving the interface (sent by this port, another socket or the
//     host's stack) are not ingress traffic. PACKET_IGNORE_OUTGOING and a
//     classic BPF filter on the packet type (as Open vSwitch does) keep them
//     out of Read.
//   - The kernel moves the outer VLAN tag of a received frame into the
//     packet's auxiliary data (PACKET_AUXDATA). Read puts it back, with its
//     TPID (802.1Q 0x8100 or 802.1ad 0x88a8), so trunks work. Read guesses
//     from the previous batch whether frames will be tagged and reads them
//     4 bytes late if so; the tag is then inserted by moving the MACs and
//     the virtio header, not the frame.
//   - With PACKET_VNET_HDR the kernel passes TCP/UDP super-frames and
//     partial checksums with a struct virtio_net_hdr instead of 64 KiB
//     frames with no metadata; Read puts that header where port.Port wants
//     it, shifted by 4 when a tag was re-inserted, and Write hands it back to
//     the kernel, which segments and checksums. If the option cannot be set,
//     Read builds the header itself from the auxdata and Write completes
//     checksums and segments in software with package offload.
//
// The entry point is Open.
package afpacket
