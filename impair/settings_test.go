package impair

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Settings
		want string // error; "" for valid
	}{
		{"zero", Settings{}, ""},
		{"everything", Settings{Delay: time.Second, Jitter: time.Millisecond, Distribution: Normal, Loss: 100,
			Duplicate: 0.5, Corrupt: 1e-9, Reorder: 25, Gap: 5, Rate: MaxRate, Burst: MaxBurst, Limit: MaxLimit, Seed: 1}, ""},
		{"negative delay", Settings{Delay: -5 * time.Millisecond}, "delay -5ms: negative"},
		{"negative jitter", Settings{Jitter: -time.Microsecond}, "jitter -1us: negative"},
		{"delay too long", Settings{Delay: 2 * time.Hour}, "delay 7200s: more than 3600s"},
		{"jitter too long", Settings{Jitter: MaxDelay + 1}, "jitter 3600.000000001s: more than 3600s"},
		{"distribution", Settings{Distribution: 7}, "unknown distribution(7)"},
		{"loss above 100", Settings{Loss: 120}, "loss 120%: not within 0%-100%"},
		{"negative duplicate", Settings{Duplicate: -1}, "duplicate -1%: not within 0%-100%"},
		{"corrupt NaN", Settings{Corrupt: math.NaN()}, "corrupt NaN%: not within 0%-100%"},
		{"reorder without delay", Settings{Reorder: 10}, "reorder needs a delay: reordered frames are those sent before the delayed ones"},
		{"gap", Settings{Gap: -1}, "gap -1: not within 0-1048576"},
		{"rate", Settings{Rate: 2 * MaxRate}, "rate 2Tbit: more than 1Tbit"},
		{"burst", Settings{Burst: MaxBurst + 1}, "burst 67108865b: more than 64Mb"},
		{"limit", Settings{Limit: -1}, "limit -1: not within 1-100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate(%+v) = %q, want %q", tc.s, got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error %q is not one line", got)
			}
		})
	}
}

func TestSettingsString(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, "none"},
		{Settings{Seed: 5, Limit: DefaultLimit}, "none"},
		{Settings{Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Rate: 10e6, Seed: 42},
			"delay 50ms 5ms loss 1% rate 10Mbit seed 42"},
		{Settings{Delay: 1500 * time.Microsecond}, "delay 1.5ms"},
		{Settings{Jitter: time.Millisecond, Distribution: Normal, Seed: 1}, "delay 0s 1ms distribution normal seed 1"},
		{Settings{Limit: 50, Delay: time.Second, Duplicate: 0.1, Reorder: 25, Gap: 5, Corrupt: 0.01, Seed: 3},
			"limit 50 delay 1s duplicate 0.1% reorder 25% gap 5 corrupt 0.01% seed 3"},
		{Settings{Rate: 1_500_000, Burst: 32 << 10}, "rate 1500Kbit burst 32Kb"},
		{Settings{Rate: 1_234_567, Burst: 1500}, "rate 1234567bit burst 1500b"},
		{Settings{Loss: 0.000001, Seed: 9}, "loss 0.000001% seed 9"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	base := Settings{Delay: 10 * time.Millisecond, Loss: 5, Rate: 1e6, Seed: 8}
	for _, tc := range []struct {
		name string
		u    Update
		want Settings
		err  string
	}{
		{"empty keeps all", Update{}, base, ""},
		{"delay keeps loss", Update{Delay: ptr(20 * time.Millisecond)},
			Settings{Delay: 20 * time.Millisecond, Loss: 5, Rate: 1e6, Seed: 8}, ""},
		{"rate 0 removes the limit", Update{Rate: ptr(uint64(0))}, Settings{Delay: 10 * time.Millisecond, Loss: 5, Seed: 8}, ""},
		{"reset replaces", Update{Reset: true, Corrupt: ptr(1.0)}, Settings{Corrupt: 1}, ""},
		{"invalid changes nothing", Update{Delay: ptr(time.Duration(0)), Reorder: ptr(1.0)}, Settings{},
			"reorder needs a delay: reordered frames are those sent before the delayed ones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := base.Apply(tc.u)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Apply = %v, want error %q", err, tc.err)
				}
				return
			}
			must(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
		})
	}
	if !(Update{}).IsEmpty() || (Update{Loss: ptr(0.0)}).IsEmpty() {
		t.Error("IsEmpty is wrong")
	}
}

func TestDirection(t *testing.T) {
	for _, d := range []Direction{Out, In, Both} {
		got, err := ParseDirection(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDirection(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDirection("sideways"); err == nil {
		t.Error("ParseDirection(sideways) succeeded")
	}
	for _, d := range []Distribution{Uniform, Normal} {
		got, err := ParseDistribution(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDistribution(%q) = %v, %v", d.String(), got, err)
		}
	}
}
