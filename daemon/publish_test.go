package daemon

import (
	"net/netip"
	"testing"
)

func TestParsePublish(t *testing.T) {
	tests := []struct {
		in   string
		want publishSpec
		str  string
	}{
		{"45678:45678", publishSpec{proto: "tcp", hostPort: 45678, hostEnd: 45678, contPort: 45678, contEnd: 45678}, "45678:45678/tcp"},
		{"8080:80/tcp", publishSpec{proto: "tcp", hostPort: 8080, hostEnd: 8080, contPort: 80, contEnd: 80}, "8080:80/tcp"},
		{"5353:53/udp", publishSpec{proto: "udp", hostPort: 5353, hostEnd: 5353, contPort: 53, contEnd: 53}, "5353:53/udp"},
		{"127.0.0.1:8080:80", publishSpec{proto: "tcp", hostIP: netip.MustParseAddr("127.0.0.1"), hostPort: 8080, hostEnd: 8080, contPort: 80, contEnd: 80}, "127.0.0.1:8080:80/tcp"},
		{"8000-8010:9000-9010", publishSpec{proto: "tcp", hostPort: 8000, hostEnd: 8010, contPort: 9000, contEnd: 9010}, "8000-8010:9000-9010/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePublish(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parsePublish(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
	for _, bad := range []string{"", "80", "a:b", "0:80", "65536:80", "80:80/sctp", "8000-8010:9000", "8010-8000:80-90",
		"::1:80:80", "1.2.3:80:80", "1:2:3:4", "80:80/", "-1:80"} {
		if ps, err := parsePublish(bad); err == nil {
			t.Errorf("parsePublish(%q) = %+v, want an error", bad, ps)
		}
	}
}

// FuzzParsePublish: no panic; an accepted spec is canonical after one
// round trip, ranges match in length, and ports are never 0.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"45678:45678", "127.0.0.1:8080:80/udp", "8000-8010:9000-9010", "80:80/tcp", "1-65535:1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePublish(s)
		if err != nil {
			return
		}
		if ps.hostPort == 0 || ps.contPort == 0 || ps.hostEnd < ps.hostPort || ps.hostEnd-ps.hostPort != ps.contEnd-ps.contPort {
			t.Fatalf("parsePublish(%q) = %+v: inconsistent", s, ps)
		}
		again, err := parsePublish(ps.String())
		if err != nil || again != ps {
			t.Fatalf("round trip of %q: %q → %+v, %v", s, ps.String(), again, err)
		}
	})
}
