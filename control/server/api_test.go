package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/version"
	"github.com/vswitchd/vswitchd/nat"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/vlan"
)

// TestRoutes calls every non-streaming route through the client (or, for
// answers the client drops, a raw client) and checks the domain call it
// made on the backend and the answer it got back.
func TestRoutes(t *testing.T) {
	b := &fakeBackend{}
	c, sock := serve(t, b)
	hc := rawClient(sock)
	odd := "odd name/with%slash"
	icc := func(v bool) *bool { return &v }
	// run is the backend call of a detached run of spec.
	run := func(spec state.EndpointSpec) []call {
		return []call{{Method: "Run", Args: []any{daemon.RunSpec{EndpointSpec: spec}, false}}}
	}
	tcp := func(cont uint16) state.Publish {
		return state.Publish{Proto: header.ProtoTCP, ContPort: cont, ContEnd: cont}
	}
	udp := func(cont uint16) state.Publish {
		return state.Publish{Proto: header.ProtoUDP, ContPort: cont, ContEnd: cont}
	}
	tests := []struct {
		name      string
		do        func(ctx context.Context, c *control.Client) (any, error)
		wantCalls []call
		want      any
	}{
		{name: "Version", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Version(ctx) },
			want: control.Version{API: "v1", Version: version.Version, Commit: version.Commit, Go: runtime.Version()}},
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
		{name: "CreateNetwork icc=false", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.CreateNetwork(ctx, control.NetworkCreate{Name: "beta", ICC: icc(false)})
		}, wantCalls: []call{{Method: "CreateNetwork", Args: []any{state.NetworkSpec{Name: "beta", Isolated: true}}}},
			want: cannedNetwork},
		{name: "CreateNetwork icc=true", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.CreateNetwork(ctx, control.NetworkCreate{Name: "beta", ICC: icc(true)})
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
		{name: "PruneNetworks", do: func(ctx context.Context, c *control.Client) (any, error) { return c.PruneNetworks(ctx) },
			wantCalls: []call{{Method: "PruneNetworks"}}, want: control.NetworkPrune{Removed: []string{"beta", "gamma"}}},
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
		}, wantCalls: run(state.EndpointSpec{
			Name: "web", Network: "alpha", IP: ip("172.18.0.2"), Aliases: []string{"www"},
			Publish: []state.Publish{
				{Proto: header.ProtoTCP, HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80},
				{Proto: header.ProtoUDP, HostIP: ip("127.0.0.1"), HostPort: 53, HostEnd: 53, ContPort: 53, ContEnd: 53},
			},
			Cmd: []string{"sleep", "inf"}, Env: []string{"A=1"}, Remove: true, Trunk: true, VLANs: vlans("10,20"), Native: 10,
		}), want: cannedEndpoint},
		{name: "Connect a CNI NIC", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Connect(ctx, "alpha", control.Connect{Endpoint: "pod", IfName: "net1", MAC: "02:aa:00:00:00:01", MTU: 1400})
		}, wantCalls: []call{{Method: "Connect", Args: []any{"alpha", state.ConnectSpec{Endpoint: "pod", IfName: "net1", MAC: mac("02:aa:00:00:00:01"), MTU: 1400}}}}},
		{name: "Run a CNI attachment", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "pod", Network: "alpha", NetnsPath: "/run/netns/cni-1", IfName: "eth0",
				MAC: "02:aa:00:00:00:02", MTU: 1450, ContainerID: "c0ffee"})
		}, wantCalls: run(state.EndpointSpec{Name: "pod", Network: "alpha", NetnsPath: "/run/netns/cni-1", IfName: "eth0",
			MAC: mac("02:aa:00:00:00:02"), MTU: 1450, ContainerID: "c0ffee"}), want: cannedEndpoint},
		{name: "Run detached minimal", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Network: "alpha"})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Network: "alpha"}), want: cannedEndpoint},
		{name: "Run without network", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web"}) // the daemon chooses the default network
		}, wantCalls: run(state.EndpointSpec{Name: "web"}), want: cannedEndpoint},
		{name: "Run publish without host port", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Publish: []string{"80", "127.0.0.1::53/udp"}})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Publish: []state.Publish{
			tcp(80), {Proto: header.ProtoUDP, HostIP: ip("127.0.0.1"), ContPort: 53, ContEnd: 53},
		}}), want: cannedEndpoint},
		{name: "Run expose without publish_all", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Expose: []string{"80", "53/udp"}})
		}, wantCalls: run(state.EndpointSpec{Name: "web"}), want: cannedEndpoint},
		{name: "Run publish_all", do: func(ctx context.Context, c *control.Client) (any, error) {
			// 80/tcp is published already (in 8080-8081:80-81); 81/udp is
			// another protocol.
			return c.Run(ctx, control.Run{Name: "web", Publish: []string{"8080-8081:80-81"}, Expose: []string{"80", "81/udp", "9000-9002/tcp"}, PublishAll: true})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Publish: []state.Publish{
			{Proto: header.ProtoTCP, HostPort: 8080, HostEnd: 8081, ContPort: 80, ContEnd: 81},
			udp(81), tcp(9000), tcp(9001), tcp(9002),
		}}), want: cannedEndpoint},
		{name: "Run publish_all without expose", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", PublishAll: true})
		}, wantCalls: run(state.EndpointSpec{Name: "web"}), want: cannedEndpoint},
		{name: "Run hostname", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Hostname: "web.example"})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Hostname: "web.example"}), want: cannedEndpoint},
		{name: "Run dns", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", DNS: []string{"192.0.2.53", "2001:db8::53"}})
		}, wantCalls: run(state.EndpointSpec{Name: "web", DNS: []netip.Addr{ip("192.0.2.53"), ip("2001:db8::53")}}), want: cannedEndpoint},
		{name: "Run extra_hosts", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", ExtraHosts: []string{"db:10.0.0.5", "host:host-gateway", "v6:2001:db8::1"}})
		}, wantCalls: run(state.EndpointSpec{Name: "web", ExtraHosts: []state.HostEntry{
			{Name: "db", IP: ip("10.0.0.5")}, {Name: "host", HostGateway: true}, {Name: "v6", IP: ip("2001:db8::1")},
		}}), want: cannedEndpoint},
		{name: "Run restart always", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Restart: "always"})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Restart: state.RestartPolicy{Name: "always"}}), want: cannedEndpoint},
		{name: "Run restart on-failure:3", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Restart: "on-failure:3"})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Restart: state.RestartPolicy{Name: "on-failure", MaxRetries: 3}}), want: cannedEndpoint},
		{name: "Run restart unless-stopped", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Restart: "unless-stopped"})
		}, wantCalls: run(state.EndpointSpec{Name: "web", Restart: state.RestartPolicy{Name: "unless-stopped"}}), want: cannedEndpoint},
		{name: "Run restart no", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Run(ctx, control.Run{Name: "web", Restart: "no"})
		}, wantCalls: run(state.EndpointSpec{Name: "web"}), want: cannedEndpoint},
		{name: "Endpoints", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoints(ctx) },
			wantCalls: []call{{Method: "Endpoints"}}, want: []control.Endpoint{cannedEndpoint, pod}},
		{name: "Endpoint", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Endpoint(ctx, "web") },
			wantCalls: []call{{Method: "Endpoint", Args: []any{"web"}}}, want: cannedEndpoint},
		{name: "RemoveEndpoint", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.RemoveEndpoint(ctx, "web", true)
		},
			wantCalls: []call{{Method: "RemoveEndpoint", Args: []any{"web", true}}}},
		{name: "Stop", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Stop(ctx, odd, 7) },
			wantCalls: []call{{Method: "StopEndpoint", Args: []any{odd, 7 * time.Second}}}},
		{name: "Stop at once", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Stop(ctx, "web", 0) },
			wantCalls: []call{{Method: "StopEndpoint", Args: []any{"web", time.Duration(0)}}}},
		{name: "Stop default timeout", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Stop(ctx, "web", -1) },
			wantCalls: []call{{Method: "StopEndpoint", Args: []any{"web", time.Duration(-1)}}}},
		{name: "Stop without a body", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[any](ctx, hc, "POST", "/v1/endpoints/web/stop", "")
		}, wantCalls: []call{{Method: "StopEndpoint", Args: []any{"web", time.Duration(-1)}}}},
		{name: "Start", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Start(ctx, odd) },
			wantCalls: []call{{Method: "StartEndpoint", Args: []any{odd}}}},
		{name: "Start without a body", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[any](ctx, hc, "POST", "/v1/endpoints/web/start", "")
		}, wantCalls: []call{{Method: "StartEndpoint", Args: []any{"web"}}}},
		{name: "Restart", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Restart(ctx, "web", 2) },
			wantCalls: []call{{Method: "RestartEndpoint", Args: []any{"web", 2 * time.Second}}}},
		{name: "Restart without a body", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[any](ctx, hc, "POST", "/v1/endpoints/web/restart", "")
		}, wantCalls: []call{{Method: "RestartEndpoint", Args: []any{"web", time.Duration(-1)}}}},
		{name: "Kill default", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Kill(ctx, "web", "") },
			wantCalls: []call{{Method: "Kill", Args: []any{"web", syscall.SIGKILL}}}},
		{name: "Kill without a body", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[any](ctx, hc, "POST", "/v1/endpoints/web/kill", "")
		}, wantCalls: []call{{Method: "Kill", Args: []any{"web", syscall.SIGKILL}}}},
		{name: "Kill TERM", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Kill(ctx, odd, "TERM") },
			wantCalls: []call{{Method: "Kill", Args: []any{odd, syscall.SIGTERM}}}},
		{name: "Kill sighup", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Kill(ctx, "web", "sighup") },
			wantCalls: []call{{Method: "Kill", Args: []any{"web", syscall.SIGHUP}}}},
		{name: "Kill by number", do: func(ctx context.Context, c *control.Client) (any, error) { return nil, c.Kill(ctx, "web", "10") },
			wantCalls: []call{{Method: "Kill", Args: []any{"web", syscall.SIGUSR1}}}},
		{name: "Top", do: func(ctx context.Context, c *control.Client) (any, error) { return c.Top(ctx, odd) },
			wantCalls: []call{{Method: "Top", Args: []any{odd}}}, want: cannedTop},
		{name: "ExecDetached", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.ExecDetached(ctx, "web", control.Exec{Cmd: []string{"touch", "x"}, Env: []string{"A=1"}, WorkDir: "/tmp", User: "nobody:nogroup"})
		}, wantCalls: []call{{Method: "Endpoint", Args: []any{"web"}}, {Method: "Exec", Args: []any{"web", daemon.ExecSpec{
			Cmd: []string{"touch", "x"}, Env: []string{"A=1"}, Dir: "/tmp", User: "nobody:nogroup", Detach: true,
		}}}}},
		{name: "Publish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.Publish(ctx, "web", "8080:80/udp")
		},
			wantCalls: []call{{Method: "Publish", Args: []any{"web", state.Publish{Proto: header.ProtoUDP, HostPort: 8080, HostEnd: 8080, ContPort: 80, ContEnd: 80}}}},
			want:      control.PortMap{Proto: "udp", HostIP: "0.0.0.0", HostPort: 8080, HostPortEnd: 8080, ContainerPort: 80, Spec: "8080:80/udp"}},
		{name: "Publish answer", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[control.PortMap](ctx, hc, "POST", "/v1/endpoints/web/publish", `{"spec":"127.0.0.1:8000-8001:80-81"}`)
		}, wantCalls: []call{{Method: "Publish", Args: []any{"web", state.Publish{Proto: header.ProtoTCP, HostIP: ip("127.0.0.1"), HostPort: 8000, HostEnd: 8001, ContPort: 80, ContEnd: 81}}}},
			want: control.PortMap{Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8000, HostPortEnd: 8001, ContainerPort: 80, Spec: "127.0.0.1:8000-8001:80-81/tcp"}},
		{name: "Publish a free host port", do: func(ctx context.Context, c *control.Client) (any, error) {
			return rawJSON[control.PortMap](ctx, hc, "POST", "/v1/endpoints/web/publish", `{"spec":"53/udp"}`)
		}, wantCalls: []call{{Method: "Publish", Args: []any{"web", udp(53)}}},
			want: control.PortMap{Proto: "udp", HostIP: "0.0.0.0", HostPort: boundPort, HostPortEnd: boundPort, ContainerPort: 53, Spec: "32768:53/udp"}},
		{name: "Unpublish", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.Unpublish(ctx, "web", "127.0.0.1:8000-8001:80-81")
		},
			wantCalls: []call{{Method: "Unpublish", Args: []any{"web", state.Publish{Proto: header.ProtoTCP, HostIP: ip("127.0.0.1"), HostPort: 8000, HostEnd: 8001, ContPort: 80, ContEnd: 81}}}}},
		{name: "FDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FDB(ctx) },
			wantCalls: []call{{Method: "FDB"}}, want: cannedFDB},
		{name: "FlushFDB", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FlushFDB(ctx) },
			wantCalls: []call{{Method: "FlushFDB"}}, want: 17},
		{name: "AddFDB vlan", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddFDB(ctx, control.FDBAdd{MAC: "02:00:00:00:0B:01", Port: "veth0", VLAN: 30})
		}, wantCalls: []call{{Method: "AddFDB", Args: []any{vlan.ID(30), mac("02:00:00:00:0b:01"), "veth0"}}},
			want: control.FDBEntry{VLAN: 30, MAC: "02:00:00:00:0b:01", Port: "veth0", Static: true}},
		{name: "AddFDB network", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.AddFDB(ctx, control.FDBAdd{MAC: "02:00:00:00:0b:01", Port: "veth0", Network: "alpha"})
		}, wantCalls: []call{{Method: "Network", Args: []any{"alpha"}}, {Method: "AddFDB", Args: []any{vlan.ID(10), mac("02:00:00:00:0b:01"), "veth0"}}},
			want: control.FDBEntry{VLAN: 10, MAC: "02:00:00:00:0b:01", Port: "veth0", Static: true}},
		{name: "DeleteFDB", do: func(ctx context.Context, c *control.Client) (any, error) {
			return nil, c.DeleteFDB(ctx, 4094, "02:00:00:00:0B:01")
		}, wantCalls: []call{{Method: "DeleteFDB", Args: []any{vlan.ID(4094), mac("02:00:00:00:0b:01")}}}},
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
		{name: "SetPort trunk", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetPort(ctx, "veth0", control.PortSet{Mode: "native-untagged", VLANs: "10,20-22", Native: 10})
		}, wantCalls: []call{{Method: "SetPort", Args: []any{"veth0", state.PortSpec{Mode: vlan.NativeUntagged, VLANs: vlans("10,20-22"), Native: 10}}}},
			want: control.Port{ID: 5, Name: "veth0", Kind: "system", Mode: "native-untagged", VLAN: 10, VLANs: []int{10, 20, 21, 22}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}}},
		{name: "SetPort trunk of all VLANs", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetPort(ctx, "veth0", control.PortSet{Mode: "trunk"})
		}, wantCalls: []call{{Method: "SetPort", Args: []any{"veth0", state.PortSpec{Mode: vlan.Trunk}}}},
			want: control.Port{ID: 5, Name: "veth0", Kind: "system", Mode: "trunk", VLANs: []int{}, AllVLANs: true, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}}},
		{name: "SetPort default mode", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.SetPort(ctx, odd, control.PortSet{VLAN: 30})
		}, wantCalls: []call{{Method: "SetPort", Args: []any{odd, state.PortSpec{Mode: vlan.Access, VLAN: 30}}}},
			want: control.Port{ID: 5, Name: odd, Kind: "system", Mode: "access", VLAN: 30, VLANs: []int{}, Drops: map[string]uint64{}, VTEPs: []control.VTEP{}}},
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
			wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{}}}}, want: cannedConns},
		{name: "ConntrackWith every filter", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{Proto: "tcp", Src: "172.18.0.2", Dst: "203.0.113.9", Port: 443, State: "ESTABLISHED", Zone: "alpha"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{
			Proto: header.ProtoTCP, Src: ip("172.18.0.2"), Dst: ip("203.0.113.9"), Port: 443, State: nat.TCPEstablished, HasState: true, Zone: "alpha",
		}}}}, want: cannedConns},
		{name: "ConntrackWith udp", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{Proto: "udp"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{Proto: header.ProtoUDP}}}}, want: cannedConns},
		{name: "ConntrackWith icmp", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{Proto: "icmp"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{Proto: header.ProtoICMP}}}}, want: cannedConns},
		{name: "ConntrackWith IPv6 source", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{Src: "2001:db8::1"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{Src: ip("2001:db8::1")}}}}, want: cannedConns},
		{name: "ConntrackWith state in lower case", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{State: "time_wait"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{State: nat.TCPTimeWait, HasState: true}}}}, want: cannedConns},
		{name: "ConntrackWith state NONE", do: func(ctx context.Context, c *control.Client) (any, error) {
			// NONE is a state like the others: HasState tells it from no
			// filter.
			return c.ConntrackWith(ctx, control.ConntrackFilter{State: "NONE"})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{HasState: true}}}}, want: cannedConns},
		{name: "ConntrackWith zone", do: func(ctx context.Context, c *control.Client) (any, error) {
			return c.ConntrackWith(ctx, control.ConntrackFilter{Zone: "uplink", Port: 65535})
		}, wantCalls: []call{{Method: "Conntrack", Args: []any{daemon.ConnFilter{Zone: "uplink", Port: 65535}}}}, want: cannedConns},
		{name: "ConntrackCount", do: func(ctx context.Context, c *control.Client) (any, error) { return c.ConntrackCount(ctx) },
			wantCalls: []call{{Method: "ConntrackCount"}}, want: control.ConntrackCount{Count: 4, Max: 262144, MaxPerEndpoint: 65536}},
		{name: "FlushConntrack", do: func(ctx context.Context, c *control.Client) (any, error) { return c.FlushConntrack(ctx) },
			wantCalls: []call{{Method: "FlushConntrack"}}, want: 5},
		{name: "NAT", do: func(ctx context.Context, c *control.Client) (any, error) { return c.NAT(ctx) },
			wantCalls: []call{{Method: "NAT"}}, want: cannedNAT},
		// The log level cases run in order: the fake starts at info.
		{name: "GetLogLevel", do: func(ctx context.Context, c *control.Client) (any, error) { return c.GetLogLevel(ctx) },
			wantCalls: []call{{Method: "LogLevel"}}, want: control.LogLevel{Level: "info"}},
		{name: "SetLogLevel debug", do: func(ctx context.Context, c *control.Client) (any, error) { return c.SetLogLevel(ctx, "debug") },
			wantCalls: []call{{Method: "SetLogLevel", Args: []any{slog.LevelDebug}}, {Method: "LogLevel"}}, want: control.LogLevel{Level: "debug"}},
		{name: "GetLogLevel after set", do: func(ctx context.Context, c *control.Client) (any, error) { return c.GetLogLevel(ctx) },
			wantCalls: []call{{Method: "LogLevel"}}, want: control.LogLevel{Level: "debug"}},
		{name: "SetLogLevel WARN", do: func(ctx context.Context, c *control.Client) (any, error) { return c.SetLogLevel(ctx, "WARN") },
			wantCalls: []call{{Method: "SetLogLevel", Args: []any{slog.LevelWarn}}, {Method: "LogLevel"}}, want: control.LogLevel{Level: "warn"}},
		{name: "SetLogLevel error", do: func(ctx context.Context, c *control.Client) (any, error) { return c.SetLogLevel(ctx, "error") },
			wantCalls: []call{{Method: "SetLogLevel", Args: []any{slog.LevelError}}, {Method: "LogLevel"}}, want: control.LogLevel{Level: "error"}},
	}
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
		{"prune networks", "POST", "/v1/networks/prune", "", http.StatusOK},
		{"system reset", "POST", "/v1/system/reset", "", http.StatusOK},
		{"system reset with GET", "GET", "/v1/system/reset", "", http.StatusMethodNotAllowed},
		{"publish", "POST", "/v1/endpoints/web/publish", `{"spec":"80:80"}`, http.StatusCreated},
		{"unpublish", "POST", "/v1/endpoints/web/unpublish", `{"spec":"80:80"}`, http.StatusNoContent},
		{"stop", "POST", "/v1/endpoints/web/stop", `{"timeout":5}`, http.StatusNoContent},
		{"stop without a body", "POST", "/v1/endpoints/web/stop", "", http.StatusNoContent},
		{"start", "POST", "/v1/endpoints/web/start", `{}`, http.StatusNoContent},
		{"restart", "POST", "/v1/endpoints/web/restart", `{"timeout":0}`, http.StatusNoContent},
		{"kill", "POST", "/v1/endpoints/web/kill", `{"signal":"TERM"}`, http.StatusNoContent},
		{"top", "GET", "/v1/endpoints/web/top", "", http.StatusOK},
		{"exec detached", "POST", "/v1/endpoints/web/exec", `{"cmd":["true"],"detach":true}`, http.StatusNoContent},
		{"add fdb", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","vlan":10}`, http.StatusCreated},
		{"add fdb on a network", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","network":"alpha"}`, http.StatusCreated},
		{"delete fdb", "DELETE", "/v1/fdb/10/02:00:00:00:00:01", "", http.StatusNoContent},
		{"set port", "PATCH", "/v1/ports/veth0", `{"mode":"trunk","vlans":"10-20"}`, http.StatusOK},
		{"conntrack", "GET", "/v1/conntrack?proto=tcp&state=established&zone=alpha", "", http.StatusOK},
		{"conntrack count", "GET", "/v1/conntrack/count", "", http.StatusOK},
		{"flush conntrack", "DELETE", "/v1/conntrack", "", http.StatusOK},
		{"log level", "GET", "/v1/log-level", "", http.StatusOK},
		{"set log level", "PUT", "/v1/log-level", `{"level":"debug"}`, http.StatusOK},
		{"add port", "POST", "/v1/ports", `{"interface":"veth0","mode":"access","vlan":10}`, http.StatusCreated},
		{"set uplink", "PUT", "/v1/uplink", `{"interface":"eth0","address":"192.0.2.2/24"}`, http.StatusOK},
		{"remove uplink", "DELETE", "/v1/uplink", "", http.StatusNoContent},
		{"flush fdb", "DELETE", "/v1/fdb", "", http.StatusOK},
		{"unknown path", "GET", "/v1/nope", "", http.StatusNotFound},
		{"wrong method", "PATCH", "/v1/networks", "", http.StatusMethodNotAllowed},
		{"other version", "GET", "/v2/version", "", http.StatusNotFound},
		{"kill with GET", "GET", "/v1/endpoints/web/kill", "", http.StatusMethodNotAllowed},
		{"top with POST", "POST", "/v1/endpoints/web/top", "", http.StatusMethodNotAllowed},
		{"log level with POST", "POST", "/v1/log-level", `{"level":"debug"}`, http.StatusMethodNotAllowed},
		{"conntrack count with DELETE", "DELETE", "/v1/conntrack/count", "", http.StatusMethodNotAllowed},
		{"fdb entry with GET", "GET", "/v1/fdb/10/02:00:00:00:00:01", "", http.StatusMethodNotAllowed},
		{"port with PUT", "PUT", "/v1/ports/veth0", `{"mode":"trunk"}`, http.StatusMethodNotAllowed},
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
			if resp.StatusCode >= 400 {
				// Every error, unknown routes and methods too, is the
				// API's JSON shape.
				var e control.ErrorBody
				if err := json.Unmarshal(body, &e); err != nil || e.Message == "" || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s error body %q (%s), want {\"message\": …} as application/json", tt.method, tt.path, body, resp.Header.Get("Content-Type"))
				}
			}
			if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
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
		{"exec unknown field", "POST", "/v1/endpoints/web/exec", `{"cmd":["sh"],"uid":0}`},
		{"exec detach wrong type", "POST", "/v1/endpoints/web/exec", `{"cmd":["sh"],"detach":"yes"}`},
		{"network icc wrong type", "POST", "/v1/networks", `{"name":"alpha","icc":"no"}`},
		{"run restart wrong type", "POST", "/v1/endpoints", `{"name":"web","restart":true}`},
		{"run dns not a list", "POST", "/v1/endpoints", `{"name":"web","dns":"192.0.2.53"}`},
		{"run publish_all wrong type", "POST", "/v1/endpoints", `{"name":"web","publish_all":"yes"}`},
		{"stop unknown field", "POST", "/v1/endpoints/web/stop", `{"grace":5}`},
		{"stop timeout wrong type", "POST", "/v1/endpoints/web/stop", `{"timeout":"5s"}`},
		{"stop timeout fraction", "POST", "/v1/endpoints/web/stop", `{"timeout":1.5}`},
		{"restart truncated", "POST", "/v1/endpoints/web/restart", `{"timeout":`},
		{"start unknown field", "POST", "/v1/endpoints/web/start", `{"force":true}`},
		{"kill wrong type", "POST", "/v1/endpoints/web/kill", `{"signal":9}`},
		{"kill unknown field", "POST", "/v1/endpoints/web/kill", `{"sig":"TERM"}`},
		{"fdb unknown field", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","vlan":10,"static":true}`},
		{"fdb empty", "POST", "/v1/fdb", ``},
		{"set port with an interface", "PATCH", "/v1/ports/veth0", `{"interface":"veth1","mode":"access"}`},
		{"set port empty", "PATCH", "/v1/ports/veth0", ``},
		{"log level unknown field", "PUT", "/v1/log-level", `{"lvl":"debug"}`},
		{"log level wrong type", "PUT", "/v1/log-level", `{"level":4}`},
		{"log level empty", "PUT", "/v1/log-level", ``},
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
		{"run mac", "POST", "/v1/endpoints", `{"name":"pod","network":"alpha","mac":"zz"}`, `mac "zz"`},
		{"connect mac", "POST", "/v1/networks/alpha/connect", `{"endpoint":"pod","mac":"02:00"}`, `mac "02:00"`},
		{"run publish", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","publish":["8080:80","80-81"]}`, `"80-81"`},
		{"run publish port 0", "POST", "/v1/endpoints", `{"name":"web","publish":["0"]}`, `"0"`},
		{"run publish protocol", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","publish":["80:80/sctp"]}`, `"80:80/sctp"`},
		{"publish spec", "POST", "/v1/endpoints/web/publish", `{"spec":"0:80"}`, `"0:80"`},
		{"publish host address", "POST", "/v1/endpoints/web/publish", `{"spec":"1.2.3:80:80"}`, `"1.2.3"`},
		{"unpublish spec", "POST", "/v1/endpoints/web/unpublish", `{"spec":"8000-8010:80"}`, `"8000-8010:80"`},
		{"run vlans", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"10,x"}`, `"10,x"`},
		{"run vlans range", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"20-10"}`, `"20-10"`},
		{"run vlans 4095", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"vlans":"4095"}`, "4095"},
		{"run --native 4095", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"native":4095}`, "--native 4095"},
		{"run --native -1", "POST", "/v1/endpoints", `{"name":"web","trunk":true,"native":-1}`, "--native -1"},
		{"run expose protocol", "POST", "/v1/endpoints", `{"name":"web","expose":["80/sctp"],"publish_all":true}`, `"80/sctp"`},
		{"run expose port", "POST", "/v1/endpoints", `{"name":"web","expose":["http"],"publish_all":true}`, `"http"`},
		{"run expose without publish_all", "POST", "/v1/endpoints", `{"name":"web","expose":["0"]}`, `"0"`},
		{"run expose range", "POST", "/v1/endpoints", `{"name":"web","expose":["90-80"]}`, `"90-80"`},
		{"run dns", "POST", "/v1/endpoints", `{"name":"web","dns":["192.0.2.53","8.8.8"]}`, `--dns "8.8.8"`},
		{"run dns name", "POST", "/v1/endpoints", `{"name":"web","dns":["resolver"]}`, `--dns "resolver"`},
		{"run extra_hosts without address", "POST", "/v1/endpoints", `{"name":"web","extra_hosts":["db"]}`, `"db"`},
		{"run extra_hosts address", "POST", "/v1/endpoints", `{"name":"web","extra_hosts":["db:10.0.0.300"]}`, `"10.0.0.300"`},
		{"run extra_hosts without name", "POST", "/v1/endpoints", `{"name":"web","extra_hosts":[":10.0.0.5"]}`, `":10.0.0.5"`},
		{"run restart", "POST", "/v1/endpoints", `{"name":"web","restart":"sometimes"}`, `restart "sometimes"`},
		{"run restart retries", "POST", "/v1/endpoints", `{"name":"web","restart":"on-failure:x"}`, `"x"`},
		{"run restart negative retries", "POST", "/v1/endpoints", `{"name":"web","restart":"on-failure:-1"}`, `"-1"`},
		{"run restart always:3", "POST", "/v1/endpoints", `{"name":"web","restart":"always:3"}`, `restart "always:3"`},
		{"stop timeout", "POST", "/v1/endpoints/web/stop", `{"timeout":-1}`, "timeout -1"},
		{"restart timeout", "POST", "/v1/endpoints/web/restart", `{"timeout":-5}`, "timeout -5"},
		{"kill signal name", "POST", "/v1/endpoints/web/kill", `{"signal":"BOGUS"}`, `signal "BOGUS"`},
		{"kill signal 0", "POST", "/v1/endpoints/web/kill", `{"signal":"0"}`, `signal "0"`},
		{"kill signal 65", "POST", "/v1/endpoints/web/kill", `{"signal":"65"}`, `signal "65"`},
		{"kill signal -9", "POST", "/v1/endpoints/web/kill", `{"signal":"-9"}`, `signal "-9"`},
		{"fdb mac", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00","port":"veth0","vlan":10}`, `mac "02:00:00:00:00"`},
		{"fdb mac before network", "POST", "/v1/fdb", `{"mac":"x","port":"veth0","network":"alpha"}`, `mac "x"`},
		{"fdb without port", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","vlan":10}`, "needs a port"},
		{"fdb vlan and network", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","vlan":10,"network":"alpha"}`, "not both"},
		{"fdb neither vlan nor network", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0"}`, "a vlan or a network"},
		{"fdb vlan 4095", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","vlan":4095}`, "vlan 4095"},
		{"fdb vlan -1", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","vlan":-1}`, "vlan -1"},
		{"fdb delete vlan", "DELETE", "/v1/fdb/ten/02:00:00:00:00:01", "", `vlan "ten"`},
		{"fdb delete vlan 4095", "DELETE", "/v1/fdb/4095/02:00:00:00:00:01", "", "vlan 4095"},
		{"fdb delete vlan 0", "DELETE", "/v1/fdb/0/02:00:00:00:00:01", "", "vlan"},
		{"fdb delete mac", "DELETE", "/v1/fdb/10/nope", "", `mac "nope"`},
		{"set port mode", "PATCH", "/v1/ports/veth0", `{"mode":"hybrid"}`, `"hybrid"`},
		{"set port vlan 5000", "PATCH", "/v1/ports/veth0", `{"mode":"access","vlan":5000}`, "got 5000"},
		{"set port vlans", "PATCH", "/v1/ports/veth0", `{"mode":"trunk","vlans":"1-5000"}`, "5000"},
		{"set port --native", "PATCH", "/v1/ports/veth0", `{"mode":"native-untagged","native":-1}`, "--native -1"},
		{"conntrack proto", "GET", "/v1/conntrack?proto=sctp", "", `proto "sctp"`},
		{"conntrack proto number", "GET", "/v1/conntrack?proto=6", "", `proto "6"`},
		{"conntrack src", "GET", "/v1/conntrack?src=1.2.3", "", `src "1.2.3"`},
		{"conntrack dst", "GET", "/v1/conntrack?dst=host", "", `dst "host"`},
		{"conntrack port 0", "GET", "/v1/conntrack?port=0", "", `port "0"`},
		{"conntrack port 65536", "GET", "/v1/conntrack?port=65536", "", `port "65536"`},
		{"conntrack port name", "GET", "/v1/conntrack?port=https", "", `port "https"`},
		{"conntrack state", "GET", "/v1/conntrack?state=OPEN", "", `"OPEN"`},
		{"log level", "PUT", "/v1/log-level", `{"level":"verbose"}`, `log level "verbose"`},
		{"log level empty", "PUT", "/v1/log-level", `{"level":""}`, `log level ""`},
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

// TestRouteErrors: the new routes answer their backend's error with the
// status its kind says and the message unchanged, and change nothing after
// the failing method.
func TestRouteErrors(t *testing.T) {
	notFound := state.Errorf(state.ErrNotFound, "endpoint %q not found", "web")
	conflict := state.Errorf(state.ErrConflict, "endpoint %q is running", "web")
	invalid := state.Errorf(state.ErrInvalid, "exec: %q: executable file not found in $PATH", "nope")
	plain := errors.New("remove beta: device or resource busy")
	tests := []struct {
		name, method, path, body string
		failing                  string // the backend method that fails
		err                      error
		want                     int
	}{
		{"prune", "POST", "/v1/networks/prune", "", "PruneNetworks", plain, 500},
		{"stop", "POST", "/v1/endpoints/web/stop", `{"timeout":1}`, "StopEndpoint", notFound, 404},
		{"start", "POST", "/v1/endpoints/web/start", "", "StartEndpoint", conflict, 409},
		{"restart", "POST", "/v1/endpoints/web/restart", "", "RestartEndpoint", notFound, 404},
		{"kill", "POST", "/v1/endpoints/web/kill", `{"signal":"HUP"}`, "Kill", conflict, 409},
		{"top", "GET", "/v1/endpoints/web/top", "", "Top", notFound, 404},
		{"exec detached", "POST", "/v1/endpoints/web/exec", `{"cmd":["nope"],"detach":true}`, "Exec", invalid, 400},
		{"exec detached, no endpoint", "POST", "/v1/endpoints/web/exec", `{"cmd":["true"],"detach":true}`, "Endpoint", notFound, 404},
		{"publish", "POST", "/v1/endpoints/web/publish", `{"spec":"8080:80"}`, "Publish", conflict, 409},
		{"add fdb", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"nope","vlan":10}`, "AddFDB", notFound, 404},
		{"add fdb on a missing network", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth0","network":"beta"}`, "Network",
			state.Errorf(state.ErrNotFound, "network %q not found", "beta"), 404},
		{"delete fdb", "DELETE", "/v1/fdb/10/02:00:00:00:00:01", "", "DeleteFDB", notFound, 404},
		{"set port", "PATCH", "/v1/ports/tap0", `{"mode":"access","vlan":10}`, "SetPort", conflict, 409},
		{"set log level", "PUT", "/v1/log-level", `{"level":"debug"}`, "SetLogLevel", conflict, 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{errs: map[string]error{tt.failing: tt.err}}
			_, sock := serve(t, b)
			status, msg, err := errorReply(t, rawClient(sock), tt.method, tt.path, tt.body)
			if status != tt.want || err != nil || msg != tt.err.Error() {
				t.Errorf("%s %s = %d %q (%v), want %d %q", tt.method, tt.path, status, msg, err, tt.want, tt.err.Error())
			}
			// After the failing method, only reads (PUT /log-level reads
			// the level back whatever happened).
			calls := b.takeCalls()
			i := slices.IndexFunc(calls, func(c call) bool { return c.Method == tt.failing })
			if i < 0 || slices.ContainsFunc(calls[i+1:], func(c call) bool { return c.Method != "LogLevel" }) {
				t.Errorf("%s %s: backend calls %v, want nothing but reads after the failing %s", tt.method, tt.path, calls, tt.failing)
			}
		})
	}
}

// TestFixedBugs: regression checks of bugs found in review.
func TestFixedBugs(t *testing.T) {
	t.Run("AddPort drops the port type", func(t *testing.T) {
		b := &fakeBackend{}
		c, _ := serve(t, b)
		_, err := c.AddPort(context.Background(), control.PortAdd{Interface: "vx0", Type: "vxlan", Mode: "access", VLAN: 10})
		must(t, err)
		want := []call{{Method: "AddPort", Args: []any{state.PortSpec{Interface: "vx0", Type: "vxlan", Mode: vlan.Access, VLAN: 10}}}}
		if diff := diffCalls(want, b.takeCalls()); diff != "" {
			t.Errorf("backend calls (-want +got):\n%s", diff)
		}
	})
	t.Run("kill takes SIG as a signal", func(t *testing.T) {
		b := &fakeBackend{}
		_, sock := serve(t, b)
		for _, sig := range []string{"SIG", "sig"} {
			status, msg, err := errorReply(t, rawClient(sock), "POST", "/v1/endpoints/web/kill", `{"signal":"`+sig+`"}`)
			if status != http.StatusBadRequest || err != nil || !strings.Contains(msg, `"`+sig+`"`) {
				t.Errorf("kill with signal %q = %d %q (%v), want 400", sig, status, msg, err)
			}
		}
		if calls := b.takeCalls(); len(calls) != 0 {
			t.Errorf("a bad signal reached the backend: %v", calls)
		}
	})
	t.Run("top without titles answers null", func(t *testing.T) {
		b := &schemaBackend{fakeBackend: &fakeBackend{}}
		_, sock := serve(t, topless{b})
		got, err := rawJSON[map[string]any](context.Background(), rawClient(sock), "GET", "/v1/endpoints/web/top", "")
		must(t, err)
		if got["titles"] == nil {
			t.Errorf("top = %v, want titles [] rather than null", got)
		}
	})
	t.Run("an empty chunked body is refused", func(t *testing.T) {
		b := &fakeBackend{}
		_, sock := serve(t, b)
		for _, route := range []string{"stop", "start", "restart", "kill"} {
			req, err := http.NewRequest("POST", "http://vswitchd/v1/endpoints/web/"+route, io.MultiReader()) // no length: sent chunked
			must(t, err)
			resp, err := rawClient(sock).Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("POST %s with an empty chunked body = %d, want 204 as with no body", route, resp.StatusCode)
			}
		}
	})
}

// topless is a Backend whose Top lists no titles.
type topless struct{ *schemaBackend }

// Top implements server.Backend.
func (b topless) Top(string) ([]string, [][]string, error) { return nil, nil, nil }

// TestMalformedBodies: a body that is not one JSON value (trailing garbage), is
// over the limit, or carries a NUL byte into a command is refused with the
// API's JSON error and the right status, and reaches no backend call.
func TestMalformedBodies(t *testing.T) {
	b := &fakeBackend{}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	big := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"trailing garbage", "POST", "/v1/networks", `{"name":"alpha"} x`, 400, "after the JSON value"},
		{"two values", "POST", "/v1/networks", `{"name":"alpha"}{"name":"beta"}`, 400, "unexpected data after the JSON value"},
		{"trailing garbage, optional body", "POST", "/v1/endpoints/web/stop", `{"timeout":1}]`, 400, "after the JSON value"},
		{"too large", "POST", "/v1/networks", big, 413, "too large"},
		{"NUL in cmd", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","cmd":["sh","-c","a\u0000b"]}`, 400, "NUL byte"},
		{"NUL in env", "POST", "/v1/endpoints", `{"name":"web","network":"alpha","cmd":["true"],"env":["A=\u0000"]}`, 400, "NUL byte"},
		{"NUL in exec", "POST", "/v1/endpoints/web/exec", `{"cmd":["echo","\u0000"],"detach":true}`, 400, "NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.takeCalls()
			req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
			must(t, err)
			resp, err := hc.Do(req)
			must(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e control.ErrorBody
			if resp.StatusCode != tt.want || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("%s %s = %d %q, want %d and a JSON message containing %q", tt.method, tt.path, resp.StatusCode, body, tt.want, tt.msg)
			}
			for _, c := range b.takeCalls() {
				if c.Method != "Endpoint" {
					t.Errorf("refused request reached the backend: %v", c)
				}
			}
		})
	}
}
