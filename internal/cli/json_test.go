package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/control"
)

// TestJSONOutputs: every listing's --json decodes strictly into the type
// its help names, and holds every field of that type, recursively (the
// fake fills every field, so a field missing is one the CLI dropped).
func TestJSONOutputs(t *testing.T) {
	f := newFakeDaemon(t)
	tests := []struct {
		args []string
		into any // a pointer to the documented type
	}{
		{[]string{"ps", "-a", "--json"}, &[]control.Endpoint{}},
		{[]string{"inspect", "web", "job"}, &[]control.Endpoint{}},
		{[]string{"inspect", "--json", "web"}, &[]control.Endpoint{}},
		{[]string{"network", "ls", "--json"}, &[]control.Network{}},
		{[]string{"network", "inspect", "--json", "front", "back"}, &[]control.Network{}},
		{[]string{"network", "prune", "-f", "--json"}, &control.NetworkPrune{}},
		{[]string{"fdb", "show", "--json"}, &[]control.FDBEntry{}},
		{[]string{"ports", "--json"}, &[]control.Port{}},
		{[]string{"stats", "--json"}, &control.Stats{}},
		{[]string{"conntrack", "list", "--json"}, &[]control.Conn{}},
		{[]string{"conntrack", "count", "--json"}, &control.ConntrackCount{}},
		{[]string{"nat", "show", "--json"}, &control.NATRules{}},
		{[]string{"uplink", "show", "--json"}, &control.Uplink{}},
		{[]string{"show", "--json"}, &overview{}},
		{[]string{"top", "web", "--json"}, &control.Top{}},
		{[]string{"version", "--json"}, &versions{}},
		{[]string{"log-level", "--json"}, &control.LogLevel{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, f.socket, "", tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.into); err != nil {
				t.Fatalf("decode into %T: %v\n%s", tt.into, err, r.stdout)
			}
			if dec.More() {
				t.Errorf("more than one JSON value:\n%s", r.stdout)
			}
			var raw any
			if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
				t.Fatal(err)
			}
			for _, p := range missingFields(reflect.TypeOf(tt.into).Elem(), raw, "") {
				t.Errorf("%s: field missing from the output (or never filled by the fake)", p)
			}
		})
	}
}

// TestJSONEmpty: empty listings are [] (not null), and nothing is missing.
func TestJSONEmpty(t *testing.T) {
	f := newFakeDaemon(t)
	f.set(func(f *fakeDaemon) {
		f.networks, f.endpoints, f.ports, f.fdb, f.conns = nil, nil, nil, nil, nil
		f.nat, f.top = control.NATRules{}, control.Top{}
		f.stats.Ports = nil
	})
	for _, args := range [][]string{
		{"ps", "--json"}, {"network", "ls", "--json"}, {"fdb", "show", "--json"}, {"ports", "--json"}, {"conntrack", "list", "--json"},
	} {
		if r := runCLI(t, f.socket, "", args...); r.code != 0 || r.stdout != "[]\n" {
			t.Errorf("%q: %+v, want []", args, r)
		}
	}
	f.set(func(f *fakeDaemon) { f.uplink = nil })
	for _, args := range [][]string{{"show", "--json"}, {"nat", "show", "--json"}, {"stats", "--json"}, {"top", "x", "--json"}} {
		if args[0] == "top" {
			f.set(func(f *fakeDaemon) { f.endpoints = []control.Endpoint{{Name: "x"}} })
		}
		r := runCLI(t, f.socket, "", args...)
		if r.code != 0 || strings.Count(r.stdout, "null") != strings.Count(r.stdout, `"uplink": null`) {
			t.Errorf("%q: %+v, want empty lists, not null", args, r)
		}
	}
}

// missingFields returns the JSON paths of v (decoded into any) where a
// field of typ is absent, walking into structs, slices, pointers and maps.
func missingFields(typ reflect.Type, v any, path string) []string {
	if v == nil {
		return nil // null: present
	}
	if typ.Implements(reflect.TypeFor[json.Marshaler]()) || reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]()) {
		return nil // time.Time and friends are leaves
	}
	var out []string
	switch typ.Kind() {
	case reflect.Pointer:
		return missingFields(typ.Elem(), v, path)
	case reflect.Slice:
		for i, e := range v.([]any) {
			out = append(out, missingFields(typ.Elem(), e, path+"["+strconv.Itoa(i)+"]")...)
		}
	case reflect.Map:
		m := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, missingFields(typ.Elem(), m[k], path+"."+k)...)
		}
	case reflect.Struct:
		m := v.(map[string]any)
		for i := range typ.NumField() {
			sf := typ.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			fv, ok := m[name]
			if !ok {
				out = append(out, path+"."+name)
				continue
			}
			out = append(out, missingFields(sf.Type, fv, path+"."+name)...)
		}
	}
	return out
}

// TestMissingFields: the checker itself notices a dropped field, deep.
func TestMissingFields(t *testing.T) {
	type inner struct {
		A int `json:"a"`
		B int `json:"b,omitempty"`
	}
	type outer struct {
		In  []inner `json:"in"`
		Ptr *inner  `json:"ptr"`
	}
	b, _ := json.Marshal(outer{In: []inner{{A: 1}}, Ptr: &inner{A: 1, B: 2}})
	var raw any
	json.Unmarshal(b, &raw)
	got := missingFields(reflect.TypeFor[outer](), raw, "")
	if want := []string{".in[0].b"}; !slices.Equal(got, want) {
		t.Errorf("missingFields = %v, want %v", got, want)
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(outer{})
	json.Unmarshal(buf.Bytes(), &raw)
	if got := missingFields(reflect.TypeFor[outer](), raw, ""); len(got) != 0 {
		t.Errorf("missingFields of nulls = %v, want none", got)
	}
}
