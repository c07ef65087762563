package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/header"
)

// The primitives build the same tests libpcap's gencode.c does for
// DLT_EN10MB, at the same offsets and, within a header, in the same order,
// so that a frame too short for one of the loads is dropped by both (a BPF
// load past the end of the frame ends the program with "no match", even
// under "not").

// Protocol numbers (IANA) the primitives test.
const (
	protoICMP     = 1
	protoIGMP     = 2
	protoTCP      = 6
	protoIGRP     = 9
	protoUDP      = 17
	protoFragment = 44 // IPv6 fragment header
	protoESP      = 50
	protoAH       = 51
	protoICMPv6   = 58
	protoPIM      = 103
	protoVRRP     = 112
	protoSCTP     = 132
)

const (
	etherTypeRARP = 0x8035
	etherTypeTag3 = 0x9100 // the pre-802.1ad QinQ TPID libpcap also accepts
	ethernetMTU   = 1500   // an EtherType field up to this is an 802.3 length
)

// services are the port names this filter knows, a fixed set so that a
// filter means the same on every machine. A name stands for its number on
// TCP, UDP and SCTP alike; libpcap follows /etc/services instead, where
// Debian lists some of these (http, ssh…) for TCP only.
var services = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
	"pop3": 110, "ntp": 123, "netbios-ns": 137, "netbios-ssn": 139, "imap": 143,
	"snmp": 161, "snmp-trap": 162, "bgp": 179, "ldap": 389, "https": 443,
	"microsoft-ds": 445, "isakmp": 500, "syslog": 514, "dhcpv6-client": 546,
	"dhcpv6-server": 547, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
	"openvpn": 1194, "mysql": 3306, "ipsec-nat-t": 4500, "postgresql": 5432, "mdns": 5353,
	"http-alt": 8080,
}

// ipProtocols are the protocol names "proto" accepts (the common entries
// of /etc/protocols, fixed for the same reason as services).
var ipProtocols = map[string]uint32{
	"icmp": protoICMP, "igmp": protoIGMP, "ipip": 4, "ipencap": 4, "tcp": protoTCP,
	"egp": 8, "igrp": protoIGRP, "udp": protoUDP, "ipv6": 41, "rsvp": 46, "gre": 47,
	"esp": protoESP, "ah": protoAH, "icmp6": protoICMPv6, "ipv6-icmp": protoICMPv6,
	"ospf": 89, "pim": protoPIM, "vrrp": protoVRRP, "carp": protoVRRP, "l2tp": 115,
	"sctp": protoSCTP, "udplite": 136,
}

// etherTypes are the names "ether proto" accepts.
var etherTypes = map[string]uint32{
	"ip": uint32(header.EtherTypeIPv4), "ip6": uint32(header.EtherTypeIPv6),
	"arp": uint32(header.EtherTypeARP), "rarp": etherTypeRARP, "loopback": 0x9000,
}

// transport maps the protocols whose header can be indexed (tcp[…]) to
// their IPv4 protocol number.
var transport = map[proto]uint32{
	pTCP: protoTCP, pUDP: protoUDP, pSCTP: protoSCTP, pICMP: protoICMP, pIGMP: protoIGMP,
	pIGRP: protoIGRP, pPIM: protoPIM, pVRRP: protoVRRP, pCARP: protoVRRP,
}

// typeOff is the offset of the EtherType after the VLAN tags stepped over
// so far; l3 the offset of the network header.
func (p *parser) typeOff() uint32 { return 12 + p.link }
func (p *parser) l3() uint32      { return header.EthernetLen + p.link }

func (p *parser) ethType(t uint32) bexpr { return cmp(abs(p.typeOff(), 2), jmpJEQ, t) }
func (p *parser) ipv4() bexpr            { return p.ethType(uint32(header.EtherTypeIPv4)) }
func (p *parser) ipv6() bexpr            { return p.ethType(uint32(header.EtherTypeIPv6)) }

