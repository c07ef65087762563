package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Exec replaces the calling process with argv running inside the named
// namespace (or, if name is an absolute path, the namespace at that path,
// with no /etc files of its own) the way `ip netns exec NAME` sets it up: it joins the network
// namespace, unshares the mount namespace (propagation from the host kept as
// slave), remounts /sys so it shows the namespace's devices, and bind-mounts
// every file of EtcDir/NAME over the same name in /etc (so resolv.conf and
// hosts are the endpoint's). argv[0] is looked up in PATH after the mounts.
// It returns only on error.
//
// Exec must run in a process that exists for this purpose (vswitchd's
// hidden `nsexec` command): it locks the thread, changes its namespaces and
// calls execve, which keeps the calling thread's namespaces.
func Exec(name string, argv []string, env []string) error {
	return ExecWith(name, argv, env, ExecOptions{})
}

// ExecWith is Exec with options: the host name the command sees (in a new
// UTS namespace of its own), its working directory, and the user it runs
// as (looked up in the endpoint's view of /etc/passwd and /etc/group).
func ExecWith(name string, argv []string, env []string, o ExecOptions) error {
	if len(argv) == 0 {
		return errors.New("nsexec: no command")
	}
	runtime.LockOSThread() // never unlocked: the process image is replaced
	var h Handle
	var err error
	if filepath.IsAbs(name) {
		h, err = OpenPath(name)
	} else {
		h, err = Open(name)
	}
	if err != nil {
		return err
	}
	if err := vnetns.Set(h); err != nil {
		return fmt.Errorf("nsexec: enter network namespace %q: %w", name, err)
	}
	h.Close()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("nsexec: unshare mount namespace: %w", err)
	}
	// Do not let our mounts leak back to the host, but keep seeing the
	// host's (new named namespaces, for instance).
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("nsexec: make / a slave mount: %w", err)
	}
	if err := remountSys(); err != nil {
		return err
	}
	if !filepath.IsAbs(name) {
		if err := bindEtc(name); err != nil {
			return err
		}
	}
	if o.Hostname != "" {
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("nsexec: unshare UTS namespace: %w", err)
		}
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return fmt.Errorf("nsexec: set host name %q: %w", o.Hostname, err)
		}
	}
	// The bounding set first, while CAP_SETPCAP is there; the user next,
	// while CAP_SETUID is; then the dropped capabilities leave this
	// thread's sets (setuid to another user already cleared them).
	if err := dropBounding(o.CapDrop); err != nil {
		return err
	}
	if o.User != "" {
		if err := becomeUser(o.User, &env); err != nil {
			return err
		}
	}
	if err := dropCaps(o.CapDrop); err != nil {
		return err
	}
	dir := o.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("nsexec: working directory: %w", err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("nsexec: %w", err)
	}
	return syscall.Exec(path, argv, env)
}

// ExecOptions are ExecWith's options; the zero value is Exec's behaviour.
type ExecOptions struct {
	Hostname string // a new UTS namespace with this host name; "": the caller's
	Dir      string // working directory; "": /
	User     string // USER[:GROUP], names or numbers; "": root
	// CapDrop are capabilities (Caps names) the command and what it runs
	// never have: gone from the bounding, permitted, effective,
	// inheritable and ambient sets.
	CapDrop []string
}

// dropBounding removes caps from the calling thread's bounding set, which
// execve passes on: no program the command runs (setuid root included)
// gets them back.
func dropBounding(caps []string) error {
	for _, n := range caps {
		c, ok := Caps[n]
		if !ok {
			return fmt.Errorf("nsexec: capability %q: unknown", n)
		}
		// EINVAL: a capability this kernel does not have.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("nsexec: drop %s from the bounding set: %w", n, err)
		}
	}
	return nil
}

// dropCaps removes caps from the calling thread's permitted, effective and
// inheritable sets, and clears its ambient set.
func dropCaps(caps []string) error {
	if len(caps) == 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("nsexec: capget: %w", err)
	}
	for _, n := range caps {
		c := Caps[n]
		bit := uint32(1) << (c % 32)
		d := &data[c/32]
		d.Effective &^= bit
		d.Permitted &^= bit
		d.Inheritable &^= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("nsexec: capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("nsexec: clear ambient capabilities: %w", err)
	}
	return nil
}

// becomeUser drops to spec (USER[:GROUP]): the user's primary group (or
// GROUP) and supplementary groups, then the user; HOME and USER in env
// follow.
func becomeUser(spec string, env *[]string) error {
	u, err := LookupUser(spec)
	if err != nil {
		return fmt.Errorf("nsexec: %w", err)
	}
	if err := syscall.Setgroups(u.Groups); err != nil {
		return fmt.Errorf("nsexec: set groups: %w", err)
	}
	if err := syscall.Setgid(u.GID); err != nil {
		return fmt.Errorf("nsexec: set group %d: %w", u.GID, err)
	}
	if err := syscall.Setuid(u.UID); err != nil {
		return fmt.Errorf("nsexec: set user %d: %w", u.UID, err)
	}
	*env = append(*env, "HOME="+u.Home, "USER="+u.Name)
	return nil
}

// remountSys mounts a fresh sysfs at /sys, as `ip netns exec` does: a
// sysfs instance shows the network devices of the namespace it was mounted
// in.
func remountSys() error {
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("nsexec: unmount /sys: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		// Read-only fallback, as iproute2 does when sysfs is restricted.
		if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("nsexec: mount /sys: %w", err)
		}
	}
	return nil
}

// bindEtc bind-mounts EtcDir/name/* over /etc/*.
func bindEtc(name string) error {
	dir := filepath.Join(EtcDir, name)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nsexec: read %s: %w", dir, err)
	}
	for _, e := range ents {
		src := filepath.Join(dir, e.Name())
		dst := filepath.Join("/etc", e.Name())
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			// iproute2 warns and goes on: the file may not exist in /etc.
			fmt.Fprintf(os.Stderr, "nsexec: bind %s on %s: %v\n", src, dst, err)
		}
	}
	return nil
}
