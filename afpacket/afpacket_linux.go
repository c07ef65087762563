package afpacket

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/offload"
	"github.com/vswitchd/vswitchd/port"
	"golang.org/x/sys/unix"
)

// skfAdPktType is where a classic BPF load finds the packet type:
// SKF_AD_OFF (-0x1000) + SKF_AD_PKTTYPE (4), linux/filter.h, as a uint32.
const skfAdPktType = 1<<32 - 0x1000 + 4

// outgoingFilter drops frames whose packet type is PACKET_OUTGOING: frames
// leaving the interface, whoever sent them (Open vSwitch
// netdev_linux_rxq_construct). It backs up PACKET_IGNORE_OUTGOING, which
// kernels before 4.20 lack.
var outgoingFilter = [...]unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: skfAdPktType},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
}

// sockBufSize is the receive and send buffer asked for with
// SO_RCVBUFFORCE/SO_SNDBUFFORCE (the kernel doubles it for overhead): a
// batch of 64 KiB super-frames, as gVisor's runsc sizes its AF_PACKET
// sockets.
const sockBufSize = 4 << 20

// Fallback segmentation scratch (ports without PACKET_VNET_HDR): room for
// one 64 KiB super-frame cut at an MSS down to about 500 bytes.
const (
	scratchSize  = 256 << 10
	scratchSegs  = 160
	maxSegHeader = 512 // bound on a segment's Ethernet+VLAN+IP+L4 headers
)

// features selects the socket options open sets; tests turn them off to
// check each mechanism alone.
type features struct {
	vnetHdr        bool // PACKET_VNET_HDR
	ignoreOutgoing bool // PACKET_IGNORE_OUTGOING
	filter         bool // outgoingFilter
}

var allFeatures = features{vnetHdr: true, ignoreOutgoing: true, filter: true}

// Port is a system port: an AF_PACKET socket bound to one interface. It
// owns the socket, which Close releases. It implements port.Port; with
// Offloads true frames carry their virtio header in both directions, so
// super-frames pass through, else Read produces the header and Write
// finishes frames in software.
type Port struct {
	name    string
	ifindex int
	vnet    bool // PACKET_VNET_HDR is in use
	mtu     int  // interface MTU at Open, for fallback super-frame detection
	batch   int
	f       *os.File
	rc      syscall.RawConn
	closed  atomic.Bool // set by Close: RawConn errors then mean port.ErrClosed

	rx rxState // owned by the one goroutine in Read
	tx txState // guarded by tx.mu

	// fanout are the other sockets of the port's PACKET_FANOUT group
	// (EnableFanout), read as queues 1…; each reads only.
	fanout []*Port
	opt    Options

	stats struct {
		truncated, runts, errors, kernelDrops atomic.Uint64
		txTooBig, txQueueFull, txRefused      atomic.Uint64
	}
	statsMu sync.Mutex // serialises PACKET_STATISTICS reads, which reset the kernel's counters
}

// rxState is Read's preallocated recvmmsg state. Arguments of the current
// call are kept here so the callback given to RawConn.Read is a method value
// made once, not a closure allocated per call.
type rxState struct {
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec
	ctrl   []byte // ctrlLen bytes per message
	fn     func(fd uintptr) bool
	want   int   // messages asked for
	got    int   // messages received
	err    error // fatal receive error
	tagged bool  // predicted: read the next batch 4 bytes late
	pk     header.Parsed
}

// txState is Write's preallocated sendmmsg state.
type txState struct {
	mu     sync.Mutex
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec
	owner  []int  // index in bufs of the frame message i belongs to
	failed []bool // message i was refused
	n      int    // messages queued
	fn     func(fd uintptr) bool
	err    syscall.Errno // first refusal

	// Software segmentation (no PACKET_VNET_HDR).
	scratch []byte
	used    int
	segs    [][]byte
	sizes   []int
}

var _ port.Port = (*Port)(nil)

// Open attaches the interface named ifname, in the calling thread's network
// namespace (run it under netns.Do for another), as a system port. The
// returned Port owns its socket; Close releases it, which also drops the
// promiscuous-mode membership.
func Open(ifname string, opt Options) (*Port, error) {
	p, err := open(ifname, opt, allFeatures)
	if err != nil {
		return nil, fmt.Errorf("open system port %q: %w", ifname, err)
	}
	return p, nil
}

