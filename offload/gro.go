package offload

import (
	"bytes"
	"encoding/binary"

	"github.com/vswitchd/vswitchd/header"
)

// GRO (generic receive offload in reverse: coalescing before a TAP write)
// turns the frames of one batch bound for one TAP into fewer writes: TCP
// segments of a flow that follow each other become one TSO super-frame,
// UDP datagrams of a flow of equal size one USO super-frame, each written
// as a virtio-net header with NEEDS_CSUM and a GSO type, the first
// frame's headers rewritten for the whole length, and the payloads of all
// members, gathered without copying (writev). The receiving kernel either
// keeps the super-frame (its own GRO would have built the same) or cuts it
// back exactly as Segment does.
//
// The rules are the kernel's tcp_gro_receive and udp_gro_receive ones, as
// wireguard-go tun/offload_linux.go documents them:
//   - only frames without offload (no GSO type; NEEDS_CSUM or a complete,
//     verified checksum), IPv4 without options or fragmentation, or IPv6
//     without extension headers;
//   - same Ethernet header and VLAN tags, addresses, ports, IPv4 TOS, TTL
//     and DF bit (IPv6 traffic class, flow label, hop limit);
//   - TCP: same header length and options, same ACK number and window,
//     flags ACK or ACK|PSH only; each segment starts where the previous
//     ended (in order, appended only); a PSH ends the super-frame; IPv4
//     identifications consecutive;
//   - every member but the last carries exactly the first's payload size
//     (the GSO size), the last at most that much, and a shorter one ends
//     the super-frame;
//   - at most GROMaxSegments members and an IP datagram of at most 65535
//     bytes;
//   - a frame of a flow that cannot join its flow's super-frame closes it,
//     so every flow keeps its order.
//
// A GRO is reused batch after batch; nothing allocates after NewGRO.
type GRO struct {
	groups  []groGroup
	next    []int  // next member of a frame's group, -1 at the end
	hdrs    []byte // per group, a virtio-net header and the rewritten headers
	iov     [][]byte
	writes  []groWrite
	one     [1][]byte
	udp     bool
	maxSize int
}

// GROMaxSegments bounds the members of one super-frame. The kernel takes
// at most 64 segments for UDP GSO (UDP_MAX_SEGMENTS is 128 since 6.x) and
// a TCP super-frame of 64 KiB holds about 45 segments of 1448 bytes.
const GROMaxSegments = 64

// groMaxHdr bounds the headers copied per group: Ethernet, two VLAN tags,
// an IPv6 header (40) or IPv4 without options (20), a TCP header with
// options (60).
const groMaxHdr = header.EthernetLen + 2*4 + 40 + 60

// groHdrSlot is the scratch room for one group's headers.
const groHdrSlot = header.VirtioNetLen + groMaxHdr

type groGroup struct {
	first, last int // frame indices
	n           int // members
	l3, l4, hdr int // IP, L4 and payload offsets in the first frame
	mss         int // payload of the first member (the GSO size)
	size        int // IP datagram length so far
	seq         uint32
	id          uint16
	ipv4, tcp   bool
	open        bool
}

type groWrite struct {
	frame    int // the frame written as it is, or -1
	iov0, nv int // else g.iov[iov0 : iov0+nv]
}

// NewGRO returns a GRO for batches of up to batch frames. udp allows UDP
// coalescing (USO), which needs the receiving kernel to accept
// VIRTIO_NET_HDR_GSO_UDP_L4 (Linux 6.2 and later).
func NewGRO(batch int, udp bool) *GRO {
	return &GRO{
		groups:  make([]groGroup, 0, batch),
		next:    make([]int, batch),
		hdrs:    make([]byte, batch*groHdrSlot),
		iov:     make([][]byte, 0, 2*batch),
		writes:  make([]groWrite, 0, batch),
		udp:     udp,
		maxSize: 65535,
	}
}

