package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxFileSize bounds what Load reads: a state with thousands of endpoints
// is well under it.
const maxFileSize = 64 << 20

// Load reads and validates the state in dir. A missing file is an empty
// state with namespace prefix prefix. A file that does not parse, has
// another version, or describes an impossible state is an error naming
// the file and what is wrong; Load never panics on its content. The file
// is opened without following a symlink.
func Load(dir, prefix string) (*State, error) {
	path := filepath.Join(dir, File)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return New(prefix), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("read state %s: larger than %d bytes", path, maxFileSize)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes and validates a state file's content.
func Parse(b []byte) (*State, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if probe.Version != Version {
		return nil, fmt.Errorf("version %d, this vswitchd reads %d", probe.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Save writes s to dir atomically: a new temporary file (O_EXCL, so a
// planted file or symlink is refused), fsync, rename, and fsync of the
// directory, so a crash leaves the old or the new state. dir is made 0700
// if it does not exist.
func (s *State) Save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := filepath.Join(dir, File+".tmp")
	// A temporary file left by a crash is ours to replace, but only if
	// it is a plain file: never follow or remove anything else.
	if fi, err := os.Lstat(tmp); err == nil && fi.Mode().IsRegular() {
		os.Remove(tmp)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, File)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Remove deletes the state file in dir (a missing one is fine).
func Remove(dir string) error {
	if err := os.Remove(filepath.Join(dir, File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}
