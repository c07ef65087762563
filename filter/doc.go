// Package filter compiles tcpdump filter expressions (pcap-filter(7)) to
// classic BPF for Ethernet frames and runs them in Go, for
// "vswitchctl capture --filter" and "trace --live --filter".
//
// The entry point is Compile. (*Filter).Match tests one frame, without
// allocating, from any number of goroutines. Program and Raw give the
// instructions (for x/net/bpf's VM, or SO_ATTACH_FILTER on an AF_PACKET
// socket) and String prints them as tcpdump -d does.
//
// The programs make the tests libpcap makes for DLT_EN10MB, at the same
// offsets, and the code generator removes what libpcap's optimizer
// removes in the common cases (reloads, tests an earlier one decided,
// tests whose outcome cannot matter), so tcpdump -d and String read
// alike. Tests compile expressions with tcpdump too and check that both
// programs give the same verdict on frames that include VLAN-tagged,
// fragmented and truncated ones. As in any BPF program, a load past the
// end of a frame drops it, even under "not": "not ip" does not match a
// 10-byte frame. On a frame too short for a field the expression reads,
// the verdict can therefore depend on whether an optimizer proved that
// field irrelevant, and in a few such cases libpcap's per-branch choices
// differ from this package's; for whole headers the two agree.
//
// # Supported
//
//   - Protocols: ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp,
//     igrp, pim, vrrp, carp, ah, esp. tcp, udp, sctp, pim, ah and esp mean
//     IPv4 or IPv6 (over IPv6, directly or after one fragment header).
//   - host, net (A.B.C.D/len, A.B.C.D mask M, abbreviated "net 10",
//     IPv6 prefixes), port, portrange A-B, with src, dst, "src or dst",
//     "src and dst" and the protocol qualifiers ip, ip6, arp, rarp, tcp,
//     udp, sctp. Without a qualifier an IPv4 host or net also matches ARP
//     and RARP sender and target addresses.
//   - proto N, ip proto N, ip6 proto N, ether proto N (N a number or a
//     name; the backslash of "proto \tcp" is optional).
//   - ether host|src|dst MAC (aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff,
//     aabbccddeeff), ether/ip broadcast, ether/ip/ip6 multicast.
//   - vlan [ID]: the frame carries an 802.1Q, 802.1ad or 0x9100 tag (with
//     that VLAN ID), and every primitive after it in the expression looks
//     inside the tag: "vlan 10 and vlan 20 and tcp" is a QinQ frame with
//     outer VLAN 10, inner 20, carrying TCP. As in libpcap this counts
//     vlan keywords in order, whatever and/or/not surround them.
//   - less N, greater N, len; proto[expr], proto[expr:size] with size 1, 2
//     or 4 for ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp,
//     igrp, pim, vrrp, carp; + - * / % & | ^ << >> and unary minus, with
//     libpcap's precedence; > >= < <= = == !=; the constants tcpflags,
//     tcp-syn…, icmptype, icmp-echo…, icmp6type, icmp6-echo….
//   - and/&&, or/||, not/!, parentheses, and libpcap's repetition: an id
//     after and/or/not keeps the last qualifiers ("host a or b",
//     "tcp port 80 or 443").
//
// Ports and transport-header bytes (tcp[…]) follow libpcap: over IPv4 they
// are seen only in first fragments, past the IPv4 header's own length;
// over IPv6 only when the next header is the transport (no extension-
// header walk). tcp[…] and the other transport indexes are IPv4 only.
//
// Port names are a fixed set of about forty (ftp, ssh, telnet, smtp,
// domain, bootps, bootpc, tftp, http, ntp, snmp, bgp, ldap, https, syslog,
// imaps, mysql, postgresql, mdns…), each standing for its number on TCP,
// UDP and SCTP alike; libpcap reads /etc/services instead, which on Debian
// lists some of them (http, ssh) for TCP only. Protocol and EtherType
// names are fixed sets too. Host and network names are never resolved: a
// filter means the same on every machine, and compiling one does no I/O.
//
// "ip broadcast" is dst 255.255.255.255 or 0.0.0.0: the switch knows no
// netmask, and tcpdump without one does the same.
//
// # Not supported
//
// Name lookups (host example.com, gateway, ether host from /etc/ethers,
// net names); protochain (an IPv6 extension-header loop); other link types
// and what only they carry (wlan, fddi, atm, llc subtypes, iso, decnet,
// ipx, atalk, stp, netbeui…); mpls, pppoed/pppoes, geneve, vxlan; capture
// metadata (inbound, outbound, ifindex, ifname); byte (use ether[N]).
// Each gives a one-line error naming the position of the offending token.
//
// One difference from libpcap 1.10 is deliberate: libpcap drops the
// protocol check of the right operand of an arithmetic operator, so that
// "ip[0] - tcp[12] > 0" reads tcp[12] from any IPv4 packet; here every
// load keeps its check. Some expressions libpcap accepts are refused as
// the mistakes they are, such as "ip proto 300"; and one libpcap refuses
// because it can match nothing ("udp and icmp") compiles here to a program
// that drops every frame.
package filter