// Coalesce plans the writes of frames, each holding its virtio-net header
// at [offset-VirtioNetLen:offset] and the frame from offset to its end, in
// the order the frames came, per flow. It returns the number of writes;
// Write(i) gives each one's iovecs. The frames are not modified (a frame
// may be bound for several ports); the rewritten headers live in g until
// the next Coalesce. Frames beyond the batch size are left out: pass at
// most the batch size.
func (g *GRO) Coalesce(frames [][]byte, offset int) int {
	g.groups = g.groups[:0]
	g.iov = g.iov[:0]
	g.writes = g.writes[:0]
	frames = frames[:min(len(frames), len(g.next))]
	own := g.next // own[i]: -2 alone, else the group index
	for i, b := range frames {
		own[i] = -2
		var p header.Parsed
		ok := g.candidate(b, offset, &p)
		if !ok {
			g.closeFlow(frames, offset, b[offset:])
			continue
		}
		f := b[offset:]
		joined := false
		for k := range g.groups {
			gr := &g.groups[k]
			first := frames[gr.first][offset:]
			if !gr.open || p.L4Off != gr.l4 || !sameFlowLoose(first, f, gr) {
				continue
			}
			// The flow's open super-frame: join it, or close it so that
			// nothing of the flow passes this frame.
			if sameFlow(first, f, gr, &p) && g.canAppend(gr, first, f, &p) {
				g.append(gr, k, i, f, &p)
				joined = true
			} else {
				gr.open = false
			}
			break
		}
		if !joined && len(g.groups) < cap(g.groups) {
			g.groups = append(g.groups, groGroup{
				first: i, last: i, n: 1, l3: p.L3Off, l4: p.L4Off, hdr: p.PayloadOff,
				mss: p.L3End - p.PayloadOff, size: p.L3End - p.L3Off,
				seq: header.TCP(f[p.L4Off:]).Seq() + uint32(p.L3End-p.PayloadOff),
				id:  p.IPID + 1, ipv4: p.IPVersion == 4, tcp: p.Proto == header.ProtoTCP,
				open: !(p.Proto == header.ProtoTCP && p.TCPFlags&header.TCPFlagPSH != 0),
			})
			own[i] = len(g.groups) - 1
		}
	}
	// own[] becomes next[] as the writes are laid out: walk the frames in
	// order, writing each group at its first member.
	for i := range frames {
		k := own[i]
		switch {
		case k == -2:
			g.writes = append(g.writes, groWrite{frame: i})
		case k >= 0 && g.groups[k].first == i:
			g.layout(frames, offset, k)
		}
	}
	return len(g.writes)
}

// Write returns the iovecs of write i: the virtio-net header, then the
// frame (or the rewritten headers and every member's payload).
func (g *GRO) Write(i int, frames [][]byte, offset int) [][]byte {
	w := g.writes[i]
	if w.frame >= 0 {
		g.one[0] = frames[w.frame][offset-header.VirtioNetLen:]
		return g.one[:]
	}
	return g.iov[w.iov0 : w.iov0+w.nv]
}

// Frames returns the number of frames write i carries.
func (g *GRO) Frames(i int) int {
	if w := g.writes[i]; w.frame < 0 {
		return w.nv - 1
	}
	return 1
}

// candidate reports whether frame b may be coalesced, parsing it into p,
// and returns its virtio-net header.
func (g *GRO) candidate(b []byte, offset int, p *header.Parsed) bool {
	if offset < header.VirtioNetLen || len(b) < offset {
		return false
	}
	vh := header.VirtioNet(b[offset-header.VirtioNetLen : offset])
	f := b[offset:]
	if vh.IsGSO() || p.Decode(f) != nil || p.Fragment || p.L4Off == 0 || !p.L3Valid {
		return false
	}
	if p.L3End != len(f) || p.PayloadOff >= p.L3End || p.PayloadOff > groMaxHdr {
		return false // padded, no payload, or headers too long
	}
	switch p.IPVersion {
	case 4:
		ip := header.IPv4(f[p.L3Off:])
		if ip.HeaderLength() != header.IPv4MinLen || !ip.IsChecksumValid() {
			return false // options, or a corrupt header the merge would mend
		}
	case 6:
		if p.L4Off != p.L3Off+header.IPv6Len {
			return false
		}
	default:
		return false
	}
	switch p.Proto {
	case header.ProtoTCP:
		if p.TCPFlags&^(header.TCPFlagACK|header.TCPFlagPSH) != 0 || p.TCPFlags&header.TCPFlagACK == 0 {
			return false
		}
	case header.ProtoUDP:
		u := header.UDP(f[p.L4Off:])
		if !g.udp || u.Checksum() == 0 || int(u.Length()) != p.L3End-p.L4Off {
			return false // without checksum (one cannot be added), or a length the IP one contradicts
		}
	default:
		return false
	}
	if vh.NeedsCsum() {
		off := header.UDPChecksumOffset
		if p.Proto == header.ProtoTCP {
			off = header.TCPChecksumOffset
		}
		if int(vh.CsumStart()) != p.L4Off || int(vh.CsumOffset()) != off {
			return false
		}
		return true
	}
	// A complete checksum is verified: coalescing must not turn a
	// corrupt segment into a good one.
	return ^header.Checksum(f[p.L4Off:p.L3End], pseudo(f, p.L3Off, p.IPVersion == 4, p.Proto, p.L3End-p.L4Off)) == 0
}

