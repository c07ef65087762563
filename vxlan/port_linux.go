package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
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

// Socket buffer sizes asked for with SO_*BUFFORCE (the kernel doubles them
// for overhead): the receiving socket holds a few batches of full-size
// datagrams; each sending socket a few UDP GSO messages of 64 KiB.
const (
	rcvBufSize = 4 << 20
	sndBufSize = 1 << 20
)

// Transmit batch limits. A Write of DefaultBatchSize frames flooded to a
// few peers fits one flush; more is sent in several.
const (
	maxMsgs = 256  // messages per flush (sendmmsg runs)
	maxIovs = 1024 // iovecs per flush (UIO_MAXIOV)
)

// Software segmentation: scratch for a few 64 KiB super-frames cut at an
// MSS down to 256 bytes.
const (
	scratchSize  = 512 << 10
	maxSegs      = 256
	maxSegHeader = 512 // bound on a segment's Ethernet+VLAN+IP+L4 headers
)

// UDP GSO limits: segments per sendmsg (UDP_MAX_SEGMENTS is 64 before
// Linux 5.10-ish kernels raised it to 128; 64 works everywhere) and the
// largest UDP payload of one message, whose IP datagram must stay within
// 64 KiB.
const (
	maxGSOSegs     = 64
	maxGSOPayload4 = 65535 - header.IPv4MinLen - header.UDPLen
	maxGSOPayload6 = 65535 - header.IPv6Len - header.UDPLen
)

// hdrLen is the bytes a frame sent without copying gets from the port's own
// memory: the VXLAN header and the inner MACs (the tag is left out).
const hdrLen = header.VXLANLen + 12

// gsoCtrlLen is the control buffer of one UDP GSO message: a cmsg with the
// 16-bit segment size.
var gsoCtrlLen = unix.CmsgSpace(2)

// dropAll is a classic BPF program that drops every packet: the sending
// sockets receive nothing.
var dropAll = [...]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

var errBadOffset = errors.New("offset smaller than the virtio header")

// sockets are the Linux sockets of a Port and its batch state.
type sockets struct {
	f      *os.File // receiving socket, bound to the VXLAN port; in the netpoller
	rc     syscall.RawConn
	closed atomic.Bool // set by Close: RawConn errors then mean port.ErrClosed
	src    []int       // sending sockets, nonblocking; Write uses them under tx.mu
	ports  []uint16    // their source ports
	gso    atomic.Bool // UDP_SEGMENT in use

	rx rxState // owned by the one goroutine in Read
	tx txState // guarded by tx.mu
}

// rxState is Read's preallocated recvmmsg state. The arguments of the
// current call live here so the RawConn callback is a method value made
// once, not a closure per call.
type rxState struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	fn    func(fd uintptr) bool
	want  int
	got   int
	err   error
}

// txState is Write's preallocated sendmmsg state. Messages are queued in
// frame order, then grouped by sending socket at flush.
type txState struct {
	mu sync.Mutex // serialises Write; Close holds it to close the sending sockets

	msgs    []unix.Mmsghdr // queued messages
	meta    []msgMeta
	names   []unix.RawSockaddrInet6 // destination of message j
	hdrs    []byte                  // hdrLen bytes per message sent without copy
	ctrl    []byte                  // gsoCtrlLen bytes per message
	n       int                     // messages queued
	iovs    []unix.Iovec
	niov    int
	oneSock bool // every queued message uses the same socket

	sorted []unix.Mmsghdr // msgs grouped by socket
	perm   []int32        // sorted[k] is msgs[perm[k]]
	runs   []int32        // per socket: end of its run in sorted
	single []unix.Mmsghdr // a refused GSO message's segments, one per message

	state []uint8       // per frame of the Write: frameNone, frameQueued, frameFailed
	errno syscall.Errno // first refusal in the Write

	// The last remote table lookup of the Write.
	cached    bool
	cacheKey  remoteKey
	cacheDest [1]dest
	cacheHit  bool

	scratch []byte // segments of super-frames, headers included
	used    int
	segs    [][]byte
	sizes   []int

	// Fragmentation-needed answers built during the Write, handed to
	// Options.PMTU once the lock is released; rate-limited by pmtuLim.
	pmtu    []pmtuAnswer
	pmtuLim pmtuLimiter
}

