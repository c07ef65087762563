//go:build linux

package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdUnit: `make install` puts dist/vswitchd.service in
// SYSTEMD_DIR, pointing at the installed vswitchd, restarted always, with
// only the daemon signalled (endpoints' commands outlive a restart) and
// endpoints kept across a stop.
func TestSystemdUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the binaries")
	}
	dest := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := runCmd(ctx, "", "make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr", "SYSTEMD_DIR=/lib/systemd/system")
	if r.code != 0 {
		t.Fatalf("make install: %v", r)
	}
	b, err := os.ReadFile(filepath.Join(dest, "lib/systemd/system/vswitchd.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	for k, want := range map[string]string{
		"ExecStart": "/usr/bin/vswitchd --keep", "Restart": "always", "KillMode": "process",
		"StateDirectory": "vswitchd", "RuntimeDirectory": "vswitchd", "WantedBy": "multi-user.target",
	} {
		if unit[k] != want {
			t.Errorf("vswitchd.service %s=%q, want %q", k, unit[k], want)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/vswitchd")); err != nil {
		t.Errorf("the unit's binary was not installed: %v", err)
	}
}
