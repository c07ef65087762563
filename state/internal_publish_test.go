package state

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestInternalPublishRefused: an endpoint whose primary network is
// --internal cannot publish ports, at creation or later (as Docker
// refuses them): nothing outside reaches such a network.
func TestInternalPublishRefused(t *testing.T) {
	s := fixture() // beta is internal
	_, err := s.NewEndpoint(EndpointSpec{Name: "app", Network: "beta", Publish: []Publish{pub("8081:80")}}, t0.Add(time.Second))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `network "beta" is --internal`) {
		t.Errorf("NewEndpoint on an internal network with -p = %v, want refused", err)
	}
	pod := s.Endpoint("pod") // on beta only
	if err := s.CheckPublish(pod, pub("8082:80")); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--internal") {
		t.Errorf("CheckPublish on an internal endpoint = %v, want refused", err)
	}
	if err := s.CheckPublish(s.Endpoint("db"), pub("8083:80")); err != nil {
		t.Errorf("CheckPublish on alpha = %v", err)
	}
}
