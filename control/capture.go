package control

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Live capture: GET /v1/capture streams the frames crossing the named
// ports, as pcapng (application/x-pcapng) or one summary line per frame
// (format=text), until the count or the duration ends it, the client goes
// away, or POST /v1/capture/{id}/stop (the ID is in the answer's
// CaptureIDHeader). How many frames were written and how many the switch
// dropped because the reader was behind come in the trailers
// CaptureCapturedTrailer and CaptureDroppedTrailer.

// Capture formats.
const (
	CapturePcapng = "pcapng"
	CaptureText   = "text"
)

// Headers and trailers of a capture answer.
const (
	CaptureIDHeader        = "X-Vswitchd-Capture-Id"
	CaptureCapturedTrailer = "X-Vswitchd-Captured"
	CaptureDroppedTrailer  = "X-Vswitchd-Dropped"
)

// CaptureOptions are the query parameters of GET /v1/capture.
type CaptureOptions struct {
	// Targets are endpoints (all their NICs), ENDPOINT:IFACE, port names,
	// networks, "uplink" or "router" (target=, repeated).
	Targets []string
	Filter  string        // a tcpdump expression (filter=)
	Count   int           // stop after N frames, 0: no limit (count=)
	For     time.Duration // stop after this long, 0: no limit (duration=)
	Snaplen int           // bytes kept of each frame, 0: all (snaplen=)
	Format  string        // CapturePcapng (default) or CaptureText (format=)
}

func (o CaptureOptions) query() string {
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
	if o.For > 0 {
		v.Set("duration", o.For.String())
	}
	if o.Snaplen > 0 {
		v.Set("snaplen", strconv.Itoa(o.Snaplen))
	}
	if o.Format != "" {
		v.Set("format", o.Format)
	}
	return v.Encode()
}

// CaptureStats says how a capture went.
type CaptureStats struct {
	Captured uint64 `json:"captured"` // frames written
	Dropped  uint64 `json:"dropped"`  // matching frames the switch dropped: the reader was behind
	// Complete is false when the stream ended before the daemon said how
	// it went (the connection was cut).
	Complete bool `json:"complete"`
}

// Capture copies a capture to w. started, if not nil, is called with the
// capture's ID once the daemon has accepted it (StopCapture takes it).
// A refused capture (unknown target, bad filter) returns the daemon's
// error before anything is written.
func (c *Client) Capture(ctx context.Context, o CaptureOptions, w io.Writer, started func(id string)) (CaptureStats, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://vswitchd/"+APIVersion+"/capture?"+o.query(), nil)
	if err != nil {
		return CaptureStats{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return CaptureStats{}, ue.Err
		}
		return CaptureStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return CaptureStats{}, decodeError(resp)
	}
	if started != nil {
		started(resp.Header.Get(CaptureIDHeader))
	}
	_, err = io.Copy(w, resp.Body)
	var st CaptureStats
	if n, perr := strconv.ParseUint(resp.Trailer.Get(CaptureCapturedTrailer), 10, 64); perr == nil {
		st.Captured, st.Complete = n, true
	}
	st.Dropped, _ = strconv.ParseUint(resp.Trailer.Get(CaptureDroppedTrailer), 10, 64)
	if ctx.Err() != nil {
		return st, nil
	}
	return st, err
}

// StopCapture ends a running capture; its stream then ends with its
// trailers.
func (c *Client) StopCapture(ctx context.Context, id string) error {
	return c.do(ctx, "POST", "/capture/"+url.PathEscape(id)+"/stop", struct{}{}, nil)
}
