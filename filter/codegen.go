package filter

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/net/bpf"
)

// Code generation works backwards, from the two ret instructions at the end
// of the program towards its first instruction, so that every jump target
// already exists when a jump is emitted. A boolean node is compiled
// against two labels — where to go when it is true, where when false — and
// returns the label of its own first instruction:
//
//	and(a, b) = a → (true: b, false: F); or(a, b) = a → (true: T, false: b);
//	not(a) swaps T and F; a leaf computes a value into A and jumps.
//
// Nothing is duplicated, so the program grows linearly with the
// expression. Peepholes keep it close to what libpcap's optimizer makes of
// the same expression. Each node is compiled knowing the outcomes of the
// field comparisons that lead to it (its facts), and each jump is followed
// past what is known when it is taken:
//
//   - A target that reloads the value A already holds skips the load
//     (after "ldh [12]; jeq #0x86dd", a false branch into "ldh [12]; jeq
//     #0x800" lands on the jeq).
//   - A target comparison the jump's outcome or the facts decide is
//     replaced by its result (A == 0x86dd cannot also be 0x800; after
//     "ether type is IPv4" an IPv6 test is false).
//   - A comparison both of whose outcomes lead to the same code is dead:
//     it is dropped with its loads ("not sctp or not arp" loads nothing).
//
// The first two only skip instructions whose effect is already known. The
// third drops loads whose value cannot matter, so a frame too short for
// them is not dropped for their sake — as with libpcap. The tests check
// that no peephole changes a verdict except there.

// label is an instruction's index counted from the end of the program: the
// last instruction is 0. Instructions are appended in reverse, so a label
// stays valid while the program grows.
type label int

// gen holds the reversed program being built.
type gen struct {
	rev []bpf.RawInstruction // rev[0] is the last instruction
	// to holds, for each jump in rev, the labels of its targets (true,
	// false); ja uses only the first.
	to map[label][2]label
	// thread enables the peepholes; tests turn it off to compare.
	thread bool
}

// maxGenerated stops code generation that has gone far past what the
// kernel accepts (unreachable code is dropped at the end, so the limit is
// only checked then).
const maxGenerated = 8 * MaxInstructions

var errTooLong = errorString(fmt.Sprintf("program is longer than the %d instructions the kernel accepts", MaxInstructions))

// accept is what the program returns for a matching frame: libpcap's
// default snapshot length, larger than any frame the switch handles.
const accept = 262144

// compile turns the tree rooted at root into a program.
func compile(root bexpr, thread bool) ([]bpf.RawInstruction, error) {
	g := &gen{to: map[label][2]label{}, thread: thread}
	reject := g.emit(bpf.RawInstruction{Op: opRetK, K: 0})
	match := g.emit(bpf.RawInstruction{Op: opRetK, K: accept})
	entry, err := g.cond(root, match, reject, nil)
	if err != nil {
		return nil, err
	}
	return g.assemble(entry), nil
}

func (g *gen) emit(ins bpf.RawInstruction) label {
	g.rev = append(g.rev, ins)
	return label(len(g.rev) - 1)
}

// cond compiles n to continue at t when it holds and at f otherwise, and
// returns the label of its first instruction. ctx is what holds whenever n
// runs: the outcomes of the comparisons that led to it. Code is only ever
// entered at such a label, or at a point a jump reaches by repeating what
// the code from that label would do.
func (g *gen) cond(n bexpr, t, f label, ctx *fact) (label, error) {
	switch n := n.(type) {
	case constNode:
		if n {
			return t, nil
		}
		return f, nil
	case notNode:
		return g.cond(n.a, f, t, ctx)
	case andNode:
		b, err := g.cond(n.b, t, f, factsOf(n.a, true, ctx))
		if err != nil {
			return 0, err
		}
		return g.cond(n.a, b, f, ctx)
	case orNode:
		b, err := g.cond(n.b, t, f, factsOf(n.a, false, ctx))
		if err != nil {
			return 0, err
		}
		return g.cond(n.a, t, b, ctx)
	case cmpNode:
		if len(g.rev) > maxGenerated {
			return 0, errTooLong
		}
		return g.leaf(n, t, f, ctx)
	}
	panic("filter: unknown node")
}

