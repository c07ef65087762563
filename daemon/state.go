package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is the name of the desired-state file in the state directory.
const stateFile = "state.json"

// State is the daemon's desired state: everything needed to rebuild the
// switch after a restart. It is written atomically on every change.
type State struct {
	Version   int         `json:"version"`
	Prefix    string      `json:"netns_prefix"` // namespace name prefix in use
	HostMAC   string      `json:"host_leg_mac"` // the router's MAC on the host leg
	UplinkMAC string      `json:"uplink_mac"`   // the router's MAC on the uplink
	Networks  []*Network  `json:"networks"`
	Endpoints []*Endpoint `json:"endpoints"`
	Ports     []*SysPort  `json:"ports"`
	Uplink    *UplinkConf `json:"uplink,omitempty"`
}

// Network is a network's desired state.
type Network struct {
	Name     string    `json:"name"`
	ID       uint16    `json:"id"`
	VLAN     uint16    `json:"vlan"`
	Subnet   string    `json:"subnet"`
	Gateway  string    `json:"gateway"`
	MAC      string    `json:"mac"`
	Internal bool      `json:"internal"`
	Created  time.Time `json:"created"`
}

// Endpoint is an endpoint's desired state.
type Endpoint struct {
	Name    string    `json:"name"`
	Netns   string    `json:"netns"`
	NICs    []*NIC    `json:"nics"`
	Cmd     []string  `json:"cmd,omitempty"`
	Env     []string  `json:"env,omitempty"`
	Remove  bool      `json:"remove,omitempty"` // --rm
	Publish []string  `json:"publish,omitempty"`
	Created time.Time `json:"created"`
	// PID is the main process's PID while it runs (informational: a
	// restarted daemon cannot wait for it).
	PID int `json:"pid,omitempty"`
}

// NIC is one of an endpoint's interfaces.
type NIC struct {
	Interface string   `json:"interface"` // eth0, eth1, …
	Network   string   `json:"network,omitempty"`
	IP        string   `json:"ip,omitempty"`
	MAC       string   `json:"mac"`
	Aliases   []string `json:"aliases,omitempty"`
	Trunk     bool     `json:"trunk,omitempty"`
	VLANs     string   `json:"vlans,omitempty"`
	Native    uint16   `json:"native,omitempty"`
}

// SysPort is an attached existing interface.
type SysPort struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"`
	VLAN      uint16 `json:"vlan,omitempty"`
	VLANs     string `json:"vlans,omitempty"`
}

// UplinkConf is the uplink's desired state.
type UplinkConf struct {
	Interface string `json:"interface"`
	Address   string `json:"address"`
	Gateway   string `json:"gateway,omitempty"`
}

// loadState reads the state file; a missing file is an empty state.
func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("read state: version %d, this vswitchd reads %d", s.Version, stateVersion)
	}
	return &s, nil
}

// save writes the state atomically: a temporary file, fsync, rename, and
// fsync of the directory, so a crash leaves the old or the new state.
func (s *State) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (s *State) network(name string) *Network {
	for _, n := range s.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (s *State) endpoint(name string) *Endpoint {
	for _, e := range s.Endpoints {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (e *Endpoint) nic(network string) *NIC {
	for _, n := range e.NICs {
		if n.Network == network {
			return n
		}
	}
	return nil
}
