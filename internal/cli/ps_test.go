package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
)

// The fake's endpoints: web (running, front and back), job (exited, back),
// pause (no command, front), flaky (restarting, front).

// TestPsSelection: without -a, running and restarting endpoints and those
// without a command; filters as docker's.
func TestPsSelection(t *testing.T) {
	f := newFakeDaemon(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ps", "-q"}, "web pause flaky"},
		{[]string{"ps", "-qa"}, "web job pause flaky"},
		{[]string{"ps", "-q", "--filter", "status=exited"}, "job"},
		{[]string{"ps", "-q", "--filter", "status=exited", "--filter", "status=running"}, "web job"},
		{[]string{"ps", "-q", "--filter", "status=exited,status=created"}, "job pause"},
		{[]string{"ps", "-q", "--filter", "name=a"}, "pause flaky"},
		{[]string{"ps", "-qa", "--filter", "name=o"}, "job"},
		{[]string{"ps", "-q", "--filter", "name=nosuch"}, ""},
		{[]string{"ps", "-qa", "--filter", "network=back"}, "web job"},
		{[]string{"ps", "-q", "--filter", "network=back"}, "web"},
		{[]string{"ps", "-qa", "--filter", "network=back", "--filter", "name=j"}, "job"},
		{[]string{"ps", "-qa", "--filter", "network=front,network=back"}, "web job pause flaky"},
		{[]string{"ps", "-q", "--filter", "status=restarting"}, "flaky"},
	}
	for _, tt := range tests {
		r := runCLI(t, f.socket, "", tt.args...)
		if got := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 || got != tt.want {
			t.Errorf("%q: %q (exit %d, %q), want %q", tt.args, got, r.code, r.stderr, tt.want)
		}
	}
	r := runCLI(t, f.socket, "", "ps", "--json", "--filter", "status=exited")
	var es []control.Endpoint
	if err := json.Unmarshal([]byte(r.stdout), &es); err != nil || len(es) != 1 || es[0].Name != "job" {
		t.Errorf("ps --json --filter status=exited: %q (%v)", r.stdout, err)
	}
}

// TestPsFormat: the default table, templates, table templates and json.
func TestPsFormat(t *testing.T) {
	f := newFakeDaemon(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default table", []string{"ps", "--filter", "name=web"},
			"NAME   STATUS      NETWORKS     IPS                     PORTS                                                      COMMAND\n" +
				"web    Up 1 hour   front,back   172.18.0.2,172.19.0.3   0.0.0.0:8080->80/tcp, 127.0.0.1:5000-5002->6000-6002/udp   httpd -f -p 80\n"},
		{"template", []string{"ps", "-a", "--format", "{{.Name}} {{.IP}}"},
			"web 172.18.0.2\njob 172.19.0.2\npause 172.18.0.4\nflaky 172.18.0.5\n"},
		{"table template", []string{"ps", "--format", `table {{.Name}}\t{{.IP}}\t{{.State}}`},
			"NAME    IP           STATE\nweb     172.18.0.2   running\npause   172.18.0.4   created\nflaky   172.18.0.5   restarting\n"},
		{"table directive", []string{"ps", "--format", "table", "--filter", "name=pause"},
			"NAME    STATUS      NETWORKS   IPS          PORTS   COMMAND\npause   Up 1 hour   front      172.18.0.4           \n"},
		{"every field", []string{"ps", "-a", "--filter", "name=job", "--format",
			"{{.Name}}|{{.Status}}|{{.State}}|{{.IP}}|{{.IPs}}|{{.Networks}}|{{.Ports}}|{{.Command}}|{{.Created}}|{{.RunningFor}}|{{.PID}}|{{.ExitCode}}|{{.Hostname}}"},
			"job|Exited (3) 5 minutes ago|exited|172.19.0.2|172.19.0.2|back||sh -c 'exit 3'|2025-06-01 11:00:00 +0000 UTC|About an hour ago|0|3|\n"},
		{"functions", []string{"ps", "--filter", "name=web", "--format", `{{upper .Name}} {{join (split .Networks ",") "+"}} {{json .PID}} {{truncate .Command 5}}`},
			"WEB front+back \"42\" httpd\n"},
		{"ports", []string{"ps", "--filter", "name=web", "--format", "{{.Ports}}"},
			"0.0.0.0:8080->80/tcp, 127.0.0.1:5000-5002->6000-6002/udp\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f.socket, "", tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if diff := cmp.Diff(tt.want, r.stdout); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.args, diff)
			}
		})
	}

	r := runCLI(t, f.socket, "", "ps", "--format", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("ps --format json: %d lines, want 3:\n%s", len(lines), r.stdout)
	}
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	var row psRow
	if err := dec.Decode(&row); err != nil || row.Name != "web" || row.IP != "172.18.0.2" || row.PID != "42" {
		t.Errorf("ps --format json: %q (%v)", lines[0], err)
	}

	for _, bad := range []string{"{{.Name", "{{.Nope}}", "table {{.Nope}}"} {
		r := runCLI(t, f.socket, "", "ps", "--format", bad)
		oneErrorLine(t, []string{"ps", "--format", bad}, r)
	}
}

// TestPsTruncate: long commands are cut unless --no-trunc.
func TestPsTruncate(t *testing.T) {
	f := newFakeDaemon(t)
	long := []string{"sh", "-c", strings.Repeat("x", 60)}
	f.set(func(f *fakeDaemon) { f.endpoints[0].Cmd = long })
	r := runCLI(t, f.socket, "", "ps", "--filter", "name=web", "--format", "{{.Command}}")
	if got := strings.TrimSpace(r.stdout); len([]rune(got)) != maxCommand || !strings.HasSuffix(got, "…") {
		t.Errorf("ps: command %q, want %d characters ending in …", got, maxCommand)
	}
	r = runCLI(t, f.socket, "", "ps", "--no-trunc", "--filter", "name=web", "--format", "{{.Command}}")
	if got, want := strings.TrimSpace(r.stdout), quoteCmd(long); got != want {
		t.Errorf("ps --no-trunc: %q, want %q", got, want)
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"}, {time.Second, "1 second"}, {42 * time.Second, "42 seconds"},
		{time.Minute + 10*time.Second, "About a minute"}, {5 * time.Minute, "5 minutes"}, {time.Hour, "About an hour"},
		{3 * time.Hour, "3 hours"}, {3 * 24 * time.Hour, "3 days"}, {3 * 7 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"}, {3 * 365 * 24 * time.Hour, "3 years"},
	} {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