type pmtuAnswer struct {
	vid   uint16
	frame []byte
}

// tooBig counts a frame dropped as too big (tagged, the 802.1Q-tagged
// inner frame or its first segment) and, with Options.PMTU, queues the
// answer to its sender. Callers hold tx.mu.
func (p *Port) tooBig(tagged []byte, now int64) {
	p.cnt.tooBig.Add(1)
	t := &p.sys.tx
	if p.pmtu == nil || len(t.pmtu) >= 4 {
		return
	}
	if vid, f := fragNeeded(tagged, p.PayloadMTU()); f != nil && t.pmtuLim.allow(now) {
		t.pmtu = append(t.pmtu, pmtuAnswer{vid, f})
	}
}

// msgMeta describes a queued message.
type msgMeta struct {
	owner  int32  // index of its frame in the Write
	sock   uint16 // sending socket
	dgrams uint16 // datagrams it makes (UDP GSO segments, else 1)
	bytes  uint32 // UDP payload bytes in all
	gso    bool   // sent with UDP_SEGMENT
	failed bool
	ctr    *vtepCounters
}

const (
	frameNone   = iota // nothing queued (dropped before sending, or not seen)
	frameQueued        // every message so far sent or pending
	frameFailed        // a message was refused
)

// Open creates a vxlan port: a UDP socket bound to Options.Local and
// Options.Port, in the calling thread's network namespace (run it under
// netns.Do for another), and the sending sockets. The port carries no
// network until SetNetworks. The Port owns its sockets; Close releases
// them.
func Open(opt Options) (*Port, error) {
	p, err := newPort(opt)
	if err != nil {
		return nil, fmt.Errorf("open vxlan port: %w", err)
	}
	if err := p.open(opt); err != nil {
		return nil, fmt.Errorf("open vxlan port %v: %w", netip.AddrPortFrom(p.local, p.dport), err)
	}
	return p, nil
}

func (p *Port) open(opt Options) error {
	s := &p.sys
	fd, err := p.socket()
	if err != nil {
		return err
	}
	// Best effort: without CAP_NET_ADMIN, ask within the sysctl limits.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBufSize) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBufSize)
	}
	if err := unix.Bind(fd, p.sockaddr(p.local, p.dport)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("bind: %w", err)
	}
	// fd is nonblocking, so os.NewFile registers it with the netpoller;
	// never call (*os.File).Fd, which would make it blocking again.
	s.f = os.NewFile(uintptr(fd), "vxlan")
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return err
	}
	n := opt.SourcePorts
	if n == 0 {
		n = DefaultSourcePorts
	}
	if err := p.openSenders(n); err != nil {
		p.closeAll()
		return err
	}
	s.gso.Store(!opt.NoGSO && probeGSO(s.src[0]))
	s.tx.pmtuLim.tokens = pmtuRate
	p.seed = rand.Uint64()
	p.initBuffers()
	return nil
}

// socket returns a nonblocking UDP socket of the port's family.
func (p *Port) socket() (int, error) {
	fam := unix.AF_INET
	if p.is6 {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("create UDP socket: %w", err)
	}
	if p.is6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("set IPV6_V6ONLY: %w", err)
		}
	}
	return fd, nil
}

func (p *Port) sockaddr(a netip.Addr, port uint16) unix.Sockaddr {
	if p.is6 {
		return &unix.SockaddrInet6{Addr: a.As16(), Port: int(port)}
	}
	return &unix.SockaddrInet4{Addr: a.As4(), Port: int(port)}
}

