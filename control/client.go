package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client talks to a vswitchd over its Unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening at socket ("" means
// $VSWITCHD_SOCKET, else DefaultSocket).
func NewClient(socket string) *Client {
	if socket == "" {
		socket = os.Getenv(SocketEnv)
	}
	if socket == "" {
		socket = DefaultSocket
	}
	c := &Client{socket: socket}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.dial(ctx)
		},
	}}
	return c
}

// Socket returns the socket path the client uses.
func (c *Client) Socket() string { return c.socket }

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("connect to vswitchd at %s (is it running? set --socket or %s): %w", c.socket, SocketEnv, err)
	}
	return conn, nil
}

// APIError is an error answer from the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrNotFound) and friends work on client errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vswitchd/"+APIVersion+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	if s, ok := out.(streamDecoder); ok {
		err = s.decodeFrom(dec)
	} else {
		err = dec.Decode(out)
	}
	if err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// streamDecoder is an answer decoded as it arrives.
type streamDecoder interface{ decodeFrom(*json.Decoder) error }

// eachOf decodes a JSON array element by element, calling itself with
// each; memory stays one element whatever the array's length.
type eachOf[T any] func(T) error

func (f eachOf[T]) decodeFrom(dec *json.Decoder) error {
	t, err := dec.Token()
	switch {
	case err != nil:
		return err
	case t == nil:
		return nil // null: an empty list
	case t != json.Delim('['):
		return fmt.Errorf("want a JSON array, got %v", t)
	}
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := f(v); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func decodeError(resp *http.Response) error {
	var e apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return &APIError{Status: resp.StatusCode, Message: e.Message}
}

// Version asks the daemon's version.
func (c *Client) Version(ctx context.Context) (v Version, err error) {
	err = c.do(ctx, "GET", "/version", nil, &v)
	return v, err
}

// CreateNetwork creates a network.
func (c *Client) CreateNetwork(ctx context.Context, r NetworkCreate) (n Network, err error) {
	err = c.do(ctx, "POST", "/networks", r, &n)
	return n, err
}

// Networks lists networks.
func (c *Client) Networks(ctx context.Context) (ns []Network, err error) {
	err = c.do(ctx, "GET", "/networks", nil, &ns)
	return ns, err
}

// Network describes one network.
func (c *Client) Network(ctx context.Context, name string) (n Network, err error) {
	err = c.do(ctx, "GET", "/networks/"+url.PathEscape(name), nil, &n)
	return n, err
}

// RemoveNetwork removes a network.
func (c *Client) RemoveNetwork(ctx context.Context, name string, force bool) error {
	return c.do(ctx, "DELETE", "/networks/"+url.PathEscape(name)+query("force", force), nil, nil)
}

// Connect attaches an endpoint to a network.
func (c *Client) Connect(ctx context.Context, network string, r Connect) error {
	return c.do(ctx, "POST", "/networks/"+url.PathEscape(network)+"/connect", r, nil)
}

// Disconnect detaches an endpoint from a network.
func (c *Client) Disconnect(ctx context.Context, network string, r Disconnect) error {
	return c.do(ctx, "POST", "/networks/"+url.PathEscape(network)+"/disconnect", r, nil)
}

// Run creates an endpoint and starts its command detached.
func (c *Client) Run(ctx context.Context, r Run) (e Endpoint, err error) {
	err = c.do(ctx, "POST", "/endpoints", r, &e)
	return e, err
}

// RunAttached creates an endpoint and runs its command attached to stdio;
// it returns the command's exit code.
func (c *Client) RunAttached(ctx context.Context, r Run, stdio *IO) (int, error) {
	return c.attach(ctx, "/endpoints?attach=1", r, stdio)
}

// Endpoints lists endpoints.
func (c *Client) Endpoints(ctx context.Context) (es []Endpoint, err error) {
	err = c.do(ctx, "GET", "/endpoints", nil, &es)
	return es, err
}

// Endpoint describes one endpoint.
func (c *Client) Endpoint(ctx context.Context, name string) (e Endpoint, err error) {
	err = c.do(ctx, "GET", "/endpoints/"+url.PathEscape(name), nil, &e)
	return e, err
}

// RemoveEndpoint removes an endpoint.
func (c *Client) RemoveEndpoint(ctx context.Context, name string, force bool) error {
	return c.do(ctx, "DELETE", "/endpoints/"+url.PathEscape(name)+query("force", force), nil, nil)
}

// Exec runs a command in an endpoint attached to stdio and returns its exit
// code.
func (c *Client) Exec(ctx context.Context, name string, r Exec, stdio *IO) (int, error) {
	return c.attach(ctx, "/endpoints/"+url.PathEscape(name)+"/exec", r, stdio)
}

// LogOptions select what Logs shows.
type LogOptions struct {
	Follow     bool // keep streaming until the command exits or ctx ends
	Tail       int  // only the last Tail lines; 0: all
	Timestamps bool // prefix each line with its RFC 3339 time
}

// Logs copies an endpoint's output to w, following it if asked.
func (c *Client) Logs(ctx context.Context, name string, follow bool, w io.Writer) error {
	return c.LogsWith(ctx, name, LogOptions{Follow: follow}, w)
}

// LogsWith copies an endpoint's output to w as o says.
func (c *Client) LogsWith(ctx context.Context, name string, o LogOptions, w io.Writer) error {
	v := url.Values{}
	if o.Follow {
		v.Set("follow", "1")
	}
	if o.Tail > 0 {
		v.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Timestamps {
		v.Set("timestamps", "1")
	}
	path := "http://vswitchd/" + APIVersion + "/endpoints/" + url.PathEscape(name) + "/logs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// ExecDetached starts a command in an endpoint in the background (docker
// exec -d) and returns at once; its output is discarded.
func (c *Client) ExecDetached(ctx context.Context, name string, r Exec) error {
	r.Detach = true
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/exec", r, nil)
}

// Stop stops an endpoint's command (SIGTERM, then SIGKILL after timeout
// seconds; 0: at once; negative: the daemon's default); the endpoint
// stays, exited.
func (c *Client) Stop(ctx context.Context, name string, timeout int) error {
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/stop", stopBody(timeout), nil)
}

// stopBody is the body of stop and restart: a negative timeout is absent.
func stopBody(timeout int) Stop {
	if timeout < 0 {
		return Stop{}
	}
	return Stop{Timeout: &timeout}
}

// Start runs an endpoint's command again.
func (c *Client) Start(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/start", struct{}{}, nil)
}

// Restart stops an endpoint's command and runs it again (timeout as for
// Stop).
func (c *Client) Restart(ctx context.Context, name string, timeout int) error {
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/restart", stopBody(timeout), nil)
}

// Kill sends a signal to an endpoint's command.
func (c *Client) Kill(ctx context.Context, name, signal string) error {
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/kill", Kill{Signal: signal}, nil)
}

// Top lists the processes in an endpoint.
func (c *Client) Top(ctx context.Context, name string) (t Top, err error) {
	err = c.do(ctx, "GET", "/endpoints/"+url.PathEscape(name)+"/top", nil, &t)
	return t, err
}

// PruneNetworks removes every network without endpoints but the default
// one, and returns their names.
func (c *Client) PruneNetworks(ctx context.Context) (p NetworkPrune, err error) {
	err = c.do(ctx, "POST", "/networks/prune", struct{}{}, &p)
	return p, err
}

// Reset removes every endpoint, static MAC entry, system port, the uplink
// and every network but the default one, leaving the daemon running.
func (c *Client) Reset(ctx context.Context) (r SystemReset, err error) {
	err = c.do(ctx, "POST", "/system/reset", struct{}{}, &r)
	return r, err
}

// AddFDB adds a static MAC table entry.
func (c *Client) AddFDB(ctx context.Context, r FDBAdd) (e FDBEntry, err error) {
	err = c.do(ctx, "POST", "/fdb", r, &e)
	return e, err
}

// AddPeer adds a peer VTEP to overlay network name.
func (c *Client) AddPeer(ctx context.Context, name, peer string) error {
	return c.do(ctx, "POST", "/networks/"+url.PathEscape(name)+"/peers", Peer{Peer: peer}, nil)
}

// DeletePeer removes a peer VTEP from overlay network name.
func (c *Client) DeletePeer(ctx context.Context, name, peer string) error {
	return c.do(ctx, "DELETE", "/networks/"+url.PathEscape(name)+"/peers/"+url.PathEscape(peer), nil, nil)
}

// DeleteFDB removes the static entry of mac in VLAN vlan.
func (c *Client) DeleteFDB(ctx context.Context, vlan int, mac string) error {
	return c.do(ctx, "DELETE", "/fdb/"+strconv.Itoa(vlan)+"/"+url.PathEscape(mac), nil, nil)
}

// SetPort changes a system port's VLAN configuration live.
func (c *Client) SetPort(ctx context.Context, name string, r PortSet) (p Port, err error) {
	err = c.do(ctx, "PATCH", "/ports/"+url.PathEscape(name), r, &p)
	return p, err
}

// ConntrackFilter selects connections, as conntrack -L's options do.
// Empty fields match everything.
type ConntrackFilter struct {
	Proto string // tcp, udp, icmp
	Src   string // an address of either tuple's source
	Dst   string // an address of either tuple's destination
	Port  int    // a port of either tuple
	State string // a TCP state (ESTABLISHED…)
	Zone  string // a zone name (a network, host, uplink)
}

func (f ConntrackFilter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"proto": f.Proto, "src": f.Src, "dst": f.Dst, "state": f.State, "zone": f.Zone} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Port != 0 {
		v.Set("port", strconv.Itoa(f.Port))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// ConntrackWith lists the connections f selects.
func (c *Client) ConntrackWith(ctx context.Context, f ConntrackFilter) (cs []Conn, err error) {
	err = c.do(ctx, "GET", "/conntrack"+f.query(), nil, &cs)
	return cs, err
}

// ConntrackEach calls each with the connections f selects as they
// arrive: the daemon streams the listing, and neither side holds it
// whole. An error from each stops the listing and is returned.
func (c *Client) ConntrackEach(ctx context.Context, f ConntrackFilter, each func(Conn) error) error {
	return c.do(ctx, "GET", "/conntrack"+f.query(), nil, eachOf[Conn](each))
}

// ConntrackCount returns the number of connections and the table's size.
func (c *Client) ConntrackCount(ctx context.Context) (n ConntrackCount, err error) {
	err = c.do(ctx, "GET", "/conntrack/count", nil, &n)
	return n, err
}

// SetLogLevel changes the daemon's log level at run time.
func (c *Client) SetLogLevel(ctx context.Context, level string) (l LogLevel, err error) {
	err = c.do(ctx, "PUT", "/log-level", LogLevel{Level: level}, &l)
	return l, err
}

// GetLogLevel returns the daemon's log level.
func (c *Client) GetLogLevel(ctx context.Context) (l LogLevel, err error) {
	err = c.do(ctx, "GET", "/log-level", nil, &l)
	return l, err
}

// Publish publishes a port of an endpoint and returns it as published (a
// spec without a host port gets a free one).
func (c *Client) Publish(ctx context.Context, name, spec string) (p PortMap, err error) {
	err = c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/publish", PublishRequest{Spec: spec}, &p)
	return p, err
}

// Unpublish removes a published port.
func (c *Client) Unpublish(ctx context.Context, name, spec string) error {
	return c.do(ctx, "POST", "/endpoints/"+url.PathEscape(name)+"/unpublish", PublishRequest{Spec: spec}, nil)
}

// FDB lists the MAC table.
func (c *Client) FDB(ctx context.Context) (es []FDBEntry, err error) {
	err = c.do(ctx, "GET", "/fdb", nil, &es)
	return es, err
}

// FlushFDB removes all learned MACs and returns how many.
func (c *Client) FlushFDB(ctx context.Context) (int, error) {
	var out map[string]int
	err := c.do(ctx, "DELETE", "/fdb", nil, &out)
	return out["flushed"], err
}

// Ports lists the switch ports.
func (c *Client) Ports(ctx context.Context) (ps []Port, err error) {
	err = c.do(ctx, "GET", "/ports", nil, &ps)
	return ps, err
}

// AddPort attaches an existing interface.
func (c *Client) AddPort(ctx context.Context, r PortAdd) (p Port, err error) {
	err = c.do(ctx, "POST", "/ports", r, &p)
	return p, err
}

// RemovePort detaches a system port.
func (c *Client) RemovePort(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/ports/"+url.PathEscape(name), nil, nil)
}

// Stats returns all counters.
func (c *Client) Stats(ctx context.Context) (s Stats, err error) {
	err = c.do(ctx, "GET", "/stats", nil, &s)
	return s, err
}

// Uplink returns the uplink.
func (c *Client) Uplink(ctx context.Context) (u Uplink, err error) {
	err = c.do(ctx, "GET", "/uplink", nil, &u)
	return u, err
}

// SetUplink sets (or replaces) the uplink.
func (c *Client) SetUplink(ctx context.Context, u Uplink) (out Uplink, err error) {
	err = c.do(ctx, "PUT", "/uplink", u, &out)
	return out, err
}

// RemoveUplink removes the uplink.
func (c *Client) RemoveUplink(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/uplink", nil, nil)
}

// Conntrack lists connections.
func (c *Client) Conntrack(ctx context.Context) (cs []Conn, err error) {
	err = c.do(ctx, "GET", "/conntrack", nil, &cs)
	return cs, err
}

// FlushConntrack removes all connections and returns how many.
func (c *Client) FlushConntrack(ctx context.Context) (int, error) {
	var out map[string]int
	err := c.do(ctx, "DELETE", "/conntrack", nil, &out)
	return out["flushed"], err
}

// NAT returns the translation rules.
func (c *Client) NAT(ctx context.Context) (r NATRules, err error) {
	err = c.do(ctx, "GET", "/nat", nil, &r)
	return r, err
}

func query(name string, v bool) string {
	if !v {
		return ""
	}
	return "?" + name + "=1"
}

// attach sends an upgrading POST and runs the stdio stream.
func (c *Client) attach(ctx context.Context, path string, body any, stdio *IO) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req, err := http.NewRequest("POST", "http://vswitchd/"+APIVersion+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", upgradeProto)
	if err := req.Write(conn); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return 0, decodeError(resp)
	}
	fw := newFrameWriter(conn)
	if stdio.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdio.Stdin.Read(buf)
				if n > 0 && fw.frame(frameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					fw.frame(frameStdinEOF, nil)
					return
				}
			}
		}()
	}
	if stdio.Resize != nil {
		done := make(chan struct{}) // the stream has ended; callers need not close Resize
		defer close(done)
		go func() {
			for {
				var ws WinSize
				select {
				case w, ok := <-stdio.Resize:
					if !ok {
						return
					}
					ws = w
				case <-done:
					return
				}
				var p [4]byte
				binary.BigEndian.PutUint16(p[:], ws.Rows)
				binary.BigEndian.PutUint16(p[2:], ws.Cols)
				if fw.frame(frameResize, p[:]) != nil {
					return
				}
			}
		}()
	}
	buf := make([]byte, 32<<10)
	for {
		typ, p, err := readFrame(br, buf)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("connection to vswitchd lost: %w", err)
		}
		switch typ {
		case frameStdout:
			stdio.Stdout.Write(p)
		case frameStderr:
			if stdio.Stderr != nil {
				stdio.Stderr.Write(p)
			} else {
				stdio.Stdout.Write(p)
			}
		case frameExit:
			if len(p) != 4 {
				return 0, errors.New("bad exit frame")
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		case frameError:
			return 0, errors.New(string(p))
		}
	}
}

