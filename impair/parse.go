package impair

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxValueLen bounds the length of a value the parsers accept.
const maxValueLen = 64

// ParseDuration parses a delay or jitter: a Go duration ("50ms", "1.5s",
// "1m30s", "250µs") or a number with one of tc's units, in any case: s, sec,
// secs, ms, msec, msecs, us, usec, usecs, ns, nsec, nsecs. A bare number other
// than 0 is refused: tc reads it as microseconds, which is rarely what was
// meant. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q: %s", s, why)
	}
	if len(s) > maxValueLen {
		return bad("too long")
	}
	if strings.HasPrefix(s, "-") {
		return bad("negative")
	}
	num, unit := splitNumber(s)
	if num == "" {
		return bad("not a number")
	}
	if unit == "" {
		if isZero(num) {
			return 0, nil
		}
		return bad("missing unit (e.g. " + num + "ms)")
	}
	scale := durationUnit(strings.ToLower(unit))
	if scale == 0 {
		// Go's compound forms: 1h30m, 1m0s.
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad("unknown unit " + strconv.Quote(unit))
		}
		return d, nil
	}
	v, err := scaled(num, big.NewRat(scale, 1), false)
	if err != nil {
		return bad(err.Error())
	}
	return time.Duration(v), nil
}

// durationUnit returns the nanoseconds in a tc time unit, 0 if unknown.
func durationUnit(u string) int64 {
	switch u {
	case "s", "sec", "secs":
		return int64(time.Second)
	case "ms", "msec", "msecs":
		return int64(time.Millisecond)
	case "us", "usec", "usecs", "µs", "μs":
		return int64(time.Microsecond)
	case "ns", "nsec", "nsecs":
		return 1
	}
	return 0
}

// ParsePercent parses a probability: "1%", "0.1%", or a bare number, which
// tc also reads as a percentage. It must be within 0–100%.
func ParsePercent(s string) (float64, error) {
	bad := func(why string) (float64, error) {
		return 0, fmt.Errorf("invalid percentage %q: %s", s, why)
	}
	if len(s) > maxValueLen {
		return bad("too long")
	}
	if strings.HasPrefix(s, "-") {
		return bad("negative")
	}
	num, unit := splitNumber(s)
	if num == "" || (unit != "" && unit != "%") {
		return bad("want a number and %, e.g. 0.5%")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v > 100 {
		return bad("more than 100%")
	}
	return v, nil
}

// rateUnits are tc's rate suffixes (iproute2 get_rate64), in bits per
// second. Note that, as in tc, "bps" is bytes per second: "mbps" is 8
// Mbit/s.
var rateUnits = map[string]int64{
	"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}

// ParseRate parses a rate in tc's units, in any case, and returns bits per
// second: bit (or a bare number), kbit, mbit, gbit, tbit count bits per
// second in powers of 1000, kibit, mibit, gibit, tibit in powers of 1024;
// bps, kbps, mbps, gbps, tbps (and kibps…) count BYTES per second, as in tc,
// so "mbps" is 8 Mbit/s. The rate must be positive (a zero rate would stop
// all traffic; Update.Rate 0 removes the limit) and at most MaxRate.
func ParseRate(s string) (uint64, error) {
	bad := func(why string) (uint64, error) {
		return 0, fmt.Errorf("invalid rate %q: %s", s, why)
	}
	if len(s) > maxValueLen {
		return bad("too long")
	}
	if strings.HasPrefix(s, "-") {
		return bad("negative")
	}
	num, unit := splitNumber(s)
	if num == "" {
		return bad("not a number")
	}
	scale := int64(1)
	if unit != "" {
		var ok bool
		if scale, ok = rateUnits[strings.ToLower(unit)]; !ok {
			return bad("unknown unit " + strconv.Quote(unit) + " (want bit, kbit, mbit, gbit or bps for bytes)")
		}
	}
	v, err := scaled(num, big.NewRat(scale, 1), true)
	switch {
	case err != nil:
		return bad(err.Error())
	case v == 0:
		return bad("must be positive")
	case uint64(v) > MaxRate:
		return bad("more than " + formatRate(MaxRate))
	}
	return uint64(v), nil
}

// sizeUnits are tc's size suffixes (iproute2 get_size), in bytes.
var sizeUnits = map[string]*big.Rat{
	"b": big.NewRat(1, 1),
	"k": big.NewRat(1<<10, 1), "kb": big.NewRat(1<<10, 1),
	"m": big.NewRat(1<<20, 1), "mb": big.NewRat(1<<20, 1),
	"g": big.NewRat(1<<30, 1), "gb": big.NewRat(1<<30, 1),
	"kbit": big.NewRat(1<<10, 8), "mbit": big.NewRat(1<<20, 8), "gbit": big.NewRat(1<<30, 8),
}

// ParseSize parses a size in tc's units, in any case, and returns bytes: b
// or a bare number for bytes, k or kb for KiB, m or mb for MiB, g or gb for
// GiB, and kbit, mbit, gbit for 2^10, 2^20, 2^30 bits. Fractions of a byte
// are dropped, as tc does.
func ParseSize(s string) (uint64, error) {
	bad := func(why string) (uint64, error) {
		return 0, fmt.Errorf("invalid size %q: %s", s, why)
	}
	if len(s) > maxValueLen {
		return bad("too long")
	}
	if strings.HasPrefix(s, "-") {
		return bad("negative")
	}
	num, unit := splitNumber(s)
	if num == "" {
		return bad("not a number")
	}
	scale := sizeUnits["b"]
	if unit != "" {
		var ok bool
		if scale, ok = sizeUnits[strings.ToLower(unit)]; !ok {
			return bad("unknown unit " + strconv.Quote(unit) + " (want b, kb, mb, gb or kbit, mbit, gbit)")
		}
	}
	v, err := scaled(num, scale, false)
	if err != nil {
		return bad(err.Error())
	}
	return uint64(v), nil
}

// splitNumber splits s into a leading decimal number (digits, at most one
// point, at least one digit) and the rest. num is "" if s does not start
// with such a number.
func splitNumber(s string) (num, rest string) {
	i, digits, point := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			goto done
		}
	}
done:
	if digits == 0 {
		return "", s
	}
	return s[:i], s[i:]
}

