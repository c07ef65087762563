package filter

import (
	"fmt"
	"strconv"
)

// The grammar is libpcap's (grammar.y), minus the link types and protocols
// a virtual Ethernet switch never sees:
//
//	expr    = term { ("and" | "&&" | "or" | "||") (term | id) }   left to right, equal precedence
//	term    = ("not" | "!") term | head id | pname | other | arith relop arith | "(" expr ")"
//	head    = [pname] [dir] [type] | pname "proto"                at least one of them
//	id      = address | number | name | ("not" | "!") id | "(" id { ("and" | "or") id } ")"
//	arith   = number | "len" | pname "[" arith [":" size] "]" | "-" arith
//	        | arith op arith | "(" arith ")"
//
// A bare id after "and", "or" or "not" takes the qualifiers of the last
// "head id" term before it: "host a or b", "tcp port 80 or 443". Parentheses
// restore the qualifiers in force before them. Operators bind as in
// libpcap: | < & < << >> < + - < * /, unary minus tightest; % and ^ have no
// precedence there, so everything after them is their right operand (in
// "a % b + c" the sum is the divisor), and this parser does the same.

// proto is a protocol qualifier (pname in libpcap's grammar).
type proto uint8

const (
	pDefault proto = iota
	pLink
	pIP
	pIP6
	pARP
	pRARP
	pTCP
	pUDP
	pSCTP
	pICMP
	pICMP6
	pIGMP
	pIGRP
	pPIM
	pVRRP
	pCARP
	pAH
	pESP
)

// protoKeywords maps the protocol qualifiers to proto.
var protoKeywords = map[string]proto{
	"ether": pLink, "link": pLink, "ip": pIP, "ip6": pIP6, "arp": pARP, "rarp": pRARP,
	"tcp": pTCP, "udp": pUDP, "sctp": pSCTP, "icmp": pICMP, "icmp6": pICMP6,
	"igmp": pIGMP, "igrp": pIGRP, "pim": pPIM, "vrrp": pVRRP, "carp": pCARP,
	"ah": pAH, "esp": pESP,
}

// dir is a direction qualifier.
type dir uint8

const (
	dDefault dir = iota // src or dst
	dSrc
	dDst
	dAnd // src and dst
)

// addrType is an address type qualifier.
type addrType uint8

const (
	aDefault addrType = iota // host, or net when a mask is given
	aHost
	aNet
	aPort
	aPortrange
	aProto
)

// qual is the set of qualifiers in force for an id. A zero qual (ok false)
// is libpcap's qerr: nothing to inherit.
type qual struct {
	ok    bool
	proto proto
	dir   dir
	addr  addrType
	pname string // the protocol keyword as written, for messages
	aname string // the type keyword as written
}

// keywords are the words that are not names. Those not in protoKeywords or
// handled by the parser are libpcap keywords this filter does not support.
var keywords = map[string]bool{
	"src": true, "dst": true, "host": true, "net": true, "mask": true, "port": true,
	"portrange": true, "proto": true, "less": true, "greater": true, "broadcast": true,
	"multicast": true, "and": true, "or": true, "not": true, "len": true, "length": true,
	"vlan": true,
}

// unsupported are libpcap keywords for link types, protocols and capture
// metadata that a filter over Ethernet frames in a switch does not offer.
var unsupported = map[string]string{
	"gateway":    "it needs host name and /etc/ethers lookups",
	"protochain": "it needs a loop over IPv6 extension headers",
	"mpls":       "the switch does not carry MPLS",
	"pppoed":     "the switch does not carry PPPoE",
	"pppoes":     "the switch does not carry PPPoE",
	"geneve":     "the switch does not decapsulate Geneve",
	"vxlan":      "the switch does not decapsulate VXLAN here",
	"inbound":    "frames carry no direction",
	"outbound":   "frames carry no direction",
	"ifindex":    "frames carry no interface index",
	"byte":       "use ip[N] with a comparison instead",
}