// ipProto is "ip proto v".
func (p *parser) ipProto(v uint32) bexpr {
	return and(p.ipv4(), cmp(abs(p.l3()+9, 1), jmpJEQ, v))
}

// ip6Proto is "ip6 proto v": the next header, or the one after a fragment
// header (libpcap looks through that one extension header only).
func (p *parser) ip6Proto(v uint32) bexpr {
	nh := abs(p.l3()+6, 1)
	return and(p.ipv6(), or(cmp(nh, jmpJEQ, v),
		and(cmp(nh, jmpJEQ, protoFragment), cmp(abs(p.l3()+40, 1), jmpJEQ, v))))
}

// notFrag holds for an IPv4 packet that is not a later fragment (its
// fragment offset is 0), so its transport header is present.
func (p *parser) notFrag() bexpr { return notNode{cmp(abs(p.l3()+6, 2), jmpJSET, 0x1fff)} }

// dirs applies a direction qualifier to a test f of the field at src or dst.
func dirs(d dir, f func(off uint32) bexpr, src, dst uint32) bexpr {
	switch d {
	case dSrc:
		return f(src)
	case dDst:
		return f(dst)
	case dAnd:
		return and(f(src), f(dst))
	}
	return or(f(src), f(dst))
}

// mcmp tests the 32-bit word at off against v under mask.
func mcmp(off, v, mask uint32) bexpr {
	if mask == 0 {
		return constNode(true)
	}
	x := abs(off, 4)
	if mask != 0xffffffff {
		x = binA{op: aluAND, l: x, r: constA(mask)}
	}
	return cmp(x, jmpJEQ, v&mask)
}

// macCmp tests the six bytes at off against m: the last four first, then
// the first two, as libpcap does.
func macCmp(off uint32, m [6]byte) bexpr {
	return and(cmp(abs(off+2, 4), jmpJEQ, binary.BigEndian.Uint32(m[2:])),
		cmp(abs(off, 2), jmpJEQ, uint32(binary.BigEndian.Uint16(m[:2]))))
}

// atom builds the test of one id under q.
func (p *parser) atom(q qual, t token) (bexpr, error) {
	switch q.addr {
	case aPort:
		v, err := portNumber(t)
		if err != nil {
			return nil, err
		}
		return p.port(q, v, v, t)
	case aPortrange:
		lo, hi, err := portRange(t)
		if err != nil {
			return nil, err
		}
		return p.port(q, min(lo, hi), max(lo, hi), t)
	case aProto:
		return p.protoID(q, t)
	}
	return p.address(q, t)
}

