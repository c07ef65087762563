package server_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/control/server"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/internal/testframe"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/trace"
)

// The trace API: requests parsed into the daemon's terms (or refused with
// 400 before the daemon is asked), results turned into control.Trace with
// every frame decoded in one line, and live traces streamed one JSON
// event a line, ending with the counts, until the count or the client
// going away.

var (
	trMACA = [6]byte{0x02, 0x42, 0xac, 0x13, 0, 2}
	trMACG = [6]byte{0x02, 0x76, 0x73, 0, 0, 2}
	trMACB = [6]byte{0x02, 0x42, 0xac, 0x12, 0, 3}
)

// trSYN is a TCP SYN from 172.19.0.2:43210 to 172.18.0.3:80.
func trSYN(t testing.TB) []byte {
	return testframe.IPv4{Eth: testframe.Eth{Src: trMACA, Dst: trMACG}, Proto: header.ProtoTCP,
		Src: netip.MustParseAddrPort("172.19.0.2:43210"), Dst: netip.MustParseAddrPort("172.18.0.3:80"),
		TCP: testframe.TCP{Flags: header.TCPFlagSYN}}.Frame(t)
}

// mustTB lets the fake build frames outside a test: a failure panics.
type mustTB struct{ testing.TB }

func (mustTB) Helper()                           {}
func (mustTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (mustTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// cannedTraceResult is a delivered trace with a reply, and the API value
// it converts to.
func cannedTraceResult(t testing.TB) (daemon.TraceResult, control.Trace) {
	syn := trSYN(t)
	synAck := testframe.IPv4{Eth: testframe.Eth{Src: trMACB, Dst: trMACG}, Proto: header.ProtoTCP,
		Src: netip.MustParseAddrPort("172.18.0.3:80"), Dst: netip.MustParseAddrPort("172.19.0.2:43210"),
		TCP: testframe.TCP{Flags: header.TCPFlagSYN | header.TCPFlagACK}}.Frame(t)
	res := daemon.TraceResult{
		From: "red-apple (eth0, 172.19.0.2)", To: "orange-server (172.18.0.3:80)",
		Notes: []string{"172.18.0.3 is off applesonly's subnet"},
		Forward: &daemon.TraceRun{Port: "red-apple/eth0", Frame: syn, Trace: trace.Trace{
			Steps:   []trace.Step{{Stage: trace.Ingress, Detail: "port red-apple/eth0"}, {Stage: trace.Router, Detail: "routes"}},
			Outputs: []trace.Output{{Port: "orange-server/eth0", PortID: 4, Tagging: "untagged", Frame: syn}},
			Verdict: trace.Delivered,
		}},
		Reply: &daemon.TraceRun{Port: "orange-server/eth0", Frame: synAck, Trace: trace.Trace{
			Steps:     []trace.Step{{Stage: trace.Conntrack, Detail: "reply"}},
			Generated: []trace.Output{{Port: "orange-server/eth0", Tagging: "untagged", Frame: synAck}},
			Verdict:   trace.Dropped, Reason: "isolation",
		}},
		Verdict: "dropped — it reaches orange-server (eth0) on test-network, but the answer is dropped", Reason: "isolation",
	}
	synSum := "02:42:ac:13:00:02 → 02:76:73:00:00:02, 172.19.0.2:43210 → 172.18.0.3:80 TCP [S], 60 bytes"
	synAckSum := "02:42:ac:12:00:03 → 02:76:73:00:00:02, 172.18.0.3:80 → 172.19.0.2:43210 TCP [S.], 60 bytes"
	api := control.Trace{
		From: res.From, To: res.To, Notes: res.Notes,
		Forward: &control.TraceRun{Port: "red-apple/eth0", Packet: synSum, Frame: hex.EncodeToString(syn),
			Steps:     []control.TraceStep{{Stage: "ingress", Detail: "port red-apple/eth0"}, {Stage: "router", Detail: "routes"}},
			Outputs:   []control.TraceOutput{{Port: "orange-server/eth0", Tagging: "untagged", Packet: synSum, Frame: hex.EncodeToString(syn)}},
			Generated: []control.TraceOutput{}, Verdict: "delivered"},
		Reply: &control.TraceRun{Port: "orange-server/eth0", Packet: synAckSum, Frame: hex.EncodeToString(synAck),
			Steps:     []control.TraceStep{{Stage: "conntrack", Detail: "reply"}},
			Outputs:   []control.TraceOutput{},
			Generated: []control.TraceOutput{{Port: "orange-server/eth0", Tagging: "untagged", Packet: synAckSum, Frame: hex.EncodeToString(synAck)}},
			Verdict:   "dropped", Reason: "isolation"},
		Verdict: res.Verdict, Reason: "isolation",
	}
	return res, api
}

// Trace implements server.Backend: cannedTraceResult.
func (b *fakeBackend) Trace(spec daemon.TraceSpec) (daemon.TraceResult, error) {
	if err := b.record("Trace", spec); err != nil {
		return daemon.TraceResult{}, err
	}
	res, _ := cannedTraceResult(mustTB{})
	return res, nil
}

// fakeLiveMissed is what the fake's live traces say they missed.
const fakeLiveMissed = 7

// LiveTrace implements server.Backend: spec.Count traces of trSYN on
// red-apple/eth0; with no count, one and then nothing until ctx ends.
func (b *fakeBackend) LiveTrace(ctx context.Context, spec daemon.LiveTraceSpec, started func(), each func(daemon.LiveTraceRecord) error) (daemon.LiveTraceStats, error) {
	if err := b.record("LiveTrace", spec); err != nil {
		return daemon.LiveTraceStats{}, err
	}
	started()
	rec := daemon.LiveTraceRecord{Time: startedAt, Port: "red-apple/eth0", Frame: trSYN(mustTB{}),
		Trace: trace.Trace{Steps: []trace.Step{{Stage: trace.Guard, Detail: "spoofed"}}, Verdict: trace.Dropped, Reason: "spoofed"}}
	st := daemon.LiveTraceStats{Missed: fakeLiveMissed}
	n := max(spec.Count, 1)
	for range n {
		if err := each(rec); err != nil {
			return st, err
		}
		st.Traced++
	}
	if spec.Count == 0 {
		<-ctx.Done()
	}
	return st, nil
}

func TestTraceAPI(t *testing.T) {
	b := &fakeBackend{}
	c, sock := serve(t, b)
	ctx := context.Background()
	_, want := cannedTraceResult(t)
	got, err := c.Trace(ctx, control.TraceRequest{From: "red-apple", To: "orange-server", Proto: "TCP", Port: 80, SrcPort: 1234, Src: "10.9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	wantCalls := []call{{Method: "Trace", Args: []any{daemon.TraceSpec{From: "red-apple", To: "orange-server", Proto: header.ProtoTCP,
		Port: 80, SrcPort: 1234, Src: netip.MustParseAddr("10.9.9.9")}}}}
	if diff := diffCalls(wantCalls, b.takeCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// The defaults: no protocol, ports or source.
	if _, err := c.Trace(ctx, control.TraceRequest{From: "host", To: "web"}); err != nil {
		t.Fatal(err)
	}
	if diff := diffCalls([]call{{Method: "Trace", Args: []any{daemon.TraceSpec{From: "host", To: "web"}}}}, b.takeCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// Refused before the daemon is asked: 400 and one line.
	hc := rawClient(sock)
	for _, body := range []string{
		`{"from":"a","to":"b","proto":"sctp"}`,
		`{"from":"a","to":"b","port":70000}`,
		`{"from":"a","to":"b","port":-1}`,
		`{"from":"a","to":"b","sport":65536}`,
		`{"from":"a","to":"b","src":"nope"}`,
		`{"from":"a","to":"b","src":"2001:db8::1"}`,
		`{"from":"a","to":"b","colour":"red"}`,
	} {
		_, err := rawJSON[control.Trace](ctx, hc, "POST", "/v1/trace", body)
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || strings.Contains(ae.Message, "\n") {
			t.Errorf("POST /v1/trace %s: %v, want a one-line 400", body, err)
		}
	}
	if calls := b.takeCalls(); len(calls) != 0 {
		t.Errorf("bad requests reached the daemon: %v", calls)
	}
	// The daemon's refusal keeps its status.
	b.errs = map[string]error{"Trace": state.Errorf(state.ErrNotFound, "trace from nosuch: no endpoint")}
	if _, err := c.Trace(ctx, control.TraceRequest{From: "nosuch", To: "b"}); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("trace from an unknown endpoint: %v, want 404", err)
	}
}

func TestLiveTraceAPI(t *testing.T) {
	b := &fakeBackend{}
	c, sock := serve(t, b)
	ctx := context.Background()
	var got []control.LiveTrace
	end, err := c.LiveTrace(ctx, control.LiveTraceOptions{Targets: []string{"red-apple", "uplink"}, Filter: "tcp port 80", Count: 3},
		func(lt control.LiveTrace) error {
			got = append(got, lt)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := (&control.LiveTraceEnd{Traced: 3, Missed: fakeLiveMissed}); !cmp.Equal(want, end) {
		t.Errorf("end %+v, want %+v", end, want)
	}
	syn := trSYN(t)
	want := control.LiveTrace{Time: startedAt, Run: control.TraceRun{Port: "red-apple/eth0", Packet: server.PacketSummary(syn), Frame: hex.EncodeToString(syn),
		Steps: []control.TraceStep{{Stage: "guard", Detail: "spoofed"}}, Outputs: []control.TraceOutput{}, Generated: []control.TraceOutput{},
		Verdict: "dropped", Reason: "spoofed"}}
	if len(got) != 3 {
		t.Fatalf("%d traces, want 3", len(got))
	}
	if diff := cmp.Diff(want, got[2]); diff != "" {
		t.Errorf("live trace (-want +got):\n%s", diff)
	}
	wantCalls := []call{{Method: "LiveTrace", Args: []any{daemon.LiveTraceSpec{Targets: []string{"red-apple", "uplink"}, Filter: "tcp port 80", Count: 3}}}}
	if diff := diffCalls(wantCalls, b.takeCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// Without a count the stream runs until the client goes away; the
	// daemon's side ends with it.
	cctx, cancel := context.WithCancel(ctx)
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.LiveTrace(cctx, control.LiveTraceOptions{}, func(control.LiveTrace) error {
			close(first)
			return nil
		})
		done <- err
	}()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no trace streamed within 5 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("live trace cut by the client: %v, want nil", err)
	}
	waitGone(t, "(*fakeBackend).LiveTrace")

	// Refusals: a bad count before the daemon is asked, the daemon's own
	// with its status, before any event.
	hc := rawClient(sock)
	for _, q := range []string{"count=x", "count=-1"} {
		_, err := rawJSON[control.LiveTraceEvent](ctx, hc, "GET", "/v1/trace/live?"+q, "")
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("GET /v1/trace/live?%s: %v, want 400", q, err)
		}
	}
	b.takeCalls()
	b.errs = map[string]error{"LiveTrace": state.Errorf(state.ErrNotFound, "trace --live nosuch: no endpoint, port or network of that name")}
	called := false
	_, err = c.LiveTrace(ctx, control.LiveTraceOptions{Targets: []string{"nosuch"}}, func(control.LiveTrace) error {
		called = true
		return nil
	})
	if !errors.Is(err, control.ErrNotFound) || called {
		t.Errorf("refused live trace: %v (each called: %v), want 404 and no trace", err, called)
	}
}

func TestPacketSummary(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"syn", trSYN(t), "02:42:ac:13:00:02 → 02:76:73:00:00:02, 172.19.0.2:43210 → 172.18.0.3:80 TCP [S], 60 bytes"},
		{"tagged udp", testframe.IPv4{Eth: testframe.Eth{Src: trMACA, Dst: trMACB, Tags: []testframe.Tag{testframe.STag(0, false, 100), testframe.CTag(0, false, 10)}},
			Proto: header.ProtoUDP, Src: netip.AddrPortFrom(a, 5353), Dst: netip.AddrPortFrom(b, 53), Payload: make([]byte, 20)}.Frame(t),
			"02:42:ac:13:00:02 → 02:42:ac:12:00:03, vlan 100 (0x88a8), vlan 10, 10.0.0.1:5353 → 10.0.0.2:53 UDP, 70 bytes"},
		{"echo", testframe.IPv4{Eth: testframe.Eth{Src: trMACA, Dst: trMACB}, Proto: header.ProtoICMP, Src: netip.AddrPortFrom(a, 0), Dst: netip.AddrPortFrom(b, 0),
			ICMP: testframe.ICMP{Type: header.ICMPv4Echo, ID: 77, Seq: 3}, Payload: make([]byte, 56)}.Frame(t),
			"02:42:ac:13:00:02 → 02:42:ac:12:00:03, 10.0.0.1 → 10.0.0.2 ICMP echo request id 77 seq 3, 98 bytes"},
		{"rst-ack", testframe.IPv4{Eth: testframe.Eth{Src: trMACA, Dst: trMACB}, Proto: header.ProtoTCP, Src: netip.AddrPortFrom(a, 1), Dst: netip.AddrPortFrom(b, 2),
			TCP: testframe.TCP{Flags: header.TCPFlagRST | header.TCPFlagACK}}.Frame(t),
			"02:42:ac:13:00:02 → 02:42:ac:12:00:03, 10.0.0.1:1 → 10.0.0.2:2 TCP [R.], 60 bytes"},
		{"arp", testframe.ARPRequest(trMACA, a, b).Frame(t)[:42],
			"02:42:ac:13:00:02 → ff:ff:ff:ff:ff:ff, ARP who-has 10.0.0.2 tell 10.0.0.1, 42 bytes"},
		{"arp reply", testframe.ARPReply(trMACB, b, trMACA, a).Frame(t),
			"02:42:ac:12:00:03 → 02:42:ac:13:00:02, ARP reply 10.0.0.2 is-at 02:42:ac:12:00:03, 60 bytes"},
		{"ipv6", testframe.Eth{Src: trMACA, Dst: trMACB, Type: 0x86dd}.Frame(make([]byte, 40)),
			"02:42:ac:13:00:02 → 02:42:ac:12:00:03, ethertype 0x86dd, 60 bytes"},
		{"truncated", make([]byte, 10), "truncated frame, 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := server.PacketSummary(tt.frame); got != tt.want {
				t.Errorf("PacketSummary(%x) =\n%q, want\n%q", tt.frame, got, tt.want)
			}
		})
	}
}