func open(ifname string, opt Options, feat features) (*Port, error) {
	// An empty name would make the bind below (ifindex 0) capture every
	// interface.
	if ifname == "" || len(ifname) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name must have 1 to %d characters", unix.IFNAMSIZ-1)
	}
	batch := opt.BatchSize
	if batch == 0 {
		batch = DefaultBatchSize
	}
	if batch < 0 || batch > MaxBatchSize {
		return nil, fmt.Errorf("batch size %d outside 1..%d", opt.BatchSize, MaxBatchSize)
	}

	// Protocol 0: the socket receives nothing until bind names the
	// interface, so no frame of another interface is ever queued.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create AF_PACKET socket: %w", err)
	}
	p := &Port{name: ifname, batch: batch, opt: opt}
	if err := p.setup(fd, opt, feat); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// fd is nonblocking, so os.NewFile registers it with the netpoller;
	// never call (*os.File).Fd, which would make it blocking again.
	p.f = os.NewFile(uintptr(fd), "afpacket:"+ifname)
	rc, err := p.f.SyscallConn()
	if err != nil {
		p.f.Close()
		return nil, err
	}
	p.rc = rc
	p.initBuffers()
	return p, nil
}

// setup configures and binds fd.
func (p *Port) setup(fd int, opt Options, feat features) error {
	ifr, err := unix.NewIfreq(p.name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return ErrLinkNotFound
		}
		return fmt.Errorf("look up interface index: %w", err)
	}
	p.ifindex = int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return fmt.Errorf("read MTU: %w", err)
	}
	p.mtu = int(ifr.Uint32())

	if feat.filter {
		prog := unix.SockFprog{Len: uint16(len(outgoingFilter)), Filter: &outgoingFilter[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fmt.Errorf("attach outgoing-frame filter: %w", err)
		}
	}
	if feat.ignoreOutgoing {
		// Linux ≥ 4.20; the filter covers older kernels.
		err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
			return fmt.Errorf("set PACKET_IGNORE_OUTGOING: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("set PACKET_AUXDATA: %w", err)
	}
	if feat.vnetHdr {
		// Fails only on kernels without it or sockets with a ring; fall
		// back to software offloads then.
		p.vnet = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	}
	// Best effort: without CAP_NET_ADMIN, ask within the sysctl limits.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBufSize) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockBufSize)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBufSize) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockBufSize)
	}
	// No PACKET_QDISC_BYPASS: it would hide the port's writes from
	// tcpdump and skip the interface's qdisc, for no gain on a veth
	// (noqueue) and little on a NIC at these rates.
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return ErrLinkNotFound // removed since the lookup
		}
		return fmt.Errorf("bind to interface: %w", err)
	}
	if opt.Promiscuous {
		mreq := &unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return fmt.Errorf("enable promiscuous mode: %w", err)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// initBuffers makes the message headers, iovecs and control buffers Read
// and Write reuse.
func (p *Port) initBuffers() {
	r := &p.rx
	r.msgs = make([]unix.Mmsghdr, p.batch)
	r.iovs = make([]unix.Iovec, p.batch)
	r.ctrl = make([]byte, p.batch*ctrlLen)
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.ctrl[i*ctrlLen]
	}
	r.fn = p.recv

	t := &p.tx
	n := max(p.batch, DefaultBatchSize)
	if !p.vnet {
		n = max(n, scratchSegs)
		t.scratch = make([]byte, scratchSize)
		t.segs = make([][]byte, scratchSegs)
		t.sizes = make([]int, scratchSegs)
	}
	t.msgs = make([]unix.Mmsghdr, n)
	t.iovs = make([]unix.Iovec, n)
	t.owner = make([]int, n)
	t.failed = make([]bool, n)
	for i := range t.msgs {
		t.msgs[i].Hdr.Iov = &t.iovs[i]
		t.msgs[i].Hdr.SetIovlen(1)
	}
	t.fn = p.send
}

// Name returns the name of the interface the port is attached to.
func (p *Port) Name() string { return p.name }

// Offloads reports whether the socket uses PACKET_VNET_HDR: offloaded frames
// then pass through Read and Write with their virtio header, instead of
// being described by Read and finished in software by Write.
func (p *Port) Offloads() bool { return p.vnet }

