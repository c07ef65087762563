//go:build !linux

package cni

import (
	"errors"
	"net/netip"
)

func checkNIC(string, string, string, netip.Prefix) error {
	return errors.New("checking a NIC needs Linux network namespaces")
}
