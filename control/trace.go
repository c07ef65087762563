package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Tracing. POST /v1/trace builds the packet FROM would send to TO, runs it
// through the switch's pipeline in dry-run mode (nothing learned, created,
// counted or sent), then the receiver's answer, and returns every stage's
// decision and the verdict. GET /v1/trace/live streams the decisions the
// switch takes for real frames: one LiveTraceEvent per line
// (application/x-ndjson), the last one with End set.

// TraceRequest is the body of POST /v1/trace.
type TraceRequest struct {
	// From is an endpoint, ENDPOINT:IFACE, "host" or "outside:IP".
	From string `json:"from"`
	// To is an endpoint name, an alias or DNS name as From resolves it, or
	// an IP, optionally with ":PORT".
	To string `json:"to"`
	// Proto is icmp (an echo request), tcp (a SYN) or udp; empty means
	// icmp, or tcp when there is a port.
	Proto string `json:"proto,omitempty"`
	// Port is the destination port (1-65535); 0 takes To's.
	Port int `json:"port,omitempty"`
	// SrcPort is the source port (the echo identifier for icmp); 0: the
	// daemon's default.
	SrcPort int `json:"sport,omitempty"`
	// Src, if set, is a forged IPv4 source address.
	Src string `json:"src,omitempty"`
}

// Trace is the answer to POST /v1/trace.
type Trace struct {
	From string `json:"from"` // the sender: "red-apple (eth0, 172.19.0.2)"
	To   string `json:"to"`   // the destination as resolved: "orange-server (172.18.0.3)"
	// Notes say how the packet was made: name resolution, route, next hop.
	Notes []string `json:"notes"`
	// Forward is the packet's trip; null when none could be made (TO does
	// not resolve).
	Forward *TraceRun `json:"forward"`
	// Reply is the answer's trip; null unless the packet was delivered to
	// someone who answers.
	Reply *TraceRun `json:"reply"`
	// Delivered is true when the packet arrives and its answer comes back
	// (or the switch itself answers); vswitchctl then exits 0.
	Delivered bool `json:"delivered"`
	// Verdict in the user's terms: "delivered to orange-server (eth0) on
	// test-network", "dropped — …".
	Verdict string `json:"verdict"`
	// Reason is the drop counter the frame would have bumped, as a port's
	// drops name it ("isolation", "spoofed"); "" when delivered or when
	// the switch never sees the packet.
	Reason string `json:"reason"`
}

// TraceRun is one frame's trip through the pipeline.
type TraceRun struct {
	Port   string `json:"port"`   // the port it enters by
	Packet string `json:"packet"` // its headers, decoded
	Frame  string `json:"frame"`  // the whole frame, in hex
	// Steps are the stages' decisions in order: ingress, guard, bridge,
	// router, conntrack, egress.
	Steps []TraceStep `json:"steps"`
	// Outputs are the ports it leaves by, with the frame as it leaves.
	Outputs []TraceOutput `json:"outputs"`
	// Generated are frames the switch makes in answer (ARP replies, ICMP
	// errors).
	Generated []TraceOutput `json:"generated"`
	Verdict   string        `json:"verdict"` // delivered, consumed or dropped
	Reason    string        `json:"reason"`  // the drop counter, or why it was consumed
}

// TraceStep is one stage's decision.
type TraceStep struct {
	Stage  string `json:"stage"`
	Detail string `json:"detail"`
}

// TraceOutput is a frame leaving a port.
type TraceOutput struct {
	Port    string `json:"port"`
	Tagging string `json:"tagging"` // untagged, tagged vlan N (0x8100), routed
	Packet  string `json:"packet"`
	Frame   string `json:"frame"` // hex
}

// LiveTraceOptions are the query parameters of GET /v1/trace/live.
type LiveTraceOptions struct {
	// Targets are endpoints (all their NICs), ENDPOINT:IFACE, port names,
	// networks or "uplink" (target=, repeated); none: every port.
	Targets []string
	Filter  string // a tcpdump expression (filter=)
	Count   int    // stop after N frames; 0: until the client goes away (count=)
}

func (o LiveTraceOptions) query() string {
	v := url.Values{}
	for _, t := range o.Targets {
		v.Add("target", t)
	}
	if o.Filter != "" {
		v.Set("filter", o.Filter)
	}
	if o.Count > 0 {
		v.Set("count", strconv.Itoa(o.Count))
	}
	return v.Encode()
}

// LiveTraceEvent is one line of GET /v1/trace/live: a frame's trace, or
// the end of the stream.
type LiveTraceEvent struct {
	Trace *LiveTrace    `json:"trace"`
	End   *LiveTraceEnd `json:"end"`
}

// LiveTrace is the switch's decisions for one real frame.
type LiveTrace struct {
	Time time.Time `json:"time"`
	Run  TraceRun  `json:"run"`
}

// LiveTraceEnd closes a live trace's stream.
type LiveTraceEnd struct {
	Traced int `json:"traced"`
	// Missed counts matching frames the switch did not trace because the
	// reader was behind.
	Missed uint64 `json:"missed"`
}

// Trace traces a packet through the switch in dry-run mode.
func (c *Client) Trace(ctx context.Context, r TraceRequest) (t Trace, err error) {
	err = c.do(ctx, "POST", "/trace", r, &t)
	return t, err
}

// LiveTrace streams the traces of real frames to each, until the daemon
// ends the stream (the count), ctx ends, or each fails. A refused trace
// (unknown target, bad filter) returns the daemon's error before each is
// called. It returns the end of the stream, nil when the stream was cut
// before it (ctx ended).
func (c *Client) LiveTrace(ctx context.Context, o LiveTraceOptions, each func(LiveTrace) error) (*LiveTraceEnd, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://vswitchd/"+APIVersion+"/trace/live?"+o.query(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20) // a trace with super-frames in hex is long
	for sc.Scan() {
		var ev LiveTraceEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("decode live trace: %w", err)
		}
		switch {
		case ev.End != nil:
			return ev.End, nil
		case ev.Trace != nil:
			if err := each(*ev.Trace); err != nil {
				return nil, err
			}
		}
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("live trace: the stream ended without its end")
}