// BatchSize implements port.Port.
func (p *Port) BatchSize() int { return p.batch }

// Read implements port.Port. It blocks in the netpoller until the socket is
// readable, then receives up to len(bufs) (at most BatchSize) frames with
// one recvmmsg. A VLAN tag the kernel moved into the auxdata is put back
// after the MACs with its TPID, and the virtio header is shifted to match.
// When most of the previous batch was tagged, frames are read 4 bytes late,
// so the tag goes in by moving the virtio header and MACs (22 bytes); a
// wrong guess costs moving the frame by 4 bytes.
// Frames too long for a buffer or shorter than an Ethernet header are
// dropped and counted (Stats). Read waits out transient socket errors such
// as ENETDOWN.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if p.closed.Load() {
		return 0, port.ErrClosed
	}
	if offset < header.VirtioNetLen {
		return 0, errBadOffset
	}
	r := &p.rx
	r.want = min(len(bufs), len(r.msgs))
	if r.want == 0 {
		return 0, nil
	}
	for {
		// Read 4 bytes late when the last batch was mostly tagged, so
		// the tag goes in without moving the frame.
		shift := 0
		if r.tagged {
			shift = header.VLANTagLen
		}
		base := offset + shift
		if p.vnet {
			base -= header.VirtioNetLen // the kernel writes the header first
		}
		for i := range r.want {
			b := bufs[i]
			r.iovs[i].Base = &b[base]
			// Keep 4 bytes spare behind a frame read at offset for a
			// tag; beyond that the frame is too long (MSG_TRUNC).
			r.iovs[i].SetLen(max(0, len(b)-base-(header.VLANTagLen-shift)))
			r.msgs[i].Hdr.SetControllen(ctrlLen)
			r.msgs[i].Hdr.Flags = 0
			r.msgs[i].Len = 0
		}
		r.got, r.err = 0, nil
		err := p.rc.Read(r.fn)
		for i := range r.want {
			r.iovs[i].Base = nil // do not keep the caller's buffers alive
		}
		if err != nil {
			return 0, port.MapClosed(p.closed.Load(), err)
		}
		if r.err != nil {
			return 0, fmt.Errorf("read system port %s: %w", p.name, r.err)
		}
		if n := p.finishRead(bufs, sizes, offset, offset+shift); n > 0 {
			return n, nil
		}
	}
}

// recv is the RawConn.Read callback: one recvmmsg, or false to wait.
func (p *Port) recv(fd uintptr) bool {
	r := &p.rx
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(r.want), 0, 0, 0)
		switch e {
		case 0:
			r.got = int(n)
			return n > 0
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.ENETDOWN, unix.ENOBUFS, unix.ENOMEM:
			// A pending socket error (the link went down) is
			// reported once; keep waiting for frames.
			p.stats.errors.Add(1)
		default:
			r.err = e
			return true
		}
	}
}

// finishRead turns the r.got messages read at bufs[i][at:] into frames at
// bufs[k][offset:], dropping the unusable ones, and returns their number.
func (p *Port) finishRead(bufs [][]byte, sizes []int, offset, at int) int {
	r := &p.rx
	k, tagged := 0, 0
	for i := range r.got {
		m := &r.msgs[i]
		n := int(m.Len)
		if p.vnet {
			n -= header.VirtioNetLen
		}
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.stats.truncated.Add(1)
			continue
		}
		if n < header.EthernetLen {
			p.stats.runts.Add(1)
			continue
		}
		b := bufs[i]
		aux, _ := parseAuxdata(r.ctrl[i*ctrlLen : i*ctrlLen+int(m.Hdr.Controllen)])
		if !p.vnet {
			header.VirtioNet(b[at-header.VirtioNetLen : at]).Clear()
		}
		tpid, tci, ok := aux.vlan()
		if ok {
			tagged++
		}
		n = place(b, offset, at, n, ok, tpid, tci)
		if !p.vnet {
			p.describe(b[offset:offset+n], header.VirtioNet(b[offset-header.VirtioNetLen:offset]), aux.status)
		}
		if k != i { // an earlier message was dropped: close the gap
			copy(bufs[k][offset-header.VirtioNetLen:], b[offset-header.VirtioNetLen:offset+n])
		}
		sizes[k] = n
		k++
	}
	r.tagged = 2*tagged > r.got
	return k
}

