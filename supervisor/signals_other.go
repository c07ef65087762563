//go:build !linux

package supervisor

// DefaultSignals does nothing where the supervisor does not run commands.
func DefaultSignals() {}
