// Command vswitchd-cni is vswitchd's CNI plugin (spec 1.1.0): container
// runtimes run it (installed as "vswitchd" in their CNI plugin directory)
// to attach containers to vswitchd networks. See package internal/cni and
// README's "Container runtimes (CNI)".
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vswitchd/vswitchd/internal/cni"
	"github.com/vswitchd/vswitchd/internal/version"
)

func main() {
	p := &cni.Plugin{}
	skel.PluginMainFuncs(p.Funcs(), cni.Versions, "vswitchd CNI plugin "+version.String())
}
