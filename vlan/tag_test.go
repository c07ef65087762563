package vlan

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// gsoVirtio returns the virtio header a TAP gives a TCP/IPv4 super-frame
// whose L4 header starts at l4 and payload at payloadOff.
func gsoVirtio(l4, payloadOff int) []byte {
	v := make(header.VirtioNet, header.VirtioNetLen)
	v.Encode(&header.VirtioNetFields{
		Flags:      header.VirtioNetFlagNeedsCsum,
		GSOType:    header.VirtioNetGSOTCPv4,
		HdrLen:     uint16(payloadOff),
		GSOSize:    1448,
		CsumStart:  uint16(l4),
		CsumOffset: header.TCPChecksumOffset,
	})
	return v
}

// dot1q decodes frame with gopacket and returns its outermost Dot1Q layer
// and the Ethernet type in front of it.
func dot1q(t *testing.T, frame []byte) (layers.EthernetType, *layers.Dot1Q, gopacket.Packet) {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode %x: %v", frame, el.Error())
	}
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	return eth.EthernetType, d, pkt
}

func TestPushPop(t *testing.T) {
	tests := []struct {
		name string
		tags []tag // of the original frame
		push tag
	}{
		{"untagged+c10", nil, tag{ctpid, 10}},
		{"untagged+c4094-pcp7-dei", nil, tag{ctpid, 7<<13 | 0x1000 | 4094}},
		{"untagged+s100-pcp3", nil, tag{stpid, 3<<13 | 100}},
		{"c10+s100", []tag{{ctpid, 5<<13 | 10}}, tag{stpid, 100}},
		{"s20c10+s30", []tag{{stpid, 20}, {ctpid, 10}}, tag{stpid, 1<<13 | 0x1000 | 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tcpFrame(t, 100, tt.tags...)
			buf, start := place(orig, make([]byte, header.VirtioNetLen))
			outerBefore, _, _ := dot1q(t, orig)

			pushed := Push(buf, start, tt.push.tpid, tt.push.tci)
			if pushed != start-header.VLANTagLen {
				t.Fatalf("Push returned %d, want %d", pushed, start-header.VLANTagLen)
			}
			frame := buf[pushed:]
			et, d, pkt := dot1q(t, frame)
			if et != layers.EthernetType(tt.push.tpid) || d == nil {
				t.Fatalf("after Push: EtherType %v, Dot1Q %v; want TPID %#04x", et, d, tt.push.tpid)
			}
			gotTag := tag{uint16(et), uint16(d.Priority)<<13 | d.VLANIdentifier}
			if d.DropEligible {
				gotTag.tci |= 0x1000
			}
			if gotTag != tt.push || d.Type != outerBefore {
				t.Errorf("pushed tag = %#04x/%#04x inner %v, want %#04x/%#04x inner %v",
					gotTag.tpid, gotTag.tci, d.Type, tt.push.tpid, tt.push.tci, outerBefore)
			}
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.SrcMAC, srcMAC[:]) || !bytes.Equal(eth.DstMAC, dstMAC[:]) {
				t.Errorf("MACs after Push = %v → %v", eth.SrcMAC, eth.DstMAC)
			}
			if !bytes.Equal(frame[header.EthernetLen+header.VLANTagLen-2:], orig[header.EthernetLen-2:]) {
				t.Error("frame after the new tag differs from the original")
			}
			if tcp := pkt.Layer(layers.LayerTypeTCP); tcp == nil {
				t.Error("no TCP layer after Push")
			}
			if ok := tcpChecksumOK(t, frame); !ok {
				t.Error("TCP checksum wrong after Push")
			}

			popped := Pop(buf, pushed)
			if popped != start {
				t.Fatalf("Pop returned %d, want %d", popped, start)
			}
			if diff := cmp.Diff(orig, buf[popped:]); diff != "" {
				t.Errorf("Push then Pop (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPopKeepsPriority pops the tag of a trunk frame, pushes the tag Egress
// asks for on another trunk, and checks that PCP and DEI survive.
func TestPopKeepsPriority(t *testing.T) {
	const tci = 6<<13 | 0x1000 | 20
	orig := tcpFrame(t, 10, tag{ctpid, tci})
	buf, start := place(orig, make([]byte, header.VirtioNetLen))
	trunk := Policy{Mode: Trunk}
	in, ok := trunk.Ingress(decode(t, orig))
	if !ok || !in.Pop {
		t.Fatalf("Ingress = %+v, %v", in, ok)
	}
	start = Pop(buf, start)
	untagged := tcpFrame(t, 10)
	if diff := cmp.Diff(untagged, buf[start:]); diff != "" {
		t.Errorf("Pop (-want +got):\n%s", diff)
	}
	out, ok := trunk.Egress(in.Meta)
	if !ok || !out.Push {
		t.Fatalf("Egress(%+v) = %+v, %v", in.Meta, out, ok)
	}
	start = Push(buf, start, out.TPID, out.TCI)
	_, d, _ := dot1q(t, buf[start:])
	if d.Priority != 6 || !d.DropEligible || d.VLANIdentifier != 20 {
		t.Errorf("re-pushed tag = PCP %d DEI %v VID %d, want 6 true 20", d.Priority, d.DropEligible, d.VLANIdentifier)
	}
	if !bytes.Equal(buf[start:], orig) {
		t.Error("pop + egress push does not restore the trunk frame")
	}
}

// tcpChecksumOK verifies the TCP checksum of an IPv4 frame with any number
// of tags.
func tcpChecksumOK(t *testing.T, frame []byte) bool {
	t.Helper()
	off := 12
	for header.IsTPID(binary.BigEndian.Uint16(frame[off:])) {
		off += header.VLANTagLen
	}
	ip := header.IPv4(frame[off+2:])
	if !ip.IsValid() || ip.Protocol() != header.ProtoTCP {
		t.Fatalf("no IPv4/TCP at %d in %x", off+2, frame)
	}
	seg := ip.Payload()
	sum := header.Checksum(seg, ip.PseudoHeaderChecksum(uint16(len(seg))))
	return sum == 0xffff
}

// TestVirtioOffsets pushes and pops tags on a GSO super-frame with a
// partial checksum and checks csum_start and hdr_len follow the L4 header,
// and that the checksum, finished by the receiver after two pushes and a
// pop, is right.
func TestVirtioOffsets(t *testing.T) {
	full := tcpFrame(t, 3000, tag{ctpid, 10}) // a super-frame: 3000 > MSS
	pk := decode(t, full)
	ip := header.IPv4(full[pk.L3Off:])
	wantCsum := binary.BigEndian.Uint16(full[pk.L4Off+header.TCPChecksumOffset:])

	// The frame as a TAP delivers it: pseudo-header sum in the checksum
	// field, NEEDS_CSUM, csum_start at the TCP header.
	partial := bytes.Clone(full)
	seglen := uint16(pk.L3End - pk.L4Off)
	binary.BigEndian.PutUint16(partial[pk.L4Off+header.TCPChecksumOffset:], ip.PseudoHeaderChecksum(seglen))
	buf, start := place(partial, gsoVirtio(pk.L4Off, pk.PayloadOff))
	vnet := func() header.VirtioNet { return header.VirtioNet(buf[start-header.VirtioNetLen : start]) }

	check := func(step string, l4, hdrLen int) {
		t.Helper()
		v := vnet()
		if int(v.CsumStart()) != l4 || int(v.HdrLen()) != hdrLen {
			t.Errorf("%s: csum_start %d hdr_len %d, want %d %d", step, v.CsumStart(), v.HdrLen(), l4, hdrLen)
		}
		if v.CsumOffset() != header.TCPChecksumOffset || v.GSOSize() != 1448 ||
			v.Flags() != header.VirtioNetFlagNeedsCsum || v.GSOType() != header.VirtioNetGSOTCPv4 {
			t.Errorf("%s: other virtio fields changed: % x", step, []byte(v))
		}
		// csum_start must point at the TCP header in the moved frame.
		if p := decode(t, buf[start:]); p.L4Off != l4 || p.PayloadOff != hdrLen {
			t.Errorf("%s: TCP header at %d, payload at %d; virtio says %d, %d", step, p.L4Off, p.PayloadOff, l4, hdrLen)
		}
	}
	l4, hl := pk.L4Off, pk.PayloadOff
	check("read", l4, hl)
	start = Pop(buf, start)
	check("pop", l4-4, hl-4)
	start = Push(buf, start, ctpid, 10)
	check("push C", l4, hl)
	start = Push(buf, start, stpid, 100) // S100 C10
	check("push S", l4+4, hl+4)

	// The receiver finishes the checksum from the virtio header alone.
	v := vnet()
	frame := buf[start:]
	cs, co := int(v.CsumStart()), int(v.CsumOffset())
	sum := header.Checksum(frame[cs:], 0)
	binary.BigEndian.PutUint16(frame[cs+co:], ^sum)
	if got := binary.BigEndian.Uint16(frame[cs+co:]); got != wantCsum {
		t.Errorf("finished checksum %#04x, want %#04x", got, wantCsum)
	}
	if !tcpChecksumOK(t, frame) {
		t.Error("TCP checksum wrong after the receiver finished it")
	}
	if _, d, pkt := dot1q(t, frame); d.VLANIdentifier != 100 || pkt.Layer(layers.LayerTypeTCP) == nil {
		t.Errorf("gopacket: outer VID %d, TCP %v", d.VLANIdentifier, pkt.Layer(layers.LayerTypeTCP) != nil)
	}
}

// TestVirtioNoOffload checks that a header without NEEDS_CSUM and with
// hdr_len 0, as a port without offloads writes it, stays all zero.
func TestVirtioNoOffload(t *testing.T) {
	buf, start := place(tcpFrame(t, 10, tag{ctpid, 10}), make([]byte, header.VirtioNetLen))
	start = Pop(buf, start)
	start = Push(buf, start, ctpid, 20)
	start = Push(buf, start, stpid, 30)
	if v := buf[start-header.VirtioNetLen : start]; !bytes.Equal(v, make([]byte, header.VirtioNetLen)) {
		t.Errorf("virtio header = % x, want zeros", v)
	}
}

// TestPushHeadroom checks that port.ReadOffset leaves room for four pushes
// and that each push and pop touches only the bytes it should.
func TestPushHeadroom(t *testing.T) {
	orig := tcpFrame(t, 10)
	vnet := gsoVirtio(34, 54)
	buf, start := place(orig, vnet)
	for i := range 4 {
		start = Push(buf, start, ctpid, uint16(i+1))
	}
	if start != header.VirtioNetLen {
		t.Fatalf("start after 4 pushes = %d, want %d", start, header.VirtioNetLen)
	}
	pk := decode(t, buf[start:])
	if pk.Tags != header.MaxTags || pk.TCI[0] != 4 || pk.TCI[1] != 3 {
		t.Errorf("tags after 4 pushes: %d, %v", pk.Tags, pk.TCI)
	}
	for range 4 {
		start = Pop(buf, start)
	}
	if start != port.ReadOffset || !bytes.Equal(buf[start:], orig) ||
		!bytes.Equal(buf[start-header.VirtioNetLen:start], vnet) {
		t.Errorf("4 pushes and pops do not round-trip")
	}
}

func TestPopParsed(t *testing.T) {
	frames := map[string][]byte{
		"c10-tcp":        tcpFrame(t, 50, tag{ctpid, 10}),
		"s20c10-tcp":     tcpFrame(t, 50, tag{stpid, 20}, tag{ctpid, 10}),
		"c10-udp6":       udp6Frame(t, tag{ctpid, 10}),
		"s20c10-arp":     arpFrame(t, tag{stpid, 20}, tag{ctpid, 10}),
		"prio-arp":       arpFrame(t, tag{ctpid, p5}),
		"s20c10c30-tcp":  tcpFrame(t, 5, tag{stpid, 20}, tag{ctpid, 10}, tag{ctpid, 30}),
		"c10-ip-garbage": append(tcpFrame(t, 0, tag{ctpid, 10})[:18], 0x45, 0, 0),
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			var pk header.Parsed
			err := pk.Decode(frame)
			buf, start := place(frame, make([]byte, header.VirtioNetLen))
			start = Pop(buf, start)
			PopParsed(&pk)
			var want header.Parsed
			wantErr := want.Decode(buf[start:])
			if header.IsTPID(pk.EtherType) {
				// A third tag: Decode records it now, PopParsed cannot.
				if pk.Tags != 1 || want.Tags != 2 || want.TCI[1] != 30 {
					t.Errorf("PopParsed = %d tags, Decode = %d tags %v", pk.Tags, want.Tags, want.TCI)
				}
				return
			}
			if err != wantErr {
				t.Errorf("Decode before pop = %v, after = %v", err, wantErr)
			}
			if pk != want {
				t.Errorf("PopParsed = %+v\nDecode    = %+v", pk, want)
			}
		})
	}
}
