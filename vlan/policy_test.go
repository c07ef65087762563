package vlan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vswitchd/vswitchd/header"
)

func mustSet(t testing.TB, s string) Set {
	t.Helper()
	set, err := ParseSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// testPolicies are the port policies the tables run against.
func testPolicies(t testing.TB) map[string]Policy {
	return map[string]Policy{
		"access10":       {Mode: Access, VID: 10},
		"trunk-all":      {Mode: Trunk},
		"trunk20":        {Mode: Trunk, Trunks: mustSet(t, "20")},
		"native-untag10": {Mode: NativeUntagged, VID: 10, Trunks: mustSet(t, "20")},
		"native-tag10":   {Mode: NativeTagged, VID: 10, Trunks: mustSet(t, "20")},
		"tunnel100":      {Mode: Dot1QTunnel, VID: 100},
		"tunnel100-c10":  {Mode: Dot1QTunnel, VID: 100, CVLANs: mustSet(t, "10")},
	}
}

const (
	ctpid = header.EtherTypeVLAN
	stpid = header.EtherTypeQinQ
	p5    = 5 << 13 // PCP 5
)

// testTags are the ingress tag stacks the table runs against.
var testTags = map[string][]tag{
	"untagged":       nil,
	"prio":           {{ctpid, p5}},
	"prio-88a8":      {{stpid, p5}},
	"c10":            {{ctpid, 3<<13 | 0x1000 | 10}}, // PCP 3, DEI
	"c20":            {{ctpid, 20}},
	"c30":            {{ctpid, 30}},
	"s20":            {{stpid, 1<<13 | 20}},
	"s20+c10":        {{stpid, 20}, {ctpid, 10}},
	"c20+c10":        {{ctpid, 20}, {ctpid, 10}},
	"prio+c10":       {{ctpid, p5}, {ctpid, 10}},
	"c4095":          {{ctpid, 4095}},
	"s20+c4095":      {{stpid, 20}, {ctpid, 4095}},
	"9100-10":        {{0x9100, 10}},
	"s20+c10+c30":    {{stpid, 20}, {ctpid, 10}, {ctpid, 30}},
	"c10-untag-prio": {{ctpid, 10}, {ctpid, p5}},
}

func TestIngress(t *testing.T) {
	policies := testPolicies(t)
	type want struct {
		ok bool
		in Ingress
	}
	drop := want{}
	keep := func(m Meta) want { return want{true, Ingress{Meta: m}} }
	pop := func(m Meta) want { return want{true, Ingress{Meta: m, Pop: true}} }

	tests := []struct {
		policy, tags string
		want         want
	}{
		// access: untagged and priority-tagged only.
		{"access10", "untagged", keep(Meta{VID: 10})},
		{"access10", "prio", pop(Meta{VID: 10, TCI: p5})},
		{"access10", "prio-88a8", pop(Meta{VID: 10, TCI: p5, QinQ: true})},
		{"access10", "c10", drop}, // even its own VLAN
		{"access10", "c20", drop},
		{"access10", "s20", drop},
		{"access10", "s20+c10", drop},
		{"access10", "prio+c10", drop},
		{"access10", "c4095", drop},
		{"access10", "9100-10", drop},

		// trunk: allowed tagged VLANs only.
		{"trunk-all", "untagged", drop},
		{"trunk-all", "prio", drop},
		{"trunk-all", "prio-88a8", drop},
		{"trunk-all", "c10", pop(Meta{VID: 10, TCI: 3<<13 | 0x1000})},
		{"trunk-all", "c20", pop(Meta{VID: 20})},
		{"trunk-all", "s20", pop(Meta{VID: 20, TCI: 1 << 13, QinQ: true})},
		{"trunk-all", "s20+c10", pop(Meta{VID: 20, QinQ: true, CVID: 10})},
		{"trunk-all", "c20+c10", pop(Meta{VID: 20, CVID: 10})},
		{"trunk-all", "s20+c10+c30", pop(Meta{VID: 20, QinQ: true, CVID: 10})},
		{"trunk-all", "c10-untag-prio", pop(Meta{VID: 10})},
		{"trunk-all", "prio+c10", drop},
		{"trunk-all", "c4095", drop},
		{"trunk-all", "s20+c4095", drop}, // the reserved VID inside is refused too
		{"trunk-all", "9100-10", drop},
		{"trunk20", "c10", drop},
		{"trunk20", "c20", pop(Meta{VID: 20})},
		{"trunk20", "c30", drop},
		{"trunk20", "s20", pop(Meta{VID: 20, TCI: 1 << 13, QinQ: true})},
		{"trunk20", "untagged", drop},

		// native-untagged: trunk plus untagged → native VLAN, which is
		// carried even though Trunks does not list it.
		{"native-untag10", "untagged", keep(Meta{VID: 10})},
		{"native-untag10", "prio", pop(Meta{VID: 10, TCI: p5})},
		{"native-untag10", "prio-88a8", pop(Meta{VID: 10, TCI: p5, QinQ: true})},
		{"native-untag10", "c10", pop(Meta{VID: 10, TCI: 3<<13 | 0x1000})},
		{"native-untag10", "c20", pop(Meta{VID: 20})},
		{"native-untag10", "c30", drop},
		{"native-untag10", "s20+c10", pop(Meta{VID: 20, QinQ: true, CVID: 10})},
		{"native-untag10", "prio+c10", drop},
		{"native-untag10", "c4095", drop},
		{"native-untag10", "9100-10", drop},

		// native-tagged: the same on ingress.
		{"native-tag10", "untagged", keep(Meta{VID: 10})},
		{"native-tag10", "prio", pop(Meta{VID: 10, TCI: p5})},
		{"native-tag10", "c10", pop(Meta{VID: 10, TCI: 3<<13 | 0x1000})},
		{"native-tag10", "c20", pop(Meta{VID: 20})},
		{"native-tag10", "c30", drop},
		{"native-tag10", "s20", pop(Meta{VID: 20, TCI: 1 << 13, QinQ: true})},
		{"native-tag10", "prio+c10", drop},

		// dot1q-tunnel: everything the customer sends, in the service
		// VLAN, C-tag kept; no S-tags.
		{"tunnel100", "untagged", keep(Meta{VID: 100, QinQ: true})},
		{"tunnel100", "prio", keep(Meta{VID: 100, QinQ: true})},
		{"tunnel100", "prio-88a8", drop},
		{"tunnel100", "c10", keep(Meta{VID: 100, QinQ: true, CVID: 10})},
		{"tunnel100", "c30", keep(Meta{VID: 100, QinQ: true, CVID: 30})},
		{"tunnel100", "c20+c10", keep(Meta{VID: 100, QinQ: true, CVID: 20})},
		{"tunnel100", "s20", drop},
		{"tunnel100", "s20+c10", drop},
		{"tunnel100", "prio+c10", drop},
		{"tunnel100", "c4095", drop},
		{"tunnel100", "9100-10", drop},
		{"tunnel100-c10", "untagged", keep(Meta{VID: 100, QinQ: true})},
		{"tunnel100-c10", "prio", keep(Meta{VID: 100, QinQ: true})},
		{"tunnel100-c10", "c10", keep(Meta{VID: 100, QinQ: true, CVID: 10})},
		{"tunnel100-c10", "c20", drop},
		{"tunnel100-c10", "c20+c10", drop},
		{"tunnel100-c10", "s20+c10", drop},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+tt.tags, func(t *testing.T) {
			p, ok := policies[tt.policy]
			tags, ok2 := testTags[tt.tags]
			if !ok || !ok2 {
				t.Fatalf("unknown policy %q or tags %q", tt.policy, tt.tags)
			}
			covered[p.Mode.String()] = true
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, frame := range [][]byte{tcpFrame(t, 20, tags...), arpFrame(t, tags...)} {
				pk := decode(t, frame)
				in, ok := p.Ingress(pk)
				if got := (want{ok, in}); got != tt.want {
					t.Errorf("Ingress(%s on %s) = %+v, want %+v", tt.tags, p.String(), got, tt.want)
				}
			}
		})
	}
	for m := range numModes {
		if !covered[m.String()] {
			t.Errorf("mode %v has no ingress test", m)
		}
	}
}

