package impair

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"50ms", 50 * time.Millisecond, ""},
		{"50MS", 50 * time.Millisecond, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"0.1ms", 100 * time.Microsecond, ""},
		{"100us", 100 * time.Microsecond, ""},
		{"100µs", 100 * time.Microsecond, ""},
		{"250usec", 250 * time.Microsecond, ""},
		{"2secs", 2 * time.Second, ""},
		{"3msecs", 3 * time.Millisecond, ""},
		{"7ns", 7, ""},
		{"1m30s", 90 * time.Second, ""},
		{"1h", time.Hour, ""},
		{"0", 0, ""},
		{"0.0", 0, ""},
		{".5s", 500 * time.Millisecond, ""},
		{"50", 0, `invalid duration "50": missing unit (e.g. 50ms)`},
		{"-5ms", 0, `invalid duration "-5ms": negative`},
		{"ms", 0, `invalid duration "ms": not a number`},
		{"", 0, `invalid duration "": not a number`},
		{"5 ms", 0, `invalid duration "5 ms": unknown unit " ms"`},
		{"5parsecs", 0, `invalid duration "5parsecs": unknown unit "parsecs"`},
		{"99999999999s", 0, `invalid duration "99999999999s": too large`},
		{"1.2.3s", 0, `invalid duration "1.2.3s": unknown unit ".3s"`},
	} {
		got, err := ParseDuration(tc.in)
		if !errIs(err, tc.err) || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"1%", 1, ""},
		{"0.1%", 0.1, ""},
		{"100%", 100, ""},
		{"0%", 0, ""},
		{"25", 25, ""},
		{"101%", 0, `invalid percentage "101%": more than 100%`},
		{"-1%", 0, `invalid percentage "-1%": negative`},
		{"1%%", 0, `invalid percentage "1%%": want a number and %, e.g. 0.5%`},
		{"one%", 0, `invalid percentage "one%": want a number and %, e.g. 0.5%`},
		{"NaN", 0, `invalid percentage "NaN": want a number and %, e.g. 0.5%`},
		{"1e2", 0, `invalid percentage "1e2": want a number and %, e.g. 0.5%`},
	} {
		got, err := ParsePercent(tc.in)
		if !errIs(err, tc.err) || got != tc.want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"10mbit", 10e6, ""},
		{"10Mbit", 10e6, ""},
		{"1gbit", 1e9, ""},
		{"500kbit", 500e3, ""},
		{"1.5mbit", 1.5e6, ""},
		{"64000", 64000, ""},
		{"64000bit", 64000, ""},
		{"1kibit", 1024, ""},
		{"1mibit", 1 << 20, ""},
		{"100bps", 800, ""},      // bytes per second, as tc
		{"100kbps", 800_000, ""}, // kilobytes
		{"1mbps", 8_000_000, ""}, // megabytes: tc's trap
		{"1KiBps", 8 * 1024, ""}, //
		{"1tbit", MaxRate, ""},   //
		{"0.5bit", 1, ""},        // rounded to nearest
		{"0", 0, `invalid rate "0": must be positive`},
		{"0.4bit", 0, `invalid rate "0.4bit": must be positive`},
		{"-1mbit", 0, `invalid rate "-1mbit": negative`},
		{"2tbit", 0, `invalid rate "2tbit": more than 1Tbit`},
		{"10mb", 0, `invalid rate "10mb": unknown unit "mb" (want bit, kbit, mbit, gbit or bps for bytes)`},
		{"fast", 0, `invalid rate "fast": not a number`},
		{"99999999999999999999999tbit", 0, `invalid rate "99999999999999999999999tbit": too large`},
	} {
		got, err := ParseRate(tc.in)
		if !errIs(err, tc.err) || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"1500", 1500, ""},
		{"1500b", 1500, ""},
		{"32kb", 32 << 10, ""},
		{"32K", 32 << 10, ""},
		{"32Kb", 32 << 10, ""},
		{"1mb", 1 << 20, ""},
		{"1m", 1 << 20, ""},
		{"1gb", 1 << 30, ""},
		{"8kbit", 1 << 10, ""},
		{"1mbit", 1 << 17, ""},
		{"1.5kb", 1536, ""},
		{"0.9b", 0, ""}, // fractions dropped, as tc
		{"-1kb", 0, `invalid size "-1kb": negative`},
		{"10xb", 0, `invalid size "10xb": unknown unit "xb" (want b, kb, mb, gb or kbit, mbit, gbit)`},
		{"kb", 0, `invalid size "kb": not a number`},
		{"99999999999999gb", 0, `invalid size "99999999999999gb": too large`},
	} {
		got, err := ParseSize(tc.in)
		if !errIs(err, tc.err) || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func errIs(err error, want string) bool {
	if err == nil {
		return want == ""
	}
	return err.Error() == want
}

func TestParseUpdate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Settings // applied to the zero Settings
		err  string
	}{
		{"delay 50ms 5ms loss 1% rate 10mbit", Settings{Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Rate: 10e6}, ""},
		{"delay 100ms 20ms distribution normal", Settings{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Distribution: Normal}, ""},
		{"delay 10ms reorder 25% gap 5", Settings{Delay: 10 * time.Millisecond, Reorder: 25, Gap: 5}, ""},
		{"loss random 0.3%", Settings{Loss: 0.3}, ""},
		{"duplicate 1 corrupt 0.1%", Settings{Duplicate: 1, Corrupt: 0.1}, ""},
		{"rate 1mbit burst 32kb limit 50 seed 7", Settings{Rate: 1e6, Burst: 32 << 10, Limit: 50, Seed: 7}, ""},
		{"rate none", Settings{}, ""},
		{"jitter 5ms", Settings{Jitter: 5 * time.Millisecond}, ""},
		{"none", Settings{}, ""},
		{"", Settings{}, ""},
		{"delay", Settings{}, "delay: missing value"},
		{"delay 10ms 2ms 25%", Settings{}, "delay: correlation 25% is not supported"},
		{"loss 1% 25%", Settings{}, "loss: correlation 25% is not supported"},
		{"loss 1% extra", Settings{}, `loss: unexpected "extra"`},
		{"delay 10ms fast", Settings{}, `jitter: invalid duration "fast": not a number`},
		{"loss state 1 2", Settings{}, `netem option "state" is not supported`},
		{"speed 5", Settings{}, `unknown setting "speed" (want one of limit, delay, jitter, distribution, loss, duplicate, reorder, gap, corrupt, rate, burst, seed)`},
		{"rate 0", Settings{}, `rate: invalid rate "0": must be positive`},
		{"limit many", Settings{}, `limit: invalid limit "many": want a number of frames`},
		{"seed -1", Settings{}, `seed: invalid seed "-1": want a decimal number`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseUpdate(strings.Fields(tc.in))
			if tc.err != "" {
				if !errIs(err, tc.err) {
					t.Fatalf("ParseUpdate(%q) = %v, want error %q", tc.in, err, tc.err)
				}
				return
			}
			must(t, err)
			got, err := Settings{}.Apply(u)
			must(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseUpdate(%q) applied (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	var u Update
	if err := u.SetFlag("volume", "11"); !errIs(err, "volume: unknown setting (want one of limit, delay, jitter, distribution, loss, duplicate, reorder, gap, corrupt, rate, burst, seed)") {
		t.Errorf("SetFlag(volume) = %v", err)
	}
}

// normalize returns s with the fields String leaves out when they have no
// effect set to what they mean.
func normalize(s Settings) Settings {
	s.Limit = s.limit()
	if s.Jitter == 0 {
		s.Distribution = Uniform
	}
	if s.Reorder == 0 || s.Gap == 0 {
		s.Gap = max(s.Gap, 1)
		if s.Reorder == 0 {
			s.Gap = 1
		}
	}
	if s.Rate == 0 {
		s.Burst = 0
	}
	if !s.random() {
		s.Seed = 0
	}
	return s
}

// roundTrip checks that String reads back as the same settings.
func roundTrip(t *testing.T, s Settings) {
	t.Helper()
	str := s.String()
	u, err := ParseUpdate(strings.Fields(str))
	if err != nil {
		t.Fatalf("ParseUpdate(%q) from %+v: %v", str, s, err)
	}
	back, err := Settings{}.Apply(u)
	if err != nil {
		t.Fatalf("Apply(ParseUpdate(%q)): %v", str, err)
	}
	if diff := cmp.Diff(normalize(s), normalize(back)); diff != "" {
		t.Fatalf("%q does not read back (-want +got):\n%s", str, diff)
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, s := range []Settings{
		{},
		{Delay: 1234567 * time.Nanosecond, Jitter: 1, Distribution: Normal, Loss: 0.3, Duplicate: 100,
			Corrupt: 1e-7, Reorder: 33.3, Gap: 9, Rate: 123456789, Burst: 1536, Limit: 7, Seed: 1 << 63},
		{Rate: MaxRate, Burst: MaxBurst, Limit: MaxLimit},
		{Delay: MaxDelay, Jitter: MaxDelay},
	} {
		roundTrip(t, s)
	}
}

// The fuzz targets check that the parsers never panic, that what they
// accept is in range, and that the formatted value reads back the same.

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10mbit", "1.5Gbit", "100kbps", "64000", "0", "1tbit", "0.5bit", "1KiBps"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r == 0 || r > MaxRate {
			t.Fatalf("ParseRate(%q) = %d, out of range", s, r)
		}
		if back, err := ParseRate(formatRate(r)); err != nil || back != r {
			t.Fatalf("ParseRate(formatRate(%d) = %q) = %d, %v", r, formatRate(r), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"32kb", "1500", "1mb", "8kbit", "1.5K", "0", "64Mb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if back, err := ParseSize(formatSize(n)); err != nil || back != n {
			t.Fatalf("ParseSize(formatSize(%d) = %q) = %d, %v", n, formatSize(n), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"50ms", "1.5s", "100us", "1m30s", "0", "7nsec", "0.000001s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if back, err := ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Fatalf("ParseDuration(formatDuration(%v) = %q) = %v, %v", d, formatDuration(d), back, err)
		}
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"1%", "0.1%", "100%", "25", "0.000001%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePercent(s)
		if err != nil {
			return
		}
		if !(p >= 0 && p <= 100) {
			t.Fatalf("ParsePercent(%q) = %v, out of range", s, p)
		}
		if back, err := ParsePercent(formatPercent(p)); err != nil || back != p {
			t.Fatalf("ParsePercent(formatPercent(%v) = %q) = %v, %v", p, formatPercent(p), back, err)
		}
	})
}

func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{
		"delay 50ms 5ms loss 1% rate 10mbit",
		"delay 100ms 20ms distribution normal reorder 25% gap 5",
		"limit 50 duplicate 0.1% corrupt 0.01% seed 3",
		"rate 1500kbit burst 32kb",
		"none loss random 2%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUpdate(strings.Fields(s))
		if err != nil {
			return
		}
		st, err := Settings{}.Apply(u)
		if err != nil {
			return
		}
		roundTrip(t, st)
	})
}
