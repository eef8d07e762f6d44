package timespec

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

const may1 = 1714521600_000000000 // 2024-05-01T00:00:00Z in ns

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"2024-05-01T00:00:00Z", may1, nil},
		{"2024-05-01T02:00:00+02:00", may1, nil},
		{"2024-04-30T19:00:00-05:00", may1, nil},
		{"2024-05-01T00:00:03.5Z", may1 + 3_500_000_000, nil},
		{"2024-05-01T00:00:00.000000001Z", may1 + 1, nil},
		{"2024-05-01", may1, nil},
		{"2024-05-01T12:00", may1 + 12*3600e9, nil},
		{"2024-05-01T12:00:05", may1 + 12*3600e9 + 5e9, nil},
		{"2024-05-01T12:00:05.25", may1 + 12*3600e9 + 5.25e9, nil},
		{"2024-05-01 12:00:05", may1 + 12*3600e9 + 5e9, nil},
		{"1970-01-01", 0, nil},
		{"1969-12-31T23:59:59.999999999Z", -1, nil},
		// Bare integers: µs below 1e17, ns from it.
		{"1714521603000000", may1 + 3e9, nil},          // Tardis µs
		{"1714521603000000000", may1 + 3e9, nil},       // ns
		{"9223372036854775", 9223372036854775000, nil}, // MaxMicros: µs
		{"9223372036854776", 9223372036854776, nil},    // above: ns
		{"-9223372036854775", -9223372036854775000, nil},
		{"-9223372036854776", -9223372036854776, nil},
		{"0", 0, nil},
		{"-1000000", -1e9, nil},
		{"9223372036854775807", math.MaxInt64, nil},
		{"9223372036854775808", 0, ErrRange},
		// Suffixes.
		{"1714521603000000us", may1 + 3e9, nil},
		{"1714521603000000µs", may1 + 3e9, nil},
		{"1714521603000ms", may1 + 3e9, nil},
		{"1714521603s", may1 + 3e9, nil},
		{"1714521603.5s", may1 + 3.5e9, nil},
		{"1714521603.000000001s", may1 + 3e9 + 1, nil},
		{"1714521603.1000s", may1 + 3.1e9, nil},
		{"1714521603000000000ns", may1 + 3e9, nil},
		{"5ns", 5, nil},
		{"5us", 5000, nil},
		{"-1s", -1e9, nil},
		{"9223372036854775807ns", math.MaxInt64, nil},
		{"-9223372036854775808ns", math.MinInt64, nil},
		{"9223372036854775808ns", 0, ErrRange},
		{"9223372037s", 0, ErrRange},
		{"9223372036.854775807s", math.MaxInt64, nil},
		{"9223372036.854775808s", 0, ErrRange},
		{"-9223372036.854775808s", math.MinInt64, nil},
		{"99999999999999999999999s", 0, ErrRange},
		// Errors.
		{"", 0, ErrSyntax},
		{"yesterday", 0, ErrSyntax},
		{"2024-13-01", 0, ErrSyntax},
		{"2024-05-01T25:00", 0, ErrSyntax},
		{"2024-05-01T12", 0, ErrSyntax},
		{"1.5", 0, ErrSyntax},
		{"1.5ns", 0, ErrSyntax},
		{"1.0001us", 0, ErrSyntax},
		{"s", 0, ErrSyntax},
		{".5s", 0, ErrSyntax},
		{"5.s", 0, ErrSyntax},
		{"--5s", 0, ErrSyntax},
		{"5 s", 0, ErrSyntax},
		{"1714521603000000h", 0, ErrSyntax},
		{"2262-04-12T00:00:00Z", 0, ErrRange},
		{"1677-09-21T00:00:00Z", 0, ErrRange},
		{"9999-12-31", 0, ErrRange},
	} {
		got, err := Parse(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Parse(%q) = %d, %v; want error %v", tc.in, got, err, tc.err)
			} else if !strings.Contains(err.Error(), strconv.Quote(tc.in)) || !strings.Contains(err.Error(), "RFC 3339") {
				t.Errorf("Parse(%q): error %q does not name the input and the accepted forms", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     Range
		bad      bool
	}{
		{"", "", Range{}, false},
		{"2024-05-01", "", Range{From: may1, HasFrom: true}, false},
		{"", "2024-05-01", Range{To: may1, HasTo: true}, false},
		{"2024-05-01", "2024-05-01T00:00:01Z", Range{From: may1, To: may1 + 1e9, HasFrom: true, HasTo: true}, false},
		{"2024-05-01", "2024-05-01", Range{From: may1, To: may1, HasFrom: true, HasTo: true}, false},
		{"2024-05-01", "2024-04-30", Range{}, true},
		{"nope", "", Range{}, true},
		{"", "nope", Range{}, true},
	} {
		got, err := ParseRange(tc.from, tc.to)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("ParseRange(%q, %q) = %+v, %v; want %+v, error %v", tc.from, tc.to, got, err, tc.want, tc.bad)
		}
	}
	r := Range{From: 10, To: 20, HasFrom: true, HasTo: true}
	for _, tc := range []struct {
		r    Range
		ns   int64
		want bool
	}{
		{r, 9, false}, {r, 10, true}, {r, 19, true}, {r, 20, false},
		{Range{From: 10, HasFrom: true}, math.MaxInt64, true},
		{Range{To: 10, HasTo: true}, math.MinInt64, true},
		{Range{To: 10, HasTo: true}, 10, false},
		{Range{}, 0, true},
		{Range{From: 5, To: 5, HasFrom: true, HasTo: true}, 5, false},
	} {
		if got := tc.r.Contains(tc.ns); got != tc.want {
			t.Errorf("%+v.Contains(%d) = %v", tc.r, tc.ns, got)
		}
	}
}

// FuzzParse: Parse never panics, and what it returns is printed by Format
// and as integer ns in a form that parses back to the same value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T00:00:00Z", "2024-05-01", "2024-05-01T12:00", "1714521603000000",
		"1714521603000000000", "1714521603.5s", "-5ms", "2024-05-01 12:00:05.25",
		"9223372036854775807ns", "2024-05-01T02:00:00+02:00", "1e9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := Parse(s)
		if err != nil {
			return
		}
		for _, again := range []string{Format(ns), strconv.FormatInt(ns, 10) + "ns"} {
			if got, err := Parse(again); err != nil || got != ns {
				t.Fatalf("Parse(%q) = %d; Parse(%q) = %d, %v", s, ns, again, got, err)
			}
		}
	})
}
