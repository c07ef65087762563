package daemon_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/host/hosttest"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/tap/taptest"
	"github.com/vswitchd/vswitchd/vxlan"
)

// The daemon's overlay networks against fake vxlan ports (Config.OpenVXLAN):
// the ports it opens, the networks, peers and static remote entries it
// gives them, and their closing, always agree with the saved state.

// fakeVTEPs stands in for the UDP sockets of the daemon's namespace: the
// vxlan ports opened and not yet closed, by local endpoint. Opening a
// second port on an endpoint fails as bind would.
type fakeVTEPs struct {
	step func(op string) error // the env's failer

	mu   sync.Mutex // guards open
	open map[vxKey]*fakeVXLAN
}

type vxKey struct {
	local netip.Addr
	port  uint16
}

func newFakeVTEPs(step func(string) error) *fakeVTEPs {
	return &fakeVTEPs{step: step, open: map[vxKey]*fakeVXLAN{}}
}

// Open implements Config.OpenVXLAN.
func (v *fakeVTEPs) Open(o vxlan.Options) (daemon.VXLANPort, error) {
	if err := v.step("OpenVXLAN"); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	k := vxKey{o.Local, o.Port}
	if v.open[k] != nil {
		return nil, fmt.Errorf("listen udp %v:%d: address already in use", k.local, k.port)
	}
	p := &fakeVXLAN{Port: taptest.New(fmt.Sprintf("vx%d", o.Port), hosttest.Depth), reg: v, key: k,
		statics: map[vniMAC]netip.Addr{}}
	v.open[k] = p
	return p, nil
}

// get returns the open port of UDP port udp on any address, or nil.
func (v *fakeVTEPs) get(udp uint16) *fakeVXLAN {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.open[vxKey{port: udp}]
}

// describe lists the open ports, their networks and their static
// entries, one line each, sorted.
func (v *fakeVTEPs) describe() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for k, p := range v.open {
		out = append(out, p.describe(k)...)
	}
	slices.Sort(out)
	return out
}

type vniMAC struct {
	vni uint32
	mac header.MAC
}

// fakeVXLAN is a daemon.VXLANPort in memory: an in-memory port that keeps
// what the daemon configured, and remote MACs and ARP entries a test
// says were learned.
type fakeVXLAN struct {
	*taptest.Port
	reg *fakeVTEPs
	key vxKey

	mu      sync.Mutex // guards the fields below
	nets    []vxlan.Network
	statics map[vniMAC]netip.Addr
	learned []vxlan.NeighEntry // learned MACs, with the address they announced
}

var _ daemon.VXLANPort = (*fakeVXLAN)(nil)

// SetNetworks implements daemon.VXLANPort: a failure changes nothing.
func (p *fakeVXLAN) SetNetworks(nets []vxlan.Network) error {
	if err := p.reg.step("SetNetworks"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nets = nil
	for _, n := range nets {
		p.nets = append(p.nets, vxlan.Network{VNI: n.VNI, VID: n.VID, Peers: slices.Clone(n.Peers)})
	}
	// A deleted peer's MACs are forgotten.
	p.learned = slices.DeleteFunc(p.learned, func(e vxlan.NeighEntry) bool {
		i := slices.IndexFunc(p.nets, func(n vxlan.Network) bool { return n.VNI == e.VNI })
		return i < 0 || !slices.Contains(p.nets[i].Peers, e.VTEP)
	})
	return nil
}

func (p *fakeVXLAN) AddStatic(vni uint32, mac header.MAC, vtep netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statics[vniMAC{vni, mac}] = vtep
	return nil
}

func (p *fakeVXLAN) DeleteRemote(vni uint32, mac header.MAC) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.statics[vniMAC{vni, mac}]
	delete(p.statics, vniMAC{vni, mac})
	return ok
}

func (p *fakeVXLAN) Now() int64 { return 0 }

func (p *fakeVXLAN) vid(vni uint32) uint16 {
	for _, n := range p.nets {
		if n.VNI == vni {
			return n.VID
		}
	}
	return 0
}

func (p *fakeVXLAN) RemoteEntries(int64) []vxlan.RemoteEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []vxlan.RemoteEntry
	for k, vtep := range p.statics {
		out = append(out, vxlan.RemoteEntry{VNI: k.vni, VID: p.vid(k.vni), MAC: k.mac, VTEP: vtep, Static: true})
	}
	for _, e := range p.learned {
		out = append(out, vxlan.RemoteEntry{VNI: e.VNI, VID: p.vid(e.VNI), MAC: e.MAC, VTEP: e.VTEP, Age: e.Age})
	}
	return out
}