// pseudo returns the pseudo-header sum of the IP header at l3.
func pseudo(f []byte, l3 int, ipv4 bool, proto uint8, l4len int) uint16 {
	if ipv4 {
		return header.IPv4(f[l3:]).PseudoHeaderChecksum(uint16(l4len))
	}
	return header.IPv6(f[l3:]).PseudoHeaderChecksum(proto, uint16(l4len))
}

// sameFlow reports whether f (parsed as p) belongs to the flow of group
// gr, whose first frame is first: same headers up to the payload but for
// the fields that change per segment.
func sameFlow(first, f []byte, gr *groGroup, p *header.Parsed) bool {
	if p.L3Off != gr.l3 || p.L4Off != gr.l4 || p.PayloadOff != gr.hdr || (p.Proto == header.ProtoTCP) != gr.tcp {
		return false
	}
	if !bytes.Equal(first[:gr.l3], f[:gr.l3]) {
		return false // Ethernet header and tags
	}
	a, b := first[gr.l3:], f[gr.l3:]
	if gr.ipv4 != (p.IPVersion == 4) {
		return false
	}
	if gr.ipv4 {
		// Version/IHL, TOS; flags (DF); TTL, protocol; addresses.
		if a[0] != b[0] || a[1] != b[1] || a[6]&0xe0 != b[6]&0xe0 || a[8] != b[8] || a[9] != b[9] || !bytes.Equal(a[12:20], b[12:20]) {
			return false
		}
	} else if !bytes.Equal(a[:4], b[:4]) || !bytes.Equal(a[6:40], b[6:40]) {
		return false // version, class, flow label; next header, hop limit, addresses
	}
	return bytes.Equal(first[gr.l4:gr.l4+4], f[gr.l4:gr.l4+4]) // ports
}

// canAppend reports whether f, of gr's flow, may follow gr's last member.
func (g *GRO) canAppend(gr *groGroup, first, f []byte, p *header.Parsed) bool {
	pay := p.L3End - p.PayloadOff
	if !gr.open || gr.n >= GROMaxSegments || pay > gr.mss || gr.size+pay > g.maxSize {
		return false
	}
	if gr.ipv4 && p.IPID != gr.id {
		return false
	}
	if !gr.tcp {
		return true
	}
	a, b := first[gr.l4:gr.hdr], f[gr.l4:gr.hdr]
	// In order; same ACK, data offset, window, urgent pointer and options
	// (the flags are ACK or ACK|PSH, checked by candidate).
	return header.TCP(b).Seq() == gr.seq && bytes.Equal(a[8:13], b[8:13]) &&
		bytes.Equal(a[14:16], b[14:16]) && bytes.Equal(a[18:], b[18:])
}

// append adds frame i (f, parsed as p) to group k, after checking the TCP
// fields that must equal the first member's.
func (g *GRO) append(gr *groGroup, k, i int, f []byte, p *header.Parsed) {
	pay := p.L3End - p.PayloadOff
	gr.n++
	gr.size += pay
	gr.seq += uint32(pay)
	gr.id++
	g.next[i] = k
	gr.last = i
	if pay < gr.mss || gr.tcp && p.TCPFlags&header.TCPFlagPSH != 0 {
		gr.open = false
	}
}

