package offload_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
)

// The seed corpus in testdata/fuzz/FuzzSegment is made from fuzzSeeds by
//
//	go test -run TestFuzzSegmentCorpus -write-corpus ./offload/
//
// TestFuzzSegmentCorpus fails when a file is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// fuzzSeeds are small super-frames and partial frames of every kind, built
// the way a TAP delivers them.
var fuzzSeeds = []spec{
	{name: "tcp4", payload: 3000, mss: 1448, flags: 0x18, seq: 0xfffffff0, id: 0xffff, hdrHint: 66},
	{name: "tcp4-8021q-ipopts-fin-cwr", tags: 1, ipOpts: true, payload: 2100, mss: 1000, flags: 0x99, seq: 1},
	{name: "tcp6-qinq", v6: true, tags: 2, payload: 2500, mss: 1220, flags: 0x18, hdrHint: 200},
	{name: "tcp6-destopts", v6: true, ipOpts: true, payload: 1500, mss: 700, flags: 0x10},
	{name: "udp4-uso", udp: true, payload: 2000, mss: 600},
	{name: "udp6-uso-8021q", v6: true, udp: true, tags: 1, payload: 1600, mss: 800},
	{name: "tcp4-no-needs-csum", noCsum: true, payload: 1500, mss: 1000, flags: 0x10},
	{name: "tcp4-fcs", trailer: 4, payload: 1000, mss: 512, flags: 0x10},
	{name: "partial-tcp4", payload: 1448, flags: 0x10},
	{name: "partial-udp6", v6: true, udp: true, payload: 99},
	{name: "partial-udp4-padded", udp: true, payload: 3},
}

// corpusFile returns two []byte values in the "go test fuzz v1" encoding.
func corpusFile(frame, vh []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", frame, vh)
}

func TestFuzzSegmentCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSegment")
	if *writeCorpus {
		must(t, os.MkdirAll(dir, 0o755))
	}
	for _, s := range fuzzSeeds {
		b := build(t, s)
		path := filepath.Join(dir, s.name)
		want := corpusFile(b.frame, b.vh)
		if *writeCorpus {
			must(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); run go test -run TestFuzzSegmentCorpus -write-corpus", path, err)
		}
	}
}

// FuzzSegment checks that Finish, MaxSegments and Segment never panic, never
// change their input, return only the package's errors, agree with each
// other, and that every segment Segment writes is a well-formed frame with
// valid checksums whose payloads add up to the super-frame's.
func FuzzSegment(f *testing.F) {
	f.Fuzz(checkSegmentAny)
}