func isZero(num string) bool { return strings.Trim(num, "0.") == "" }

// scaled returns the decimal num times scale as an integer, rounded to
// nearest if round is set and truncated otherwise, or an error if it does
// not fit in an int64.
func scaled(num string, scale *big.Rat, round bool) (int64, error) {
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errors.New("not a number")
	}
	r.Mul(r, scale)
	if round {
		r.Add(r, big.NewRat(1, 2))
	}
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, errors.New("too large")
	}
	return q.Int64(), nil
}

// formatDuration writes d exactly in the largest unit it reaches (s, ms, us,
// ns), with a decimal fraction if needed: "50ms", "1.5s", "250us".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	v := uint64(d)
	if d < 0 {
		sign, v = "-", uint64(-d)
	}
	for _, u := range []struct {
		name string
		ns   uint64
	}{{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}} {
		if v < u.ns {
			continue
		}
		s := sign + strconv.FormatUint(v/u.ns, 10)
		if f := v % u.ns; f != 0 {
			width := len(strconv.FormatUint(u.ns, 10)) - 1
			frac := fmt.Sprintf("%0*d", width, f)
			s += "." + strings.TrimRight(frac, "0")
		}
		return s + u.name
	}
	return sign + "0s" // unreachable: v ≥ 1
}

// formatPercent writes p as the shortest decimal that reads back exactly.
func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// formatRate writes bits per second in the largest of tc's decimal units
// that divides it: "10Mbit", "1500Kbit", "999bit".
func formatRate(bits uint64) string {
	for _, u := range []struct {
		name string
		v    uint64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"Kbit", 1e3}} {
		if bits >= u.v && bits%u.v == 0 {
			return strconv.FormatUint(bits/u.v, 10) + u.name
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

// formatSize writes bytes as tc does, exactly: "32Kb", "1Mb", "1500b".
func formatSize(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatUint(n>>20, 10) + "Mb"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatUint(n>>10, 10) + "Kb"
	}
	return strconv.FormatUint(n, 10) + "b"
}

// Flags are the setting names SetFlag accepts, in the order String prints
// them: tc netem's keywords, and the flags of `vswitchctl link set`.
var Flags = []string{"limit", "delay", "jitter", "distribution", "loss", "duplicate", "reorder", "gap", "corrupt", "rate", "burst", "seed"}

// SetFlag sets the field called name (one of Flags) of u from a
// command-line value: durations as ParseDuration, probabilities as
// ParsePercent, rate as ParseRate (or "none" to remove the limit), burst as
// ParseSize, limit, gap and seed as decimal integers (seed 0 picks a random
// seed). Range checks beyond the syntax are left to Settings.Apply.
func (u *Update) SetFlag(name, value string) error {
	err := u.setFlag(name, value)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (u *Update) setFlag(name, value string) error {
	switch name {
	case "delay", "jitter":
		d, err := ParseDuration(value)
		if err != nil {
			return err
		}
		if name == "delay" {
			u.Delay = &d
		} else {
			u.Jitter = &d
		}
	case "distribution":
		d, err := ParseDistribution(value)
		if err != nil {
			return err
		}
		u.Distribution = &d
	case "loss", "duplicate", "corrupt", "reorder":
		p, err := ParsePercent(value)
		if err != nil {
			return err
		}
		switch name {
		case "loss":
			u.Loss = &p
		case "duplicate":
			u.Duplicate = &p
		case "corrupt":
			u.Corrupt = &p
		default:
			u.Reorder = &p
		}
	case "rate":
		var r uint64
		if value != "none" {
			var err error
			if r, err = ParseRate(value); err != nil {
				return err
			}
		}
		u.Rate = &r
	case "burst":
		b, err := ParseSize(value)
		if err != nil {
			return err
		}
		u.Burst = &b
	case "limit", "gap":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid %s %q: want a number of frames", name, value)
		}
		if name == "limit" {
			u.Limit = &n
		} else {
			u.Gap = &n
		}
	case "seed":
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid seed %q: want a decimal number", value)
		}
		u.Seed = &n
	default:
		return fmt.Errorf("unknown setting (want one of %s)", strings.Join(Flags, ", "))
	}
	return nil
}

