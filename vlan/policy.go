package vlan

import (
	"errors"
	"fmt"

	"github.com/vswitchd/vswitchd/header"
)

// Policy is the VLAN configuration of one port, as in the Open vSwitch Port
// table. Validate it before use; the datapath publishes policies as
// immutable values and reads them from many workers at once.
type Policy struct {
	// Mode is the port's VLAN mode (vlan_mode).
	Mode Mode `json:"mode"`
	// VID (tag) is the access VLAN for access ports, the native VLAN for
	// native-tagged and native-untagged ports, and the service VLAN (S-VID)
	// for dot1q-tunnel ports. Trunk ports leave it 0.
	VID ID `json:"vid,omitzero"`
	// Trunks (trunks) lists the VLANs a trunk or native-* port carries;
	// empty means all of 1–4094. A native-* port always carries its
	// native VLAN, listed or not.
	Trunks Set `json:"trunks,omitzero"`
	// CVLANs (cvlans) lists the customer VLANs a dot1q-tunnel port
	// accepts in C-tagged frames; empty means all.
	CVLANs Set `json:"cvlans,omitzero"`
}

// ErrPolicy is wrapped by every error Validate returns.
var ErrPolicy = errors.New("invalid vlan policy")

// Validate reports whether p is a usable policy: a known mode, a VID in
// 1–4094 where the mode needs one, and no setting the mode would ignore
// (VID on a trunk port, Trunks on access and dot1q-tunnel ports, CVLANs
// outside dot1q-tunnel), so that a wrong mode cannot silently change what
// a port carries.
func (p *Policy) Validate() error {
	if p.Mode >= numModes {
		return fmt.Errorf("%w: %w %d", ErrPolicy, ErrMode, uint8(p.Mode))
	}
	switch {
	case p.Mode == Trunk && p.VID != 0:
		return fmt.Errorf("%w: trunk port has vlan %d; use native-tagged or native-untagged for a native vlan", ErrPolicy, p.VID)
	case p.Mode != Trunk && (p.VID < 1 || p.VID > header.MaxVID):
		return fmt.Errorf("%w: %s port needs a vlan in 1-%d, not %d", ErrPolicy, p.Mode, header.MaxVID, p.VID)
	case !p.Mode.tagged() && !p.Trunks.IsEmpty():
		return fmt.Errorf("%w: %s port has trunks %q; only trunk and native-* ports take trunks", ErrPolicy, p.Mode, p.Trunks)
	case p.Mode != Dot1QTunnel && !p.CVLANs.IsEmpty():
		return fmt.Errorf("%w: %s port has cvlans %q; only dot1q-tunnel ports take cvlans", ErrPolicy, p.Mode, p.CVLANs)
	}
	return nil
}

// String formats p like ovs-vsctl settings: "trunk trunks=10,20",
// "access tag=10", "dot1q-tunnel tag=100 cvlans=10-20".
func (p *Policy) String() string {
	s := p.Mode.String()
	if p.VID != 0 {
		s += fmt.Sprintf(" tag=%d", p.VID)
	}
	if !p.Trunks.IsEmpty() {
		s += " trunks=" + p.Trunks.String()
	}
	if !p.CVLANs.IsEmpty() {
		s += " cvlans=" + p.CVLANs.String()
	}
	return s
}

// Meta is what the switch keeps about a frame's VLAN between ingress and
// egress, while the frame itself is untagged at the outer level.
type Meta struct {
	// VID is the frame's VLAN, 1–4094.
	VID ID
	// TCI holds the PCP and DEI bits of the tag popped at ingress (the
	// VID bits are zero), reused when egress pushes a tag, so priority
	// survives a trunk-to-trunk hop. It is 0 for frames that arrived
	// untagged.
	TCI uint16
	// QinQ marks a service VLAN: trunk egress tags the frame with TPID
	// 0x88a8 (802.1ad S-TAG) instead of 0x8100.
	QinQ bool
	// CVID is the VID of the tag that remains at the outer level of the
	// frame after ingress, if any: a dot1q-tunnel customer's C-tag, or the
	// inner tag of a double-tagged trunk frame. It is 0 when there is none
	// (or it is a priority tag). Access ports never send frames with a
	// CVID, and dot1q-tunnel ports only those in their CVLANs.
	CVID ID
}

// Ingress is the decision for a frame a port received.
type Ingress struct {
	// Meta is the frame's VLAN inside the switch.
	Meta Meta
	// Pop tells the datapath to remove the frame's outer tag with Pop.
	Pop bool
}

// Egress is the decision for a frame a port is about to send.
type Egress struct {
	// Push tells the datapath to insert a tag with Push(buf, start, TPID,
	// TCI); otherwise the frame leaves as it is.
	Push bool
	// TPID is header.EtherTypeVLAN or header.EtherTypeQinQ.
	TPID uint16
	// TCI is the tag control information: PCP, DEI and VID.
	TCI uint16
}

