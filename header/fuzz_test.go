package header_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

// The seed corpus in testdata/fuzz/FuzzDecode is made from goldenFrames by
//
//	go test -run TestFuzzDecodeCorpus -write-corpus ./header/
//
// TestFuzzDecodeCorpus fails when a file is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz from the golden frames")

// corpusFile returns a value in the "go test fuzz v1" encoding.
func corpusFile(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

func TestFuzzDecodeCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *writeCorpus {
		must(t, os.MkdirAll(dir, 0o755))
	}
	for _, g := range goldenFrames(t) {
		path := filepath.Join(dir, g.name)
		want := corpusFile(g.frame)
		if *writeCorpus {
			must(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); run go test -run TestFuzzDecodeCorpus -write-corpus", path, err)
		}
	}
}

// FuzzDecode checks that Decode never panics, that every offset it reports
// lies inside the frame and in order, that its errors are the documented
// sentinels, and that each header it found re-encodes to the same bytes from
// the values its getters read back.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p header.Parsed
		err := p.Decode(frame)
		checkParsed(t, frame, &p, err)
	})
}

func checkParsed(t *testing.T, frame []byte, p *header.Parsed, err error) {
	t.Helper()
	if p.Len != len(frame) {
		t.Fatalf("Len = %d, want %d", p.Len, len(frame))
	}
	for _, o := range []struct {
		name string
		off  int
	}{{"L3Off", p.L3Off}, {"L4Off", p.L4Off}, {"PayloadOff", p.PayloadOff}, {"L3End", p.L3End}} {
		if o.off < 0 || o.off > p.Len {
			t.Fatalf("%s = %d outside [0, %d]", o.name, o.off, p.Len)
		}
	}
	if p.L4Off != 0 && !(p.L3Off < p.L4Off && p.L4Off <= p.PayloadOff && p.PayloadOff <= p.L3End) {
		t.Fatalf("offsets out of order: L3Off %d L4Off %d PayloadOff %d L3End %d", p.L3Off, p.L4Off, p.PayloadOff, p.L3End)
	}
	if (p.L4Off == 0) != (p.PayloadOff == 0) {
		t.Fatalf("L4Off %d but PayloadOff %d", p.L4Off, p.PayloadOff)
	}
	if p.L3End != 0 && p.L3End < p.L3Off+header.IPv4MinLen {
		t.Fatalf("L3End %d too close to L3Off %d", p.L3End, p.L3Off)
	}
	if p.Tags < 0 || p.Tags > header.MaxTags {
		t.Fatalf("Tags = %d", p.Tags)
	}
	switch {
	case err == nil:
	case errors.Is(err, header.ErrTruncated):
		if p.L3Off != 0 {
			t.Fatalf("ErrTruncated with L3Off %d", p.L3Off)
		}
	case errors.Is(err, header.ErrMalformedL3):
		if p.L3Off == 0 || p.L4Off != 0 {
			t.Fatalf("ErrMalformedL3 with L3Off %d L4Off %d", p.L3Off, p.L4Off)
		}
	case errors.Is(err, header.ErrMalformedL4):
		if p.IPVersion == 0 || p.L4Off != 0 {
			t.Fatalf("ErrMalformedL4 with IPVersion %d L4Off %d", p.IPVersion, p.L4Off)
		}
	default:
		t.Fatalf("Decode returned %v, not a sentinel", err)
	}
	if p.Len < header.EthernetLen {
		return
	}

	e := header.Ethernet(frame)
	if e.Dst() != p.Dst || e.Src() != p.Src {
		t.Fatalf("Dst/Src %v %v, getters %v %v", p.Dst, p.Src, e.Dst(), e.Src())
	}
	roundTrip(t, "Ethernet", frame[:header.EthernetLen], func(b []byte) {
		header.Ethernet(b).Encode(&header.EthernetFields{Dst: e.Dst(), Src: e.Src(), Type: e.Type()})
	})
	for i := range p.Tags {
		off := header.EthernetLen + i*header.VLANTagLen
		v := header.VLAN(frame[off:])
		if v.TCI() != p.TCI[i] || binary.BigEndian.Uint16(frame[off-2:]) != p.TPID[i] {
			t.Fatalf("tag %d: TCI %#04x TPID %#04x, frame % x", i, p.TCI[i], p.TPID[i], frame[off-2:off+4])
		}
		roundTrip(t, "VLAN", frame[off:off+header.VLANLen], func(b []byte) {
			header.VLAN(b).Encode(&header.VLANFields{PCP: v.PCP(), DEI: v.DEI(), VID: v.VID(), Type: v.Type()})
		})
	}
	if p.L3Off == 0 {
		return
	}
	l3 := frame[p.L3Off:]
	switch {
	case p.EtherType == header.EtherTypeARP && err == nil:
		a := header.ARP(l3)
		if a.SenderIP() != p.SrcIP || a.TargetIP() != p.DstIP || a.Op() != p.ARPOp {
			t.Fatalf("ARP fields differ from getters")
		}
		roundTrip(t, "ARP", l3[:header.ARPLen], func(b []byte) {
			header.ARP(b).Encode(&header.ARPFields{Op: a.Op(), SenderMAC: a.SenderMAC(), TargetMAC: a.TargetMAC(),
				SenderIP: a.SenderIP(), TargetIP: a.TargetIP()})
		})
	case p.IPVersion == 4:
		ip := header.IPv4(l3)
		if ip.Src() != p.SrcIP || ip.Dst() != p.DstIP || ip.TTL() != p.TTL || ip.Protocol() != p.Proto ||
			ip.ID() != p.IPID || ip.FragmentOffset() != p.FragOff || ip.More() != p.MoreFrags {
			t.Fatalf("IPv4 fields differ from getters")
		}
		// Encode writes no options, so compare the fixed header and, when
		// the header has no options and a valid checksum, all of it.
		got := make([]byte, header.IPv4MinLen)
		header.IPv4(got).Encode(&header.IPv4Fields{TOS: ip.TOS(), TotalLength: ip.TotalLength(), ID: ip.ID(),
			Flags: ip.Flags(), FragOffset: ip.FragmentOffset() / 8, TTL: ip.TTL(), Protocol: ip.Protocol(),
			Src: ip.Src(), Dst: ip.Dst()})
		want := bytes.Clone(l3[:header.IPv4MinLen])
		if ip.HeaderLength() != header.IPv4MinLen || !ip.IsChecksumValid() {
			want[0] = 0x45
			copy(want[10:12], got[10:12])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("IPv4 re-encoded as % x, was % x", got, want)
		}
	case p.IPVersion == 6:
		ip := header.IPv6(l3)
		if ip.Src() != p.SrcIP || ip.Dst() != p.DstIP || ip.HopLimit() != p.TTL {
			t.Fatalf("IPv6 fields differ from getters")
		}
		vtf := binary.BigEndian.Uint32(l3) // no getters for traffic class and flow label
		roundTrip(t, "IPv6", l3[:header.IPv6Len], func(b []byte) {
			header.IPv6(b).Encode(&header.IPv6Fields{TrafficClass: uint8(vtf >> 20), FlowLabel: vtf & 0xfffff,
				PayloadLength: ip.PayloadLength(), NextHeader: ip.NextHeader(), HopLimit: ip.HopLimit(),
				Src: ip.Src(), Dst: ip.Dst()})
		})
	}
	if p.L4Off == 0 {
		return
	}
	l4 := frame[p.L4Off:p.L3End]
	switch p.Proto {
	case header.ProtoTCP:
		tcp := header.TCP(l4)
		if tcp.SrcPort() != p.SrcPort || tcp.DstPort() != p.DstPort || tcp.Flags() != p.TCPFlags ||
			p.L4Off+tcp.DataOffset() != p.PayloadOff {
			t.Fatalf("TCP fields differ from getters")
		}
		got := make([]byte, header.TCPMinLen)
		header.TCP(got).Encode(&header.TCPFields{SrcPort: tcp.SrcPort(), DstPort: tcp.DstPort(), Seq: tcp.Seq(),
			Ack: tcp.Ack(), Flags: tcp.Flags(), Window: tcp.Window(), Checksum: tcp.Checksum(),
			Urgent: binary.BigEndian.Uint16(l4[18:])}) // no getter for the urgent pointer
		want := bytes.Clone(l4[:header.TCPMinLen])
		want[12] = 5 << 4 // Encode writes no options (and clears the reserved bits)
		if !bytes.Equal(got, want) {
			t.Fatalf("TCP re-encoded as % x, was % x", got, want)
		}
	case header.ProtoUDP:
		u := header.UDP(l4)
		if u.SrcPort() != p.SrcPort || u.DstPort() != p.DstPort {
			t.Fatalf("UDP fields differ from getters")
		}
		roundTrip(t, "UDP", l4[:header.UDPLen], func(b []byte) {
			header.UDP(b).Encode(&header.UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Length: u.Length(),
				Checksum: u.Checksum()})
		})
	case header.ProtoICMP:
		c := header.ICMPv4(l4)
		if c.Type() != p.ICMPType || c.Code() != p.ICMPCode {
			t.Fatalf("ICMPv4 fields differ from getters")
		}
		roundTrip(t, "ICMPv4", l4[:header.ICMPv4MinLen], func(b []byte) {
			header.ICMPv4(b).Encode(&header.ICMPv4Fields{Type: c.Type(), Code: c.Code(), Checksum: c.Checksum(),
				Rest: uint32(c.Ident())<<16 | uint32(c.Seq())})
		})
	}
}

// roundTrip checks that encode, run on a zeroed buffer of len(want) bytes,
// writes exactly want.
func roundTrip(t *testing.T, what string, want []byte, encode func(b []byte)) {
	t.Helper()
	got := make([]byte, len(want))
	encode(got)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s re-encoded as % x, was % x", what, got, want)
	}
}
