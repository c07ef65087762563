package impair

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Direction selects which frames of a port are impaired, seen from the
// switch: Out are the frames the switch writes to the port (toward the
// endpoint, as netem on the host side of a veth), In the frames it reads
// from the port (from the endpoint, as netem on the endpoint's own eth0).
type Direction uint8

// Directions.
const (
	Out  Direction = 1 << iota // frames written to the port
	In                         // frames read from the port
	Both = Out | In
)

// String returns "out", "in" or "both".
func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case Both:
		return "both"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// ParseDirection parses "out", "in" or "both".
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(s) {
	case "out":
		return Out, nil
	case "in":
		return In, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("invalid direction %q: want in, out or both", s)
}

// Distribution is the shape of the jitter around the delay.
type Distribution uint8

// Distributions.
const (
	// Uniform spreads delays evenly over delay ± jitter, netem's default.
	Uniform Distribution = iota
	// Normal draws delay + jitter·N(0,1): jitter is the standard deviation,
	// as with netem's "distribution normal". Draws beyond ±4σ are clamped
	// to it (netem's table ends there).
	Normal
	numDistributions
)

// String returns "uniform" or "normal".
func (d Distribution) String() string {
	switch d {
	case Uniform:
		return "uniform"
	case Normal:
		return "normal"
	}
	return "distribution(" + strconv.Itoa(int(d)) + ")"
}

// ParseDistribution parses "uniform" or "normal".
func ParseDistribution(s string) (Distribution, error) {
	switch strings.ToLower(s) {
	case "uniform":
		return Uniform, nil
	case "normal":
		return Normal, nil
	}
	return 0, fmt.Errorf("invalid distribution %q: want uniform or normal", s)
}

// Bounds of the settings. Larger values are refused as mistakes.
const (
	// MaxDelay bounds Delay and Jitter.
	MaxDelay = time.Hour
	// DefaultLimit is the queue limit when Settings.Limit is 0, netem's
	// default.
	DefaultLimit = 1000
	// MaxLimit bounds Settings.Limit. Held frames are copied into buffers
	// sized to them (2 KiB, 16 KiB or 64 KiB), so a full queue of
	// super-frames at this limit would hold 6.5 GB.
	MaxLimit = 100_000
	// MaxRate bounds Settings.Rate: 1 Tbit/s.
	MaxRate = 1_000_000_000_000
	// MaxBurst bounds Settings.Burst: 64 MiB.
	MaxBurst = 64 << 20
	// MaxGap bounds Settings.Gap.
	MaxGap = 1 << 20
)

// Settings are the impairments of one direction of a port. The zero value
// impairs nothing. Probabilities are percentages, 0 to 100, as tc writes
// them.
type Settings struct {
	// Delay holds every frame this long (before the rate limit applies).
	Delay time.Duration
	// Jitter varies the delay of each frame, as Distribution says. A delay
	// that would be negative is 0: the frame leaves at once.
	Jitter time.Duration
	// Distribution is the shape of the jitter.
	Distribution Distribution
	// Loss is the chance that a frame is dropped.
	Loss float64
	// Duplicate is the chance that a frame is sent twice.
	Duplicate float64
	// Corrupt is the chance that one bit of a frame, after its Ethernet
	// header and VLAN tags, is flipped.
	Corrupt float64
	// Reorder is the chance, once Gap-1 frames have been delayed since the
	// last reordered one, that a frame is sent at once, ahead of the
	// delayed ones (netem's "reorder P gap N"). It needs a Delay.
	Reorder float64
	// Gap is netem's reorder gap; 0 means 1 (every frame may be
	// reordered).
	Gap int
	// Rate limits the direction to this many bits per second (0: no
	// limit) with a token bucket of Burst bytes. Frames count their length
	// on the wire (see the package comment for super-frames).
	Rate uint64
	// Burst is the token bucket's depth in bytes: after an idle period,
	// this many bytes leave at once. 0 sends every frame one transmission
	// time after the previous one, as netem's rate does.
	Burst uint64
	// Limit is how many frames may be held at once; frames beyond it are
	// dropped (impair-queue-full). 0 means DefaultLimit.
	Limit int
	// Seed seeds the random decisions: the same seed, settings and frames
	// give the same decisions. 0 picks a random seed, which Settings then
	// reports, so a run can be repeated.
	Seed uint64
}

// Active reports whether s impairs anything (Limit and Seed alone do not).
func (s Settings) Active() bool {
	return s.Delay != 0 || s.Jitter != 0 || s.Loss != 0 || s.Duplicate != 0 ||
		s.Corrupt != 0 || s.Reorder != 0 || s.Rate != 0
}

// random reports whether s makes random decisions.
func (s Settings) random() bool {
	return s.Jitter != 0 || s.Loss != 0 || s.Duplicate != 0 || s.Corrupt != 0 || s.Reorder != 0
}

// limit returns the effective queue limit.
func (s Settings) limit() int {
	if s.Limit == 0 {
		return DefaultLimit
	}
	return s.Limit
}

// gap returns the effective reorder gap.
func (s Settings) gap() int { return max(s.Gap, 1) }

