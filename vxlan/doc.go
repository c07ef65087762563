// Package vxlan implements the vxlan port: RFC 7348 VXLAN encapsulation
// and decapsulation as a port.Port, interoperable with the Linux kernel's
// vxlan device and Open vSwitch's vxlan ports. The entry point is Open.
//
// # Model
//
// One Port serves one local UDP endpoint (default port 4789) and carries
// several overlay networks. Toward the datapath it behaves like an 802.1Q
// trunk: each network has a VLAN ID inside the switch and a VNI on the wire,
// set with SetNetworks (an immutable snapshot published through an atomic
// pointer). The datapath attaches the port in trunk mode with the networks'
// VLANs.
//
//   - Read (decapsulation) receives a batch of UDP datagrams with recvmmsg,
//     checks each VXLAN header (the I flag must be set; reserved bits are
//     ignored, RFC 7348 §5), maps the VNI to its VLAN, learns the inner
//     source MAC at the sending VTEP (the outer source address), and hands
//     the inner frame to the datapath with an 802.1Q tag of that VLAN
//     pushed after its MACs. The datagram is received into the caller's
//     buffer 4 bytes before the frame's place, so pushing the tag moves
//     only the 12 MAC bytes.
//   - Write (encapsulation) takes tagged frames, maps the VLAN to its VNI,
//     looks the inner destination MAC up in the remote table and sends the
//     frame to that VTEP; broadcast, multicast and unknown unicast frames
//     go to every peer of the network (head-end replication). An ordinary
//     frame is sent without copying: a message's first iovec holds the
//     VXLAN header and the inner MACs, the second the frame after its tag.
//     GSO super-frames and frames with a partial checksum are first cut
//     and checksummed with package offload; the segments of a super-frame
//     then leave in one sendmsg with UDP_SEGMENT (UDP GSO, one datagram per
//     segment made by the kernel), falling back to one datagram per
//     message if the kernel refuses it.
//
// Frames from one VTEP are never flooded to another by the datapath (the
// port is their ingress port), which is the split horizon a full mesh of
// head-end replication needs.
//
// # Outer headers and source ports
//
// The kernel builds the outer IP and UDP headers: the port sends through
// ordinary UDP sockets, so routing, neighbour resolution, the UDP checksum
// and checksum offload stay the kernel's. RFC 7348 §5 asks for a source
// port that is a hash of the inner flow, from 49152–65535, so that ECMP and
// RSS spread the overlay's flows. A UDP socket has one source port, so the
// port keeps a pool of sending sockets (Options.SourcePorts, 16 by
// default) bound to distinct ports of that range; a hash of the inner
// frame's flow (addresses, protocol and ports for IP, else MACs and
// EtherType) picks the socket. One flow always leaves from one port, and a
// batch is sent with one sendmmsg per socket it uses. The alternatives were
// a raw IPPROTO_UDP socket (any source port per datagram, but it needs
// CAP_NET_RAW, gets a clone of every UDP packet the host receives, and
// cannot use UDP GSO) and IP_PKTINFO, which sets the source address, not the
// port. The receiving socket, bound to the VXLAN port, sends nothing.
//
// Outer packets carry the don't-fragment bit (RFC 7348 §4.3: VTEPs MUST NOT
// fragment). Frames whose encapsulation would not fit the underlay MTU are
// dropped and counted as too-big; PayloadMTU is the MTU the overlay's
// interfaces should have. Received datagrams are not limited: a Linux VTEP
// without the DF bit may fragment, and the kernel reassembles.
//
// Receiving uses no UDP GRO: a coalesced message would hold several
// datagrams that must then be copied apart into the caller's buffers,
// while recvmmsg already amortises the system call. The inner TCP
// segments are coalesced into super-frames where that pays, at the TAP
// they are written to (offload.GRO in tap.Device.Write), which serves
// every port without offloads.
//
// # Checksums on a local underlay
//
// A UDP socket cannot tell whether the kernel completed a datagram's
// checksums. On a real link they are complete; but when the sending VTEP
// is on the same host, behind a veth with checksum offload on (the
// default), the kernel hands the Port inner frames whose L4 checksum is
// still to be filled, and TSO super-frames as single 64 KiB datagrams.
// Turn transmit checksum offload off on the sending side of such a veth
// (ethtool -K IF tx off). The same holds the other way round: a userspace
// VTEP on the same host, such as Open vSwitch's userspace datapath, needs it
// off on the Port's underlay veth, since the Port leaves its outer UDP
// checksums to the device.
//
// # Remote table
//
// The port learns, per VNI, which VTEP each inner source MAC lives behind,
// ages entries out (300 s by default, time from Options.Clock so tests need
// not sleep), bounds their number, and holds static entries. Datagrams are
// accepted only from a network's peers and the VTEPs of its static
// entries, unless Options.AcceptAnyVTEP is set (the Linux vxlan device's
// behaviour).
//
// Drops are counted per reason (DeviceDrops), traffic per VTEP
// (VTEPStats); nothing is logged per packet and, in steady state, nothing
// is allocated per frame.
package vxlan
