package vlan

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/vswitchd/vswitchd/header"
)

// ErrRange is wrapped by the errors for a VLAN ID outside 1–4094.
var ErrRange = fmt.Errorf("out of range 1-%d", MaxID)

// Set is a set of VLAN IDs in 1–4094 (IEEE 802.1Q-2018 §9.6: 0 and 4095 are
// reserved). The zero value is the empty set. A Set is a 512-byte value:
// comparable with ==, copied by assignment, and marshalled as its String
// form ("10,20,30-40").
type Set struct {
	bits [64]uint64 // bit vid%64 of bits[vid/64] is set when vid is in the set
	n    uint16     // number of VIDs in the set, so IsEmpty is O(1)
}

// ParseSet parses a comma-separated list of VLAN IDs and inclusive ranges,
// such as "10,20,30-40". Spaces around items are ignored. The empty string
// is the empty set.
func ParseSet(s string) (Set, error) {
	var set Set
	if strings.TrimSpace(s) == "" {
		return set, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseVID(strings.TrimSpace(lo))
		if err != nil {
			return Set{}, fmt.Errorf("parse vlan list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseVID(strings.TrimSpace(hi)); err != nil {
				return Set{}, fmt.Errorf("parse vlan list %q: %w", s, err)
			}
			if last < first {
				return Set{}, fmt.Errorf("parse vlan list %q: range %q: %w", s, item, errBackwards)
			}
		}
		for v := first; v <= last; v++ {
			set.Add(v)
		}
	}
	return set, nil
}

var errBackwards = errors.New("first vlan above last")

func parseVID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return 0, fmt.Errorf("vlan %q: %w", s, err)
	}
	if v < 1 || v > header.MaxVID {
		return 0, fmt.Errorf("vlan %d %w", v, ErrRange)
	}
	return ID(v), nil
}

// Has reports whether vid is in s.
func (s Set) Has(vid ID) bool { return s.has(vid) }

// has is Has without copying the set: the fast path uses it.
func (s *Set) has(vid ID) bool {
	return vid < 4096 && s.bits[vid/64]&(1<<(vid%64)) != 0
}

// Add adds vid to s. VIDs outside 1–4094 are ignored, so a Set only ever
// holds usable VLANs.
func (s *Set) Add(vid ID) {
	if vid < 1 || vid > header.MaxVID || s.has(vid) {
		return
	}
	s.bits[vid/64] |= 1 << (vid % 64)
	s.n++
}

// IsEmpty reports whether s holds no VID.
func (s Set) IsEmpty() bool { return s.n == 0 }

// Len returns the number of VIDs in s.
func (s Set) Len() int { return int(s.n) }

// VIDs returns the members of s in increasing order.
func (s Set) VIDs() []ID {
	out := make([]ID, 0, s.n)
	for i, w := range s.bits {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, ID(i*64+b))
			w &= w - 1
		}
	}
	return out
}

// String returns s as ParseSet reads it: increasing, with runs of two or
// more consecutive VIDs written as ranges ("10,20,30-40"), and "" for the
// empty set.
func (s Set) String() string {
	var b []byte
	vids := s.VIDs()
	for i := 0; i < len(vids); {
		j := i
		for j+1 < len(vids) && vids[j+1] == vids[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(vids[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(vids[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// MarshalText implements encoding.TextMarshaler.
func (s Set) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Set) UnmarshalText(b []byte) error {
	v, err := ParseSet(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
