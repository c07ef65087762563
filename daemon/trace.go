package daemon

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitchd/vswitchd/arp"
	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/dns"
	"github.com/vswitchd/vswitchd/filter"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
	"github.com/vswitchd/vswitchd/router"
	"github.com/vswitchd/vswitchd/state"
	"github.com/vswitchd/vswitchd/trace"
)

// Tracing (vswitchctl trace). Trace builds the packet an endpoint, the
// host or a host outside would send: it resolves the destination as the
// sender would (an endpoint's /etc/hosts, then the switch's DNS answers
// for its scope — never an upstream), takes the sender's route, source
// address and the next hop's MAC as ARP would give it, and runs the frame
// through the datapath in dry-run mode (Datapath.Explain): nothing is
// learned, created, counted or sent. When the packet would be delivered,
// the answer its receiver would send to it as it arrived (the echo reply,
// a SYN-ACK, a datagram back) is traced too, from the port it would
// arrive on and with the same trace, so that it finds the connection the
// request would have opened. The verdict says what happened in the user's
// terms; a drop names the counter (the port's drop reason) that the frame
// would have bumped.
//
// LiveTrace records the decisions the datapath takes for real frames
// (datapath.LiveTracer).

// DefaultTraceSrcPort is a traced packet's source port (and ICMP echo
// identifier) unless TraceSpec.SrcPort is set: one of Linux's ephemeral
// ports.
const DefaultTraceSrcPort = 43210

// TraceSpec says which packet to trace.
type TraceSpec struct {
	// From sends the packet: an endpoint (its NIC toward To), ENDPOINT:IFACE,
	// "host", or "outside:IP" (a packet from IP arriving on the uplink).
	From string
	// To is an endpoint name, an alias or another DNS name as From would
	// resolve it, ENDPOINT:IFACE (that NIC's address), or an IP,
	// optionally with ":PORT" ("host.vswitchd.internal:45678"). From the
	// host or outside, names are endpoint names (their first address),
	// ENDPOINT:IFACE, NAME.NETWORK, host.vswitchd.internal and "uplink"
	// (its address).
	To string
	// Proto is header.ProtoICMP (an echo request), ProtoTCP (a SYN) or
	// ProtoUDP; 0 means ICMP, or TCP when a port is given.
	Proto uint8
	// Port is the destination port; 0 takes To's.
	Port uint16
	// SrcPort is the source port, or the ICMP echo identifier; 0 means
	// DefaultTraceSrcPort.
	SrcPort uint16
	// Src, if valid, is a forged IPv4 source: the packet leaves From's NIC
	// with it instead of From's own address (to see anti-spoofing).
	Src netip.Addr
}

// TraceResult is what Trace found.
type TraceResult struct {
	// From and To describe the sender and the destination as resolved:
	// "red-apple (eth0, 172.19.0.2)", "orange-server (172.18.0.3)".
	From, To string
	// Notes say how the packet was made: the name's resolution, the
	// route, the next hop.
	Notes []string
	// Forward is the packet's trip through the switch; nil when no packet
	// could be made (To does not resolve).
	Forward *TraceRun
	// Reply is the receiver's answer's trip, when Forward was delivered to
	// someone who answers; else nil.
	Reply *TraceRun
	// Delivered reports that the packet arrives (and its answer comes
	// back, or the switch itself answers it).
	Delivered bool
	// Verdict says what happens in the user's terms: "delivered to
	// orange-server (eth0) on test-network", "dropped — red-apple
	// (applesonly) and orange-server (test-network) share no network;
	// networks are isolated".
	Verdict string
	// Reason is the drop counter the switch would have counted (as the
	// port's drops name it: "isolation", "spoofed"…); empty when
	// delivered or when the switch never sees the packet.
	Reason string
}

// TraceRun is one frame's dry run: the port it enters by, the frame, and
// every stage's decision.
type TraceRun struct {
	Port  string
	Frame []byte
	Trace trace.Trace
}

// check validates the parts of spec that need no state.
func (spec *TraceSpec) check() error {
	switch spec.Proto {
	case 0, header.ProtoICMP, header.ProtoTCP, header.ProtoUDP:
	default:
		return state.Errorf(state.ErrInvalid, "trace: protocol %d: want icmp, tcp or udp", spec.Proto)
	}
	if spec.From == "" || spec.To == "" {
		return state.Errorf(state.ErrInvalid, "trace needs FROM and TO")
	}
	if spec.Src.IsValid() && !spec.Src.Is4() {
		return state.Errorf(state.ErrInvalid, "trace: source %s: IPv4 only", spec.Src)
	}
	return nil
}

// senderKind says who sends a traced packet.
type senderKind int

const (
	fromEndpoint senderKind = iota
	fromHost
	fromOutside
)

// tracing is one Trace call's work.
type tracing struct {
	d    *Daemon
	spec TraceSpec
	res  TraceResult

	// The sender.
	kind     senderKind
	ep       *state.Endpoint
	iface    string // ENDPOINT:IFACE's interface, "" to choose
	nic      *state.NIC
	net      *state.Network
	srcIP    netip.Addr // the packet's source (Spec.Src if forged)
	ownIP    netip.Addr // the sender's own address
	srcMAC   header.MAC
	in       port.ID
	inName   string
	fromDesc string // "red-apple (eth0)", "the host", "outside 198.51.100.9"

	// The destination.
	toName  string // as given, without the port
	dst     netip.Addr
	dstPort uint16
	proto   uint8
	dstMAC  header.MAC
	// arpFor is set when nothing the switch knows holds dst on the
	// sender's link: the sender's ARP request is what is traced.
	arpFor bool
}

