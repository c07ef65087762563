package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/state"
)

// apply records what a plan does into a state, as the daemon would.
func apply(t *testing.T, st *state.State, p *Plan) *state.State {
	t.Helper()
	next := st.Clone()
	used := []netip.Prefix{}
	for _, s := range p.Steps {
		switch s.Op {
		case OpRemoveEndpoint:
			next.RemoveEndpoint(s.Name)
		case OpRemoveNetwork:
			next.RemoveNetwork(s.Name)
		case OpCreateNetwork:
			n, err := next.NewNetwork(s.Spec, used, netip.MustParsePrefix("169.254.127.0/30"), timeZero)
			if err != nil {
				t.Fatalf("%s: %v", s.Op, err)
			}
			next.Networks = append(next.Networks, n)
		case OpRunEndpoint:
			e, err := next.NewEndpoint(s.Endpoint, timeZero)
			if err != nil {
				t.Fatalf("%s: %v", s.Op, err)
			}
			next.Endpoints = append(next.Endpoints, e)
		case OpConnect:
			e := next.Endpoint(s.Name)
			nic, err := next.NewNIC(e, s.Network, s.Connect)
			if err != nil {
				t.Fatalf("%s: %v", s.Op, err)
			}
			e.NICs = append(e.NICs, nic)
		case OpDisconnect:
			e := next.Endpoint(s.Name)
			for i, n := range e.NICs {
				if n.Network == s.Network {
					e.NICs = append(e.NICs[:i], e.NICs[i+1:]...)
					break
				}
			}
		case OpSetLink:
			e := next.Endpoint(s.Link.Endpoint)
			e.NIC(s.Link.Network).Impair = state.ImpairmentOf(s.Impair.Out, s.Impair.In)
		}
	}
	return next
}

func plan(t *testing.T, st *state.State, src control.Topology) *Plan {
	t.Helper()
	d, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Plan(st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func topo(nets []control.LabNetwork, eps []control.LabEndpoint, links ...control.LabLink) control.Topology {
	return control.Topology{Name: "t", Networks: nets, Endpoints: eps, Links: links}
}

func ep(name string, nets ...string) control.LabEndpoint {
	e := control.LabEndpoint{Name: name}
	for _, n := range nets {
		e.Networks = append(e.Networks, control.LabAttachment{Network: n})
	}
	return e
}

// TestPlanDiff: what lab up changes when a file changes, table-driven.
func TestPlanDiff(t *testing.T) {
	a := control.LabNetwork{Name: "a", Subnet: "10.1.0.0/24"}
	b := control.LabNetwork{Name: "b", Subnet: "10.2.0.0/24"}
	b2 := control.LabNetwork{Name: "b", Subnet: "10.3.0.0/24"}
	delay := "50ms"
	base := topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a", "b"), ep("e3", "b")})
	tests := []struct {
		name string
		next control.Topology
		want map[string]string // kind name → action
		ops  []Op
	}{
		{"same file", base, map[string]string{"network t-a": "keep", "endpoint t-e1": "keep", "endpoint t-e2": "keep"}, nil},
		{"endpoint added", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a", "b"), ep("e3", "b"), ep("e4", "a")}),
			map[string]string{"endpoint t-e4": "create", "endpoint t-e1": "keep"}, []Op{OpRunEndpoint}},
		{"endpoint removed", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a", "b")}),
			map[string]string{"endpoint t-e3": "remove"}, []Op{OpRemoveEndpoint}},
		{"network changed", topo([]control.LabNetwork{a, b2}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a", "b"), ep("e3", "b")}),
			map[string]string{"network t-b": "recreate", "endpoint t-e3": "recreate", "endpoint t-e2": "update", "endpoint t-e1": "keep"},
			[]Op{OpRemoveEndpoint, OpDisconnect, OpRemoveNetwork, OpCreateNetwork, OpRunEndpoint, OpConnect}},
		{"second network dropped", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a"), ep("e3", "b")}),
			map[string]string{"endpoint t-e2": "update"}, []Op{OpDisconnect}},
		{"first network changed", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "b"), ep("e2", "a", "b"), ep("e3", "b")}),
			map[string]string{"endpoint t-e1": "recreate"}, []Op{OpRemoveEndpoint, OpRunEndpoint}},
		{"cmd changed", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{{Name: "e1", Networks: []control.LabAttachment{{Network: "a"}}, Cmd: []string{"sleep", "9"}}, ep("e2", "a", "b"), ep("e3", "b")}),
			map[string]string{"endpoint t-e1": "recreate"}, []Op{OpRemoveEndpoint, OpRunEndpoint}},
		{"impairment added", topo([]control.LabNetwork{a, b}, []control.LabEndpoint{ep("e1", "a"), ep("e2", "a", "b"), ep("e3", "b")},
			control.LabLink{Endpoint: "e3", LinkSet: control.LinkSet{Delay: &delay}}),
			map[string]string{"link t-e3 on t-b": "update", "endpoint t-e3": "keep"}, []Op{OpSetLink}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := apply(t, state.New(""), plan(t, state.New(""), base))
			p := plan(t, st, tt.next)
			got := map[string]string{}
			for _, c := range p.Changes {
				got[c.Kind+" "+c.Name] = c.Action
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			var ops []Op
			for _, s := range p.Steps {
				ops = append(ops, s.Op)
			}
			if strings.Join(opStrings(ops), " ") != strings.Join(opStrings(tt.ops), " ") {
				t.Errorf("steps %v, want %v", ops, tt.ops)
			}
			// Applying the plan converges: planning again changes nothing.
			again := plan(t, apply(t, st, p), tt.next)
			if len(again.Steps) != 0 {
				t.Errorf("after applying, the plan still has %+v", again.Steps)
			}
		})
	}
}

