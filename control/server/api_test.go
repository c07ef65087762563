package server_test

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
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// TestRoutes calls every non-streaming route through the client and
// checks the domain call it made on the backend and the answer it got
// back.
func TestRoutes(t *testing.T) {
	odd := "odd name/with%slash"
	tests := []struct {
		name      string
		do        func(ctx context.Context, c *control.Client) (any, error)
		wantCalls []call
		want      any
	}{
		{name: "Version", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Version(ctx) },
			want: control.Version{API: "v1", Version: version.Version}},
		{name: "CreateNetwork", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.CreateNetwork(ctx, control.NetworkCreate{Name: "alpha", Subnet: "172.18.0.0/24", Gateway: "172.18.0.1", VLAN: 10, Internal: true})
		}, wantCalls: []call{{Method: "CreateNetwork", Args: []any{state.NetworkSpec{
			Name: "alpha", Subnet: prefix("172.18.0.0/24"), Gateway: ip("172.18.0.1"), VLAN: 10, Internal: true,
		}}}},
			want: cannedNetwork},
		{name: "CreateNetwork defaults", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.CreateNetwork(ctx, control.NetworkCreate{Name: "beta"})
		}, wantCalls: []call{{Method: "CreateNetwork", Args: []any{state.NetworkSpec{Name: "beta"}}}},
			want: cannedNetwork},
		{name: "Networks", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Networks(ctx) },
			wantCalls: []call{{Method: "Networks"}}, want: []control.Network{cannedNetwork, emptyNetwork}},
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
		}, wantCalls: []call{{Method: "Connect", Args: []any{"alpha", state.ConnectSpec{Endpoint: "web", IP: ip("172.18.0.9"), Aliases: []string{"a", "b"}}}}}},
		{name: "Connect without address", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Connect(ctx, "alpha", control.Connect{Endpoint: "web"})
		}, wantCalls: []call{{Method: "Connect", Args: []any{"alpha", state.ConnectSpec{Endpoint: "web"}}}}},
		{name: "Disconnect", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Disconnect(ctx, "alpha", control.Disconnect{Endpoint: "web"})
		}, wantCalls: []call{{Method: "Disconnect", Args: []any{"alpha", "web"}}}},
		{name: "Run detached", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Network: "alpha", IP: "172.18.0.2", Aliases: []string{"www"}, Publish: []string{"8080:80", "127.0.0.1:53:53/udp"},
				Cmd: []string{"sleep", "inf"}, Env: []string{"A=1"}, Remove: true, Trunk: true, VLANs: "10,20", Native: 10})
		}, wantCalls: []call{{Method: "Run", Args: []any{daemon.RunSpec{EndpointSpec: state.EndpointSpec{
			Name: "web", Network: "alpha", IP: ip("172.18.0.2"), Aliases: []string{"www"},
			Publish: []state.Publish{
				{Proto: header.ProtoTCP, HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80},
				{Proto: header.ProtoUDP, HostIP: ip("127.0.0.1"), HostPort: 53, HostEnd: 53, ContPort: 53, ContEnd: 53},
			},
			Cmd: []string{"sleep", "inf"}, Env: []string{"A=1"}, Remove: true, Trunk: true, VLANs: vlans("10,20"), Native: 10,
		}}, false}}}, want: cannedEndpoint},
		{name: "Run detached minimal", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Network: "alpha"})
		}, wantCalls: []call{{Method: "Run", Args: []any{daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "web", Network: "alpha"}}, false}}},
			want: cannedEndpoint},
		{name: "Endpoints", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoints(ctx) },
			wantCalls: []call{{Method: "Endpoints"}}, want: []control.Endpoint{cannedEndpoint, pod}},
		{name: "Endpoint", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoint(ctx, "web") },
			wantCalls: []call{{Method: "Endpoint", Args: []any{"web"}}}, want: cannedEndpoint},
		{name: "RemoveEndpoint", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.RemoveEndpoint(ctx, "web", true)
		},
			wantCalls: []call{{Method: "RemoveEndpoint", Args: []any{"web", true}}}},
		{name: "Publish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Publish(ctx, "web", "8080:80/udp")
		},
			wantCalls: []call{{Method: "Publish", Args: []any{"web", state.Publish{Proto: header.ProtoUDP, HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80}}}}},
		{name: "Unpublish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Unpublish(ctx, "web", "127.0.0.1:8000-8001:80-81")
		},
			wantCalls: []call{{Method: "Unpublish", Args: []any{"web", state.Publish{Proto: header.ProtoTCP, HostIP: ip("127.0.0.1"), HostPort: 8000, HostEnd: 8001, ContPort: 80, ContEnd: 81}}}}},
		{name: "FDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FDB(ctx) },
			wantCalls: []call{{Method: "FDB"}}, want: cannedFDB},
		{name: "FlushFDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FlushFDB(ctx) },
			wantCalls: []call{{Method: "FlushFDB"}}, want: 17},
		{name: "Ports", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Ports(ctx) },
			wantCalls: []call{{Method: "Ports"}}, want: ports},
		{name: "AddPort", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddPort(ctx, control.PortAdd{Interface: "veth0", Mode: "trunk", VLANs: "10-20", Native: 10})
		}, wantCalls: []call{{Method: "AddPort", Args: []any{state.PortSpec{Interface: "veth0", Mode: vlan.Trunk, VLANs: vlans("10-20"), Native: 10}}}},
			want: cannedPort},
		{name: "AddPort default mode", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddPort(ctx, control.PortAdd{Interface: "veth1", VLAN: 30})
		}, wantCalls: []call{{Method: "AddPort", Args: []any{state.PortSpec{Interface: "veth1", Mode: vlan.Access, VLAN: 30}}}},
			want: cannedPort},
		{name: "AddPort dot1q-tunnel", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddPort(ctx, control.PortAdd{Interface: "veth2", Mode: "dot1q-tunnel", VLAN: 100, VLANs: "10-20"})
		}, wantCalls: []call{{Method: "AddPort", Args: []any{state.PortSpec{Interface: "veth2", Mode: vlan.Dot1QTunnel, VLAN: 100, VLANs: vlans("10-20")}}}},
			want: cannedPort},
		{name: "RemovePort", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.RemovePort(ctx, "veth0") },
			wantCalls: []call{{Method: "RemovePort", Args: []any{"veth0"}}}},
		{name: "Stats", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Stats(ctx) },
			wantCalls: []call{{Method: "Stats"}}, want: cannedStats},
		{name: "Uplink", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Uplink(ctx) },
			wantCalls: []call{{Method: "Uplink"}}, want: cannedUplink},
		{name: "SetUplink", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetUplink(ctx, control.Uplink{Interface: "eth1", Address: "192.0.2.2/24"})
		}, wantCalls: []call{{Method: "SetUplink", Args: []any{state.UplinkSpec{Interface: "eth1", Address: prefix("192.0.2.2/24")}}}},
			want: control.Uplink{Interface: "eth1", Address: "192.0.2.2/24", MAC: cannedUplink.MAC}},
		{name: "SetUplink with gateway", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetUplink(ctx, control.Uplink{Interface: "eth1", Address: "192.0.2.2/24", Gateway: "192.0.2.1"})
		}, wantCalls: []call{{Method: "SetUplink", Args: []any{state.UplinkSpec{Interface: "eth1", Address: prefix("192.0.2.2/24"), Gateway: ip("192.0.2.1")}}}},
			want: control.Uplink{Interface: "eth1", Address: "192.0.2.2/24", Gateway: "192.0.2.1", MAC: cannedUplink.MAC}},
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
			if diff := diffCalls(tt.wantCalls, b.takeCalls()); diff != "" {
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
		name, method, path, body string
		want                     int
	}{
		{"version", "GET", "/v1/version", "", http.StatusOK},
		{"create network", "POST", "/v1/networks", `{"name":"alpha"}`, http.StatusCreated},
		{"remove network", "DELETE", "/v1/networks/alpha", "", http.StatusNoContent},
		{"connect", "POST", "/v1/networks/alpha/connect", `{"endpoint":"web"}`, http.StatusNoContent},
		{"run", "POST", "/v1/endpoints", `{"name":"web","network":"alpha"}`, http.StatusCreated},
		{"publish", "POST", "/v1/endpoints/web/publish", `{"spec":"80:80"}`, http.StatusNoContent},
		{"add port", "POST", "/v1/ports", `{"interface":"veth0","mode":"access","vlan":10}`, http.StatusCreated},
		{"set uplink", "PUT", "/v1/uplink", `{"interface":"eth0","address":"192.0.2.2/24"}`, http.StatusOK},
		{"remove uplink", "DELETE", "/v1/uplink", "", http.StatusNoContent},
		{"flush fdb", "DELETE", "/v1/fdb", "", http.StatusOK},
		{"unknown path", "GET", "/v1/nope", "", http.StatusNotFound},
		{"wrong method", "PATCH", "/v1/networks", "", http.StatusMethodNotAllowed},
		{"other version", "GET", "/v2/version", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
			must(t, err)
			resp, err := hc.Do(req)
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
			}
			if resp.StatusCode < 300 && resp.StatusCode != http.StatusNoContent {
				if !json.Valid(body) {
					t.Errorf("%s %s answered invalid JSON %q", tt.method, tt.path, body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s %s Content-Type = %q, want application/json", tt.method, tt.path, ct)
				}
			}
		})
	}
}

