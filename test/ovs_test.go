//go:build linux

package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// Open vSwitch is the independent 802.1Q peer of the VLAN tests: Debian's
// openvswitch-switch, its userspace datapath (datapath_type=netdev, no
// kernel module), run by the test in a namespace of its own with a private
// run directory, so that nothing touches /run/openvswitch or /etc and any
// number of tests can run one at once.

// ovsSchema is where Debian installs the Open_vSwitch database schema;
// $OVS_PKGDATADIR overrides it.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// ovsSwitch is one ovsdb-server and ovs-vswitchd, children of the test,
// stopped by PID at cleanup.
type ovsSwitch struct {
	ns  *peerNS // where ovs-vswitchd runs and its ports live
	dir string  // database, sockets, pid and log files
	env []string
}

// startOVS starts Open vSwitch in a new namespace ovs-<lab id>.
func startOVS(t *testing.T, l *lab) *ovsSwitch {
	t.Helper()
	testutil.RequireTools(t, "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ethtool")
	o := &ovsSwitch{ns: l.newNS(t, "ovs"), dir: t.TempDir()}
	o.env = append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVS_DBDIR="+o.dir, "OVS_LOGDIR="+o.dir, "OVS_SYSCONFDIR="+o.dir)
	schema := ovsSchema
	if d := os.Getenv("OVS_PKGDATADIR"); d != "" {
		schema = filepath.Join(d, "vswitch.ovsschema")
	}
	if r := o.command("ovsdb-tool", "create", o.path("conf.db"), schema); r.code != 0 {
		t.Fatalf("ovsdb-tool create: %v", r)
	}
	_, hadRun := os.Stat("/run/openvswitch")
	t.Cleanup(func() { o.checkNoLeaks(t, hadRun == nil) }) // runs after the stops below
	o.daemon(t, "ovsdb-server", "ovsdb.log", o.path("conf.db"), "--remote=punix:"+o.path("db.sock"),
		"--pidfile="+o.path("ovsdb.pid"), "--unixctl="+o.path("ovsdb.ctl"), "--log-file="+o.path("ovsdb.log"), "-vconsole:off")
	eventually(t, 10*time.Second, func() error {
		if r := o.command("ovs-vsctl", "--db=unix:"+o.path("db.sock"), "--no-wait", "--timeout=5", "init"); r.code != 0 {
			return fmt.Errorf("ovs-vsctl init: %v", r)
		}
		return nil
	})
	// Two VLAN headers: an 802.1ad S-tag and the customer's C-tag.
	o.vsctl(t, "set", "Open_vSwitch", ".", "other_config:vlan-limit=2")
	o.daemon(t, "ovs-vswitchd", "vswitchd.log", "unix:"+o.path("db.sock"),
		"--pidfile="+o.path("vswitchd.pid"), "--unixctl="+o.path("vswitchd.ctl"), "--log-file="+o.path("vswitchd.log"), "-vconsole:off")
	return o
}

func (o *ovsSwitch) path(name string) string { return filepath.Join(o.dir, name) }

// command runs an OVS tool with the private directories in its environment.
func (o *ovsSwitch) command(name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = o.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code, r.stderr = -1, r.stderr+err.Error()
	}
	return r
}

// daemon starts an OVS daemon in the foreground inside the namespace, and
// stops it by PID at cleanup: SIGTERM, then SIGKILL after 10 s. On
// failure its output and log file are logged.
func (o *ovsSwitch) daemon(t *testing.T, name, logFile string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", o.ns.name, name}, args...)...) // ip execs name: same PID
	cmd.Env = o.env
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit 10 s after SIGTERM", name, cmd.Process.Pid)
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(o.path(logFile))
			t.Logf("%s output:\n%s\n%s:\n%s", name, out.String(), logFile, log)
		}
	})
}