// describe writes, for a frame read without PACKET_VNET_HDR, the virtio
// header the kernel would have: NEEDS_CSUM where the auxdata says the
// checksum is not ready (TP_STATUS_CSUMNOTREADY: the frame came from this
// host's stack with a partial checksum), DATA_VALID where it was verified,
// and for a TCP frame longer than the MTU (a super-frame the sender's
// stack left to the interface to segment) a GSO type and an MSS the MTU
// allows. Other oversized frames stay as they are. vh is zero on entry.
func (p *Port) describe(frame []byte, vh header.VirtioNet, status uint32) {
	if status&unix.TP_STATUS_CSUM_VALID != 0 {
		vh.SetFlags(header.VirtioNetFlagDataValid)
	}
	partial := status&unix.TP_STATUS_CSUMNOTREADY != 0
	if !partial && len(frame) <= p.mtu+header.EthernetLen+2*header.VLANTagLen {
		return
	}
	pk := &p.rx.pk
	if pk.Decode(frame) != nil || pk.L4Off == 0 || pk.Fragment {
		return
	}
	var f header.VirtioNetFields
	switch pk.Proto {
	case header.ProtoTCP:
		f.CsumOffset = header.TCPChecksumOffset
	case header.ProtoUDP:
		f.CsumOffset = header.UDPChecksumOffset
	default:
		return
	}
	if mss := p.mtu - (pk.PayloadOff - pk.L3Off); pk.Proto == header.ProtoTCP &&
		pk.L3End > pk.L3Off+p.mtu && mss > 0 {
		f.HdrLen = uint16(pk.PayloadOff)
		f.GSOSize = uint16(mss)
		f.GSOType = header.VirtioNetGSOTCPv4
		if pk.IPVersion == 6 {
			f.GSOType = header.VirtioNetGSOTCPv6
		}
		if !partial {
			// A super-frame's checksum is left to fill (the
			// virtio-net contract: CHECKSUM_PARTIAL): replace the
			// full sum with the pseudo-header sum over the whole
			// segment.
			l4len := uint16(pk.L3End - pk.L4Off)
			var sum uint16
			if pk.IPVersion == 4 {
				sum = header.IPv4(frame[pk.L3Off:]).PseudoHeaderChecksum(l4len)
			} else {
				sum = header.IPv6(frame[pk.L3Off:]).PseudoHeaderChecksum(header.ProtoTCP, l4len)
			}
			header.TCP(frame[pk.L4Off:]).SetChecksum(sum)
			partial = true
		}
	}
	if !partial {
		return
	}
	f.Flags = header.VirtioNetFlagNeedsCsum
	f.CsumStart = uint16(pk.L4Off)
	vh.Encode(&f)
}

// Write implements port.Port. With Offloads, frames go to the kernel with
// their virtio header, which segments super-frames and completes partial
// checksums (or lets the NIC do it). Without, Write does both in software
// (offload.Segment) and sends the result; a frame counts as accepted when
// all its segments were. Frames are sent with sendmmsg, without waiting:
// one the kernel refuses (EMSGSIZE, or ENOBUFS/EAGAIN when the send queue
// is full, which drops the rest of the batch) is dropped.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) {
	if p.closed.Load() {
		return 0, port.ErrClosed
	}
	if offset < header.VirtioNetLen {
		return 0, errBadOffset
	}
	t := &p.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n, t.used, t.err = 0, 0, 0
	accepted := 0
	var ferr error // a closed socket, or a frame offload refused
	for i, b := range bufs {
		if p.vnet {
			t.queue(b[offset-header.VirtioNetLen:], i)
		} else if err := p.queueSoftware(b, offset, i, &accepted); err != nil {
			if errors.Is(err, port.ErrClosed) {
				return accepted, err
			}
			if ferr == nil {
				ferr = err
			}
			continue
		}
		if t.n == len(t.msgs) {
			a, err := p.flush()
			accepted += a
			if err != nil {
				return accepted, err
			}
		}
	}
	a, err := p.flush()
	accepted += a
	if err != nil {
		return accepted, err
	}
	if t.err != 0 {
		return accepted, fmt.Errorf("write system port %s: %w", p.name, t.err)
	}
	if ferr != nil {
		return accepted, fmt.Errorf("write system port %s: %w", p.name, ferr)
	}
	return accepted, nil
}

