package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		ok       bool
		want     string
	}{
		{"no build info", nil, false, "unknown"},
		{"no vcs stamp", []debug.BuildSetting{{Key: "GOOS", Value: "linux"}}, true, "unknown"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}, true, "0123456789ab"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}, true, "0123456789ab-dirty"},
		{"short revision", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc1234"}}, true, "abc1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(&debug.BuildInfo{Settings: tt.settings}, tt.ok); got != tt.want {
				t.Errorf("fromBuildInfo(%v, %v) = %q, want %q", tt.settings, tt.ok, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "1.2.3", "abc1234-dirty"
	want := "1.2.3 (commit abc1234-dirty, " + runtime.Version() + ")"
	if got := String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
