package header_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vswitchd/vswitchd/header"
)

func TestVXLANEncode(t *testing.T) {
	for _, f := range []header.VXLANFields{
		{Flags: header.VXLANFlagI, VNI: 0},
		{Flags: header.VXLANFlagI, VNI: 42},
		{Flags: header.VXLANFlagI, VNI: header.MaxVNI},
		{Flags: 0, VNI: 0x123456},
	} {
		b := make(header.VXLAN, header.VXLANLen)
		for i := range b {
			b[i] = 0xee // Encode must write every byte
		}
		b.Encode(&f)
		if b[1] != 0 || b[2] != 0 || b[3] != 0 || b[7] != 0 {
			t.Errorf("Encode(%+v) = % x: reserved fields not zero", f, b)
		}
		var g layers.VXLAN
		decodeLayer(t, &g, b)
		if g.ValidIDFlag != (f.Flags == header.VXLANFlagI) || g.VNI != f.VNI {
			t.Errorf("gopacket decoded I %v VNI %d from % x, want %+v", g.ValidIDFlag, g.VNI, b, f)
		}
		got := header.VXLANFields{Flags: b.Flags(), VNI: b.VNI()}
		if got != f || b.IsValid() != (f.Flags == header.VXLANFlagI) || b.HasVNI() != b.IsValid() {
			t.Errorf("getters = %+v (valid %v), want %+v", got, b.IsValid(), f)
		}
	}

	// SetVNI keeps the reserved byte after the VNI; getters ignore
	// reserved bits (RFC 7348 §5: ignored on receipt).
	b := header.VXLAN{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xab, 0xcd}
	b.SetVNI(0x010203)
	if want := (header.VXLAN{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 0xab, 0xcd}); !bytes.Equal(b, want) {
		t.Errorf("SetVNI wrote % x, want % x", b, want)
	}
	if b.VNI() != 0x010203 || !b.IsValid() || !bytes.Equal(b.Payload(), []byte{0xcd}) {
		t.Errorf("VNI %#x valid %v payload % x", b.VNI(), b.IsValid(), b.Payload())
	}
	b.SetFlags(header.VXLANFlagI ^ 0xff)
	if b.IsValid() {
		t.Errorf("IsValid with every flag but I set")
	}
	for n := range header.VXLANLen {
		if header.VXLAN(make([]byte, n)).IsValid() {
			t.Errorf("IsValid on %d bytes", n)
		}
	}
	if header.VXLANOverhead4 != 50 || header.VXLANOverhead6 != 70 {
		t.Errorf("overheads %d, %d; want 50, 70 (RFC 7348 §4.3)", header.VXLANOverhead4, header.VXLANOverhead6)
	}
}

// TestFuzzVXLANCorpus checks the seed corpus of FuzzVXLAN: UDP payloads
// captured from the Linux vxlan device and from a vxlan.Port talking to it
// (VNI 42), each a valid header followed by an inner frame that decodes.
func TestFuzzVXLANCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzVXLAN", "*"))
	if err != nil || len(files) < 8 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
	for _, file := range files {
		data := readSeed(t, file)
		v := header.VXLAN(data)
		if !v.IsValid() || v.VNI() != 42 {
			t.Errorf("%s: not a VXLAN header of VNI 42: % x", file, data[:min(len(data), 8)])
			continue
		}
		var p header.Parsed
		if err := p.Decode(v.Payload()); err != nil || p.L3Off == 0 {
			t.Errorf("%s: inner frame: %v (L3 at %d)", file, err, p.L3Off)
		}
	}
}

// readSeed reads a "go test fuzz v1" file holding one []byte.
func readSeed(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s: not a fuzz seed", file)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(s)
}

// FuzzVXLAN decodes a UDP payload as VXLAN: no panic, IsValid exactly when
// the header is complete and the I flag set, the VNI in 24 bits and equal
// to gopacket's, re-encoding from the getters reproduces the header with
// its reserved fields zeroed, SetVNI round-trips, and the inner frame of a
// valid header passes FuzzDecode's checks.
func FuzzVXLAN(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v := header.VXLAN(data)
		if len(data) < header.VXLANLen {
			if v.IsValid() {
				t.Fatalf("IsValid on %d bytes", len(data))
			}
			return
		}
		if v.IsValid() != (data[0]&header.VXLANFlagI != 0) || v.HasVNI() != v.IsValid() {
			t.Fatalf("IsValid %v HasVNI %v for flags %#02x", v.IsValid(), v.HasVNI(), data[0])
		}
		if v.VNI() > header.MaxVNI {
			t.Fatalf("VNI %#x wider than 24 bits", v.VNI())
		}
		var g layers.VXLAN
		if err := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil || g.ValidIDFlag != v.HasVNI() || g.VNI != v.VNI() {
			t.Fatalf("gopacket: %v, I %v VNI %#x; ours I %v VNI %#x", err, g.ValidIDFlag, g.VNI, v.HasVNI(), v.VNI())
		}
		want := bytes.Clone(data[:header.VXLANLen])
		want[1], want[2], want[3], want[7] = 0, 0, 0, 0
		roundTrip(t, "VXLAN", want, func(b []byte) {
			header.VXLAN(b).Encode(&header.VXLANFields{Flags: v.Flags(), VNI: v.VNI()})
		})
		c := header.VXLAN(bytes.Clone(data))
		c.SetVNI(v.VNI())
		if !bytes.Equal(c, data) {
			t.Fatalf("SetVNI(VNI()) changed % x to % x", data, c)
		}
		c.SetVNI(^v.VNI())
		if c.VNI() != ^v.VNI()&header.MaxVNI || !bytes.Equal(c[:4], data[:4]) || c[7] != data[7] || !bytes.Equal(c[8:], data[8:]) {
			t.Fatalf("SetVNI(%#x) wrote % x over % x", ^v.VNI(), c, data)
		}
		if !v.IsValid() {
			return
		}
		var p header.Parsed
		inner := v.Payload()
		err := p.Decode(inner)
		checkParsed(t, inner, &p, err)
	})
}
