package datapath

import (
	"bytes"
	"fmt"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/trace"
	"github.com/vswitchd/vswitchd/vlan"
)

// Explain runs the frame data through the pipeline as if it had arrived on port in,
// in dry-run mode, and records every stage's decision in t: the ingress
// port's VLAN policy, anti-spoofing, the MAC table, the router (with the
// conntrack entry or NAT rule that matched or would be created), and the
// ports it would leave by with their tagging and the frame as it would
// leave. Nothing changes: no MAC is learned, no connection created, no
// counter moved, no frame sent. vh is the frame's virtio header (nil:
// none).
//
// t may carry state from an earlier Explain (the connections a traced
// request would have opened), so the reply can be traced after it.
func (dp *Datapath) Explain(in port.ID, data []byte, vh header.VirtioNet, t *trace.Trace) error {
	if len(data) > port.MaxFrameSize {
		return fmt.Errorf("explain: frame of %d bytes exceeds %d", len(data), port.MaxFrameSize)
	}
	s := dp.snap.Load()
	ps := s.port(in)
	if ps == nil {
		return fmt.Errorf("explain: no port %d", in)
	}
	w := &worker{dp: dp, ps: ps, snap: s, dry: t}
	buf := new(port.Buffer)[:]
	f := frame{buf: buf, start: port.ReadOffset, end: port.ReadOffset + copy(buf[port.ReadOffset:], data), in: in}
	if vh != nil {
		copy(buf[port.ReadOffset-header.VirtioNetLen:], vh)
	}
	t.Verdict, t.Reason = "", ""
	w.input(&f, ps.cfg.Load(), dp.Now())
	if t.Verdict == "" {
		if len(t.Outputs) > 0 {
			t.Verdict = trace.Delivered
		} else {
			t.Verdict = trace.Consumed
		}
	}
	return nil
}

// record notes, in a dry run, that f would leave by ps tagged as eg.
func (w *worker) record(ps *portState, f *frame, eg vlan.Egress) {
	cfg := ps.cfg.Load()
	o := trace.Output{Port: cfg.Name, PortID: uint16(ps.id), Tagging: taggingString(cfg, eg), Frame: bytes.Clone(f.bytes())}
	if w.generating {
		w.dry.Generated = append(w.dry.Generated, o)
		return
	}
	w.dry.Outputs = append(w.dry.Outputs, o)
}

// taggingString says how a frame leaves a port.
func taggingString(cfg *PortConfig, eg vlan.Egress) string {
	switch {
	case cfg.Routed:
		return "routed"
	case eg.Push:
		return fmt.Sprintf("tagged vlan %d (%#04x)", eg.TCI&0x0fff, eg.TPID)
	}
	return "untagged"
}

// tagString describes a frame's tags as decoded.
func tagString(pk *header.Parsed) string {
	switch pk.Tags {
	case 0:
		return "untagged"
	case 1:
		return fmt.Sprintf("tag %d (%#04x)", pk.TCI[0]&0x0fff, pk.TPID[0])
	}
	return fmt.Sprintf("tags %d (%#04x), %d (%#04x)", pk.TCI[0]&0x0fff, pk.TPID[0], pk.TCI[1]&0x0fff, pk.TPID[1])
}
