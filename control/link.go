package control

// Link impairments: GET /v1/links[?target=T] lists them, PATCH
// /v1/links/{target} changes some settings (the others are kept), DELETE
// /v1/links/{target}?direction=D removes them. A target is ENDPOINT (every
// NIC), ENDPOINT:IFACE or a system port's interface.

// LinkSet is the body of PATCH /v1/links/{target}. Each setting is a
// string in tc's units, as `vswitchctl link set` takes it: delay and
// jitter "50ms", probabilities "1%", rate "10mbit" ("none" removes it),
// burst "32kb", limit, gap and seed decimal numbers (seed 0: random),
// distribution "uniform" or "normal". Absent settings keep their values.
type LinkSet struct {
	// Direction is "out" (the default: frames the switch sends to the
	// port, toward the endpoint), "in" or "both".
	Direction    string  `json:"direction,omitempty"`
	Delay        *string `json:"delay,omitempty"`
	Jitter       *string `json:"jitter,omitempty"`
	Distribution *string `json:"distribution,omitempty"`
	Loss         *string `json:"loss,omitempty"`
	Duplicate    *string `json:"duplicate,omitempty"`
	Corrupt      *string `json:"corrupt,omitempty"`
	Reorder      *string `json:"reorder,omitempty"`
	Gap          *string `json:"gap,omitempty"`
	Rate         *string `json:"rate,omitempty"`
	Burst        *string `json:"burst,omitempty"`
	Limit        *string `json:"limit,omitempty"`
	Seed         *string `json:"seed,omitempty"`
}

// Settings returns the settings s changes, by name (the names of tc
// netem and of vswitchctl link set's flags), in a fixed order.
func (s LinkSet) Settings() [][2]string {
	var out [][2]string
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"limit", s.Limit}, {"delay", s.Delay}, {"jitter", s.Jitter}, {"distribution", s.Distribution},
		{"loss", s.Loss}, {"duplicate", s.Duplicate}, {"reorder", s.Reorder}, {"gap", s.Gap},
		{"corrupt", s.Corrupt}, {"rate", s.Rate}, {"burst", s.Burst}, {"seed", s.Seed},
	} {
		if f.v != nil {
			out = append(out, [2]string{f.name, *f.v})
		}
	}
	return out
}

// Link is the impairment of one port (GET /v1/links).
type Link struct {
	Port      string `json:"port"`     // the switch port: ENDPOINT/IFACE or a system port
	Endpoint  string `json:"endpoint"` // "" for a system port
	Interface string `json:"interface"`
	// Out impairs the frames the switch sends to the port (toward the
	// endpoint), In those it receives from it.
	Out LinkImpairment `json:"out"`
	In  LinkImpairment `json:"in"`
}

// LinkImpairment is one direction's settings and what they did.
type LinkImpairment struct {
	// Summary is the settings as tc qdisc show prints netem
	// ("delay 50ms loss 1% seed 42"), "none" for no impairment.
	Summary      string  `json:"summary"`
	DelayMS      float64 `json:"delay_ms"`
	JitterMS     float64 `json:"jitter_ms"`
	Distribution string  `json:"distribution"`
	Loss         float64 `json:"loss_percent"`
	Duplicate    float64 `json:"duplicate_percent"`
	Corrupt      float64 `json:"corrupt_percent"`
	Reorder      float64 `json:"reorder_percent"`
	Gap          int     `json:"gap"`
	Rate         uint64  `json:"rate_bits_per_second"` // 0: no limit
	Burst        uint64  `json:"burst_bytes"`
	Limit        int     `json:"limit"` // frames held at most; 0: the default (1000)
	Seed         uint64  `json:"seed"`  // the seed in use (0 while nothing is random)
	// Counters: frames delayed, lost, duplicated, corrupted, reordered,
	// dropped because the queue was full; Queued is held now.
	Delayed    uint64 `json:"delayed"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Corrupted  uint64 `json:"corrupted"`
	Reordered  uint64 `json:"reordered"`
	QueueFull  uint64 `json:"queue_full"`
	Queued     int    `json:"queued"`
}
