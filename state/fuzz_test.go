package state

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The seed corpus in testdata/fuzz/FuzzParse is written from parseSeeds by
//
//	go test ./state/ -run TestFuzzParseCorpus -write-corpus
//
// TestFuzzParseCorpus fails when a seed is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// validStateJSON is a state.json written by hand from the JSON tags of
// state.go: the fixture, as Save would write it.
const validStateJSON = `{
  "version": 1,
  "netns_prefix": "vsw-",
  "host_leg_mac": "02:00:00:00:00:aa",
  "uplink_mac": "02:00:00:00:00:bb",
  "networks": [
    {
      "name": "alpha",
      "id": 2,
      "vlan": 100,
      "subnet": "172.18.0.0/16",
      "gateway": "172.18.0.1",
      "mac": "02:76:73:00:00:02",
      "internal": false,
      "created": "2025-01-02T03:04:05Z"
    },
    {
      "name": "beta",
      "id": 1,
      "vlan": 10,
      "subnet": "10.1.0.0/24",
      "gateway": "10.1.0.254",
      "mac": "02:76:73:00:00:01",
      "internal": true,
      "created": "2025-01-02T03:04:05Z"
    }
  ],
  "endpoints": [
    {
      "name": "web",
      "netns": "vsw-web",
      "netns_id": 4026532001,
      "nics": [
        {"interface": "eth0", "network": "alpha", "ip": "172.18.0.2", "mac": "02:42:ac:12:00:02", "aliases": ["www"]},
        {"interface": "eth1", "network": "beta", "ip": "10.1.0.2", "mac": "02:42:0a:01:00:02", "aliases": ["api"]}
      ],
      "cmd": ["nginx", "-g", "daemon off;"],
      "env": ["A=1"],
      "publish": ["8080:80/tcp", "127.0.0.1:5353:53/udp"],
      "created": "2025-01-02T03:04:05Z",
      "pid": 42
    },
    {
      "name": "db",
      "netns": "vsw-db",
      "netns_id": 4026532002,
      "nics": [
        {"interface": "eth0", "network": "alpha", "ip": "172.18.0.3", "mac": "02:42:ac:12:00:03"}
      ],
      "remove": true,
      "created": "2025-01-02T03:04:05Z"
    },
    {
      "name": "pod",
      "netns": "",
      "netns_path": "/run/netns/cni-1234",
      "netns_id": 4026532004,
      "nics": [
        {"interface": "eth0", "network": "beta", "ip": "10.1.0.3", "mac": "02:42:0a:01:00:03"}
      ],
      "created": "2025-01-02T03:04:05Z"
    },
    {
      "name": "router1",
      "netns": "vsw-router1",
      "netns_id": 4026532003,
      "nics": [
        {"interface": "eth0", "network": "beta", "ip": "10.1.0.4", "mac": "02:42:0a:01:00:04", "trunk": true, "vlans": "10,20", "native": 10}
      ],
      "created": "2025-01-02T03:04:05Z"
    },
    {
      "name": "tap",
      "netns": "vsw-tap",
      "nics": [
        {"interface": "eth0", "mac": "02:aa:bb:cc:dd:ee", "trunk": true, "vlans": "10-20"}
      ],
      "publish": ["9000:90/tcp"],
      "created": "2025-01-02T03:04:05Z",
      "phase": "creating"
    }
  ],
  "ports": [
    {"interface": "veth0", "mode": "trunk", "vlans": "10-20"},
    {"interface": "veth1", "mode": "access", "vlan": 10},
    {"interface": "veth2", "mode": "dot1q-tunnel", "vlan": 100, "vlans": "10-20"}
  ],
  "uplink": {
    "interface": "eth9",
    "address": "203.0.113.2/24",
    "gateway": "203.0.113.1"
  }
}
`

// corrupt returns validStateJSON with old replaced by new, once.
func corrupt(old, new string) string {
	if strings.Count(validStateJSON, old) != 1 {
		panic(fmt.Sprintf("corrupt: %q is not in validStateJSON exactly once", old))
	}
	return strings.Replace(validStateJSON, old, new, 1)
}