// Trace traces the packet spec describes through the switch in dry-run
// mode, and its answer. An unknown sender, a bad protocol or port, or a
// destination the packet cannot reach the switch for (the sender's own
// address, one the host does not route over its leg) is an error; a
// destination name the sender cannot resolve is a verdict (dropped), as
// is everything the switch decides.
func (d *Daemon) Trace(spec TraceSpec) (TraceResult, error) {
	if err := spec.check(); err != nil {
		return TraceResult{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tc := &tracing{d: d, spec: spec}
	done, err := tc.plan()
	if err != nil || done {
		return tc.res, err
	}
	if err := tc.run(); err != nil {
		return TraceResult{}, err
	}
	return tc.res, nil
}

func (tc *tracing) note(format string, args ...any) {
	tc.res.Notes = append(tc.res.Notes, fmt.Sprintf(format, args...))
}

// plan finds the sender, resolves the destination and picks the route.
// done is set when the result is already known (To does not resolve).
func (tc *tracing) plan() (done bool, err error) {
	if err := tc.sender(); err != nil {
		return false, err
	}
	host, portStr := splitTraceTo(tc.spec.To)
	tc.toName = host
	if portStr != "" {
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || p == 0 {
			return false, state.Errorf(state.ErrInvalid, "trace to %s: port %q out of range 1-65535", tc.spec.To, portStr)
		}
		if tc.spec.Port != 0 && uint16(p) != tc.spec.Port {
			return false, state.Errorf(state.ErrInvalid, "trace to %s: --port %d says otherwise", tc.spec.To, tc.spec.Port)
		}
		tc.spec.Port = uint16(p)
	}
	tc.dstPort = tc.spec.Port
	switch tc.proto = tc.spec.Proto; {
	case tc.proto == 0 && tc.dstPort != 0:
		tc.proto = header.ProtoTCP
	case tc.proto == 0:
		tc.proto = header.ProtoICMP
	case tc.proto == header.ProtoICMP && tc.dstPort != 0:
		return false, state.Errorf(state.ErrInvalid, "trace: icmp has no ports (drop --port, or use --proto tcp or udp)")
	case tc.proto != header.ProtoICMP && tc.dstPort == 0:
		return false, state.Errorf(state.ErrInvalid, "trace: %s needs a destination port (--port N or TO:PORT)", protoWord(tc.proto))
	}
	if tc.spec.SrcPort == 0 {
		tc.spec.SrcPort = DefaultTraceSrcPort
	}

	why, err := tc.resolve(host)
	if err != nil {
		return false, err
	}
	if why != "" {
		tc.res.From, tc.res.To = tc.senderName(), host
		if tc.fromDesc != "" {
			tc.res.From = tc.fromDesc
		}
		tc.res.Verdict = fmt.Sprintf("dropped — %s cannot resolve %s: %s", tc.senderName(), host, why)
		return true, nil
	}
	if !tc.dst.Is4() {
		return false, state.Errorf(state.ErrInvalid, "trace to %s: IPv4 only", tc.spec.To)
	}
	if err := tc.route(); err != nil {
		return false, err
	}
	tc.res.From, tc.res.To = tc.fromDesc, tc.describeDst()
	return false, nil
}

// splitTraceTo splits TO into a host part and a port ("" when none): the
// text after the last colon, when it is a number.
func splitTraceTo(to string) (host, port string) {
	if _, err := netip.ParseAddr(to); err == nil {
		return to, "" // an IPv6 address, refused later
	}
	i := strings.LastIndexByte(to, ':')
	if i < 0 {
		return to, ""
	}
	p := to[i+1:]
	if p == "" || strings.TrimLeft(p, "0123456789") != "" {
		return to, ""
	}
	return to[:i], p
}

// sender finds who sends: an endpoint, the host or the outside.
func (tc *tracing) sender() error {
	d, from := tc.d, tc.spec.From
	switch {
	case from == "host":
		if d.hostPort == 0 {
			return state.Errorf(state.ErrConflict, "trace from host: the host leg is not up")
		}
		tc.kind = fromHost
		tc.ownIP, tc.srcMAC = d.hostLeg.HostAddr, d.hostLeg.HostMAC
		tc.in, tc.inName = d.hostPort, d.cfg.HostIf
		tc.fromDesc = fmt.Sprintf("the host (%s)", tc.ownIP)
	case strings.HasPrefix(from, "outside:"):
		ip, err := netip.ParseAddr(strings.TrimPrefix(from, "outside:"))
		if err != nil || !ip.Is4() {
			return state.Errorf(state.ErrInvalid, "trace from %s: want outside:IPv4", from)
		}
		u := d.st.Uplink
		if u == nil || d.uplinkPort == 0 {
			return state.Errorf(state.ErrConflict, "trace from %s: no uplink is set, so nothing arrives from outside", from)
		}
		if ip == u.Address.Addr() {
			return state.Errorf(state.ErrInvalid, "trace from %s: that is the uplink's own address", from)
		}
		tc.kind = fromOutside
		tc.ownIP = ip
		tc.in, tc.inName = d.uplinkPort, u.Interface
		tc.fromDesc = "outside " + ip.String()
		hop := ip
		if !u.Address.Contains(ip) && u.Gateway.IsValid() {
			hop = u.Gateway
		}
		if mac, ok := d.rt.Neighbors().Lookup(hop, d.dp.Now()); ok {
			tc.srcMAC = mac
			tc.note("%s arrives on the uplink %s from next hop %s (%s)", ip, u.Interface, hop, mac)
		} else {
			tc.note("%s arrives on the uplink %s from next hop %s, whose MAC the switch has not learned (source MAC left 00:00:00:00:00:00)", ip, u.Interface, hop)
		}
	default:
		name, iface, _ := strings.Cut(from, ":")
		e := d.st.Endpoint(name)
		if e == nil {
			return state.Errorf(state.ErrNotFound, "trace from %s: no endpoint %q (FROM is an endpoint, ENDPOINT:IFACE, host or outside:IP)", from, name)
		}
		if iface != "" && e.Interface(iface) == nil {
			return state.Errorf(state.ErrNotFound, "trace from %s: endpoint %s has no interface %s", from, name, iface)
		}
		tc.kind, tc.ep, tc.iface = fromEndpoint, e, iface
	}
	return nil
}

// senderName names the sender in verdicts.
func (tc *tracing) senderName() string {
	switch tc.kind {
	case fromHost:
		return "the host"
	case fromOutside:
		return "outside " + tc.ownIP.String()
	}
	return tc.ep.Name
}

// resolve finds the destination address of name. It returns why the
// sender cannot resolve it, or "".
func (tc *tracing) resolve(name string) (string, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		tc.dst = ip.Unmap()
		return "", nil
	}
	if tc.kind == fromEndpoint {
		return tc.resolveEndpoint(name)
	}
	d := tc.d
	switch lower := strings.ToLower(strings.TrimSuffix(name, ".")); {
	case lower+"." == dns.HostName || lower+"." == dns.DockerHostName:
		tc.dst = d.hostLeg.HostAddr
		return "", nil
	case lower == "uplink" && d.st.Uplink != nil:
		tc.dst = d.st.Uplink.Address.Addr()
		tc.note("uplink is the uplink's address %s", tc.dst)
		return "", nil
	}
	if ip, how := tc.knownName(name); ip.IsValid() {
		tc.dst = ip
		tc.note("%s is %s (%s); the %s does not use the switch's DNS", name, ip, how, map[senderKind]string{fromHost: "host", fromOutside: "outside"}[tc.kind])
		return "", nil
	}
	return "no endpoint of that name (from the host and outside, TO names an endpoint, ENDPOINT:IFACE, NAME.NETWORK, host.vswitchd.internal, uplink or an IP)", nil
}

// knownName finds an endpoint's address by its name (its first address),
// ENDPOINT:IFACE or NAME.NETWORK, as the switch's records have them.
func (tc *tracing) knownName(name string) (netip.Addr, string) {
	st := tc.d.st
	if n, iface, ok := strings.Cut(name, ":"); ok {
		if e := st.Endpoint(n); e != nil {
			if nic := e.Interface(iface); nic != nil && nic.IP.IsValid() {
				return nic.IP, fmt.Sprintf("%s's %s", n, iface)
			}
		}
		return netip.Addr{}, ""
	}
	if e := st.Endpoint(name); e != nil {
		if nic, n := st.Primary(e); nic != nil {
			return nic.IP, fmt.Sprintf("%s's address on %s", name, n.Name)
		}
	}
	for _, n := range st.Networks {
		if base, ok := strings.CutSuffix(name, "."+n.Name); ok {
			for _, r := range st.NetworkRecords(n) {
				if strings.EqualFold(r.Name, base) {
					return r.Addr, fmt.Sprintf("%s on %s", base, n.Name)
				}
			}
		}
	}
	return netip.Addr{}, ""
}

// resolveEndpoint resolves name as the sending endpoint would: its
// /etc/hosts, then the switch's DNS answer for its scope (from a private
// server holding the same names, so no counter moves and no upstream is
// asked). A name its DNS does not answer but that is an endpoint the
// switch knows is taken at that endpoint's address, so the trace shows
// what stops the packet (isolation, mostly).
func (tc *tracing) resolveEndpoint(name string) (string, error) {
	d, e := tc.d, tc.ep
	if strings.Contains(name, ":") { // ENDPOINT:IFACE
		ip, how := tc.knownName(name)
		if !ip.IsValid() {
			return "no endpoint with that interface and an address on it", nil
		}
		tc.dst = ip
		tc.note("%s is %s, %s", name, ip, how)
		return "", nil
	}
	for _, h := range []string{e.Name, e.HostnameOrName()} {
		if strings.EqualFold(name, h) {
			for _, nic := range e.NICs {
				if nic.IP.IsValid() {
					tc.dst = nic.IP
					tc.note("%s's /etc/hosts maps %s to %s", e.Name, name, nic.IP)
					return "", nil
				}
			}
		}
	}
	for _, h := range e.ExtraHosts {
		if strings.EqualFold(name, h.Name) {
			tc.dst = h.IP
			if h.HostGateway {
				tc.dst = d.hostLeg.HostAddr
			}
			tc.note("%s's /etc/hosts (--add-host) maps %s to %s", e.Name, name, tc.dst)
			return "", nil
		}
	}
	ip, rcode, err := d.lookupScope(state.Scope(e.Name), name)
	if err != nil {
		return "", state.Errorf(state.ErrInvalid, "trace to %s: %w", name, err)
	}
	if ip.IsValid() {
		tc.dst = ip
		tc.note("%s's DNS (the switch, at its gateway) answers %s: %s", e.Name, name, ip)
		return "", nil
	}
	if ip, how := tc.knownName(name); ip.IsValid() {
		tc.dst = ip
		tc.note("%s's DNS does not answer %s (its names are those of its own networks); using %s, %s", e.Name, name, ip, how)
		return "", nil
	}
	switch rcode {
	case mdns.RcodeNameError:
		return "no such name (NXDOMAIN from the switch's DNS)", nil
	case mdns.RcodeRefused:
		return "it is only on --internal networks, so names outside vswitchd are refused", nil
	case mdns.RcodeServerFailure:
		return "not a name vswitchd serves (the switch would ask its upstream resolvers; trace does not)", nil
	}
	return fmt.Sprintf("no address (%s from the switch's DNS)", mdns.RcodeToString[rcode]), nil
}

// lookupScope asks for name's A record in scope, from a private DNS server
// holding the daemon's local names (every network's, and scope's) and no
// upstream. It returns the first address, or none with the answer's
// rcode. Callers hold mu.
func (d *Daemon) lookupScope(scope, name string) (netip.Addr, int, error) {
	if !hostName(name) {
		return netip.Addr{}, 0, fmt.Errorf("%q is not a domain name", name)
	}
	srv := dns.New(dns.Options{Upstreams: []netip.AddrPort{}, CacheSize: -1})
	defer srv.Close()
	scopes, opts := d.st.DNSScopes(), d.st.DNSOptions()
	for _, n := range d.st.Networks {
		srv.SetNetworkOptions(n.Name, opts[n.Name])
		srv.SetNetwork(n.Name, scopes[n.Name])
	}
	srv.SetNetworkOptions(scope, opts[scope])
	srv.SetNetwork(scope, scopes[scope])
	srv.SetHost(d.hostLeg.HostAddr)
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	b, err := q.Pack()
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("build a query for %q: %w", name, err)
	}
	var ans *mdns.Msg
	srv.ServeUDP(scope, b, func(resp []byte) {
		m := new(mdns.Msg)
		if m.Unpack(resp) == nil {
			ans = m
		}
	})
	if ans == nil {
		return netip.Addr{}, mdns.RcodeServerFailure, nil
	}
	for _, rr := range ans.Answer {
		if a, ok := rr.(*mdns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A); ok {
				return ip.Unmap(), ans.Rcode, nil
			}
		}
	}
	return netip.Addr{}, ans.Rcode, nil
}

