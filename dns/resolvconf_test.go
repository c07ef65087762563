package dns

import (
	"errors"
	"io/fs"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUpstreamsFromResolvConf(t *testing.T) {
	tests := []struct {
		path string
		want []netip.AddrPort
	}{
		{path: "testdata/resolv.conf", want: []netip.AddrPort{
			netip.MustParseAddrPort("192.168.1.1:53"),
			netip.MustParseAddrPort("1.1.1.1:53"),
			netip.MustParseAddrPort("[2606:4700:4700::1111]:53"),
			netip.MustParseAddrPort("[fe80::1%eth0]:53"),
			netip.MustParseAddrPort("127.0.0.53:53"),
		}},
		{path: "testdata/resolv-none.conf", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := UpstreamsFromResolvConf(tt.path)
			if err != nil {
				t.Fatalf("UpstreamsFromResolvConf(%q) error: %v", tt.path, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("UpstreamsFromResolvConf(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}

	if _, err := UpstreamsFromResolvConf("testdata/missing.conf"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("UpstreamsFromResolvConf(missing file) error = %v, want fs.ErrNotExist", err)
	}
}

func TestSetUpstreams(t *testing.T) {
	s := New(Options{Upstreams: []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:0"),
		netip.MustParseAddrPort("[::ffff:192.0.2.1]:53"),
		{},
		netip.MustParseAddrPort("192.0.2.2:5353"),
	}})
	t.Cleanup(func() { s.Close() })
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("192.0.2.2:5353")}
	if diff := cmp.Diff(want, *s.upstreams.Load(), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
}