const (
	vidMask = 0x0fff
	pcpMask = 0xf000 // PCP and DEI
)

// Ingress classifies a frame the port received: which VLAN it belongs to
// and whether its outer tag is to be popped (IEEE 802.1Q-2018 §6.9, ingress
// filtering §8.6.2). ok is false when the port drops the frame; the
// datapath counts it as VLAN-filtered. pk must come from a Decode of the
// frame that did not fail with header.ErrTruncated (other Decode errors
// leave the VLAN fields valid). Ingress does not allocate.
func (p *Policy) Ingress(pk *header.Parsed) (in Ingress, ok bool) {
	if pk.Len < header.EthernetLen {
		return Ingress{}, false
	}
	var tpid, tci uint16
	if pk.Tags > 0 {
		tpid, tci = pk.TPID[0], pk.TCI[0]
		if tpid != header.EtherTypeVLAN && tpid != header.EtherTypeQinQ {
			return Ingress{}, false // 0x9100 and other non-standard TPIDs
		}
	}
	vid := ID(tci & vidMask)
	if vid > MaxID || vid == 0 && pk.Tags > 1 {
		// VID 4095 is reserved (§9.6). A priority tag in front of
		// another tag would, once popped, expose the inner tag: the
		// double-tagging VLAN-hopping attack.
		return Ingress{}, false
	}

	switch p.Mode {
	case Dot1QTunnel:
		// The frame is the customer's, whole: its C-tag (or none) rides
		// inside the service VLAN. An S-tag from a customer is refused.
		if tpid == header.EtherTypeQinQ || vid != 0 && p.CVLANs.n != 0 && !p.CVLANs.has(vid) {
			return Ingress{}, false
		}
		return Ingress{Meta: Meta{VID: p.VID, QinQ: true, CVID: vid}}, true
	case Access:
		if vid != 0 {
			return Ingress{}, false
		}
	case Trunk, NativeTagged, NativeUntagged:
		if vid != 0 {
			if !p.carries(vid) {
				return Ingress{}, false
			}
			var cvid ID
			if pk.Tags > 1 {
				cvid = ID(pk.TCI[1] & vidMask)
				if cvid > MaxID {
					return Ingress{}, false // reserved VID inside, as outside
				}
			}
			return Ingress{
				Meta: Meta{VID: vid, TCI: tci & pcpMask, QinQ: tpid == header.EtherTypeQinQ, CVID: cvid},
				Pop:  true,
			}, true
		}
		if p.Mode == Trunk {
			return Ingress{}, false
		}
	default:
		return Ingress{}, false
	}
	// Untagged or priority-tagged on an access or native-* port: the
	// port's VLAN, with the priority tag's PCP and DEI.
	return Ingress{
		Meta: Meta{VID: p.VID, TCI: tci & pcpMask, QinQ: tpid == header.EtherTypeQinQ},
		Pop:  pk.Tags > 0,
	}, true
}

// carries reports whether a trunk-like port carries tagged VLAN vid. Access
// and dot1q-tunnel ports carry no tagged VLAN.
func (p *Policy) carries(vid ID) bool {
	if !p.Mode.tagged() || vid < 1 || vid > MaxID {
		return false
	}
	return p.Trunks.n == 0 || p.Trunks.has(vid) || (p.Mode != Trunk && vid == p.VID)
}

// Member reports whether the port is in VLAN id: whether Egress sends some
// frames of id (Egress may still refuse a particular frame for its inner
// tag). The datapath precomputes each VLAN's flood list with it.
func (p *Policy) Member(id ID) bool {
	switch p.Mode {
	case Access, Dot1QTunnel:
		return id.Valid() && id == p.VID
	}
	return p.carries(id)
}

// Egress decides how the port sends a frame of VLAN m.VID (IEEE 802.1Q-2018
// §6.9, egress filtering §8.6.4, untagged set §8.8.2). ok is false when the
// port is not in that VLAN and must not send the frame. Egress does not
// allocate.
func (p *Policy) Egress(m Meta) (out Egress, ok bool) {
	switch p.Mode {
	case Access:
		return Egress{}, m.VID == p.VID && m.CVID == 0
	case Dot1QTunnel:
		return Egress{}, m.VID == p.VID &&
			(m.CVID == 0 || p.CVLANs.n == 0 || p.CVLANs.has(m.CVID))
	}
	if !p.carries(m.VID) {
		return Egress{}, false
	}
	if p.Mode == NativeUntagged && m.VID == p.VID {
		return Egress{}, true
	}
	tpid := header.EtherTypeVLAN
	if m.QinQ {
		tpid = header.EtherTypeQinQ
	}
	return Egress{Push: true, TPID: tpid, TCI: m.TCI&pcpMask | uint16(m.VID)}, true
}
