package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
)

// TestRequests checks, for each verb and flag, the requests vswitchctl
// sends, what it prints and its exit status.
func TestRequests(t *testing.T) {
	f := newFakeDaemon(t)
	tests := []struct {
		name   string
		args   []string
		stdin  string
		want   []string // requests, "METHOD PATH BODY"
		stdout string   // a substring of stdout ("" : anything)
		code   int
	}{
		{"network create", []string{"network", "create", "--subnet", "10.0.0.0/24", "--gateway", "10.0.0.254", "--vlan", "7", "--internal", "n1"},
			"", []string{`POST /v1/networks {"name":"n1","subnet":"10.0.0.0/24","gateway":"10.0.0.254","vlan":7,"internal":true}`}, "front\n", 0},
		{"network create icc false", []string{"network", "create", "--icc=false", "n1"},
			"", []string{`POST /v1/networks {"name":"n1","icc":false}`}, "", 0},
		{"network create icc true", []string{"network", "create", "--icc", "n1"},
			"", []string{`POST /v1/networks {"name":"n1","icc":true}`}, "", 0},
		{"network ls", []string{"network", "ls"}, "", []string{"GET /v1/networks"}, "front", 0},
		{"network ls -q", []string{"network", "ls", "-q"}, "", []string{"GET /v1/networks"}, "front\nback\n", 0},
		{"network inspect", []string{"network", "inspect", "front"}, "", []string{"GET /v1/networks/front"}, "Subnet:    172.18.0.0/16", 0},
		{"network inspect format", []string{"network", "inspect", "-f", "{{.Name}} {{.VLAN}}", "front", "back"}, "",
			[]string{"GET /v1/networks/front", "GET /v1/networks/back"}, "front 100\nback 101\n", 0},
		{"network rm", []string{"network", "rm", "-f", "a", "b"}, "",
			[]string{"DELETE /v1/networks/a?force=1", "DELETE /v1/networks/b?force=1"}, "a\nb\n", 0},
		{"network connect", []string{"network", "connect", "--ip", "10.0.0.9", "--alias", "x", "--alias", "y", "front", "job"}, "",
			[]string{`POST /v1/networks/front/connect {"endpoint":"job","ip":"10.0.0.9","aliases":["x","y"]}`}, "", 0},
		{"network disconnect", []string{"network", "disconnect", "front", "web"}, "",
			[]string{`POST /v1/networks/front/disconnect {"endpoint":"web"}`}, "", 0},
		{"network prune", []string{"network", "prune", "-f"}, "",
			[]string{`POST /v1/networks/prune {}`}, "Deleted Networks:\nold1\nold2\n", 0},
		{"run -d", []string{"run", "-d", "--name", "web2", "--net", "front", "--ip", "172.18.0.9", "--alias", "a1", "--network-alias", "a2",
			"-h", "h1", "--dns", "1.1.1.1", "--dns", "8.8.8.8", "--add-host", "db:10.0.0.1", "--add-host", "gw=host-gateway",
			"--restart", "on-failure:3", "-p", "8080:80", "-p", "53/udp", "-P", "--expose", "9000", "--expose", "9001/udp",
			"-e", "A=1", "--", "httpd", "-f"}, "",
			[]string{`POST /v1/endpoints {"name":"web2","network":"front","ip":"172.18.0.9","aliases":["a1","a2"],"publish":["8080:80","53/udp"],` +
				`"expose":["9000","9001/udp"],"publish_all":true,"cmd":["httpd","-f"],"env":["A=1"],"hostname":"h1","dns":["1.1.1.1","8.8.8.8"],` +
				`"extra_hosts":["db:10.0.0.1","gw:host-gateway"],"restart":"on-failure:3"}`}, "web2\n", 0},
		{"run -d default network", []string{"run", "-d", "--name", "x", "--network", "back", "--rm"}, "",
			[]string{`POST /v1/endpoints {"name":"x","network":"back","remove":true}`}, "x\n", 0},
		{"run -d no network", []string{"run", "-d", "--name", "x"}, "",
			[]string{`POST /v1/endpoints {"name":"x"}`}, "x\n", 0},
		{"run -d trunk", []string{"run", "-d", "--name", "x", "--trunk", "--vlans", "10,20", "--native", "5"}, "",
			[]string{`POST /v1/endpoints {"name":"x","trunk":true,"vlans":"10,20","native":5}`}, "x\n", 0},
		{"run attached", []string{"run", "--name", "x", "-i", "cat"}, "hello\n",
			[]string{`POST /v1/endpoints?attach=1 {"name":"x","cmd":["cat"],"stdin":true}`}, "hello\n", 0},
		{"exec", []string{"exec", "-w", "/tmp", "-u", "nobody:nogroup", "-e", "A=1", "web", "--", "ls", "-l"}, "",
			[]string{`POST /v1/endpoints/web/exec {"cmd":["ls","-l"],"env":["A=1"],"workdir":"/tmp","user":"nobody:nogroup"}`}, "", 0},
		{"exec -d", []string{"exec", "-d", "web", "sleep", "9"}, "",
			[]string{`POST /v1/endpoints/web/exec {"cmd":["sleep","9"],"detach":true}`}, "", 0},
		{"exec -i", []string{"exec", "-i", "web", "cat"}, "in\n",
			[]string{`POST /v1/endpoints/web/exec {"cmd":["cat"],"stdin":true}`}, "in\n", 0},
		{"inspect", []string{"inspect", "web"}, "", []string{"GET /v1/endpoints/web"}, `"name": "web"`, 0},
		{"stop", []string{"stop", "web", "job"}, "",
			[]string{`POST /v1/endpoints/web/stop {}`, `POST /v1/endpoints/job/stop {}`}, "web\njob\n", 0},
		{"stop -t", []string{"stop", "-t", "10", "web"}, "", []string{`POST /v1/endpoints/web/stop {"timeout":10}`}, "web\n", 0},
		{"stop -t 0", []string{"stop", "-t", "0", "web"}, "", []string{`POST /v1/endpoints/web/stop {"timeout":0}`}, "web\n", 0},
		{"start", []string{"start", "job"}, "", []string{`POST /v1/endpoints/job/start {}`}, "job\n", 0},
		{"restart", []string{"restart", "--time", "1", "web"}, "", []string{`POST /v1/endpoints/web/restart {"timeout":1}`}, "web\n", 0},
		{"kill", []string{"kill", "web"}, "", []string{`POST /v1/endpoints/web/kill {}`}, "web\n", 0},
		{"kill -s", []string{"kill", "-s", "HUP", "web"}, "", []string{`POST /v1/endpoints/web/kill {"signal":"HUP"}`}, "web\n", 0},
		{"rm", []string{"rm", "web"}, "", []string{"DELETE /v1/endpoints/web"}, "web\n", 0},
		{"rm -f", []string{"rm", "-f", "web"}, "", []string{"DELETE /v1/endpoints/web?force=1"}, "web\n", 0},
		{"top", []string{"top", "web"}, "", []string{"GET /v1/endpoints/web/top"}, "UID    PID   CMD\nroot   42    httpd -f\n", 0},
		{"logs", []string{"logs", "web"}, "", []string{"GET /v1/endpoints/web/logs"}, "line 1\nline 2\n", 0},
		{"logs all", []string{"logs", "-f", "--tail", "7", "-t", "web"}, "",
			[]string{"GET /v1/endpoints/web/logs?follow=1&tail=7&timestamps=1"}, "", 0},
		{"logs tail all", []string{"logs", "-n", "all", "web"}, "", []string{"GET /v1/endpoints/web/logs"}, "", 0},
		{"logs tail 0", []string{"logs", "-n", "0", "web"}, "", []string{"GET /v1/endpoints/web"}, "", 0},
		{"publish", []string{"publish", "web", "8081:81"}, "", []string{`POST /v1/endpoints/web/publish {"spec":"8081:81"}`}, "8081:81/tcp\n", 0},
		{"unpublish", []string{"unpublish", "web", "8081:81"}, "", []string{`POST /v1/endpoints/web/unpublish {"spec":"8081:81"}`}, "", 0},
		{"fdb show", []string{"fdb", "show"}, "", []string{"GET /v1/fdb"}, "100    02:42:ac:12:00:02   web/eth0   learned   12s", 0},
		{"fdb flush", []string{"fdb", "flush"}, "", []string{"DELETE /v1/fdb"}, "flushed 7 entries\n", 0},
		{"fdb add vlan", []string{"fdb", "add", "02:00:00:00:00:0A", "--port", "veth-ovs", "--vlan", "10"}, "",
			[]string{`POST /v1/fdb {"mac":"02:00:00:00:00:0a","port":"veth-ovs","vlan":10}`}, "", 0},
		{"fdb add network", []string{"fdb", "add", "02:00:00:00:00:0a", "--port", "veth-ovs", "--network", "front"}, "",
			[]string{`POST /v1/fdb {"mac":"02:00:00:00:00:0a","port":"veth-ovs","network":"front"}`}, "", 0},
		{"fdb del vlan", []string{"fdb", "del", "02:00:00:00:00:0a", "--vlan", "10"}, "",
			[]string{"DELETE /v1/fdb/10/02:00:00:00:00:0a"}, "", 0},
		{"fdb del network", []string{"fdb", "del", "02:00:00:00:00:0a", "--network", "back"}, "",
			[]string{"GET /v1/networks/back", "DELETE /v1/fdb/101/02:00:00:00:00:0a"}, "", 0},
		{"ports", []string{"ports"}, "", []string{"GET /v1/ports"}, "veth-ovs   system   -          trunk    5      10,20,30-32", 0},
		{"port add", []string{"port", "add", "veth0", "--mode", "trunk", "--vlans", "10,20", "--native", "5"}, "",
			[]string{`POST /v1/ports {"interface":"veth0","mode":"trunk","vlans":"10,20","native":5}`}, "veth-ovs\n", 0},
		{"port set", []string{"port", "set", "veth-ovs", "--mode", "access", "--vlan", "30"}, "",
			[]string{`PATCH /v1/ports/veth-ovs {"mode":"access","vlan":30}`}, "veth-ovs\n", 0},
		{"port del", []string{"port", "del", "veth-ovs"}, "", []string{"DELETE /v1/ports/veth-ovs"}, "", 0},
		{"stats", []string{"stats"}, "", []string{"GET /v1/stats"}, "router: a=1", 0},
		{"uplink set", []string{"uplink", "set", "veth-inet", "--address", "203.0.113.2/24", "--gateway", "203.0.113.1"}, "",
			[]string{`PUT /v1/uplink {"interface":"veth-inet","address":"203.0.113.2/24","gateway":"203.0.113.1","mac":""}`},
			"veth-inet 203.0.113.2/24 via 203.0.113.1\n", 0},
		{"uplink show", []string{"uplink", "show"}, "", []string{"GET /v1/uplink"}, "interface veth-inet\n", 0},
		{"uplink del", []string{"uplink", "del"}, "", []string{"DELETE /v1/uplink"}, "", 0},
		{"conntrack list", []string{"conntrack", "list"}, "", []string{"GET /v1/conntrack"},
			"tcp  431999 ESTABLISHED src=172.18.0.2 dst=1.1.1.1 sport=40000 dport=443 packets=10 bytes=1000 " +
				"src=1.1.1.1 dst=203.0.113.2 sport=443 dport=40000 [ASSURED] zone=front reply-zone=uplink " +
				"window=[end=1101 maxend=74101 maxwin=64240 maxack=9101 wscale=7] reply-window=[end=9101 maxend=65341 maxwin=65000 maxack=1101 wscale=7]\n", 0},
		{"conntrack list filters", []string{"conntrack", "list", "-p", "TCP", "-s", "172.18.0.2", "-d", "1.1.1.1", "--port", "443",
			"--state", "established", "-w", "front"}, "",
			[]string{"GET /v1/conntrack?dst=1.1.1.1&port=443&proto=tcp&src=172.18.0.2&state=ESTABLISHED&zone=front"}, "", 0},
		{"conntrack count", []string{"conntrack", "count"}, "", []string{"GET /v1/conntrack/count"}, "1\n", 0},
		{"conntrack flush", []string{"conntrack", "flush"}, "", []string{"DELETE /v1/conntrack"}, "flushed 2 connections\n", 0},
		{"nat show", []string{"nat", "show"}, "", []string{"GET /v1/nat"}, "web        tcp     0.0.0.0:8080   172.18.0.2:80", 0},
		{"log-level get", []string{"log-level"}, "", []string{"GET /v1/log-level"}, "info\n", 0},
		{"log-level set", []string{"log-level", "debug"}, "", []string{`PUT /v1/log-level {"level":"debug"}`}, "debug\n", 0},
		{"show", []string{"show"}, "", []string{"GET /v1/networks", "GET /v1/ports", "GET /v1/endpoints", "GET /v1/uplink"}, "Network front", 0},
		{"version", []string{"version"}, "", []string{"GET /v1/version"}, "Server:\n Version:     9.9.9\n", 0},
		{"exec exit code", []string{"exec", "web", "false"}, "", []string{`POST /v1/endpoints/web/exec {"cmd":["false"]}`}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.requests()
			r := runCLI(t, f.socket, tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			var got []string
			for _, req := range f.requests() {
				got = append(got, req.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout:\n%s\nwant it to contain:\n%s", r.stdout, tt.stdout)
			}
		})
	}
}

// TestRunGeneratesName: run without --name makes up a docker-like name,
// prints it with -d, and tries another when the name is taken.
func TestRunGeneratesName(t *testing.T) {
	f := newFakeDaemon(t)
	r := runCLI(t, f.socket, "", "run", "-d")
	reqs := f.requests()
	if r.code != 0 || len(reqs) != 1 {
		t.Fatalf("run -d: %+v, requests %v", r, reqs)
	}
	var body control.Run
	json.Unmarshal([]byte(reqs[0].Body), &body)
	valid := regexp.MustCompile(`^[a-z]+_[a-z_]+$`)
	if !valid.MatchString(body.Name) || len(body.Name) > 63 || r.stdout != body.Name+"\n" {
		t.Errorf("run -d sent name %q, printed %q; want a made-up name, printed", body.Name, r.stdout)
	}

	f.set(func(f *fakeDaemon) {
		f.fail["POST /v1/endpoints"] = control.APIError{Status: 409, Message: "endpoint exists"}
	})
	r = runCLI(t, f.socket, "", "run", "-d")
	if n := len(f.requests()); r.code != 1 || n != 3 {
		t.Errorf("run -d with every name taken: exit %d after %d requests, want 1 after 3", r.code, n)
	}
	r = runCLI(t, f.socket, "", "run", "-d", "--name", "taken")
	if n := len(f.requests()); r.code != 1 || n != 1 {
		t.Errorf("run -d --name taken: exit %d after %d requests, want 1 after 1", r.code, n)
	}
}

// TestExitCodes: run and exec exit with the command's status, 127 when the
// daemon says the executable does not exist, 126 when it may not be run,
// and print one Error line for those.
func TestExitCodes(t *testing.T) {
	f := newFakeDaemon(t)
	notFound := `exec: "nosuch": executable file not found in $PATH`
	tests := []struct {
		name    string
		args    []string
		setup   func(f *fakeDaemon)
		code    int
		message string // in the Error line; "" for none
	}{
		{"run -d not found", []string{"run", "-d", "--name", "x", "nosuch"}, func(f *fakeDaemon) {
			f.fail["POST /v1/endpoints"] = control.APIError{Status: 400, Message: notFound}
		}, 127, "executable file not found"},
		{"run -d permission denied", []string{"run", "-d", "--name", "x", "/etc/passwd"}, func(f *fakeDaemon) {
			f.fail["POST /v1/endpoints"] = control.APIError{Status: 400, Message: `exec: "/etc/passwd": permission denied`}
		}, 126, "permission denied"},
		{"run -d other error", []string{"run", "-d", "--name", "x", "true"}, func(f *fakeDaemon) {
			f.fail["POST /v1/endpoints"] = control.APIError{Status: 409, Message: "endpoint x exists"}
		}, 1, "endpoint x exists"},
		{"run attached not found before upgrade", []string{"run", "--name", "x", "nosuch"}, func(f *fakeDaemon) {
			f.fail["POST /v1/endpoints"] = control.APIError{Status: 400, Message: notFound}
		}, 127, "executable file not found"},
		{"run attached not found in stream", []string{"run", "--name", "x", "nosuch"}, func(f *fakeDaemon) {
			f.execErr = notFound
		}, 127, "executable file not found"},
		{"exec not found", []string{"exec", "web", "nosuch"}, func(f *fakeDaemon) { f.execErr = notFound }, 127, "not found in $PATH"},
		{"exec -d not found", []string{"exec", "-d", "web", "nosuch"}, func(f *fakeDaemon) { f.execErr = notFound }, 127, "not found"},
		{"exec permission denied", []string{"exec", "web", "./x"}, func(f *fakeDaemon) {
			f.execErr = `fork/exec ./x: permission denied`
		}, 126, "permission denied"},
		{"exec status", []string{"exec", "web", "sh", "-c", "exit 3"}, func(f *fakeDaemon) { f.execExit = 3 }, 3, ""},
		{"run status", []string{"run", "--rm", "--name", "x", "false"}, func(f *fakeDaemon) { f.execExit = 1 }, 1, ""},
		{"start not found", []string{"start", "web"}, func(f *fakeDaemon) {
			f.fail["POST /v1/endpoints/web/start"] = control.APIError{Status: 400, Message: notFound}
		}, 127, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(func(f *fakeDaemon) {
				f.fail = map[string]control.APIError{}
				f.execErr, f.execExit = "", 0
				tt.setup(f)
			})
			r := runCLI(t, f.socket, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if tt.message == "" {
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
				return
			}
			oneErrorLine(t, tt.args, r)
			if !strings.Contains(r.stderr, tt.message) {
				t.Errorf("stderr %q, want %q", r.stderr, tt.message)
			}
		})
	}
}

// TestNoDaemon: a command that needs the daemon fails with one line
// naming the socket.
func TestNoDaemon(t *testing.T) {
	socket := noDaemon(t)
	for _, args := range [][]string{{"ps"}, {"run", "-d", "--name", "x", "nosuch"}, {"exec", "web", "nosuch"}, {"show"}} {
		r := runCLI(t, socket, "", args...)
		oneErrorLine(t, args, r)
		if r.code != 1 || !strings.Contains(r.stderr, socket) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and the socket named", args, r.code, r.stderr)
		}
	}
}

