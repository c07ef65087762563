package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// image formats prog as tcpdump -d does (libpcap's bpf_image), one
// instruction a line, jump targets as absolute instruction numbers.
func image(prog []bpf.RawInstruction) string {
	var b strings.Builder
	for n, ins := range prog {
		op, operand := disasm(n, ins)
		if ins.Op&0x07 == clsJMP && ins.Op != opJA {
			fmt.Fprintf(&b, "(%03d) %-8s %-16s jt %d\tjf %d\n", n, op, operand, n+1+int(ins.Jt), n+1+int(ins.Jf))
		} else {
			fmt.Fprintf(&b, "(%03d) %-8s %s\n", n, op, operand)
		}
	}
	return b.String()
}

// disasm returns the mnemonic and operand of the instruction at n.
func disasm(n int, ins bpf.RawInstruction) (op, operand string) {
	k := ins.K
	sk := int32(k) // bpf_image prints several operands with %d of an int
	switch ins.Op {
	case opRetK:
		return "ret", fmt.Sprintf("#%d", sk)
	case opRetA:
		return "ret", ""
	case opRetX:
		return "ret", "x"
	case opLdW:
		return "ld", fmt.Sprintf("[%d]", sk)
	case opLdH:
		return "ldh", fmt.Sprintf("[%d]", sk)
	case opLdB:
		return "ldb", fmt.Sprintf("[%d]", sk)
	case opLdLen:
		return "ld", "#pktlen"
	case opLdxLen:
		return "ldx", "#pktlen"
	case opLdIndW:
		return "ld", fmt.Sprintf("[x + %d]", sk)
	case opLdIndH:
		return "ldh", fmt.Sprintf("[x + %d]", sk)
	case opLdIndB:
		return "ldb", fmt.Sprintf("[x + %d]", sk)
	case opLdImm:
		return "ld", fmt.Sprintf("#0x%x", k)
	case opLdxImm:
		return "ldx", fmt.Sprintf("#0x%x", k)
	case opLdxMSH:
		return "ldxb", fmt.Sprintf("4*([%d]&0xf)", sk)
	case opLdMem:
		return "ld", fmt.Sprintf("M[%d]", sk)
	case opLdxMem:
		return "ldx", fmt.Sprintf("M[%d]", sk)
	case opSt:
		return "st", fmt.Sprintf("M[%d]", sk)
	case opStx:
		return "stx", fmt.Sprintf("M[%d]", sk)
	case opJA:
		return "ja", fmt.Sprintf("%d", n+1+int(k))
	case opNeg:
		return "neg", ""
	case opTAX:
		return "tax", ""
	case opTXA:
		return "txa", ""
	}
	switch ins.Op & 0x07 {
	case clsJMP:
		op = map[uint16]string{jmpJEQ: "jeq", jmpJGT: "jgt", jmpJGE: "jge", jmpJSET: "jset"}[ins.Op&0xf0]
		if ins.Op&srcX != 0 {
			return op, "x"
		}
		return op, fmt.Sprintf("#0x%x", k)
	case clsALU:
		op = map[uint16]string{aluADD: "add", aluSUB: "sub", aluMUL: "mul", aluDIV: "div", aluMOD: "mod",
			aluAND: "and", aluOR: "or", aluXOR: "xor", aluLSH: "lsh", aluRSH: "rsh"}[ins.Op&0xf0]
		if op == "" {
			break
		}
		switch {
		case ins.Op&srcX != 0:
			return op, "x"
		case op == "and" || op == "or" || op == "xor":
			return op, fmt.Sprintf("#0x%x", k)
		default:
			return op, fmt.Sprintf("#%d", sk)
		}
	}
	return "unimp", fmt.Sprintf("0x%x", ins.Op)
}