// address builds host, net and ether host tests.
func (p *parser) address(q qual, t token) (bexpr, error) {
	switch t.kind {
	case tMAC:
		if q.proto != pLink {
			return nil, errAt(t.pos, fmt.Sprintf("%q is a MAC address: write \"ether host %s\"", t.text, t.text))
		}
		if q.addr == aNet {
			return nil, errAt(t.pos, `"ether net" is not valid: use "ether host"`)
		}
		m, _ := parseMAC(t.text)
		return dirs(q.dir, func(off uint32) bexpr { return macCmp(off, m) }, 6, 0), nil
	case tNum, tIPv4:
		if q.proto == pLink {
			return nil, errAt(t.pos, fmt.Sprintf("%q is not a MAC address", t.text))
		}
		v, mask := t.val, uint32(0xffffffff)
		if t.kind == tIPv4 {
			var bits int
			var ok bool
			if v, bits, ok = parseDotted(t.text); !ok {
				return nil, errAt(t.pos, fmt.Sprintf("%q is not an IPv4 address", t.text))
			}
			mask <<= 32 - bits
		} else if q.addr == aNet {
			// "net 10" is 10.0.0.0/8, "net 172.16" 172.16.0.0/16.
			for v != 0 && v&0xff000000 == 0 {
				v, mask = v<<8, mask<<8
			}
		}
		text := t.text
		if t.kind == tIPv4 && isOp(p.peek(), "/") {
			p.next()
			n := p.next()
			if n.kind != tNum {
				return nil, errAt(n.pos, "expected a prefix length after \"/\", not "+describe(n))
			}
			if n.val > 32 {
				return nil, errAt(n.pos, fmt.Sprintf("prefix length %d is out of range (0-32)", n.val))
			}
			text = fmt.Sprintf("%s/%d", t.text, n.val)
			mask = 0
			if n.val > 0 {
				mask = 0xffffffff << (32 - n.val)
			}
		} else if t.kind == tIPv4 && isKw(p.peek(), "mask") {
			p.next()
			m := p.next()
			mv, _, ok := parseDotted(m.text)
			if m.kind != tIPv4 || !ok {
				return nil, errAt(m.pos, "expected a netmask after \"mask\", not "+describe(m))
			}
			text = t.text + " mask " + m.text
			mask = mv
		}
		if v&^mask != 0 {
			return nil, errAt(t.pos, fmt.Sprintf("non-network bits set in %q", text))
		}
		if text != t.text && q.addr != aNet {
			return nil, errAt(t.pos, fmt.Sprintf("%q is a network: write \"net %s\"", text, text))
		}
		return p.hostV4(q, v, mask, t)
	case tIPv6:
		a := netip.MustParseAddr(t.text)
		bits := 128
		if isOp(p.peek(), "/") {
			p.next()
			n := p.next()
			if n.kind != tNum {
				return nil, errAt(n.pos, "expected a prefix length after \"/\", not "+describe(n))
			}
			if n.val > 128 {
				return nil, errAt(n.pos, fmt.Sprintf("prefix length %d is out of range (0-128)", n.val))
			}
			bits = int(n.val)
			text := fmt.Sprintf("%s/%d", t.text, bits)
			if pf, _ := a.Prefix(bits); pf.Addr() != a {
				return nil, errAt(t.pos, fmt.Sprintf("non-network bits set in %q", text))
			}
			if q.addr != aNet && bits != 128 {
				return nil, errAt(t.pos, fmt.Sprintf("%q is a network: write \"net %s\"", text, text))
			}
		}
		return p.hostV6(q, a, bits, t)
	}
	switch {
	case q.proto == pLink:
		return nil, errAt(t.pos, fmt.Sprintf("%q is not a MAC address (names are not looked up)", t.text))
	case q.addr == aNet:
		return nil, errAt(t.pos, fmt.Sprintf("%q is not a network address (names are not looked up)", t.text))
	}
	return nil, errAt(t.pos, fmt.Sprintf("%q is not an IP address (host names are not resolved)", t.text))
}

// noQualify is the error for a protocol qualifier that does not apply.
func noQualify(q qual, t token, what string) error {
	return errAt(t.pos, fmt.Sprintf("%q does not apply to %s; combine with \"and\" instead", q.pname, what))
}

// hostV4 is host (or net) v/mask: the IPv4 addresses and, without a
// protocol qualifier, the ARP and RARP sender and target addresses.
func (p *parser) hostV4(q qual, v, mask uint32, t token) (bexpr, error) {
	type layout struct {
		etherType, src, dst uint32
	}
	ip := layout{uint32(header.EtherTypeIPv4), 12, 16}
	arp := layout{uint32(header.EtherTypeARP), 14, 24}
	rarp := layout{etherTypeRARP, 14, 24}
	var ls []layout
	switch q.proto {
	case pDefault:
		ls = []layout{ip, arp, rarp}
	case pIP:
		ls = []layout{ip}
	case pARP:
		ls = []layout{arp}
	case pRARP:
		ls = []layout{rarp}
	case pIP6:
		return nil, errAt(t.pos, fmt.Sprintf("\"ip6\" needs an IPv6 address, not %q", t.text))
	default:
		return nil, noQualify(q, t, "an address")
	}
	l3 := p.l3()
	var bs []bexpr
	for _, l := range ls {
		f := func(off uint32) bexpr { return mcmp(l3+off, v, mask) }
		bs = append(bs, and(p.ethType(l.etherType), dirs(q.dir, f, l.src, l.dst)))
	}
	return or(bs...), nil
}

