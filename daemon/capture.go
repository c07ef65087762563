package daemon

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vswitchd/vswitchd/capture"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/filter"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/state"
)

// Live capture of the frames crossing ports (vswitchctl capture). The
// datapath copies matching frames into a tap's bounded ring; a Capture
// drains it into a pcapng stream or summary lines. A reader that falls
// behind loses frames, counted, and never slows forwarding.

// CaptureSpec says what to capture.
type CaptureSpec struct {
	// Targets are endpoints (all their NICs), ENDPOINT:IFACE, port names
	// (as `ports` lists them), networks (the ports in their VLAN),
	// "uplink" and "router" (frames the router consumes and makes).
	Targets []string
	// Filter is a tcpdump expression; empty keeps every frame.
	Filter string
	// Count stops the capture after that many frames; Duration after
	// that long. Zero: until the context ends.
	Count    int
	Duration time.Duration
	// Snaplen cuts each frame to that many bytes (0: whole frames).
	Snaplen int
}

// CaptureStats is what a capture saw.
type CaptureStats struct {
	Captured uint64 // frames written
	Dropped  uint64 // matching frames lost because the reader was behind
}

// Capture is a running capture. Write its frames with WritePcapng or
// WriteText, then Close it.
type Capture struct {
	d      *Daemon
	tap    *datapath.Tap
	spec   CaptureSpec
	ifaces []capture.Interface
	names  map[port.ID]string
}

// maxSnaplen is the largest frame a port carries.
const maxSnaplen = port.MaxFrameSize

// StartCapture resolves spec's targets and filter and attaches a tap; an
// unknown target or a filter that does not compile is refused before
// anything is attached.
func (d *Daemon) StartCapture(spec CaptureSpec) (*Capture, error) {
	if len(spec.Targets) == 0 {
		return nil, state.Errorf(state.ErrInvalid, "capture needs a target: an endpoint, ENDPOINT:IFACE, a port, a network, uplink or router")
	}
	if spec.Count < 0 || spec.Duration < 0 || spec.Snaplen < 0 || spec.Snaplen > maxSnaplen {
		return nil, state.Errorf(state.ErrInvalid, "capture: count, duration and snaplen must be positive (snaplen at most %d)", maxSnaplen)
	}
	var match func([]byte) bool
	if strings.TrimSpace(spec.Filter) != "" {
		f, err := filter.Compile(spec.Filter)
		if err != nil {
			return nil, state.Errorf(state.ErrInvalid, "filter: %w", err)
		}
		match = f.Match
	}
	d.mu.Lock()
	ifaces, err := d.captureInterfaces(spec.Targets)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ids := make([]port.ID, len(ifaces))
	names := map[port.ID]string{}
	for i, it := range ifaces {
		ids[i], names[it.Port] = it.Port, it.Name
	}
	c := &Capture{d: d, spec: spec, ifaces: ifaces, names: names,
		tap: datapath.NewTap(ids, match, spec.Snaplen, 0)}
	d.dp.AddTap(c.tap)
	d.log.Info("capture started", "targets", spec.Targets, "ports", len(ifaces), "filter", spec.Filter)
	return c, nil
}