func (p *fakeVXLAN) NeighEntries(int64) []vxlan.NeighEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.learned)
}

func (p *fakeVXLAN) LookupARP(vni uint32, ip netip.Addr) (header.MAC, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.learned {
		if e.VNI == vni && e.IP == ip {
			return e.MAC, true
		}
	}
	return header.MAC{}, false
}

func (p *fakeVXLAN) VTEPStats() []vxlan.VTEPStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []vxlan.VTEPStats
	for _, n := range p.nets {
		for _, a := range n.Peers {
			out = append(out, vxlan.VTEPStats{Addr: a, TxFrames: 1, TxBytes: 100})
		}
	}
	return out
}

// Close implements port.Port: the socket is released.
func (p *fakeVXLAN) Close() error {
	p.reg.mu.Lock()
	if p.reg.open[p.key] == p {
		delete(p.reg.open, p.key)
	}
	p.reg.mu.Unlock()
	return p.Port.Close()
}

// learn makes the port know mac (announcing ip) behind vtep.
func (p *fakeVXLAN) learn(vni uint32, mac header.MAC, ip, vtep netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.learned = append(p.learned, vxlan.NeighEntry{VNI: vni, IP: ip, MAC: mac, VTEP: vtep, Age: time.Second})
}

func (p *fakeVXLAN) describe(k vxKey) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, n := range p.nets {
		out = append(out, fmt.Sprintf("%v:%d vni %d vlan %d peers %v", k.local, k.port, n.VNI, n.VID, n.Peers))
	}
	for m, vtep := range p.statics {
		out = append(out, fmt.Sprintf("%v:%d vni %d static %s vtep %v", k.local, k.port, m.vni, m.mac, vtep))
	}
	return out
}

// describeOverlays is what the vxlan ports should be for st, as
// fakeVTEPs.describe gives it.
func describeOverlays(st *state.State) []string {
	var out []string
	for _, n := range st.Networks {
		if o := n.Overlay; o != nil {
			out = append(out, fmt.Sprintf("%v:%d vni %d vlan %d peers %v", o.Local, o.Port, o.VNI, n.VLAN, o.Peers))
		}
	}
	for _, r := range st.StaticRemotes {
		o := st.Network(r.Network).Overlay
		out = append(out, fmt.Sprintf("%v:%d vni %d static %s vtep %v", o.Local, o.Port, o.VNI, r.MAC, r.VTEP))
	}
	slices.Sort(out)
	return out
}

// overlaySpec is an overlay network spec on 10.200.0.0/24 with the lower
// half for this host's addresses.
func overlaySpec(name string, vni uint32, udp uint16, peers ...string) state.NetworkSpec {
	o := &state.Overlay{VNI: vni, Port: udp}
	for _, p := range peers {
		o.Peers = append(o.Peers, netip.MustParseAddr(p))
	}
	return state.NetworkSpec{Name: name, Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		IPRange: netip.MustParsePrefix("10.200.0.0/25"), Overlay: o}
}

var (
	peerB = netip.MustParseAddr("10.99.0.2")
	peerC = netip.MustParseAddr("10.99.0.3")
)