// TestVersion: client and server sections; without a daemon the client's,
// then one Error line.
func TestVersion(t *testing.T) {
	f := newFakeDaemon(t)
	r := runCLI(t, f.socket, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Client:\n Version:     0.") ||
		!strings.Contains(r.stdout, "\nServer:\n Version:     9.9.9\n API version: v1\n Commit:      0123456789ab\n Go version:  go1.26.8\n") {
		t.Errorf("version: %+v", r)
	}
	r = runCLI(t, noDaemon(t), "", "version")
	oneErrorLine(t, []string{"version"}, r)
	if !strings.HasPrefix(r.stdout, "Client:\n") || strings.Contains(r.stdout, "Server:") {
		t.Errorf("version without a daemon: stdout %q, want the client's part only", r.stdout)
	}
	r = runCLI(t, noDaemon(t), "", "version", "--json")
	oneErrorLine(t, []string{"version", "--json"}, r)
	var v versions
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Server != nil || v.Client.Version == "" || v.Client.Commit == "" {
		t.Errorf("version --json without a daemon: %q (%v), want the client's and a null server", r.stdout, err)
	}
}

// TestInspect: several names, one unknown: the found ones are printed,
// then one Error line, exit 1, as docker inspect does.
func TestInspect(t *testing.T) {
	f := newFakeDaemon(t)
	r := runCLI(t, f.socket, "", "inspect", "web", "nosuch", "job")
	oneErrorLine(t, []string{"inspect"}, r)
	if !strings.Contains(r.stderr, `no such endpoint "nosuch"`) {
		t.Errorf("stderr %q, want the daemon's message", r.stderr)
	}
	var es []control.Endpoint
	if err := json.Unmarshal([]byte(r.stdout), &es); err != nil || len(es) != 2 || es[0].Name != "web" || es[1].Name != "job" {
		t.Errorf("stdout %q (%v), want web and job", r.stdout, err)
	}

	r = runCLI(t, f.socket, "", "inspect", "nosuch")
	oneErrorLine(t, []string{"inspect", "nosuch"}, r)
	if r.stdout != "[]\n" {
		t.Errorf("inspect nosuch: stdout %q, want []", r.stdout)
	}

	r = runCLI(t, f.socket, "", "inspect", "--format", "{{.Name}} {{.State}} {{(index .NICs 0).IP}} {{json .Cmd}}", "web", "job")
	if want := "web running 172.18.0.2 [\"httpd\",\"-f\",\"-p\",\"80\"]\njob exited 172.19.0.2 [\"sh\",\"-c\",\"exit 3\"]\n"; r.code != 0 || r.stdout != want {
		t.Errorf("inspect --format: %+v, want %q", r, want)
	}
	r = runCLI(t, f.socket, "", "inspect", "--format", "json", "web")
	var e control.Endpoint
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.Name != "web" || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("inspect --format json: %q (%v), want one line", r.stdout, err)
	}
	r = runCLI(t, f.socket, "", "inspect", "--format", "{{.Nope}}", "web")
	oneErrorLine(t, []string{"inspect", "--format"}, r)
}

