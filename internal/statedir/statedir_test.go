package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAcquireExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	// flock(2) locks belong to open file descriptions, so a second open in
	// the same process conflicts as another process would.
	_, err = Acquire(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || inUse.Dir != dir {
		t.Fatalf("second Acquire(%s) = %v, want *InUseError with pid %d", dir, err, os.Getpid())
	}
	want := "state directory " + dir + " is in use by vswitchd pid "
	if got := err.Error(); len(got) <= len(want) || got[:len(want)] != want {
		t.Errorf("error = %q, want it to start %q", got, want)
	}
	if err := Check(dir); !errors.As(err, &inUse) {
		t.Errorf("Check while held = %v, want *InUseError", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir); err != nil {
		t.Errorf("Check after Release = %v, want nil", err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestCheckNoDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if err := Check(dir); err != nil {
		t.Errorf("Check(%s) = %v, want nil", dir, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check created %s", dir)
	}
}

func TestAcquireRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, LockFile)); err != nil {
		t.Fatal(err)
	}
	if l, err := Acquire(dir); err == nil {
		l.Release()
		t.Fatal("Acquire followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("symlink target changed to %q", b)
	}
}

func TestInherit(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	// A dup shares the open file description, as a child's inherited
	// descriptor does.
	fd, err := unix.Dup(int(l.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Inherit(dir, uintptr(fd))
	if err != nil {
		t.Fatalf("Inherit: %v", err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("inherited descriptor flags = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	l2.Release()

	other, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := Inherit(dir, other.Fd()); err == nil {
		t.Error("Inherit accepted a descriptor of another file")
	}
	// A separate open of the lock file does not hold the lock.
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	fd2, _ := unix.Dup(int(f.Fd()))
	f.Close()
	var inUse *InUseError
	if _, err := Inherit(dir, uintptr(fd2)); !errors.As(err, &inUse) {
		t.Errorf("Inherit of an unlocked descriptor = %v, want *InUseError", err)
	}
}

func TestLabRecord(t *testing.T) {
	l, err := Acquire(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if got, err := l.ReadLab(); got != "" || err != nil {
		t.Errorf("ReadLab() before WriteLab = %q, %v; want \"\", nil", got, err)
	}
	if err := l.WriteLab("vswlab"); err != nil {
		t.Fatal(err)
	}
	if got, err := l.ReadLab(); got != "vswlab" || err != nil {
		t.Errorf("ReadLab() = %q, %v; want vswlab", got, err)
	}
	if err := l.RemoveLab(); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.ReadLab(); got != "" {
		t.Errorf("ReadLab() after RemoveLab = %q", got)
	}
	if err := l.RemoveLab(); err != nil {
		t.Errorf("second RemoveLab: %v", err)
	}
}

// TestAcquireRefusesInsecure: a state directory another user could write
// to (group or world writable, or owned by someone else) is refused with
// ErrInsecure, and no lock is made in it.
func TestAcquireRefusesInsecure(t *testing.T) {
	tests := []struct {
		name  string
		mode  os.FileMode
		chown bool // give it to another user (needs root)
	}{
		{"world writable", 0o777, false},
		{"group writable", 0o770, false},
		{"sticky world writable", 0o1777, false},
		{"someone else's", 0o700, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.chown && os.Geteuid() != 0 {
				t.Skip("needs root to chown")
			}
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.chown {
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Acquire(dir)
			if !errors.Is(err, ErrInsecure) {
				if l != nil {
					l.Release()
				}
				t.Fatalf("Acquire(%s mode %v) = %v, want ErrInsecure", dir, tt.mode, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, LockFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Acquire made %s in a directory it refused", LockFile)
			}
		})
	}
	// A 0700 directory of one's own is fine.
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire(0700 directory) = %v", err)
	}
	l.Release()
}