// leaf compiles a comparison: the instructions computing its value, then
// one conditional jump.
func (g *gen) leaf(n cmpNode, t, f label, ctx *fact) (label, error) {
	ld, pure := pureLoad(n)
	if pure && g.thread {
		if c, ok := ctx.about(ld); ok {
			if v, ok := c.decide(n.op, n.k); ok {
				// An earlier comparison of the same field decided this
				// one (and loaded the field, so skipping the load
				// cannot turn a drop into a match).
				if v {
					return t, nil
				}
				return f, nil
			}
		}
	}
	var code []bpf.RawInstruction
	var err error
	if n.y == nil {
		code, err = arith(code, n.x, 0)
	} else {
		// x into M[0], y into X, then A = M[0] again.
		if code, err = arith(code, n.x, 0); err == nil {
			code = append(code, bpf.RawInstruction{Op: opSt, K: 0})
			code, err = arith(code, n.y, 1)
			code = append(code, bpf.RawInstruction{Op: opTAX}, bpf.RawInstruction{Op: opLdMem, K: 0})
		}
	}
	if err != nil {
		return 0, err
	}
	jump := bpf.RawInstruction{Op: clsJMP | n.op | srcK, K: n.k}
	if n.y != nil {
		jump = bpf.RawInstruction{Op: clsJMP | n.op | srcX}
	}
	if g.thread {
		st := stateOf(code, ctx)
		ctxT, ctxF := ctx, ctx
		stT, stF := st, st
		if n.y == nil {
			stT.a.learn(n.op, n.k, true)
			stF.a.learn(n.op, n.k, false)
			if pure {
				ctxT = ctx.add(ld, n.op, n.k, true)
				ctxF = ctx.add(ld, n.op, n.k, false)
			}
		}
		t = g.follow(t, stT, ctxT)
		f = g.follow(f, stF, ctxF)
		if t == f && g.fresh(t) {
			// Both outcomes lead to code that reads nothing this leaf
			// computes: the comparison is dead, and libpcap's optimizer
			// drops it with its loads, so a frame too short for them is
			// not dropped for their sake.
			return t, nil
		}
	}
	// Conditional jumps reach 255 instructions; a farther target gets an
	// unconditional jump (32-bit offset) as a trampoline.
	if g.distance(t) > math.MaxUint8 {
		t = g.ja(t)
	}
	if g.distance(f) > math.MaxUint8 {
		f = g.ja(f)
	}
	at := g.emit(jump)
	g.to[at] = [2]label{t, f}
	for i := len(code) - 1; i >= 0; i-- {
		at = g.emit(code[i])
	}
	return at, nil
}

// fresh reports whether the code at l depends on no register or scratch
// slot: it starts with a ret, or with a load of a frame field, the frame
// length or a constant. (Code from such a point, which follow can reach,
// sets X and the scratch slots before reading them.)
func (g *gen) fresh(l label) bool {
	op := g.rev[l].Op
	return op == opRetK || isFieldLoad(op) || op == opLdImm
}

// distance is the offset a jump emitted next would need to reach l.
func (g *gen) distance(l label) int { return len(g.rev) - int(l) - 1 }

func (g *gen) ja(l label) label {
	at := g.emit(bpf.RawInstruction{Op: opJA})
	g.to[at] = [2]label{l, l}
	return at
}

// follow moves a jump target l past instructions whose effect is known
// when the jump is taken: a ja; a load of the value A (or X) already
// holds; a comparison st decides. A load of a field ctx knows about is
// skipped tentatively, its value standing in for A: that holds only if
// the walk ends where A is loaded afresh (or at a ret), else the walk
// ends at the last such load it skipped.
func (g *gen) follow(l label, st regState, ctx *fact) label {
	virtual, back := false, l
	for step := 0; ; step++ {
		ins := g.rev[l]
		if step == followBudget {
			if virtual {
				return back
			}
			return l
		}
		if ins.Op == opJA {
			l = g.to[l][0]
			continue
		}
		if isFieldLoad(ins.Op) {
			// A fine place to stop: such a load reads no register, and
			// the code after it sets X and the scratch slots before
			// reading them.
			back = l
		}
		if isLoadA(ins.Op) {
			if st.hasA && ins == st.aLoad {
				l--
				continue
			}
			if isFieldLoad(ins.Op) {
				if c, ok := ctx.about(ins); ok {
					virtual = true
					st.aLoad, st.hasA, st.a = ins, true, c
					l--
					continue
				}
			}
			return l // a fresh load: whatever A held no longer matters
		}
		if st.hasX && ins == st.xLoad {
			l--
			continue
		}
		if ins.Op&0x07 == clsJMP && ins.Op&srcX == 0 {
			if v, ok := st.a.decide(ins.Op&0xf0, ins.K); ok {
				if v {
					l = g.to[l][0]
				} else {
					l = g.to[l][1]
				}
				continue
			}
		}
		if virtual && ins.Op != opRetK {
			return back
		}
		return l
	}
}