// TestRmSeveral: each failure is its own Error line; the rest go on.
func TestRmSeveral(t *testing.T) {
	f := newFakeDaemon(t)
	r := runCLI(t, f.socket, "", "rm", "x", "web", "y")
	if r.code != 1 || r.stdout != "web\n" || strings.Count(r.stderr, "Error: ") != 2 || strings.Count(r.stderr, "\n") != 2 {
		t.Errorf("rm x web y: %+v, want web removed and two Error lines", r)
	}
}

// TestUplinkNone: no uplink is a state: "no uplink" or null, exit 0.
func TestUplinkNone(t *testing.T) {
	f := newFakeDaemon(t)
	f.set(func(f *fakeDaemon) { f.uplink = nil })
	if r := runCLI(t, f.socket, "", "uplink", "show", "--json"); r.code != 0 || r.stdout != "null\n" || r.stderr != "" {
		t.Errorf("uplink show --json: %+v, want null", r)
	}
	if r := runCLI(t, f.socket, "", "uplink", "show"); r.code != 0 || r.stdout != "no uplink\n" || r.stderr != "" {
		t.Errorf("uplink show: %+v, want no uplink", r)
	}
	r := runCLI(t, f.socket, "", "show", "--json")
	var o map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || string(o["uplink"]) != "null" {
		t.Errorf("show --json: %q (%v), want uplink null", r.stdout, err)
	}
	if r := runCLI(t, f.socket, "", "show"); r.code != 0 || !strings.Contains(r.stdout, "Uplink: none\n") {
		t.Errorf("show: %+v", r)
	}
	f.set(func(f *fakeDaemon) { f.fail["GET /v1/uplink"] = control.APIError{Status: 500, Message: "boom"} })
	r = runCLI(t, f.socket, "", "uplink", "show", "--json")
	oneErrorLine(t, []string{"uplink", "show"}, r)
}