func TestIngressTruncated(t *testing.T) {
	for name, p := range testPolicies(t) {
		var pk header.Parsed
		for n := range header.EthernetLen {
			pk.Decode(make([]byte, n))
			if in, ok := p.Ingress(&pk); ok {
				t.Errorf("%s: Ingress(%d-byte frame) = %+v, true, want drop", name, n, in)
			}
		}
	}
}

func TestEgress(t *testing.T) {
	policies := testPolicies(t)
	type want struct {
		ok  bool
		out Egress
	}
	skip := want{}
	untagged := want{ok: true}
	push := func(tpid, tci uint16) want { return want{true, Egress{Push: true, TPID: tpid, TCI: tci}} }

	tests := []struct {
		policy string
		meta   Meta
		want   want
	}{
		{"access10", Meta{VID: 10}, untagged},
		{"access10", Meta{VID: 10, TCI: p5}, untagged}, // no priority tags
		{"access10", Meta{VID: 10, QinQ: true}, untagged},
		{"access10", Meta{VID: 20}, skip},
		{"access10", Meta{VID: 10, CVID: 5}, skip}, // customer tag inside
		{"access10", Meta{}, skip},

		{"trunk-all", Meta{VID: 10}, push(ctpid, 10)},
		{"trunk-all", Meta{VID: 10, TCI: p5}, push(ctpid, p5|10)},
		{"trunk-all", Meta{VID: 20, TCI: 3<<13 | 0x1000}, push(ctpid, 3<<13|0x1000|20)},
		{"trunk-all", Meta{VID: 20, TCI: 0xffff}, push(ctpid, 0xf014)}, // stray VID bits ignored
		{"trunk-all", Meta{VID: 20, TCI: 1 << 13, QinQ: true}, push(stpid, 1<<13|20)},
		{"trunk-all", Meta{VID: 100, QinQ: true, CVID: 10}, push(stpid, 100)},
		{"trunk-all", Meta{VID: 10, CVID: 5}, push(ctpid, 10)},
		{"trunk-all", Meta{VID: header.MaxVID}, push(ctpid, header.MaxVID)},
		{"trunk-all", Meta{}, skip},
		{"trunk-all", Meta{VID: 4095}, skip},
		{"trunk20", Meta{VID: 20}, push(ctpid, 20)},
		{"trunk20", Meta{VID: 20, QinQ: true}, push(stpid, 20)},
		{"trunk20", Meta{VID: 10}, skip},
		{"trunk20", Meta{VID: 30}, skip},

		{"native-untag10", Meta{VID: 10}, untagged},
		{"native-untag10", Meta{VID: 10, TCI: p5}, untagged},
		{"native-untag10", Meta{VID: 10, CVID: 5}, untagged}, // as OVS: the inner tag shows
		{"native-untag10", Meta{VID: 20, TCI: p5}, push(ctpid, p5|20)},
		{"native-untag10", Meta{VID: 20, QinQ: true}, push(stpid, 20)},
		{"native-untag10", Meta{VID: 30}, skip},

		{"native-tag10", Meta{VID: 10}, push(ctpid, 10)},
		{"native-tag10", Meta{VID: 10, TCI: p5}, push(ctpid, p5|10)},
		{"native-tag10", Meta{VID: 10, QinQ: true}, push(stpid, 10)},
		{"native-tag10", Meta{VID: 20}, push(ctpid, 20)},
		{"native-tag10", Meta{VID: 30}, skip},

		{"tunnel100", Meta{VID: 100, QinQ: true}, untagged},
		{"tunnel100", Meta{VID: 100, QinQ: true, CVID: 10}, untagged},
		{"tunnel100", Meta{VID: 100, TCI: p5, CVID: 30}, untagged},
		{"tunnel100", Meta{VID: 10}, skip},
		{"tunnel100", Meta{VID: 20, QinQ: true}, skip},
		{"tunnel100-c10", Meta{VID: 100, QinQ: true}, untagged},
		{"tunnel100-c10", Meta{VID: 100, QinQ: true, CVID: 10}, untagged},
		{"tunnel100-c10", Meta{VID: 100, QinQ: true, CVID: 20}, skip},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%+v", tt.policy, tt.meta), func(t *testing.T) {
			p, ok := policies[tt.policy]
			if !ok {
				t.Fatalf("unknown policy %q", tt.policy)
			}
			covered[p.Mode.String()] = true
			out, ok := p.Egress(tt.meta)
			if got := (want{ok, out}); got != tt.want {
				t.Errorf("Egress(%+v on %s) = %+v, want %+v", tt.meta, p.String(), got, tt.want)
			}
		})
	}
	for m := range numModes {
		if !covered[m.String()] {
			t.Errorf("mode %v has no egress test", m)
		}
	}
}

