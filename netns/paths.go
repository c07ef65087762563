package netns

import (
	"path/filepath"

	vnetns "github.com/vishvananda/netns"
)

// RunDir is where named namespaces are bind-mounted, as iproute2 does.
const RunDir = "/run/netns"

// EtcDir is where per-namespace configuration files live; `ip netns exec`
// bind-mounts EtcDir/NAME/* over /etc/*.
const EtcDir = "/etc/netns"

// Handle is an open network namespace file descriptor.
type Handle = vnetns.NsHandle

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(RunDir, name) }
