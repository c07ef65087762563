//go:build !linux

package host

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// ErrUnsupported is returned by every method of Linux off Linux.
var ErrUnsupported = errors.New("vswitchd's host needs Linux")

// Linux is the Host of a real machine; off Linux every method fails.
type Linux struct {
	Inherited *Inherited
	TAPQueues int
}

var _ Host = Linux{}

func (Linux) CreateNamespace(string) error                    { return ErrUnsupported }
func (Linux) DeleteNamespace(string) error                    { return ErrUnsupported }
func (Linux) NamespaceExists(NS) bool                         { return false }
func (Linux) Pids(NS) ([]int, error)                          { return nil, ErrUnsupported }
func (Linux) NamespaceID(NS) (uint64, error)                  { return 0, ErrUnsupported }
func (Linux) TAPs(NS) ([]string, error)                       { return nil, ErrUnsupported }
func (Linux) CreateNIC(NS, NICConfig) (port.Port, error)      { return nil, ErrUnsupported }
func (Linux) OpenNIC(NS, string) (port.Port, error)           { return nil, ErrUnsupported }
func (Linux) NICExists(NS, string) bool                       { return false }
func (Linux) DeleteNIC(NS, string) error                      { return ErrUnsupported }
func (Linux) SetDefaultRoute(NS, string, netip.Addr) error    { return ErrUnsupported }
func (Linux) WriteEtc(string, map[string][]byte) error        { return ErrUnsupported }
func (Linux) RemoveEtc(string) error                          { return ErrUnsupported }
func (Linux) AddRoute(netip.Prefix, netip.Addr, string) error { return ErrUnsupported }
func (Linux) DelRoute(netip.Prefix, netip.Addr, string) error { return ErrUnsupported }
func (Linux) UsedPrefixes() ([]netip.Prefix, error)           { return nil, ErrUnsupported }
func (Linux) InterfaceExists(string) bool                     { return false }
func (Linux) OpenPort(string, string) (port.Port, error)      { return nil, ErrUnsupported }
func (Linux) ListenTCP(netip.AddrPort) (net.Listener, error)  { return nil, ErrUnsupported }
func (Linux) CreateHostLeg(HostLegConfig) (port.Port, header.MAC, error) {
	return nil, header.MAC{}, ErrUnsupported
}