// TestIngressEgressSymmetry checks, for every policy and tag stack, that a
// frame a port accepts may be sent back out of that port, and that a tag
// popped on a trunk-like port is pushed back exactly, TPID and all, unless
// the frame is in the native VLAN of a native-untagged port.
func TestIngressEgressSymmetry(t *testing.T) {
	for pname, p := range testPolicies(t) {
		for tname, tags := range testTags {
			pk := decode(t, tcpFrame(t, 0, tags...))
			in, ok := p.Ingress(pk)
			if !ok {
				continue
			}
			out, ok := p.Egress(in.Meta)
			if !ok {
				t.Errorf("%s/%s: Egress(Ingress() = %+v) refused", pname, tname, in)
				continue
			}
			if !in.Pop || pk.TCI[0]&vidMask == 0 || p.Mode == NativeUntagged && in.Meta.VID == p.VID {
				continue
			}
			want := Egress{Push: true, TPID: pk.TPID[0], TCI: pk.TCI[0]}
			if out != want {
				t.Errorf("%s/%s: Egress(%+v) = %+v, want %+v", pname, tname, in.Meta, out, want)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string // substring; "" = valid
	}{
		{"access", Policy{Mode: Access, VID: 1}, ""},
		{"access-max", Policy{Mode: Access, VID: 4094}, ""},
		{"access-no-vid", Policy{Mode: Access}, "access port needs a vlan in 1-4094, not 0"},
		{"access-4095", Policy{Mode: Access, VID: 4095}, "access port needs a vlan in 1-4094, not 4095"},
		{"access-trunks", Policy{Mode: Access, VID: 10, Trunks: mustSet(t, "20")}, `access port has trunks "20"`},
		{"access-cvlans", Policy{Mode: Access, VID: 10, CVLANs: mustSet(t, "20")}, `access port has cvlans "20"`},
		{"trunk", Policy{Mode: Trunk}, ""},
		{"trunk-list", Policy{Mode: Trunk, Trunks: mustSet(t, "10-20")}, ""},
		{"trunk-vid", Policy{Mode: Trunk, VID: 10}, "trunk port has vlan 10"},
		{"native-untagged", Policy{Mode: NativeUntagged, VID: 10, Trunks: mustSet(t, "20")}, ""},
		{"native-tagged", Policy{Mode: NativeTagged, VID: 10}, ""},
		{"native-no-vid", Policy{Mode: NativeTagged}, "native-tagged port needs a vlan"},
		{"tunnel", Policy{Mode: Dot1QTunnel, VID: 100, CVLANs: mustSet(t, "10")}, ""},
		{"tunnel-no-vid", Policy{Mode: Dot1QTunnel}, "dot1q-tunnel port needs a vlan"},
		{"tunnel-trunks", Policy{Mode: Dot1QTunnel, VID: 100, Trunks: mustSet(t, "10")}, "dot1q-tunnel port has trunks"},
		{"bad-mode", Policy{Mode: 9, VID: 10}, "unknown vlan mode 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate(%s) = %v, want nil", tt.p.String(), err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate(%s) = %v, want error containing %q", tt.p.String(), err, tt.wantErr)
			case err != nil && !errors.Is(err, ErrPolicy):
				t.Errorf("Validate(%s) = %v, not ErrPolicy", tt.p.String(), err)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("Validate(%s) = %q, want one line", tt.p.String(), err)
			}
		})
	}
}