// captureInterfaces resolves capture targets to ports, each once, in the
// order named. Callers hold mu.
func (d *Daemon) captureInterfaces(targets []string) ([]capture.Interface, error) {
	var out []capture.Interface
	seen := map[port.ID]bool{}
	ports := d.dp.Ports()
	byName := map[string]datapath.PortInfo{}
	for _, p := range ports {
		byName[p.Config.Name] = p
	}
	add := func(p datapath.PortInfo, desc string) {
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, capture.Interface{Port: p.ID, Name: p.Config.Name, Description: desc})
		}
	}
	describe := func(p datapath.PortInfo) string {
		switch {
		case p.Config.Endpoint != "":
			return fmt.Sprintf("%s of endpoint %s", p.Config.Kind, p.Config.Endpoint)
		case p.ID == d.hostPort:
			return "the host's leg"
		case p.ID == d.uplinkPort && d.uplinkPort != 0:
			return "the uplink"
		}
		return string(p.Config.Kind) + " port"
	}
	for _, t := range targets {
		switch {
		case t == "router":
			if !seen[port.Router] {
				seen[port.Router] = true
				out = append(out, capture.Interface{Port: port.Router, Name: "router", Description: "frames the router consumes (out) and makes (in)"})
			}
		case t == "uplink":
			if d.uplinkPort == 0 {
				return nil, state.Errorf(state.ErrNotFound, "capture uplink: no uplink is set")
			}
			for _, p := range ports {
				if p.ID == d.uplinkPort {
					add(p, "the uplink")
				}
			}
		case d.st.Endpoint(t) != nil:
			e := d.st.Endpoint(t)
			for _, nic := range e.NICs {
				if p, ok := byName[e.PortName(nic)]; ok {
					add(p, describe(p))
				}
			}
		case strings.Contains(t, ":") && d.st.Endpoint(t[:strings.IndexByte(t, ':')]) != nil:
			name := strings.Replace(t, ":", "/", 1)
			p, ok := byName[name]
			if !ok {
				return nil, state.Errorf(state.ErrNotFound, "capture %s: endpoint %s has no interface %s", t, t[:strings.IndexByte(t, ':')], t[strings.IndexByte(t, ':')+1:])
			}
			add(p, describe(p))
		case byName[t].Config.Name != "":
			add(byName[t], describe(byName[t]))
		case d.st.Network(t) != nil:
			n := d.st.Network(t)
			for _, p := range ports {
				if !p.Config.Routed && p.Config.VLAN.Member(n.VLAN) {
					add(p, describe(p))
				}
			}
		default:
			return nil, state.Errorf(state.ErrNotFound, "capture %s: no endpoint, port or network of that name (nor uplink, router)", t)
		}
	}
	if len(out) == 0 {
		return nil, state.Errorf(state.ErrNotFound, "capture %s: no ports to capture", strings.Join(targets, " "))
	}
	return out, nil
}

// Interfaces returns the ports the capture covers.
func (c *Capture) Interfaces() []capture.Interface { return c.ifaces }

// Close detaches the tap.
func (c *Capture) Close() {
	c.d.dp.RemoveTap(c.tap)
}

// stats returns what the capture saw, written frames having been written.
func (c *Capture) stats(written uint64) CaptureStats {
	return CaptureStats{Captured: written, Dropped: c.tap.Dropped()}
}

// WritePcapng writes the capture as a pcapng stream to w until the count,
// the duration or ctx ends it. flush, if not nil, is called whenever the
// tap's ring is empty, so a pipe reader sees frames as they come.
func (c *Capture) WritePcapng(ctx context.Context, w io.Writer, flush func()) (CaptureStats, error) {
	pw, err := capture.NewPcapng(w, c.ifaces, c.spec.Snaplen, c.spec.Filter)
	if err != nil {
		return CaptureStats{}, err
	}
	if flush != nil {
		flush()
	}
	n, err := c.run(ctx, pw.Write, func() error {
		err := pw.Flush()
		if flush != nil {
			flush()
		}
		return err
	})
	st := c.stats(n)
	if err != nil {
		return st, err
	}
	if err := pw.Close(st.Dropped); err != nil {
		return st, err
	}
	if flush != nil {
		flush()
	}
	return st, nil
}

// WriteText writes one summary line per frame (time, port, direction,
// decoded headers) to w until the count, the duration or ctx ends it.
func (c *Capture) WriteText(ctx context.Context, w io.Writer, flush func()) (CaptureStats, error) {
	n, err := c.run(ctx, func(r *datapath.Record) error {
		_, err := io.WriteString(w, capture.Summary(r, c.names[r.Port])+"\n")
		return err
	}, func() error {
		if flush != nil {
			flush()
		}
		return nil
	})
	return c.stats(n), err
}

// run hands records to write until the count, the duration or ctx ends
// the capture, calling idle when the ring is empty. It returns how many
// records it wrote.
func (c *Capture) run(ctx context.Context, write func(*datapath.Record) error, idle func() error) (uint64, error) {
	var end <-chan time.Time
	if c.spec.Duration > 0 {
		t := time.NewTimer(c.spec.Duration)
		defer t.Stop()
		end = t.C
	}
	var n uint64
	for c.spec.Count == 0 || n < uint64(c.spec.Count) {
		select {
		case r := <-c.tap.Records():
			err := write(r)
			c.tap.Release(r)
			if err != nil {
				return n, err
			}
			n++
			if len(c.tap.Records()) == 0 {
				if err := idle(); err != nil {
					return n, err
				}
			}
		case <-end:
			return n, nil
		case <-ctx.Done():
			return n, nil
		}
	}
	return n, nil
}
