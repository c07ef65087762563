// Package cni is vswitchd's CNI plugin (CNI spec 1.1.0): a thin client of
// the daemon's API that attaches containers a runtime made (cnitool,
// Podman, containerd, CRI-O, a kubelet) to vswitchd networks, so every
// frame of theirs is forwarded by the Go switch. cmd/vswitchd-cni runs it
// with the CNI library's skel; the protocol (environment, stdin, results,
// errors) is the library's, not hand-written.
//
// An attachment is an endpoint the daemon attaches to but does not own:
// a TAP NIC named CNI_IFNAME in the namespace at CNI_NETNS, marked with
// the container's ID. A container attached to several vswitchd networks
// (one network configuration each) is one endpoint with one NIC per
// network. DEL removes the NIC (the endpoint with its last one) and
// never the runtime's namespace.
//
// The entry point is Plugin; its Funcs are skel.CNIFuncs.
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vswitchd/vswitchd/control"
)

// Versions are the CNI spec versions the plugin speaks.
var Versions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

// Config is a network configuration of type vswitchd.
type Config struct {
	types.PluginConf
	// Network is the vswitchd network to attach to (required).
	Network string `json:"network"`
	// Socket is the daemon's API socket; default control.DefaultSocket.
	Socket string `json:"socket,omitempty"`
	// MTU is the container NIC's MTU (0: 1500).
	MTU int `json:"mtu,omitempty"`
	// VLAN, when set, must be the network's VLAN: a check that the
	// configuration and the switch agree.
	VLAN int `json:"vlan,omitempty"`
	// RuntimeConfig holds the capabilities a runtime passes: port
	// mappings, addresses, a MAC, aliases.
	RuntimeConfig RuntimeConfig `json:"runtimeConfig"`
}

// RuntimeConfig is the capabilities the plugin honours.
type RuntimeConfig struct {
	PortMappings []PortMapping `json:"portMappings,omitempty"`
	IPs          []string      `json:"ips,omitempty"`
	MAC          string        `json:"mac,omitempty"`
	Aliases      []string      `json:"aliases,omitempty"`
}

// PortMapping is the portMappings capability's entry (as the portmap
// plugin takes it).
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// args are the CNI_ARGS keys the plugin reads.
type args struct {
	types.CommonArgs
	K8S_POD_NAME      types.UnmarshallableString //nolint:revive // the key's name
	K8S_POD_NAMESPACE types.UnmarshallableString //nolint:revive
}

// API is the part of the daemon's API the plugin uses (*control.Client).
type API interface {
	Version(ctx context.Context) (control.Version, error)
	Network(ctx context.Context, name string) (control.Network, error)
	Endpoints(ctx context.Context) ([]control.Endpoint, error)
	Run(ctx context.Context, r control.Run) (control.Endpoint, error)
	Connect(ctx context.Context, network string, r control.Connect) error
	Disconnect(ctx context.Context, network string, r control.Disconnect) error
	RemoveEndpoint(ctx context.Context, name string, force bool) error
	Endpoint(ctx context.Context, name string) (control.Endpoint, error)
}

// Plugin runs the CNI operations.
type Plugin struct {
	// Dial returns the API client for a socket; default control.NewClient.
	Dial func(socket string) API
	// Exec runs delegated IPAM plugins; nil: the CNI library's default.
	Exec invoke.Exec
	// CheckNIC checks that the NIC the result names is in the namespace
	// with its address (CHECK); default: netlink, in cni_linux.go.
	CheckNIC func(netnsPath, ifname string, mac string, addr netip.Prefix) error
	// Timeout bounds each API call; default 30 s.
	Timeout time.Duration
}

// Funcs returns the plugin's operations for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, GC: p.GC, Status: p.Status}
}

func (p *Plugin) api(c *Config) API {
	if p.Dial != nil {
		return p.Dial(c.Socket)
	}
	return control.NewClient(c.Socket)
}