// hostName reports whether name is a host name a resolver would look up:
// dot-separated labels of letters, digits, '-' and '_' (RFC 1123 §2.1,
// and the underscore names use), at most 63 bytes each, a trailing dot
// allowed.
func hostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return true
}

// route picks the sender's NIC and next hop for tc.dst.
func (tc *tracing) route() error {
	d := tc.d
	switch tc.kind {
	case fromHost:
		if tc.dst == tc.ownIP || tc.dst.IsLoopback() {
			return state.Errorf(state.ErrInvalid, "trace from host to %s: the host's own address; that never crosses the switch (published ports there are relayed by the daemon)", tc.spec.To)
		}
		onLeg := netip.PrefixFrom(d.hostLeg.HostAddr, d.cfg.HostCIDR.Bits()).Masked().Contains(tc.dst)
		routed := onLeg
		for _, n := range d.st.Networks {
			routed = routed || n.Subnet.Contains(tc.dst)
		}
		if !routed {
			return state.Errorf(state.ErrInvalid, "trace from host to %s: the host routes only the networks' subnets over its leg %s; %s does not cross the switch", tc.spec.To, d.cfg.HostIf, tc.dst)
		}
		tc.dstMAC = d.hostLeg.MAC
		tc.note("the host routes %s over its leg %s, via the router %s (%s)", tc.dst, d.cfg.HostIf, d.hostLeg.Addr, d.hostLeg.MAC)
	case fromOutside:
		tc.dstMAC = d.st.UplinkMAC
		tc.note("to the switch's MAC on the uplink, %s", tc.dstMAC)
	case fromEndpoint:
		return tc.routeEndpoint()
	}
	tc.srcIP = tc.ownIP
	if tc.spec.Src.IsValid() {
		tc.srcIP = tc.spec.Src
		tc.note("source forged: %s instead of %s", tc.srcIP, tc.ownIP)
	}
	return nil
}