// openSenders opens n sending sockets bound to distinct ports drawn at
// random from MinSourcePort–MaxSourcePort, skipping ports in use.
func (p *Port) openSenders(n int) error {
	s := &p.sys
	const span = MaxSourcePort - MinSourcePort + 1
	start := rand.IntN(span)
	tried := 0
	for len(s.src) < n {
		fd, err := p.socket()
		if err != nil {
			return err
		}
		if err := p.setupSender(fd); err != nil {
			unix.Close(fd)
			return err
		}
		for {
			if tried == span {
				unix.Close(fd)
				return fmt.Errorf("bind sending socket: no free port in %d–%d", MinSourcePort, MaxSourcePort)
			}
			port := uint16(MinSourcePort + (start+tried*7919)%span) // 7919 is prime, so all ports are tried
			tried++
			err := unix.Bind(fd, p.sockaddr(p.local, port))
			if err == nil {
				s.src = append(s.src, fd)
				s.ports = append(s.ports, port)
				break
			}
			if !errors.Is(err, unix.EADDRINUSE) {
				unix.Close(fd)
				return fmt.Errorf("bind sending socket to port %d: %w", port, err)
			}
		}
	}
	return nil
}

// setupSender sets the options of a sending socket: don't fragment (RFC
// 7348 §4.3), a send buffer for GSO messages, and a filter dropping
// anything sent to it.
func (p *Port) setupSender(fd int) error {
	var err error
	if p.is6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	}
	if err != nil {
		return fmt.Errorf("set don't-fragment: %w", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBufSize) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBufSize)
	}
	prog := unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attach drop-all filter: %w", err)
	}
	return nil
}

// probeGSO reports whether the kernel knows UDP_SEGMENT (Linux ≥ 4.18).
func probeGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// initBuffers makes the message headers, iovecs and buffers Read and Write
// reuse.
func (p *Port) initBuffers() {
	r := &p.sys.rx
	r.msgs = make([]unix.Mmsghdr, p.batch)
	r.iovs = make([]unix.Iovec, p.batch)
	r.names = make([]unix.RawSockaddrInet6, p.batch)
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.fn = p.recv

	t := &p.sys.tx
	t.msgs = make([]unix.Mmsghdr, maxMsgs)
	t.meta = make([]msgMeta, maxMsgs)
	t.names = make([]unix.RawSockaddrInet6, maxMsgs)
	t.hdrs = make([]byte, maxMsgs*hdrLen)
	t.ctrl = make([]byte, maxMsgs*gsoCtrlLen)
	t.iovs = make([]unix.Iovec, maxIovs)
	t.sorted = make([]unix.Mmsghdr, maxMsgs)
	t.perm = make([]int32, maxMsgs)
	t.runs = make([]int32, len(p.sys.src))
	t.single = make([]unix.Mmsghdr, maxGSOSegs)
	t.state = make([]uint8, DefaultBatchSize)
	t.scratch = make([]byte, scratchSize)
	t.segs = make([][]byte, maxSegs)
	t.sizes = make([]int, maxSegs)
}

// SourcePorts returns the outer UDP source ports the port sends from.
func (p *Port) SourcePorts() []uint16 { return append([]uint16(nil), p.sys.ports...) }

func (p *Port) gsoEnabled() bool { return p.sys.gso.Load() }

// Read implements port.Port. It blocks in the netpoller until the socket is
// readable, then receives up to len(bufs) (at most BatchSize) datagrams
// with one recvmmsg, each 4 bytes before the frame's place, so that the
// inner frame, once its MACs move back over the VXLAN header, has room for
// the 802.1Q tag of its network. Datagrams that are not VXLAN of a carried
// network from an accepted VTEP are dropped and counted (DeviceDrops).
// Frames read have a zero virtio header.
func (p *Port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	s := &p.sys
	if s.closed.Load() {
		return 0, port.ErrClosed
	}
	if offset < header.VirtioNetLen {
		return 0, errBadOffset
	}
	r := &s.rx
	r.want = min(len(bufs), len(sizes), len(r.msgs))
	if r.want == 0 {
		return 0, nil
	}
	base := offset + header.VLANTagLen - header.VXLANLen
	for {
		for i := range r.want {
			b := bufs[i]
			r.iovs[i].Base = &b[base]
			r.iovs[i].SetLen(len(b) - base)
			h := &r.msgs[i].Hdr
			h.Namelen = unix.SizeofSockaddrInet6
			h.Flags = 0
			r.msgs[i].Len = 0
		}
		r.got, r.err = 0, nil
		err := s.rc.Read(r.fn)
		for i := range r.want {
			r.iovs[i].Base = nil // do not keep the caller's buffers alive
		}
		if err != nil {
			return 0, port.MapClosed(s.closed.Load(), err)
		}
		if r.err != nil {
			return 0, fmt.Errorf("read vxlan port: %w", r.err)
		}
		if n := p.decap(bufs, sizes, offset); n > 0 {
			return n, nil
		}
	}
}