// ParseUpdate parses settings written as tc netem arguments, e.g.
// strings.Fields("delay 50ms 5ms distribution normal loss 1% rate 10mbit"),
// which is also what Settings.String prints. Keywords: limit N, delay TIME
// [JITTER], jitter TIME, distribution uniform|normal, loss [random] P,
// duplicate P, reorder P [gap N], gap N, corrupt P, rate RATE|none, burst
// SIZE, seed N, and "none" (a Reset: no impairment). netem's correlations,
// loss models, slots and ECN marking are not supported and say so.
func ParseUpdate(args []string) (Update, error) {
	var u Update
	isFlag := func(i int) bool { return i < len(args) && slices.Contains(Flags, args[i]) }
	unsupported := func(i int) bool { return i < len(args) && slices.Contains(unsupportedOptions, args[i]) }
	// isEnd reports whether args[i] cannot be a value: the end, a
	// keyword, or an option we refuse.
	isEnd := func(i int) bool { return i >= len(args) || isFlag(i) || unsupported(i) || args[i] == "none" }
	for i := 0; i < len(args); i++ {
		k := args[i]
		switch {
		case k == "none":
			u.Reset = true
			continue
		case unsupported(i):
			return Update{}, fmt.Errorf("netem option %q is not supported", k)
		case !isFlag(i):
			return Update{}, fmt.Errorf("unknown setting %q (want one of %s)", k, strings.Join(Flags, ", "))
		}
		if k == "loss" && i+1 < len(args) && args[i+1] == "random" {
			i++
		}
		switch {
		case unsupported(i + 1):
			return Update{}, fmt.Errorf("netem option %q is not supported", args[i+1])
		case i+1 >= len(args) || isFlag(i+1):
			return Update{}, fmt.Errorf("%s: missing value", k)
		}
		i++
		if err := u.SetFlag(k, args[i]); err != nil {
			return Update{}, err
		}
		if k == "delay" && !isEnd(i+1) {
			i++
			if err := u.SetFlag("jitter", args[i]); err != nil {
				return Update{}, err
			}
		}
		if !isEnd(i + 1) {
			if _, err := ParsePercent(args[i+1]); err == nil {
				return Update{}, fmt.Errorf("%s: correlation %s is not supported", k, args[i+1])
			}
			return Update{}, fmt.Errorf("%s: unexpected %q", k, args[i+1])
		}
	}
	return u, nil
}

// unsupportedOptions are netem keywords ParseUpdate refuses by name.
var unsupportedOptions = []string{"ecn", "slot", "state", "gemodel", "packet-overhead", "cell", "overhead"}
