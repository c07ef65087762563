package filter

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcodes (linux/filter.h, pcap/bpf.h). x/net/bpf keeps its
// own unexported, so the compiler and the interpreter name them here.
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	retK = 0x00
	retX = 0x08
	retA = 0x10

	miscTAX = 0x00
	miscTXA = 0x80
)

// Opcodes the interpreter runs, by name.
const (
	opLdW    = clsLD | szW | modeABS
	opLdH    = clsLD | szH | modeABS
	opLdB    = clsLD | szB | modeABS
	opLdIndW = clsLD | szW | modeIND
	opLdIndH = clsLD | szH | modeIND
	opLdIndB = clsLD | szB | modeIND
	opLdLen  = clsLD | szW | modeLEN
	opLdImm  = clsLD | modeIMM
	opLdMem  = clsLD | modeMEM
	opLdxImm = clsLDX | modeIMM
	opLdxMem = clsLDX | modeMEM
	opLdxLen = clsLDX | szW | modeLEN
	opLdxMSH = clsLDX | szB | modeMSH
	opSt     = clsST
	opStx    = clsSTX
	opJA     = clsJMP | jmpJA
	opRetK   = clsRET | retK
	opRetX   = clsRET | retX
	opRetA   = clsRET | retA
	opTAX    = clsMISC | miscTAX
	opTXA    = clsMISC | miscTXA
	opNeg    = clsALU | aluNEG
)

// MaxInstructions is the longest program Compile produces: the limit the
// Linux kernel puts on a classic BPF socket filter (BPF_MAXINSNS).
const MaxInstructions = 4096

// scratchSlots is the number of BPF scratch memory words, M[0] to M[15].
const scratchSlots = 16

