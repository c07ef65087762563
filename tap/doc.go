// Package tap implements port.Port over Linux TAP devices: the NIC of an
// endpoint (a TAP moved into the endpoint's namespace) and the internal port
// (a TAP left in the daemon's namespace, the host's leg).
//
// Devices are opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and
// TUNSETOFFLOAD(CSUM|TSO4|TSO6[|USO4|USO6]), so the kernel hands vswitchd
// TCP and UDP super-frames of up to 64 KiB with checksums left to fill, and
// a super-frame read from one TAP is written to another unchanged, virtio
// header and all (README: How a frame travels, Performance).
//
// The entry points are Create, for a new device, and Open, to re-adopt a
// persistent device after a restart.
package tap
