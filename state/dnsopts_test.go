package state

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/dns"
)

// TestDNSOptions: an internal network's scope forwards nothing, and so
// does the scope of an endpoint whose networks are all internal; every
// scope names its gateway (an endpoint's first network's).
func TestDNSOptions(t *testing.T) {
	s := fixture()
	s.Network("beta").Internal = true
	alphaGW, betaGW := s.Network("alpha").Gateway, s.Network("beta").Gateway
	want := map[string]dns.NetworkOptions{
		"alpha":    {Gateway: alphaGW},
		"beta":     {NoForward: true, Gateway: betaGW},
		"@web":     {Gateway: alphaGW}, // alpha, then beta: one network forwards
		"@db":      {Gateway: alphaGW},
		"@pod":     {NoForward: true, Gateway: betaGW},
		"@router1": {NoForward: true, Gateway: betaGW},
		"@tap":     {}, // on no network: no DNS of its own
	}
	if diff := cmp.Diff(want, s.DNSOptions(), cmpState); diff != "" {
		t.Errorf("DNSOptions() (-want +got):\n%s", diff)
	}
}
