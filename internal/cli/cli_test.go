package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestZeroVLANFlags checks that an explicit VLAN 0 is refused before any
// API call (the API would read it as "not set"), while leaving the flag out
// still reaches the daemon.
func TestZeroVLANFlags(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock") // no daemon: any API call fails
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"network vlan 0", []string{"network", "create", "--vlan", "0", "n"}, "Error: --vlan 0: vlan out of range 1-4094"},
		{"network vlan 00", []string{"network", "create", "--vlan=00", "n"}, "Error: --vlan 0: vlan out of range 1-4094"},
		{"port vlan 0", []string{"port", "add", "veth0", "--mode", "trunk", "--vlan", "0"}, "Error: --vlan 0: vlan out of range 1-4094"},
		{"port native 0", []string{"port", "add", "veth0", "--mode", "trunk", "--native", "0"}, "Error: --native 0: vlan out of range 1-4094"},
		{"run native 0", []string{"run", "-d", "--trunk", "--native", "0", "--name", "x"}, "Error: --native 0: vlan out of range 1-4094"},
		{"network default vlan", []string{"network", "create", "n"}, none},
		{"port no native", []string{"port", "add", "veth0", "--mode", "trunk"}, none},
		{"run no native", []string{"run", "-d", "--trunk", "--name", "x"}, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"--socket", socket}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if code == 0 {
				t.Fatalf("Run(%q) = 0 with no daemon", tt.args)
			}
			got := stderr.String()
			if tt.want == none {
				if strings.Contains(got, "vlan out of range") {
					t.Errorf("Run(%q): stderr %q, want the request sent", tt.args, got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("Run(%q): stderr %q, want one line starting %q", tt.args, got, tt.want)
			}
		})
	}
}

// none marks a case that must get past the flag check (and then fail on
// the missing daemon).
const none = ""
