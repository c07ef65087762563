package state

import (
	"crypto/rand"

	"github.com/vswitchd/vswitchd/header"
)

// randomMAC returns a random unicast, locally administered MAC.
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&^1 | 2
	return m
}

// RandomMAC is randomMAC for the daemon's own MACs (the router's on the host
// leg and the uplink), made once and kept in the state.
func RandomMAC() header.MAC { return randomMAC() }
