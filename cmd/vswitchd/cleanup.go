package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/internal/statedir"
	"github.com/vswitchd/vswitchd/netns"
)

// cleanup implements `vswitchd cleanup`: after a vswitchd died without
// cleaning up (kill -9, a crash), it removes the endpoints recorded in the
// state directory (daemon.Cleanup) and the lab namespace a --lab daemon
// ran in, killing what still runs there. It holds the state directory's
// lock while it works, and so refuses to run while a vswitchd uses the
// directory.
func cleanup(args []string) error {
	fs := flag.NewFlagSet("vswitchd cleanup", flag.ContinueOnError)
	dir := fs.String("state-dir", daemon.DefaultStateDir, "state directory of the vswitchd to clean up after")
	if err := parseSub(fs, "vswitchd cleanup [--state-dir DIR]", args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	if _, err := os.Stat(*dir); errors.Is(err, os.ErrNotExist) {
		return nil // nothing ever ran there
	}
	lock, err := statedir.Acquire(*dir)
	var inUse *statedir.InUseError
	if errors.As(err, &inUse) {
		return fmt.Errorf("%w: stop it first (cleanup is for after a crash)", err)
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	errs := []error{daemon.Cleanup(*dir, os.Stdout)}
	lab, err := lock.ReadLab()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if lab != "" {
		errs = append(errs, removeLab(lock, lab))
	}
	return errors.Join(errs...)
}

// removeLab kills what runs in the recorded lab namespace, deletes it and
// the record.
func removeLab(lock *statedir.Lock, lab string) error {
	if err := netns.ValidateName(lab); err != nil {
		return fmt.Errorf("lab record in %s: %w", lock.Dir(), err)
	}
	if netns.Exists(lab) {
		for _, pid := range killAll(lab) {
			fmt.Printf("killed process %d in %s\n", pid, lab)
		}
		if err := netns.Delete(lab); err != nil {
			return err
		}
		fmt.Printf("removed lab namespace %s\n", lab)
	}
	return lock.RemoveLab()
}
