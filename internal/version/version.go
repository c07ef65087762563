// Package version holds vswitchd's version and the commit it was built from,
// for the binaries' --version output, the start-up log and the API. String
// is the entry point:
//
//	vswitchd 0.2.0-dev (commit 0123456789ab, go1.26.8)
//
// Commit comes from the build's VCS stamp (runtime/debug.ReadBuildInfo:
// vcs.revision, with "-dirty" when vcs.modified) unless it is set at link
// time, as the Makefile does:
//
//	go build -ldflags "-X github.com/vswitchd/vswitchd/internal/version.Commit=0123456789ab"
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release; a -dev suffix marks a build between releases. It
// can be set at link time with -ldflags -X.
var Version = "0.2.0-dev"

// Commit is the source commit, abbreviated to 12 hex digits, with a
// "-dirty" suffix when the tree had uncommitted changes, or "unknown". It
// can be set at link time with -ldflags -X; otherwise it is read from the
// build information the go command stamps into binaries.
var Commit string

// shortCommit is how many hex digits of the commit are shown.
const shortCommit = 12

func init() {
	if Commit == "" {
		Commit = fromBuildInfo(debug.ReadBuildInfo())
	}
}

// fromBuildInfo returns the commit recorded in bi, or "unknown".
func fromBuildInfo(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > shortCommit {
		rev = rev[:shortCommit]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// String returns the version, commit and Go version on one line, as
// `vswitchd --version` prints them after the program's name:
// "0.2.0-dev (commit 0123456789ab, go1.26.8)".
func String() string {
	return Version + " (commit " + Commit + ", " + runtime.Version() + ")"
}
