package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types040 "github.com/containernetworking/cni/pkg/types/040"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
)

// fakeAPI is a daemon with networks and endpoints in memory; down makes
// every call fail as an unreachable socket does.
type fakeAPI struct {
	mu        sync.Mutex
	down      bool
	networks  map[string]control.Network
	endpoints []control.Endpoint
	calls     []string
	next      int // last address byte given
}

var errDown = errors.New("dial unix /run/vswitchd/vswitchd.sock: connect: connection refused")

func newFakeAPI() *fakeAPI {
	return &fakeAPI{networks: map[string]control.Network{
		"front": {Name: "front", VLAN: 100, Subnet: "172.18.0.0/16", Gateway: "172.18.0.1"},
		"back":  {Name: "back", VLAN: 101, Subnet: "172.19.0.0/16", Gateway: "172.19.0.1"},
	}, next: 1}
}

func (f *fakeAPI) call(s string) error {
	f.calls = append(f.calls, s)
	if f.down {
		return errDown
	}
	return nil
}

func notFound(format string, a ...any) error {
	return &control.APIError{Status: 404, Message: fmt.Sprintf(format, a...)}
}

func (f *fakeAPI) Version(ctx context.Context) (control.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return control.Version{API: "v1"}, f.call("version")
}

func (f *fakeAPI) Network(ctx context.Context, name string) (control.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("network " + name); err != nil {
		return control.Network{}, err
	}
	n, ok := f.networks[name]
	if !ok {
		return n, notFound("network %q not found", name)
	}
	return n, nil
}

func (f *fakeAPI) Endpoints(ctx context.Context) ([]control.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]control.Endpoint(nil), f.endpoints...), f.call("endpoints")
}

func (f *fakeAPI) Endpoint(ctx context.Context, name string) (control.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("endpoint " + name); err != nil {
		return control.Endpoint{}, err
	}
	for _, e := range f.endpoints {
		if e.Name == name {
			return e, nil
		}
	}
	return control.Endpoint{}, notFound("endpoint %q not found", name)
}

func (f *fakeAPI) nic(network, ifname, ip, mac string, mtu int) control.NIC {
	n := f.networks[network]
	if ip == "" {
		f.next++
		ip = strings.TrimSuffix(n.Subnet, "0.0/16") + "0." + fmt.Sprint(f.next)
	}
	if mac == "" {
		mac = "02:42:00:00:00:" + fmt.Sprintf("%02x", f.next)
	}
	return control.NIC{Interface: ifname, Network: network, IP: ip, PrefixLen: 16, Gateway: n.Gateway, MAC: mac, MTU: mtu}
}

func (f *fakeAPI) Run(ctx context.Context, r control.Run) (control.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(r)
	if err := f.call("run " + string(b)); err != nil {
		return control.Endpoint{}, err
	}
	e := control.Endpoint{Name: r.Name, Netns: r.NetnsPath, Attached: true, ContainerID: r.ContainerID,
		NICs: []control.NIC{f.nic(r.Network, r.IfName, r.IP, r.MAC, r.MTU)}}
	f.endpoints = append(f.endpoints, e)
	return e, nil
}

func (f *fakeAPI) Connect(ctx context.Context, network string, r control.Connect) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(r)
	if err := f.call("connect " + network + " " + string(b)); err != nil {
		return err
	}
	for i := range f.endpoints {
		if f.endpoints[i].Name == r.Endpoint {
			f.endpoints[i].NICs = append(f.endpoints[i].NICs, f.nic(network, r.IfName, r.IP, r.MAC, r.MTU))
			return nil
		}
	}
	return notFound("endpoint %q not found", r.Endpoint)
}

func (f *fakeAPI) Disconnect(ctx context.Context, network string, r control.Disconnect) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("disconnect " + network + " " + r.Endpoint); err != nil {
		return err
	}
	for i := range f.endpoints {
		if f.endpoints[i].Name == r.Endpoint {
			nics := f.endpoints[i].NICs[:0]
			for _, n := range f.endpoints[i].NICs {
				if n.Network != network {
					nics = append(nics, n)
				}
			}
			f.endpoints[i].NICs = nics
			return nil
		}
	}
	return notFound("endpoint %q not found", r.Endpoint)
}