func opStrings(ops []Op) []string {
	var s []string
	for _, o := range ops {
		s = append(s, string(o))
	}
	return s
}

// TestCompileErrors: bad topologies are refused with FILE:LINE.
func TestCompileErrors(t *testing.T) {
	lines := map[string]int{"networks.b": 5, "networks.b.subnet": 6, "endpoints.x": 9, "links.0": 12, "links.0.loss": 14}
	loss, delay := "120%", "-1ms"
	tests := []struct {
		name string
		t    control.Topology
		want string
	}{
		{"overlap", control.Topology{Networks: []control.LabNetwork{{Name: "a", Subnet: "10.0.0.0/16"}, {Name: "b", Subnet: "10.0.1.0/24"}}}, "f.yaml:6: network \"b\": subnet 10.0.1.0/24 overlaps"},
		{"unknown network", control.Topology{Endpoints: []control.LabEndpoint{ep("x", "zz")}}, "f.yaml:9: endpoint \"x\": network \"zz\" is not declared"},
		{"unknown endpoint", control.Topology{Links: []control.LabLink{{Endpoint: "y", LinkSet: control.LinkSet{Delay: &delay}}}}, "f.yaml:12:"},
		{"loss over 100", control.Topology{Networks: []control.LabNetwork{{Name: "a"}}, Endpoints: []control.LabEndpoint{ep("x", "a")},
			Links: []control.LabLink{{Endpoint: "x", LinkSet: control.LinkSet{Loss: &loss}}}}, "f.yaml:14: link: loss"},
		{"duplicate endpoint", control.Topology{Networks: []control.LabNetwork{{Name: "a"}}, Endpoints: []control.LabEndpoint{ep("x", "a"), ep("x", "a")}}, "f.yaml:9: endpoint \"x\" declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.t.Name, tt.t.File, tt.t.Lines = "t", "f.yaml", lines
			_, err := Compile(tt.t)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile: %v, want %q…", err, tt.want)
			}
		})
	}
}

var timeZero = time.Time{}
