package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/supervisor"
)

// schemaBackend is a fakeBackend whose answers leave everything they can
// unset: nil lists, no NICs, NICs without addresses or aliases, ports
// without drops, zero times. The API still lists every field, with [] and
// {} for nothing, and null only where the schema says so.
type schemaBackend struct{ *fakeBackend }

var (
	// bareInfo is an endpoint that never ran, with nothing but a name.
	bareInfo = daemon.EndpointInfo{Name: "bare", Netns: "vswitchd-bare", State: daemon.StateCreated, Status: "Created", Created: created}
	// nicsInfo has an access NIC without an address or aliases, and a
	// trunk of every VLAN on no network.
	nicsInfo = daemon.EndpointInfo{
		Name: "nics", Netns: "vswitchd-nics", State: daemon.StateRunning, Status: "Up 1 second", Created: created,
		NICs: []daemon.NICInfo{
			{NIC: state.NIC{Interface: "eth0", Network: "alpha", MAC: mac("02:00:00:00:0c:01")}, Port: "nics/eth0", Mode: "access"},
			{NIC: state.NIC{Interface: "eth1", MAC: mac("02:00:00:00:0c:02"), Trunk: true}, Port: "nics/eth1", Mode: "trunk"},
		},
	}
	bareNetworkInfo = daemon.NetworkInfo{Network: state.Network{
		Name: "bare", ID: 3, VLAN: 101, Subnet: prefix("172.20.0.0/24"), Gateway: ip("172.20.0.1"), MAC: state.GatewayMAC(3), Created: created,
	}}
	// nicsNetworkInfo has an endpoint whose NIC has no address or aliases.
	nicsNetworkInfo = daemon.NetworkInfo{
		Network: state.Network{
			Name: "alpha", ID: 1, VLAN: 10, Subnet: prefix("172.18.0.0/24"), Gateway: ip("172.18.0.1"), MAC: state.GatewayMAC(1), Created: created,
		},
		Endpoints: []daemon.NetworkEndpoint{{Endpoint: "nics", Interface: "eth0", MAC: mac("02:00:00:00:0c:01")}},
	}
	barePortInfos = []daemon.PortInfo{
		{ID: 1, Name: "veth9", Kind: datapath.KindSystem},
		{ID: 2, Name: "host0", Kind: datapath.KindInternal, Routed: true},
	}
)

// Endpoints implements server.Backend.
func (b *schemaBackend) Endpoints() []daemon.EndpointInfo {
	b.record("Endpoints")
	return []daemon.EndpointInfo{bareInfo, nicsInfo}
}

// Endpoint implements server.Backend.
func (b *schemaBackend) Endpoint(name string) (daemon.EndpointInfo, error) {
	b.record("Endpoint", name)
	return bareInfo, nil
}

// Networks implements server.Backend.
func (b *schemaBackend) Networks() []daemon.NetworkInfo {
	b.record("Networks")
	return []daemon.NetworkInfo{bareNetworkInfo, nicsNetworkInfo}
}

// Network implements server.Backend.
func (b *schemaBackend) Network(name string) (daemon.NetworkInfo, error) {
	b.record("Network", name)
	return bareNetworkInfo, nil
}

// PruneNetworks implements server.Backend: none removed.
func (b *schemaBackend) PruneNetworks() ([]string, error) {
	b.record("PruneNetworks")
	return nil, nil
}

// Top implements server.Backend: no processes.
func (b *schemaBackend) Top(name string) ([]string, [][]string, error) {
	b.record("Top", name)
	return cannedTop.Titles, nil, nil
}

// FDB implements server.Backend.
func (b *schemaBackend) FDB() []daemon.FDBEntry {
	b.record("FDB")
	return nil
}

// Ports implements server.Backend.
func (b *schemaBackend) Ports() []daemon.PortInfo {
	b.record("Ports")
	return barePortInfos
}

// SetPort implements server.Backend.
func (b *schemaBackend) SetPort(name string, spec state.PortSpec) (daemon.PortInfo, error) {
	b.record("SetPort", name, spec)
	return barePortInfos[0], nil
}