func (f *fakeAPI) RemoveEndpoint(ctx context.Context, name string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("rm " + name); err != nil {
		return err
	}
	for i, e := range f.endpoints {
		if e.Name == name {
			f.endpoints = append(f.endpoints[:i], f.endpoints[i+1:]...)
			return nil
		}
	}
	return notFound("endpoint %q not found", name)
}

func (f *fakeAPI) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// env is a plugin on a fake daemon, with a network namespace file.
type env struct {
	t      *testing.T
	api    *fakeAPI
	p      *Plugin
	netns  string
	nicErr error // what CheckNIC answers
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, api: newFakeAPI()}
	e.netns = filepath.Join(t.TempDir(), "cni-1234")
	if err := os.WriteFile(e.netns, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.p = &Plugin{Dial: func(string) API { return e.api },
		CheckNIC: func(string, string, string, netip.Prefix) error { return e.nicErr }}
	return e
}

func conf(extra string) []byte {
	return []byte(`{"cniVersion":"1.1.0","name":"vsw","type":"vswitchd","network":"front"` + extra + `}`)
}

func (e *env) args(containerID, ifname, cniArgs string, stdin []byte) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: containerID, Netns: e.netns, IfName: ifname, Args: cniArgs, StdinData: stdin}
}

// stdout runs f and returns what it printed on os.Stdout (where
// types.PrintResult writes).
func stdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b), ferr
}

// code returns a CNI error's code, or -1.
func code(err error) int {
	var ce *types.Error
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}

// TestAddResult: ADD attaches the container with the runtime's choices
// and prints a result that parses as every requested version.
func TestAddResult(t *testing.T) {
	for _, v := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t)
			stdin := []byte(`{"cniVersion":"` + v + `","name":"vsw","type":"vswitchd","network":"front","mtu":1400,
				"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}],
				"ips":["172.18.5.5/16"],"mac":"02:aa:00:00:00:01","aliases":["www"]}}`)
			out, err := stdout(t, func() error {
				return e.p.Add(e.args("c0ffee", "eth0", "IgnoreUnknown=1;K8S_POD_NAME=web;K8S_POD_NAMESPACE=default", stdin))
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := version.NewResult(v, []byte(out))
			if err != nil {
				t.Fatalf("result does not parse as %s: %v\n%s", v, err, out)
			}
			r100, err := types100.NewResultFromResult(res)
			if err != nil {
				t.Fatal(err)
			}
			if len(r100.IPs) != 1 || r100.IPs[0].Address.String() != "172.18.5.5/16" || r100.IPs[0].Gateway.String() != "172.18.0.1" {
				t.Errorf("ips %+v", r100.IPs)
			}
			if len(r100.Interfaces) != 1 || r100.Interfaces[0].Name != "eth0" || r100.Interfaces[0].Sandbox != e.netns || r100.Interfaces[0].Mac != "02:aa:00:00:00:01" {
				t.Errorf("interfaces %+v", r100.Interfaces)
			}
			if len(r100.Routes) != 1 || r100.Routes[0].Dst.String() != "0.0.0.0/0" || r100.Routes[0].GW.String() != "172.18.0.1" {
				t.Errorf("routes %+v", r100.Routes)
			}
			if !cmp.Equal(r100.DNS.Nameservers, []string{"172.18.0.1"}) {
				t.Errorf("dns %+v", r100.DNS)
			}
			if v == "0.4.0" {
				if _, ok := res.(*types040.Result); !ok {
					t.Errorf("0.4.0 result is %T", res)
				}
			}
			calls := e.api.takeCalls()
			run := calls[len(calls)-1]
			for _, want := range []string{`"name":"web"`, `"network":"front"`, `"ip":"172.18.5.5"`, `"aliases":["www"]`,
				`"publish":["8080:80/tcp","127.0.0.1:5353:53/udp"]`, `"netns_path":"` + e.netns + `"`, `"ifname":"eth0"`,
				`"mac":"02:aa:00:00:00:01"`, `"mtu":1400`, `"container_id":"c0ffee"`} {
				if !strings.Contains(run, want) {
					t.Errorf("run request %s lacks %s", run, want)
				}
			}
		})
	}
}

