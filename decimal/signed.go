package decimal

import "math"

// ErrRangeI64 reports a value whose mantissa does not fit in an int64, the
// mantissa of Chronicle's record decimals (signed or not). It matches
// ErrRange with errors.Is.
var ErrRangeI64 error = i64RangeError{}

type i64RangeError struct{}

func (i64RangeError) Error() string        { return "does not fit in i64" }
func (i64RangeError) Is(target error) bool { return target == ErrRange }

// ParseSigned parses a decimal with an optional leading '-' ("-0.00012345",
// "-5e-7", "-1169.77956") into an int64 mantissa and its minimal scale, by
// Parse's rules otherwise. "-0" is 0. A magnitude beyond int64 is
// ErrRangeI64 (-9223372036854775808 itself fits). It does not allocate.
func ParseSigned(s []byte) (int64, uint8, error) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
		// Parse would call "--1" negative; it is not a number at all.
		if len(s) > 0 && s[0] == '-' {
			return 0, 0, ErrSyntax
		}
	}
	m, sc, err := Parse(s)
	if err != nil {
		return 0, 0, err
	}
	return signed(m, sc, neg)
}

func signed(m uint64, sc uint8, neg bool) (int64, uint8, error) {
	if neg {
		if m > 1<<63 {
			return 0, 0, ErrRangeI64
		}
		return int64(-m), sc, nil // -(1<<63) wraps to MinInt64, as wanted
	}
	if m > math.MaxInt64 {
		return 0, 0, ErrRangeI64
	}
	return int64(m), sc, nil
}

// RescaleSigned is Rescale for an int64 mantissa: exact, ErrRangeI64 when
// the result does not fit, ErrPrecision when it would drop digits.
func RescaleSigned(m int64, from, to uint8) (int64, error) {
	u, err := Rescale(magnitude(m), from, to)
	if err == ErrRange {
		return 0, ErrRangeI64 // beyond u64 is beyond i64 too
	}
	if err != nil {
		return 0, err
	}
	v, _, err := signed(u, to, m < 0)
	return v, err
}

// AppendSigned appends m × 10^-scale as Append does, with a leading '-'
// for a negative value: "-0.00012345", "-5e-7".
func AppendSigned(dst []byte, m int64, scale uint8) []byte {
	if m < 0 {
		dst = append(dst, '-')
	}
	return Append(dst, magnitude(m), scale)
}

// magnitude is |m|, correct for MinInt64 too.
func magnitude(m int64) uint64 {
	if m < 0 {
		return -uint64(m)
	}
	return uint64(m)
}