// Stats implements server.Backend.
func (b *schemaBackend) Stats() daemon.Stats {
	b.record("Stats")
	return daemon.Stats{Ports: barePortInfos}
}

// Uplink implements server.Backend: one without a gateway.
func (b *schemaBackend) Uplink() (daemon.UplinkInfo, bool) {
	b.record("Uplink")
	return daemon.UplinkInfo{Uplink: state.Uplink{Interface: "eth0", Address: prefix("198.51.100.7/24")}, MAC: uplinkMAC}, true
}

// schemaCheck walks JSON decoded into any against the Go type the API
// declares for it, and reports what the schema does not allow.
type schemaCheck struct {
	t *testing.T
	// visited are the struct types seen, to check the walk reached them.
	visited map[reflect.Type]bool
	// optional are the fields of a type that may be absent.
	optional map[reflect.Type][]string
}

var timeType = reflect.TypeFor[time.Time]()

// check checks v at path against typ: every field of a struct's json tags
// present (tagged without omitempty or omitzero), no other field; lists
// as arrays and maps as objects, never null; null only for pointers.
func (c *schemaCheck) check(path string, v any, typ reflect.Type) {
	c.t.Helper()
	if typ.Kind() == reflect.Pointer {
		if v != nil {
			c.check(path, v, typ.Elem())
		}
		return
	}
	if v == nil {
		c.t.Errorf("%s is null, want %s", path, kindName(typ))
		return
	}
	if typ == timeType {
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			c.t.Errorf("%s = %v, want an RFC 3339 time", path, v)
		}
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			c.t.Errorf("%s = %v, want an object", path, v)
			return
		}
		c.visited[typ] = true
		known := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			known[name] = true
			omit := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
			fv, present := obj[name]
			switch {
			case omit && !slices.Contains(c.optional[typ], name):
				c.t.Errorf("%s: %s.%s is tagged %q: answers always carry every field", path, typ.Name(), f.Name, tag)
			case !present && !omit:
				c.t.Errorf("%s has no %q (%s.%s)", path, name, typ.Name(), f.Name)
			}
			if present {
				c.check(path+"."+name, fv, f.Type)
			}
		}
		for k := range obj {
			if !known[k] {
				c.t.Errorf("%s has %q, which %s does not declare", path, k, typ.Name())
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			c.t.Errorf("%s = %v, want an array", path, v)
			return
		}
		for i, e := range list {
			c.check(fmt.Sprintf("%s[%d]", path, i), e, typ.Elem())
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			c.t.Errorf("%s = %v, want an object", path, v)
			return
		}
		for k, e := range obj {
			c.check(path+"."+k, e, typ.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			c.t.Errorf("%s = %v, want a string", path, v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.t.Errorf("%s = %v, want a boolean", path, v)
		}
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		if _, ok := v.(float64); !ok {
			c.t.Errorf("%s = %v, want a number", path, v)
		}
	default:
		c.t.Errorf("%s: no schema check for %v", path, typ)
	}
}

func kindName(typ reflect.Type) string {
	switch typ.Kind() {
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return typ.String()
}

// TestSchema decodes the raw JSON of every answer, from a backend that
// leaves everything it can unset, and checks it against the API's types:
// every field present, lists [] and maps {} rather than null or missing,
// and nothing undeclared.
func TestSchema(t *testing.T) {
	b := &schemaBackend{fakeBackend: &fakeBackend{
		run: func(context.Context, daemon.RunSpec, *supervisor.IO) (daemon.EndpointInfo, int, error) {
			return bareInfo, 0, nil
		},
	}}
	_, sock := serve(t, b)
	hc := rawClient(sock)
	c := &schemaCheck{t: t, visited: map[reflect.Type]bool{}, optional: map[reflect.Type][]string{
		// Uplink is PUT's body too, whose gateway is optional and whose
		// MAC is the answer's; the answer omits both when empty.
		reflect.TypeFor[control.Uplink](): {"gateway", "mac"},
	}}
	tests := []struct {
		method, path, body string
		typ                reflect.Type
		status             int
	}{
		{"GET", "/v1/version", "", reflect.TypeFor[control.Version](), 200},
		{"GET", "/v1/networks", "", reflect.TypeFor[[]control.Network](), 200},
		{"GET", "/v1/networks/bare", "", reflect.TypeFor[control.Network](), 200},
		{"POST", "/v1/networks", `{"name":"bare"}`, reflect.TypeFor[control.Network](), 201},
		{"POST", "/v1/networks/prune", "", reflect.TypeFor[control.NetworkPrune](), 200},
		{"GET", "/v1/endpoints", "", reflect.TypeFor[[]control.Endpoint](), 200},
		{"GET", "/v1/endpoints/bare", "", reflect.TypeFor[control.Endpoint](), 200},
		{"POST", "/v1/endpoints", `{"name":"bare"}`, reflect.TypeFor[control.Endpoint](), 201},
		{"GET", "/v1/endpoints/bare/top", "", reflect.TypeFor[control.Top](), 200},
		{"POST", "/v1/endpoints/bare/publish", `{"spec":"80"}`, reflect.TypeFor[control.PortMap](), 201},
		{"GET", "/v1/fdb", "", reflect.TypeFor[[]control.FDBEntry](), 200},
		{"POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","port":"veth9","vlan":10}`, reflect.TypeFor[control.FDBEntry](), 201},
		{"GET", "/v1/ports", "", reflect.TypeFor[[]control.Port](), 200},
		{"PATCH", "/v1/ports/veth9", `{"mode":"access","vlan":10}`, reflect.TypeFor[control.Port](), 200},
		{"GET", "/v1/stats", "", reflect.TypeFor[control.Stats](), 200},
		{"GET", "/v1/uplink", "", reflect.TypeFor[control.Uplink](), 200},
		{"GET", "/v1/conntrack", "", reflect.TypeFor[[]control.Conn](), 200},
		{"GET", "/v1/conntrack/count", "", reflect.TypeFor[control.ConntrackCount](), 200},
		{"GET", "/v1/nat", "", reflect.TypeFor[control.NATRules](), 200},
		{"GET", "/v1/log-level", "", reflect.TypeFor[control.LogLevel](), 200},
		{"PUT", "/v1/log-level", `{"level":"info"}`, reflect.TypeFor[control.LogLevel](), 200},
		{"GET", "/v1/links", "", reflect.TypeFor[[]control.Link](), 200},
		{"PATCH", "/v1/links/bare", `{"delay":"50ms"}`, reflect.TypeFor[[]control.Link](), 200},
		{"DELETE", "/v1/links/bare", "", reflect.TypeFor[[]control.Link](), 200},
		{"GET", "/v1/labs", "", reflect.TypeFor[[]control.Lab](), 200},
		{"GET", "/v1/labs/bare", "", reflect.TypeFor[control.Lab](), 200},
		{"PUT", "/v1/labs/bare", `{"name":"bare"}`, reflect.TypeFor[control.LabPlan](), 200},
		{"POST", "/v1/labs/bare/plan", `{"name":"bare"}`, reflect.TypeFor[control.LabPlan](), 200},
		{"DELETE", "/v1/labs/bare", "", reflect.TypeFor[control.LabPlan](), 200},
		{"GET", "/v1/ui", "", reflect.TypeFor[control.UI](), 200},
	}
	raw := map[string]any{} // by method and path
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://vswitchd"+tt.path, strings.NewReader(tt.body))
		must(t, err)
		resp, err := hc.Do(req)
		must(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s %s answered %q: %v", tt.method, tt.path, body, err)
			continue
		}
		raw[tt.method+" "+tt.path] = v
		c.check(tt.method+" "+tt.path, v, tt.typ)
	}

	// The walk reached every type the answers are made of: the backend's
	// lists are not empty.
	for _, typ := range []reflect.Type{
		reflect.TypeFor[control.NetworkEndpoint](), reflect.TypeFor[control.DNSName](), reflect.TypeFor[control.NIC](),
		reflect.TypeFor[control.Tuple](), reflect.TypeFor[control.Masquerade](), reflect.TypeFor[control.Published](),
	} {
		if !c.visited[typ] {
			t.Errorf("no answer had a %s to check", typ)
		}
	}

	// Nulls and empty lists where nothing is set, as the schema says.
	want := map[string]any{
		"GET /v1/endpoints/bare": map[string]any{
			"name": "bare", "netns": "vswitchd-bare", "attached": false, "hostname": "",
			"state": "created", "status": "Created", "exit_code": nil, "pid": 0.0,
			"started_at": nil, "finished_at": nil, "restart_policy": "no", "restart_count": 0.0, "container_id": "",
			"cmd": []any{}, "env": []any{}, "dns": []any{}, "extra_hosts": []any{}, "nics": []any{}, "ports": []any{},
			"created": created.Format(time.RFC3339),
		},
		"POST /v1/networks/prune":    map[string]any{"removed": []any{}},
		"GET /v1/endpoints/bare/top": map[string]any{"titles": toAny(cannedTop.Titles), "processes": []any{}},
		"GET /v1/fdb":                []any{},
		"GET /v1/conntrack/count":    map[string]any{"count": 4.0, "max": 262144.0, "max_per_endpoint": 65536.0},
		"GET /v1/networks/bare":      networkJSON("bare", 3, 101, "172.20.0.0/24", "172.20.0.1", "02:76:73:00:00:03", []any{}),
		"POST /v1/endpoints/bare/publish": map[string]any{
			"proto": "tcp", "host_ip": "0.0.0.0", "host_port": float64(boundPort), "host_port_end": float64(boundPort),
			"container_port": 80.0, "spec": "32768:80/tcp",
		},
	}
	for k, w := range want {
		if got := raw[k]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
	nics := raw["GET /v1/endpoints"].([]any)[1].(map[string]any)["nics"]
	wantNICs := []any{
		map[string]any{"interface": "eth0", "network": "alpha", "mac": "02:00:00:00:0c:01", "ip": "", "prefix_len": 0.0,
			"gateway": "", "aliases": []any{}, "port": "nics/eth0", "mode": "access", "vlans": []any{}, "native": 0.0, "mtu": 0.0},
		map[string]any{"interface": "eth1", "network": "", "mac": "02:00:00:00:0c:02", "ip": "", "prefix_len": 0.0,
			"gateway": "", "aliases": []any{}, "port": "nics/eth1", "mode": "trunk", "vlans": []any{}, "native": 0.0, "mtu": 0.0},
	}
	if !reflect.DeepEqual(nics, wantNICs) {
		t.Errorf("GET /v1/endpoints: nics' NICs = %#v, want %#v", nics, wantNICs)
	}
	port := raw["GET /v1/ports"].([]any)[0]
	wantPort := map[string]any{
		"id": 1.0, "name": "veth9", "kind": "system", "endpoint": "", "mode": "access", "vlan": 0.0, "vlans": []any{},
		"all_vlans": false, "routed": false, "queues": 0.0, "rx_frames": 0.0, "rx_bytes": 0.0, "tx_frames": 0.0, "tx_bytes": 0.0, "drops": map[string]any{},
		"vteps": []any{},
	}
	if !reflect.DeepEqual(port, wantPort) {
		t.Errorf("GET /v1/ports[0] = %#v, want %#v", port, wantPort)
	}
	ne := raw["GET /v1/networks"].([]any)[1].(map[string]any)["endpoints"]
	wantNE := []any{map[string]any{"endpoint": "nics", "interface": "eth0", "mac": "02:00:00:00:0c:01", "ip": "", "aliases": []any{}}}
	if !reflect.DeepEqual(ne, wantNE) {
		t.Errorf("GET /v1/networks: alpha's endpoints = %#v, want %#v", ne, wantNE)
	}
}

// networkJSON is a network's JSON with no DNS names.
func networkJSON(name string, id, vid int, subnet, gw, gwMAC string, endpoints []any) map[string]any {
	return map[string]any{
		"name": name, "id": float64(id), "vlan": float64(vid), "subnet": subnet, "gateway": gw, "gateway_mac": gwMAC,
		"internal": false, "icc": true, "created": created.Format(time.RFC3339), "endpoints": endpoints, "dns_names": []any{},
		"mtu": 0.0, "ip_range": "", "overlay": nil,
	}
}

func toAny(l []string) []any {
	out := []any{}
	for _, s := range l {
		out = append(out, s)
	}
	return out
}