// parseSeeds are state files Parse must accept (valid-*) or refuse with an
// error containing the value (corrupt-*).
func parseSeeds() map[string]struct{ content, wantErr string } {
	type seed = struct{ content, wantErr string }
	return map[string]seed{
		"valid-full":    {validStateJSON, ""},
		"valid-empty":   {`{"version":1,"netns_prefix":"vsw-","host_leg_mac":"02:00:00:00:00:aa","uplink_mac":"02:00:00:00:00:bb","networks":[],"endpoints":[],"ports":[]}`, ""},
		"valid-minimal": {`{"version":1}`, ""},

		"corrupt-truncated":     {validStateJSON[:len(validStateJSON)/2], "not valid JSON"},
		"corrupt-version":       {corrupt(`"version": 1`, `"version": 2`), "version 2"},
		"corrupt-unknown-field": {corrupt(`"pid": 42`, `"pid": 42, "uid": 0`), `unknown field "uid"`},
		"corrupt-null-network":  {corrupt(`"networks": [`, `"networks": [null,`), "networks[0]: null"},
		"corrupt-null-nic": {corrupt(`"nics": [
        {"interface": "eth0", "network": "alpha", "ip": "172.18.0.3"`, `"nics": [null,
        {"interface": "eth0", "network": "alpha", "ip": "172.18.0.3"`), "nics[0]: null"},
		"corrupt-overlap":        {corrupt("\"10.1.0.0/24\",\n      \"gateway\": \"10.1.0.254\"", "\"172.18.128.0/24\",\n      \"gateway\": \"172.18.128.254\""), `overlaps network "alpha"`},
		"corrupt-gateway":        {corrupt(`"gateway": "172.18.0.1"`, `"gateway": "172.19.0.1"`), "gateway 172.19.0.1"},
		"corrupt-gateway-mac":    {corrupt(`"mac": "02:76:73:00:00:02"`, `"mac": "02:76:73:00:00:09"`), "gateway mac"},
		"corrupt-vlan-4095":      {corrupt("\"vlan\": 100,\n      \"subnet\"", "\"vlan\": 4095,\n      \"subnet\""), "vlan 4095"},
		"corrupt-network-id":     {corrupt(`"id": 2,`, `"id": 65520,`), "id 65520"},
		"corrupt-netns":          {corrupt(`"netns": "vsw-db"`, `"netns": "init"`), `netns "init"`},
		"corrupt-netns-path":     {corrupt(`"/run/netns/cni-1234"`, `"/run/netns/../../proc/1/ns/net"`), "not an absolute, clean path"},
		"corrupt-address-twice":  {corrupt(`"ip": "172.18.0.3"`, `"ip": "172.18.0.2"`), `is endpoint "web"'s too`},
		"corrupt-address-gw":     {corrupt(`"ip": "10.1.0.3"`, `"ip": "10.1.0.254"`), "address 10.1.0.254"},
		"corrupt-unknown-net":    {corrupt(`"network": "beta", "ip": "10.1.0.3"`, `"network": "gamma", "ip": "10.1.0.3"`), `network "gamma" not found`},
		"corrupt-multicast-mac":  {corrupt(`"02:aa:bb:cc:dd:ee"`, `"01:aa:bb:cc:dd:ee"`), "not a unicast address"},
		"corrupt-native":         {corrupt(`"native": 10`, `"native": 20`), "native vlan 20"},
		"corrupt-alias":          {corrupt(`["www"]`, `["@www"]`), `alias "@www"`},
		"corrupt-phase":          {corrupt(`"phase": "creating"`, `"phase": "paused"`), `phase "paused"`},
		"corrupt-publish":        {corrupt(`"9000:90/tcp"`, `"9000:90/sctp"`), `"9000:90/sctp"`},
		"corrupt-mode":           {corrupt(`"mode": "access"`, `"mode": "hybrid"`), `"hybrid"`},
		"corrupt-uplink-overlap": {corrupt(`"203.0.113.1"`, `"10.1.0.1"`), "gateway 10.1.0.1 is not another address"},
		"corrupt-uplink-address": {corrupt(`"203.0.113.2/24"`, `"203.0.113.255/24"`), "network or broadcast address"},
		"corrupt-uplink-port":    {corrupt(`"interface": "eth9"`, `"interface": "veth1"`), "also a system port"},
	}
}

func TestFuzzParseCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if *writeCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, seed := range parseSeeds() {
		path := filepath.Join(dir, name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed.content)
		if *writeCorpus {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); run go test ./state/ -run TestFuzzParseCorpus -write-corpus", path, err)
		}
	}
}

// TestParseSeeds: the valid seeds parse (the hand-written one to the
// fixture), and each corrupt one fails saying what is wrong.
func TestParseSeeds(t *testing.T) {
	for name, seed := range parseSeeds() {
		t.Run(name, func(t *testing.T) {
			s, err := Parse([]byte(seed.content))
			if seed.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), seed.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Errorf("Parse(%s) = %v, %v; want one line containing %q", name, s, err, seed.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s) = %v", name, err)
			}
			if name == "valid-full" {
				if diff := cmp.Diff(fixture(), s, cmpState); diff != "" {
					t.Errorf("Parse(validStateJSON) is not the fixture (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// FuzzParse: Parse never panics; a state it accepts validates, marshals to
// a file it reads back equal, clones equal, compiles without panic into
// valid port policies, and can be planned on without panic.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned a state with error %v", b, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a state that does not validate: %v", b, err)
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal Parse(%q): %v", b, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but not its re-marshalled %s: %v", b, out, err)
		}
		if diff := cmp.Diff(s, again, cmpState); diff != "" {
			t.Fatalf("Parse(%q) round trip (-first +second):\n%s", b, diff)
		}
		// Clone makes nil lists empty: the same state.
		if diff := cmp.Diff(s, s.Clone(), cmpState, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Clone of Parse(%q) (-orig +clone):\n%s", b, diff)
		}

		s.RouterConfig(Runtime{UplinkPort: 1})
		s.DNSScopes()
		for _, e := range s.Endpoints {
			s.Files(e, netip.Addr{})
			for _, nic := range e.NICs {
				pol, err := s.NICPolicy(nic)
				if err != nil {
					t.Fatalf("Parse(%q): NICPolicy(%s/%s) = %v", b, e.Name, nic.Interface, err)
				}
				if err := pol.VLAN.Validate(); err != nil {
					t.Fatalf("Parse(%q): NICPolicy(%s/%s) = %+v: %v", b, e.Name, nic.Interface, pol, err)
				}
			}
		}
		for _, p := range s.Ports {
			if _, err := p.Policy(); err != nil {
				t.Fatalf("Parse(%q): port %s Policy() = %v", b, p.Interface, err)
			}
		}

		// Planning on a loaded state must not panic (allocation assumes
		// what Validate checks).
		now := time.Unix(0, 0)
		_, _ = s.NewNetwork(NetworkSpec{Name: "fuzz-net"}, nil, leg, now)
		for _, n := range s.Networks {
			_, _ = s.NewEndpoint(EndpointSpec{Name: "fuzz-ep", Network: n.Name}, now)
			for _, e := range s.Endpoints {
				_, _ = s.NewNIC(e, n.Name, ConnectSpec{})
			}
		}
	})
}
