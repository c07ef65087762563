package vlan

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz from gopacket-built frames")

func FuzzParseSet(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseSet.
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseSet(s)
		if err != nil {
			if set != (Set{}) {
				t.Fatalf("ParseSet(%q) = %v, %v: non-empty set with an error", s, set, err)
			}
			return
		}
		vids := set.VIDs()
		if len(vids) != set.Len() || set.IsEmpty() != (len(vids) == 0) {
			t.Fatalf("ParseSet(%q): %d VIDs, Len %d, IsEmpty %v", s, len(vids), set.Len(), set.IsEmpty())
		}
		for _, v := range vids {
			if v < 1 || v > header.MaxVID || !set.Has(v) {
				t.Fatalf("ParseSet(%q) holds VID %d", s, v)
			}
		}
		str := set.String()
		again, err := ParseSet(str)
		if err != nil || again != set {
			t.Fatalf("ParseSet(%q).String() = %q, which parses to %v, %v", s, str, again, err)
		}
		if again.String() != str {
			t.Fatalf("String not stable: %q then %q", str, again.String())
		}
	})
}

// fuzzPolicy builds a valid policy from fuzz inputs: mode picks the mode,
// vid the port's VLAN, and a non-zero list a one-VLAN Trunks or CVLANs.
func fuzzPolicy(mode uint8, vid, list uint16) Policy {
	p := Policy{Mode: Mode(mode % uint8(numModes))}
	if p.Mode != Trunk {
		p.VID = ID(1 + vid%header.MaxVID)
	}
	if list != 0 {
		var s Set
		s.Add(ID(1 + list%header.MaxVID))
		switch {
		case p.Mode.tagged():
			p.Trunks = s
		case p.Mode == Dot1QTunnel:
			p.CVLANs = s
		}
	}
	return p
}

// FuzzIngress feeds arbitrary frames and virtio headers through Decode,
// Ingress, Pop, PopParsed, Egress and Push, and checks that nothing panics,
// offsets stay in bounds, the virtio offsets move by exactly one tag, and
// pushing the popped tag back restores the original bytes.
func FuzzIngress(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzIngress.
	f.Fuzz(func(t *testing.T, frame, vnet []byte, mode uint8, vid, list uint16) {
		p := fuzzPolicy(mode, vid, list)
		if err := p.Validate(); err != nil {
			t.Fatalf("fuzzPolicy(%d, %d, %d) = %s: %v", mode, vid, list, p.String(), err)
		}
		var pk header.Parsed
		err := pk.Decode(frame)
		in, ok := p.Ingress(&pk)
		if err == header.ErrTruncated || !ok {
			return
		}
		m := in.Meta
		if m.VID < 1 || m.VID > header.MaxVID || m.TCI&vidMask != 0 || m.CVID > header.MaxVID {
			t.Fatalf("Ingress(%x) on %s = %+v: bad Meta", frame, p.String(), in)
		}
		if in.Pop && (pk.Tags == 0 || pk.Len < header.EthernetLen+header.VLANTagLen) {
			t.Fatalf("Ingress(%x) on %s = %+v: Pop without a tag", frame, p.String(), in)
		}
		if _, ok := p.Egress(m); !ok {
			t.Fatalf("Egress(%+v) on %s refuses a frame the port accepted", m, p.String())
		}

		var v [header.VirtioNetLen]byte
		copy(v[:], vnet)
		if h := header.VirtioNet(v[:]).HdrLen(); h == header.VLANTagLen || h == 0x10000-header.VLANTagLen {
			// Not header lengths, and the one case Shift cannot undo:
			// Pop takes 4 to 0 (Push takes 65532 to 0), and Shift
			// leaves a zero hdr_len alone.
			header.VirtioNet(v[:]).SetHdrLen(0)
		}
		buf, start := place(frame, v[:])
		orig := bytes.Clone(buf)
		if in.Pop {
			start = Pop(buf, start)
			if start != len(buf)-len(frame)+header.VLANTagLen {
				t.Fatalf("Pop returned %d", start)
			}
			want := slices.Concat(frame[:12], frame[16:])
			if !bytes.Equal(buf[start:], want) {
				t.Fatalf("Pop(%x) = %x, want %x", frame, buf[start:], want)
			}
			checkShift(t, header.VirtioNet(v[:]), header.VirtioNet(buf[start-header.VirtioNetLen:start]), -header.VLANTagLen)

			tpid, tci := pk.TPID[0], pk.TCI[0]
			perr := err
			PopParsed(&pk)
			checkParsed(t, &pk, buf[start:], perr)

			if s := Push(buf, start, tpid, tci); s != len(buf)-len(frame) || !bytes.Equal(buf, orig) {
				t.Fatalf("Push after Pop does not restore %x", frame)
			}
			start = Pop(buf, start-header.VLANTagLen)
		}

		out, _ := p.Egress(m)
		if out.Push {
			before := bytes.Clone(buf[start-header.VirtioNetLen:])
			start = Push(buf, start, out.TPID, out.TCI)
			var q header.Parsed
			if err := q.Decode(buf[start:]); err == header.ErrTruncated || q.Tags == 0 ||
				q.TPID[0] != out.TPID || q.TCI[0] != out.TCI {
				t.Fatalf("frame after Push(%+v) decodes to %+v, %v", out, q, err)
			}
			checkShift(t, header.VirtioNet(before[:header.VirtioNetLen]), header.VirtioNet(buf[start-header.VirtioNetLen:start]), header.VLANTagLen)
			Pop(buf, start)
			if !bytes.Equal(buf[start+header.VLANTagLen-header.VirtioNetLen:], before) {
				t.Fatalf("Pop after Push(%+v) does not restore the frame", out)
			}
		}
	})
}