// WaitReady polls the daemon until it answers or timeout passes.
func (c *Client) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx1, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Version(ctx1)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vswitchd at %s not ready after %v: %w", c.socket, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Links lists link impairments: every endpoint NIC and system port, or
// those target names ("" for all).
func (c *Client) Links(ctx context.Context, target string) (ls []Link, err error) {
	path := "/links"
	if target != "" {
		path += "?target=" + url.QueryEscape(target)
	}
	err = c.do(ctx, "GET", path, nil, &ls)
	return ls, err
}

// SetLink changes the impairments of target's ports.
func (c *Client) SetLink(ctx context.Context, target string, r LinkSet) (ls []Link, err error) {
	err = c.do(ctx, "PATCH", "/links/"+url.PathEscape(target), r, &ls)
	return ls, err
}

// ResetLink removes the impairments of target's ports in direction ("":
// both).
func (c *Client) ResetLink(ctx context.Context, target, direction string) (ls []Link, err error) {
	path := "/links/" + url.PathEscape(target)
	if direction != "" {
		path += "?direction=" + url.QueryEscape(direction)
	}
	err = c.do(ctx, "DELETE", path, nil, &ls)
	return ls, err
}

// Labs lists the labs that are up.
func (c *Client) Labs(ctx context.Context) (ls []Lab, err error) {
	err = c.do(ctx, "GET", "/labs", nil, &ls)
	return ls, err
}

