// Package statedir keeps one vswitchd at a time on a state directory.
// Acquire is the entry point: the daemon takes an exclusive flock(2) on
// DIR/lock before it touches anything and holds it for its whole life, so
// a second daemon, or `vswitchd cleanup`, on the same directory is refused
// at once with the holder's PID (an *InUseError). The kernel drops the
// lock when the last descriptor of it closes, so a daemon killed with
// SIGKILL leaves no stale lock behind.
//
// The lock travels to a child process as an inherited descriptor (Inherit):
// `vswitchd --lab` takes it before making the lab namespace and hands it to
// the daemon it starts inside, so the two hold one lock.
//
// The directory also records the lab namespace of a `--lab` daemon
// (WriteLab, ReadLab, RemoveLab), for `vswitchd cleanup` after a crash.
package statedir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file in a state directory. It holds the
// PID of the vswitchd that locked it, for error messages.
const LockFile = "lock"

// LabFile records the lab namespace of a `vswitchd --lab` daemon.
const LabFile = "lab"

// InUseError is returned when another process holds a state directory's
// lock.
type InUseError struct {
	Dir string
	PID int // the holder, as it recorded itself; 0 if unknown
}

func (e *InUseError) Error() string {
	if e.PID <= 0 {
		return fmt.Sprintf("state directory %s is in use by another vswitchd", e.Dir)
	}
	return fmt.Sprintf("state directory %s is in use by vswitchd pid %d", e.Dir, e.PID)
}

// A Lock is a held state-directory lock. Release (or the process's exit)
// drops it.
type Lock struct {
	dir string
	f   *os.File // DIR/lock, flock(LOCK_EX) held on its open file description
}

// Acquire creates dir (mode 0700) if needed and takes its lock without
// waiting, recording the caller's PID in it. If another process holds it,
// the error is an *InUseError.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	if err := CheckOwner(dir); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, LockFile)
	// O_NOFOLLOW: never lock, or truncate, what a symlink points at.
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, PID: readPID(p)}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	l := &Lock{dir: dir, f: f}
	if err := l.writePID(os.Getpid()); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// ErrInsecure is wrapped when a state directory could be written by
// someone other than the daemon's user.
var ErrInsecure = errors.New("insecure state directory")

// CheckOwner refuses a state directory that another user could change
// under the daemon: it must be a directory owned by the calling user
// (root, for the daemon) and writable by no group and no other user. A
// symlink to such a directory is accepted (the operator chose it).
func CheckOwner(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%w %s: not a directory", ErrInsecure, dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%w %s: owned by uid %d, not %d (chown it, or use another --state-dir)", ErrInsecure, dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w %s: mode %04o is group or world writable (chmod 0700 it)", ErrInsecure, dir, st.Mode&0o7777)
	}
	return nil
}

// Check reports whether dir's lock is held, without keeping it: nil if it
// is free or dir has none, an *InUseError if a process holds it. It probes
// with a shared lock for an instant, so call it only before starting a
// daemon that takes the lock itself.
func Check(dir string) error {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open lock: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return &InUseError{Dir: dir, PID: readPID(p)}
		}
		return fmt.Errorf("lock %s: %w", p, err)
	}
	return nil
}

// Inherit adopts the lock of dir that a parent process holds and passed
// down as descriptor fd. The descriptor is made close-on-exec, so the
// processes this one starts do not keep the lock alive after it exits.
func Inherit(dir string, fd uintptr) (*Lock, error) {
	p := filepath.Join(dir, LockFile)
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return nil, fmt.Errorf("inherited lock descriptor %d: %w", fd, err)
	}
	var want unix.Stat_t
	if err := unix.Lstat(p, &want); err != nil {
		return nil, fmt.Errorf("inherited lock: %w", err)
	}
	if st.Dev != want.Dev || st.Ino != want.Ino {
		return nil, fmt.Errorf("inherited lock descriptor %d is not %s", fd, p)
	}
	unix.CloseOnExec(int(fd))
	f := os.NewFile(fd, p)
	// The parent's open file description already holds the lock, so this
	// succeeds at once; if it does not, the parent did not lock it.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, PID: readPID(p)}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &Lock{dir: dir, f: f}, nil
}

// File returns the locked file, to hand to a child process (as an
// exec.Cmd ExtraFiles entry) that calls Inherit. The Lock keeps owning it.
func (l *Lock) File() *os.File { return l.f }

// Dir returns the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Release drops the lock (if no child shares the descriptor). The lock
// file stays: removing it would race with a daemon opening it.
func (l *Lock) Release() error { return l.f.Close() }

func (l *Lock) writePID(pid int) error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

// readPID returns the PID recorded in the lock file p, or 0.
func readPID(p string) int {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	b := make([]byte, 32)
	n, _ := f.Read(b)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// WriteLab records, in the locked directory, that the daemon runs in the
// lab namespace name.
func (l *Lock) WriteLab(name string) error {
	return writeAtomic(filepath.Join(l.dir, LabFile), []byte(name+"\n"))
}

// RemoveLab removes the lab record, at a clean exit once the namespace is
// gone.
func (l *Lock) RemoveLab() error {
	if err := os.Remove(filepath.Join(l.dir, LabFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove lab record: %w", err)
	}
	return nil
}

// ReadLab returns the lab namespace recorded in the locked directory, or
// "" if there is none.
func (l *Lock) ReadLab() (string, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, LabFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lab record: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// writeAtomic writes path through a temporary file and a rename, so a
// reader sees the old or the new content, never a part.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
