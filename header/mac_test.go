package header_test

import (
	"encoding/json"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in      string
		want    header.MAC
		wantErr bool
	}{
		{in: "02:42:ac:11:00:02", want: header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}},
		{in: "02:42:AC:11:00:02", want: header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}},
		{in: "02-42-ac-11-00-02", want: header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}},
		{in: "0242.ac11.0002", want: header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}},
		{in: "ff:ff:ff:ff:ff:ff", want: header.Broadcast},
		{in: "", wantErr: true},
		{in: "02:42:ac:11:00", wantErr: true},
		{in: "02:42:ac:11:00:0g", wantErr: true},
		{in: "02:42:ac:11:00:02:03:04", wantErr: true},                                     // EUI-64
		{in: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", wantErr: true}, // IPoIB
	}
	for _, tt := range tests {
		got, err := header.ParseMAC(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMACString(t *testing.T) {
	m := header.MAC{0x02, 0x42, 0xAC, 0x11, 0x00, 0x0f}
	if got, want := m.String(), "02:42:ac:11:00:0f"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := m.HardwareAddr().String(); got != m.String() {
		t.Errorf("HardwareAddr().String() = %q, want %q", got, m.String())
	}
	back, err := header.ParseMAC(m.String())
	if err != nil || back != m {
		t.Errorf("ParseMAC(String()) = %v, %v; want %v", back, err, m)
	}
}

func TestMACText(t *testing.T) {
	m := header.MAC{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}
	txt, err := m.MarshalText()
	if err != nil || string(txt) != "de:ad:be:ef:00:01" {
		t.Fatalf("MarshalText() = %q, %v", txt, err)
	}
	var back header.MAC
	if err := back.UnmarshalText(txt); err != nil || back != m {
		t.Errorf("UnmarshalText(%q) = %v, %v; want %v", txt, back, err, m)
	}
	if err := back.UnmarshalText([]byte("nope")); err == nil {
		t.Errorf("UnmarshalText(nope) = nil error")
	}
	if back != m {
		t.Errorf("failed UnmarshalText changed the MAC to %v", back)
	}

	// As a JSON value and as a map key (both use the text form).
	type doc struct {
		MAC   header.MAC
		Ports map[header.MAC]int
	}
	in := doc{MAC: m, Ports: map[header.MAC]int{header.Broadcast: 1, m: 2}}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"MAC":"de:ad:be:ef:00:01","Ports":{"de:ad:be:ef:00:01":2,"ff:ff:ff:ff:ff:ff":1}}`
	if string(js) != want {
		t.Errorf("json.Marshal = %s, want %s", js, want)
	}
	var out doc
	if err := json.Unmarshal(js, &out); err != nil || out.MAC != m || len(out.Ports) != 2 || out.Ports[m] != 2 {
		t.Errorf("json.Unmarshal(%s) = %+v, %v", js, out, err)
	}
}

func TestMACClass(t *testing.T) {
	tests := []struct {
		mac                  header.MAC
		multicast, broadcast bool
		zero                 bool
	}{
		{mac: header.Broadcast, multicast: true, broadcast: true},
		{mac: header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}, multicast: true}, // IPv4 mDNS
		{mac: header.MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, multicast: true}, // IPv6 all-nodes
		{mac: header.MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, multicast: true}, // LLDP
		{mac: header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}},                  // locally administered
		{mac: header.MAC{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}},                  // I/G bit clear
		{mac: header.MAC{}, zero: true},
	}
	for _, tt := range tests {
		if got := tt.mac.IsMulticast(); got != tt.multicast {
			t.Errorf("%v.IsMulticast() = %v, want %v", tt.mac, got, tt.multicast)
		}
		if got := tt.mac.IsBroadcast(); got != tt.broadcast {
			t.Errorf("%v.IsBroadcast() = %v, want %v", tt.mac, got, tt.broadcast)
		}
		if got := tt.mac.IsZero(); got != tt.zero {
			t.Errorf("%v.IsZero() = %v, want %v", tt.mac, got, tt.zero)
		}
	}
}

// TestMACMapKeyAllocs checks that a MAC is a map key without allocation
// (STYLE §8).
func TestMACMapKeyAllocs(t *testing.T) {
	m := map[header.MAC]int{macA: 1}
	frame := frameTCP4(t)
	var p header.Parsed
	if n := testing.AllocsPerRun(1000, func() {
		_ = p.Decode(frame)
		m[p.Dst]++
	}); n != 0 {
		t.Errorf("MAC map update allocates %v times, want 0", n)
	}
}
