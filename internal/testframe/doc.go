// Package testframe builds the Ethernet frames vswitchd's tests feed to the
// code under test, with gopacket computing every length and checksum. Its
// entry points are the frame descriptions IPv4, IPv6 and ARP, whose Frame
// method returns the frame's bytes:
//
//	f := testframe.IPv4{
//		Eth: testframe.Eth{Src: macA, Dst: macB, Tags: []testframe.Tag{testframe.CTag(0, false, 10)}},
//		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:80"),
//		Proto: header.ProtoTCP, TCP: testframe.TCP{Flags: header.TCPFlagSYN, Seq: 1, Window: 64240},
//	}.Frame(t)
//
// Eth and Tag describe the link layer (802.1Q and 802.1ad tags, any
// number); TCP and ICMP the transport header (an ICMP error's Payload is
// the datagram it quotes, from Packet or Datagram); Ext an IPv6 extension
// header (HopByHop, DestOpts, Fragment). IPv4.Fragments splits a datagram
// in two.
// ARPRequest, ARPReply and Gratuitous describe ARP packets. Frames are
// padded to 60 bytes as a NIC pads them; slice an ARP frame to 42 bytes for
// one as a TAP carries it, or append to Eth.Header for an unpadded frame.
//
// For offloads, Partial turns a frame into the CHECKSUM_PARTIAL form Linux
// hands to a TAP, with the virtio-net header (Virtio) that says so, and the
// GSO fields of a super-frame. Locate finds a frame's headers, Datagram the
// IP datagram inside it; Payload, SYNOptions and TSOptions are common
// contents, Mutate and HW small conveniences.
//
// The package is for tests only and imports nothing of vswitchd, so that
// header's own tests can use it and its frames are an independent
// reference: a MAC is a [6]byte, which a header.MAC is assignable to.
package testframe