// TestAddSecondNetwork: a container's second network is one more NIC of
// the same endpoint, without a default route; DEL of each removes its
// NIC, the endpoint with the last.
func TestAddSecondNetwork(t *testing.T) {
	e := newEnv(t)
	if _, err := stdout(t, func() error { return e.p.Add(e.args("c1", "eth0", "K8S_POD_NAME=db", conf(""))) }); err != nil {
		t.Fatal(err)
	}
	back := []byte(`{"cniVersion":"1.1.0","name":"vsw-back","type":"vswitchd","network":"back"}`)
	out, err := stdout(t, func() error { return e.p.Add(e.args("c1", "net1", "K8S_POD_NAME=db", back)) })
	if err != nil {
		t.Fatal(err)
	}
	var r types100.Result
	json.Unmarshal([]byte(out), &r)
	if len(r.Routes) != 0 || len(r.Interfaces) != 1 || r.Interfaces[0].Name != "net1" {
		t.Errorf("second network's result: %s", out)
	}
	if len(e.api.endpoints) != 1 || len(e.api.endpoints[0].NICs) != 2 {
		t.Fatalf("endpoints %+v, want db with two NICs", e.api.endpoints)
	}
	if _, err := stdout(t, func() error { return e.p.Add(e.args("c1", "net1", "", back)) }); code(err) != int(types.ErrInvalidEnvironmentVariables) {
		t.Errorf("ADD of an interface the container has = %v, want code 4", err)
	}
	e.api.takeCalls()
	must(t, e.p.Del(e.args("c1", "net1", "", back)))
	if calls := e.api.takeCalls(); calls[len(calls)-1] != "disconnect back db" {
		t.Errorf("DEL of the second NIC: %v", calls)
	}
	must(t, e.p.Del(e.args("c1", "eth0", "", conf(""))))
	must(t, e.p.Del(e.args("c1", "eth0", "", conf("")))) // again: success
	must(t, e.p.Del(e.args("unknown", "eth0", "", conf(""))))
	if len(e.api.endpoints) != 0 {
		t.Errorf("endpoints after DEL: %+v", e.api.endpoints)
	}
}

// TestErrors: each bad input and failure gets the spec's error code and
// leaves nothing in the daemon.
func TestErrors(t *testing.T) {
	long := strings.Repeat("x", 16)
	for _, tt := range []struct {
		name   string
		id     string
		ifname string
		netns  string // "" : the env's; "-": none
		stdin  []byte
		down   bool
		code   uint
		want   string
	}{
		{"not json", "c", "eth0", "", []byte("{"), false, types.ErrDecodingFailure, "decode"},
		{"no network", "c", "eth0", "", []byte(`{"cniVersion":"1.1.0","name":"x","type":"vswitchd"}`), false, types.ErrInvalidNetworkConfig, `no "network"`},
		{"unknown network", "c", "eth0", "", []byte(`{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"nope"}`), false, types.ErrInvalidNetworkConfig, `network "nope" not found`},
		{"mtu", "c", "eth0", "", conf(`,"mtu":20`), false, types.ErrInvalidNetworkConfig, "mtu 20"},
		{"vlan mismatch", "c", "eth0", "", conf(`,"vlan":7`), false, types.ErrInvalidNetworkConfig, "vlan 7"},
		{"no container id", "", "eth0", "", conf(""), false, types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"ifname too long", "c", long, "", conf(""), false, types.ErrInvalidEnvironmentVariables, "CNI_IFNAME"},
		{"no netns", "c", "eth0", "-", conf(""), false, types.ErrInvalidEnvironmentVariables, "CNI_NETNS"},
		{"daemon down", "c", "eth0", "", conf(""), true, types.ErrTryAgainLater, "not reachable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.api.down = tt.down
			a := e.args(tt.id, tt.ifname, "", tt.stdin)
			if tt.netns == "-" {
				a.Netns = filepath.Join(t.TempDir(), "missing")
			}
			_, err := stdout(t, func() error { return e.p.Add(a) })
			if code(err) != int(tt.code) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ADD = %v (code %d), want code %d mentioning %q", err, code(err), tt.code, tt.want)
			}
			if len(e.api.endpoints) != 0 {
				t.Errorf("a refused ADD left %+v", e.api.endpoints)
			}
		})
	}
	e := newEnv(t)
	e.api.down = true
	if err := e.p.Del(e.args("c", "eth0", "", conf(""))); code(err) != int(types.ErrTryAgainLater) {
		t.Errorf("DEL with the daemon down = %v, want code 11", err)
	}
}