// recv is the RawConn.Read callback: one recvmmsg, or false to wait.
func (p *Port) recv(fd uintptr) bool {
	r := &p.sys.rx
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(r.want), 0, 0, 0)
		switch e {
		case 0:
			r.got = int(n)
			return n > 0
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.ENOBUFS, unix.ENOMEM:
			// A pending socket error (an ICMP error for something
			// sent) is reported once; keep waiting for datagrams.
			p.cnt.rxError.Add(1)
		default:
			r.err = e
			return true
		}
	}
}

// srcAddr returns the source address recvmmsg stored in name.
func (p *Port) srcAddr(name *unix.RawSockaddrInet6) netip.Addr {
	if p.is6 {
		return netip.AddrFrom16(name.Addr).Unmap()
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
	return netip.AddrFrom4(sa.Addr)
}

// decap turns the r.got datagrams received at bufs[i][offset-4:] into
// tagged frames at bufs[k][offset:], dropping and counting the unusable
// ones, and returns the number of frames.
func (p *Port) decap(bufs [][]byte, sizes []int, offset int) int {
	r := &p.sys.rx
	c := p.cfg.Load()
	now := p.clock()
	base := offset + header.VLANTagLen - header.VXLANLen
	k := 0
	// Within a batch, datagrams mostly come in runs from one VTEP and one
	// inner source: checks, learning and counter updates are done once
	// per run.
	var (
		lastSrc    netip.Addr
		lastNet    *netcfg
		lastCtr    *vtepCounters
		accepted   bool
		frames     uint64 // counted for lastCtr, not yet added
		bytes      uint64
		learnedKey remoteKey // known or learned at learnedSrc
		learnedSrc netip.Addr
	)
	addCounts := func() {
		if frames != 0 {
			lastCtr.rxFrames.Add(frames)
			lastCtr.rxBytes.Add(bytes)
			frames, bytes = 0, 0
		}
	}
	for i := range r.got {
		m := &r.msgs[i]
		n := int(m.Len)
		b := bufs[i]
		src := p.srcAddr(&r.names[i])
		// Drops are counted for the port and for the VTEP they came
		// from (the rare path: a registry lookup each).
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.cnt.rxTruncated.Add(1)
			p.vteps.get(src).rxTruncated.Add(1)
			continue
		}
		if n < header.VXLANLen+header.EthernetLen {
			p.cnt.short.Add(1)
			p.vteps.get(src).short.Add(1)
			continue
		}
		vx := header.VXLAN(b[base : base+header.VXLANLen])
		if !vx.HasVNI() {
			p.cnt.badFlags.Add(1)
			p.vteps.get(src).badFlags.Add(1)
			continue
		}
		nc := c.byVNI[vx.VNI()]
		if nc == nil {
			p.cnt.badVNI.Add(1)
			p.vteps.get(src).badVNI.Add(1)
			continue
		}
		if src != lastSrc || nc != lastNet {
			addCounts()
			lastSrc, lastNet = src, nc
			accepted = p.accepts(nc, src)
			lastCtr = nil
		}
		if !accepted {
			p.cnt.unknownVTEP.Add(1)
			p.vteps.get(src).unknownVTEP.Add(1)
			continue
		}
		inner := b[offset+header.VLANTagLen : base+n]
		if header.IsTPID(binary.BigEndian.Uint16(inner[12:])) {
			p.cnt.innerTagged.Add(1)
			p.vteps.get(src).innerTagged.Add(1)
			continue
		}
		if lastCtr == nil {
			lastCtr = p.vteps.get(src)
		}
		frames++
		bytes += uint64(n)
		if mac := header.MAC(inner[6:12]); !mac.IsMulticast() && !mac.IsZero() {
			if key := (remoteKey{nc.vni, mac}); key != learnedKey || src != learnedSrc {
				if p.remotes.knows(key, src, now) || p.remotes.learn(key, src, lastCtr, now) {
					learnedKey, learnedSrc = key, src
				} else {
					p.cnt.learnFull.Add(1)
				}
			}
		}
		if binary.BigEndian.Uint16(inner[12:]) == header.EtherTypeARP {
			p.snoopARP(nc.vni, inner, src, now)
		}
		// Push the network's tag: the MACs move back over the VXLAN
		// header, the tag takes their place.
		copy(b[offset:offset+12], b[offset+header.VLANTagLen:offset+header.VLANTagLen+12])
		binary.BigEndian.PutUint16(b[offset+12:], header.EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[offset+14:], nc.vid)
		header.VirtioNet(b[offset-header.VirtioNetLen : offset]).Clear()
		size := n - header.VXLANLen + header.VLANTagLen
		if k != i { // an earlier datagram was dropped: close the gap
			copy(bufs[k][offset-header.VirtioNetLen:], b[offset-header.VirtioNetLen:offset+size])
		}
		sizes[k] = size
		k++
	}
	addCounts()
	return k
}