// TestOverlay: overlay networks open one vxlan port per UDP endpoint,
// shared by their networks; peers change live; learned and static remote
// MACs show in network inspect and the MAC table; automatic addresses
// skip those seen on other hosts; a restart releases and reopens the
// ports with the same configuration; the last network's removal closes
// its port.
func TestOverlay(t *testing.T) {
	e := newEnv(t)
	ni, err := e.d.CreateNetwork(overlaySpec("ov", 4242, 4789, "10.99.0.2"))
	e.must(err)
	if ni.MTU != daemon.DefaultOverlayMTU || ni.MAC != state.OverlayGatewayMAC(4242) {
		t.Errorf("overlay network: MTU %d MAC %s, want %d and %s", ni.MTU, ni.MAC, daemon.DefaultOverlayMTU, state.OverlayGatewayMAC(4242))
	}
	e.agree()
	vx := e.vx.get(4789)
	if vx == nil {
		t.Fatalf("no vxlan port on UDP 4789: %v", e.vx.describe())
	}
	// A second network on the same UDP port shares it; another port gets
	// its own.
	spec := overlaySpec("ov2", 7, 4789, "10.99.0.3")
	spec.Subnet, spec.IPRange = netip.MustParsePrefix("10.201.0.0/24"), netip.Prefix{}
	_, err = e.d.CreateNetwork(spec)
	e.must(err)
	spec = overlaySpec("ov3", 8, 4790, "10.99.0.2")
	spec.Subnet, spec.IPRange = netip.MustParsePrefix("10.202.0.0/24"), netip.Prefix{}
	_, err = e.d.CreateNetwork(spec)
	e.must(err)
	e.agree()
	if e.vx.get(4789) != vx || e.vx.get(4790) == nil {
		t.Fatalf("vxlan ports: %v, want ov and ov2 on one, ov3 on another", e.vx.describe())
	}
	names := map[string]bool{}
	for _, p := range e.d.Ports() {
		if p.Kind == datapath.KindVXLAN {
			names[p.Name] = len(p.VTEPs) > 0
		}
	}
	if !names["vxlan4789"] || !names["vxlan4790"] || len(names) != 2 {
		t.Errorf("vxlan ports (name: has VTEP counters) %v, want vxlan4789 and vxlan4790 with counters", names)
	}
	vteps := e.d.VTEPs()
	if len(vteps) != 3 {
		t.Errorf("VTEPs() = %+v, want one row per peer of each port", vteps)
	}

	// Peers change live.
	e.must(e.d.AddPeer("ov", peerC))
	e.agree()
	e.must(e.d.DeletePeer("ov", peerB))
	e.agree()
	e.must(e.d.AddPeer("ov", peerB))

	// A MAC learned behind B, which announced 10.200.0.2: network
	// inspect shows it, and the next endpoint skips its address.
	remote := header.MAC{0x02, 0, 0, 0, 0xbb, 1}
	vx.learn(4242, remote, netip.MustParseAddr("10.200.0.2"), peerB)
	n, err := e.d.Network("ov")
	e.must(err)
	if len(n.Remotes) != 1 || n.Remotes[0].MAC != remote || n.Remotes[0].VTEP != peerB || n.Remotes[0].IP != netip.MustParseAddr("10.200.0.2") {
		t.Errorf("network inspect ov: remotes %+v, want %s (10.200.0.2) behind %s", n.Remotes, remote, peerB)
	}
	e.run("a1", "ov")
	ep, err := e.d.Endpoint("a1")
	e.must(err)
	if ip := ep.NICs[0].IP; ip != netip.MustParseAddr("10.200.0.3") {
		t.Errorf("a1's address %s, want 10.200.0.3 (10.200.0.2 is on another host)", ip)
	}
	if nic := e.h.Namespace(host.Named(prefix + "a1").Path).NICs["eth0"]; nic == nil || nic.Config.MTU != daemon.DefaultOverlayMTU {
		t.Errorf("a1's eth0 on the host: %+v, want MTU %d", nic, daemon.DefaultOverlayMTU)
	}
	// Peer del forgets the MACs behind the peer.
	e.must(e.d.DeletePeer("ov", peerB))
	if n, _ := e.d.Network("ov"); len(n.Remotes) != 0 {
		t.Errorf("after peer del: remotes %+v, want none", n.Remotes)
	}
	e.must(e.d.AddPeer("ov", peerB))

	// A static remote entry: in the port, the MAC table and the state.
	static := header.MAC{0x02, 0, 0, 0, 0xcc, 1}
	fe, err := e.d.AddRemoteFDB("ov", static, peerC)
	e.must(err)
	if fe.Port != "vxlan:"+peerC.String() || !fe.Static {
		t.Errorf("AddRemoteFDB = %+v, want a static entry on vxlan:%s", fe, peerC)
	}
	found := false
	for _, f := range e.d.FDB() {
		found = found || f.MAC == static && f.Port == "vxlan:"+peerC.String() && f.Static
	}
	if !found {
		t.Errorf("FDB() lacks %s on vxlan:%s: %+v", static, peerC, e.d.FDB())
	}
	e.agree()

	// A restart releases the sockets (or the reopening would fail) and
	// opens the same ports with the same networks and static entries.
	before := e.vx.describe()
	e.must(e.d.Close())
	if open := e.vx.describe(); len(open) != 0 {
		t.Fatalf("vxlan ports still open after Close: %v", open)
	}
	e.start()
	if after := e.vx.describe(); !slices.Equal(before, after) {
		t.Errorf("vxlan ports after restart:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	e.agree()

	// The static entry goes with fdb del; the port closes with its last
	// network.
	e.must(e.d.DeleteFDB(ni.VLAN, static))
	e.agree()
	e.must(e.d.RemoveNetwork("ov3", false))
	e.agree()
	if e.vx.get(4790) != nil {
		t.Errorf("vxlan4790 still open after its only network was removed")
	}
	e.must(e.d.RemoveNetwork("ov", true))
	e.must(e.d.RemoveNetwork("ov2", false))
	e.agree()
	if open := e.vx.describe(); len(open) != 0 {
		t.Errorf("vxlan ports open with no overlay network: %v", open)
	}
}

// TestOverlayPortInUse: an overlay network whose UDP endpoint cannot be
// opened is refused, and nothing is left of it.
func TestOverlayPortInUse(t *testing.T) {
	e := newEnv(t)
	// Someone else holds UDP 4789.
	other, err := e.vx.Open(vxlan.Options{Port: 4789})
	e.must(err)
	defer other.Close()
	_, err = e.d.CreateNetwork(overlaySpec("ov", 4242, 4789, "10.99.0.2"))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("CreateNetwork with UDP 4789 taken: %v, want address already in use", err)
	}
	if len(e.d.Networks()) != 0 {
		t.Errorf("networks after a refused create: %+v", e.d.Networks())
	}
	other.Close()
	e.agree()
}

// overlayFailureOps are the overlay operations TestFailures fails step by
// step; setupOverlay makes the network they start from.
func setupOverlay(e *env) {
	_, err := e.d.CreateNetwork(overlaySpec("ov", 4242, 4789, "10.99.0.2"))
	e.must(err)
	_, err = e.d.AddRemoteFDB("ov", header.MAC{0x02, 0, 0, 0, 0xcc, 2}, peerB)
	e.must(err)
}

var overlayFailureOps = []struct {
	name  string
	setup func(e *env)
	do    func(e *env) error
}{
	{"overlay network create", nil, func(e *env) error {
		_, err := e.d.CreateNetwork(overlaySpec("ov", 4242, 4789, "10.99.0.2"))
		return err
	}},
	{"overlay network create on a second port", setupOverlay, func(e *env) error {
		spec := overlaySpec("ov2", 7, 4790, "10.99.0.3")
		spec.Subnet, spec.IPRange = netip.MustParsePrefix("10.201.0.0/24"), netip.Prefix{}
		_, err := e.d.CreateNetwork(spec)
		return err
	}},
	{"peer add", setupOverlay, func(e *env) error { return e.d.AddPeer("ov", peerC) }},
	{"peer del", setupOverlay, func(e *env) error { return e.d.DeletePeer("ov", peerB) }},
	{"remote fdb add", setupOverlay, func(e *env) error {
		_, err := e.d.AddRemoteFDB("ov", header.MAC{0x02, 0, 0, 0, 0xcc, 3}, peerC)
		return err
	}},
	{"overlay run", setupOverlay, func(e *env) error {
		_, _, err := e.d.Run(context.Background(), daemon.RunSpec{EndpointSpec: state.EndpointSpec{Name: "o1", Network: "ov"}}, nil)
		return err
	}},
	{"overlay network rm", setupOverlay, func(e *env) error { return e.d.RemoveNetwork("ov", true) }},
}

// TestOverlayRestoreFails: a start whose vxlan port cannot be opened
// fails, leaves no port open, and the next start restores the overlay.
func TestOverlayRestoreFails(t *testing.T) {
	e := newEnv(t)
	setupOverlay(e)
	want := e.vx.describe()
	e.must(e.d.Close())
	// The first OpenVXLAN of the next start fails.
	k := 0
	e.vx.step = func(op string) error {
		if op == "OpenVXLAN" && k == 0 {
			k++
			return fmt.Errorf("%s: %w", op, hosttest.ErrInjected)
		}
		return nil
	}
	d, err := daemon.New(e.config())
	e.must(err)
	if err := d.Start(context.Background()); err == nil {
		d.Close()
		t.Fatal("Start with the vxlan port failing to open succeeded")
	}
	d.Close()
	if open := e.vx.describe(); len(open) != 0 {
		t.Errorf("vxlan ports open after a failed start: %v", open)
	}
	e.start()
	if got := e.vx.describe(); !slices.Equal(got, want) {
		t.Errorf("vxlan ports after the next start: %v, want %v", got, want)
	}
	e.agree()
}