// Validate checks every field and returns the first problem, one line,
// naming the field and its value as tc would write it.
func (s Settings) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"delay", s.Delay}, {"jitter", s.Jitter}} {
		if d.v < 0 {
			return fmt.Errorf("%s %s: negative", d.name, formatDuration(d.v))
		}
		if d.v > MaxDelay {
			return fmt.Errorf("%s %s: more than %s", d.name, formatDuration(d.v), formatDuration(MaxDelay))
		}
	}
	if s.Distribution >= numDistributions {
		return fmt.Errorf("unknown %s", s.Distribution)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", s.Loss}, {"duplicate", s.Duplicate}, {"corrupt", s.Corrupt}, {"reorder", s.Reorder}} {
		if !(p.v >= 0 && p.v <= 100) { // NaN fails both
			return fmt.Errorf("%s %s: not within 0%%-100%%", p.name, formatPercent(p.v))
		}
	}
	if s.Reorder != 0 && s.Delay == 0 {
		return errors.New("reorder needs a delay: reordered frames are those sent before the delayed ones")
	}
	if s.Gap < 0 || s.Gap > MaxGap {
		return fmt.Errorf("gap %d: not within 0-%d", s.Gap, MaxGap)
	}
	if s.Rate > MaxRate {
		return fmt.Errorf("rate %s: more than %s", formatRate(s.Rate), formatRate(MaxRate))
	}
	if s.Burst > MaxBurst {
		return fmt.Errorf("burst %s: more than %s", formatSize(s.Burst), formatSize(MaxBurst))
	}
	if s.Limit < 0 || s.Limit > MaxLimit {
		return fmt.Errorf("limit %d: not within 1-%d", s.Limit, MaxLimit)
	}
	return nil
}

// String formats s the way `tc qdisc show` prints netem, e.g.
// "delay 50ms 5ms loss 1% rate 10Mbit", "none" for no impairment. Defaults
// (limit 1000, uniform jitter, burst 0, gap 1) are left out, and the seed
// is shown only when decisions are random. ParseUpdate reads it back.
func (s Settings) String() string {
	var b strings.Builder
	add := func(f string, a ...any) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, f, a...)
	}
	if s.Limit != 0 && s.Limit != DefaultLimit {
		add("limit %d", s.Limit)
	}
	if s.Delay != 0 || s.Jitter != 0 {
		add("delay %s", formatDuration(s.Delay))
		if s.Jitter != 0 {
			add("%s", formatDuration(s.Jitter))
			if s.Distribution != Uniform {
				add("distribution %s", s.Distribution)
			}
		}
	}
	if s.Loss != 0 {
		add("loss %s", formatPercent(s.Loss))
	}
	if s.Duplicate != 0 {
		add("duplicate %s", formatPercent(s.Duplicate))
	}
	if s.Reorder != 0 {
		add("reorder %s", formatPercent(s.Reorder))
		if s.Gap > 1 {
			add("gap %d", s.Gap)
		}
	}
	if s.Corrupt != 0 {
		add("corrupt %s", formatPercent(s.Corrupt))
	}
	if s.Rate != 0 {
		add("rate %s", formatRate(s.Rate))
		if s.Burst != 0 {
			add("burst %s", formatSize(s.Burst))
		}
	}
	if s.random() {
		add("seed %d", s.Seed)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Update is a partial change of Settings: nil fields keep their value, so
// setting the delay keeps the loss. Apply validates the result.
type Update struct {
	// Reset starts from the zero Settings (no impairment, a new random
	// seed unless Seed is set) before the other fields apply: a replace.
	Reset bool

	Delay, Jitter                     *time.Duration
	Distribution                      *Distribution
	Loss, Duplicate, Corrupt, Reorder *float64
	Gap                               *int
	// Rate 0 removes the rate limit.
	Rate, Burst *uint64
	Limit       *int
	// Seed 0 picks a new random seed. Any Seed restarts the random
	// sequence.
	Seed *uint64
}

// IsEmpty reports whether u changes nothing.
func (u Update) IsEmpty() bool { return u == Update{} }

// Apply returns s changed by u, or an error if the result is not valid.
// A zero Seed in the result stands for "pick a random seed".
func (s Settings) Apply(u Update) (Settings, error) {
	if u.Reset {
		s = Settings{}
	}
	set(&s.Delay, u.Delay)
	set(&s.Jitter, u.Jitter)
	set(&s.Distribution, u.Distribution)
	set(&s.Loss, u.Loss)
	set(&s.Duplicate, u.Duplicate)
	set(&s.Corrupt, u.Corrupt)
	set(&s.Reorder, u.Reorder)
	set(&s.Gap, u.Gap)
	set(&s.Rate, u.Rate)
	set(&s.Burst, u.Burst)
	set(&s.Limit, u.Limit)
	set(&s.Seed, u.Seed)
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// threshold turns a percentage into a bound for a 53-bit random number:
// 100% is 2^53, which every draw is below.
func threshold(pct float64) uint64 {
	return uint64(math.Round(pct / 100 * (1 << 53)))
}