func TestMode(t *testing.T) {
	for m := range numModes {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v, want %v", m.String(), got, err, m)
		}
	}
	if _, err := ParseMode("hybrid"); !errors.Is(err, ErrMode) {
		t.Errorf(`ParseMode("hybrid") = %v, want ErrMode`, err)
	}
	if got := Mode(7).String(); got != "Mode(7)" {
		t.Errorf("Mode(7).String() = %q", got)
	}
}

func TestPolicyJSON(t *testing.T) {
	p := Policy{Mode: NativeUntagged, VID: 10, Trunks: mustSet(t, "20,30-40")}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"mode":"native-untagged","vid":10,"trunks":"20,30-40"}`
	if string(b) != want {
		t.Errorf("json.Marshal(%s) = %s, want %s", p.String(), b, want)
	}
	var got Policy
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Errorf("json round trip: %s", cmp.Diff(p.String(), got.String()))
	}
	err = json.Unmarshal([]byte(`{"mode":"trunk","trunks":"10,4095"}`), &got)
	if !errors.Is(err, ErrRange) {
		t.Errorf("json.Unmarshal(trunks 4095) = %v, want ErrRange", err)
	}
	err = json.Unmarshal([]byte(`{"mode":"hybrid"}`), &got)
	if !errors.Is(err, ErrMode) {
		t.Errorf("json.Unmarshal(mode hybrid) = %v, want ErrMode", err)
	}
}

// TestMemberMatchesEgress: Member(id) is true exactly when Egress accepts
// some frame of VLAN id, for every mode.
func TestMemberMatchesEgress(t *testing.T) {
	trunks, _ := ParseSet("10,20-22")
	policies := []Policy{
		{Mode: Access, VID: 10},
		{Mode: Trunk},
		{Mode: Trunk, Trunks: trunks},
		{Mode: NativeTagged, VID: 30, Trunks: trunks},
		{Mode: NativeUntagged, VID: 10},
		{Mode: Dot1QTunnel, VID: 100},
	}
	for _, p := range policies {
		for id := ID(0); id <= MaxID+1; id++ {
			_, plain := p.Egress(Meta{VID: id})
			_, qinq := p.Egress(Meta{VID: id, QinQ: true, CVID: 5})
			if got, want := p.Member(id), plain || qinq; got != want {
				t.Errorf("%s: Member(%d) = %v, want %v", p.String(), id, got, want)
			}
		}
	}
}
