package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
)

// TestParseTopologyEveryField: every field of the schema lands in the
// API's Topology, with its line recorded.
func TestParseTopologyEveryField(t *testing.T) {
	src := `name: full
prefix: x-
networks:
  lan: {subnet: 10.1.0.0/24, gateway: 10.1.0.254, vlan: 10, internal: true, icc: false}
endpoints:
  web:
    networks:
      - lan
      - network: lan2
        ip: 10.2.0.5
        aliases: [www]
    publish: ["8080:80"]
    cmd: [nc, -lk, -p, "80"]
    env: {A: "1"}
    hostname: webhost
    restart: always
    dns: [9.9.9.9]
    extra_hosts: ["db:10.1.0.9"]
  tr:
    trunk: {vlans: [10, 20-30], native: 10}
    cmd: sleep 1000
    env: [B=2]
ports:
  veth0: {mode: trunk, vlan: 0, vlans: "10,20", native: 5}
uplink: {interface: up0, address: 203.0.113.2/24, gateway: 203.0.113.1}
links:
  - endpoint: web
    network: lan
    direction: both
    delay: 50ms
    jitter: 5ms
    distribution: normal
    loss: 20
    duplicate: 1%
    corrupt: 0.1%
    reorder: 5%
    gap: 3
    rate: 10mbit
    burst: 32kb
    limit: 100
    seed: 7
  - port: veth0
    loss: 1%
`
	got, err := parseTopology("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	f := false
	want := control.Topology{
		Name: "full", Prefix: s("x-"), File: "f.yaml",
		Networks: []control.LabNetwork{{Name: "lan", Subnet: "10.1.0.0/24", Gateway: "10.1.0.254", VLAN: 10, Internal: true, ICC: &f}},
		Endpoints: []control.LabEndpoint{
			{Name: "web", Networks: []control.LabAttachment{{Network: "lan"}, {Network: "lan2", IP: "10.2.0.5", Aliases: []string{"www"}}},
				Publish: []string{"8080:80"}, Cmd: []string{"nc", "-lk", "-p", "80"}, Env: []string{"A=1"}, Hostname: "webhost",
				Restart: "always", DNS: []string{"9.9.9.9"}, ExtraHosts: []string{"db:10.1.0.9"}},
			{Name: "tr", Trunk: &control.LabTrunk{VLANs: "10,20-30", Native: 10}, Cmd: []string{"sh", "-c", "sleep 1000"}, Env: []string{"B=2"}},
		},
		Ports:  []control.LabPort{{Interface: "veth0", Mode: "trunk", VLANs: "10,20", Native: 5}},
		Uplink: &control.LabUplink{Interface: "up0", Address: "203.0.113.2/24", Gateway: "203.0.113.1"},
		Links: []control.LabLink{
			{Endpoint: "web", Network: "lan", LinkSet: control.LinkSet{Direction: "both", Delay: s("50ms"), Jitter: s("5ms"),
				Distribution: s("normal"), Loss: s("20"), Duplicate: s("1%"), Corrupt: s("0.1%"), Reorder: s("5%"), Gap: s("3"),
				Rate: s("10mbit"), Burst: s("32kb"), Limit: s("100"), Seed: s("7")}},
			{Port: "veth0", LinkSet: control.LinkSet{Loss: s("1%")}},
		},
	}
	got.Lines = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
	got, _ = parseTopology("f.yaml", []byte(src))
	for path, line := range map[string]int{"networks.lan": 4, "endpoints.web": 6, "endpoints.web.networks.1.ip": 10,
		"ports.veth0": 24, "uplink.address": 25, "links.0.loss": 33, "links.1": 42} {
		if got.Lines[path] != line {
			t.Errorf("line of %s = %d, want %d", path, got.Lines[path], line)
		}
	}
}

// TestParseTopologyErrors: unknown fields, wrong types, names given twice
// and syntax errors are one line naming the file and line.
func TestParseTopologyErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown top field", "name: a\nnetwork: {}\n", `f.yaml:2: unknown field "network" in the topology`},
		{"unknown network field", "name: a\nnetworks:\n  n:\n    subnett: 10.0.0.0/24\n", `f.yaml:4: unknown field "subnett" in network "n"`},
		{"unknown endpoint field", "name: a\nendpoints:\n  e: {networks: [n], image: x}\n", `f.yaml:3: unknown field "image" in endpoint "e"`},
		{"unknown link field", "name: a\nlinks:\n  - endpoint: e\n    latency: 5ms\n", `f.yaml:4: unknown field "latency" in a link`},
		{"duplicate network", "name: a\nnetworks:\n  n: {}\n  n: {}\n", `f.yaml:4: network "n" declared twice (first at line 3)`},
		{"duplicate endpoint", "name: a\nendpoints:\n  e: {networks: [n]}\n  e: {networks: [n]}\n", `f.yaml:4: endpoint "e" declared twice`},
		{"bad vlan type", "name: a\nnetworks:\n  n: {vlan: ten}\n", `f.yaml:3: want a whole number, not "ten"`},
		{"bad bool", "name: a\nnetworks:\n  n: {internal: maybe}\n", `f.yaml:3: want true or false`},
		{"no name", "networks: {}\n", `f.yaml:1: the topology has no name`},
		{"syntax", "name: a\nnetworks: [\n", `f.yaml:2: `},
		{"list not map", "name: a\nnetworks: [a, b]\n", `f.yaml:2: networks: want a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTopology("f.yaml", []byte(tt.src))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("parse: %v, want one line starting %q", err, tt.want)
			}
		})
	}
}

// TestExamplesParse: the shipped examples parse, and the JSON Schema
// lists exactly the fields the parser takes.
func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if _, err := readTopology(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	schema, err := os.ReadFile("../../examples/topology.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range append([]string{"name", "prefix", "networks", "endpoints", "ports", "uplink", "links", "subnet",
		"gateway", "vlan", "internal", "icc", "publish", "cmd", "env", "hostname", "restart", "dns", "extra_hosts", "trunk",
		"vlans", "native", "mode", "interface", "address", "endpoint", "network", "port", "ip", "aliases"}, linkFields...) {
		if !strings.Contains(string(schema), `"`+field+`"`) {
			t.Errorf("topology.schema.json does not mention %q", field)
		}
	}
}
