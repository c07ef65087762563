package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The connection table outlives the process: it is written to the state
// directory periodically (Config.ConntrackSaveInterval) and at a stop that
// keeps the endpoints, and read back at start, so masqueraded and
// published connections keep their translations across a restart, and a
// kill -9 loses at most the last interval's new connections.

// ConntrackFile is the saved connection table in the state directory.
const ConntrackFile = "conntrack.bin"

// DefaultConntrackSaveInterval is how often the table is written.
const DefaultConntrackSaveInterval = 5 * time.Second

// restoreConntrack loads the saved table, if there is one, into the
// router's. A file that does not load is logged and set aside; the daemon
// starts without it.
func (d *Daemon) restoreConntrack() {
	path := filepath.Join(d.cfg.StateDir, ConntrackFile)
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.log.Warn("conntrack not restored", "file", path, "err", err)
		return
	}
	defer f.Close()
	start := time.Now()
	n, err := d.rt.NAT().Restore(f, d.dp.Now(), time.Now())
	if err != nil {
		d.log.Warn("conntrack restored in part", "file", path, "connections", n, "err", err)
		return
	}
	d.log.Info("conntrack restored", "connections", n, "took", time.Since(start).Round(time.Microsecond).String())
}

// saveConntrack writes the table to the state directory atomically: a new
// temporary file of a random name (created exclusively), fsync, rename.
func (d *Daemon) saveConntrack() error {
	dir := d.cfg.StateDir
	f, err := os.CreateTemp(dir, ConntrackFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("save conntrack: %w", err)
	}
	tmp := f.Name()
	_, werr := d.rt.NAT().Save(f, d.dp.Now(), time.Now())
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save conntrack: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ConntrackFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save conntrack: %w", err)
	}
	return nil
}

// saveConntrackEvery writes the table every interval until the daemon
// closes. It runs in its own goroutine, owned by d.wg.
func (d *Daemon) saveConntrackEvery(interval time.Duration) {
	defer d.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-d.closing:
			return
		case <-tick.C:
		}
		if err := d.saveConntrack(); err != nil {
			if !failing {
				d.log.Warn("conntrack not saved", "err", err)
			}
			failing = true
			continue
		}
		failing = false
	}
}

// removeConntrack deletes the saved table (a stop that removes
// everything).
func (d *Daemon) removeConntrack() {
	os.Remove(filepath.Join(d.cfg.StateDir, ConntrackFile))
}
