// Package netns runs code inside network namespaces and manages the named
// namespaces vswitchd creates for endpoints, the way `ip netns` does, so
// that `ip netns list` and `ip netns exec` work on them from the host.
//
// Do is the entry point for anything that must happen inside a namespace:
// it runs a function on a fresh, locked OS thread switched into the
// namespace, and lets that thread die if it cannot be switched back. Link
// work uses netlink handles bound to a namespace (HandleAt) and needs no
// thread switching at all.
package netns
