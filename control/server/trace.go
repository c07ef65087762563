package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/trace"
)

// Tracer is the trace part of a Backend: packets traced through the
// pipeline in dry-run mode, and the decisions taken for real frames.
type Tracer interface {
	Trace(daemon.TraceSpec) (daemon.TraceResult, error)
	LiveTrace(ctx context.Context, spec daemon.LiveTraceSpec, started func(), each func(daemon.LiveTraceRecord) error) (daemon.LiveTraceStats, error)
}

// maxLiveCount bounds a live trace's count=.
const maxLiveCount = 1 << 30

func (s *Server) traceRoutes(p string) {
	s.mux.HandleFunc("POST "+p+"/trace", func(w http.ResponseWriter, r *http.Request) {
		var req control.TraceRequest
		if !decode(w, r, &req) {
			return
		}
		spec, err := traceSpec(req)
		if err != nil {
			replyErr(w, err)
			return
		}
		res, err := s.b.Trace(spec)
		reply(w, traceOf(res), err)
	})
	s.mux.HandleFunc("GET "+p+"/trace/live", s.liveTrace)
}

// traceSpec parses a trace request into the daemon's terms.
func traceSpec(req control.TraceRequest) (daemon.TraceSpec, error) {
	spec := daemon.TraceSpec{From: req.From, To: req.To}
	switch strings.ToLower(req.Proto) {
	case "":
	case "icmp":
		spec.Proto = header.ProtoICMP
	case "tcp":
		spec.Proto = header.ProtoTCP
	case "udp":
		spec.Proto = header.ProtoUDP
	default:
		return spec, state.Errorf(state.ErrInvalid, "proto %q: want icmp, tcp or udp", req.Proto)
	}
	if req.Port < 0 || req.Port > 65535 {
		return spec, state.Errorf(state.ErrInvalid, "port %d out of range 1-65535", req.Port)
	}
	if req.SrcPort < 0 || req.SrcPort > 65535 {
		return spec, state.Errorf(state.ErrInvalid, "sport %d out of range 1-65535", req.SrcPort)
	}
	spec.Port, spec.SrcPort = uint16(req.Port), uint16(req.SrcPort)
	if req.Src != "" {
		a, err := netip.ParseAddr(req.Src)
		if err != nil || !a.Is4() {
			return spec, state.Errorf(state.ErrInvalid, "src %q: want an IPv4 address", req.Src)
		}
		spec.Src = a
	}
	return spec, nil
}

// traceOf is a trace result as the API shows it.
func traceOf(res daemon.TraceResult) control.Trace {
	return control.Trace{
		From: res.From, To: res.To, Notes: strs(res.Notes),
		Forward: traceRunOf(res.Forward), Reply: traceRunOf(res.Reply),
		Delivered: res.Delivered, Verdict: res.Verdict, Reason: res.Reason,
	}
}

func traceRunOf(r *daemon.TraceRun) *control.TraceRun {
	if r == nil {
		return nil
	}
	run := runOf(r.Port, r.Frame, &r.Trace)
	return &run
}

// runOf is one frame's dry run as the API shows it.
func runOf(port string, frame []byte, t *trace.Trace) control.TraceRun {
	run := control.TraceRun{
		Port: port, Packet: PacketSummary(frame), Frame: hex.EncodeToString(frame),
		Steps: []control.TraceStep{}, Outputs: outputsOf(t.Outputs), Generated: outputsOf(t.Generated),
		Verdict: string(t.Verdict), Reason: t.Reason,
	}
	for _, st := range t.Steps {
		run.Steps = append(run.Steps, control.TraceStep{Stage: string(st.Stage), Detail: st.Detail})
	}
	return run
}

func outputsOf(os []trace.Output) []control.TraceOutput {
	out := make([]control.TraceOutput, 0, len(os))
	for _, o := range os {
		out = append(out, control.TraceOutput{Port: o.Port, Tagging: o.Tagging, Packet: PacketSummary(o.Frame), Frame: hex.EncodeToString(o.Frame)})
	}
	return out
}

