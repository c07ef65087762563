package filter

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Filter is a compiled filter expression. It is immutable, so one Filter
// may be used by any number of goroutines at once.
type Filter struct {
	expr string
	prog []bpf.RawInstruction
}

// Error is a compile error. Error() gives one line such as
//
//	filter "tcp port x": position 10: "x" is not a port number
type Error struct {
	// Expr is the expression that was compiled.
	Expr string
	// Pos is the 1-based byte position of the offending token in Expr, or
	// 0 when the error is about the expression as a whole.
	Pos int
	// Msg says what is wrong, in lower case.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Pos == 0 {
		return fmt.Sprintf("filter %q: %s", e.Expr, e.Msg)
	}
	return fmt.Sprintf("filter %q: position %d: %s", e.Expr, e.Pos, e.Msg)
}

// errAt returns an error about the token at byte offset off (0-based);
// Compile fills in the expression.
func errAt(off int, msg string) error { return &Error{Pos: off + 1, Msg: msg} }

// maxExprLen bounds the expressions Compile accepts, far above what a
// program of MaxInstructions can express.
const maxExprLen = 64 << 10

// Compile compiles a pcap-filter(7) expression for Ethernet frames. The
// empty expression (or one of only white space) matches every frame. The
// error, if any, is an *Error.
func Compile(expr string) (*Filter, error) {
	prog, err := compileExpr(expr, true)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Msg: err.Error()}
		}
		e.Expr = expr
		return nil, e
	}
	return &Filter{expr: expr, prog: prog}, nil
}

// compileExpr compiles expr; thread turns the code generator's peepholes on.
func compileExpr(expr string, thread bool) ([]bpf.RawInstruction, error) {
	if len(expr) > maxExprLen {
		return nil, errorString(fmt.Sprintf("expression is longer than %d bytes", maxExprLen))
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var root bexpr = constNode(true)
	if p.peek().kind != tEOF {
		v, _, err := p.expr(qual{})
		if err != nil {
			return nil, err
		}
		switch t := p.peek(); {
		case isOp(t, ")"):
			return nil, errAt(t.pos, `unbalanced ")"`)
		case t.kind != tEOF:
			return nil, errAt(t.pos, "unexpected "+describe(t)+", expected and, or or the end")
		case v.a != nil:
			return nil, errAt(v.pos, "arithmetic expression needs a comparison, such as len > 100")
		}
		root = v.b
	}
	prog, err := compile(root, thread)
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, errTooLong
	}
	if err := validate(prog); err != nil {
		return nil, fmt.Errorf("internal error: invalid program: %w", err)
	}
	return prog, nil
}

// Match reports whether frame, a whole Ethernet frame as the switch sees
// it (VLAN tags in line, up to a 64 KiB TSO super-frame), passes the
// filter. Its length is taken as the length on the wire (len, less,
// greater). Match does not allocate. A nil *Filter matches every frame.
func (f *Filter) Match(frame []byte) bool {
	if f == nil {
		return true
	}
	v, _ := run(f.prog, frame)
	return v != 0
}

// Expr returns the expression f was compiled from.
func (f *Filter) Expr() string { return f.expr }

// Program returns the program as x/net/bpf instructions, which run in
// bpf.VM and assemble with bpf.Assemble. It returns a new slice each call.
func (f *Filter) Program() []bpf.Instruction {
	ins, _ := bpf.Disassemble(f.prog)
	return ins
}

// Raw returns the assembled program, as SO_ATTACH_FILTER takes it. It
// returns a new slice each call. (The kernel reads an offset computed at
// run time that comes out negative, as in ip[-ip[0]], as ancillary data
// where Match drops the frame; no sensible expression computes one.)
func (f *Filter) Raw() []bpf.RawInstruction {
	return append([]bpf.RawInstruction(nil), f.prog...)
}

// String returns the program as tcpdump -d prints it, one instruction per
// line, starting "(000) ".
func (f *Filter) String() string { return image(f.prog) }
