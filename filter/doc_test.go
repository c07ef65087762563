package filter_test

import (
	"testing"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// TestPackageDoc checks that the package comment exists, names the package
// and its entry point, and that no non-test file imports gopacket.
func TestPackageDoc(t *testing.T) { testutil.PackageDoc(t, "filter") }