// assemble puts the reversed program in order starting at entry, drops
// what cannot be reached, and resolves labels to jump offsets.
func (g *gen) assemble(entry label) []bpf.RawInstruction {
	n := len(g.rev)
	idx := func(l label) int { return n - 1 - int(l) } // program index of l
	reach := make([]bool, n)
	reach[idx(entry)] = true
	for i := idx(entry); i < n; i++ {
		if !reach[i] {
			continue
		}
		l := label(n - 1 - i)
		ins := g.rev[l]
		switch {
		case ins.Op&0x07 == clsRET:
		case ins.Op&0x07 == clsJMP:
			reach[idx(g.to[l][0])] = true
			reach[idx(g.to[l][1])] = true
		default:
			reach[i+1] = true
		}
	}
	newIdx := make([]int, n)
	var prog []bpf.RawInstruction
	for i := 0; i < n; i++ {
		newIdx[i] = len(prog)
		if reach[i] {
			prog = append(prog, g.rev[n-1-i])
		}
	}
	for i := 0; i < n; i++ {
		if !reach[i] {
			continue
		}
		l := label(n - 1 - i)
		ins := &prog[newIdx[i]]
		if ins.Op&0x07 != clsJMP {
			continue
		}
		to := g.to[l]
		jt := newIdx[idx(to[0])] - newIdx[i] - 1
		jf := newIdx[idx(to[1])] - newIdx[i] - 1
		if ins.Op == opJA {
			ins.K = uint32(jt)
		} else {
			ins.Jt, ins.Jf = uint8(jt), uint8(jf)
		}
	}
	return prog
}

func isLoadA(op uint16) bool {
	switch op {
	case opLdW, opLdH, opLdB, opLdIndW, opLdIndH, opLdIndB, opLdLen, opLdImm, opLdMem:
		return true
	}
	return false
}

// isFieldLoad reports whether op reads a fixed field of the frame (or its
// length): the same value wherever the program repeats it.
func isFieldLoad(op uint16) bool {
	return op == opLdW || op == opLdH || op == opLdB || op == opLdLen
}

// pureLoad returns the one load a comparison's value is, if it is one.
func pureLoad(n cmpNode) (bpf.RawInstruction, bool) {
	if n.y != nil {
		return bpf.RawInstruction{}, false
	}
	code, err := arith(nil, n.x, 0)
	if err != nil || len(code) != 1 || !isFieldLoad(code[0].Op) {
		return bpf.RawInstruction{}, false
	}
	return code[0], true
}

// fact is the outcome of one comparison of a field on the way to some
// code; facts form a list, newest first.
type fact struct {
	load    bpf.RawInstruction
	op      uint16
	k       uint32
	outcome bool
	in      []uint32 // when not nil, the fact is "the value is one of in"
	next    *fact
	n       int // length of the list from here
}

// Bounds that keep compiling linear in the size of the expression: facts
// are an optimisation, and dropping some only leaves code in.
const (
	maxFacts     = 64  // longest list of facts kept
	factsBudget  = 32  // nodes factsOf visits per call
	followBudget = 256 // instructions follow walks per jump
)

// add returns f with one more fact, or f unchanged when it is full.
func (f *fact) add(load bpf.RawInstruction, op uint16, k uint32, outcome bool) *fact {
	return f.push(&fact{load: load, op: op, k: k, outcome: outcome})
}

func (f *fact) push(g *fact) *fact {
	g.n = 1
	if f != nil {
		g.n = f.n + 1
	}
	if g.n > maxFacts {
		return f
	}
	g.next = f
	return g
}

// about returns what the facts say about the value load gives.
func (f *fact) about(load bpf.RawInstruction) (constraint, bool) {
	c, found := anyValue(), false
	for ; f != nil; f = f.next {
		if f.load == load {
			if f.in != nil {
				c.learnIn(f.in)
			} else {
				c.learn(f.op, f.k, f.outcome)
			}
			found = true
		}
	}
	return c, found
}

