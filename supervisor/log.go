package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// logFile is an endpoint's log: appended to, and rotated to NAME.1 when it
// reaches max bytes, so a chatty command cannot fill the disk. It is
// opened without following symlinks.
type logFile struct {
	path string
	max  int64

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

func openLog(path string, max int64) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &logFile{path: path, max: max}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("open log %s: not a regular file", l.path)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write implements io.Writer. A write that does not fit is split: what
// fits goes to the current file, which is then rotated.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	written := 0
	for len(p) > 0 {
		if l.f == nil {
			return written, os.ErrClosed
		}
		if l.size >= l.max {
			if err := l.rotate(); err != nil {
				return written, err
			}
		}
		chunk := p[:min(int64(len(p)), l.max-l.size)]
		n, err := l.f.Write(chunk)
		l.size += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// rotate moves the log to NAME.1 (replacing an older one, if it is a plain
// file) and starts a new one. Callers hold mu.
func (l *logFile) rotate() error {
	l.f.Close()
	l.f = nil
	old := l.path + ".1"
	if fi, err := os.Lstat(old); err != nil || fi.Mode().IsRegular() {
		os.Rename(l.path, old)
	}
	if err := l.open(); err != nil {
		return err
	}
	if l.size >= l.max {
		// Not moved (something that is not a plain file sits at
		// NAME.1): start the log over rather than grow it.
		if err := l.f.Truncate(0); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
		l.size = 0
	}
	return nil
}

// Close implements io.Closer.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
