package proxy

import (
	"errors"
	"maps"
	"net/netip"
	"sync"
	"testing"
)

// fakeRedirect records what the proxy asks a Redirector; Add fails once
// it holds max entries.
type fakeRedirect struct {
	mu    sync.Mutex
	to    map[netip.AddrPort]netip.AddrPort
	max   int
	count uint64
}

func (f *fakeRedirect) Add(from, to netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.to) >= f.max {
		return errors.New("map full")
	}
	f.to[from] = to
	return nil
}

func (f *fakeRedirect) Remove(from netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.to, from)
	return nil
}

func (f *fakeRedirect) Redirected() uint64 { return f.count }

func (f *fakeRedirect) entries() map[netip.AddrPort]netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.to)
}

// TestRedirectRules: an IPv4 TCP rule's ports are redirected port by port
// to the target (a wildcard rule under 0.0.0.0); UDP and IPv6 rules are
// not; a rule the redirector cannot take whole stays relayed with nothing
// left behind; Remove and Close take the entries away; Stats reports the
// redirector's count.
func TestRedirectRules(t *testing.T) {
	rd := &fakeRedirect{to: map[netip.AddrPort]netip.AddrPort{}, max: 4, count: 7}
	p := newProxy(t, Options{Redirect: rd})
	ap := netip.MustParseAddrPort
	target := netip.MustParseAddr("10.0.0.2")

	tr := publish(t, p, "tcp", freePorts(t, "tcp", 2), 2, netip.AddrPortFrom(target, 8000))
	publish(t, p, "udp", freePorts(t, "udp", 1), 1, netip.AddrPortFrom(target, 53))
	wild := Rule{Proto: "tcp", HostPort: freePorts(t, "tcp", 1), Target: target, TargetPort: 9000}
	if err := p.Add(wild); err != nil {
		t.Fatal(err)
	}
	want := map[netip.AddrPort]netip.AddrPort{
		netip.AddrPortFrom(lo, tr.HostPort):                        ap("10.0.0.2:8000"),
		netip.AddrPortFrom(lo, tr.HostPort+1):                      ap("10.0.0.2:8001"),
		netip.AddrPortFrom(netip.IPv4Unspecified(), wild.HostPort): ap("10.0.0.2:9000"),
	}
	if got := rd.entries(); !maps.Equal(got, want) {
		t.Errorf("redirected %v, want %v", got, want)
	}
	if s := p.Stats(); s.Redirected != 7 {
		t.Errorf("Stats.Redirected = %d, want 7", s.Redirected)
	}

	// Two more ports do not fit (max 4): the rule is published, relayed,
	// and none of its ports is left in the redirector.
	big := publish(t, p, "tcp", freePorts(t, "tcp", 2), 2, netip.AddrPortFrom(target, 7000))
	if got := rd.entries(); !maps.Equal(got, want) {
		t.Errorf("after a rule that does not fit: redirected %v, want %v", got, want)
	}
	if err := p.Remove(big); err != nil {
		t.Fatal(err)
	}

	if err := p.Remove(tr); err != nil {
		t.Fatal(err)
	}
	delete(want, netip.AddrPortFrom(lo, tr.HostPort))
	delete(want, netip.AddrPortFrom(lo, tr.HostPort+1))
	if got := rd.entries(); !maps.Equal(got, want) {
		t.Errorf("after Remove: redirected %v, want %v", got, want)
	}
	p.Close()
	if got := rd.entries(); len(got) != 0 {
		t.Errorf("after Close: redirected %v, want none", got)
	}
}