// routeEndpoint picks an endpoint's NIC (the one named, else the one whose
// subnet holds the destination, else the first, where its default route
// is) and the next hop's MAC.
func (tc *tracing) routeEndpoint() error {
	d, e := tc.d, tc.ep
	for _, nic := range e.NICs {
		if nic.IP == tc.dst {
			return state.Errorf(state.ErrInvalid, "trace from %s to %s: its own address; that never crosses the switch", e.Name, tc.spec.To)
		}
	}
	var nic *state.NIC
	var n *state.Network
	if tc.iface != "" {
		nic = e.Interface(tc.iface)
		n = d.st.Network(nic.Network)
	} else {
		for _, c := range e.NICs {
			if cn := d.st.Network(c.Network); cn != nil && c.IP.IsValid() && cn.Subnet.Contains(tc.dst) {
				nic, n = c, cn
				break
			}
		}
		if nic == nil {
			nic, n = d.st.Primary(e)
		}
	}
	if nic == nil || n == nil || !nic.IP.IsValid() {
		return state.Errorf(state.ErrConflict, "trace from %s: it has no address on a network to send from", tc.spec.From)
	}
	id, ok := d.nics[e.Name][nic.Interface]
	if !ok {
		return state.Errorf(state.ErrConflict, "trace from %s: its %s is not attached to the switch", e.Name, nic.Interface)
	}
	tc.nic, tc.net = nic, n
	tc.ownIP, tc.srcMAC = nic.IP, nic.MAC
	tc.in, tc.inName = id, e.PortName(nic)
	tc.fromDesc = fmt.Sprintf("%s (%s, %s)", e.Name, nic.Interface, nic.IP)
	tc.srcIP = tc.ownIP
	if tc.spec.Src.IsValid() {
		tc.srcIP = tc.spec.Src
		tc.note("source forged: %s instead of %s's %s", tc.srcIP, e.Name, tc.ownIP)
	}
	switch {
	case !n.Subnet.Contains(tc.dst):
		tc.dstMAC = n.MAC
		tc.note("%s is off %s's subnet %s: %s sends by its %s through the gateway %s (%s)", tc.dst, n.Name, n.Subnet, e.Name, nic.Interface, n.Gateway, n.MAC)
	case tc.dst == n.Gateway:
		tc.dstMAC = n.MAC
		tc.note("%s is the gateway of %s; ARP gives %s", tc.dst, n.Name, n.MAC)
	default:
		for _, o := range d.st.Attached(n.Name) {
			if on := o.NIC(n.Name); on.IP == tc.dst {
				tc.dstMAC = on.MAC
				tc.note("%s is on %s's subnet %s: ARP gives %s's MAC %s", tc.dst, n.Name, n.Subnet, o.Name, on.MAC)
				return nil
			}
		}
		tc.arpFor = true
		tc.note("%s is on %s's subnet %s, but no endpoint has it: %s first asks for it with ARP, and that is what is traced", tc.dst, n.Name, n.Subnet, e.Name)
	}
	return nil
}

// describeDst describes the destination as resolved.
func (tc *tracing) describeDst() string {
	s := tc.dst.String()
	if tc.dstPort != 0 {
		s = netip.AddrPortFrom(tc.dst, tc.dstPort).String()
	}
	if tc.toName != tc.dst.String() {
		s = tc.toName + " (" + s + ")"
	}
	return s
}