// liveTrace streams the traces of real frames, one JSON event a line,
// until the count, the client going away, or a write failing; the last
// line says how many were traced and missed.
func (s *Server) liveTrace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	spec := daemon.LiveTraceSpec{Targets: q["target"], Filter: q.Get("filter")}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > maxLiveCount {
			replyErr(w, state.Errorf(state.ErrInvalid, "count %q: want a number of frames, 0 or more", c))
			return
		}
		spec.Count = n
	}
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	started := false
	st, err := s.b.LiveTrace(r.Context(), spec, func() {
		started = true
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flush()
	}, func(rec daemon.LiveTraceRecord) error {
		run := runOf(rec.Port, rec.Frame, &rec.Trace)
		if err := enc.Encode(control.LiveTraceEvent{Trace: &control.LiveTrace{Time: rec.Time, Run: run}}); err != nil {
			return err
		}
		flush()
		return nil
	})
	switch {
	case !started:
		if err == nil {
			err = errors.New("live trace ended before it started")
		}
		replyErr(w, err)
	case r.Context().Err() != nil: // the client went away
	case err != nil:
		s.log.Warn("live trace", "err", err)
	default:
		enc.Encode(control.LiveTraceEvent{End: &control.LiveTraceEnd{Traced: st.Traced, Missed: st.Missed}})
		flush()
	}
}

// PacketSummary describes a frame in one line: its MACs, VLAN tags, and
// the ARP, IPv4 and TCP/UDP/ICMP headers, tcpdump's way ("[S.]" a
// SYN-ACK), and its length.
func PacketSummary(frame []byte) string {
	var p header.Parsed
	err := p.Decode(frame)
	if errors.Is(err, header.ErrTruncated) {
		return fmt.Sprintf("truncated frame, %d bytes", len(frame))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s → %s, ", p.Src, p.Dst)
	for i := range p.Tags {
		fmt.Fprintf(&b, "vlan %d", p.TCI[i]&0x0fff)
		if p.TPID[i] != header.EtherTypeVLAN {
			fmt.Fprintf(&b, " (%#04x)", p.TPID[i])
		}
		b.WriteString(", ")
	}
	switch {
	case p.EtherType == header.EtherTypeARP && p.L3Valid:
		a := header.ARP(frame[p.L3Off:])
		if a.Op() == header.ARPRequest {
			fmt.Fprintf(&b, "ARP who-has %s tell %s", a.TargetIP(), a.SenderIP())
		} else {
			fmt.Fprintf(&b, "ARP reply %s is-at %s", a.SenderIP(), a.SenderMAC())
		}
	case p.EtherType == header.EtherTypeIPv4 && p.L3Valid:
		b.WriteString(l4Summary(frame, &p))
	default:
		fmt.Fprintf(&b, "ethertype %#04x", p.EtherType)
	}
	fmt.Fprintf(&b, ", %d bytes", len(frame))
	return b.String()
}

// l4Summary describes an IPv4 packet's addresses and transport header.
func l4Summary(frame []byte, p *header.Parsed) string {
	if p.L4Off == 0 {
		return fmt.Sprintf("%s → %s proto %d", p.SrcIP, p.DstIP, p.Proto)
	}
	switch p.Proto {
	case header.ProtoTCP:
		return fmt.Sprintf("%s → %s TCP [%s]", netip.AddrPortFrom(p.SrcIP, p.SrcPort), netip.AddrPortFrom(p.DstIP, p.DstPort), tcpFlags(p.TCPFlags))
	case header.ProtoUDP:
		return fmt.Sprintf("%s → %s UDP", netip.AddrPortFrom(p.SrcIP, p.SrcPort), netip.AddrPortFrom(p.DstIP, p.DstPort))
	case header.ProtoICMP:
		s := fmt.Sprintf("%s → %s ICMP ", p.SrcIP, p.DstIP)
		seq := uint16(0)
		if p.L4Off+8 <= len(frame) {
			seq = binary.BigEndian.Uint16(frame[p.L4Off+6:])
		}
		switch p.ICMPType {
		case header.ICMPv4Echo:
			return s + fmt.Sprintf("echo request id %d seq %d", p.SrcPort, seq)
		case header.ICMPv4EchoReply:
			return s + fmt.Sprintf("echo reply id %d seq %d", p.SrcPort, seq)
		case header.ICMPv4DstUnreachable:
			return s + fmt.Sprintf("destination unreachable (code %d)", p.ICMPCode)
		case header.ICMPv4TimeExceeded:
			return s + "time exceeded"
		}
		return s + fmt.Sprintf("type %d code %d", p.ICMPType, p.ICMPCode)
	}
	return fmt.Sprintf("%s → %s proto %d", p.SrcIP, p.DstIP, p.Proto)
}

// tcpFlags writes TCP flags as tcpdump does: S, F, R, P, U, E, W, and .
// for ACK.
func tcpFlags(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{header.TCPFlagSYN, 'S'}, {header.TCPFlagFIN, 'F'}, {header.TCPFlagRST, 'R'}, {header.TCPFlagPSH, 'P'},
		{header.TCPFlagURG, 'U'}, {header.TCPFlagECE, 'E'}, {header.TCPFlagCWR, 'W'}, {header.TCPFlagACK, '.'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