// hostV6 is host (or net) a/bits over IPv6 source and destination.
func (p *parser) hostV6(q qual, a netip.Addr, bits int, t token) (bexpr, error) {
	switch q.proto {
	case pDefault, pIP6:
	case pIP, pARP, pRARP:
		return nil, errAt(t.pos, fmt.Sprintf("%q needs an IPv4 address, not %q", q.pname, t.text))
	case pLink:
		return nil, errAt(t.pos, fmt.Sprintf("%q is not a MAC address", t.text))
	default:
		return nil, noQualify(q, t, "an address")
	}
	b := a.As16()
	f := func(off uint32) bexpr {
		var cs []bexpr
		for i := 0; i < 4; i++ {
			n := min(max(bits-32*i, 0), 32)
			if n == 0 {
				continue // libpcap drops the words the mask hides
			}
			mask := uint32(0xffffffff) << (32 - n)
			cs = append(cs, mcmp(off+uint32(4*i), binary.BigEndian.Uint32(b[4*i:]), mask))
		}
		if len(cs) == 0 {
			return constNode(true)
		}
		return and(cs...)
	}
	l3 := p.l3()
	return and(p.ipv6(), dirs(q.dir, f, l3+8, l3+24)), nil
}

// port is port lo (or portrange lo-hi) over TCP, UDP and SCTP, or the one
// protocol q names. Over IPv4 only first fragments have ports; over IPv6
// the next header must be the transport (no extension headers), as in
// libpcap.
func (p *parser) port(q qual, lo, hi uint16, t token) (bexpr, error) {
	var nums []uint32
	switch q.proto {
	case pDefault:
		nums = []uint32{protoTCP, protoUDP, protoSCTP}
	case pTCP:
		nums = []uint32{protoTCP}
	case pUDP:
		nums = []uint32{protoUDP}
	case pSCTP:
		nums = []uint32{protoSCTP}
	default:
		return nil, errAt(t.pos, fmt.Sprintf("%q does not apply to a port: ports belong to tcp, udp and sctp", q.pname))
	}
	test := func(x aexpr) bexpr {
		if lo == hi {
			return cmp(x, jmpJEQ, uint32(lo))
		}
		return and(cmp(x, jmpJGE, uint32(lo)), notNode{cmp(x, jmpJGT, uint32(hi))})
	}
	protos := func(off uint32) bexpr {
		var cs []bexpr
		for _, n := range nums {
			cs = append(cs, cmp(abs(off, 1), jmpJEQ, n))
		}
		return or(cs...)
	}
	l3 := p.l3()
	v4 := and(p.ipv4(), protos(l3+9), p.notFrag(), dirs(q.dir, func(off uint32) bexpr {
		return test(loadA{size: 2, base: l3, idx: constA(off), tran: true})
	}, 0, 2))
	v6 := and(p.ipv6(), protos(l3+6), dirs(q.dir, func(off uint32) bexpr {
		return test(abs(l3+40+off, 2))
	}, 0, 2))
	return or(v4, v6), nil
}

// portNumber returns the port a number or service name stands for.
func portNumber(t token) (uint16, error) {
	switch t.kind {
	case tNum:
		if t.val > 65535 {
			return 0, errAt(t.pos, fmt.Sprintf("port %d is out of range (0-65535)", t.val))
		}
		return uint16(t.val), nil
	case tWord:
		if v, ok := services[t.text]; ok {
			return v, nil
		}
	}
	return 0, errAt(t.pos, strconv.Quote(t.text)+" is not a port number")
}

