package main

import (
	"slices"
	"strings"
	"testing"
)

// TestArgsWithout: the flags a parent vswitchd passes to the one it starts
// (--detach, --lab) configure it exactly as the original command line did,
// without the flags left out.
func TestArgsWithout(t *testing.T) {
	args := []string{
		"--lab", "vswlab", "--detach", "--pid-file=/tmp/x.pid", "--socket", "/tmp/s.sock",
		"--state-dir", "/tmp/state dir", "--keep", "--dns-upstream", "127.0.0.1:53,10.0.0.1",
		"--uplink", "up0", "--uplink-address", "203.0.113.2/24", "--uplink-gateway", "203.0.113.1",
		"--fdb-aging", "90s", "--fdb-capacity", "4096", "--conntrack-max", "1000", "--log-level", "warn",
		"--netns-prefix", "t-", "--host-cidr", "169.254.10.0/29", "--no-arp-suppression", "--tap-queues", "3",
	}
	cfg, o, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	child := o.argsWithout("lab", "pid-file", "detach")
	for _, a := range child {
		for _, skip := range []string{"--lab=", "--pid-file=", "--detach="} {
			if len(a) >= len(skip) && a[:len(skip)] == skip {
				t.Errorf("argsWithout kept %q", a)
			}
		}
	}
	cfg2, o2, err := parseFlags(child)
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", child, err)
	}
	cfg.Logger, cfg2.Logger = nil, nil
	if got, want := o2.socket, o.socket; got != want {
		t.Errorf("socket = %q, want %q", got, want)
	}
	if o2.lab != "" || o2.detach || o2.pidFile != "" || o2.logLevel != "warn" {
		t.Errorf("child options = %+v", o2)
	}
	if cfg2.StateDir != cfg.StateDir || cfg2.CleanupOnExit != cfg.CleanupOnExit || cfg2.NetnsPrefix != cfg.NetnsPrefix ||
		cfg2.HostCIDR != cfg.HostCIDR || cfg2.FDB != cfg.FDB || cfg2.NAT.MaxEntries != cfg.NAT.MaxEntries ||
		cfg2.NoARPSuppression != cfg.NoARPSuppression || cfg2.TAPQueues != 3 || !slices.Equal(cfg2.DNSUpstreams, cfg.DNSUpstreams) ||
		*cfg2.Uplink != *cfg.Uplink {
		t.Errorf("child config differs:\n got %+v\nwant %+v", cfg2, cfg)
	}
	if !slices.IsSorted(child) {
		t.Errorf("argsWithout = %q, want it sorted", child)
	}
}

// TestTAPQueuesFlag: --tap-queues defaults to the uplink's queue count and
// refuses counts outside 1 to tap.MaxQueues with a one-line error.
func TestTAPQueuesFlag(t *testing.T) {
	cfg, _, err := parseFlags(nil)
	if err != nil || cfg.TAPQueues < 1 || cfg.TAPQueues > 4 {
		t.Errorf("default --tap-queues = %d, %v; want 1 to 4", cfg.TAPQueues, err)
	}
	for _, v := range []string{"0", "-1", "17", "x"} {
		_, _, err := parseFlags([]string{"--tap-queues", v})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "tap-queues") {
			t.Errorf("--tap-queues %s: error %v, want one line naming the flag", v, err)
		}
	}
}

// TestCleanupOnExit: a plain stop keeps everything by default; wiping is
// explicit (--cleanup-on-exit), implied by --lab (and passed on to the
// daemon the --lab process starts) unless --keep says otherwise.
func TestCleanupOnExit(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    bool
		wantErr bool
	}{
		{"default keeps", nil, false, false},
		{"explicit", []string{"--cleanup-on-exit"}, true, false},
		{"lab implies it", []string{"--lab", "x"}, true, false},
		{"lab with keep", []string{"--lab", "x", "--keep"}, false, false},
		{"keep alone", []string{"--keep"}, false, false},
		{"both", []string{"--keep", "--cleanup-on-exit"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, o, err := parseFlags(tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) = nil error, want one", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CleanupOnExit != tt.want {
				t.Errorf("parseFlags(%q).CleanupOnExit = %v, want %v", tt.args, cfg.CleanupOnExit, tt.want)
			}
			child, _, err := parseFlags(o.argsWithout("lab", "pid-file", "detach"))
			if err != nil {
				t.Fatal(err)
			}
			if child.CleanupOnExit != tt.want {
				t.Errorf("the daemon started for %q: CleanupOnExit = %v, want %v", tt.args, child.CleanupOnExit, tt.want)
			}
		})
	}
}
