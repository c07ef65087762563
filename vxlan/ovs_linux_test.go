package vxlan

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// ovsSchema is where Debian installs the Open_vSwitch database schema;
// $OVS_PKGDATADIR overrides it.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// TestPrivilegedVXLANOVS runs the frame-by-frame interop test against Open
// vSwitch's userspace datapath (datapath_type=netdev, no kernel module)
// with a type=vxlan port (key 42, remote_ip 10.99.0.1) on bridge br-int
// and the host 10.50.0.2 on an access port; the underlay is OVS's br-phy
// holding 10.99.0.2, as OVS's userspace tunnelling wants it.
func TestPrivilegedVXLANOVS(t *testing.T) {
	testutil.Privileged(t)
	testutil.RequireTools(t, "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ethtool", "ip", "ping", "tcpdump")
	testKernelPing(t, newOVSLab(t))
}

// newOVSLab builds the OVS variant of the interop lab: namespace O (kl.k)
// runs ovsdb-server and ovs-vswitchd, started by the test with a private
// run directory and stopped by PID, and H holds the host.
func newOVSLab(t *testing.T) *kernelLab {
	kl := &kernelLab{lab: newLab(t)}
	kl.v, kl.k = kl.ns("v"), kl.ns("o")
	h := kl.ns("h")
	o := kl.k
	kl.v.ip("link", "add", "und0", "type", "veth", "peer", "name", "und1", "netns", o.name)
	kl.v.ip("addr", "add", underV.String()+"/24", "dev", "und0")
	kl.v.ip("link", "set", "und0", "up")
	o.ip("link", "set", "und1", "up")
	o.ip("link", "add", "hh0", "type", "veth", "peer", "name", "eth0", "netns", h.name)
	o.ip("link", "set", "hh0", "up")
	h.ip("addr", "add", "10.50.0.2/24", "dev", "eth0")
	h.ip("link", "set", "eth0", "mtu", "1450", "up")
	// OVS reads its ports through AF_PACKET: checksums must be complete
	// on every veth it receives from, the Port's underlay included.
	for _, x := range []struct {
		n      *labNS
		ifname string
	}{{kl.v, "und0"}, {o, "und1"}, {h, "eth0"}} {
		if out, err := x.n.run(10*time.Second, "ethtool", "-K", x.ifname, "tx", "off"); err != nil {
			t.Fatalf("ethtool -K %s tx off: %v\n%s", x.ifname, err, out)
		}
	}
	// und1 belongs to OVS: the kernel must not answer ARP for br-phy's
	// address on it.
	if err := netns.Sysctl(o.h, "net.ipv4.conf.all.arp_ignore", "1"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)
	_, err := os.Stat("/run/openvswitch")
	hadRun := err == nil
	t.Cleanup(func() { // after the daemons stopped
		if _, err := os.Stat("/run/openvswitch"); err == nil && !hadRun {
			t.Errorf("leak: /run/openvswitch was created")
		}
	})
	schema := ovsSchema
	if d := os.Getenv("OVS_PKGDATADIR"); d != "" {
		schema = filepath.Join(d, "vswitch.ovsschema")
	}
	if out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v\n%s", err, out)
	}
	db := "unix:" + filepath.Join(dir, "db.sock")
	vsctl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ovs-vsctl", append([]string{"--db=" + db, "--timeout=20"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ovs-vsctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	logs := func(p *proc, file string) {
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(dir, file))
				t.Logf("%s output:\n%s\n%s:\n%s", file, p.output(), file, b)
			}
		})
	}
	srv := o.startEnv(env, "ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=p"+db, "--pidfile="+filepath.Join(dir, "ovsdb.pid"),
		"--unixctl="+filepath.Join(dir, "ovsdb.ctl"), "--log-file="+filepath.Join(dir, "ovsdb.log"), "-vconsole:off")
	logs(srv, "ovsdb.log")
	eventually(t, 10*time.Second, func() bool {
		return exec.Command("ovs-vsctl", "--db="+db, "--no-wait", "--timeout=2", "init").Run() == nil
	})
	ctl := filepath.Join(dir, "vswitchd.ctl")
	vsd := o.startEnv(env, "ovs-vswitchd", db, "--pidfile="+filepath.Join(dir, "vswitchd.pid"), "--unixctl="+ctl,
		"--log-file="+filepath.Join(dir, "vswitchd.log"), "-vconsole:off")
	logs(vsd, "vswitchd.log")
	vsctl("add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev")
	vsctl("add-port", "br-phy", "und1")
	vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")
	vsctl("add-port", "br-int", "hh0")
	vsctl("add-port", "br-int", "vx0", "--", "set", "interface", "vx0", "type=vxlan",
		"options:remote_ip="+underV.String(), "options:key=42")
	o.ip("addr", "add", underK.String()+"/24", "dev", "br-phy")
	o.ip("link", "set", "br-phy", "up")
	eventually(t, 10*time.Second, func() bool { // OVS routes tunnels by its copy of the kernel's routes
		out, _ := exec.Command("ovs-appctl", "-t", ctl, "ovs/route/show").CombinedOutput()
		return strings.Contains(string(out), "10.99.0.0/24 dev br-phy")
	})

	kl.host, kl.hostMAC = h, linkMAC(t, h, "eth0")
	kl.p = kl.v.open(Options{Local: underV})
	setNetworks(t, kl.p, Network{VNI: kernelVNI, VID: labVID, Peers: []netip.Addr{underK}})
	return kl
}

// eventually polls cond every 50 ms until it holds, failing t after d.
func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