// TestErrors: the kind a backend error wraps (the domain's, state.Err*, or
// the API's own, control.Err*) chooses the status, and the client's error
// matches the same kind under errors.Is, with the message unchanged.
func TestErrors(t *testing.T) {
	cause := errors.New("device or resource busy")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantKind   error // nil: none of the kinds
		wantMsg    string
	}{
		{"invalid", state.Errorf(state.ErrInvalid, "subnet %q is not a CIDR", "x"), 400, control.ErrInvalid, `subnet "x" is not a CIDR`},
		{"not found", state.Errorf(state.ErrNotFound, "no network %q", "beta"), 404, control.ErrNotFound, `no network "beta"`},
		{"conflict", state.Errorf(state.ErrConflict, "network %q has endpoints", "alpha"), 409, control.ErrConflict, `network "alpha" has endpoints`},
		{"wrapped conflict", fmt.Errorf("remove alpha: %w", state.Errorf(state.ErrConflict, "in use: %w", cause)), 409, control.ErrConflict, "remove alpha: in use: device or resource busy"},
		{"bare kind", fmt.Errorf("lookup: %w", state.ErrNotFound), 404, control.ErrNotFound, "lookup: not found"},
		{"API invalid", control.Errorf(control.ErrInvalid, "bad %s", "thing"), 400, control.ErrInvalid, "bad thing"},
		{"API not found", control.Errorf(control.ErrNotFound, "no %s", "thing"), 404, control.ErrNotFound, "no thing"},
		{"API conflict", control.Errorf(control.ErrConflict, "%s exists", "thing"), 409, control.ErrConflict, "thing exists"},
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

// TestErrorf: both error families the server maps (the API's and the
// domain's) keep the message free of the kind's word and match exactly
// their kind and their cause.
func TestErrorf(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name   string
		errorf func(kind error, format string, args ...any) error
		kinds  []error
	}{
		{"control", control.Errorf, []error{control.ErrInvalid, control.ErrNotFound, control.ErrConflict}},
		{"state", state.Errorf, []error{state.ErrInvalid, state.ErrNotFound, state.ErrConflict}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range tt.kinds {
				err := tt.errorf(kind, "network %q: %w", "alpha", cause)
				if want := `network "alpha": boom`; err.Error() != want {
					t.Errorf("Errorf(%v).Error() = %q, want %q", kind, err.Error(), want)
				}
				if strings.Contains(err.Error(), kind.Error()) {
					t.Errorf("Errorf(%v).Error() = %q carries the kind's word", kind, err.Error())
				}
				if !errors.Is(err, kind) || !errors.Is(err, cause) {
					t.Errorf("errors.Is(Errorf(%v, ...%%w), kind/cause) = %v/%v, want true/true", kind, errors.Is(err, kind), errors.Is(err, cause))
				}
				for _, other := range tt.kinds {
					if other != kind && errors.Is(err, other) {
						t.Errorf("Errorf(%v) also matches %v", kind, other)
					}
				}
			}
		})
	}
}