// Write implements port.Port. Each frame must carry an 802.1Q tag whose
// VLAN a network is mapped to; it is sent, without its tag, to the VTEP its
// destination MAC was learned at, or to every peer of the network if the
// MAC is unknown or a group address. Super-frames and frames with a partial
// checksum are segmented and checksummed first (package offload). Frames
// leave from the sending socket their flow hashes to, with one sendmmsg per
// socket used, without waiting: a datagram the kernel refuses is dropped.
// A frame counts as accepted when all its datagrams were. Frames dropped
// before sending make Write return one of the Err* errors of this package
// or of package offload, unwrapped; a refused datagram a wrapped errno.
func (p *Port) Write(bufs [][]byte, offset int) (int, error) {
	if offset < header.VirtioNetLen {
		return 0, errBadOffset
	}
	n, answers, err := p.write(bufs, offset)
	for _, a := range answers {
		p.pmtu(a.vid, a.frame)
	}
	return n, err
}

// write is Write under the send lock; it also returns the
// fragmentation-needed answers to send.
func (p *Port) write(bufs [][]byte, offset int) (int, []pmtuAnswer, error) {
	s := &p.sys
	t := &s.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed.Load() {
		return 0, nil, port.ErrClosed
	}
	t.errno, t.cached = 0, false
	if len(bufs) > len(t.state) {
		t.state = make([]uint8, len(bufs))
	}
	state := t.state[:len(bufs)]
	clear(state)
	c := p.cfg.Load()
	now := p.clock()
	var ferr error
	for i, b := range bufs {
		if err := p.encap(c, b, offset, int32(i), now); err != nil && ferr == nil {
			ferr = err
		}
	}
	p.flush()
	t.cacheDest[0].ctr = nil
	accepted := 0
	for _, st := range state {
		if st == frameQueued {
			accepted++
		}
	}
	answers := t.pmtu
	t.pmtu = nil
	if errno := t.errno; ferr == nil && errno != 0 {
		return accepted, answers, fmt.Errorf("write vxlan port: %w", errno)
	}
	return accepted, answers, ferr
}