// TestCheck: CHECK finds the attachment, checks the NIC in the namespace
// and the previous result, and fails when any is off.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	out, err := stdout(t, func() error { return e.p.Add(e.args("c2", "eth0", "", conf(""))) })
	must(t, err)
	withPrev := func(res string) []byte {
		return conf(`,"prevResult":` + res)
	}
	must(t, e.p.Check(e.args("c2", "eth0", "", withPrev(out))))
	e.nicErr = errors.New("interface eth0 in /run/netns/x: Link not found")
	if err := e.p.Check(e.args("c2", "eth0", "", withPrev(out))); err == nil || !strings.Contains(err.Error(), "Link not found") {
		t.Errorf("CHECK with the NIC gone = %v", err)
	}
	e.nicErr = nil
	wrong := strings.Replace(out, "172.18.0.2", "172.18.0.99", 1)
	if err := e.p.Check(e.args("c2", "eth0", "", withPrev(wrong))); err == nil || !strings.Contains(err.Error(), "previous result") {
		t.Errorf("CHECK against another address = %v", err)
	}
	if err := e.p.Check(e.args("nope", "eth0", "", withPrev(out))); code(err) != int(types.ErrUnknownContainer) {
		t.Errorf("CHECK of an unknown container = %v, want code 3", err)
	}
}

// TestGC: attachments to the network that the runtime does not list go;
// listed ones and other networks' stay.
func TestGC(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"keep", "stale"} {
		_, err := stdout(t, func() error { return e.p.Add(e.args(id, "eth0", "", conf(""))) })
		must(t, err)
	}
	back := []byte(`{"cniVersion":"1.1.0","name":"vsw-back","type":"vswitchd","network":"back"}`)
	_, err := stdout(t, func() error { return e.p.Add(e.args("other", "eth0", "", back)) })
	must(t, err)
	gc := conf(`,"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]`)
	must(t, e.p.GC(&skel.CmdArgs{StdinData: gc}))
	var left []string
	for _, ep := range e.api.endpoints {
		left = append(left, ep.ContainerID)
	}
	if !cmp.Equal(left, []string{"keep", "other"}) {
		t.Errorf("after GC: %v, want keep and other", left)
	}
}

// TestStatus: STATUS succeeds with the daemon up and the network there,
// and fails with code 50 otherwise.
func TestStatus(t *testing.T) {
	e := newEnv(t)
	must(t, e.p.Status(&skel.CmdArgs{StdinData: conf("")}))
	if err := e.p.Status(&skel.CmdArgs{StdinData: []byte(`{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"nope"}`)}); code(err) != int(types.ErrPluginNotAvailable) {
		t.Errorf("STATUS of an unknown network = %v, want code 50", err)
	}
	e.api.down = true
	if err := e.p.Status(&skel.CmdArgs{StdinData: conf("")}); code(err) != int(types.ErrPluginNotAvailable) {
		t.Errorf("STATUS with the daemon down = %v, want code 50", err)
	}
}

// TestEndpointName: the pod name, else the container ID, shortened when
// it is too long to be a name.
func TestEndpointName(t *testing.T) {
	id64 := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		id, pod, want string
	}{
		{"c0ffee", "web", "web"},
		{"c0ffee", "", "c0ffee"},
		{id64, "", "c-abababababab"},
		{"cnitool-0123456789", "bad/name", "cnitool-0123456789"},
	} {
		if got := endpointName(tt.id, args{K8S_POD_NAME: types.UnmarshallableString(tt.pod)}); got != tt.want {
			t.Errorf("endpointName(%q, %q) = %q, want %q", tt.id, tt.pod, got, tt.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
