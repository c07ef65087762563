package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/internal/statedir"
)

// vswitchd --takeover: a new vswitchd (an upgrade, a restart) takes over a
// running one without closing what carries traffic. The running daemon
// listens on STATE-DIR/takeover.sock (0600, root only). The new one
// connects and asks; the old one writes its connection table and sends the
// descriptors of its TAPs (host leg and endpoint NICs) and of its published
// ports' listening sockets over the socket (SCM_RIGHTS, in messages of at
// most takeoverChunk), then stops as with --keep. The new one takes the
// state directory's lock as soon as the old one has let go, and starts
// with those descriptors instead of opening the devices and binding the
// ports again: the host leg never disappears, published ports never
// refuse a connection, and the gap in forwarding is the handover.

const (
	takeoverSocket = "takeover.sock"
	takeoverHello  = "takeover\n"
	// takeoverChunk is how many descriptors one message carries (the
	// kernel's SCM_MAX_FD is 253).
	takeoverChunk = 200
	// takeoverLockWait bounds how long the new daemon waits for the old
	// one to exit.
	takeoverLockWait = 30 * time.Second
)

// takeoverMsg is the data part of each message; its descriptors are the
// message's SCM_RIGHTS, in the order of Keys.
type takeoverMsg struct {
	Keys []string `json:"keys"`
	More bool     `json:"more"`
	Err  string   `json:"error,omitempty"`
}

// listenTakeover serves takeover requests for d until the returned
// listener is closed; after a handover it calls stop.
func listenTakeover(dir string, d *daemon.Daemon, stop func(pid int)) (net.Listener, error) {
	path := filepath.Join(dir, takeoverSocket)
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path) // a crashed daemon's; we hold the lock
	}
	old := syscall.Umask(0o077)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("takeover socket: %w", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if pid, ok := handover(c.(*net.UnixConn), d); ok {
				l.Close()
				stop(pid)
				return
			}
		}
	}()
	return l, nil
}

// handover answers one request: it reports whether the descriptors went.
func handover(c *net.UnixConn, d *daemon.Daemon) (int, bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != takeoverHello {
		return 0, false
	}
	pid := 0
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
				pid = int(cred.Pid)
			}
		})
	}
	keys, fds, err := d.Handover()
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	if err != nil {
		b, _ := json.Marshal(takeoverMsg{Err: err.Error()})
		c.Write(b)
		return 0, false
	}
	for i := 0; i == 0 || i < len(fds); i += takeoverChunk {
		j := min(i+takeoverChunk, len(fds))
		b, _ := json.Marshal(takeoverMsg{Keys: keys[i:j], More: j < len(fds)})
		var oob []byte
		if j > i {
			oob = syscall.UnixRights(fds[i:j]...)
		}
		if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
			return 0, false
		}
	}
	// Wait for the new daemon to say it has them (it closes its end).
	c.Read(make([]byte, 1))
	return pid, true
}

// requestTakeover asks the daemon of dir for its descriptors.
func requestTakeover(dir string) (*host.Inherited, error) {
	path := filepath.Join(dir, takeoverSocket)
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("--takeover: no vswitchd to take over at %s: %w", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(takeoverHello)); err != nil {
		return nil, fmt.Errorf("--takeover: %w", err)
	}
	var keys []string
	var fds []int
	buf, oob := make([]byte, 1<<20), make([]byte, syscall.CmsgSpace(4*253))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			return nil, closeAll(fds, fmt.Errorf("--takeover: %w", err))
		}
		got, err := rightsOf(oob[:oobn])
		fds = append(fds, got...)
		if err != nil {
			return nil, closeAll(fds, fmt.Errorf("--takeover: %w", err))
		}
		var m takeoverMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return nil, closeAll(fds, fmt.Errorf("--takeover: bad message: %w", err))
		}
		if m.Err != "" {
			return nil, closeAll(fds, fmt.Errorf("--takeover: the running vswitchd refused: %s", m.Err))
		}
		if len(m.Keys) != len(got) {
			return nil, closeAll(fds, fmt.Errorf("--takeover: %d names for %d descriptors", len(m.Keys), len(got)))
		}
		keys = append(keys, m.Keys...)
		if !m.More {
			return host.NewInherited(keys, fds), nil
		}
	}
}

func rightsOf(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		f, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		for _, fd := range f {
			syscall.CloseOnExec(fd)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

func closeAll(fds []int, err error) error {
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return err
}

// takeoverLock waits for the daemon being taken over to exit and takes
// the lock it held.
func takeoverLock(dir string) (*statedir.Lock, error) {
	deadline := time.Now().Add(takeoverLockWait)
	for {
		lock, err := daemonLock(dir)
		var inUse *statedir.InUseError
		if err == nil || !errors.As(err, &inUse) || time.Now().After(deadline) {
			return lock, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}
