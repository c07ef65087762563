package steer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Offsets in struct bpf_sock_addr and struct bpf_sock
// (include/uapi/linux/bpf.h).
const (
	offUserIP4   = 4
	offUserPort  = 24 // network byte order, zero-extended to 32 bits
	offAddrProto = 36
	offAddrSk    = 64
	offSkSrcIP4  = 24

	verdictAllow = 1
)

// MaxRedirects bounds the addresses one Redirect holds.
const MaxRedirects = 65536

// Redirect sends the TCP connects that sockets of one network namespace
// make to chosen addresses (a published port's host address) straight to
// another (the endpoint's), as Cilium's socket load balancer does: a
// cgroup/connect4 program rewrites the destination before the kernel
// routes it, so the host's connection is one TCP connection through the
// switch instead of two joined by a relay. A cgroup/getpeername4 program
// gives the socket back the address it dialled, so the client sees its
// peer as it named it.
//
// The programs are attached with BPF links to the root of the cgroup v2
// hierarchy, which holds every process, and act only on sockets of the
// namespace NewRedirect was called in (bpf_get_netns_cookie): processes
// of other namespaces are not touched. A link lives as long as the
// process's descriptor of it, so a daemon killed with SIGKILL leaves
// nothing attached. Only a socket not bound to a source address is
// redirected (a socket bound to 127.0.0.1 could not reach the endpoint);
// anything not redirected reaches the relay listening on the address.
type Redirect struct {
	rules *ebpf.Map // rule key → target, both [address, port, 0, 0]
	orig  *ebpf.Map // socket cookie → [dialled address, port, target address, port] (LRU)
	count *ebpf.Map // per-CPU count of connects redirected
	progs []*ebpf.Program
	links []link.Link
}

// NewRedirect loads the programs and attaches them for the calling
// thread's network namespace. It fails where the kernel has no cgroup v2
// hierarchy, BPF links for cgroups (Linux ≥ 5.7) or SO_NETNS_COOKIE
// (Linux ≥ 5.14); the caller then relays every connection.
func NewRedirect() (*Redirect, error) {
	cookie, err := netnsCookie()
	if err != nil {
		return nil, fmt.Errorf("redirect: the namespace's cookie: %w", err)
	}
	root, err := cgroup2Root()
	if err != nil {
		return nil, fmt.Errorf("redirect: %w", err)
	}
	r := &Redirect{}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if r.rules, err = ebpf.NewMap(&ebpf.MapSpec{Name: "vsw_redir", Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: MaxRedirects}); err != nil {
		return nil, fmt.Errorf("redirect: rule map: %w", err)
	}
	if r.orig, err = ebpf.NewMap(&ebpf.MapSpec{Name: "vsw_redir_orig", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 16, MaxEntries: MaxRedirects}); err != nil {
		return nil, fmt.Errorf("redirect: socket map: %w", err)
	}
	if r.count, err = ebpf.NewMap(&ebpf.MapSpec{Name: "vsw_redir_n", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err != nil {
		return nil, fmt.Errorf("redirect: counter: %w", err)
	}
	cg, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("redirect: %w", err)
	}
	defer cg.Close()
	for _, p := range []struct {
		name   string
		attach ebpf.AttachType
		insns  asm.Instructions
	}{
		{"vsw_connect4", ebpf.AttachCGroupInet4Connect, connectProgram(cookie, r.rules, r.orig, r.count)},
		{"vsw_peername4", ebpf.AttachCgroupInet4GetPeername, peernameProgram(r.orig)},
	} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: p.name, Type: ebpf.CGroupSockAddr, AttachType: p.attach,
			License: "Apache-2.0", Instructions: p.insns,
		})
		if err != nil {
			return nil, fmt.Errorf("redirect: load %s: %w", p.name, err)
		}
		r.progs = append(r.progs, prog)
		// A link only (no PROG_ATTACH fallback): it goes with the process.
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: prog, Attach: p.attach})
		if err != nil {
			return nil, fmt.Errorf("redirect: attach %s to %s: %w", p.name, root, err)
		}
		r.links = append(r.links, l)
	}
	ok = true
	return r, nil
}

// Add redirects connects to from (an IPv4 address; 0.0.0.0 stands for
// every 127.0.0.0/8 address) to to.
func (r *Redirect) Add(from, to netip.AddrPort) error {
	if !from.Addr().Unmap().Is4() || !to.Addr().Unmap().Is4() {
		return fmt.Errorf("redirect %s to %s: IPv4 only", from, to)
	}
	if err := r.rules.Update(redirectKey(from), redirectKey(to), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("redirect %s to %s: %w", from, to, err)
	}
	return nil
}

// Remove stops redirecting from; connections already made stay.
func (r *Redirect) Remove(from netip.AddrPort) error {
	if err := r.rules.Delete(redirectKey(from)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unredirect %s: %w", from, err)
	}
	return nil
}