// queueSoftware queues frame i of a port without PACKET_VNET_HDR: as it is
// if it needs no offload, else segmented and checksummed into the scratch
// buffer, flushing first if the scratch is short.
func (p *Port) queueSoftware(b []byte, offset, i int, accepted *int) error {
	t := &p.tx
	frame := b[offset:]
	vh := header.VirtioNet(b[offset-header.VirtioNetLen : offset])
	if !vh.NeedsCsum() && !vh.IsGSO() {
		t.queue(frame, i)
		return nil
	}
	nseg := offload.MaxSegments(frame, vh)
	if nseg == 0 {
		return offload.ErrBadHeader
	}
	per := header.VirtioNetLen + len(frame)
	if vh.IsGSO() {
		per = header.VirtioNetLen + min(len(frame), int(vh.GSOSize())+maxSegHeader)
	}
	if nseg > len(t.segs) || nseg*per > len(t.scratch) {
		return offload.ErrShortBuffer
	}
	if t.n+nseg > len(t.msgs) || t.used+nseg*per > len(t.scratch) {
		a, err := p.flush()
		*accepted += a
		if err != nil {
			return err
		}
	}
	for j := range nseg {
		t.segs[j] = t.scratch[t.used+j*per : t.used+(j+1)*per]
	}
	n, err := offload.Segment(frame, vh, t.segs[:nseg], t.sizes, header.VirtioNetLen)
	if err != nil {
		return err
	}
	for j := range n {
		t.queue(t.segs[j][header.VirtioNetLen:header.VirtioNetLen+t.sizes[j]], i)
		t.segs[j] = nil
	}
	t.used += nseg * per
	return nil
}

// queue adds message b, part of frame owner, to the batch.
func (t *txState) queue(b []byte, owner int) {
	t.iovs[t.n].Base = &b[0]
	t.iovs[t.n].SetLen(len(b))
	t.owner[t.n] = owner
	t.failed[t.n] = false
	t.n++
}

// flush sends the queued messages and returns how many frames were
// accepted: those none of whose messages was refused.
func (p *Port) flush() (int, error) {
	t := &p.tx
	if t.n == 0 {
		return 0, nil
	}
	err := p.rc.Write(t.fn)
	accepted, last, ok := 0, -1, false
	for j := range t.n {
		if t.owner[j] != last {
			if ok {
				accepted++
			}
			last, ok = t.owner[j], true
		}
		if t.failed[j] || err != nil {
			ok = false
		}
		t.iovs[j].Base = nil
	}
	if ok {
		accepted++
	}
	t.n, t.used = 0, 0
	if err != nil {
		return accepted, port.MapClosed(p.closed.Load(), err)
	}
	return accepted, nil
}

// send is the RawConn.Write callback: sendmmsg until every queued message
// was sent or refused. It never waits for the socket to become writable.
func (p *Port) send(fd uintptr) bool {
	t := &p.tx
	for k := 0; k < t.n; {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&t.msgs[k])), uintptr(t.n-k), 0, 0, 0)
		switch e {
		case 0:
			k += int(n)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			// The send queue is full: drop the rest of the batch
			// rather than retry each frame.
			p.stats.txQueueFull.Add(uint64(t.n - k))
			for ; k < t.n; k++ {
				t.failed[k] = true
			}
			t.setErr(e)
		default:
			// sendmmsg stopped at message k: drop it, go on. EMSGSIZE
			// is a frame (not a super-frame) longer than the link's
			// MTU allows: Linux tolerates 4 bytes over the MTU only
			// under an 0x8100 outer tag, so a full-size frame with two
			// tags (QinQ, 0x88a8 outside) needs an MTU of 1508.
			if e == unix.EMSGSIZE {
				p.stats.txTooBig.Add(1)
			} else {
				p.stats.txRefused.Add(1)
			}
			t.failed[k] = true
			t.setErr(e)
			k++
		}
	}
	return true
}

func (t *txState) setErr(e syscall.Errno) {
	if t.err == 0 {
		t.err = e
	}
}

