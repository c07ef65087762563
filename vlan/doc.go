// Package vlan implements the per-port 802.1Q/802.1ad VLAN policy of the
// switch, with Open vSwitch semantics (ovs-vswitchd.conf.db(5), Port table:
// vlan_mode, tag, trunks, cvlans), and pushes and pops VLAN tags in place.
//
// The entry point is Policy. On ingress the datapath calls
// (*Policy).Ingress with the decoded frame; if the frame is accepted and
// Ingress.Pop is set it removes the outer tag with Pop (and updates its
// header.Parsed with PopParsed). Inside the switch every frame is then
// untagged at the outer level and carries a Meta: its VLAN, the priority
// bits of the tag it arrived with, whether that VLAN is a service VLAN, and
// the VID of a customer tag left inside the frame.
// On egress the datapath calls (*Policy).Egress with the Meta once per
// destination port and, when told, inserts a tag with Push.
//
// # Port modes
//
// The modes are those of Open vSwitch. Where the table says "untagged" it
// includes priority-tagged frames: a 0x8100 or 0x88a8 tag with the null VID
// 0 (IEEE 802.1Q-2018 §9.6, table 9-2), whose tag is popped and whose PCP
// and DEI are kept in Meta.TCI.
//
//	mode             ingress                                 egress (Meta.VID v)
//	access           untagged → VID; tagged → drop           v == VID, untagged
//	trunk            tag with v in Trunks → v, popped;       v in Trunks, tagged
//	                 untagged → drop
//	native-untagged  trunk, plus untagged → VID              trunk, but v == VID untagged
//	native-tagged    trunk, plus untagged → VID              trunk (VID tagged too)
//	dot1q-tunnel     untagged or 0x8100 tag with C-VID in    v == VID and C-VID (if
//	                 CVLANs → VID as service VLAN, frame      any) in CVLANs, frame
//	                 kept whole; 0x88a8 tag → drop            as is
//
// An empty Trunks or CVLANs allows every VLAN, and native-* ports always
// carry their native VLAN. This is acceptable-frame-type and ingress
// filtering (IEEE 802.1Q-2018 §6.9, §8.6.2) and the member and untagged
// sets of egress (§8.6.4, §8.8.2). A dot1q-tunnel port is the port-based
// service interface of a provider bridge (802.1Q-2018 clause 15): the
// customer's own tag, if any, stays in the frame as payload; trunk egress
// later adds the service tag with TPID 0x88a8 (Table 9-1, S-TAG).
//
// Decisions where Open vSwitch is ambiguous or differs:
//
//   - vswitchd has no VLAN 0. A trunk port drops untagged frames (OVS would
//     put them in VLAN 0), and VLAN lists hold 1–4094 only.
//   - The outer tag's TPID decides Meta.QinQ: 0x88a8 makes it a service
//     VLAN that trunks tag with 0x88a8 again, as OVS keeps the TPID. Frames
//     from dot1q-tunnel ports are always QinQ (OVS qinq-ethtype 802.1ad,
//     the default) with PCP 0, as in OVS.
//   - Only 0x8100 and 0x88a8 are tags here. A frame whose outer TPID is the
//     pre-standard 0x9100 is dropped on every port.
//   - A priority tag followed by another tag is dropped on every port:
//     popping it would expose the inner tag, the classic double-tagging
//     VLAN-hopping attack (and on a dot1q-tunnel port it would slip a
//     customer VLAN past CVLANs). OVS accepts such frames. A tag with the
//     reserved VID 4095 is dropped too.
//   - A dot1q-tunnel port drops frames with an 802.1ad outer tag (OVS takes
//     any outer tag as the customer VLAN). It accepts untagged and
//     priority-tagged customer frames even when CVLANs is set (OVS drops
//     them unless cvlans lists 0, which a Set cannot hold).
//   - Frames that carry a customer tag inside (Meta.CVID != 0) do not leave
//     access ports, and leave dot1q-tunnel ports only for a C-VID in CVLANs,
//     as in OVS with vlan-limit 2.
//   - Untagged egress never emits priority tags (OVS priority-tags=false).
//
// # Tags in place
//
// Frames live in port buffers: the frame at buf[start:], its virtio-net
// header at buf[start-header.VirtioNetLen:start] and free headroom in front.
// Pop and Push move only the virtio header and the two MAC addresses (22
// bytes) by one tag length and fix the virtio offsets (csum_start, hdr_len)
// of frames whose checksum or segmentation is left to the receiver.
//
// Nothing here allocates, blocks or keeps state; a Policy is immutable once
// published, so any number of workers may use it at once.
package vlan