// encap queues the messages that carry frame i (b[offset:]) to its VTEPs.
func (p *Port) encap(c *config, b []byte, offset int, i int32, now int64) error {
	frame := b[offset:]
	if len(frame) < header.EthernetLen+header.VLANTagLen || binary.BigEndian.Uint16(frame[12:]) != header.EtherTypeVLAN {
		p.cnt.untagged.Add(1)
		return ErrUntagged
	}
	nc := c.byVID[binary.BigEndian.Uint16(frame[14:])&0x0fff]
	if nc == nil {
		p.cnt.noVNI.Add(1)
		return ErrNoVNI
	}
	t := &p.sys.tx
	dests := nc.peers
	if dst := header.MAC(frame[0:6]); !dst.IsMulticast() {
		// Frames of a batch mostly come in runs to one MAC.
		if k := (remoteKey{nc.vni, dst}); !t.cached || k != t.cacheKey {
			t.cacheKey, t.cached = k, true
			t.cacheDest[0].addr, t.cacheDest[0].ctr, t.cacheHit = p.remotes.lookup(nc.vni, dst, now)
		}
		if t.cacheHit {
			dests = t.cacheDest[:]
		}
	}
	if len(dests) == 0 {
		p.cnt.noPeer.Add(1)
		return ErrNoPeer
	}
	sock := uint16(pick(flowHash(frame, 12+header.VLANTagLen, p.seed), len(p.sys.src)))
	vh := header.VirtioNet(b[offset-header.VirtioNetLen : offset])
	if vh.IsGSO() || vh.NeedsCsum() {
		return p.encapSegments(nc, frame, vh, dests, sock, i, now)
	}
	if len(frame)-header.VLANTagLen > p.maxInner {
		p.tooBig(frame, now)
		return ErrTooBig
	}
	rest := frame[12+header.VLANTagLen:]
	for _, d := range dests {
		if t.n == len(t.msgs) || t.niov+2 > len(t.iovs) {
			p.flush()
		}
		j := t.n
		hdr := t.hdrs[j*hdrLen : (j+1)*hdrLen]
		header.VXLAN(hdr).Encode(&header.VXLANFields{Flags: header.VXLANFlagI, VNI: nc.vni})
		copy(hdr[header.VXLANLen:], frame[:12])
		iov := t.iovs[t.niov : t.niov+2]
		iov[0].Base = &hdr[0]
		iov[0].SetLen(hdrLen)
		iov[1].Base = &rest[0]
		iov[1].SetLen(len(rest))
		p.queue(d, iov, sock, 1, uint32(hdrLen+len(rest)), 0, i)
	}
	return nil
}

// encapSegments queues a super-frame or a frame with a partial checksum:
// cut and checksummed into the scratch buffer, each segment's tag replaced
// by the VXLAN header in place, then sent to each destination as UDP GSO
// messages (one datagram per segment) or one message per segment.
func (p *Port) encapSegments(nc *netcfg, frame []byte, vh header.VirtioNet, dests []dest, sock uint16, i int32, now int64) error {
	t := &p.sys.tx
	nseg := offload.MaxSegments(frame, vh)
	if nseg == 0 || nseg > len(t.segs) {
		p.cnt.txOffload.Add(1)
		return offload.ErrBadHeader
	}
	slot := header.VirtioNetLen + len(frame)
	if vh.IsGSO() {
		slot = header.VirtioNetLen + min(len(frame), int(vh.GSOSize())+maxSegHeader)
	}
	if nseg*slot > len(t.scratch) {
		p.cnt.txOffload.Add(1)
		return offload.ErrShortBuffer
	}
	if t.used+nseg*slot > len(t.scratch) {
		p.flush()
	}
	if t.n == 0 {
		t.used = 0 // nothing queued refers to the scratch
	}
	for j := range nseg {
		t.segs[j] = t.scratch[t.used+j*slot : t.used+(j+1)*slot]
	}
	n, err := offload.Segment(frame, vh, t.segs[:nseg], t.sizes, header.VirtioNetLen)
	if err != nil {
		clear(t.segs[:nseg])
		p.cnt.txOffload.Add(1)
		return err
	}
	// The first segment is the longest.
	if t.sizes[0]-header.VLANTagLen > p.maxInner {
		p.tooBig(t.segs[0][header.VirtioNetLen:header.VirtioNetLen+t.sizes[0]], now)
		clear(t.segs[:nseg])
		return ErrTooBig
	}
	t.used += nseg * slot
	// Segment j is at seg[v:v+size] with v = VirtioNetLen: its datagram
	// is seg[v-4:v+size], the VXLAN header over the room and the first
	// 4 bytes of the MACs, which move forward over the tag.
	const v = header.VirtioNetLen
	for j := range n {
		seg := t.segs[j]
		copy(seg[v+header.VLANTagLen:v+header.VLANTagLen+12], seg[v:v+12])
		header.VXLAN(seg[v-header.VLANTagLen:]).Encode(&header.VXLANFields{Flags: header.VXLANFlagI, VNI: nc.vni})
		t.segs[j] = seg[v-header.VLANTagLen : v+t.sizes[j]]
	}
	segs := t.segs[:n]
	gso := n > 1 && p.sys.gso.Load()
	maxPayload := maxGSOPayload4
	if p.is6 {
		maxPayload = maxGSOPayload6
	}
	for _, d := range dests {
		for k := 0; k < n; {
			// One message: a GSO run of equal-size datagrams (the
			// last may be shorter), or a single datagram.
			cnt, bytes := 1, len(segs[k])
			if gso {
				for k+cnt < n && cnt < maxGSOSegs && bytes+len(segs[k+cnt]) <= maxPayload {
					bytes += len(segs[k+cnt])
					cnt++
				}
			}
			if t.n == len(t.msgs) || t.niov+cnt > len(t.iovs) {
				p.flush() // the scratch stays as it is
			}
			iov := t.iovs[t.niov : t.niov+cnt]
			for q := range cnt {
				iov[q].Base = &segs[k+q][0]
				iov[q].SetLen(len(segs[k+q]))
			}
			gsoSize := 0
			if cnt > 1 {
				gsoSize = len(segs[k])
			}
			p.queue(d, iov, sock, cnt, uint32(bytes), gsoSize, i)
			k += cnt
		}
	}
	clear(segs)
	return nil
}

