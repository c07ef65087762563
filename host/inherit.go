package host

import (
	"strconv"
	"sync"
	"syscall"
)

// Inherited holds the descriptors a previous vswitchd handed over
// (vswitchd --takeover): its TAPs (the host leg's and endpoints' NICs) and
// its published ports' listening sockets, each under a key (HostLegKey,
// NICKey, or the proxy's). Each is taken once, by the code that would
// otherwise open it; Close closes those nobody took. Safe for concurrent
// use; a nil *Inherited holds nothing.
type Inherited struct {
	mu  sync.Mutex // guards fds
	fds map[string]int
}

// NewInherited returns the descriptors fds under keys (same length); it
// owns them.
func NewInherited(keys []string, fds []int) *Inherited {
	in := &Inherited{fds: make(map[string]int, len(keys))}
	for i, k := range keys {
		in.fds[k] = fds[i]
	}
	return in
}

// Take returns the descriptor under key and gives it to the caller.
func (in *Inherited) Take(key string) (int, bool) {
	if in == nil {
		return -1, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	fd, ok := in.fds[key]
	delete(in.fds, key)
	return fd, ok
}

// TakeQueues returns the descriptors of a multi-queue device under key:
// queue 0's under key, queue i's under QueueKey(key, i), as many as there
// are in a row.
func (in *Inherited) TakeQueues(key string) ([]int, bool) {
	fd, ok := in.Take(key)
	if !ok {
		return nil, false
	}
	fds := []int{fd}
	for i := 1; ; i++ {
		fd, ok := in.Take(QueueKey(key, i))
		if !ok {
			return fds, true
		}
		fds = append(fds, fd)
	}
}

// Len returns how many descriptors are still untaken.
func (in *Inherited) Len() int {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.fds)
}

// Close closes the descriptors nobody took.
func (in *Inherited) Close() {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for k, fd := range in.fds {
		syscall.Close(fd)
		delete(in.fds, k)
	}
}

// HostLegKey is the key of the host leg's TAP named name.
func HostLegKey(name string) string { return "hostleg/" + name }

// NICKey is the key of an endpoint's NIC ifname in namespace ns.
func NICKey(ns NS, ifname string) string { return "nic/" + ns.Name + "/" + ns.Path + "/" + ifname }

// QueueKey is the key of queue q (1…) of the device under key; queue 0's
// is key itself.
func QueueKey(key string, q int) string { return key + "#" + strconv.Itoa(q) }