// unsupportedLink are libpcap keywords for other link types or protocols.
var unsupportedLink = []string{
	"ppp", "slip", "fddi", "tr", "wlan", "radio", "atalk", "aarp", "decnet", "lat", "sca",
	"moprc", "mopdl", "iso", "esis", "es-is", "isis", "is-is", "l1", "l2", "iih", "lsp",
	"snp", "csnp", "psnp", "clnp", "stp", "ipx", "netbeui", "type", "subtype", "direction",
	"dir", "address1", "addr1", "address2", "addr2", "address3", "addr3", "address4",
	"addr4", "ra", "ta", "lane", "llc", "metac", "bcc", "oam", "oamf4", "oamf4ec",
	"oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect", "on", "ifname",
	"rset", "ruleset", "rnr", "rulenum", "srnr", "subrulenum", "reason", "action", "fisu",
	"lssu", "lsu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio",
	"hopc", "hdpc", "hsls",
}

func init() {
	for _, w := range unsupportedLink {
		unsupported[w] = "this filter covers Ethernet, 802.1Q, ARP, IPv4 and IPv6 only"
	}
}

// isKeyword reports whether an unescaped word w is reserved.
func isKeyword(w string) bool {
	_, p := protoKeywords[w]
	_, u := unsupported[w]
	return p || u || keywords[w]
}

// maxDepth bounds the nesting of parentheses, not and unary minus.
const maxDepth = 200

// val is what a term or arithmetic expression parses to: a boolean b or an
// arithmetic value a.
type val struct {
	b   bexpr
	a   aexpr
	pos int // where it starts, for messages
}

