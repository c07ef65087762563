package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// logFile is an endpoint's log: appended to, and rotated to NAME.1 when it
// reaches max bytes, so a chatty command cannot fill the disk. It is
// opened without following symlinks. Each line starts with the time it
// began, in RFC 3339 with nanoseconds, and a space (docker logs -t shows
// it; the default hides it).
type logFile struct {
	path string
	max  int64
	now  func() time.Time

	mu      sync.Mutex // guards f, size and midLine
	f       *os.File
	size    int64
	midLine bool // the last write ended without a newline
}

// stampLen is the length of a line's time stamp (always UTC) and its space.
var stampLen = len(time.Unix(0, 0).UTC().Format(stampFormat)) + 1

func openLog(path string, max int64) (*logFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	// The log directory itself must not be a symlink (MkdirAll follows
	// one): logs are written only where the state directory says.
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open log: %s is not a directory (a symlink is refused)", dir)
	}
	l := &logFile{path: path, max: max, now: time.Now}
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

// Write implements io.Writer: each new line gets its time stamp. What does
// not fit in the file before the cap goes to the next one.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	var buf []byte
	stamp := l.now().UTC().Format(stampFormat)
	for rest := p; len(rest) > 0; {
		if !l.midLine {
			buf = append(append(buf, stamp...), ' ')
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			buf = append(buf, rest...)
			l.midLine = true
			break
		}
		buf = append(buf, rest[:i+1]...)
		rest = rest[i+1:]
		l.midLine = false
	}
	if err := l.write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stampFormat is RFC 3339 with nanoseconds, fixed width so lines align.
const stampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// write appends b, rotating at the cap. Callers hold mu.
func (l *logFile) write(b []byte) error {
	for len(b) > 0 {
		if l.size >= l.max {
			if err := l.rotate(); err != nil {
				return err
			}
		}
		chunk := b[:min(int64(len(b)), l.max-l.size)]
		n, err := l.f.Write(chunk)
		l.size += int64(n)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
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
