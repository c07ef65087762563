//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Adopt records pid, a command that survived a daemon restart (started
// by the previous daemon in its own process group), as endpoint's main
// process. It is not the supervisor's child: it is watched through a
// pidfd, and its exit code is not known. OnExit is called when it exits.
func (s *Supervisor) Adopt(endpoint string, pid int, argv []string) (*Process, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("adopt process %d of %s: %w", pid, endpoint, err)
	}
	p := &Process{Endpoint: endpoint, Argv: argv, pid: pid, done: make(chan struct{}), code: -1, adopted: true}
	s.mu.Lock()
	ep := s.eps[endpoint]
	if ep == nil {
		ep = &endpointProcs{execs: map[*Process]bool{}}
		s.eps[endpoint] = ep
	}
	ep.main = p
	s.mu.Unlock()
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			select {
			case <-s.done:
				return
			default:
			}
			n, err := unix.Poll(fds, 500)
			if n > 0 || err != nil && !errors.Is(err, unix.EINTR) {
				break
			}
		}
		p.end = time.Now()
		close(p.done)
	}()
	s.wg.Add(1)
	go s.watch(p, true)
	return p, nil
}