// parser is a recursive-descent parser over the tokens of one expression.
type parser struct {
	toks  []token
	i     int
	link  uint32 // bytes of VLAN tags the vlan keywords so far stepped over
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func isOp(t token, s string) bool { return t.kind == tOp && t.text == s }

func isKw(t token, s string) bool { return t.kind == tWord && !t.esc && t.text == s }

func isAnd(t token) bool { return isKw(t, "and") || isOp(t, "&&") }

func isOr(t token) bool { return isKw(t, "or") || isOp(t, "||") }

func isNot(t token) bool { return isKw(t, "not") || isOp(t, "!") }

// ends reports whether t cannot start an operand.
func ends(t token) bool {
	return t.kind == tEOF || isOp(t, ")") || isAnd(t) || isOr(t)
}

// describe names t in a message.
func describe(t token) string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

var relops = map[string]bool{">": true, ">=": true, "=": true, "==": true, "<=": true, "<": true, "!=": true}

// binPrec is the precedence of an arithmetic operator, 0 for % and ^
// (which take everything to their right), -1 for anything else.
func binPrec(t token) int {
	if t.kind != tOp {
		return -1
	}
	switch t.text {
	case "|":
		return 1
	case "&":
		return 2
	case "<<", ">>":
		return 3
	case "+", "-":
		return 4
	case "*", "/":
		return 5
	case "%", "^":
		return 0
	}
	return -1
}

// enter counts one level of nesting at t; leave undoes it.
func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(t.pos, "expression nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// expr parses terms joined by and/or. It returns an arithmetic value only
// for a lone arithmetic term (the inside of "(len)"); q is the inherited
// qualifiers, and the ones in force at the end are returned.
func (p *parser) expr(q qual) (val, qual, error) {
	v, q, err := p.term(q)
	if err != nil {
		return val{}, q, err
	}
	for {
		t := p.peek()
		if !isAnd(t) && !isOr(t) {
			return v, q, nil
		}
		if v.a != nil {
			return val{}, q, errAt(v.pos, "arithmetic expression needs a comparison, such as len > 100")
		}
		p.next()
		if ends(p.peek()) {
			return val{}, q, errAt(t.pos, "expected an expression after "+strconv.Quote(t.text))
		}
		w, q2, err := p.term(q)
		if err != nil {
			return val{}, q, err
		}
		if w.a != nil {
			return val{}, q, errAt(w.pos, "arithmetic expression needs a comparison, such as len > 100")
		}
		if isAnd(t) {
			v.b = andNode{v.b, w.b}
		} else {
			v.b = orNode{v.b, w.b}
		}
		q = q2
	}
}

// term parses a negation, a bare id, a primitive, a relation or a
// parenthesised expression.
func (p *parser) term(q qual) (val, qual, error) {
	t := p.peek()
	if isNot(t) {
		p.next()
		if err := p.enter(t); err != nil {
			return val{}, q, err
		}
		defer p.leave()
		if ends(p.peek()) {
			return val{}, q, errAt(t.pos, "expected an expression after "+strconv.Quote(t.text))
		}
		v, q2, err := p.term(q)
		if err != nil {
			return val{}, q, err
		}
		if v.a != nil {
			return val{}, q, errAt(v.pos, "arithmetic expression needs a comparison, such as len > 100")
		}
		return val{b: notNode{v.b}, pos: t.pos}, q2, nil
	}
	if p.bareID(t) {
		if !q.ok {
			if t.kind == tWord {
				return val{}, q, errAt(t.pos, "unknown keyword "+strconv.Quote(t.text))
			}
			return val{}, q, errAt(t.pos, strconv.Quote(t.text)+" needs a qualifier such as host, net or port")
		}
		b, err := p.id(q)
		return val{b: b, pos: t.pos}, q, err
	}
	v, q2, err := p.arith(q, 0)
	if err != nil || v.b != nil {
		return v, q2, err
	}
	op := p.peek()
	if !relops[op.text] || op.kind != tOp {
		return v, qual{}, nil
	}
	p.next()
	if ends(p.peek()) {
		return val{}, q, errAt(op.pos, "expected an arithmetic expression after "+strconv.Quote(op.text))
	}
	w, _, err := p.arith(q, 0)
	if err != nil {
		return val{}, q, err
	}
	if w.b != nil {
		return val{}, q, errAt(w.pos, "expected an arithmetic expression after "+strconv.Quote(op.text))
	}
	b, err := relation(op, v.a, w.a)
	return val{b: b, pos: v.pos}, qual{}, err
}

// bareID reports whether t starts an id without qualifiers: an address or
// name, or a number not followed by an arithmetic or relational operator.
func (p *parser) bareID(t token) bool {
	switch t.kind {
	case tIPv4, tIPv6, tMAC:
		return true
	case tWord:
		return t.esc || !isKeyword(t.text)
	case tNum:
		n := p.peekAt(1)
		return !(n.kind == tOp && (relops[n.text] || binPrec(n) >= 0))
	}
	return false
}

// arith parses arithmetic by precedence climbing. Its primaries may be
// boolean (a primitive, a parenthesised expression); a boolean is returned
// as is, and an error is reported if an operator is applied to it.
func (p *parser) arith(q qual, minPrec int) (val, qual, error) {
	left, q2, err := p.unary(q)
	if err != nil {
		return val{}, q, err
	}
	for {
		t := p.peek()
		prec := binPrec(t)
		if prec < 0 || prec > 0 && prec < minPrec {
			return left, q2, nil
		}
		if left.b != nil {
			return val{}, q, errAt(t.pos, strconv.Quote(t.text)+" needs numbers, not a boolean expression")
		}
		p.next()
		if ends(p.peek()) {
			return val{}, q, errAt(t.pos, "expected an arithmetic expression after "+strconv.Quote(t.text))
		}
		next := prec + 1
		if prec == 0 {
			next = 0
		}
		right, _, err := p.arith(q, next)
		if err != nil {
			return val{}, q, err
		}
		if right.b != nil {
			return val{}, q, errAt(right.pos, "expected an arithmetic expression after "+strconv.Quote(t.text))
		}
		a, err := binaryOp(t, left.a, right.a)
		if err != nil {
			return val{}, q, err
		}
		left, q2 = val{a: a, pos: left.pos}, qual{}
	}
}

// unary parses a unary minus or a primary.
func (p *parser) unary(q qual) (val, qual, error) {
	t := p.peek()
	if !isOp(t, "-") {
		return p.primary(q)
	}
	p.next()
	if err := p.enter(t); err != nil {
		return val{}, q, err
	}
	defer p.leave()
	v, _, err := p.unary(q)
	if err != nil {
		return val{}, q, err
	}
	if v.b != nil {
		return val{}, q, errAt(t.pos, `"-" needs a number, not a boolean expression`)
	}
	if c, ok := v.a.(constA); ok {
		return val{a: -c, pos: t.pos}, qual{}, nil
	}
	// -a is ~a + 1; BPF's neg is not in every interpreter (x/net/bpf).
	neg := binA{op: aluADD, l: binA{op: aluXOR, l: v.a, r: constA(0xffffffff)}, r: constA(1)}
	return val{a: neg, pos: t.pos}, qual{}, nil
}

// primary parses a number, len, a load, a parenthesised expression or a
// primitive.
func (p *parser) primary(q qual) (val, qual, error) {
	t := p.peek()
	switch {
	case t.kind == tNum:
		p.next()
		return val{a: constA(t.val), pos: t.pos}, qual{}, nil
	case isOp(t, "("):
		p.next()
		if err := p.enter(t); err != nil {
			return val{}, q, err
		}
		defer p.leave()
		if isOp(p.peek(), ")") {
			return val{}, q, errAt(t.pos, `empty "()"`)
		}
		v, _, err := p.expr(q)
		if err != nil {
			return val{}, q, err
		}
		if c := p.peek(); !isOp(c, ")") {
			if c.kind == tEOF {
				return val{}, q, errAt(t.pos, `"(" is not closed`)
			}
			return val{}, q, errAt(c.pos, "unexpected "+describe(c)+`, expected ")"`)
		}
		p.next()
		v.pos = t.pos
		if v.b != nil {
			return v, q, nil // the qualifiers before the parenthesis carry on
		}
		return v, qual{}, nil
	case isKw(t, "len") || isKw(t, "length"):
		p.next()
		return val{a: lenA{}, pos: t.pos}, qual{}, nil
	case t.kind == tWord && !t.esc:
		if _, ok := protoKeywords[t.text]; ok && isOp(p.peekAt(1), "[") {
			a, err := p.load()
			return val{a: a, pos: t.pos}, qual{}, err
		}
		if isKeyword(t.text) {
			b, q2, err := p.primitive()
			return val{b: b, pos: t.pos}, q2, err
		}
		return val{}, q, errAt(t.pos, "unknown keyword "+strconv.Quote(t.text))
	case t.kind == tEOF:
		return val{}, q, errAt(t.pos, "unexpected end of expression")
	case isOp(t, ")"):
		return val{}, q, errAt(t.pos, `unbalanced ")"`)
	case t.kind == tOp:
		return val{}, q, errAt(t.pos, "unexpected "+describe(t))
	}
	return val{}, q, errAt(t.pos, strconv.Quote(t.text)+" is not a number")
}

// load parses pname "[" arith [":" size] "]".
func (p *parser) load() (aexpr, error) {
	t := p.next()
	p.next() // [
	if isOp(p.peek(), "]") {
		return nil, errAt(p.peek().pos, `expected an offset before "]"`)
	}
	idx, _, err := p.arith(qual{}, 0)
	if err != nil {
		return nil, err
	}
	if idx.b != nil {
		return nil, errAt(idx.pos, "an offset must be arithmetic, not a boolean expression")
	}
	size := uint32(1)
	if isOp(p.peek(), ":") {
		p.next()
		s := p.next()
		if s.kind != tNum || s.val != 1 && s.val != 2 && s.val != 4 {
			return nil, errAt(s.pos, "size must be 1, 2 or 4, not "+describe(s))
		}
		size = s.val
	}
	if c := p.next(); !isOp(c, "]") {
		return nil, errAt(c.pos, "unexpected "+describe(c)+`, expected "]"`)
	}
	return p.loadAt(t, idx.a, uint8(size))
}

// primitive parses a term that starts with a keyword: a qualified id, a
// protocol name, less/greater, vlan, broadcast or multicast.
func (p *parser) primitive() (bexpr, qual, error) {
	t := p.peek()
	if why, ok := unsupported[t.text]; ok {
		return nil, qual{}, errAt(t.pos, fmt.Sprintf("%q is not supported: %s", t.text, why))
	}
	switch t.text {
	case "less", "greater":
		p.next()
		n, err := p.pnum(t)
		if err != nil {
			return nil, qual{}, err
		}
		if t.text == "less" {
			return notNode{cmp(lenA{}, jmpJGT, n)}, qual{}, nil
		}
		return cmp(lenA{}, jmpJGE, n), qual{}, nil
	case "vlan":
		p.next()
		b, err := p.vlan(t)
		return b, qual{}, err
	case "broadcast", "multicast":
		p.next()
		b, err := p.cast(qual{}, t)
		return b, qual{}, err
	case "mask", "and", "or", "not", "len", "length":
		return nil, qual{}, errAt(t.pos, "unexpected "+describe(t))
	}
	// A head: [pname] [dir] [type], or pname proto.
	q := qual{ok: true}
	head := t
	if pr, ok := protoKeywords[t.text]; ok {
		p.next()
		q.proto, q.pname = pr, t.text
		if n := p.peek(); isKw(n, "broadcast") || isKw(n, "multicast") {
			p.next()
			b, err := p.cast(q, n)
			return b, qual{}, err
		}
	}
	hasDir := false
	if n := p.peek(); isKw(n, "src") || isKw(n, "dst") {
		p.next()
		hasDir = true
		q.dir = dSrc
		if n.text == "dst" {
			q.dir = dDst
		}
		other := "dst"
		if n.text == "dst" {
			other = "src"
		}
		if c := p.peek(); (isAnd(c) || isOr(c)) && isKw(p.peekAt(1), other) {
			p.next()
			p.next()
			q.dir = dDefault
			if isAnd(c) {
				q.dir = dAnd
			}
		}
	}
	hasType := false
	switch n := p.peek(); {
	case isKw(n, "host"), isKw(n, "net"), isKw(n, "port"), isKw(n, "portrange"):
		p.next()
		hasType = true
		q.aname = n.text
		q.addr = map[string]addrType{"host": aHost, "net": aNet, "port": aPort, "portrange": aPortrange}[n.text]
	case isKw(n, "proto"):
		if hasDir {
			return nil, qual{}, errAt(n.pos, `"proto" takes no direction`)
		}
		p.next()
		hasType = true
		q.aname, q.addr = n.text, aProto
	case n.kind == tWord && !n.esc:
		if why, ok := unsupported[n.text]; ok {
			return nil, qual{}, errAt(n.pos, fmt.Sprintf("%q is not supported: %s", n.text, why))
		}
	}
	if !hasDir && !hasType {
		b, err := p.abbrev(q.proto, head)
		return b, qual{}, err
	}
	if ends(p.peek()) {
		last := p.toks[p.i-1]
		return nil, qual{}, errAt(last.pos, "expected an address, port or protocol after "+strconv.Quote(last.text))
	}
	b, err := p.id(q)
	return b, q, err
}

// pnum parses a number, possibly in parentheses, after the keyword t.
func (p *parser) pnum(t token) (uint32, error) {
	n := p.peek()
	if isOp(n, "(") {
		p.next()
		v, err := p.pnum(t)
		if err != nil {
			return 0, err
		}
		if c := p.next(); !isOp(c, ")") {
			return 0, errAt(c.pos, "unexpected "+describe(c)+`, expected ")"`)
		}
		return v, nil
	}
	if n.kind != tNum {
		return 0, errAt(n.pos, fmt.Sprintf("%q needs a number, not %s", t.text, describe(n)))
	}
	p.next()
	return n.val, nil
}

// id parses what follows a head: an address, number or name, a negated id,
// or ids joined by and/or in parentheses, all under the qualifiers q.
func (p *parser) id(q qual) (bexpr, error) {
	t := p.peek()
	switch {
	case isNot(t):
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		defer p.leave()
		if ends(p.peek()) {
			return nil, errAt(t.pos, "expected an expression after "+strconv.Quote(t.text))
		}
		b, err := p.id(q)
		if err != nil {
			return nil, err
		}
		return notNode{b}, nil
	case isOp(t, "("):
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		defer p.leave()
		b, err := p.id(q)
		if err != nil {
			return nil, err
		}
		for {
			c := p.peek()
			if isOp(c, ")") {
				p.next()
				return b, nil
			}
			if !isAnd(c) && !isOr(c) {
				if c.kind == tEOF {
					return nil, errAt(t.pos, `"(" is not closed`)
				}
				return nil, errAt(c.pos, "unexpected "+describe(c)+`, expected ")"`)
			}
			p.next()
			if ends(p.peek()) {
				return nil, errAt(c.pos, "expected an expression after "+strconv.Quote(c.text))
			}
			d, err := p.id(q)
			if err != nil {
				return nil, err
			}
			if isAnd(c) {
				b = andNode{b, d}
			} else {
				b = orNode{b, d}
			}
		}
	}
	switch t.kind {
	case tNum, tIPv4, tIPv6, tMAC:
	case tWord:
		if !t.esc && isKeyword(t.text) && q.addr != aProto {
			return nil, errAt(t.pos, "expected an address, port or protocol, not "+describe(t))
		}
	default:
		return nil, errAt(t.pos, "expected an address, port or protocol, not "+describe(t))
	}
	p.next()
	return p.atom(q, t)
}

// relation builds "x op y" for a relational operator token.
func relation(op token, x, y aexpr) (bexpr, error) {
	cx, xc := x.(constA)
	cy, yc := y.(constA)
	if xc && yc {
		var r bool
		switch op.text {
		case ">":
			r = cx > cy
		case ">=":
			r = cx >= cy
		case "=", "==":
			r = cx == cy
		case "<=":
			r = cx <= cy
		case "<":
			r = cx < cy
		case "!=":
			r = cx != cy
		}
		return constNode(r), nil
	}
	o := op.text
	if xc {
		// Constant on the right: "5 < len" is "len > 5".
		x, y, cy, yc = y, x, cx, true
		o = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "==": "==", "!=": "!="}[o]
	}
	var jop uint16
	negate := false
	switch o {
	case ">":
		jop = jmpJGT
	case ">=":
		jop = jmpJGE
	case "=", "==":
		jop = jmpJEQ
	case "<=":
		jop, negate = jmpJGT, true
	case "<":
		jop, negate = jmpJGE, true
	case "!=":
		jop, negate = jmpJEQ, true
	}
	var leaf bexpr
	switch {
	case !yc:
		leaf = cmpNode{x: x, op: jop, y: y}
	case jop == jmpJEQ && cy == 0 && isMask(x):
		// (e & m) == 0 is "not jset m", the test libpcap's optimizer emits.
		b := x.(binA)
		leaf, negate = cmp(b.l, jmpJSET, uint32(b.r.(constA))), !negate
	default:
		leaf = cmp(x, jop, uint32(cy))
	}
	if negate {
		leaf = notNode{leaf}
	}
	gs := guards(x, y)
	if len(gs) == 0 {
		return leaf, nil
	}
	return and(append(gs, leaf)...), nil
}

// isMask reports whether x is "e & constant".
func isMask(x aexpr) bool {
	b, ok := x.(binA)
	if !ok || b.op != aluAND {
		return false
	}
	_, ok = b.r.(constA)
	return ok
}

// guards returns the guards of the loads in es, each once, in the order
// they are met: an index's before its load's.
func guards(es ...aexpr) []bexpr {
	var out []bexpr
	seen := map[string]bool{}
	var walk func(aexpr)
	walk = func(e aexpr) {
		switch e := e.(type) {
		case loadA:
			walk(e.idx)
			if e.guard != nil && !seen[e.key] {
				seen[e.key] = true
				out = append(out, e.guard)
			}
		case binA:
			walk(e.l)
			walk(e.r)
		}
	}
	for _, e := range es {
		walk(e)
	}
	return out
}

// binaryOp builds "l op r", folding constants and refusing what libpcap
// refuses: division by zero and shifts of 32 bits or more.
func binaryOp(op token, l, r aexpr) (aexpr, error) {
	alu := map[string]uint16{"+": aluADD, "-": aluSUB, "*": aluMUL, "/": aluDIV, "%": aluMOD,
		"&": aluAND, "|": aluOR, "^": aluXOR, "<<": aluLSH, ">>": aluRSH}[op.text]
	if c, ok := r.(constA); ok {
		switch {
		case (alu == aluDIV || alu == aluMOD) && c == 0:
			return nil, errAt(op.pos, "division by zero")
		case (alu == aluLSH || alu == aluRSH) && c > 31:
			return nil, errAt(op.pos, "shift by more than 31 bits")
		}
		if a, ok := l.(constA); ok {
			return constA(aluConst(alu, uint32(a), uint32(c))), nil
		}
	}
	return binA{op: alu, l: l, r: r}, nil
}

// aluConst computes "a op b" as the BPF ALU would.
func aluConst(op uint16, a, b uint32) uint32 {
	switch op {
	case aluADD:
		return a + b
	case aluSUB:
		return a - b
	case aluMUL:
		return a * b
	case aluDIV:
		return a / b
	case aluMOD:
		return a % b
	case aluAND:
		return a & b
	case aluOR:
		return a | b
	case aluXOR:
		return a ^ b
	case aluLSH:
		return a << b
	}
	return a >> b
}