// portRange parses "lo-hi", each a number or a service name.
func portRange(t token) (lo, hi uint16, err error) {
	if t.kind == tNum {
		v, err := portNumber(t)
		return v, v, err
	}
	one := func(s string) (uint16, bool) {
		if isNumber(s) {
			v, err := parseNumber(s)
			return uint16(v), err == nil && v <= 65535
		}
		v, ok := services[s]
		return v, ok
	}
	if t.kind == tWord {
		for i := strings.IndexByte(t.text, '-'); i >= 0; {
			l, lok := one(t.text[:i])
			h, hok := one(t.text[i+1:])
			if lok && hok {
				return l, h, nil
			}
			j := strings.IndexByte(t.text[i+1:], '-')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return 0, 0, errAt(t.pos, strconv.Quote(t.text)+" is not a port range such as 1024-65535")
}

// protoID is "[ip|ip6|ether] proto N".
func (p *parser) protoID(q qual, t token) (bexpr, error) {
	var v uint32
	switch {
	case t.kind == tNum:
		v = t.val
	case t.kind == tWord && q.proto == pLink:
		n, ok := etherTypes[t.text]
		if !ok {
			return nil, errAt(t.pos, "unknown EtherType name "+strconv.Quote(t.text))
		}
		v = n
	case t.kind == tWord:
		n, ok := ipProtocols[t.text]
		if !ok {
			return nil, errAt(t.pos, "unknown protocol name "+strconv.Quote(t.text))
		}
		v = n
	default:
		return nil, errAt(t.pos, strconv.Quote(t.text)+" is not a protocol number or name")
	}
	if q.proto == pLink {
		return p.etherProto(v, t)
	}
	if v > 255 {
		return nil, errAt(t.pos, fmt.Sprintf("protocol %d is out of range (0-255)", v))
	}
	switch q.proto {
	case pDefault:
		return or(p.ipProto(v), p.ip6Proto(v)), nil
	case pIP:
		return p.ipProto(v), nil
	case pIP6:
		return p.ip6Proto(v), nil
	}
	return nil, errAt(t.pos, fmt.Sprintf("%q does not apply to proto: use ip, ip6 or ether", q.pname))
}

// etherProto is "ether proto v": an EtherType, or for v up to 1500 an
// 802.2 LLC SAP in an 802.3 frame.
func (p *parser) etherProto(v uint32, t token) (bexpr, error) {
	typ := abs(p.typeOff(), 2)
	notLen := notNode{cmp(typ, jmpJGT, ethernetMTU)}
	switch v {
	case 0x809b, 0x80f3:
		return nil, errAt(t.pos, "AppleTalk (ether proto 0x809b, 0x80f3) is not supported")
	case 0xe0:
		return nil, errAt(t.pos, "IPX (ether proto 0xe0) is not supported")
	case 0x06, 0xf0, 0xfe:
		// IP, NetBEUI and OSI SAPs: libpcap checks DSAP and SSAP.
		return and(notLen, cmp(abs(p.l3(), 2), jmpJEQ, v<<8|v)), nil
	}
	switch {
	case v > 0xffff:
		return nil, errAt(t.pos, fmt.Sprintf("EtherType %#x is out of range (0-0xffff)", v))
	case v > ethernetMTU:
		return cmp(typ, jmpJEQ, v), nil
	}
	return and(notLen, cmp(abs(p.l3(), 1), jmpJEQ, v)), nil
}

// abbrev is a protocol keyword on its own: "tcp", "ip6", "arp"…
func (p *parser) abbrev(pr proto, t token) (bexpr, error) {
	switch pr {
	case pIP:
		return p.ipv4(), nil
	case pIP6:
		return p.ipv6(), nil
	case pARP:
		return p.ethType(uint32(header.EtherTypeARP)), nil
	case pRARP:
		return p.ethType(etherTypeRARP), nil
	case pTCP, pUDP, pSCTP, pPIM, pAH, pESP:
		v := map[proto]uint32{pTCP: protoTCP, pUDP: protoUDP, pSCTP: protoSCTP, pPIM: protoPIM,
			pAH: protoAH, pESP: protoESP}[pr]
		return or(p.ipProto(v), p.ip6Proto(v)), nil
	case pICMP, pIGMP, pIGRP, pVRRP, pCARP:
		return p.ipProto(transport[pr]), nil
	case pICMP6:
		return p.ip6Proto(protoICMPv6), nil
	}
	return nil, errAt(t.pos, fmt.Sprintf("%q needs host, src, dst, proto, broadcast, multicast or [", t.text))
}

// cast is [ether|ip|ip6] broadcast or multicast.
func (p *parser) cast(q qual, t token) (bexpr, error) {
	l3 := p.l3()
	bcast := t.text == "broadcast"
	switch {
	case (q.proto == pDefault || q.proto == pLink) && bcast:
		return macCmp(0, header.Broadcast), nil
	case q.proto == pDefault || q.proto == pLink:
		return cmp(abs(0, 1), jmpJSET, 1), nil
	case q.proto == pIP && bcast:
		// The switch knows no netmask; like tcpdump without one, this is
		// the limited broadcast 255.255.255.255 (and 0.0.0.0).
		return and(p.ipv4(), or(cmp(abs(l3+16, 4), jmpJEQ, 0), cmp(abs(l3+16, 4), jmpJEQ, 0xffffffff))), nil
	case q.proto == pIP:
		return and(p.ipv4(), cmp(abs(l3+16, 1), jmpJGE, 224)), nil
	case q.proto == pIP6 && !bcast:
		return and(p.ipv6(), cmp(abs(l3+24, 1), jmpJEQ, 0xff)), nil
	}
	return nil, errAt(t.pos, fmt.Sprintf("\"%s %s\" is not valid", q.pname, t.text))
}

// vlan is "vlan [ID]": the EtherType at the current offset is a VLAN TPID
// (and the tag carries ID). Like libpcap, every later primitive then looks
// 4 bytes further, inside the tag, whatever the and/or/not around it.
func (p *parser) vlan(t token) (bexpr, error) {
	n := p.peek()
	has := n.kind == tNum || isOp(n, "(") && p.peekAt(1).kind == tNum
	var id uint32
	if has {
		var err error
		if id, err = p.pnum(t); err != nil {
			return nil, err
		}
		if id > 4095 {
			return nil, errAt(n.pos, fmt.Sprintf("VLAN ID %d is out of range (0-4095)", id))
		}
	}
	tpid := abs(p.typeOff(), 2)
	b := or(cmp(tpid, jmpJEQ, uint32(header.EtherTypeVLAN)), cmp(tpid, jmpJEQ, uint32(header.EtherTypeQinQ)),
		cmp(tpid, jmpJEQ, etherTypeTag3))
	if has {
		b = and(b, cmp(binA{op: aluAND, l: abs(p.typeOff()+2, 2), r: constA(0x0fff)}, jmpJEQ, id))
	}
	p.link += header.VLANTagLen
	return b, nil
}

// loadAt builds pname[idx:size] with the guard that makes it meaningful.
func (p *parser) loadAt(t token, idx aexpr, size uint8) (aexpr, error) {
	pr := protoKeywords[t.text]
	l3 := p.l3()
	key := fmt.Sprintf("%s@%d", t.text, p.link)
	switch pr {
	case pLink:
		return loadA{size: size, base: 0, idx: idx}, nil
	case pIP, pIP6, pARP, pRARP:
		g, _ := p.abbrev(pr, t)
		return loadA{size: size, base: l3, idx: idx, guard: g, key: key}, nil
	case pICMP6:
		g := and(p.ipv6(), cmp(abs(l3+6, 1), jmpJEQ, protoICMPv6))
		return loadA{size: size, base: l3 + 40, idx: idx, guard: g, key: key}, nil
	}
	if num, ok := transport[pr]; ok {
		// Transport headers are indexed over IPv4 only, past the IPv4
		// header's own length, in first fragments.
		g := and(p.ipv4(), cmp(abs(l3+9, 1), jmpJEQ, num), p.notFrag())
		return loadA{size: size, base: l3, idx: idx, tran: true, guard: g, key: key}, nil
	}
	return nil, errAt(t.pos, strconv.Quote(t.text)+" cannot be indexed")
}