// DeviceDrops implements port.DeviceCounter.
func (p *Port) DeviceDrops() map[string]uint64 {
	st := p.Stats()
	m := map[string]uint64{}
	for k, v := range map[string]uint64{
		"rx-truncated": st.RxTruncated, "rx-runt": st.RxRunts, "rx-error": st.RxErrors, "kernel-drop": st.KernelDrops,
		"tx-too-big": st.TxTooBig, "tx-queue-full": st.TxQueueFull, "tx-refused": st.TxRefused,
	} {
		if v != 0 {
			m[k] = v
		}
	}
	return m
}

var _ port.DeviceCounter = (*Port)(nil)

// Stats returns the port's drop counters.
func (p *Port) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if !p.closed.Load() {
		p.rc.Control(func(fd uintptr) {
			if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				p.stats.kernelDrops.Add(uint64(st.Drops))
			}
		})
	}
	st := Stats{
		RxTruncated: p.stats.truncated.Load(),
		RxRunts:     p.stats.runts.Load(),
		RxErrors:    p.stats.errors.Load(),
		KernelDrops: p.stats.kernelDrops.Load(),
		TxTooBig:    p.stats.txTooBig.Load(),
		TxQueueFull: p.stats.txQueueFull.Load(),
		TxRefused:   p.stats.txRefused.Load(),
	}
	for _, q := range p.fanout {
		qs := q.Stats()
		st.RxTruncated += qs.RxTruncated
		st.RxRunts += qs.RxRunts
		st.RxErrors += qs.RxErrors
		st.KernelDrops += qs.KernelDrops
	}
	return st
}

// Close implements port.Port. The interface leaves promiscuous mode if
// this port had put it there.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return port.ErrClosed
	}
	for _, q := range p.fanout {
		q.Close()
	}
	return p.f.Close()
}

// MaxFanout bounds EnableFanout's socket count.
const MaxFanout = 16

// EnableFanout spreads the port's receive side over n AF_PACKET sockets in
// one PACKET_FANOUT_HASH group (packet(7)): the kernel picks a socket by
// the flow hash of each frame, so one flow's frames always arrive on the
// same socket, in order, and a datapath reads the sockets in parallel
// (datapath.Queues). Call it before the port is added to a datapath; n ≤ 1
// does nothing. Writes still go out through the first socket.
func (p *Port) EnableFanout(n int) error {
	n = min(n, MaxFanout)
	if n <= 1 || len(p.fanout) > 0 {
		return nil
	}
	// The first socket asks for a group id the kernel makes unique in
	// the namespace; the others join it.
	const hashUnique = (unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_UNIQUEID) << 16
	var id int
	var err error
	p.rc.Control(func(fd uintptr) {
		if err = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT, hashUnique); err == nil {
			id, err = unix.GetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT)
		}
	})
	if err != nil {
		return fmt.Errorf("system port %s: join a PACKET_FANOUT group: %w", p.name, err)
	}
	group := id&0xffff | unix.PACKET_FANOUT_HASH<<16
	for range n - 1 {
		q, err := open(p.name, Options{BatchSize: p.batch}, allFeatures)
		if err == nil && q.vnet != p.vnet {
			q.Close()
			err = errors.New("PACKET_VNET_HDR differs between sockets")
		}
		if err == nil {
			q.rc.Control(func(fd uintptr) {
				err = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT, group)
			})
			if err != nil {
				q.Close()
			}
		}
		if err != nil {
			// The group stays with fewer sockets: still correct.
			return fmt.Errorf("system port %s: fanout socket %d: %w", p.name, len(p.fanout)+1, err)
		}
		p.fanout = append(p.fanout, q)
	}
	return nil
}

// Queues implements datapath.Queues: 1 plus the fanout sockets.
func (p *Port) Queues() int { return 1 + len(p.fanout) }

// ReadQueue implements datapath.Queues: Read on socket q of the fanout
// group.
func (p *Port) ReadQueue(q int, bufs [][]byte, sizes []int, offset int) (int, error) {
	if q == 0 {
		return p.Read(bufs, sizes, offset)
	}
	if q < 0 || q > len(p.fanout) {
		return 0, fmt.Errorf("system port %s: no receive queue %d", p.name, q)
	}
	n, err := p.fanout[q-1].Read(bufs, sizes, offset)
	if err != nil && p.closed.Load() {
		err = port.ErrClosed
	}
	return n, err
}

// errBadOffset is returned by Read and Write for an offset with no room for
// the virtio header (a bug in the caller).
var errBadOffset = errors.New("offset smaller than the virtio header")