// run traces the packet, and its answer when it is delivered.
func (tc *tracing) run() error {
	d := tc.d
	frame := tc.frame()
	var tr trace.Trace
	if err := d.dp.Explain(tc.in, frame, nil, &tr); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	fwd := &TraceRun{Port: tc.inName, Frame: frame, Trace: detach(&tr)}
	tc.res.Forward = fwd
	if tc.arpFor {
		tc.arpVerdict(fwd)
		return nil
	}
	switch fwd.Trace.Verdict {
	case trace.Dropped:
		tc.res.Reason = fwd.Trace.Reason
		tc.res.Verdict = "dropped — " + tc.dropText(fwd, false)
		return nil
	case trace.Consumed:
		if fwd.Trace.Reason == "dns" {
			tc.res.Delivered = true
			tc.res.Verdict = fmt.Sprintf("answered by the switch's DNS server at %s", tc.dst)
		} else {
			tc.res.Verdict = "consumed by the switch — " + lastStep(&fwd.Trace)
		}
		return nil
	}
	out, ok := tc.receiver(fwd)
	if !ok {
		tc.res.Verdict = "dropped — it leaves by ports that do not lead to " + tc.res.To
		return nil
	}
	var op header.Parsed
	op.Decode(out.Frame)
	if out.PortID == uint16(tc.in) && op.DstIP == tc.srcIP {
		// The switch itself answered (an echo reply from a gateway or the
		// router's address on the host leg or the uplink).
		tc.res.Delivered = true
		tc.res.Verdict = fmt.Sprintf("answered by the switch: %s (%s) replies to %s", tc.dst, tc.routerAddrName(tc.dst), tc.senderName())
		return nil
	}
	who := tc.portDesc(out.Port)
	if port.ID(out.PortID) == d.hostPort && tc.proto != header.ProtoICMP {
		open, known := hostListens(tc.proto, op.DstIP, op.DstPort)
		if known && !open {
			answer := "with a reset"
			if tc.proto == header.ProtoUDP {
				answer = "ICMP port unreachable"
			}
			tc.res.Verdict = fmt.Sprintf("dropped — no published port %d on %s, and nothing on the host listens on %s %d: the host answers %s",
				tc.dstPort, tc.toName, protoWord(tc.proto), op.DstPort, answer)
			return nil
		}
	}
	reply, err := replyFrame(out.Frame, tc.proto)
	if err != nil {
		return fmt.Errorf("trace: answer to %s: %w", out.Port, err)
	}
	tr.Steps, tr.Outputs, tr.Generated = nil, nil, nil
	if err := d.dp.Explain(port.ID(out.PortID), reply, nil, &tr); err != nil {
		return fmt.Errorf("trace: answer: %w", err)
	}
	rep := &TraceRun{Port: out.Port, Frame: reply, Trace: detach(&tr)}
	tc.res.Reply = rep
	verdict := "delivered to " + who + translation(tc, &op)
	switch {
	case rep.Trace.Verdict == trace.Dropped:
		tc.res.Reason = rep.Trace.Reason
		tc.res.Verdict = fmt.Sprintf("dropped — it reaches %s, but the answer is dropped: %s", who, tc.dropText(rep, true))
	case !backTo(rep, tc.in):
		tc.res.Verdict = fmt.Sprintf("dropped — it reaches %s, but the answer does not come back to %s's port %s", who, tc.senderName(), tc.inName)
	default:
		tc.res.Delivered = true
		tc.res.Verdict = verdict
	}
	return nil
}

// detach returns a copy of the trace's record without its planned state.
func detach(t *trace.Trace) trace.Trace {
	return trace.Trace{Steps: t.Steps, Outputs: t.Outputs, Generated: t.Generated, Verdict: t.Verdict, Reason: t.Reason}
}

// lastStep is the detail of the trace's last step.
func lastStep(t *trace.Trace) string {
	if len(t.Steps) == 0 {
		return string(t.Verdict)
	}
	return t.Steps[len(t.Steps)-1].Detail
}

// backTo reports whether a run delivers its frame to port in.
func backTo(r *TraceRun, in port.ID) bool {
	for _, o := range r.Trace.Outputs {
		if port.ID(o.PortID) == in {
			return true
		}
	}
	return false
}

// receiver picks the output the packet's receiver gets: the port of the
// endpoint NIC holding its (translated) destination, else the routed port
// it leaves by, else the one taking it back to the sender (an answer of
// the switch), else the only output. A flood reaches other ports too
// (the sender's own, when the router floods its output).
func (tc *tracing) receiver(r *TraceRun) (trace.Output, bool) {
	outs := r.Trace.Outputs
	dsts := make([]header.Parsed, len(outs))
	for i, o := range outs {
		dsts[i].Decode(o.Frame)
	}
	for i, o := range outs {
		if e, nic := tc.portOwner(o.Port); e != nil && nic.IP.IsValid() && nic.IP == dsts[i].DstIP {
			return o, true
		}
	}
	for _, o := range outs {
		if o.Tagging == "routed" {
			return o, true
		}
	}
	for i, o := range outs {
		if port.ID(o.PortID) == tc.in && dsts[i].DstIP == tc.srcIP {
			return o, true
		}
	}
	if len(outs) == 1 {
		return outs[0], true
	}
	return trace.Output{}, false
}

// portOwner returns the endpoint and NIC behind an endpoint port's name.
func (tc *tracing) portOwner(name string) (*state.Endpoint, *state.NIC) {
	ename, iface, ok := strings.Cut(name, "/")
	if !ok {
		return nil, nil
	}
	if e := tc.d.st.Endpoint(ename); e != nil {
		if nic := e.Interface(iface); nic != nil {
			return e, nic
		}
	}
	return nil, nil
}

// portDesc describes who is behind a port.
func (tc *tracing) portDesc(name string) string {
	d := tc.d
	if e, nic := tc.portOwner(name); e != nil {
		if nic.Network != "" {
			return fmt.Sprintf("%s (%s) on %s", e.Name, nic.Interface, nic.Network)
		}
		return fmt.Sprintf("%s (%s)", e.Name, nic.Interface)
	}
	switch {
	case name == d.cfg.HostIf:
		return fmt.Sprintf("the host (host.vswitchd.internal, %s)", d.hostLeg.HostAddr)
	case d.st.Uplink != nil && name == d.st.Uplink.Interface:
		return "the outside through the uplink " + name
	}
	return "port " + name
}