// factsOf adds to ctx what n evaluating to outcome implies, visiting at
// most factsBudget nodes, the last-evaluated first.
func factsOf(n bexpr, outcome bool, ctx *fact) *fact {
	budget := factsBudget
	var walk func(n bexpr, outcome bool)
	walk = func(n bexpr, outcome bool) {
		if budget == 0 {
			return
		}
		budget--
		switch n := n.(type) {
		case notNode:
			walk(n.a, !outcome)
		case andNode:
			if outcome {
				walk(n.b, true)
				walk(n.a, true)
			}
		case orNode:
			if !outcome {
				walk(n.b, false)
				walk(n.a, false)
			} else if ld, set, ok := oneOf(n); ok {
				ctx = ctx.push(&fact{load: ld, in: set})
			}
		case cmpNode:
			if ld, ok := pureLoad(n); ok {
				ctx = ctx.add(ld, n.op, n.k, outcome)
			}
		}
	}
	walk(n, outcome)
	return ctx
}

// oneOf recognises an or of equality tests of one field, such as the
// protocol test of "port 80" (6, 17 or 132) or of vlan (three TPIDs), and
// returns the field and the values it then has.
func oneOf(n bexpr) (bpf.RawInstruction, []uint32, bool) {
	var ld bpf.RawInstruction
	var set []uint32
	var walk func(n bexpr) bool
	walk = func(n bexpr) bool {
		switch n := n.(type) {
		case orNode:
			return walk(n.a) && walk(n.b)
		case cmpNode:
			l, ok := pureLoad(n)
			if !ok || n.op != jmpJEQ || set != nil && l != ld || len(set) == maxIn {
				return false
			}
			ld, set = l, append(set, n.k)
			return true
		}
		return false
	}
	if !walk(n) {
		return ld, nil, false
	}
	return ld, set, true
}

// regState is what is known about the registers when a leaf's jump is
// taken: which load filled A and X (so a target repeating it can be
// skipped) and what is known of A's value.
type regState struct {
	aLoad, xLoad bpf.RawInstruction
	hasA, hasX   bool
	a            constraint
}

// stateOf returns what code leaves in A and X: the last instruction that
// wrote each, if it is a load that gives the same value whenever it is
// repeated with the registers unchanged, and what ctx says of A.
func stateOf(code []bpf.RawInstruction, ctx *fact) regState {
	st := regState{a: anyValue()}
	for _, ins := range code {
		switch {
		case isLoadA(ins.Op):
			st.aLoad, st.hasA = ins, true
		case ins.Op == opLdxMSH || ins.Op == opLdxImm || ins.Op == opLdxMem || ins.Op == opLdxLen || ins.Op == opTAX:
			st.xLoad, st.hasX = ins, ins.Op != opTAX
			if st.hasA && st.aLoad.Op&0xe0 == modeIND {
				st.hasA = false // A came from the old X
			}
		case ins.Op == opSt:
			if st.hasA && st.aLoad.Op == opLdMem && st.aLoad.K == ins.K {
				st.hasA = false
			}
		default:
			st.hasA = false // ALU and the rest change A
		}
	}
	if st.hasA && isFieldLoad(st.aLoad.Op) {
		st.a, _ = ctx.about(st.aLoad)
	}
	return st
}

// constraint is what is known about a 32-bit value.
type constraint struct {
	lo, hi uint32 // lo ≤ v ≤ hi
	ne     [4]uint32
	nne    int    // v differs from ne[:nne]
	zero   uint32 // bits of v known to be 0
	in     [maxIn]uint32
	nin    int // when > 0, v is one of in[:nin]
}

// maxIn is the largest set of values a constraint records.
const maxIn = 4

// learnIn records that the value is one of set.
func (c *constraint) learnIn(set []uint32) {
	if c.nin > 0 {
		// Keep the intersection.
		var keep [maxIn]uint32
		n := 0
		for _, v := range c.in[:c.nin] {
			if slices.Contains(set, v) {
				keep[n] = v
				n++
			}
		}
		if n == 0 {
			c.lo, c.hi = 1, 0 // impossible
			return
		}
		c.in, c.nin = keep, n
	} else {
		c.nin = copy(c.in[:], set)
	}
	c.lo = max(c.lo, slices.Min(c.in[:c.nin]))
	c.hi = min(c.hi, slices.Max(c.in[:c.nin]))
}

func anyValue() constraint { return constraint{hi: math.MaxUint32} }

