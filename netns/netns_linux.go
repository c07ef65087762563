package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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

// Delete unmounts and removes the named namespace and EtcDir/NAME, like
// `ip netns delete`. The namespace itself is freed by the kernel once no
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
	if err := os.RemoveAll(filepath.Join(EtcDir, name)); err != nil {
		errs = append(errs, err)
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

// WriteEtc writes EtcDir/ns/file with data (atomically), creating the
// directory. `ip netns exec ns` and vswitchd's own exec show it as
// /etc/file.
func WriteEtc(ns, file string, data []byte) error {
	dir := filepath.Join(EtcDir, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return writeFileAtomic(filepath.Join(dir, file), data, 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