// translation says how NAT changed the packet on its way, for verdicts:
// "" when it did not.
func translation(tc *tracing, out *header.Parsed) string {
	var parts []string
	if out.DstIP != tc.dst || tc.dstPort != 0 && out.DstPort != tc.dstPort {
		to := out.DstIP.String()
		if tc.dstPort != 0 {
			to = netip.AddrPortFrom(out.DstIP, out.DstPort).String()
		}
		parts = append(parts, "DNAT to "+to)
	}
	if out.SrcIP != tc.srcIP {
		parts = append(parts, "source translated to "+out.SrcIP.String())
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// routerAddrName names one of the router's own addresses.
func (tc *tracing) routerAddrName(ip netip.Addr) string {
	d := tc.d
	for _, n := range d.st.Networks {
		if n.Gateway == ip {
			return "the gateway of " + n.Name
		}
	}
	if ip == d.hostLeg.Addr {
		return "the router on the host leg"
	}
	if u := d.st.Uplink; u != nil && ip == u.Address.Addr() {
		return "the uplink address"
	}
	return "the router"
}

// arpVerdict is the verdict of an ARP request for an address no one the
// switch knows holds.
func (tc *tracing) arpVerdict(fwd *TraceRun) {
	if fwd.Trace.Verdict == trace.Dropped {
		tc.res.Reason = fwd.Trace.Reason
		tc.res.Verdict = "dropped — " + tc.dropText(fwd, false)
		return
	}
	ports := make([]string, 0, len(fwd.Trace.Outputs))
	for _, o := range fwd.Trace.Outputs {
		ports = append(ports, o.Port)
	}
	where := "no other port"
	if len(ports) > 0 {
		where = strings.Join(ports, ", ")
	}
	tc.res.Verdict = fmt.Sprintf("dropped — no endpoint has %s on %s: %s's ARP request for it is flooded to %s, and only a device on a system port could answer",
		tc.dst, tc.net.Name, tc.ep.Name, where)
}

// dropText says why a run's frame is dropped, in the user's terms. reply
// says it is the receiver's answer.
func (tc *tracing) dropText(r *TraceRun, reply bool) string {
	d, t := tc.d, &r.Trace
	var p header.Parsed
	p.Decode(r.Frame)
	switch t.Reason {
	case datapath.DropSpoofed.String():
		who := tc.senderName()
		if reply {
			who = r.Port
		}
		return fmt.Sprintf("source %s (%s) is not %s's own: anti-spoofing drops it at port %s", p.SrcIP, p.Src, who, r.Port)
	case datapath.DropICC.String(): // the router's DropICC has the same name
		return fmt.Sprintf("%s and %s are on %s, whose endpoints do not reach each other (--icc=false)", tc.senderName(), tc.dstOwnerName(p.DstIP), tc.netName())
	case router.DropIsolation.Reason():
		return tc.isolationText(p.DstIP)
	case router.DropInternal.Reason():
		return fmt.Sprintf("%s is --internal: its endpoints never reach the outside (%s)", tc.netName(), p.DstIP)
	case router.DropNotForUs.Reason():
		u := d.st.Uplink
		switch {
		case u != nil && p.DstIP == u.Address.Addr() && p.DstPort != 0:
			return fmt.Sprintf("no published port %d/%s on %s", p.DstPort, protoWord(p.Proto), tc.nameOf(p.DstIP))
		case u != nil && r.Port == u.Interface && p.DstIP != u.Address.Addr():
			return fmt.Sprintf("the switch routes nothing from outside to %s: only the uplink address %s (its published ports) is reachable from there", tc.nameOf(p.DstIP), u.Address.Addr())
		}
		if p.DstPort != 0 {
			return fmt.Sprintf("%s does not serve %s port %d", tc.nameOf(p.DstIP), protoWord(p.Proto), p.DstPort)
		}
		return fmt.Sprintf("%s does not answer %s", tc.nameOf(p.DstIP), protoWord(p.Proto))
	}
	return fmt.Sprintf("%s (%s)", lastStep(t), t.Reason)
}

// nameOf is the user's name for ip when it is the traced destination.
func (tc *tracing) nameOf(ip netip.Addr) string {
	if ip == tc.dst && tc.toName != ip.String() {
		return tc.toName
	}
	return ip.String()
}

// netName names the sender's network, for verdicts.
func (tc *tracing) netName() string {
	if tc.net != nil {
		return tc.net.Name
	}
	return tc.senderName() + "'s network"
}

// dstOwnerName names the endpoint holding ip, or ip.
func (tc *tracing) dstOwnerName(ip netip.Addr) string {
	for _, e := range tc.d.st.Endpoints {
		for _, nic := range e.NICs {
			if nic.IP == ip {
				return e.Name
			}
		}
	}
	return ip.String()
}

// isolationText explains an isolation drop toward ip.
func (tc *tracing) isolationText(ip netip.Addr) string {
	st := tc.d.st
	nets := func(e *state.Endpoint) string {
		var ns []string
		for _, nic := range e.NICs {
			if nic.Network != "" {
				ns = append(ns, nic.Network)
			}
		}
		return strings.Join(ns, ", ")
	}
	from := tc.senderName()
	if tc.ep != nil {
		from = fmt.Sprintf("%s (%s)", tc.ep.Name, nets(tc.ep))
	}
	for _, e := range st.Endpoints {
		for _, nic := range e.NICs {
			if nic.IP != ip {
				continue
			}
			if tc.ep != nil {
				for _, mine := range tc.ep.NICs {
					if other := e.NIC(mine.Network); mine.Network != "" && other != nil && other.IP.IsValid() {
						return fmt.Sprintf("%s is %s's address on %s, and %s is not on %s; it reaches %s on %s, at %s; networks are isolated",
							ip, e.Name, nic.Network, tc.ep.Name, nic.Network, e.Name, mine.Network, other.IP)
					}
				}
			}
			return fmt.Sprintf("%s and %s (%s) share no network; networks are isolated", from, e.Name, nets(e))
		}
	}
	for _, n := range st.Networks {
		if n.Gateway == ip {
			return fmt.Sprintf("%s is the gateway of %s, and %s is not on it; networks are isolated", ip, n.Name, from)
		}
		if n.Subnet.Contains(ip) {
			return fmt.Sprintf("%s is in %s (%s), and %s is not on it; networks are isolated", ip, n.Name, n.Subnet, from)
		}
	}
	return fmt.Sprintf("%s is in another network; networks are isolated", ip)
}

// protoWord names an IP protocol.
func protoWord(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return "proto " + strconv.Itoa(int(p))
}

// Traced packets' contents.
const (
	traceTTL       = 64
	traceEchoSeq   = 1
	traceEchoLen   = 56 // ping's default payload
	traceTCPSeq    = 0x76730001
	traceTCPWindow = 64240
)

// traceUDPPayload is what a traced UDP datagram carries.
var traceUDPPayload = []byte("vswitchd trace\n")

// packet describes an Ethernet/IPv4 frame to build.
type packet struct {
	srcMAC, dstMAC header.MAC
	tags           []uint32 // TPID<<16 | TCI, outermost first
	src, dst       netip.Addr
	proto          uint8
	sport, dport   uint16 // ICMP echo: the identifier in sport
	flags          uint8  // TCP
	seq, ack       uint32 // TCP
	icmpType       uint8
	ttl            uint8
}

// frame builds the traced packet's frame.
func (tc *tracing) frame() []byte {
	if tc.arpFor {
		b := make([]byte, arp.FrameLen)
		return b[:arp.Request(b, tc.srcMAC, tc.srcIP, tc.dst)]
	}
	p := packet{srcMAC: tc.srcMAC, dstMAC: tc.dstMAC, src: tc.srcIP, dst: tc.dst, proto: tc.proto,
		sport: tc.spec.SrcPort, dport: tc.dstPort, ttl: traceTTL}
	switch tc.proto {
	case header.ProtoTCP:
		p.flags, p.seq = header.TCPFlagSYN, traceTCPSeq
	case header.ProtoICMP:
		p.icmpType = header.ICMPv4Echo
	}
	return p.build()
}

// build writes the frame p describes, with correct lengths and checksums.
func (p *packet) build() []byte {
	var l4len int
	switch p.proto {
	case header.ProtoTCP:
		l4len = header.TCPMinLen
	case header.ProtoUDP:
		l4len = header.UDPLen + len(traceUDPPayload)
	default:
		l4len = header.ICMPv4MinLen + traceEchoLen
	}
	l2 := header.EthernetLen + header.VLANTagLen*len(p.tags)
	b := make([]byte, l2+header.IPv4MinLen+l4len)
	typ := header.EtherTypeIPv4
	if len(p.tags) > 0 {
		typ = uint16(p.tags[0] >> 16)
	}
	header.Ethernet(b).Encode(&header.EthernetFields{Dst: p.dstMAC, Src: p.srcMAC, Type: typ})
	for i, tag := range p.tags {
		off := header.EthernetLen + i*header.VLANTagLen - 2 // the TPID is the type field before
		next := header.EtherTypeIPv4
		if i+1 < len(p.tags) {
			next = uint16(p.tags[i+1] >> 16)
		}
		binary.BigEndian.PutUint16(b[off:], uint16(tag>>16))
		binary.BigEndian.PutUint16(b[off+2:], uint16(tag))
		binary.BigEndian.PutUint16(b[off+4:], next)
	}
	ip := header.IPv4(b[l2:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinLen + l4len), ID: 0x7673, Flags: header.IPv4FlagDF,
		TTL: p.ttl, Protocol: p.proto, Src: p.src, Dst: p.dst})
	l4 := b[l2+header.IPv4MinLen:]
	switch p.proto {
	case header.ProtoTCP:
		header.TCP(l4).Encode(&header.TCPFields{SrcPort: p.sport, DstPort: p.dport, Seq: p.seq, Ack: p.ack, Flags: p.flags, Window: traceTCPWindow})
		header.TCP(l4).SetChecksum(^header.Checksum(l4, ip.PseudoHeaderChecksum(uint16(l4len))))
	case header.ProtoUDP:
		header.UDP(l4).Encode(&header.UDPFields{SrcPort: p.sport, DstPort: p.dport, Length: uint16(l4len)})
		copy(l4[header.UDPLen:], traceUDPPayload)
		c := ^header.Checksum(l4, ip.PseudoHeaderChecksum(uint16(l4len)))
		if c == 0 {
			c = 0xffff
		}
		header.UDP(l4).SetChecksum(c)
	default:
		header.ICMPv4(l4).Encode(&header.ICMPv4Fields{Type: p.icmpType, Rest: uint32(p.sport)<<16 | traceEchoSeq})
		for i := range traceEchoLen {
			l4[header.ICMPv4MinLen+i] = byte(i)
		}
		header.ICMPv4(l4).SetChecksum(^header.Checksum(l4, 0))
	}
	return b
}

// replyFrame builds the answer a receiver sends to frame as it arrived:
// addresses, ports and MACs swapped, in the same VLAN tags; an echo reply
// to an echo request, a SYN-ACK to a SYN (an ACK to anything else), a
// datagram back for UDP.
func replyFrame(frame []byte, proto uint8) ([]byte, error) {
	var in header.Parsed
	if err := in.Decode(frame); err != nil {
		return nil, err
	}
	if in.IPVersion != 4 || in.L4Off == 0 || in.Proto != proto {
		return nil, fmt.Errorf("not the %s packet sent", protoWord(proto))
	}
	p := packet{srcMAC: in.Dst, dstMAC: in.Src, src: in.DstIP, dst: in.SrcIP, proto: proto,
		sport: in.DstPort, dport: in.SrcPort, ttl: traceTTL}
	for i := range in.Tags {
		p.tags = append(p.tags, uint32(in.TPID[i])<<16|uint32(in.TCI[i]))
	}
	switch proto {
	case header.ProtoTCP:
		t := header.TCP(frame[in.L4Off:])
		p.flags, p.seq, p.ack = header.TCPFlagACK, traceTCPSeq+0x1000, binary.BigEndian.Uint32(t[4:])+1
		if in.TCPFlags&header.TCPFlagSYN != 0 {
			p.flags |= header.TCPFlagSYN
		}
	case header.ProtoICMP:
		p.icmpType = header.ICMPv4EchoReply
		p.sport = in.SrcPort // the identifier
	}
	return p.build(), nil
}

// hostListens reports whether a socket of the daemon's namespace (the
// host) takes proto packets to addr:port — for TCP a listening socket,
// for UDP a bound one, on addr or a wildcard address — and whether that
// could be told at all. It reads /proc/self/net; tests replace it.
var hostListens = func(proto uint8, addr netip.Addr, port uint16) (open, known bool) {
	name := "tcp"
	if proto == header.ProtoUDP {
		name = "udp"
	}
	for _, f := range []string{name, name + "6"} {
		o, err := procListens("/proc/self/net/"+f, proto, addr, port)
		if err != nil {
			if f == name {
				return false, false
			}
			continue // no IPv6
		}
		if o {
			return true, true
		}
	}
	return false, true
}

// procListens scans one /proc/net socket table.
func procListens(path string, proto uint8, addr netip.Addr, port uint16) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		a, p, ok := parseProcAddr(fs[1])
		if !ok || p != port || proto == header.ProtoTCP && fs[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		if a.IsUnspecified() || a.Unmap() == addr {
			return true, nil
		}
	}
	return false, sc.Err()
}

