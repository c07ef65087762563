package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if s, err := loadState(dir); err != nil || len(s.Networks) != 0 || s.Version != stateVersion {
		t.Fatalf("loadState(empty dir) = %+v, %v; want an empty state", s, err)
	}
	want := &State{
		Version: stateVersion, Prefix: "x-", HostMAC: "02:00:00:00:00:01",
		Networks:  []*Network{{Name: "n", ID: 1, VLAN: 100, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", MAC: "02:76:73:00:00:01", Created: time.Unix(1e9, 0).UTC()}},
		Endpoints: []*Endpoint{{Name: "e", Netns: "x-e", NICs: []*NIC{{Interface: "eth0", Network: "n", IP: "10.0.0.2", MAC: "02:42:0a:00:00:02"}}, Cmd: []string{"sleep", "1"}}},
		Ports:     []*SysPort{{Interface: "veth0", Mode: "trunk", VLANs: "10,20"}},
		Uplink:    &UplinkConf{Interface: "up0", Address: "203.0.113.2/24", Gateway: "203.0.113.1"},
	}
	if err := want.save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	got, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version": 99}`), 0o600)
	if _, err := loadState(dir); err == nil {
		t.Error("loadState accepted an unknown version")
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{`), 0o600)
	if _, err := loadState(dir); err == nil {
		t.Error("loadState accepted broken JSON")
	}
}
