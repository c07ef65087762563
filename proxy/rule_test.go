package proxy

import (
	"errors"
	"net/netip"
	"testing"
)

var (
	lo   = netip.MustParseAddr("127.0.0.1")
	any4 = netip.IPv4Unspecified()
	any6 = netip.IPv6Unspecified()
	ctr  = netip.MustParseAddr("10.0.0.2")
)

func TestRuleString(t *testing.T) {
	tests := []struct {
		name string
		r    Rule
		want string
	}{
		{"range", Rule{Proto: "tcp", HostPort: 8000, HostPortEnd: 8010, Target: ctr, TargetPort: 8000}, "0.0.0.0:8000-8010/tcp -> 10.0.0.2:8000-8010"},
		{"one port", Rule{Proto: "udp", HostIP: lo, HostPort: 53, HostPortEnd: 53, Target: ctr, TargetPort: 5353}, "127.0.0.1:53/udp -> 10.0.0.2:5353"},
		{"end 0", Rule{Proto: "tcp", HostIP: any4, HostPort: 80, Target: ctr, TargetPort: 8080}, "0.0.0.0:80/tcp -> 10.0.0.2:8080"},
		{"shifted range", Rule{Proto: "tcp", HostIP: lo, HostPort: 9000, HostPortEnd: 9002, Target: ctr, TargetPort: 80}, "127.0.0.1:9000-9002/tcp -> 10.0.0.2:80-82"},
		{"ipv6", Rule{Proto: "tcp", HostIP: any6, HostPort: 80, HostPortEnd: 80, Target: netip.MustParseAddr("fd00::2"), TargetPort: 80}, "[::]:80/tcp -> [fd00::2]:80"},
		{"mapped", Rule{Proto: "tcp", HostIP: netip.MustParseAddr("::ffff:127.0.0.1"), HostPort: 80, Target: ctr, TargetPort: 80}, "127.0.0.1:80/tcp -> 10.0.0.2:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	ok := Rule{Proto: "tcp", HostIP: lo, HostPort: 8000, HostPortEnd: 8001, Target: ctr, TargetPort: 80}
	tests := []struct {
		name  string
		edit  func(*Rule)
		valid bool
	}{
		{"ok", func(*Rule) {}, true},
		{"udp", func(r *Rule) { r.Proto = "udp" }, true},
		{"sctp", func(r *Rule) { r.Proto = "sctp" }, false},
		{"upper case", func(r *Rule) { r.Proto = "TCP" }, false},
		{"host port 0", func(r *Rule) { r.HostPort, r.HostPortEnd = 0, 0 }, false},
		{"end before start", func(r *Rule) { r.HostPortEnd = 7999 }, false},
		{"no target", func(r *Rule) { r.Target = netip.Addr{} }, false},
		{"unspecified target", func(r *Rule) { r.Target = any4 }, false},
		{"target port 0", func(r *Rule) { r.TargetPort = 0 }, false},
		{"target range past 65535", func(r *Rule) { r.TargetPort = 65535 }, false},
		{"target range to 65535", func(r *Rule) { r.TargetPort = 65534 }, true},
		{"host range to 65535", func(r *Rule) { r.HostPort, r.HostPortEnd = 65534, 65535 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			err := r.normal().validate()
			if (err == nil) != tt.valid || (err != nil && !errors.Is(err, ErrInvalidRule)) {
				t.Errorf("validate(%s) = %v, want valid %v", r, err, tt.valid)
			}
			if !tt.valid {
				if err := New(Options{}).Add(r); !errors.Is(err, ErrInvalidRule) {
					t.Errorf("Add(%s) = %v, want ErrInvalidRule", r, err)
				}
			}
		})
	}
}

func TestRuleOverlaps(t *testing.T) {
	a := Rule{Proto: "tcp", HostIP: lo, HostPort: 8000, HostPortEnd: 8010}
	tests := []struct {
		name string
		b    Rule
		want bool
	}{
		{"same", a, true},
		{"inside", Rule{Proto: "tcp", HostIP: lo, HostPort: 8005}, true},
		{"last port", Rule{Proto: "tcp", HostIP: lo, HostPort: 8010, HostPortEnd: 8020}, true},
		{"first port", Rule{Proto: "tcp", HostIP: lo, HostPort: 7990, HostPortEnd: 8000}, true},
		{"around", Rule{Proto: "tcp", HostIP: lo, HostPort: 7000, HostPortEnd: 9000}, true},
		{"after", Rule{Proto: "tcp", HostIP: lo, HostPort: 8011, HostPortEnd: 8020}, false},
		{"before", Rule{Proto: "tcp", HostIP: lo, HostPort: 7990, HostPortEnd: 7999}, false},
		{"other proto", Rule{Proto: "udp", HostIP: lo, HostPort: 8000, HostPortEnd: 8010}, false},
		{"other address", Rule{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.2"), HostPort: 8000}, false},
		{"wildcard", Rule{Proto: "tcp", HostPort: 8000}, true},
		{"ipv6 wildcard", Rule{Proto: "tcp", HostIP: any6, HostPort: 8000}, false},
		{"mapped", Rule{Proto: "tcp", HostIP: netip.MustParseAddr("::ffff:127.0.0.1"), HostPort: 8000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := a.normal(), tt.b.normal()
			if got := a.overlaps(b); got != tt.want {
				t.Errorf("%s overlaps %s = %v, want %v", a, b, got, tt.want)
			}
			if got := b.overlaps(a); got != tt.want {
				t.Errorf("%s overlaps %s = %v, want %v", b, a, got, tt.want)
			}
		})
	}
}

func TestRuleNormal(t *testing.T) {
	r := Rule{Proto: "tcp", HostPort: 80, Target: netip.MustParseAddr("::ffff:10.0.0.2"), TargetPort: 80}
	want := Rule{Proto: "tcp", HostIP: any4, HostPort: 80, HostPortEnd: 80, Target: ctr, TargetPort: 80}
	if got := r.normal(); got != want {
		t.Errorf("normal(%#v) = %#v, want %#v", r, got, want)
	}
}