// Redirected returns how many connects have been redirected.
func (r *Redirect) Redirected() uint64 {
	var per []uint64
	if err := r.count.Lookup(uint32(0), &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// ProgramIDs returns the kernel's IDs of the attached programs, for a
// test that checks they are gone after Close.
func (r *Redirect) ProgramIDs() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for _, p := range r.progs {
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Close detaches the programs; connects are no longer redirected.
func (r *Redirect) Close() error {
	var errs []error
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	for _, p := range r.progs {
		errs = append(errs, p.Close())
	}
	for _, m := range []*ebpf.Map{r.rules, r.orig, r.count} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	r.links, r.progs = nil, nil
	return errors.Join(errs...)
}

// redirectKey lays out a as the programs read the context: the address
// in network order, then the port in network order, then two zero bytes.
func redirectKey(a netip.AddrPort) [8]byte {
	var k [8]byte
	ip := a.Addr().Unmap().As4()
	copy(k[:4], ip[:])
	binary.BigEndian.PutUint16(k[4:6], a.Port())
	return k
}

// connectProgram returns the cgroup/connect4 program. For a TCP (or
// multipath TCP) socket of the namespace whose cookie is netns, not bound
// to an address, dialling an address in rules (or, for 127.0.0.0/8, the
// wildcard 0.0.0.0 with its port), it rewrites the destination to the
// rule's target, remembers the dialled address under the socket's cookie
// in orig and counts the redirect. It always allows the connect.
func connectProgram(netns uint64, rules, orig, count *ebpf.Map) asm.Instructions {
	const (
		key   = -16 // [address, port] looked up in rules
		saved = -32 // [dialled address, port, target address, port]
		sock  = -40 // the socket's cookie
		slot  = -44 // counter index 0
	)
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // r6 = ctx
		asm.LoadMem(asm.R2, asm.R6, offAddrProto, asm.Word),
		asm.JEq.Imm(asm.R2, syscall.IPPROTO_TCP, "tcp"),
		asm.JNE.Imm(asm.R2, unix.IPPROTO_MPTCP, "allow"),
		asm.FnGetNetnsCookie.Call().WithSymbol("tcp"), // r1 = ctx still
		asm.LoadImm(asm.R2, int64(netns), asm.DWord),
		asm.JNE.Reg(asm.R0, asm.R2, "allow"),
		asm.LoadMem(asm.R2, asm.R6, offAddrSk, asm.DWord),
		asm.LoadMem(asm.R3, asm.R2, offSkSrcIP4, asm.Word),
		asm.JNE.Imm(asm.R3, 0, "allow"), // bound to an address

		asm.LoadMem(asm.R2, asm.R6, offUserIP4, asm.Word),
		asm.StoreMem(asm.RFP, key, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, offUserPort, asm.Word),
		asm.StoreMem(asm.RFP, key+4, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, rules.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, key),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "found"),
		asm.LoadMem(asm.R2, asm.R6, offUserIP4, asm.Byte), // first octet
		asm.JNE.Imm(asm.R2, 127, "allow"),
		asm.StoreImm(asm.RFP, key, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, rules.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, key),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "allow"),

		asm.LoadMem(asm.R2, asm.R6, offUserIP4, asm.Word).WithSymbol("found"),
		asm.StoreMem(asm.RFP, saved, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, offUserPort, asm.Word),
		asm.StoreMem(asm.RFP, saved+4, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.RFP, saved+8, asm.R2, asm.Word),
		asm.StoreMem(asm.R6, offUserIP4, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.RFP, saved+12, asm.R2, asm.Word),
		asm.StoreMem(asm.R6, offUserPort, asm.R2, asm.Word),

		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, sock, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, orig.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sock),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, saved),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),

		asm.StoreImm(asm.RFP, slot, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, count.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slot),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "allow"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord), // per CPU: no other writer

		asm.Mov.Imm(asm.R0, verdictAllow).WithSymbol("allow"),
		asm.Return(),
	}
}

// peernameProgram returns the cgroup/getpeername4 program: a socket that
// connectProgram redirected, asked for its peer while the peer is still
// the target it was sent to, reports the address it dialled.
func peernameProgram(orig *ebpf.Map) asm.Instructions {
	const sock = -8
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, sock, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, orig.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sock),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "allow"),
		asm.LoadMem(asm.R2, asm.R6, offUserIP4, asm.Word),
		asm.LoadMem(asm.R3, asm.R0, 8, asm.Word),
		asm.JNE.Reg(asm.R2, asm.R3, "allow"),
		asm.LoadMem(asm.R2, asm.R6, offUserPort, asm.Word),
		asm.LoadMem(asm.R3, asm.R0, 12, asm.Word),
		asm.JNE.Reg(asm.R2, asm.R3, "allow"),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R6, offUserIP4, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.R6, offUserPort, asm.R2, asm.Word),
		asm.Mov.Imm(asm.R0, verdictAllow).WithSymbol("allow"),
		asm.Return(),
	}
}

// netnsCookie returns the cookie of the calling thread's network
// namespace, as bpf_get_netns_cookie reports it to a program.
func netnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("SO_NETNS_COOKIE: %w", err)
	}
	return c, nil
}

// cgroup2Root returns where the cgroup v2 hierarchy is mounted.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 {
			return f[4], nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}
