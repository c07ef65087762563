package state

import (
	"fmt"
	"strings"

	"github.com/vswitchd/vswitchd/impair"
)

// Impairment is the link impairment of a port (an endpoint NIC or a system
// port), each direction as tc netem arguments, the form
// impair.Settings.String prints and impair.ParseUpdate reads: "delay 50ms
// loss 20% seed 7". Empty means none. Out impairs the frames the switch
// sends to the port (toward the endpoint), In those it receives from it.
type Impairment struct {
	Out string `json:"out,omitempty"`
	In  string `json:"in,omitempty"`
}

// IsZero reports whether m impairs nothing (for omitzero).
func (m Impairment) IsZero() bool { return m == Impairment{} }

// ImpairmentOf records out and in; a direction without impairment is
// empty. The seeds in use are kept, so a restart repeats the sequence.
func ImpairmentOf(out, in impair.Settings) Impairment {
	str := func(s impair.Settings) string {
		if !s.Active() {
			return ""
		}
		return s.String()
	}
	return Impairment{Out: str(out), In: str(in)}
}

// Updates returns the updates that install m on an unimpaired port: each
// replaces a direction's settings whole.
func (m Impairment) Updates() (out, in impair.Update, err error) {
	parse := func(dir, s string) (impair.Update, error) {
		u := impair.Update{Reset: true}
		if s == "" {
			return u, nil
		}
		p, err := impair.ParseUpdate(strings.Fields(s))
		if err != nil {
			return u, fmt.Errorf("impair %s %q: %w", dir, s, err)
		}
		if _, err := (impair.Settings{}).Apply(p); err != nil {
			return u, fmt.Errorf("impair %s %q: %w", dir, s, err)
		}
		p.Reset = true
		return p, nil
	}
	if out, err = parse("out", m.Out); err != nil {
		return
	}
	in, err = parse("in", m.In)
	return
}
