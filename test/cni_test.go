//go:build linux

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/internal/testutil"
	"github.com/vswitchd/vswitchd/netns"
)

// cnitool finds the CNI project's reference runtime: $VSWITCHD_CNITOOL,
// else on PATH, else where scripts/gotools.sh installs it.
func cnitool(t *testing.T) string {
	t.Helper()
	testutil.Privileged(t)
	if p := os.Getenv("VSWITCHD_CNITOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("cnitool"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "cnitool")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testutil.MissingTool(t, "cnitool (scripts/gotools.sh installs it)")
	return ""
}

// cniEnv is a CNI set-up for cnitool: a plugin directory holding the
// plugin under its type's name, and a configuration directory.
type cniEnv struct {
	tool, pluginDir, confDir string
}

func newCNIEnv(t *testing.T, l *lab, conflist string) *cniEnv {
	t.Helper()
	c := &cniEnv{tool: cnitool(t), pluginDir: t.TempDir(), confDir: t.TempDir()}
	b, err := os.ReadFile(filepath.Join(binDir, "vswitchd-cni"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.pluginDir, "vswitchd"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	conflist = strings.ReplaceAll(conflist, "SOCKET", l.socket)
	if err := os.WriteFile(filepath.Join(c.confDir, "vsw.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs cnitool with the set-up's directories and extra environment.
func (c *cniEnv) run(env []string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.tool, args...)
	cmd.Env = append(append(os.Environ(), "NETCONFPATH="+c.confDir, "CNI_PATH="+c.pluginDir), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// runtimeNS makes a namespace as a container runtime would (lo up), and
// deletes it at cleanup: vswitchd must never delete it itself.
func runtimeNS(t *testing.T, l *lab, short string) string {
	t.Helper()
	p := l.newNS(t, short)
	return p.name
}

// resolvConf writes the result's DNS as a runtime writes the container's
// resolv.conf (ip netns exec shows /etc/netns/NAME/resolv.conf).
func resolvConf(t *testing.T, ns string, r *types100.Result) {
	t.Helper()
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var b strings.Builder
	for _, s := range r.DNS.Search {
		b.WriteString("search " + s + "\n")
	}
	for _, n := range r.DNS.Nameservers {
		b.WriteString("nameserver " + n + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseResult(t *testing.T, out string) *types100.Result {
	t.Helper()
	var r types100.Result
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.CNIVersion != "1.1.0" || len(r.IPs) != 1 || len(r.Interfaces) != 1 {
		t.Fatalf("cnitool add result does not decode as a 1.1.0 result with one interface and address (%v):\n%s", err, out)
	}
	return &r
}

// TestPrivilegedCNITool drives the plugin with the real cnitool: two
// runtime namespaces attached, pinging each other by address and by name;
// check, del (twice), gc, port mappings from the uplink side, and status
// with the daemon down. The runtime's namespaces outlive every step.
func TestPrivilegedCNITool(t *testing.T) {
	testutil.RequireTools(t, "ping", "nc")
	l := startLab(t, labOptions{})
	setupInternet(t, l)
	l.mustCtl("network", "create", "cninet")
	c := newCNIEnv(t, l, `{"cniVersion":"1.1.0","name":"cninet","plugins":[
		{"type":"vswitchd","network":"cninet","socket":"SOCKET","capabilities":{"portMappings":true}}]}`)
	nsA, nsB := runtimeNS(t, l, "cnia"), runtimeNS(t, l, "cnib")

	addA := c.run([]string{"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=pod-a"}, "add", "cninet", netns.Path(nsA))
	if addA.code != 0 {
		t.Fatalf("cnitool add: %v", addA)
	}
	ra := parseResult(t, addA.stdout)
	addB := c.run([]string{"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=pod-b",
		`CAP_ARGS={"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`}, "add", "cninet", netns.Path(nsB))
	if addB.code != 0 {
		t.Fatalf("cnitool add: %v", addB)
	}
	rb := parseResult(t, addB.stdout)
	if ra.Interfaces[0].Sandbox != netns.Path(nsA) || ra.Interfaces[0].Name != "eth0" || len(ra.DNS.Nameservers) != 1 {
		t.Errorf("result of pod-a: %+v", ra)
	}
	resolvConf(t, nsA, ra)
	ipB := rb.IPs[0].Address.IP.String()
	run := func(ns string, args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return runCmd(ctx, "", "ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	for _, to := range []string{ipB, "pod-b", "pod-b.cninet"} {
		if r := run(nsA, "ping", "-c1", "-W2", to); r.code != 0 {
			t.Errorf("pod-a cannot ping %s: %v", to, r)
		}
	}
	var es []control.Endpoint
	l.ctlJSON(&es, "inspect", "pod-a")
	if len(es) != 1 {
		t.Fatalf("inspect pod-a: %+v", es)
	}
	if e := es[0]; !e.Attached || e.ContainerID == "" || e.Netns != netns.Path(nsA) {
		t.Errorf("inspect pod-a: attached %v container %q netns %q", e.Attached, e.ContainerID, e.Netns)
	}

	// Port mappings: a server in pod-b, reached at the uplink address.
	srv := exec.Command("ip", "netns", "exec", nsB, "sh", "-c", "echo from-pod-b | nc -l -p 80")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	waitListening(t, func(args ...string) result { return run(nsB, args...) }, "tcp", 80)
	inet := "inet-" + strings.TrimPrefix(l.name, "vsl-")
	if r := run(inet, "nc", "-w", "3", uplinkAddr, "8080"); r.code != 0 || !strings.Contains(r.stdout, "from-pod-b") {
		t.Errorf("the published port from the uplink side: %v", r)
	}

	// check, then again after the NIC is deleted by hand.
	if r := c.run(nil, "check", "cninet", netns.Path(nsA)); r.code != 0 {
		t.Errorf("cnitool check: %v", r)
	}
	if r := run(nsA, "ip", "link", "del", "eth0"); r.code != 0 {
		t.Fatal(r)
	}
	if r := c.run(nil, "check", "cninet", netns.Path(nsA)); r.code == 0 {
		t.Errorf("cnitool check succeeded with eth0 deleted: %v", r)
	}
	// del, twice; the namespace stays.
	for i := range 2 {
		if r := c.run(nil, "del", "cninet", netns.Path(nsA)); r.code != 0 {
			t.Errorf("cnitool del #%d: %v", i+1, r)
		}
	}
	if !netns.Exists(nsA) {
		t.Error("del deleted the runtime's namespace")
	}
	if _, err := l.client.Endpoint(context.Background(), "pod-a"); err == nil {
		t.Error("pod-a is still an endpoint after del")
	}

	// gc: cnitool names no attachment valid, so pod-b's (stale: the
	// runtime lost track of it) goes.
	if r := c.run(nil, "gc", "cninet", netns.Path(nsB)); r.code != 0 {
		t.Errorf("cnitool gc: %v", r)
	}
	if _, err := l.client.Endpoint(context.Background(), "pod-b"); err == nil {
		t.Error("gc left pod-b")
	}
	if !netns.Exists(nsB) {
		t.Error("gc deleted the runtime's namespace")
	}

	// status: fine with the daemon up, the spec's error 50 with it down.
	if r := c.run(nil, "status", "cninet", netns.Path(nsA)); r.code != 0 {
		t.Errorf("cnitool status: %v", r)
	}
	l.stop()
	r := c.run(nil, "status", "cninet", netns.Path(nsA))
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "not reachable") {
		t.Errorf("cnitool status with the daemon down: %v", r)
	}
	if r := c.run(nil, "add", "cninet", netns.Path(nsA)); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "try again") && !strings.Contains(r.stdout+r.stderr, "not reachable") {
		t.Errorf("cnitool add with the daemon down: %v", r)
	}
	if !netns.Exists(nsA) || !netns.Exists(nsB) {
		t.Error("a runtime namespace is gone after the daemon's shutdown")
	}
}

// TestPrivilegedCNIBadInput: each refusal is the spec's error shape
// ({"code", "msg"}), a non-zero exit, and leaves nothing in the switch.
func TestPrivilegedCNIBadInput(t *testing.T) {
	l := startLab(t, labOptions{})
	l.mustCtl("network", "create", "cninet")
	ns := runtimeNS(t, l, "cnix")
	plugin := filepath.Join(binDir, "vswitchd-cni")
	for _, tt := range []struct {
		name   string
		conf   string
		netns  string
		ifname string
		code   int
	}{
		{"missing network", `{"cniVersion":"1.1.0","name":"x","type":"vswitchd","socket":"SOCKET"}`, netns.Path(ns), "eth0", 7},
		{"unknown network", `{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"nope","socket":"SOCKET"}`, netns.Path(ns), "eth0", 7},
		{"bad CNI_NETNS", `{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"cninet","socket":"SOCKET"}`, "/run/netns/does-not-exist", "eth0", 4},
		{"ifname too long", `{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"cninet","socket":"SOCKET"}`, netns.Path(ns), "a-very-long-ifname", 4},
		{"daemon down", `{"cniVersion":"1.1.0","name":"x","type":"vswitchd","network":"cninet","socket":"/nonexistent.sock"}`, netns.Path(ns), "eth0", 11},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(plugin)
			cmd.Stdin = strings.NewReader(strings.ReplaceAll(tt.conf, "SOCKET", l.socket))
			cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=bad-"+strings.ReplaceAll(tt.name, " ", "-"),
				"CNI_NETNS="+tt.netns, "CNI_IFNAME="+tt.ifname, "CNI_PATH=/nonexistent")
			out, err := cmd.Output()
			var e struct {
				CNIVersion string `json:"cniVersion"`
				Code       int    `json:"code"`
				Msg        string `json:"msg"`
			}
			if err == nil || json.Unmarshal(out, &e) != nil || e.Code != tt.code || e.Msg == "" {
				t.Errorf("ADD with %s: %v, %s; want a spec error with code %d", tt.name, err, out, tt.code)
			}
			var es []control.Endpoint
			l.ctlJSON(&es, "ps", "-a")
			if len(es) != 0 {
				t.Errorf("a refused ADD left endpoints: %+v", es)
			}
		})
	}
}

// TestPrivilegedPodman: Podman (CNI backend, our plugin, an image the
// test imports from a busybox rootfs, storage in the test's directory)
// runs two containers on a vswitchd network: they ping each other by
// name, a published port is reached from the uplink side, and podman rm
// leaves nothing in the switch.
func TestPrivilegedPodman(t *testing.T) {
	testutil.RequireTools(t, "podman", "runc", "busybox", "nsenter", "nc")
	l := startLab(t, labOptions{})
	setupInternet(t, l)
	l.mustCtl("network", "create", "podnet")
	dir := t.TempDir()
	pluginDir, confDir := filepath.Join(dir, "cni-bin"), filepath.Join(dir, "cni-conf")
	for _, d := range []string{pluginDir, confDir, filepath.Join(dir, "rootfs", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(binDir, "vswitchd-cni"))
	os.WriteFile(filepath.Join(pluginDir, "vswitchd"), b, 0o755)
	os.WriteFile(filepath.Join(confDir, "podnet.conflist"), []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"podnet","plugins":[
		{"type":"vswitchd","network":"podnet","socket":%q,"capabilities":{"portMappings":true}}]}`, l.socket)), 0o644)
	// This machine's root lacks CAP_SYS_RESOURCE and mixes cgroup v1 and
	// v2: podman's default rlimits and crun would fail, so low rlimits and
	// runc.
	os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(fmt.Sprintf(`[containers]
default_ulimits=["nofile=1024:1024","nproc=1024:1024"]
[network]
network_backend="cni"
cni_plugin_dirs=[%q]
network_config_dir=%q
[engine]
cgroup_manager="cgroupfs"
events_logger="file"
runtime="runc"
`, pluginDir, confDir)), 0o644)
	// The image: busybox-static and its applets.
	rootfs := filepath.Join(dir, "rootfs")
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(bb)
	os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755)
	applets, _ := exec.Command(bb, "--list").Output()
	for _, a := range strings.Fields(string(applets)) {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	for _, d := range []string{"etc", "proc", "sys", "dev", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	podman := func(args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + netns.Path(l.name), "podman",
			"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp")}, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if err != nil {
			code = 1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return result{code: code, stdout: out.String(), stderr: errb.String()}
	}
	mustPodman := func(args ...string) string {
		t.Helper()
		r := podman(args...)
		if r.code != 0 {
			t.Fatalf("podman %s: %v", strings.Join(args, " "), r)
		}
		return r.stdout
	}
	tar := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	mustPodman("import", tar, "vswtest:latest")
	t.Cleanup(func() {
		podman("rm", "-f", "-t", "0", "-a")
		podman("rmi", "-a", "-f")
	})
	mustPodman("run", "-d", "--network", "podnet", "--name", "c1", "vswtest", "sleep", "300")
	mustPodman("run", "-d", "--network", "podnet", "--name", "c2", "-p", "8080:80", "vswtest",
		"sh", "-c", "while :; do echo from-c2 | nc -l -p 80; done")
	if out := mustPodman("exec", "c1", "ping", "-c1", "-W2", "c2"); !strings.Contains(out, "1 packets received") {
		t.Errorf("c1 ping c2:\n%s", out)
	}
	var es []control.Endpoint
	l.ctlJSON(&es, "ps")
	if len(es) != 2 {
		t.Fatalf("vswitchd sees %d endpoints, want c1 and c2: %+v", len(es), es)
	}
	inet := "inet-" + strings.TrimPrefix(l.name, "vsl-")
	eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r := runCmd(ctx, "", "ip", "netns", "exec", inet, "nc", "-w", "3", uplinkAddr, "8080"); !strings.Contains(r.stdout, "from-c2") {
			return errorf("podman -p 8080:80 from the uplink side: %v", r)
		}
		return nil
	})
	mustPodman("rm", "-f", "-t", "0", "c1", "c2")
	l.ctlJSON(&es, "ps", "-a")
	if len(es) != 0 {
		t.Errorf("podman rm left endpoints in the switch: %+v", es)
	}
	var nat control.NATRules
	l.ctlJSON(&nat, "nat", "show")
	if len(nat.Published) != 0 {
		t.Errorf("podman rm left published ports: %+v", nat.Published)
	}
}
