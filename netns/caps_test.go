package netns

import (
	"slices"
	"testing"
)

func TestCapDrop(t *testing.T) {
	all := len(Caps)
	tests := []struct {
		name      string
		add, drop []string
		want      []string // nil: check wantN
		wantN     int
		wantErr   bool
	}{
		{name: "nothing", want: nil},
		{name: "one", drop: []string{"net_raw"}, want: []string{"NET_RAW"}},
		{name: "CAP_ prefix", drop: []string{"CAP_SYS_ADMIN", "cap_net_admin"}, want: []string{"NET_ADMIN", "SYS_ADMIN"}},
		{name: "add wins", add: []string{"NET_RAW"}, drop: []string{"NET_RAW", "SYS_ADMIN"}, want: []string{"SYS_ADMIN"}},
		{name: "all", drop: []string{"ALL"}, wantN: all},
		{name: "all but one", add: []string{"NET_BIND_SERVICE"}, drop: []string{"all"}, wantN: all - 1},
		{name: "add alone drops nothing", add: []string{"SYS_ADMIN"}, want: nil},
		{name: "unknown", drop: []string{"FLY"}, wantErr: true},
		{name: "unknown add", add: []string{"CAP_"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CapDrop(tt.add, tt.drop)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CapDrop(%q, %q) error = %v, want error %v", tt.add, tt.drop, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if tt.wantN > 0 {
				if len(got) != tt.wantN || slices.Contains(got, "NET_BIND_SERVICE") && tt.wantN < all {
					t.Errorf("CapDrop(%q, %q) = %d caps %q, want %d", tt.add, tt.drop, len(got), got, tt.wantN)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("CapDrop(%q, %q) = %q, want %q", tt.add, tt.drop, got, tt.want)
			}
		})
	}
}