// errorReply sends a request with a raw client and returns the status and
// the error message of the JSON answer.
func errorReply(t *testing.T, hc *http.Client, method, path, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, "http://vswitchd"+path, strings.NewReader(body))
	must(t, err)
	resp, err := hc.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var e control.ErrorBody
	err = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Message, err
}

// TestBadBodies: bodies that are not the route's JSON, including unknown
// fields, get 400 and never reach the backend.
func TestBadBodies(t *testing.T) {
	b := &fakeBackend{}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	tests := []struct {
		name, method, path, body string
	}{
		{"unknown field", "POST", "/v1/networks", `{"name":"alpha","subnett":"10.0.0.0/24"}`},
		{"truncated", "POST", "/v1/networks", `{"name":`},
		{"wrong type", "POST", "/v1/networks", `{"name":42}`},
		{"empty", "POST", "/v1/networks", ``},
		{"connect unknown field", "POST", "/v1/networks/alpha/connect", `{"endpoint":"web","alias":["x"]}`},
		{"disconnect unknown field", "POST", "/v1/networks/alpha/disconnect", `{"endpoint":"web","force":true}`},
		{"run unknown field", "POST", "/v1/endpoints", `{"name":"web","command":["sh"]}`},
		{"exec unknown field", "POST", "/v1/endpoints/web/exec", `{"cmd":["sh"],"user":"root"}`},
		{"publish unknown field", "POST", "/v1/endpoints/web/publish", `{"spec":"80","proto":"tcp"}`},
		{"unpublish array", "POST", "/v1/endpoints/web/unpublish", `[]`},
		{"port wrong type", "POST", "/v1/ports", `{"interface":"veth0","vlan":"ten"}`},
		{"uplink unknown field", "PUT", "/v1/uplink", `{"interface":"eth0","addr":"192.0.2.2/24"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, err := errorReply(t, hc, tt.method, tt.path, tt.body)
			if status != http.StatusBadRequest || err != nil || msg == "" {
				t.Errorf("%s %s %s = %d, message %q (%v), want 400 with a message", tt.method, tt.path, tt.body, status, msg, err)
			}
			if calls := b.takeCalls(); len(calls) != 0 {
				t.Errorf("%s %s %s reached the backend: %v", tt.method, tt.path, tt.body, calls)
			}
		})
	}
}

// TestParseErrors: values the server cannot turn into the domain's types
// get 400 with a one-line message naming the bad value, and never reach
// the backend.
func TestParseErrors(t *testing.T) {
	b := &fakeBackend{}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	tests := []struct {
		name, method, path, body string
		want                     string // in the message
	}{
		{"subnet not a CIDR", "POST", "/v1/networks", `{"name":"a","subnet":"banana"}`, `subnet "banana"`},
		{"subnet too long", "POST", "/v1/networks", `{"name":"a","subnet":"10.0.0.0/33"}`, `subnet "10.0.0.0/33"`},
		{"subnet without length", "POST", "/v1/networks", `{"name":"a","subnet":"10.0.0.0"}`, `subnet "10.0.0.0"`},
		{"gateway not an address", "POST", "/v1/networks", `{"name":"a","gateway":"10.0.0.300"}`, `gateway "10.0.0.300"`},
		{"gateway IPv6", "POST", "/v1/networks", `{"name":"a","gateway":"fd00::1"}`, `gateway "fd00::1"`},
		{"vlan -1", "POST", "/v1/networks", `{"name":"a","vlan":-1}`, "vlan -1"},
		{"vlan 4095", "POST", "/v1/networks", `{"name":"a","vlan":4095}`, "vlan 4095"},
		{"vlan 5000", "POST", "/v1/networks", `{"name":"a","vlan":5000}`, "vlan 5000"},
		{"connect --ip", "POST", "/v1/networks/alpha/connect", `{"endpoint":"web","ip":"1.2.3"}`, `--ip "1.2.3"`},
		{"connect --ip IPv6", "POST", "/v1/networks/alpha/connect", `{"endpoint":"web","ip":"::1"}`, `--ip "::1"`},
		{"run --ip", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","ip":"web"}`, `--ip "web"`},
		{"run publish", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","publish":["8080:80","80"]}`, `"80"`},
		{"run publish protocol", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","publish":["80:80/sctp"]}`, `"80:80/sctp"`},
		{"publish spec", "POST", "/v1/endpoints/web/publish", `{"spec":"0:80"}`, `"0:80"`},
		{"publish host address", "POST", "/v1/endpoints/web/publish", `{"spec":"1.2.3:80:80"}`, `"1.2.3"`},
		{"unpublish spec", "POST", "/v1/endpoints/web/unpublish", `{"spec":"8000-8010:80"}`, `"8000-8010:80"`},
		{"run vlans", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"10,x"}`, `"10,x"`},
		{"run vlans range", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"20-10"}`, `"20-10"`},
		{"run vlans 4095", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"4095"}`, "4095"},
		{"run --native 4095", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"native":4095}`, "--native 4095"},
		{"run --native -1", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"native":-1}`, "--native -1"},
		{"port mode", "POST", "/v1/ports", `{"interface":"veth0","mode":"hybrid"}`, `"hybrid"`},
		{"port vlan 5000", "POST", "/v1/ports", `{"interface":"veth0","mode":"access","vlan":5000}`, "got 5000"},
		{"port vlan -1", "POST", "/v1/ports", `{"interface":"veth0","mode":"access","vlan":-1}`, "got -1"},
		{"port --native", "POST", "/v1/ports", `{"interface":"veth0","mode":"trunk","native":5000}`, "--native 5000"},
		{"port vlans", "POST", "/v1/ports", `{"interface":"veth0","mode":"trunk","vlans":"1-5000"}`, "5000"},
		{"uplink address", "PUT", "/v1/uplink", `{"interface":"eth0","address":"192.0.2.2"}`, `uplink address "192.0.2.2"`},
		{"uplink address missing", "PUT", "/v1/uplink", `{"interface":"eth0"}`, `uplink address ""`},
		{"uplink gateway", "PUT", "/v1/uplink", `{"interface":"eth0","address":"192.0.2.2/24","gateway":"gw"}`, `uplink gateway "gw"`},
		{"uplink gateway IPv6", "PUT", "/v1/uplink", `{"interface":"eth0","address":"192.0.2.2/24","gateway":"fe80::1"}`, `uplink gateway "fe80::1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, err := errorReply(t, hc, tt.method, tt.path, tt.body)
			if status != http.StatusBadRequest || err != nil || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("%s %s %s = %d, message %q (%v), want 400 with one line naming %s", tt.method, tt.path, tt.body, status, msg, err, tt.want)
			}
			if calls := b.takeCalls(); len(calls) != 0 {
				t.Errorf("%s %s %s reached the backend: %v", tt.method, tt.path, tt.body, calls)
			}
		})
	}
}