// parseProcAddr parses /proc/net's "0100007F:1F90": the address as 32-bit
// words in host byte order, the port in hex.
func parseProcAddr(s string) (netip.Addr, uint16, bool) {
	h, ps, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, false
	}
	p, err := strconv.ParseUint(ps, 16, 16)
	raw, err2 := hex.DecodeString(h)
	if err != nil || err2 != nil || len(raw) != 4 && len(raw) != 16 {
		return netip.Addr{}, 0, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a, uint16(p), true
}

// LiveTraceSpec says which real frames to trace.
type LiveTraceSpec struct {
	// Targets are endpoints (all their NICs), ENDPOINT:IFACE, port names,
	// networks (their ports) and "uplink"; none means every port.
	Targets []string
	// Filter is a tcpdump expression; empty traces every frame.
	Filter string
	// Count ends the trace after that many frames; 0: until ctx ends.
	Count int
}

// LiveTraceRecord is the trace of one real frame.
type LiveTraceRecord struct {
	Time  time.Time
	Port  string
	Frame []byte
	Trace trace.Trace
}

// LiveTraceStats is how a live trace went.
type LiveTraceStats struct {
	Traced int
	// Missed counts matching frames not traced because the reader was
	// behind.
	Missed uint64
}

// LiveTrace records the decisions the datapath takes for the next
// spec.Count frames received on spec's targets that match its filter
// (see datapath.LiveTracer): each is run through the dry-run path just
// before the worker processes it. It checks spec and attaches the tracer,
// calls started, then calls each with every trace until the count or ctx
// ends it; an error from each ends it too. Targets or a filter it cannot
// use are refused before started.
func (d *Daemon) LiveTrace(ctx context.Context, spec LiveTraceSpec, started func(), each func(LiveTraceRecord) error) (LiveTraceStats, error) {
	if spec.Count < 0 {
		return LiveTraceStats{}, state.Errorf(state.ErrInvalid, "trace --live: count %d: want 0 (no limit) or more", spec.Count)
	}
	var match func([]byte) bool
	if strings.TrimSpace(spec.Filter) != "" {
		f, err := filter.Compile(spec.Filter)
		if err != nil {
			return LiveTraceStats{}, state.Errorf(state.ErrInvalid, "filter: %w", err)
		}
		match = f.Match
	}
	d.mu.Lock()
	ids, err := d.liveTargets(spec.Targets)
	d.mu.Unlock()
	if err != nil {
		return LiveTraceStats{}, err
	}
	names := d.portNames()
	lt := datapath.NewLiveTracer(ids, match, spec.Count, 0)
	d.dp.AddLiveTracer(lt)
	defer d.dp.RemoveLiveTracer(lt)
	d.log.Info("live trace started", "targets", spec.Targets, "filter", spec.Filter, "count", spec.Count)
	started()
	var st LiveTraceStats
	for spec.Count == 0 || st.Traced < spec.Count {
		select {
		case r := <-lt.Records():
			name, ok := names[r.Port]
			if !ok {
				names = d.portNames() // a port added since
				name = names[r.Port]
			}
			st.Traced++
			if err := each(LiveTraceRecord{Time: r.Time, Port: name, Frame: r.Frame, Trace: detach(r.Trace)}); err != nil {
				st.Missed = lt.Missed()
				return st, err
			}
		case <-ctx.Done():
			st.Missed = lt.Missed()
			return st, nil
		}
	}
	st.Missed = lt.Missed()
	d.log.Info("live trace ended", "traced", st.Traced, "missed", st.Missed)
	return st, nil
}