// queue adds a message of iov's datagram(s) to d from socket sock, part of
// frame owner; gsoSize, if not 0, makes it a UDP GSO message.
func (p *Port) queue(d dest, iov []unix.Iovec, sock uint16, dgrams int, bytes uint32, gsoSize int, owner int32) {
	t := &p.sys.tx
	j := t.n
	name := &t.names[j]
	h := &t.msgs[j].Hdr
	*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(name)), Iov: &iov[0]}
	h.SetIovlen(len(iov))
	if p.is6 {
		*name = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: d.addr.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&name.Port))[:], p.dport)
		h.Namelen = unix.SizeofSockaddrInet6
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: d.addr.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], p.dport)
		h.Namelen = unix.SizeofSockaddrInet4
	}
	if gsoSize != 0 {
		ctrl := t.ctrl[j*gsoCtrlLen : (j+1)*gsoCtrlLen]
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		cm.Level = unix.IPPROTO_UDP
		cm.Type = unix.UDP_SEGMENT
		cm.SetLen(unix.CmsgLen(2))
		*(*uint16)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)])) = uint16(gsoSize) // host byte order
		h.Control = &ctrl[0]
		h.SetControllen(gsoCtrlLen)
	}
	t.msgs[j].Len = 0
	t.meta[j] = msgMeta{owner: owner, sock: sock, dgrams: uint16(dgrams), bytes: bytes, gso: gsoSize != 0, ctr: d.ctr}
	if j == 0 {
		t.oneSock = true
	} else if t.meta[0].sock != sock {
		t.oneSock = false
	}
	t.niov += len(iov)
	t.n++
	if t.state[owner] == frameNone {
		t.state[owner] = frameQueued
	}
}

// flush sends the queued messages, one sendmmsg run per sending socket,
// and updates the frames' states, the VTEP counters and tx.errno.
func (p *Port) flush() {
	s := &p.sys
	t := &s.tx
	if t.n == 0 {
		return
	}
	var errno syscall.Errno
	if t.oneSock {
		for j := range t.n {
			t.perm[j] = int32(j)
		}
		errno = p.sendRun(s.src[t.meta[0].sock], t.msgs[:t.n], t.perm[:t.n])
	} else {
		// Counting sort by socket, keeping the order within each.
		clear(t.runs)
		for j := range t.n {
			t.runs[t.meta[j].sock]++
		}
		pos := int32(0)
		for q := range t.runs {
			pos, t.runs[q] = pos+t.runs[q], pos // runs[q] = start of run q
		}
		for j := range t.n {
			q := t.meta[j].sock
			t.sorted[t.runs[q]] = t.msgs[j]
			t.perm[t.runs[q]] = int32(j)
			t.runs[q]++ // ends as the end of run q
		}
		start := int32(0)
		for q, end := range t.runs {
			if end > start {
				if e := p.sendRun(s.src[q], t.sorted[start:end], t.perm[start:end]); e != 0 && errno == 0 {
					errno = e
				}
			}
			start = end
		}
		clear(t.sorted[:t.n])
	}
	for j := range t.n {
		m := &t.meta[j]
		if m.failed {
			t.state[m.owner] = frameFailed
		} else {
			m.ctr.txFrames.Add(uint64(m.dgrams))
			m.ctr.txBytes.Add(uint64(m.bytes))
			if m.gso {
				p.cnt.gsoSends.Add(1)
			}
		}
		m.ctr = nil
	}
	clear(t.iovs[:t.niov]) // do not keep the caller's buffers alive
	clear(t.msgs[:t.n])
	t.n, t.niov = 0, 0
	if t.errno == 0 {
		t.errno = errno
	}
}

