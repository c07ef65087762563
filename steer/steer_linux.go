package steer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Offsets in struct bpf_sk_lookup (include/uapi/linux/bpf.h).
const (
	offFamily    = 8
	offProtocol  = 12
	offLocalIP4  = 40
	offLocalIP6  = 44
	offLocalPort = 60 // host byte order

	skPass = 1
)

// steering is one loaded and attached program; Close detaches it.
type steering struct {
	prog *ebpf.Program
	sock *ebpf.Map
	lnk  link.Link
}

func (s *steering) Close() error {
	return errors.Join(s.lnk.Close(), s.prog.Close(), s.sock.Close())
}

// Listener steers TCP connections to ip (the unspecified address: any
// local address of ip's family) on ports lo–hi to l, a TCP listener
// bound in the calling thread's network namespace. Closing the result
// stops steering; it does not close l.
func Listener(ip netip.Addr, lo, hi uint16, l net.Listener) (io.Closer, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("steer %s ports %d-%d: not a socket listener", ip, lo, hi)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var proto int
	var perr error
	if err := rc.Control(func(fd uintptr) { proto, perr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) }); err == nil && perr == nil && proto == unix.IPPROTO_MPTCP {
		return nil, fmt.Errorf("steer %s ports %d-%d: %w", ip, lo, hi, ErrMultipath)
	}
	sock, prog, err := load(ip, lo, hi)
	if err != nil {
		return nil, err
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) { uerr = sock.Update(uint32(0), uint64(fd), ebpf.UpdateAny) }); err != nil || uerr != nil {
		prog.Close()
		sock.Close()
		err = errors.Join(err, uerr)
		if errors.Is(err, syscall.EOPNOTSUPP) {
			err = fmt.Errorf("%w (%w)", ErrNoSockmap, err)
		}
		return nil, fmt.Errorf("steer: put the listener in the sockmap: %w", err)
	}
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		prog.Close()
		sock.Close()
		return nil, fmt.Errorf("steer: %w", err)
	}
	defer ns.Close()
	lnk, err := link.AttachNetNs(int(ns.Fd()), prog)
	if err != nil {
		prog.Close()
		sock.Close()
		return nil, fmt.Errorf("steer: attach sk_lookup: %w", err)
	}
	return &steering{prog: prog, sock: sock, lnk: lnk}, nil
}

// ErrMultipath means the listener is a multipath TCP socket, which a
// SOCKMAP refuses (EOPNOTSUPP). Go makes TCP listeners MPTCP by default
// since Go 1.24: make a steered one with a net.ListenConfig on which
// SetMultipathTCP(false) was called.
var ErrMultipath = errors.New("a multipath TCP listener cannot be steered (SOCKMAPs take plain TCP sockets): listen with SetMultipathTCP(false)")

// ErrNoSockmap means the kernel cannot keep TCP sockets in a SOCKMAP: it
// was built without CONFIG_NET_SOCK_MSG (BPF_STREAM_PARSER), which
// sk_lookup's socket selection needs.
var ErrNoSockmap = errors.New("the kernel cannot put TCP sockets in a SOCKMAP (built without CONFIG_NET_SOCK_MSG)")

// load creates the one-slot SOCKMAP and loads the program that reads it.
func load(ip netip.Addr, lo, hi uint16) (*ebpf.Map, *ebpf.Program, error) {
	sock, err := ebpf.NewMap(&ebpf.MapSpec{Name: "vsw_steer", Type: ebpf.SockMap, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("steer: sockmap: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vsw_steer", Type: ebpf.SkLookup, AttachType: ebpf.AttachSkLookup,
		License: "Apache-2.0", Instructions: program(ip, lo, hi, sock),
	})
	if err != nil {
		sock.Close()
		return nil, nil, fmt.Errorf("steer: load sk_lookup program: %w", err)
	}
	return sock, prog, nil
}

// program returns the sk_lookup program: a TCP connection of ip's family,
// to ip (unless unspecified) and a port in lo–hi, gets the socket in slot
// 0 of sock; everything else passes on to the normal lookup.
func program(ip netip.Addr, lo, hi uint16, sock *ebpf.Map) asm.Instructions {
	family := int32(syscall.AF_INET)
	if ip.Is6() && !ip.Is4In6() {
		family = syscall.AF_INET6
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // r6 = ctx
		asm.LoadMem(asm.R2, asm.R6, offProtocol, asm.Word),
		asm.JNE.Imm(asm.R2, syscall.IPPROTO_TCP, "pass"),
		asm.LoadMem(asm.R2, asm.R6, offFamily, asm.Word),
		asm.JNE.Imm(asm.R2, family, "pass"),
		asm.LoadMem(asm.R2, asm.R6, offLocalPort, asm.Word),
		asm.JLT.Imm(asm.R2, int32(lo), "pass"),
		asm.JGT.Imm(asm.R2, int32(hi), "pass"),
	}
	if !ip.IsUnspecified() {
		// Addresses are in network order in the context: compare them
		// word by word as the machine loads them.
		b := ip.AsSlice()
		off := int16(offLocalIP4)
		if family == syscall.AF_INET6 {
			off = offLocalIP6
		}
		for i := 0; i < len(b); i += 4 {
			insns = append(insns,
				asm.LoadMem(asm.R2, asm.R6, off+int16(i), asm.Word),
				asm.LoadImm(asm.R3, int64(binary.NativeEndian.Uint32(b[i:])), asm.DWord),
				asm.JNE.Reg(asm.R2, asm.R3, "pass"),
			)
		}
	}
	return append(insns,
		asm.LoadMapPtr(asm.R1, sock.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.StoreImm(asm.R2, 0, 0, asm.Word), // key 0
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnSkAssign.Call(),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.FnSkRelease.Call(),
		asm.Mov.Imm(asm.R0, skPass).WithSymbol("pass"),
		asm.Return(),
	)
}