// closeFlow closes the open group of f's flow, if any: a frame that cannot
// be coalesced (a FIN, an options change) must not be overtaken by later
// segments of its flow.
func (g *GRO) closeFlow(frames [][]byte, offset int, f []byte) {
	var p header.Parsed
	if p.Decode(f) != nil || p.L4Off == 0 {
		return
	}
	for k := range g.groups {
		gr := &g.groups[k]
		if gr.open && p.L4Off == gr.l4 && sameFlowLoose(frames[gr.first][offset:], f, gr) {
			gr.open = false
		}
	}
}

// sameFlowLoose compares addresses and ports only.
func sameFlowLoose(first, f []byte, gr *groGroup) bool {
	if len(f) < gr.l4+4 {
		return false
	}
	a, b := first[gr.l3:], f[gr.l3:]
	if gr.ipv4 {
		if len(b) < 20 || a[9] != b[9] || !bytes.Equal(a[12:20], b[12:20]) {
			return false
		}
	} else if len(b) < 40 || !bytes.Equal(a[8:40], b[8:40]) {
		return false
	}
	return bytes.Equal(first[gr.l4:gr.l4+4], f[gr.l4:gr.l4+4])
}

// layout writes group k's iovecs: alone, its frame as it is; else the
// rewritten headers and every member's payload.
func (g *GRO) layout(frames [][]byte, offset, k int) {
	gr := &g.groups[k]
	first := frames[gr.first][offset:]
	if gr.n == 1 {
		g.writes = append(g.writes, groWrite{frame: gr.first})
		return
	}
	slot := g.hdrs[k*groHdrSlot : k*groHdrSlot+header.VirtioNetLen+gr.hdr]
	h := slot[header.VirtioNetLen:]
	copy(h, first[:gr.hdr])
	l4len := gr.size - (gr.l4 - gr.l3)
	var f header.VirtioNetFields
	f.Flags = header.VirtioNetFlagNeedsCsum
	f.HdrLen = uint16(gr.hdr)
	f.GSOSize = uint16(gr.mss)
	f.CsumStart = uint16(gr.l4)
	if gr.ipv4 {
		ip := header.IPv4(h[gr.l3:])
		ip.SetTotalLength(uint16(gr.size))
		ip.SetChecksum(0)
		ip.SetChecksum(ip.CalculateChecksum())
	} else {
		header.IPv6(h[gr.l3:]).SetPayloadLength(uint16(gr.size - header.IPv6Len))
	}
	var proto uint8
	if gr.tcp {
		proto = header.ProtoTCP
		f.CsumOffset = header.TCPChecksumOffset
		f.GSOType = header.VirtioNetGSOTCPv4
		if !gr.ipv4 {
			f.GSOType = header.VirtioNetGSOTCPv6
		}
		// The last member's PSH, if any, on the super-frame: Segment
		// leaves it on the last segment only.
		t := header.TCP(h[gr.l4:])
		t.SetFlags(t.Flags() | header.TCP(frames[gr.last][offset+gr.l4:]).Flags()&header.TCPFlagPSH)
	} else {
		proto = header.ProtoUDP
		f.CsumOffset = header.UDPChecksumOffset
		f.GSOType = header.VirtioNetGSOUDPL4
		header.UDP(h[gr.l4:]).SetLength(uint16(l4len))
	}
	at := gr.l4 + int(f.CsumOffset)
	binary.BigEndian.PutUint16(h[at:], pseudo(h, gr.l3, gr.ipv4, proto, l4len))
	header.VirtioNet(slot).Encode(&f)

	iov0 := len(g.iov)
	g.iov = append(g.iov, slot, first[gr.hdr:])
	for i := gr.first + 1; i <= gr.last; i++ {
		if g.next[i] == k && i != gr.first {
			g.iov = append(g.iov, frames[i][offset+gr.hdr:])
		}
	}
	g.writes = append(g.writes, groWrite{frame: -1, iov0: iov0, nv: len(g.iov) - iov0})
}
