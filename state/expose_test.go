package state

import (
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

// TestParseExpose: a port or range becomes one unbound publish per port;
// bad specs are refused with the spec quoted.
func TestParseExpose(t *testing.T) {
	got, err := ParseExpose("8000-8002/udp")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ParseExpose(8000-8002/udp) = %v, want 3 ports", got)
	}
	for i, p := range got {
		if !p.Unbound() || p.Proto != header.ProtoUDP || p.ContPort != uint16(8000+i) || p.ContEnd != p.ContPort {
			t.Errorf("port %d = %+v", i, p)
		}
	}
	if got, err := ParseExpose("80"); err != nil || len(got) != 1 || got[0].Proto != header.ProtoTCP || got[0].String() != "80/tcp" {
		t.Errorf("ParseExpose(80) = %v, %v; want [80/tcp]", got, err)
	}
	for _, bad := range []string{"", "0", "80/sctp", "90-80", "x", "70000"} {
		if _, err := ParseExpose(bad); err == nil || !strings.Contains(err.Error(), `expose "`+bad+`"`) {
			t.Errorf("ParseExpose(%q) error = %v, want one quoting the spec", bad, err)
		}
	}
}
