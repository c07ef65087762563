// Package test holds vswitchd's end-to-end tests: TestPrivileged* tests
// that run the real daemon in private network namespaces and check it with
// real tools (ping, nc, iperf3, dig, tcpdump, Open vSwitch), the
// repository-wide checks (package documentation, import rules), and the
// benchmarks that compare vswitchd with the Linux bridge and iptables.
//
// The entry point for a reader is foundation_test.go; the harness is in
// harness_test.go and netutil_test.go, Open vSwitch in ovs_test.go.
package test