// TestNetworkPrune: without -f, prune asks on a terminal, and refuses when
// stdin is not one.
func TestNetworkPrune(t *testing.T) {
	f := newFakeDaemon(t)
	run := func(stdin string, terminal bool, args ...string) result {
		return runCLITerm(t, f.socket, stdin, terminal, append([]string{"network", "prune"}, args...)...)
	}
	r := run("", false)
	oneErrorLine(t, []string{"network", "prune"}, r)
	if n := len(f.requests()); n != 0 {
		t.Errorf("prune without -f, not a terminal: %d requests, want none", n)
	}
	r = run("n\n", true)
	if r.code != 0 || r.stdout != pruneWarning || len(f.requests()) != 0 {
		t.Errorf("prune answered n: %+v, want the question and no request", r)
	}
	r = run("y\n", true)
	if r.code != 0 || r.stdout != pruneWarning+"Deleted Networks:\nold1\nold2\n" || len(f.requests()) != 1 {
		t.Errorf("prune answered y: %+v", r)
	}
	r = run("", false, "--force", "--json")
	if r.code != 0 || r.stdout != "{\n  \"removed\": [\n    \"old1\",\n    \"old2\"\n  ]\n}\n" {
		t.Errorf("prune -f --json: %+v", r)
	}
	f.set(func(f *fakeDaemon) { f.pruned = nil })
	if r = run("", false, "-f"); r.code != 0 || r.stdout != "" {
		t.Errorf("prune -f with nothing to remove: %+v, want no output", r)
	}
	if r = run("", false, "-f", "--json"); r.code != 0 || r.stdout != "{\n  \"removed\": []\n}\n" {
		t.Errorf("prune -f --json with nothing to remove: %+v", r)
	}
}