// checkShift checks that after differs from before only by delta in
// csum_start (when NEEDS_CSUM is set) and in a non-zero hdr_len.
func checkShift(t *testing.T, before, after header.VirtioNet, delta int) {
	t.Helper()
	want := header.VirtioNet(bytes.Clone(before))
	if before.NeedsCsum() {
		want.SetCsumStart(uint16(int(before.CsumStart()) + delta))
	}
	if before.HdrLen() != 0 {
		want.SetHdrLen(uint16(int(before.HdrLen()) + delta))
	}
	if !bytes.Equal(after, want) {
		t.Fatalf("virtio header % x shifted by %d = % x, want % x", []byte(before), delta, []byte(after), []byte(want))
	}
}

// checkParsed checks pk, updated by PopParsed, against a fresh Decode of
// frame, and that its offsets are in bounds.
func checkParsed(t *testing.T, pk *header.Parsed, frame []byte, err error) {
	t.Helper()
	for _, off := range []int{pk.L3Off, pk.L4Off, pk.PayloadOff, pk.L3End} {
		if off < 0 || off > len(frame) || pk.Len != len(frame) {
			t.Fatalf("PopParsed: offset %d out of frame of %d (%+v)", off, len(frame), pk)
		}
	}
	var want header.Parsed
	werr := want.Decode(frame)
	if header.IsTPID(pk.EtherType) {
		return // a tag beyond MaxTags: Decode now records it, PopParsed cannot
	}
	if werr != err || want != *pk {
		t.Fatalf("PopParsed = %+v, %v\nDecode    = %+v, %v", *pk, err, want, werr)
	}
}

// TestFuzzCorpus checks that the seed corpus in testdata/fuzz holds the
// seeds fuzzSeeds builds; run with -update-corpus to rewrite them. Other
// files there are inputs the fuzzer found, kept as regression tests.
func TestFuzzCorpus(t *testing.T) {
	for name, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for file, content := range seeds {
			path := filepath.Join(dir, file)
			if *updateCorpus {
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != content {
				t.Errorf("seed %s is missing or stale (run go test -run TestFuzzCorpus -update-corpus): %v", path, err)
			}
		}
	}
}

// fuzzSeeds returns the seed files of each fuzz target, in the
// "go test fuzz v1" format, keyed by target and file name.
func fuzzSeeds(t *testing.T) map[string]map[string]string {
	sets := map[string]map[string]string{"FuzzParseSet": {}, "FuzzIngress": {}}
	for name, s := range map[string]string{
		"empty":     "",
		"list":      "10,20,30-40",
		"all":       "1-4094",
		"spaces":    " 7 , 8 - 9 ",
		"unsorted":  "40,2,3,1,39",
		"reserved":  "0,4095",
		"backwards": "20-10",
		"syntax":    "10,x",
		"dangling":  "1-",
	} {
		sets["FuzzParseSet"][name] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}

	noOffload := make([]byte, header.VirtioNetLen)
	type seed struct {
		frame, vnet []byte
		mode        Mode
		vid, list   uint16
	}
	ingress := map[string]seed{
		"access-untagged-tcp":    {tcpFrame(t, 64), gsoVirtio(34, 54), Access, 10, 0},
		"access-prio-arp":        {arpFrame(t, tag{ctpid, p5}), noOffload, Access, 10, 0},
		"trunk-c10-tcp-gso":      {tcpFrame(t, 1500, tag{ctpid, 3<<13 | 10}), gsoVirtio(38, 58), Trunk, 0, 0},
		"trunk-s20c10-tcp-gso":   {tcpFrame(t, 1500, tag{stpid, 20}, tag{ctpid, 10}), gsoVirtio(42, 62), Trunk, 0, 20},
		"trunk-s20c10c30-tcp":    {tcpFrame(t, 16, tag{stpid, 20}, tag{ctpid, 10}, tag{ctpid, 30}), gsoVirtio(46, 66), Trunk, 0, 0},
		"native-untagged-udp6":   {udp6Frame(t), noOffload, NativeUntagged, 10, 20},
		"native-tagged-c20-udp6": {udp6Frame(t, tag{ctpid, 0x1000 | 20}), noOffload, NativeTagged, 10, 20},
		"native-prio88a8-arp":    {arpFrame(t, tag{stpid, p5}), noOffload, NativeTagged, 10, 0},
		"tunnel-c10-tcp":         {tcpFrame(t, 64, tag{ctpid, 10}), gsoVirtio(38, 58), Dot1QTunnel, 100, 10},
		"tunnel-untagged-arp":    {arpFrame(t), noOffload, Dot1QTunnel, 100, 0},
		"9100-arp":               {arpFrame(t, tag{0x9100, 10}), noOffload, Trunk, 0, 0},
		"truncated-tag":          {tcpFrame(t, 0, tag{ctpid, 10})[:16], noOffload, Trunk, 0, 0},
		"tag-only":               {tcpFrame(t, 0, tag{ctpid, 10})[:18], gsoVirtio(2, 1), Trunk, 0, 0},
	}
	for name, s := range ingress {
		sets["FuzzIngress"][name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\nbyte(%q)\nuint16(%d)\nuint16(%d)\n",
			s.frame, s.vnet, byte(s.mode), s.vid, s.list)
	}
	return sets
}
