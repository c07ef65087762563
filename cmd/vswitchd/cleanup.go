package main

import (
	"flag"
	"os"

	"github.com/vswitchd/vswitchd/daemon"
)

// cleanup implements `vswitchd cleanup`.
func cleanup(args []string) error {
	fs := flag.NewFlagSet("vswitchd cleanup", flag.ContinueOnError)
	dir := fs.String("state-dir", daemon.DefaultStateDir, "state directory of the vswitchd to clean up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return daemon.Cleanup(*dir, os.Stdout)
}
