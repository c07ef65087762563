package vlan

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

// TestPortToPort runs frames through the VLAN path of the switch as the
// datapath does (Decode, Ingress of the receiving port, Pop, PopParsed,
// Egress of the sending port, Push) on the bytes of a TCP super-frame with
// a virtio-net header. Each row reads (ingress tags, ingress policy) →
// (accepted?, VLAN) → (sent?, egress tags) on another port, so every mode
// is checked against every other on the wire, not only decision by
// decision as in TestIngress and TestEgress. The frame after the tags and
// the virtio offsets (moved by 4 bytes a tag) must come out right.
func TestPortToPort(t *testing.T) {
	policies := testPolicies(t)
	c := func(tci uint16) tag { return tag{ctpid, tci} }
	s := func(tci uint16) tag { return tag{stpid, tci} }
	const dropped, notSent = 0, false
	tests := []struct {
		in   string
		tags []tag
		out  string
		vid  ID // VLAN inside the switch; dropped (0) at ingress
		sent bool
		want []tag // on egress
	}{
		// access in
		{"access10", nil, "trunk-all", 10, true, []tag{c(10)}},
		{"access10", []tag{c(p5)}, "trunk-all", 10, true, []tag{c(p5 | 10)}}, // priority kept
		{"access10", nil, "native-untag10", 10, true, nil},
		{"access10", nil, "native-tag10", 10, true, []tag{c(10)}},
		{"access10", nil, "trunk20", 10, notSent, nil},
		{"access10", nil, "tunnel100", 10, notSent, nil},
		{"access10", []tag{c(10)}, "trunk-all", dropped, notSent, nil},

		// trunk in
		{"trunk-all", []tag{c(10)}, "access10", 10, true, nil},
		{"trunk-all", []tag{c(20)}, "access10", 20, notSent, nil},
		{"trunk-all", []tag{c(3<<13 | 20)}, "trunk20", 20, true, []tag{c(3<<13 | 20)}},
		{"trunk-all", []tag{s(20), c(10)}, "trunk20", 20, true, []tag{s(20), c(10)}},
		{"trunk-all", []tag{c(10)}, "native-untag10", 10, true, nil},
		{"trunk-all", []tag{c(100)}, "tunnel100", 100, true, nil},
		{"trunk-all", []tag{s(100), c(10)}, "tunnel100", 100, true, []tag{c(10)}}, // S-tag off, customer's C-tag out
		{"trunk-all", []tag{s(100), c(10)}, "tunnel100-c10", 100, true, []tag{c(10)}},
		{"trunk-all", []tag{s(100), c(20)}, "tunnel100-c10", 100, notSent, nil},
		{"trunk-all", []tag{s(10), c(5)}, "access10", 10, notSent, nil}, // a customer tag never leaves an access port
		{"trunk20", []tag{c(10)}, "trunk-all", dropped, notSent, nil},
		{"trunk-all", nil, "access10", dropped, notSent, nil},

		// native in
		{"native-untag10", nil, "trunk-all", 10, true, []tag{c(10)}},
		{"native-untag10", []tag{c(20)}, "native-tag10", 20, true, []tag{c(20)}},
		{"native-untag10", []tag{c(30)}, "trunk-all", dropped, notSent, nil},
		{"native-tag10", []tag{c(10)}, "native-untag10", 10, true, nil},
		{"native-tag10", nil, "access10", 10, true, nil},
		{"native-tag10", []tag{s(20)}, "trunk-all", 20, true, []tag{s(20)}},

		// dot1q-tunnel in
		{"tunnel100", []tag{c(10)}, "trunk-all", 100, true, []tag{s(100), c(10)}},
		{"tunnel100", nil, "trunk-all", 100, true, []tag{s(100)}},
		{"tunnel100", []tag{c(p5)}, "trunk-all", 100, true, []tag{s(100), c(p5)}}, // priority tag stays the customer's
		{"tunnel100", []tag{c(10)}, "tunnel100-c10", 100, true, []tag{c(10)}},
		{"tunnel100", []tag{c(20)}, "tunnel100-c10", 100, notSent, nil},
		{"tunnel100", []tag{c(10)}, "native-untag10", 100, notSent, nil}, // trunks=20 only
		{"tunnel100", []tag{c(10)}, "trunk20", 100, notSent, nil},
		{"tunnel100", []tag{c(10)}, "access10", 100, notSent, nil},
		{"tunnel100-c10", []tag{c(20)}, "trunk-all", dropped, notSent, nil},
		{"tunnel100", []tag{s(20)}, "trunk-all", dropped, notSent, nil},
	}
	covered := map[Mode]bool{}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v/%s", tt.in, tt.tags, tt.out), func(t *testing.T) {
			pin, pout := policies[tt.in], policies[tt.out]
			covered[pin.Mode], covered[pout.Mode] = true, true
			frame := tcpFrame(t, 2000, tt.tags...)
			l4 := header.EthernetLen + header.VLANTagLen*len(tt.tags) + 20
			buf, start := place(frame, gsoVirtio(l4, l4+20))

			var pk header.Parsed
			if err := pk.Decode(buf[start:]); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			in, ok := pin.Ingress(&pk)
			if ok != (tt.vid != dropped) || ok && in.Meta.VID != tt.vid {
				t.Fatalf("Ingress on %s = %+v, %v; want VLAN %d (0: dropped)", pin.String(), in, ok, tt.vid)
			}
			if !ok {
				return
			}
			if in.Pop {
				start = Pop(buf, start)
				PopParsed(&pk)
			}
			out, ok := pout.Egress(in.Meta)
			if ok != tt.sent {
				t.Fatalf("Egress(%+v) on %s = %+v, %v; want sent %v", in.Meta, pout.String(), out, ok, tt.sent)
			}
			if !ok {
				return
			}
			if out.Push {
				start = Push(buf, start, out.TPID, out.TCI)
			}

			got := decode(t, buf[start:])
			var gotTags []tag
			for i := range got.Tags {
				gotTags = append(gotTags, tag{got.TPID[i], got.TCI[i]})
			}
			if !slices.Equal(gotTags, tt.want) {
				t.Errorf("egress tags on %s = %x, want %x", pout.String(), gotTags, tt.want)
			}
			rest := header.EthernetLen - 2 + header.VLANTagLen*len(tt.want)
			if !bytes.Equal(buf[start:start+12], frame[:12]) || !bytes.Equal(buf[start+rest:], frame[header.EthernetLen-2+header.VLANTagLen*len(tt.tags):]) {
				t.Errorf("frame changed beyond its tags:\n got %x\nfrom %x", buf[start:], frame)
			}
			vh := header.VirtioNet(buf[start-header.VirtioNetLen : start])
			shift := header.VLANTagLen * (len(tt.want) - len(tt.tags))
			if int(vh.CsumStart()) != l4+shift || int(vh.HdrLen()) != l4+20+shift {
				t.Errorf("virtio csum_start %d, hdr_len %d; want %d, %d", vh.CsumStart(), vh.HdrLen(), l4+shift, l4+20+shift)
			}
		})
	}
	for m := range numModes {
		if !covered[m] {
			t.Errorf("mode %v is in no row", m)
		}
	}
}
