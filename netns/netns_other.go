//go:build !linux

package netns

import (
	"errors"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// ErrUnsupported is returned by everything that needs Linux namespaces.
var ErrUnsupported = errors.New("network namespaces need Linux")

// Current is not supported off Linux.
func Current() (Handle, error) { return vnetns.None(), ErrUnsupported }

// Do is not supported off Linux.
func Do(Handle, func() error) error { return ErrUnsupported }

// Exists reports false off Linux.
func Exists(string) bool { return false }

// List is not supported off Linux.
func List() ([]string, error) { return nil, ErrUnsupported }

// Create is not supported off Linux.
func Create(string) error { return ErrUnsupported }

// Open is not supported off Linux.
func Open(string) (Handle, error) { return vnetns.None(), ErrUnsupported }

// OpenPath is not supported off Linux.
func OpenPath(string) (Handle, error) { return vnetns.None(), ErrUnsupported }

// ExistsPath reports false off Linux.
func ExistsPath(string) bool { return false }

// PidsPath is not supported off Linux.
func PidsPath(string) ([]int, error) { return nil, ErrUnsupported }

// Delete is not supported off Linux.
func Delete(string) error { return ErrUnsupported }

// HandleAt is not supported off Linux.
func HandleAt(Handle) (*netlink.Handle, error) { return nil, ErrUnsupported }

// EtcFiles are the files WriteEtc writes.
var EtcFiles = []string{"hosts", "resolv.conf"}

// WriteEtc is not supported off Linux.
func WriteEtc(string, string, []byte) error { return ErrUnsupported }

// RemoveEtc is not supported off Linux.
func RemoveEtc(string) error { return ErrUnsupported }

// Sysctl is not supported off Linux.
func Sysctl(Handle, string, string) error { return ErrUnsupported }

// Pids is not supported off Linux.
func Pids(string) ([]int, error) { return nil, ErrUnsupported }

// Exec is not supported off Linux.
func Exec(string, []string, []string) error { return ErrUnsupported }

// ExecOptions are ExecWith's options.
type ExecOptions struct {
	Hostname, Dir, User string
	CapDrop             []string
}

// ExecWith is not supported off Linux.
func ExecWith(string, []string, []string, ExecOptions) error { return ErrUnsupported }

// IDOf is not supported off Linux.
func IDOf(int) (uint64, error) { return 0, ErrUnsupported }