// checkNoLeaks checks, after the daemons stopped, that no process still
// uses the run directory and that nothing appeared in the system's own
// Open vSwitch run directory.
func (o *ovsSwitch) checkNoLeaks(t *testing.T, hadRun bool) {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), o.dir) {
			t.Errorf("leak: process %s still runs: %s", strings.Split(p, "/")[2], strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if _, err := os.Stat("/run/openvswitch"); err == nil && !hadRun {
		t.Errorf("leak: /run/openvswitch was created")
	}
}

// vsctl runs ovs-vsctl on the test's database without waiting for
// ovs-vswitchd; sync waits.
func (o *ovsSwitch) vsctl(t *testing.T, args ...string) string {
	t.Helper()
	r := o.command("ovs-vsctl", append([]string{"--db=unix:" + o.path("db.sock"), "--no-wait", "--timeout=10"}, args...)...)
	if r.code != 0 {
		t.Fatalf("ovs-vsctl %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// sync waits until ovs-vswitchd has applied the configuration, and checks
// that it opened every interface.
func (o *ovsSwitch) sync(t *testing.T) {
	t.Helper()
	// Without --no-wait, ovs-vsctl waits for ovs-vswitchd to reconfigure.
	r := o.command("ovs-vsctl", "--db=unix:"+o.path("db.sock"), "--timeout=20", "set", "Open_vSwitch", ".", "external_ids:test-sync="+randHex(4))
	if r.code != 0 {
		t.Fatalf("ovs-vsctl (waiting for ovs-vswitchd): %v", r)
	}
	out := o.vsctl(t, "--format=csv", "--data=bare", "--no-headings", "--columns=name,ofport,error", "list", "Interface")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, ",", 3)
		if len(f) != 3 {
			t.Fatalf("ovs-vsctl list Interface: %q", line)
		}
		if n, err := strconv.Atoi(f[1]); err != nil || n <= 0 || f[2] != "" {
			t.Fatalf("OVS interface %s: ofport %s, error %q", f[0], f[1], f[2])
		}
	}
}

// ovsPeer is the vlanPeer made of Open vSwitch bridges: one per trunk, with
// the trunk's hosts on access ports, and for a tunnel host a customer
// bridge behind a dot1q-tunnel port.
type ovsPeer struct {
	l      *lab
	o      *ovsSwitch
	bridge map[string]string // by lab interface
}

func newOVSPeer(t *testing.T, l *lab) *ovsPeer {
	return &ovsPeer{l: l, o: startOVS(t, l), bridge: map[string]string{}}
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *ovsPeer) addBridge(t *testing.T, br string) {
	p.o.vsctl(t, "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
}

func (p *ovsPeer) trunk(t *testing.T, labIf string, vlans []int, native int) {
	br := "br" + itoa(len(p.bridge))
	p.addBridge(t, br)
	p.bridge[labIf] = br
	port := "o-" + labIf
	veth(t, p.l.name, labIf, p.o.ns.name, port)
	// vswitchd hands the kernel TCP super-frames with PACKET_VNET_HDR;
	// OVS must receive them segmented and checksummed.
	txOffloadsOff(t, p.l.name, labIf)
	args := []string{"add-port", br, port, "vlan_mode=trunk", "trunks=" + joinInts(vlans)}
	if native != 0 {
		args = []string{"add-port", br, port, "vlan_mode=native-untagged", "tag=" + itoa(native), "trunks=" + joinInts(vlans)}
	}
	p.o.vsctl(t, args...)
}

// hostOn makes a host on an access port of VLAN vid of bridge br.
func (p *ovsPeer) hostOn(t *testing.T, br, name string, vid int, addr string) *peerNS {
	h := p.l.newNS(t, name)
	port := "h-" + name
	veth(t, p.o.ns.name, port, h.name, "eth0")
	addAddr(t, h.name, "eth0", addr)
	txOffloadsOff(t, h.name, "eth0")
	p.o.vsctl(t, "add-port", br, port, "tag="+itoa(vid))
	return h
}

func (p *ovsPeer) host(t *testing.T, labIf, name string, vid int, addr string) *peerNS {
	return p.hostOn(t, p.bridge[labIf], name, vid, addr)
}

func (p *ovsPeer) tunnelHost(t *testing.T, labIf, name string, svid, cvid int, addr string) *peerNS {
	// Provider bridge (labIf's) → dot1q-tunnel port s-NAME, veth to
	// trunk port u-NAME of customer bridge cNAME → access host.
	cbr := "c" + name
	p.addBridge(t, cbr)
	veth(t, p.o.ns.name, "s-"+name, p.o.ns.name, "u-"+name)
	p.o.vsctl(t, "add-port", p.bridge[labIf], "s-"+name, "vlan_mode=dot1q-tunnel", "tag="+itoa(svid))
	p.o.vsctl(t, "add-port", cbr, "u-"+name, "vlan_mode=trunk", "trunks="+itoa(cvid))
	return p.hostOn(t, cbr, name, cvid, addr)
}

func (p *ovsPeer) ready(t *testing.T) { p.o.sync(t) }

// TestPrivilegedOVSTrunk: hosts on Open vSwitch access ports of VLANs 10,
// 20, 30 and 40 reach vswitchd endpoints over a trunk (10,20) and a
// native-untagged link (native 30, 40), with the right tags on the wire,
// no leaks between VLANs, and a trunk endpoint that sees both its VLANs.
// It runs in parallel with the QinQ test: two OVS instances at once.
func TestPrivilegedOVSTrunk(t *testing.T) {
	testutil.RequireTools(t, "ping", "nc", "ss", "tcpdump")
	t.Parallel()
	l := startLab(t, labOptions{})
	testTrunks(t, l, newOVSPeer(t, l))
}

// TestPrivilegedOVSQinQ: customer VLAN 100 crosses vswitchd in service
// VLAN 30 (802.1ad) between two Open vSwitch customer sites, the far one
// behind an OVS dot1q-tunnel port.
func TestPrivilegedOVSQinQ(t *testing.T) {
	testutil.RequireTools(t, "ping", "tcpdump")
	t.Parallel()
	l := startLab(t, labOptions{})
	testQinQ(t, l, newOVSPeer(t, l))
}