// learn records the outcome of "v op k".
func (c *constraint) learn(op uint16, k uint32, outcome bool) {
	switch {
	case op == jmpJEQ && outcome:
		c.lo, c.hi = max(c.lo, k), min(c.hi, k)
	case op == jmpJEQ:
		if c.nne < len(c.ne) {
			c.ne[c.nne] = k
			c.nne++
		}
	case op == jmpJGT && outcome:
		if k == math.MaxUint32 {
			c.lo, c.hi = 1, 0 // impossible
		} else {
			c.lo = max(c.lo, k+1)
		}
	case op == jmpJGT:
		c.hi = min(c.hi, k)
	case op == jmpJGE && outcome:
		c.lo = max(c.lo, k)
	case op == jmpJGE:
		if k == 0 {
			c.lo, c.hi = 1, 0
		} else {
			c.hi = min(c.hi, k-1)
		}
	case op == jmpJSET && !outcome:
		c.zero |= k
	}
}

// decide returns the outcome of "v op k" if c determines it.
func (c *constraint) decide(op uint16, k uint32) (outcome, ok bool) {
	if c.lo > c.hi {
		return false, false // contradictory: leave the code alone
	}
	switch op {
	case jmpJEQ:
		if k < c.lo || k > c.hi || k&c.zero != 0 || c.nin > 0 && !slices.Contains(c.in[:c.nin], k) {
			return false, true
		}
		for _, v := range c.ne[:c.nne] {
			if v == k {
				return false, true
			}
		}
		if c.lo == c.hi {
			return true, true
		}
	case jmpJGT:
		switch {
		case c.lo > k:
			return true, true
		case c.hi <= k:
			return false, true
		}
	case jmpJGE:
		switch {
		case c.lo >= k:
			return true, true
		case c.hi < k:
			return false, true
		}
	case jmpJSET:
		switch {
		case c.lo == c.hi:
			return c.lo&k != 0, true
		case k&^c.zero == 0:
			return false, true
		}
	}
	return false, false
}

// arith appends code that leaves the value of e in A. It may change X and
// the scratch slots from M[depth] up.
func arith(code []bpf.RawInstruction, e aexpr, depth uint32) ([]bpf.RawInstruction, error) {
	switch e := e.(type) {
	case constA:
		return append(code, bpf.RawInstruction{Op: opLdImm, K: uint32(e)}), nil
	case lenA:
		return append(code, bpf.RawInstruction{Op: opLdLen}), nil
	case loadA:
		return load(code, e, depth)
	case binA:
		if r, ok := e.r.(constA); ok {
			code, err := arith(code, e.l, depth)
			return append(code, bpf.RawInstruction{Op: clsALU | e.op | srcK, K: uint32(r)}), err
		}
		if depth >= scratchSlots {
			return nil, errorString("arithmetic expression too deeply nested")
		}
		code, err := arith(code, e.l, depth)
		if err != nil {
			return nil, err
		}
		code = append(code, bpf.RawInstruction{Op: opSt, K: depth})
		if code, err = arith(code, e.r, depth+1); err != nil {
			return nil, err
		}
		return append(code,
			bpf.RawInstruction{Op: opTAX},
			bpf.RawInstruction{Op: opLdMem, K: depth},
			bpf.RawInstruction{Op: clsALU | e.op | srcX}), nil
	}
	panic("filter: unknown arithmetic node")
}

// load appends the code of a frame load.
func load(code []bpf.RawInstruction, e loadA, depth uint32) ([]bpf.RawInstruction, error) {
	size := map[uint8]uint16{1: szB, 2: szH, 4: szW}[e.size]
	if c, ok := e.idx.(constA); ok {
		// A constant index folds into the offset. An offset of 2 GiB or
		// more is never inside a frame, and the kernel (and x/net/bpf)
		// read a negative one as ancillary data: such a load drops the
		// frame, so say so.
		off := uint64(e.base) + uint64(c)
		if off > math.MaxInt32 {
			return append(code, bpf.RawInstruction{Op: opRetK, K: 0}), nil
		}
		if e.tran {
			code = append(code, bpf.RawInstruction{Op: opLdxMSH, K: e.base})
			return append(code, bpf.RawInstruction{Op: clsLD | size | modeIND, K: uint32(off)}), nil
		}
		return append(code, bpf.RawInstruction{Op: clsLD | size | modeABS, K: uint32(off)}), nil
	}
	code, err := arith(code, e.idx, depth)
	if err != nil {
		return nil, err
	}
	if e.tran {
		code = append(code,
			bpf.RawInstruction{Op: opLdxMSH, K: e.base},
			bpf.RawInstruction{Op: clsALU | aluADD | srcX})
	}
	return append(code,
		bpf.RawInstruction{Op: opTAX},
		bpf.RawInstruction{Op: clsLD | size | modeIND, K: e.base}), nil
}
