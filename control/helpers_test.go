package control_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vswitchd/vswitchd/control"
)

// call is one Backend method call the fake recorded.
type call struct {
	Method string
	Args   []any
}

// fakeBackend answers every method with canned values, or with errs[method]
// when set, and records its calls. Run, Exec and Logs run the functions
// the test sets.
type fakeBackend struct {
	mu    sync.Mutex // guards calls
	calls []call

	errs map[string]error
	run  func(ctx context.Context, r control.Run, stdio *control.IO) (control.Endpoint, int, error)
	exec func(ctx context.Context, name string, e control.Exec, stdio *control.IO) (int, error)
	logs func(ctx context.Context, name string, follow bool, w io.Writer) error
}

var _ control.Backend = (*fakeBackend)(nil)

var created = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Canned answers.
var (
	cannedNetwork = control.Network{
		Name: "alpha", ID: 1, VLAN: 10, Subnet: "172.18.0.0/24", Gateway: "172.18.0.1", GatewayMAC: "02:00:00:00:0a:01",
		Internal: true, Created: created,
		Endpoints: []control.NetworkEndpoint{{Endpoint: "web", Interface: "eth0", MAC: "02:00:00:00:0a:02", IP: "172.18.0.2", Aliases: []string{"www"}}},
		DNSNames:  []control.DNSName{{Name: "web", IP: "172.18.0.2"}, {Name: "www", IP: "172.18.0.2"}},
	}
	exitCode       = 3
	cannedEndpoint = control.Endpoint{
		Name: "web", Netns: "vswitchd-web", Cmd: []string{"sleep", "inf"}, Status: "exited", ExitCode: &exitCode, PID: 42,
		Published: []string{"8080:80/tcp"}, Created: created,
		NICs: []control.NIC{{Interface: "eth0", Network: "alpha", MAC: "02:00:00:00:0a:02", IP: "172.18.0.2",
			Aliases: []string{"www"}, Port: "vsw-web0", Mode: "trunk", VLANs: "10,20"}},
	}
	cannedFDB  = []control.FDBEntry{{VLAN: 10, MAC: "02:00:00:00:0a:02", Port: "vsw-web0", Age: 1.5}, {VLAN: 10, MAC: "02:00:00:00:0a:01", Port: "router", Static: true}}
	cannedPort = control.Port{ID: 3, Name: "tap0", Kind: "tap", Endpoint: "web", Mode: "access", VLAN: 10, Routed: false,
		RxFrames: 5, RxBytes: 500, TxFrames: 7, TxBytes: 700, Drops: map[string]uint64{"vlan-ingress": 2}}
	cannedStats = control.Stats{
		Ports:  []control.Port{cannedPort, {ID: 4, Name: "uplink0", Kind: "system", Routed: true, RxFrames: 1}},
		Drops:  map[string]uint64{"vlan-ingress": 2},
		FDB:    map[string]uint64{"learned": 9},
		Router: map[string]uint64{"routed": 11},
		NAT:    map[string]uint64{"created": 1},
		DNS:    map[string]uint64{"queries": 4},
		Proxy:  map[string]uint64{"accepted": 0},
	}
	cannedUplink = control.Uplink{Interface: "eth0", Address: "198.51.100.7/24", Gateway: "198.51.100.1", MAC: "02:00:00:00:ff:01"}
	cannedConns  = []control.Conn{{Proto: "tcp", State: "ESTABLISHED", Timeout: 432000, Zone: 1, ReplyZone: 65521,
		Orig:    control.Tuple{Src: "172.18.0.2", Dst: "203.0.113.9", SrcPort: 40000, DstPort: 443},
		Reply:   control.Tuple{Src: "203.0.113.9", Dst: "198.51.100.7", SrcPort: 443, DstPort: 40000},
		Assured: true, Packets: 10, Bytes: 1000}}
	cannedNAT = control.NATRules{
		Masquerade: []control.Masquerade{{Network: "alpha", Subnet: "172.18.0.0/24", To: "198.51.100.7"}, {Network: "gamma", Subnet: "172.20.0.0/24", Reason: "internal"}},
		Published:  []control.Published{{Endpoint: "web", Proto: "tcp", HostIP: "0.0.0.0", HostPort: "8080-8089", Target: "172.18.0.2", ContPort: "80-89"}},
	}
)

func (b *fakeBackend) record(method string, args ...any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call{Method: method, Args: args})
	return b.errs[method]
}

// takeCalls returns the calls recorded so far and forgets them.
func (b *fakeBackend) takeCalls() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.calls
	b.calls = nil
	return c
}

func (b *fakeBackend) Version() control.Version {
	b.record("Version")
	return control.Version{API: control.APIVersion, Version: "1.2.3-test"}
}

func (b *fakeBackend) CreateNetwork(r control.NetworkCreate) (control.Network, error) {
	if err := b.record("CreateNetwork", r); err != nil {
		return control.Network{}, err
	}
	return cannedNetwork, nil
}