// sendRun sends msgs, all from socket fd, until each was sent or refused;
// perm maps them to their queue index. It never waits for the socket to
// become writable.
func (p *Port) sendRun(fd int, msgs []unix.Mmsghdr, perm []int32) syscall.Errno {
	t := &p.sys.tx
	var first syscall.Errno
	fail := func(k int, e syscall.Errno) {
		t.meta[perm[k]].failed = true
		if first == 0 {
			first = e
		}
	}
	for k := 0; k < len(msgs); {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[k])), uintptr(len(msgs)-k), 0, 0, 0)
		switch e {
		case 0:
			k += int(n)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			// The send queue is full: drop the rest rather than
			// retry each datagram.
			for ; k < len(msgs); k++ {
				p.cnt.txQueueFull.Add(uint64(t.meta[perm[k]].dgrams))
				fail(k, e)
			}
		case unix.EIO, unix.EINVAL:
			if msgs[k].Hdr.Controllen != 0 {
				// The kernel refused UDP GSO (EIO: before
				// Linux 6.11 a route's device without checksum
				// offload, or an IPsec route; EINVAL: no UDP
				// checksum): send the segments one by one.
				t.meta[perm[k]].gso = false
				if e2 := p.sendSingly(fd, &msgs[k]); e2 != 0 {
					fail(k, e2)
				}
				k++
				continue
			}
			p.cnt.txError.Add(1)
			fail(k, e)
			k++
		case unix.EMSGSIZE:
			p.cnt.tooBig.Add(uint64(t.meta[perm[k]].dgrams))
			fail(k, e)
			k++
		default:
			p.cnt.txError.Add(uint64(t.meta[perm[k]].dgrams))
			fail(k, e)
			k++
		}
	}
	return first
}

// sendSingly sends the datagrams of a GSO message the kernel refused one
// per message. If they all go, GSO is what failed, and it is turned off.
func (p *Port) sendSingly(fd int, m *unix.Mmsghdr) syscall.Errno {
	t := &p.sys.tx
	iov := unsafe.Slice(m.Hdr.Iov, m.Hdr.Iovlen)
	single := t.single[:len(iov)]
	for q := range iov {
		single[q] = unix.Mmsghdr{Hdr: unix.Msghdr{Name: m.Hdr.Name, Namelen: m.Hdr.Namelen, Iov: &iov[q]}}
		single[q].Hdr.SetIovlen(1)
	}
	defer clear(single)
	var first syscall.Errno
	sent := 0
	for k := 0; k < len(single); {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&single[k])), uintptr(len(single)-k), 0, 0, 0)
		switch e {
		case 0:
			k += int(n)
			sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			p.cnt.txQueueFull.Add(uint64(len(single) - k))
			return e
		case unix.EMSGSIZE:
			p.cnt.tooBig.Add(1)
			if first == 0 {
				first = e
			}
			k++
		default:
			p.cnt.txError.Add(1)
			if first == 0 {
				first = e
			}
			k++
		}
	}
	if sent == len(single) && p.sys.gso.Swap(false) {
		p.cnt.gsoFallback.Add(1)
	}
	return first
}

// Close implements port.Port.
func (p *Port) Close() error {
	s := &p.sys
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	if s.closed.Swap(true) {
		return port.ErrClosed
	}
	return p.closeAll()
}

func (p *Port) closeAll() error {
	s := &p.sys
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	for _, fd := range s.src {
		unix.Close(fd)
	}
	s.src = nil
	return err
}
