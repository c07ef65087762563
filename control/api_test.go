package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
)

// TestRoutes calls every non-streaming route through the client and
// checks the backend call it made and the answer it got back.
func TestRoutes(t *testing.T) {
	odd := "odd name/with%slash"
	tests := []struct {
		name      string
		do        func(ctx context.Context, c *control.Client) (any, error)
		wantCalls []call
		want      any
	}{
		{name: "Version", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Version(ctx) },
			wantCalls: []call{{Method: "Version"}}, want: control.Version{API: "v1", Version: "1.2.3-test"}},
		{name: "CreateNetwork", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.CreateNetwork(ctx, control.NetworkCreate{Name: "alpha", Subnet: "172.18.0.0/24", Gateway: "172.18.0.1", VLAN: 10, Internal: true})
		}, wantCalls: []call{{Method: "CreateNetwork", Args: []any{control.NetworkCreate{Name: "alpha", Subnet: "172.18.0.0/24", Gateway: "172.18.0.1", VLAN: 10, Internal: true}}}},
			want: cannedNetwork},
		{name: "Networks", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Networks(ctx) },
			wantCalls: []call{{Method: "Networks"}}, want: []control.Network{cannedNetwork, {Name: "empty", Created: created}}},
		{name: "Network", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Network(ctx, odd) },
			wantCalls: []call{{Method: "Network", Args: []any{odd}}},
			want:      func() control.Network { n := cannedNetwork; n.Name = odd; return n }()},
		{name: "RemoveNetwork", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.RemoveNetwork(ctx, "alpha", false)
		},
			wantCalls: []call{{Method: "RemoveNetwork", Args: []any{"alpha", false}}}},
		{name: "RemoveNetwork force", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.RemoveNetwork(ctx, odd, true) },
			wantCalls: []call{{Method: "RemoveNetwork", Args: []any{odd, true}}}},
		{name: "Connect", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Connect(ctx, "alpha", control.Connect{Endpoint: "web", IP: "172.18.0.9", Aliases: []string{"a", "b"}})
		}, wantCalls: []call{{Method: "Connect", Args: []any{"alpha", control.Connect{Endpoint: "web", IP: "172.18.0.9", Aliases: []string{"a", "b"}}}}}},
		{name: "Disconnect", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Disconnect(ctx, "alpha", control.Disconnect{Endpoint: "web"})
		}, wantCalls: []call{{Method: "Disconnect", Args: []any{"alpha", control.Disconnect{Endpoint: "web"}}}}},
		{name: "Run detached", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Network: "alpha", Publish: []string{"8080:80"}, Cmd: []string{"sleep", "inf"}, Remove: true,
				Trunk: true, VLANs: "10,20", Native: 10})
		}, wantCalls: []call{{Method: "Run", Args: []any{control.Run{Name: "web", Network: "alpha", Publish: []string{"8080:80"}, Cmd: []string{"sleep", "inf"}, Remove: true,
			Trunk: true, VLANs: "10,20", Native: 10}, false}}}, want: cannedEndpoint},
		{name: "Endpoints", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoints(ctx) },
			wantCalls: []call{{Method: "Endpoints"}}, want: []control.Endpoint{cannedEndpoint}},
		{name: "Endpoint", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoint(ctx, "web") },
			wantCalls: []call{{Method: "Endpoint", Args: []any{"web"}}}, want: cannedEndpoint},
		{name: "RemoveEndpoint", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.RemoveEndpoint(ctx, "web", true)
		},
			wantCalls: []call{{Method: "RemoveEndpoint", Args: []any{"web", true}}}},
		{name: "Publish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Publish(ctx, "web", "8080:80/udp")
		},
			wantCalls: []call{{Method: "Publish", Args: []any{"web", "8080:80/udp"}}}},
		{name: "Unpublish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Unpublish(ctx, "web", "8080:80")
		},
			wantCalls: []call{{Method: "Unpublish", Args: []any{"web", "8080:80"}}}},
		{name: "FDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FDB(ctx) },
			wantCalls: []call{{Method: "FDB"}}, want: cannedFDB},
		{name: "FlushFDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FlushFDB(ctx) },
			wantCalls: []call{{Method: "FlushFDB"}}, want: 17},
		{name: "Ports", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Ports(ctx) },
			wantCalls: []call{{Method: "Ports"}}, want: []control.Port{cannedPort}},
		{name: "AddPort", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddPort(ctx, control.PortAdd{Interface: "veth0", Mode: "trunk", VLANs: "10-20", Native: 10})
		}, wantCalls: []call{{Method: "AddPort", Args: []any{control.PortAdd{Interface: "veth0", Mode: "trunk", VLANs: "10-20", Native: 10}}}}, want: cannedPort},
		{name: "RemovePort", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.RemovePort(ctx, "veth0") },
			wantCalls: []call{{Method: "RemovePort", Args: []any{"veth0"}}}},
		{name: "Stats", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Stats(ctx) },
			wantCalls: []call{{Method: "Stats"}}, want: cannedStats},
		{name: "Uplink", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Uplink(ctx) },
			wantCalls: []call{{Method: "Uplink"}}, want: cannedUplink},
		{name: "SetUplink", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetUplink(ctx, control.Uplink{Interface: "eth1", Address: "192.0.2.2/24"})
		}, wantCalls: []call{{Method: "SetUplink", Args: []any{control.Uplink{Interface: "eth1", Address: "192.0.2.2/24"}}}},
			want: control.Uplink{Interface: "eth1", Address: "192.0.2.2/24", MAC: cannedUplink.MAC}},
		{name: "RemoveUplink", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.RemoveUplink(ctx) },
			wantCalls: []call{{Method: "RemoveUplink"}}},
		{name: "Conntrack", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Conntrack(ctx) },
			wantCalls: []call{{Method: "Conntrack"}}, want: cannedConns},
		{name: "FlushConntrack", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FlushConntrack(ctx) },
			wantCalls: []call{{Method: "FlushConntrack"}}, want: 5},
		{name: "NAT", do: func(ctx context.Context, c *control.Client) (any, error) { return c.NAT(ctx) },
			wantCalls: []call{{Method: "NAT"}}, want: cannedNAT},
	}
	b := &fakeBackend{}
	c, _ := serve(t, b)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.do(context.Background(), c)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s answer (-want +got):\n%s", tt.name, diff)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, b.takeCalls()); diff != "" {
				t.Errorf("%s backend calls (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// TestStatusCodes checks the status of each route's success and the JSON
// it carries, with a raw HTTP client.
func TestStatusCodes(t *testing.T) {
	_, sock := serve(t, &fakeBackend{})
	hc := rawClient(sock)
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/version", "", http.StatusOK},
		{"POST", "/v1/networks", `{"name":"alpha"}`, http.StatusCreated},
		{"DELETE", "/v1/networks/alpha", "", http.StatusNoContent},
		{"POST", "/v1/endpoints", `{"name":"web","network":"alpha"}`, http.StatusCreated},
		{"POST", "/v1/ports", `{"interface":"veth0","mode":"access"}`, http.StatusCreated},
		{"GET", "/v1/nope", "", http.StatusNotFound},
		{"PATCH", "/v1/networks", "", http.StatusMethodNotAllowed},
		{"GET", "/v2/version", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
		must(t, err)
		resp, err := hc.Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
		if resp.StatusCode < 300 && resp.StatusCode != http.StatusNoContent && !json.Valid(body) {
			t.Errorf("%s %s answered invalid JSON %q", tt.method, tt.path, body)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestErrors: the kind a backend error wraps chooses the status, and the
// client's error matches the same kind under errors.Is, with the message
// unchanged.
func TestErrors(t *testing.T) {
	cause := errors.New("device or resource busy")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantKind   error // nil: none of the kinds
		wantMsg    string
	}{
		{"invalid", control.Errorf(control.ErrInvalid, "subnet %q is not a CIDR", "x"), 400, control.ErrInvalid, `subnet "x" is not a CIDR`},
		{"not found", control.Errorf(control.ErrNotFound, "no network %q", "beta"), 404, control.ErrNotFound, `no network "beta"`},
		{"conflict", control.Errorf(control.ErrConflict, "network %q has endpoints", "alpha"), 409, control.ErrConflict, `network "alpha" has endpoints`},
		{"wrapped conflict", fmt.Errorf("remove alpha: %w", control.Errorf(control.ErrConflict, "in use: %w", cause)), 409, control.ErrConflict, "remove alpha: in use: device or resource busy"},
		{"plain", fmt.Errorf("create bridge: %w", cause), 500, nil, "create bridge: device or resource busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{errs: map[string]error{"RemoveNetwork": tt.err, "CreateNetwork": tt.err}}
			c, _ := serve(t, b)
			for _, do := range []func() error{
				func() error { return c.RemoveNetwork(context.Background(), "alpha", false) },
				func() error {
					_, err := c.CreateNetwork(context.Background(), control.NetworkCreate{Name: "alpha"})
					return err
				},
			} {
				err := do()
				var ae *control.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error %v (%T) is not an *APIError", err, err)
				}
				if ae.Status != tt.wantStatus || err.Error() != tt.wantMsg {
					t.Errorf("error = %d %q, want %d %q", ae.Status, err.Error(), tt.wantStatus, tt.wantMsg)
				}
				for _, kind := range []error{control.ErrInvalid, control.ErrNotFound, control.ErrConflict} {
					if got := errors.Is(err, kind); got != (kind == tt.wantKind) {
						t.Errorf("errors.Is(%v, %v) = %v, want %v", err, kind, got, kind == tt.wantKind)
					}
				}
			}
		})
	}
	t.Run("no uplink", func(t *testing.T) {
		c, _ := serve(t, &fakeBackend{errs: map[string]error{"Uplink": errors.New("unset")}})
		_, err := c.Uplink(context.Background())
		if !errors.Is(err, control.ErrNotFound) || strings.Contains(err.Error(), "not found") {
			t.Errorf("Uplink() error = %v, want ErrNotFound without the kind's word", err)
		}
	})
}

func TestErrorf(t *testing.T) {
	cause := errors.New("boom")
	for _, kind := range []error{control.ErrInvalid, control.ErrNotFound, control.ErrConflict} {
		err := control.Errorf(kind, "network %q: %w", "alpha", cause)
		if want := `network "alpha": boom`; err.Error() != want {
			t.Errorf("Errorf(%v).Error() = %q, want %q", kind, err.Error(), want)
		}
		if strings.Contains(err.Error(), kind.Error()) {
			t.Errorf("Errorf(%v).Error() = %q carries the kind's word", kind, err.Error())
		}
		if !errors.Is(err, kind) || !errors.Is(err, cause) {
			t.Errorf("errors.Is(Errorf(%v, ...%%w), kind/cause) = %v/%v, want true/true", kind, errors.Is(err, kind), errors.Is(err, cause))
		}
		for _, other := range []error{control.ErrInvalid, control.ErrNotFound, control.ErrConflict} {
			if other != kind && errors.Is(err, other) {
				t.Errorf("Errorf(%v) also matches %v", kind, other)
			}
		}
	}
}

// TestBadBodies: bodies that are not the route's JSON, including unknown
// fields, get 400 and never reach the backend.
func TestBadBodies(t *testing.T) {
	b := &fakeBackend{}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	tests := []struct {
		method, path, body string
	}{
		{"POST", "/v1/networks", `{"name":"alpha","subnett":"10.0.0.0/24"}`},
		{"POST", "/v1/networks", `{"name":`},
		{"POST", "/v1/networks", `{"name":42}`},
		{"POST", "/v1/networks", ``},
		{"POST", "/v1/networks/alpha/connect", `{"endpoint":"web","alias":["x"]}`},
		{"POST", "/v1/networks/alpha/disconnect", `{"endpoint":"web","force":true}`},
		{"POST", "/v1/endpoints", `{"name":"web","command":["sh"]}`},
		{"POST", "/v1/endpoints/web/exec", `{"cmd":["sh"],"user":"root"}`},
		{"POST", "/v1/endpoints/web/publish", `{"spec":"80","proto":"tcp"}`},
		{"POST", "/v1/endpoints/web/unpublish", `[]`},
		{"POST", "/v1/ports", `{"interface":"veth0","vlan":"ten"}`},
		{"PUT", "/v1/uplink", `{"interface":"eth0","addr":"192.0.2.2/24"}`},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
		must(t, err)
		resp, err := hc.Do(req)
		must(t, err)
		var e struct{ Message string }
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || err != nil || e.Message == "" {
			t.Errorf("%s %s %s = %d, message %q (%v), want 400 with a message", tt.method, tt.path, tt.body, resp.StatusCode, e.Message, err)
		}
		if calls := b.takeCalls(); len(calls) != 0 {
			t.Errorf("%s %s %s reached the backend: %v", tt.method, tt.path, tt.body, calls)
		}
	}
}
