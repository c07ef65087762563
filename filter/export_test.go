package filter

import "golang.org/x/net/bpf"

// Hooks for the external tests.

// CompileUnoptimized compiles expr without the code generator's
// peepholes, for checking that they change no verdict.
func CompileUnoptimized(expr string) (*Filter, error) {
	prog, err := compileExpr(expr, false)
	if err != nil {
		return nil, err
	}
	return &Filter{expr: expr, prog: prog}, nil
}

// Run executes any valid classic BPF program with Match's interpreter and
// reports whether it stopped at a load past the end of frame.
func Run(prog []bpf.RawInstruction, frame []byte) (ret uint32, short bool) { return run(prog, frame) }

// Validate checks a program as Compile checks its own.
func Validate(prog []bpf.RawInstruction) error { return validate(prog) }

// Image formats any program as tcpdump -d does.
func Image(prog []bpf.RawInstruction) string { return image(prog) }
