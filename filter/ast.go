package filter

// The parser turns an expression into a tree of boolean nodes whose leaves
// compare an arithmetic value with a constant (or a second value); the code
// generator turns the tree into BPF.

// bexpr is a boolean node: andNode, orNode, notNode, constNode or cmpNode.
type bexpr interface{ isBool() }

type andNode struct{ a, b bexpr }
type orNode struct{ a, b bexpr }
type notNode struct{ a bexpr }

// constNode is a test whose outcome is known without reading the frame,
// such as "net 0.0.0.0/0" on an IPv4 packet.
type constNode bool

// cmpNode compares the value of x with k (or with y, when y is not nil)
// using one of the BPF conditional jumps (jeq, jgt, jge, jset).
type cmpNode struct {
	x  aexpr
	op uint16
	k  uint32
	y  aexpr
}

func (andNode) isBool()   {}
func (orNode) isBool()    {}
func (notNode) isBool()   {}
func (constNode) isBool() {}
func (cmpNode) isBool()   {}

// aexpr is an arithmetic node: constA, lenA, loadA, binA.
type aexpr interface{ isArith() }

type constA uint32

// lenA is the frame length (BPF's #pktlen).
type lenA struct{}

// loadA reads size bytes (1, 2 or 4) from the frame at base+idx, or, for a
// transport-layer load (tran), at base + idx + the IPv4 header length
// found at base. guard is what must hold for the load to make sense (the
// frame is IPv4, TCP, not a later fragment…); key names the guard so that
// one relation tests it once.
type loadA struct {
	size  uint8
	base  uint32
	idx   aexpr
	tran  bool
	guard bexpr
	key   string
}

// binA applies a BPF ALU operation (add, sub, mul, div, mod, and, or, xor,
// lsh, rsh) to l and r.
type binA struct {
	op   uint16
	l, r aexpr
}

func (constA) isArith() {}
func (lenA) isArith()   {}
func (loadA) isArith()  {}
func (binA) isArith()   {}

// and returns the conjunction of ns, evaluated left to right.
func and(ns ...bexpr) bexpr {
	r := ns[0]
	for _, n := range ns[1:] {
		r = andNode{r, n}
	}
	return r
}

// or returns the disjunction of ns, evaluated left to right.
func or(ns ...bexpr) bexpr {
	r := ns[0]
	for _, n := range ns[1:] {
		r = orNode{r, n}
	}
	return r
}

// cmp returns the leaf "x op k".
func cmp(x aexpr, op uint16, k uint32) bexpr { return cmpNode{x: x, op: op, k: k} }

// abs is a load at a fixed offset with no guard.
func abs(off uint32, size uint8) aexpr { return loadA{size: size, base: off, idx: constA(0)} }