func (b *fakeBackend) Networks() []control.Network {
	b.record("Networks")
	return []control.Network{cannedNetwork, {Name: "empty", Created: created}}
}

func (b *fakeBackend) Network(name string) (control.Network, error) {
	if err := b.record("Network", name); err != nil {
		return control.Network{}, err
	}
	n := cannedNetwork
	n.Name = name
	return n, nil
}

func (b *fakeBackend) RemoveNetwork(name string, force bool) error {
	return b.record("RemoveNetwork", name, force)
}

func (b *fakeBackend) Connect(network string, c control.Connect) error {
	return b.record("Connect", network, c)
}

func (b *fakeBackend) Disconnect(network string, d control.Disconnect) error {
	return b.record("Disconnect", network, d)
}

func (b *fakeBackend) Run(ctx context.Context, r control.Run, stdio *control.IO) (control.Endpoint, int, error) {
	if err := b.record("Run", r, stdio != nil); err != nil {
		return control.Endpoint{}, 0, err
	}
	if b.run != nil {
		return b.run(ctx, r, stdio)
	}
	return cannedEndpoint, 0, nil
}

func (b *fakeBackend) Endpoints() []control.Endpoint {
	b.record("Endpoints")
	return []control.Endpoint{cannedEndpoint}
}

func (b *fakeBackend) Endpoint(name string) (control.Endpoint, error) {
	if err := b.record("Endpoint", name); err != nil {
		return control.Endpoint{}, err
	}
	if name == "missing" {
		return control.Endpoint{}, control.Errorf(control.ErrNotFound, "no endpoint %q", name)
	}
	e := cannedEndpoint
	e.Name = name
	return e, nil
}

func (b *fakeBackend) RemoveEndpoint(name string, force bool) error {
	return b.record("RemoveEndpoint", name, force)
}

func (b *fakeBackend) Exec(ctx context.Context, name string, e control.Exec, stdio *control.IO) (int, error) {
	if err := b.record("Exec", name, e); err != nil {
		return 0, err
	}
	if b.exec != nil {
		return b.exec(ctx, name, e, stdio)
	}
	return 0, nil
}

func (b *fakeBackend) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	if err := b.record("Logs", name, follow); err != nil {
		return err
	}
	if b.logs != nil {
		return b.logs(ctx, name, follow, w)
	}
	_, err := io.WriteString(w, "line 1\nline 2\n")
	return err
}

func (b *fakeBackend) Publish(name, spec string) error   { return b.record("Publish", name, spec) }
func (b *fakeBackend) Unpublish(name, spec string) error { return b.record("Unpublish", name, spec) }

func (b *fakeBackend) FDB() []control.FDBEntry {
	b.record("FDB")
	return cannedFDB
}

func (b *fakeBackend) FlushFDB() int {
	b.record("FlushFDB")
	return 17
}

func (b *fakeBackend) Ports() []control.Port {
	b.record("Ports")
	return []control.Port{cannedPort}
}

func (b *fakeBackend) AddPort(r control.PortAdd) (control.Port, error) {
	if err := b.record("AddPort", r); err != nil {
		return control.Port{}, err
	}
	return cannedPort, nil
}

func (b *fakeBackend) RemovePort(name string) error { return b.record("RemovePort", name) }

func (b *fakeBackend) Stats() control.Stats {
	b.record("Stats")
	return cannedStats
}

func (b *fakeBackend) Uplink() (control.Uplink, bool) {
	if err := b.record("Uplink"); err != nil {
		return control.Uplink{}, false
	}
	return cannedUplink, true
}

func (b *fakeBackend) SetUplink(u control.Uplink) (control.Uplink, error) {
	if err := b.record("SetUplink", u); err != nil {
		return control.Uplink{}, err
	}
	u.MAC = cannedUplink.MAC
	return u, nil
}

func (b *fakeBackend) RemoveUplink() error { return b.record("RemoveUplink") }

func (b *fakeBackend) Conntrack() []control.Conn {
	b.record("Conntrack")
	return cannedConns
}

func (b *fakeBackend) FlushConntrack() int {
	b.record("FlushConntrack")
	return 5
}

func (b *fakeBackend) NAT() control.NATRules {
	b.record("NAT")
	return cannedNAT
}

// serve serves b's API on a Unix socket in a temporary directory until the
// test ends, and returns a client for it and the socket's path.
func serve(t *testing.T, b control.Backend) (*control.Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vswitchd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: control.NewServer(b, nil).Handler()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	})
	return control.NewClient(sock), sock
}

// rawClient returns an HTTP client that dials sock.
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// waitGone waits up to 5 s until no goroutine's stack mentions fn, and
// fails the test with those stacks otherwise.
func waitGone(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left [][]byte
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte(fn)) {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of %s still running:\n%s", len(left), fn, bytes.Join(left, []byte("\n\n")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
