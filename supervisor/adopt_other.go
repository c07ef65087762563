//go:build !linux

package supervisor

import "errors"

// Adopt needs Linux's pidfds.
func (s *Supervisor) Adopt(endpoint string, pid int, argv []string) (*Process, error) {
	return nil, errors.New("adopting a process needs Linux")
}
