package state

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/vswitchd/vswitchd/header"
)

func TestParsePublish(t *testing.T) {
	tcp, udp := header.ProtoTCP, header.ProtoUDP
	tests := []struct {
		in   string
		want Publish
		str  string
	}{
		{"45678:45678", Publish{Proto: tcp, HostPort: 45678, HostEnd: 45678, ContPort: 45678, ContEnd: 45678}, "45678:45678/tcp"},
		{"8080:80/tcp", Publish{Proto: tcp, HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80}, "8080:80/tcp"},
		{"5353:53/udp", Publish{Proto: udp, HostPort: 5353, HostEnd: 5353, ContPort: 53, ContEnd: 53}, "5353:53/udp"},
		{"127.0.0.1:8080:80", Publish{Proto: tcp, HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80}, "127.0.0.1:8080:80/tcp"},
		{"8000-8010:9000-9010", Publish{Proto: tcp, HostPort: 8000, HostEnd: 8010, ContPort: 9000, ContEnd: 9010}, "8000-8010:9000-9010/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePublish(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParsePublish(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			b, err := json.Marshal(got)
			var back Publish
			if err != nil || json.Unmarshal(b, &back) != nil || back != got {
				t.Errorf("JSON round trip: %s → %+v, want %+v", b, back, got)
			}
		})
	}
	for _, tt := range []struct{ in, str string }{
		{"80", "80/tcp"}, {"53/udp", "53/udp"}, {"127.0.0.1::80", "127.0.0.1::80/tcp"},
	} {
		got, err := ParsePublish(tt.in)
		if err != nil || !got.Unbound() || got.String() != tt.str {
			t.Errorf("ParsePublish(%q) = %+v (%q), %v; want an unbound spec %q", tt.in, got, got.String(), err, tt.str)
		}
	}
	for _, bad := range []string{"", "a:b", "0:80", "65536:80", "80:80/sctp", "8000-8010:9000", "8010-8000:80-90",
		"::1:80:80", "1.2.3:80:80", "1:2:3:4", "80:80/", "-1:80"} {
		if ps, err := ParsePublish(bad); err == nil {
			t.Errorf("ParsePublish(%q) = %+v, want an error", bad, ps)
		}
	}
}

func TestPublishOverlaps(t *testing.T) {
	p := func(s string) Publish {
		v, err := ParsePublish(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"8080:80", "8080:81", true},
		{"8080:80", "8080:80/udp", false},
		{"8000-8010:8000-8010", "8010:80", true},
		{"8000-8010:8000-8010", "8011:80", false},
		{"127.0.0.1:8080:80", "127.0.0.2:8080:80", false},
		{"127.0.0.1:8080:80", "8080:80", true},
	} {
		if got := p(tt.a).Overlaps(p(tt.b)); got != tt.want {
			t.Errorf("%s Overlaps %s = %v, want %v", tt.a, tt.b, got, tt.want)
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
		ps, err := ParsePublish(s)
		if err != nil {
			return
		}
		if ps.Unbound() {
			if ps.ContPort == 0 || ps.ContEnd != ps.ContPort {
				t.Fatalf("ParsePublish(%q) = %+v: inconsistent", s, ps)
			}
		} else if ps.ContPort == 0 || ps.HostEnd < ps.HostPort || ps.HostEnd-ps.HostPort != ps.ContEnd-ps.ContPort {
			t.Fatalf("ParsePublish(%q) = %+v: inconsistent", s, ps)
		}
		again, err := ParsePublish(ps.String())
		if err != nil || again != ps {
			t.Fatalf("round trip of %q: %q → %+v, %v", s, ps.String(), again, err)
		}
	})
}
