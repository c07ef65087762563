package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Current returns a handle to the calling thread's network namespace. In
// vswitchd every thread outside Do is in the daemon's namespace, so this is
// the daemon's namespace.
func Current() (Handle, error) {
	h, err := vnetns.Get()
	if err != nil {
		return vnetns.None(), fmt.Errorf("open current network namespace: %w", err)
	}
	return h, nil
}

// Do runs f in a new goroutine whose OS thread is switched into ns, waits for
// it and returns its error. If the thread cannot be switched back it stays
// locked, so the runtime discards it rather than reuse a thread in the wrong
// namespace.
func Do(ns Handle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := f()
		if err := vnetns.Set(orig); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("restore network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Exists reports whether a named namespace is mounted at Path(name).
func Exists(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(Path(name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// List returns the names in RunDir.
func List() ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", RunDir, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// Create makes a named network namespace, like `ip netns add NAME`: a new
// namespace bind-mounted at Path(name), with RunDir made a shared mount so
// that the mount is seen by `ip netns exec` sessions. It fails if the name
// is taken. The calling thread's namespace is not changed.
func Create(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := prepareRunDir(); err != nil {
		return err
	}
	p := Path(name)
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace %q: %w", name, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(src, p, "none", unix.MS_BIND, "")
		if err := vnetns.Set(orig); err != nil {
			errc <- errors.Join(merr, fmt.Errorf("restore network namespace: %w", err))
			return // thread stays locked and dies
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return fmt.Errorf("create network namespace %q: %w", name, err)
	}
	return nil
}

// prepareRunDir makes RunDir a shared mount point, as iproute2 does, so bind
// mounts made later propagate into mount namespaces that copied it.
func prepareRunDir() error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", RunDir, err)
	}
	for range 2 {
		err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("make %s shared: %w", RunDir, err)
		}
		// Not a mount point yet: bind it onto itself, then retry.
		if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", RunDir, err)
		}
	}
	return fmt.Errorf("make %s shared: still not a mount point", RunDir)
}

// Open returns a handle to the named namespace.
func Open(name string) (Handle, error) {
	h, err := vnetns.GetFromPath(Path(name))
	if err != nil {
		return vnetns.None(), fmt.Errorf("open network namespace %q: %w", name, err)
	}
	return h, nil
}

// OpenPath returns a handle to the namespace at path (a runtime's
// /var/run/netns/NAME, a /proc/PID/ns/net). It refuses a file that is not
// a network namespace.
func OpenPath(path string) (Handle, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return vnetns.None(), fmt.Errorf("open network namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		return vnetns.None(), fmt.Errorf("open network namespace %s: not a namespace file", path)
	}
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		return vnetns.None(), fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return h, nil
}

// ExistsPath reports whether path is a network namespace.
func ExistsPath(path string) bool {
	h, err := OpenPath(path)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// Delete unmounts and removes the named namespace, like `ip netns delete`
// (EtcDir/NAME is RemoveEtc's). The namespace itself is freed by the kernel once no
// process and no open handle refers to it. A missing namespace is not an
// error.
func Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	p := Path(name)
	var errs []error
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete network namespace %q: %w", name, errors.Join(errs...))
	}
	return nil
}

// HandleAt returns a netlink handle whose requests act in ns. The caller
// closes it with Delete.
func HandleAt(ns Handle) (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in namespace: %w", err)
	}
	return h, nil
}

// EtcFiles are the only files WriteEtc writes and RemoveEtc removes in
// EtcDir/NAME: anything else there is someone else's.
var EtcFiles = []string{"hosts", "resolv.conf"}

// WriteEtc writes EtcDir/ns/file with data (atomically), creating the
// directory. `ip netns exec ns` and vswitchd's own exec show it as
// /etc/file. file must be one of EtcFiles. Nothing is written through a
// symlink: EtcDir/ns must be a real directory, the new content goes to a
// temporary file created with O_EXCL|O_NOFOLLOW inside it, and a rename
// replaces the file (or a link planted in its place) without following it.
func WriteEtc(ns, file string, data []byte) error {
	if err := ValidateName(ns); err != nil {
		return err
	}
	if !slices.Contains(EtcFiles, file) {
		return fmt.Errorf("write %s/%s/%s: not a file vswitchd writes", EtcDir, ns, file)
	}
	path := filepath.Join(EtcDir, ns, file)
	dir, err := openEtcDir(ns, true)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer unix.Close(dir)
	tmp := file + ".tmp"
	// A temporary file a crash left is ours to replace, if it is a
	// plain file: never follow or remove anything else.
	var st unix.Stat_t
	if unix.Fstatat(dir, tmp, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		unix.Unlinkat(dir, tmp, 0)
	}
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, &fs.PathError{Op: "create", Path: filepath.Join(EtcDir, ns, tmp), Err: err})
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(0o644), f.Close()); err != nil {
		unix.Unlinkat(dir, tmp, 0)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := unix.Renameat(dir, tmp, dir, file); err != nil {
		unix.Unlinkat(dir, tmp, 0)
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	return nil
}

// RemoveEtc removes the files WriteEtc writes (EtcFiles) from EtcDir/ns,
// and the directory if nothing else is left in it. It follows no symlink,
// and a missing directory is not an error.
func RemoveEtc(ns string) error {
	if err := ValidateName(ns); err != nil {
		return err
	}
	path := filepath.Join(EtcDir, ns)
	dir, err := openEtcDir(ns, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	var errs []error
	for _, f := range EtcFiles {
		for _, name := range []string{f, f + ".tmp"} {
			if err := unix.Unlinkat(dir, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove %s/%s: %w", path, name, err))
			}
		}
	}
	unix.Close(dir)
	// Only an empty directory goes: files someone else put there stay.
	if err := unix.Rmdir(path); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTEMPTY) {
		errs = append(errs, fmt.Errorf("remove %s: %w", path, err))
	}
	return errors.Join(errs...)
}

// openEtcDir opens EtcDir/ns as a directory without following a symlink
// at either level, creating both (0755) first if create is set.
func openEtcDir(ns string, create bool) (int, error) {
	if create {
		if err := os.Mkdir(EtcDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return -1, err
		}
	}
	etc, err := unix.Open(EtcDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: EtcDir, Err: err}
	}
	defer unix.Close(etc)
	if create {
		if err := unix.Mkdirat(etc, ns, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, &fs.PathError{Op: "mkdir", Path: filepath.Join(EtcDir, ns), Err: err}
		}
	}
	fd, err := unix.Openat(etc, ns, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			err = fmt.Errorf("not a directory (a symlink or a file is refused): %w", err)
		}
		return -1, &fs.PathError{Op: "open", Path: filepath.Join(EtcDir, ns), Err: err}
	}
	return fd, nil
}

// Sysctl writes value to /proc/sys/KEY (KEY in dotted or slashed form) inside
// ns. /proc/sys/net is resolved against the namespace of the opening thread,
// which Do provides.
func Sysctl(ns Handle, key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return Do(ns, func() error {
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}

// Pids returns the processes whose network namespace is the named one,
// like `ip netns pids NAME`.
func Pids(name string) ([]int, error) { return PidsPath(Path(name)) }

// PidsPath returns the processes whose network namespace is the one at
// path.
func PidsPath(path string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return nil, fmt.Errorf("pids of %s: %w", path, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid := 0
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid <= 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// IDOf returns the ID (nsfs inode number) of the network namespace of
// process pid, which host.Linux.NamespaceID returns for the same
// namespace.
func IDOf(pid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return 0, fmt.Errorf("network namespace of process %d: %w", pid, err)
	}
	return st.Ino, nil
}
