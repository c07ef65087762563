package nat

import (
	"strings"
	"testing"
)

// TestParseTCPState: every state name reads back, in any case; anything
// else is refused with the list of names.
func TestParseTCPState(t *testing.T) {
	for s := TCPNone; s < numTCPStates; s++ {
		for _, name := range []string{s.String(), strings.ToLower(s.String())} {
			got, err := ParseTCPState(name)
			if err != nil || got != s {
				t.Errorf("ParseTCPState(%q) = %v, %v; want %v", name, got, err, s)
			}
		}
	}
	if _, err := ParseTCPState("OPEN"); err == nil {
		t.Error(`ParseTCPState("OPEN") succeeded`)
	}
}