// TestShow: the overview names each network with its endpoints, each port
// with its endpoint's state and VLANs, and the uplink.
func TestShow(t *testing.T) {
	f := newFakeDaemon(t)
	r := runCLI(t, f.socket, "", "show")
	want := `Network front
    vlan: 100, subnet: 172.18.0.0/16, gateway: 172.18.0.1 (02:76:73:00:00:01), internal
    Endpoint web
        eth0: 172.18.0.2 02:42:ac:12:00:02, aliases: www
Network back
    vlan: 101, subnet: 172.19.0.0/16, gateway: 172.19.0.1 (02:76:73:00:00:02), icc: false
    Endpoint job
        eth0: 172.19.0.2 02:42:ac:13:00:02
Port web/eth0
    kind: tap, endpoint: web (running), mode: access, vlan: 100
Port veth-ovs
    kind: system, mode: trunk, vlan: 5, vlans: 10,20,30-32
Port veth-all
    kind: system, mode: trunk, vlans: all
Uplink veth-inet
    address: 203.0.113.2/24, gateway: 203.0.113.1, mac: 02:00:00:00:00:09
`
	if r.code != 0 {
		t.Fatalf("show: %+v", r)
	}
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("show (-want +got):\n%s", diff)
	}
}

// TestVLANList: VLAN lists print as ranges.
func TestVLANList(t *testing.T) {
	for _, tt := range []struct {
		in   []int
		want string
	}{
		{nil, ""}, {[]int{5}, "5"}, {[]int{1, 2}, "1-2"}, {[]int{30, 10, 11, 12, 20, 10}, "10-12,20,30"}, {[]int{1, 3, 5}, "1,3,5"},
	} {
		if got := vlanList(tt.in); got != tt.want {
			t.Errorf("vlanList(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