// Lab describes one lab.
func (c *Client) Lab(ctx context.Context, name string) (l Lab, err error) {
	err = c.do(ctx, "GET", "/labs/"+url.PathEscape(name), nil, &l)
	return l, err
}

// LabUp converges the switch to t (lab up).
func (c *Client) LabUp(ctx context.Context, t Topology) (p LabPlan, err error) {
	err = c.do(ctx, "PUT", "/labs/"+url.PathEscape(t.Name), t, &p)
	return p, err
}

// LabPlan computes what LabUp would change, changing nothing.
func (c *Client) LabPlan(ctx context.Context, t Topology) (p LabPlan, err error) {
	err = c.do(ctx, "POST", "/labs/"+url.PathEscape(t.Name)+"/plan", t, &p)
	return p, err
}

// LabDown removes what the lab named name made.
func (c *Client) LabDown(ctx context.Context, name string) (p LabPlan, err error) {
	err = c.do(ctx, "DELETE", "/labs/"+url.PathEscape(name), nil, &p)
	return p, err
}

// UI asks where the web view is served.
func (c *Client) UI(ctx context.Context) (u UI, err error) {
	err = c.do(ctx, "GET", "/ui", nil, &u)
	return u, err
}

// Dial connects to the daemon's socket (for a proxy).
func (c *Client) Dial(ctx context.Context) (net.Conn, error) { return c.dial(ctx) }