// liveTargets resolves live trace targets to ports; none means every
// port (nil). Callers hold mu.
func (d *Daemon) liveTargets(targets []string) ([]port.ID, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	var ids []port.ID
	seen := map[port.ID]bool{}
	add := func(id port.ID) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	ports := d.dp.Ports()
	for _, t := range targets {
		name, iface, hasIface := strings.Cut(t, ":")
		switch e := d.st.Endpoint(name); {
		case t == "uplink":
			if d.uplinkPort == 0 {
				return nil, state.Errorf(state.ErrNotFound, "trace --live uplink: no uplink is set")
			}
			add(d.uplinkPort)
		case e != nil && hasIface:
			id, ok := d.nics[e.Name][iface]
			if !ok {
				return nil, state.Errorf(state.ErrNotFound, "trace --live %s: endpoint %s has no interface %s", t, name, iface)
			}
			add(id)
		case e != nil:
			for _, nic := range e.NICs {
				if id, ok := d.nics[e.Name][nic.Interface]; ok {
					add(id)
				}
			}
		default:
			found := false
			for _, p := range ports {
				if p.Config.Name == t {
					add(p.ID)
					found = true
				}
			}
			if n := d.st.Network(t); !found && n != nil {
				for _, p := range ports {
					if !p.Config.Routed && p.Config.VLAN.Member(n.VLAN) {
						add(p.ID)
					}
				}
				found = true
			}
			if !found {
				return nil, state.Errorf(state.ErrNotFound, "trace --live %s: no endpoint, port or network of that name (nor uplink)", t)
			}
		}
	}
	if len(ids) == 0 {
		return nil, state.Errorf(state.ErrNotFound, "trace --live %s: no ports to trace", strings.Join(targets, " "))
	}
	return ids, nil
}