// run executes prog on frame and returns the value of the ret instruction
// it reaches: the number of bytes to keep, 0 to drop. Semantics are those
// of the kernel and libpcap: a load past the end of the frame (reported
// as short) or a division by zero ends the program with 0. prog must have
// passed validate. run does not allocate.
func run(prog []bpf.RawInstruction, frame []byte) (ret uint32, short bool) {
	var (
		a, x uint32
		mem  [scratchSlots]uint32
	)
	n := uint64(len(frame))
	for pc := 0; pc < len(prog); pc++ {
		ins := &prog[pc]
		k := ins.K
		switch ins.Op {
		case opLdW:
			if uint64(k)+4 > n {
				return 0, true
			}
			a = binary.BigEndian.Uint32(frame[k:])
		case opLdH:
			if uint64(k)+2 > n {
				return 0, true
			}
			a = uint32(binary.BigEndian.Uint16(frame[k:]))
		case opLdB:
			if uint64(k) >= n {
				return 0, true
			}
			a = uint32(frame[k])
		case opLdIndW:
			off := uint64(x) + uint64(k)
			if off+4 > n {
				return 0, true
			}
			a = binary.BigEndian.Uint32(frame[off:])
		case opLdIndH:
			off := uint64(x) + uint64(k)
			if off+2 > n {
				return 0, true
			}
			a = uint32(binary.BigEndian.Uint16(frame[off:]))
		case opLdIndB:
			off := uint64(x) + uint64(k)
			if off >= n {
				return 0, true
			}
			a = uint32(frame[off])
		case opLdLen:
			a = uint32(n)
		case opLdImm:
			a = k
		case opLdMem:
			a = mem[k]
		case opLdxImm:
			x = k
		case opLdxMem:
			x = mem[k]
		case opLdxLen:
			x = uint32(n)
		case opLdxMSH:
			if uint64(k) >= n {
				return 0, true
			}
			x = uint32(frame[k]&0xf) << 2
		case opSt:
			mem[k] = a
		case opStx:
			mem[k] = x
		case opJA:
			pc += int(k)
		case clsJMP | jmpJEQ | srcK:
			pc += branch(a == k, ins)
		case clsJMP | jmpJGT | srcK:
			pc += branch(a > k, ins)
		case clsJMP | jmpJGE | srcK:
			pc += branch(a >= k, ins)
		case clsJMP | jmpJSET | srcK:
			pc += branch(a&k != 0, ins)
		case clsJMP | jmpJEQ | srcX:
			pc += branch(a == x, ins)
		case clsJMP | jmpJGT | srcX:
			pc += branch(a > x, ins)
		case clsJMP | jmpJGE | srcX:
			pc += branch(a >= x, ins)
		case clsJMP | jmpJSET | srcX:
			pc += branch(a&x != 0, ins)
		case opRetK:
			return k, false
		case opRetA:
			return a, false
		case opRetX:
			return x, false
		case opTAX:
			x = a
		case opTXA:
			a = x
		case opNeg:
			a = -a
		default:
			// An ALU operation; validate let through only these.
			v := k
			if ins.Op&srcX != 0 {
				v = x
			}
			switch ins.Op &^ srcX {
			case clsALU | aluADD:
				a += v
			case clsALU | aluSUB:
				a -= v
			case clsALU | aluMUL:
				a *= v
			case clsALU | aluDIV:
				if v == 0 {
					return 0, false
				}
				a /= v
			case clsALU | aluMOD:
				if v == 0 {
					return 0, false
				}
				a %= v
			case clsALU | aluAND:
				a &= v
			case clsALU | aluOR:
				a |= v
			case clsALU | aluXOR:
				a ^= v
			case clsALU | aluLSH:
				a <<= v // Go, like libpcap's interpreter, gives 0 for v ≥ 32
			case clsALU | aluRSH:
				a >>= v
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// branch returns how many instructions a conditional jump skips.
func branch(cond bool, ins *bpf.RawInstruction) int {
	if cond {
		return int(ins.Jt)
	}
	return int(ins.Jf)
}

// validate checks prog as the kernel's classic BPF checker does: known
// opcodes only, jumps forward and inside the program, scratch slots in
// range, no division by a constant zero, and a ret at the end.
func validate(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > MaxInstructions {
		return fmt.Errorf("program has %d instructions, want 1 to %d", len(prog), MaxInstructions)
	}
	for pc, ins := range prog {
		left := uint64(len(prog) - pc - 1) // instructions after this one
		switch ins.Op {
		case opLdW, opLdH, opLdB, opLdIndW, opLdIndH, opLdIndB, opLdLen, opLdImm,
			opLdxImm, opLdxLen, opLdxMSH, opRetK, opRetA, opRetX, opTAX, opTXA, opNeg:
		case opLdMem, opLdxMem, opSt, opStx:
			if ins.K >= scratchSlots {
				return fmt.Errorf("instruction %d: scratch slot %d out of range", pc, ins.K)
			}
		case opJA:
			if uint64(ins.K) >= left {
				return fmt.Errorf("instruction %d: jump past the end", pc)
			}
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJGT | srcK, clsJMP | jmpJGE | srcK, clsJMP | jmpJSET | srcK,
			clsJMP | jmpJEQ | srcX, clsJMP | jmpJGT | srcX, clsJMP | jmpJGE | srcX, clsJMP | jmpJSET | srcX:
			if uint64(ins.Jt) >= left || uint64(ins.Jf) >= left {
				return fmt.Errorf("instruction %d: jump past the end", pc)
			}
		default:
			switch ins.Op &^ srcX {
			case clsALU | aluADD, clsALU | aluSUB, clsALU | aluMUL, clsALU | aluAND,
				clsALU | aluOR, clsALU | aluXOR, clsALU | aluLSH, clsALU | aluRSH:
			case clsALU | aluDIV, clsALU | aluMOD:
				if ins.Op&srcX == 0 && ins.K == 0 {
					return fmt.Errorf("instruction %d: division by zero", pc)
				}
			default:
				return fmt.Errorf("instruction %d: unknown opcode %#x", pc, ins.Op)
			}
		}
	}
	if prog[len(prog)-1].Op&0x07 != clsRET {
		return fmt.Errorf("program does not end with ret")
	}
	return nil
}
