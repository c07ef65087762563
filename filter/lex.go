package filter

import (
	"net/netip"
	"strconv"
	"strings"
)

// tokKind classifies a token the way libpcap's scanner does.
type tokKind uint8

const (
	tEOF  tokKind = iota
	tOp           // an operator or punctuation: ( ) [ ] : + - * / % & | ^ ! < > = >= <= != == << >> && ||
	tNum          // a number or a named constant (tcp-syn, icmp-echo…); val holds it
	tIPv4         // a dotted IPv4 address, possibly abbreviated (10, 10.1, 10.1.2 are nets)
	tIPv6         // an IPv6 address
	tMAC          // a MAC address: aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff, aabbccddeeff
	tWord         // a keyword or a name (service, protocol, port range "1-1023")
)

// token is one lexeme of a filter expression.
type token struct {
	kind tokKind
	pos  int    // byte offset in the expression, 0-based
	text string // the lexeme (without the backslash of an escaped word)
	val  uint32 // tNum only
	esc  bool   // a word written \like\this is never a keyword
}

// namedNums are the constants libpcap's scanner turns into numbers.
var namedNums = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,

	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,

	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// twoCharOps are the operators of two characters; they are tried before
// the single-character ones.
var twoCharOps = [...]string{">=", "<=", "!=", "==", "<<", ">>", "&&", "||"}

const oneCharOps = "()[]:+-*/%&|^!<>="

// lex splits expr into tokens, ending with a tEOF token.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\\':
			j := i + 1
			for j < len(expr) && !strings.ContainsRune(" \t\r\n!()", rune(expr[j])) {
				j++
			}
			if j == i+1 {
				return nil, errAt(i, "a backslash must be followed by a name")
			}
			toks = append(toks, token{kind: tWord, pos: i, text: expr[i+1 : j], esc: true})
			i = j
			continue
		case isAlnum(c) || c == ':' && i+1 < len(expr) && expr[i+1] == ':':
			t, n, err := lexWord(expr, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += n
			continue
		}
		op := ""
		for _, o := range twoCharOps {
			if strings.HasPrefix(expr[i:], o) {
				op = o
				break
			}
		}
		if op == "" && strings.IndexByte(oneCharOps, c) >= 0 {
			op = expr[i : i+1]
		}
		if op == "" {
			return nil, errAt(i, "unexpected character "+strconv.QuoteRune(rune(c)))
		}
		toks = append(toks, token{kind: tOp, pos: i, text: op})
		i += len(op)
	}
	return append(toks, token{kind: tEOF, pos: len(expr)}), nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == ':' || c == '-'
}

// lexWord reads the word starting at expr[i] and returns it with the
// number of bytes it used. Like libpcap's scanner it takes the longest run
// of name characters, which keeps "1-1023", "tcp-syn" and "aa:bb:…" whole
// (so "len-1" is one word: arithmetic needs spaces around a minus), but a
// run such as "2:4" inside brackets that is no address splits at the colon.
func lexWord(expr string, i int) (token, int, error) {
	j := i
	for j < len(expr) && isWordChar(expr[j]) {
		j++
	}
	// A name ends in a letter, digit or dot; a trailing '-' or '_' is not
	// part of it.
	for j > i+1 && (expr[j-1] == '-' || expr[j-1] == '_') {
		j--
	}
	s := expr[i:j]
	t := token{kind: tWord, pos: i, text: s}
	if v, ok := namedNums[s]; ok {
		t.kind, t.val = tNum, v
		return t, len(s), nil
	}
	if c := strings.IndexByte(s, ':'); c >= 0 {
		switch {
		case isIPv6(s):
			t.kind = tIPv6
		case isMAC(s):
			t.kind = tMAC
		case c > 0 && strings.Count(s, ":") == 1 && isNumber(s[:c]):
			// An index and a size, as in ip[2:2].
			return lexWord(expr[:i+c], i)
		default:
			return t, 0, errAt(i, strconv.Quote(s)+" is not an IPv6 or MAC address")
		}
		return t, len(s), nil
	}
	switch {
	case isNumber(s):
		v, err := parseNumber(s)
		if err != nil {
			return t, 0, errAt(i, err.Error())
		}
		t.kind, t.val = tNum, v
	case isDotted(s):
		t.kind = tIPv4
	case isMAC(s):
		t.kind = tMAC
	}
	return t, len(s), nil
}

// isNumber reports whether s looks like a number: decimal digits, or 0x
// followed by hex digits. parseNumber may still reject it.
func isNumber(s string) bool {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return isHex(s[2:])
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func isHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == ""
}

// parseNumber converts a number the way libpcap does: 0x… is hex, a leading
// 0 means octal, anything else decimal; it must fit in 32 bits.
func parseNumber(s string) (uint32, error) {
	base, digits := 10, s
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, errorString("number " + s + " overflows 32 bits")
		}
		return 0, errorString("number " + s + " contains a digit that is not octal")
	}
	return uint32(v), nil
}

// isDotted reports whether s is one to four dot-separated decimal numbers
// (an IPv4 address or an abbreviated network such as 10.1).
func isDotted(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// parseDotted returns the address in s (see isDotted) left-aligned in 32
// bits, and how many bits were written (8 per part).
func parseDotted(s string) (addr uint32, bits int, ok bool) {
	for _, p := range strings.Split(s, ".") {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, 0, false
		}
		addr = addr<<8 | uint32(v)
		bits += 8
	}
	return addr << (32 - bits), bits, true
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// parseMAC accepts the forms libpcap does: six groups of one or two hex
// digits separated by ':', '-' or '.', three groups of four separated by
// '.', or twelve hex digits.
func parseMAC(s string) (mac [6]byte, ok bool) {
	var groups []string
	switch {
	case len(s) == 12 && isHex(s):
		for i := 0; i < 12; i += 2 {
			groups = append(groups, s[i:i+2])
		}
	case len(s) == 14 && strings.Count(s, ".") == 2:
		for _, g := range strings.Split(s, ".") {
			if len(g) != 4 {
				return mac, false
			}
			groups = append(groups, g[:2], g[2:])
		}
	default:
		for _, sep := range []string{":", "-", "."} {
			if strings.Count(s, sep) == 5 {
				groups = strings.Split(s, sep)
				break
			}
		}
	}
	if len(groups) != 6 {
		return mac, false
	}
	for i, g := range groups {
		if len(g) < 1 || len(g) > 2 || !isHex(g) {
			return mac, false
		}
		v, _ := strconv.ParseUint(g, 16, 8)
		mac[i] = byte(v)
	}
	return mac, true
}

func isMAC(s string) bool {
	_, ok := parseMAC(s)
	return ok
}

// errorString is an error without a position, wrapped by errAt.
type errorString string

func (e errorString) Error() string { return string(e) }