func (p *Plugin) ctx() (context.Context, context.CancelFunc) {
	t := p.Timeout
	if t == 0 {
		t = 30 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

// parseConfig reads and checks a network configuration.
func parseConfig(stdin []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "decode the network configuration", err.Error())
	}
	if c.Network == "" {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, `network configuration has no "network": name the vswitchd network to attach to`, "")
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("mtu %d out of range 68-65535", c.MTU), "")
	}
	if c.VLAN < 0 || c.VLAN > 4094 {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("vlan %d out of range 1-4094", c.VLAN), "")
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "decode prevResult", err.Error())
		}
	}
	return &c, nil
}

// apiError turns an API failure into a CNI error: the daemon down is "try
// again later"; its refusals keep their message.
func apiError(what string, err error) error {
	var ae *control.APIError
	switch {
	case errors.As(err, &ae) && errors.Is(err, control.ErrNotFound):
		return types.NewError(types.ErrInvalidNetworkConfig, what+": "+ae.Message, "")
	case errors.As(err, &ae):
		return types.NewError(types.ErrInternal, what+": "+ae.Message, "")
	}
	return types.NewError(types.ErrTryAgainLater, what+": vswitchd is not reachable", err.Error())
}

// validName is what an endpoint name may be (netns.ValidateName's rule).
var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,63}$`)

// endpointName is the endpoint (and DNS) name of a container: its pod name
// when the runtime gives one (Podman gives the container's name), else its
// ID, shortened to 12 characters as docker ps shows it when too long.
func endpointName(containerID string, a args) string {
	if n := string(a.K8S_POD_NAME); validName.MatchString(n) && n != "." && n != ".." {
		return n
	}
	if validName.MatchString(containerID) && containerID != "." && containerID != ".." {
		return containerID
	}
	id := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(containerID, "")
	return "c-" + id[:min(len(id), 12)]
}

// attachment finds a container's endpoint, if any.
func attachment(ctx context.Context, api API, containerID string) (*control.Endpoint, error) {
	es, err := api.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.ContainerID == containerID {
			return &e, nil
		}
	}
	return nil, nil
}

func nicOf(e *control.Endpoint, ifname string) *control.NIC {
	for i := range e.NICs {
		if e.NICs[i].Interface == ifname {
			return &e.NICs[i]
		}
	}
	return nil
}

// checkEnv checks the environment every operation on a container needs.
func checkEnv(a *skel.CmdArgs) error {
	var bad []string
	if a.ContainerID == "" {
		bad = append(bad, "CNI_CONTAINERID (empty)")
	}
	if len(a.IfName) == 0 || len(a.IfName) > 15 || strings.ContainsAny(a.IfName, "/ \t\n:") {
		bad = append(bad, fmt.Sprintf("CNI_IFNAME %q (1-15 characters, no '/', ':' or spaces)", a.IfName))
	}
	if len(bad) > 0 {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "invalid "+strings.Join(bad, ", "), "")
	}
	return nil
}

// Add attaches the container (CNI ADD).
func (p *Plugin) Add(a *skel.CmdArgs) error {
	c, err := parseConfig(a.StdinData)
	if err != nil {
		return err
	}
	if err := checkEnv(a); err != nil {
		return err
	}
	if fi, err := os.Stat(a.Netns); a.Netns == "" || err != nil || fi.IsDir() {
		return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("invalid CNI_NETNS %q: not a network namespace file", a.Netns), "")
	}
	var ka args
	if err := types.LoadArgs(a.Args, &ka); err != nil {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "invalid CNI_ARGS", err.Error())
	}
	ctx, cancel := p.ctx()
	defer cancel()
	api := p.api(c)
	n, err := api.Network(ctx, c.Network)
	if err != nil {
		return apiError("network "+c.Network, err)
	}
	if c.VLAN != 0 && c.VLAN != n.VLAN {
		return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("vlan %d in the configuration, but network %s is on vlan %d", c.VLAN, n.Name, n.VLAN), "")
	}
	prefix, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return types.NewError(types.ErrInternal, "network "+n.Name+": bad subnet "+n.Subnet, "")
	}

	// The address: the runtime's (ips capability), the delegated IPAM
	// plugin's, or the daemon's own IPAM for the network.
	var ip netip.Addr
	var ipamResult *types100.Result
	for _, s := range c.RuntimeConfig.IPs {
		if pf, err := netip.ParsePrefix(s); err == nil && pf.Addr().Is4() {
			ip = pf.Addr()
			break
		}
		if ad, err := netip.ParseAddr(s); err == nil && ad.Is4() {
			ip = ad
			break
		}
	}
	if !ip.IsValid() && c.IPAM.Type != "" {
		r, err := invoke.DelegateAdd(ctx, c.IPAM.Type, a.StdinData, p.Exec)
		if err != nil {
			return err
		}
		if ipamResult, err = types100.NewResultFromResult(r); err != nil {
			invoke.DelegateDel(ctx, c.IPAM.Type, a.StdinData, p.Exec)
			return types.NewError(types.ErrDecodingFailure, "ipam result", err.Error())
		}
		for _, ipc := range ipamResult.IPs {
			if v4 := ipc.Address.IP.To4(); v4 != nil {
				ip = netip.AddrFrom4([4]byte(v4))
				break
			}
		}
		if !ip.IsValid() || !prefix.Contains(ip) {
			invoke.DelegateDel(ctx, c.IPAM.Type, a.StdinData, p.Exec)
			return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("ipam %s gave %v, not an address of network %s (%s)", c.IPAM.Type, ip, n.Name, n.Subnet), "")
		}
	}
	undoIPAM := func() {
		if ipamResult != nil {
			invoke.DelegateDel(ctx, c.IPAM.Type, a.StdinData, p.Exec)
		}
	}
	var publish []string
	for _, pm := range c.RuntimeConfig.PortMappings {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		spec := fmt.Sprintf("%d:%d/%s", pm.HostPort, pm.ContainerPort, proto)
		if pm.HostIP != "" && pm.HostIP != "0.0.0.0" {
			spec = pm.HostIP + ":" + spec
		}
		publish = append(publish, spec)
	}
	addr := ""
	if ip.IsValid() {
		addr = ip.String()
	}

	existing, err := attachment(ctx, api, a.ContainerID)
	if err != nil {
		undoIPAM()
		return apiError("list endpoints", err)
	}
	var e control.Endpoint
	if existing != nil {
		// Another network of the same container: one more NIC.
		if existing.Netns != a.Netns {
			undoIPAM()
			return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("container %s is attached in namespace %s, not %s", a.ContainerID, existing.Netns, a.Netns), "")
		}
		if nic := nicOf(existing, a.IfName); nic != nil {
			undoIPAM()
			return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("container %s already has interface %s (on network %s)", a.ContainerID, a.IfName, nic.Network), "")
		}
		err := api.Connect(ctx, n.Name, control.Connect{Endpoint: existing.Name, IP: addr, Aliases: c.RuntimeConfig.Aliases,
			IfName: a.IfName, MAC: c.RuntimeConfig.MAC, MTU: c.MTU})
		if err != nil {
			undoIPAM()
			return apiError("connect "+existing.Name+" to "+n.Name, err)
		}
		if e, err = api.Endpoint(ctx, existing.Name); err != nil {
			return apiError("endpoint "+existing.Name, err)
		}
	} else {
		name := endpointName(a.ContainerID, ka)
		if other, err := api.Endpoint(ctx, name); err == nil && other.ContainerID != a.ContainerID {
			name = endpointName(a.ContainerID, args{}) // the pod name is taken
		}
		e, err = api.Run(ctx, control.Run{Name: name, Network: n.Name, IP: addr, Aliases: c.RuntimeConfig.Aliases,
			Publish: publish, NetnsPath: a.Netns, IfName: a.IfName, MAC: c.RuntimeConfig.MAC, MTU: c.MTU, ContainerID: a.ContainerID})
		if err != nil {
			undoIPAM()
			return apiError("attach "+name+" to "+n.Name, err)
		}
	}
	res, err := result(e, a, n)
	if err != nil {
		return err
	}
	if ipamResult != nil {
		res.Routes = append(res.Routes, ipamResult.Routes...)
	}
	return types.PrintResult(res, c.CNIVersion)
}

// result is the CNI result of e's NIC a.IfName on network n.
func result(e control.Endpoint, a *skel.CmdArgs, n control.Network) (*types100.Result, error) {
	nic := nicOf(&e, a.IfName)
	if nic == nil {
		return nil, types.NewError(types.ErrInternal, fmt.Sprintf("endpoint %s has no interface %s after the attachment", e.Name, a.IfName), "")
	}
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{{Name: nic.Interface, Mac: nic.MAC, Sandbox: a.Netns, Mtu: nic.MTU}}}
	gw := net.ParseIP(nic.Gateway)
	if nic.IP != "" {
		res.IPs = []*types100.IPConfig{{Interface: types100.Int(0),
			Address: net.IPNet{IP: net.ParseIP(nic.IP).To4(), Mask: net.CIDRMask(nic.PrefixLen, 32)}, Gateway: gw}}
		if len(e.NICs) > 0 && e.NICs[0].Interface == nic.Interface && gw != nil {
			res.Routes = []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw}}
		}
	}
	if gw != nil {
		res.DNS = types.DNS{Nameservers: []string{nic.Gateway}, Search: []string{n.Name}, Options: []string{"ndots:0"}}
	}
	return res, nil
}

// Del detaches the container from the network (CNI DEL): its NIC there,
// and the endpoint with its last NIC. Unknown containers and missing
// namespaces are success; the runtime's namespace is never deleted.
func (p *Plugin) Del(a *skel.CmdArgs) error {
	c, err := parseConfig(a.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.ctx()
	defer cancel()
	api := p.api(c)
	if c.IPAM.Type != "" {
		defer invoke.DelegateDel(ctx, c.IPAM.Type, a.StdinData, p.Exec)
	}
	e, err := attachment(ctx, api, a.ContainerID)
	if err != nil {
		return apiError("list endpoints", err)
	}
	if e == nil {
		return nil
	}
	return detach(ctx, api, e, a.IfName, c.Network)
}

// detach removes e's NIC ifname (on network), or e with its last NIC.
func detach(ctx context.Context, api API, e *control.Endpoint, ifname, network string) error {
	nic := nicOf(e, ifname)
	if nic == nil {
		return nil
	}
	if len(e.NICs) == 1 {
		if err := api.RemoveEndpoint(ctx, e.Name, true); err != nil && !errors.Is(err, control.ErrNotFound) {
			return apiError("remove "+e.Name, err)
		}
		return nil
	}
	if err := api.Disconnect(ctx, nic.Network, control.Disconnect{Endpoint: e.Name}); err != nil && !errors.Is(err, control.ErrNotFound) {
		return apiError("disconnect "+e.Name+" from "+nic.Network, err)
	}
	return nil
}

// Check verifies the attachment (CNI CHECK): the daemon's record, the NIC
// in the namespace with the address of the previous result, and the
// delegated IPAM plugin's own check.
func (p *Plugin) Check(a *skel.CmdArgs) error {
	c, err := parseConfig(a.StdinData)
	if err != nil {
		return err
	}
	if err := checkEnv(a); err != nil {
		return err
	}
	ctx, cancel := p.ctx()
	defer cancel()
	api := p.api(c)
	e, err := attachment(ctx, api, a.ContainerID)
	if err != nil {
		return apiError("list endpoints", err)
	}
	if e == nil {
		return types.NewError(types.ErrUnknownContainer, "container "+a.ContainerID+" is not attached to vswitchd", "")
	}
	nic := nicOf(e, a.IfName)
	if nic == nil || nic.Network != c.Network {
		return types.NewError(types.ErrInternal, fmt.Sprintf("container %s has no interface %s on network %s in vswitchd", a.ContainerID, a.IfName, c.Network), "")
	}
	if e.Netns != a.Netns {
		return types.NewError(types.ErrInternal, fmt.Sprintf("vswitchd attached container %s in %s, not %s", a.ContainerID, e.Netns, a.Netns), "")
	}
	var want netip.Prefix
	if nic.IP != "" {
		want = netip.PrefixFrom(netip.MustParseAddr(nic.IP), nic.PrefixLen)
	}
	if c.PrevResult != nil {
		prev, err := types100.NewResultFromResult(c.PrevResult)
		if err != nil {
			return types.NewError(types.ErrDecodingFailure, "prevResult", err.Error())
		}
		for _, ipc := range prev.IPs {
			if pa, ok := netip.AddrFromSlice(ipc.Address.IP.To4()); ok && pa != want.Addr() {
				return types.NewError(types.ErrInternal, fmt.Sprintf("interface %s has %s in vswitchd, %s in the previous result", a.IfName, want.Addr(), pa), "")
			}
		}
	}
	check := p.CheckNIC
	if check == nil {
		check = checkNIC
	}
	if err := check(a.Netns, a.IfName, nic.MAC, want); err != nil {
		return types.NewError(types.ErrInternal, err.Error(), "")
	}
	if c.IPAM.Type != "" {
		return invoke.DelegateCheck(ctx, c.IPAM.Type, a.StdinData, p.Exec)
	}
	return nil
}

// GC removes the attachments to this network whose (container ID,
// ifname) is not in the runtime's list of valid ones (CNI GC).
func (p *Plugin) GC(a *skel.CmdArgs) error {
	c, err := parseConfig(a.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.ctx()
	defer cancel()
	api := p.api(c)
	es, err := api.Endpoints(ctx)
	if err != nil {
		return apiError("list endpoints", err)
	}
	var errs []error
	for _, e := range es {
		if e.ContainerID == "" {
			continue
		}
		for _, nic := range e.NICs {
			if nic.Network != c.Network || slices.Contains(c.ValidAttachments, types.GCAttachment{ContainerID: e.ContainerID, IfName: nic.Interface}) {
				continue
			}
			cur, err := api.Endpoint(ctx, e.Name)
			if err != nil {
				continue // gone meanwhile
			}
			if err := detach(ctx, api, &cur, nic.Interface, c.Network); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.IPAM.Type != "" {
		if err := invoke.DelegateGC(ctx, c.IPAM.Type, a.StdinData, p.Exec); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return types.NewError(types.ErrInternal, "gc: "+errors.Join(errs...).Error(), "")
	}
	return nil
}

// Status reports whether the daemon answers and knows the network (CNI
// STATUS), and asks the delegated IPAM plugin too.
func (p *Plugin) Status(a *skel.CmdArgs) error {
	c, err := parseConfig(a.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.ctx()
	defer cancel()
	api := p.api(c)
	if _, err := api.Version(ctx); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "vswitchd is not reachable at "+socketOf(c), err.Error())
	}
	if _, err := api.Network(ctx, c.Network); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "vswitchd has no network "+strconv.Quote(c.Network), err.Error())
	}
	if c.IPAM.Type != "" {
		return invoke.DelegateStatus(ctx, c.IPAM.Type, a.StdinData, p.Exec)
	}
	return nil
}

func socketOf(c *Config) string {
	if c.Socket != "" {
		return c.Socket
	}
	if s := os.Getenv(control.SocketEnv); s != "" {
		return s
	}
	return control.DefaultSocket
}
