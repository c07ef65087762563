package vlan

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
)

func TestParseSet(t *testing.T) {
	tests := []struct {
		in      string
		want    []ID
		str     string
		wantErr string
	}{
		{in: "", want: []ID{}, str: ""},
		{in: "  ", want: []ID{}, str: ""},
		{in: "10", want: []ID{10}, str: "10"},
		{in: "10,20,30-33", want: []ID{10, 20, 30, 31, 32, 33}, str: "10,20,30-33"},
		{in: "20,10,10", want: []ID{10, 20}, str: "10,20"},
		{in: " 7 , 8 - 9 ", want: []ID{7, 8, 9}, str: "7-9"},
		{in: "1,2", want: []ID{1, 2}, str: "1-2"},
		{in: "4094", want: []ID{4094}, str: "4094"},
		{in: "5-5", want: []ID{5}, str: "5"},
		{in: "10,x", wantErr: `parse vlan list "10,x": vlan "x": invalid syntax`},
		{in: "4095", wantErr: `parse vlan list "4095": vlan 4095 out of range 1-4094`},
		{in: "0", wantErr: `parse vlan list "0": vlan 0 out of range 1-4094`},
		{in: "1-4095", wantErr: `parse vlan list "1-4095": vlan 4095 out of range 1-4094`},
		{in: "99999999999", wantErr: `parse vlan list "99999999999": vlan "99999999999": value out of range`},
		{in: "-3", wantErr: `parse vlan list "-3": vlan "": invalid syntax`},
		{in: "10,", wantErr: `parse vlan list "10,": vlan "": invalid syntax`},
		{in: "20-10", wantErr: `parse vlan list "20-10": range "20-10": first vlan above last`},
		{in: "1-2-3", wantErr: `parse vlan list "1-2-3": vlan "2-3": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSet(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSet(%q) = %v, %v, want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSet(%q) = %v", tt.in, err)
			}
			if vids := got.VIDs(); !slices.Equal(vids, tt.want) {
				t.Errorf("ParseSet(%q).VIDs() = %v, want %v", tt.in, vids, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("ParseSet(%q).String() = %q, want %q", tt.in, s, tt.str)
			}
			if got.IsEmpty() != (len(tt.want) == 0) || got.Len() != len(tt.want) {
				t.Errorf("ParseSet(%q): IsEmpty() = %v, Len() = %d, want %d VIDs", tt.in, got.IsEmpty(), got.Len(), len(tt.want))
			}
		})
	}
}

func TestParseSetErrors(t *testing.T) {
	if _, err := ParseSet("4095"); !errors.Is(err, ErrRange) {
		t.Errorf(`ParseSet("4095") = %v, want ErrRange`, err)
	}
	if _, err := ParseSet("x"); !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf(`ParseSet("x") = %v, want strconv.ErrSyntax`, err)
	}
}

func TestSetAddHas(t *testing.T) {
	var s Set
	for _, v := range []ID{0, 4095, 4096, 65535} {
		s.Add(v)
		if s.Has(v) || !s.IsEmpty() {
			t.Errorf("Add(%d) = %v, want it ignored", v, s)
		}
	}
	for _, v := range []ID{1, 63, 64, 4094, 64} {
		s.Add(v)
		if !s.Has(v) {
			t.Errorf("Has(%d) = false after Add", v)
		}
	}
	if s.Len() != 4 || s.String() != "1,63-64,4094" {
		t.Errorf("set = %q (%d VIDs), want \"1,63-64,4094\" (4)", s, s.Len())
	}
	if s.Has(2) || s.Has(65535) {
		t.Error("Has reports VIDs never added")
	}
	// Equal contents compare equal, however they were built.
	if u := mustSet(t, "64,63,4094,1"); u != s {
		t.Errorf("%q != %q", u, s)
	}
	all := mustSet(t, "1-4094")
	if all.Len() != 4094 || all.String() != "1-4094" {
		t.Errorf("1-4094 = %q (%d VIDs)", all, all.Len())
	}
}

func TestSetJSON(t *testing.T) {
	type cfg struct {
		Trunks Set `json:"trunks"`
	}
	in := cfg{Trunks: mustSet(t, "10,20,30-40")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"trunks":"10,20,30-40"}`; string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	var out cfg
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip = %q, want %q", out.Trunks, in.Trunks)
	}
	if err := json.Unmarshal([]byte(`{"trunks":"0"}`), &out); !errors.Is(err, ErrRange) {
		t.Errorf("json.Unmarshal(trunks 0) = %v, want ErrRange", err)
	}
}