func checkSegmentAny(t *testing.T, frame, vhb []byte) {
	vh := header.VirtioNet(vhb)
	in, vhIn := bytes.Clone(frame), bytes.Clone(vhb)

	fin := bytes.Clone(frame)
	finErr := offload.Finish(fin, vh)
	if finErr != nil && !errors.Is(finErr, offload.ErrBadHeader) {
		t.Fatalf("Finish = %v", finErr)
	}
	if finErr != nil || !vh.NeedsCsum() {
		if !bytes.Equal(fin, frame) {
			t.Fatalf("Finish changed a frame it did not finish")
		}
	} else {
		at := int(vh.CsumStart() + vh.CsumOffset())
		if !bytes.Equal(fin[:at], frame[:at]) || !bytes.Equal(fin[at+2:], frame[at+2:]) {
			t.Fatalf("Finish changed more than the checksum field at %d", at)
		}
		if header.Checksum(fin[vh.CsumStart():], 0) != 0xffff {
			// The field now complements the sum of the rest seeded with
			// the original field, so the seeded sum must verify.
			seed := uint16(frame[at])<<8 | uint16(frame[at+1])
			cp := bytes.Clone(fin)
			cp[at], cp[at+1] = 0, 0
			if ^header.Checksum(cp[vh.CsumStart():], seed) != uint16(fin[at])<<8|uint16(fin[at+1]) &&
				!(vh.CsumOffset() == header.UDPChecksumOffset && fin[at] == 0xff && fin[at+1] == 0xff) {
				t.Fatalf("Finish wrote a wrong checksum")
			}
		}
	}

	n := offload.MaxSegments(frame, vh)
	const off = 12
	if n*(off+len(frame)) > 16<<20 {
		return // too big to allocate for every input
	}
	out, sizes := outBufs(n, off+len(frame))
	got, err := offload.Segment(frame, vh, out, sizes, off)
	if !bytes.Equal(frame, in) || !bytes.Equal(vhb, vhIn) {
		t.Fatalf("Segment modified its input")
	}
	if n == 0 {
		if err == nil || errors.Is(err, offload.ErrShortBuffer) {
			t.Fatalf("MaxSegments = 0 but Segment = %d, %v", got, err)
		}
		if !errors.Is(err, offload.ErrBadHeader) && !errors.Is(err, offload.ErrMalformed) &&
			!errors.Is(err, offload.ErrUnsupported) {
			t.Fatalf("Segment = %v, not a package error", err)
		}
		return
	}
	if err != nil || got != n {
		t.Fatalf("Segment = %d, %v; MaxSegments = %d", got, err, n)
	}
	if n > 1 {
		if g, err := offload.Segment(frame, vh, out[:n-1], sizes, off); g != 0 || !errors.Is(err, offload.ErrShortBuffer) {
			t.Fatalf("Segment into %d buffers for %d segments = %d, %v", n-1, n, g, err)
		}
	}
	for i := range n {
		if !bytes.Equal(out[i][off-header.VirtioNetLen:off], make([]byte, header.VirtioNetLen)) {
			t.Fatalf("segment %d: virtio header not cleared", i)
		}
		if !untouched(out[i][:off-header.VirtioNetLen]) || !untouched(out[i][off+sizes[i]:]) {
			t.Fatalf("segment %d: wrote outside the frame", i)
		}
	}
	if !vh.IsGSO() {
		if !bytes.Equal(out[0][off:off+sizes[0]], fin) {
			t.Fatalf("copied frame differs from the finished one")
		}
		return
	}

	var p0 header.Parsed
	if err := p0.Decode(frame); err != nil {
		t.Fatalf("Segment accepted a frame Decode rejects: %v", err)
	}
	var payload []byte
	for i := range n {
		seg := out[i][off : off+sizes[i]]
		var p header.Parsed
		if err := p.Decode(seg); err != nil {
			t.Fatalf("segment %d: Decode: %v", i, err)
		}
		if p.L4Off != p0.L4Off || p.PayloadOff != p0.PayloadOff || p.L3End != len(seg) || p.Fragment {
			t.Fatalf("segment %d: offsets %d/%d/%d, super-frame %d/%d", i, p.L4Off, p.PayloadOff, p.L3End,
				p0.L4Off, p0.PayloadOff)
		}
		if p.PayloadOff-p.L4Off > len(seg) || len(seg)-p.PayloadOff > int(vh.GSOSize()) {
			t.Fatalf("segment %d: %d payload bytes, GSO size %d", i, len(seg)-p.PayloadOff, vh.GSOSize())
		}
		var phs uint16
		if p.IPVersion == 4 {
			ip := header.IPv4(seg[p.L3Off:])
			if !ip.IsChecksumValid() {
				t.Fatalf("segment %d: bad IPv4 header checksum", i)
			}
			phs = ip.PseudoHeaderChecksum(uint16(len(seg) - p.L4Off))
		} else {
			phs = header.IPv6(seg[p.L3Off:]).PseudoHeaderChecksum(p.Proto, uint16(len(seg)-p.L4Off))
		}
		if header.Checksum(seg[p.L4Off:], phs) != 0xffff {
			t.Fatalf("segment %d: bad L4 checksum", i)
		}
		payload = append(payload, seg[p.PayloadOff:]...)
	}
	if !bytes.Equal(payload, frame[p0.PayloadOff:p0.L3End]) {
		t.Fatalf("segment payloads differ from the super-frame's")
	}
}
