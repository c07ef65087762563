//go:build linux

package host

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// TestPrivilegedEtcSymlinks: symlinks planted in /etc/netns, at the
// endpoint's directory, at a file vswitchd writes or at its temporary
// file, are refused or replaced without being followed: the files they
// point at stay as they were. RemoveEtc deletes only the files WriteEtc
// writes, and the directory only when it is empty.
func TestPrivilegedEtcSymlinks(t *testing.T) {
	testutil.Privileged(t)
	var h Linux
	files := map[string][]byte{"hosts": []byte("10.0.0.2\ta\n"), "resolv.conf": []byte("nameserver 10.0.0.1\n")}
	tests := []struct {
		name    string
		plant   string // path under /etc/netns/NAME ("" the directory itself)
		wantErr bool   // WriteEtc refuses (otherwise it replaces the link by the file)
	}{
		{"directory", "", true},
		{"hosts", "hosts", false},
		{"resolv.conf", "resolv.conf", false},
		{"temporary file", "hosts.tmp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "vsw-etctest-" + randName()
			dir := filepath.Join(netns.EtcDir, name)
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			if tt.plant == "" {
				if err := os.Symlink(filepath.Dir(victim), dir); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(victim, filepath.Join(dir, tt.plant)); err != nil {
					t.Fatal(err)
				}
			}
			err := h.WriteEtc(name, files)
			if tt.wantErr != (err != nil) {
				t.Errorf("WriteEtc with a symlink at %s = %v, want error %v", tt.plant, err, tt.wantErr)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("symlink target after WriteEtc = %q, %v; want it untouched", b, err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(victim), "hosts")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("WriteEtc wrote through the directory symlink: %v", err)
			}
			if !tt.wantErr {
				for f, want := range files {
					fi, err := os.Lstat(filepath.Join(dir, f))
					if err != nil || !fi.Mode().IsRegular() {
						t.Errorf("%s after WriteEtc: %v, %v; want a regular file", f, fi, err)
						continue
					}
					if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != string(want) {
						t.Errorf("%s = %q, want %q", f, b, want)
					}
				}
			}
			if err := h.RemoveEtc(name); err != nil && !tt.wantErr {
				t.Errorf("RemoveEtc: %v", err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("symlink target after RemoveEtc = %q, %v; want it untouched", b, err)
			}
			if tt.plant == "" {
				if fi, err := os.Lstat(dir); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("the planted directory link after RemoveEtc: %v, %v; want it left alone", fi, err)
				}
			} else if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s after RemoveEtc: %v, want it gone", dir, err)
			}
		})
	}

	t.Run("foreign files stay", func(t *testing.T) {
		name := "vsw-etctest-" + randName()
		dir := filepath.Join(netns.EtcDir, name)
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := h.WriteEtc(name, files); err != nil {
			t.Fatal(err)
		}
		mine := filepath.Join(dir, "nsswitch.conf")
		if err := os.WriteFile(mine, []byte("someone else's"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := h.RemoveEtc(name); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(mine); err != nil || string(b) != "someone else's" {
			t.Errorf("a file vswitchd did not write, after RemoveEtc: %q, %v; want it kept", b, err)
		}
		for f := range files {
			if _, err := os.Lstat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s after RemoveEtc: %v, want it gone", f, err)
			}
		}
	})
}

// randName returns 6 random hex digits, to keep parallel runs apart.
func randName() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}
