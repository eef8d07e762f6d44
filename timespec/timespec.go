// Package timespec parses the times researchers type on the command line
// (--from, --to, --at) into ns since the Unix epoch, and half-open ranges of
// them.
package timespec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxMicros is the largest magnitude of a bare integer read as µs: the
// largest µs count whose ns fits in int64 (2262-04-11). A larger one is
// read as ns. As ns, values up to MaxMicros would fall before 1970-04-17,
// earlier than any market data, and as µs larger ones would be past 2262:
// so no Tardis µs value (about 1.7e15 today) is read as ns and no real ns
// value (about 1.7e18) as µs.
const MaxMicros = math.MaxInt64 / 1000

// accepted lists the forms for error messages.
const accepted = "want RFC 3339 (2024-05-01T12:00:00.5+02:00), a date (2024-05-01), " +
	"2024-05-01T12:00[:05[.5]] (UTC), or an integer ns or µs since the epoch, " +
	"optionally with a unit suffix ns, us, µs, ms or s"

// ErrSyntax is wrapped by the errors of Parse for text in none of the
// accepted forms.
var ErrSyntax = errors.New("not a time")

// ErrRange is wrapped by the errors of Parse for a time that does not fit
// in int64 ns (before 1677-09-21 or after 2262-04-11).
var ErrRange = errors.New("outside the int64 ns range (1677-09-21 to 2262-04-11)")

// Parse returns the time s names, in ns since the Unix epoch. Accepted:
//
//   - RFC 3339 with any offset and optional fractional seconds up to ns:
//     2024-05-01T12:00:00Z, 2024-05-01T14:00:00.123456789+02:00;
//   - a bare date, 2024-05-01, meaning 00:00 UTC;
//   - a date and time without an offset, meaning UTC, as researchers type
//     it: 2024-05-01T12:00, 2024-05-01T12:00:05, 2024-05-01T12:00:05.25;
//     a space may stand for the T (2024-05-01 12:00:05, as pandas prints);
//   - an integer with a unit suffix: 1714521600000000000ns,
//     1714521600000000us (or µs), 1714521600000ms, 1714521600s; the number
//     may have a fraction (1714521600.5s) as long as it is a whole ns;
//   - a bare integer: µs when its magnitude is at most MaxMicros (about
//     9.2e15, µs up to 2262), else ns. Tardis µs timestamps (1714521603000000) therefore read as µs
//     and Chronicle's ns timestamps as ns; a bare ms or s value needs its
//     suffix (it would otherwise read as µs in 1970).
//
// Negative values (before 1970) are accepted; a time outside int64 ns is
// ErrRange, anything else unparseable ErrSyntax, both naming s and the
// accepted forms.
func Parse(s string) (int64, error) {
	ns, err := parse(s)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w; %s", s, err, accepted)
	}
	return ns, nil
}

func parse(s string) (int64, error) {
	if s == "" {
		return 0, ErrSyntax
	}
	if c := s[0]; c == '-' || c == '+' || c-'0' <= 9 {
		// A date starts with 4 digits and a '-'; everything else starting
		// like a number is a number.
		if !(len(s) >= 5 && s[4] == '-' && isDigits(s[:4])) {
			return parseNumber(s)
		}
	}
	return parseTime(s)
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return s != ""
}

// Layouts without an offset, read as UTC.
var utcLayouts = []string{
	"2006-01-02",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05.999999999",
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func parseTime(s string) (int64, error) {
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		ok := false
		for _, l := range utcLayouts {
			if t, err = time.Parse(l, s); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return 0, ErrSyntax
		}
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, ErrRange
	}
	return t.UnixNano(), nil
}

// units maps a suffix to its length in ns and the number of fractional
// digits a whole ns allows.
var units = []struct {
	suffix string
	ns     int64
	digits int
}{
	{"ns", 1, 0},
	{"us", 1e3, 3},
	{"µs", 1e3, 3},
	{"ms", 1e6, 6},
	{"s", 1e9, 9},
}

func parseNumber(s string) (int64, error) {
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			return scaled(num, u.ns, u.digits)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, ErrRange
		}
		return 0, ErrSyntax
	}
	if n >= -MaxMicros && n <= MaxMicros {
		return n * 1000, nil
	}
	return n, nil
}

// scaled returns num × unit, num an optionally signed decimal with at most
// digits fractional digits, exactly, or ErrRange on overflow.
func scaled(num string, unit int64, digits int) (int64, error) {
	neg := false
	if num != "" && (num[0] == '-' || num[0] == '+') {
		neg = num[0] == '-'
		num = num[1:]
	}
	ip, fp, hasDot := strings.Cut(num, ".")
	if !isDigits(ip) || (hasDot && !isDigits(fp)) {
		return 0, ErrSyntax
	}
	fp = strings.TrimRight(fp, "0")
	if len(fp) > digits {
		return 0, fmt.Errorf("%w: finer than 1 ns", ErrSyntax)
	}
	i, err := strconv.ParseUint(ip, 10, 64)
	if err != nil {
		return 0, ErrRange
	}
	var f uint64
	if fp != "" {
		f, _ = strconv.ParseUint(fp, 10, 64) // at most 9 digits
		for range digits - len(fp) {
			f *= 10
		}
	}
	// Magnitude in ns, checked against the int64 range of its sign
	// (-2^63 itself is allowed).
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	u := uint64(unit)
	if i > limit/u || i*u > limit-f {
		return 0, ErrRange
	}
	m := i*u + f
	if neg {
		return int64(-m), nil // -(2^63) wraps to MinInt64, as wanted
	}
	return int64(m), nil
}

// Format returns ns as RFC 3339 in UTC with as many fractional digits as it
// needs: the form log messages and warnings use, which Parse reads back.
func Format(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// Range is a half-open time range [From, To) in ns: From is included, To is
// not, so that consecutive ranges (--from 2024-05-01 --to 2024-05-02, then
// --from 2024-05-02 ...) neither overlap nor leave a gap. A missing bound
// (HasFrom or HasTo false) is unbounded on that side.
type Range struct {
	From, To       int64
	HasFrom, HasTo bool
}

// ParseRange parses the --from and --to flags; an empty string is a
// missing bound. To before From is an error; To equal to From is an empty
// range.
func ParseRange(from, to string) (Range, error) {
	var r Range
	var err error
	if from != "" {
		if r.From, err = Parse(from); err != nil {
			return Range{}, fmt.Errorf("--from: %w", err)
		}
		r.HasFrom = true
	}
	if to != "" {
		if r.To, err = Parse(to); err != nil {
			return Range{}, fmt.Errorf("--to: %w", err)
		}
		r.HasTo = true
	}
	if r.HasFrom && r.HasTo && r.To < r.From {
		return Range{}, fmt.Errorf("--to %s is before --from %s", Format(r.To), Format(r.From))
	}
	return r, nil
}

// Contains reports whether ns is in [From, To).
func (r Range) Contains(ns int64) bool {
	return (!r.HasFrom || ns >= r.From) && (!r.HasTo || ns < r.To)
}
