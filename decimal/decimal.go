// Package decimal handles the exact unsigned fixed-point decimals Chronicle
// stores: a value is a mantissa m and a scale s meaning m × 10^-s, with
// s <= 18 so that 10^s fits in a uint64.
//
// Parse reads numbers as Tardis.dev writes them (JavaScript Number#toString:
// "100.5", "0.000001", "1.2e-7") and Append writes them back the same way,
// so an imported value can be printed exactly as it was read. Neither goes
// through float64: a float cannot hold every 18-digit decimal, and an
// archive must not change the numbers it stores.
package decimal

import (
	"errors"
	"math/bits"
	"strconv"
)

// MaxScale is the largest scale Parse returns: 10^18 is the largest power of
// ten below 2^64 that leaves room for a nonzero integer part.
const MaxScale = 18

// Errors returned by Parse and Rescale. Their messages are written to read
// well after a field name: `price "abc": not a decimal`.
var (
	ErrSyntax    = errors.New("not a decimal")
	ErrNegative  = errors.New("negative")
	ErrPrecision = errors.New("more than 18 decimals")
	ErrRange     = errors.New("does not fit in u64")
)

var pow10 = [20]uint64{
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	1000000000, 10000000000, 100000000000, 1000000000000,
	10000000000000, 100000000000000, 1000000000000000,
	10000000000000000, 100000000000000000, 1000000000000000000,
	10000000000000000000,
}

// Pow10 returns 10^n. It panics for n > 19, whose power does not fit.
func Pow10(n uint8) uint64 { return pow10[n] }

// Parse parses an unsigned decimal as Tardis writes it: "123", "100.50",
// "0.000001", "1.2e-7", "5E-3", "1e+21". It returns the mantissa and the
// minimal scale, with trailing fractional zeros dropped: "100.50" is
// (1005, 1), "1e3" is (1000, 0) and "0.0" is (0, 0).
//
// The grammar is digits [ "." digits ] [ ("e"|"E") ["+"|"-"] digits ]:
// no sign, no spaces, no ".5" or "5.". Inputs of any length are handled
// without overflow; the value decides the error: ErrPrecision when it needs
// more than 18 decimals, ErrRange when it does not fit in a uint64.
// Parse does not allocate.
func Parse(s []byte) (mant uint64, scale uint8, err error) { return parse(s) }

// ParseString is Parse for a string.
func ParseString(s string) (uint64, uint8, error) { return parse(s) }

func parse[T string | []byte](s T) (uint64, uint8, error) {
	// Fast path: up to 19 characters without an exponent cannot hold more
	// than 19 digits, so the mantissa cannot overflow. This covers nearly
	// every price and amount in real files.
	if n := len(s); n > 0 && n <= 19 {
		var m uint64
		dot := -1
		i := 0
		for ; i < n; i++ {
			c := s[i]
			if c-'0' <= 9 {
				m = m*10 + uint64(c-'0')
			} else if c == '.' && dot < 0 && i > 0 {
				dot = i
			} else {
				break
			}
		}
		if i == n && dot != n-1 {
			if dot < 0 {
				return m, 0, nil
			}
			sc := n - 1 - dot
			for sc > 0 && m%10 == 0 {
				m /= 10
				sc--
			}
			if sc > MaxScale {
				return 0, 0, ErrPrecision
			}
			return m, uint8(sc), nil
		}
	}
	return parseSlow(s)
}

// parseSlow handles exponents and long inputs. It keeps only the digits
// between the first and last nonzero digit in the mantissa and tracks the
// decimal position of the last nonzero digit, so a thousand leading or
// trailing zeros cost nothing and cannot overflow.
func parseSlow[T string | []byte](s T) (uint64, uint8, error) {
	n := len(s)
	if n > 0 && s[0] == '-' {
		return 0, 0, ErrNegative
	}
	var (
		mant     uint64
		overflow bool  // mantissa exceeded u64; keep scanning for the error kind
		seenNZ   bool  // a nonzero digit was seen
		zeros    int   // zeros since the last nonzero digit
		k        int   // index of the current digit among all mantissa digits
		kLast    int   // index of the last nonzero digit
		intLen   int   // digits before the '.'
		exp      int64 // exponent after 'e', saturated
	)
	digit := func(d byte) {
		if d == 0 {
			if seenNZ {
				zeros++
			}
		} else {
			if !seenNZ {
				mant, seenNZ = uint64(d), true
			} else if !overflow {
				if zeros+1 > 19 {
					overflow = true
				} else {
					hi, lo := bits.Mul64(mant, pow10[zeros+1])
					sum, carry := bits.Add64(lo, uint64(d), 0)
					if hi != 0 || carry != 0 {
						overflow = true
					}
					mant = sum
				}
			}
			zeros = 0
			kLast = k
		}
		k++
	}
	i := 0
	for i < n && s[i]-'0' <= 9 {
		digit(s[i] - '0')
		i++
	}
	intLen = i
	if intLen == 0 {
		return 0, 0, ErrSyntax
	}
	if i < n && s[i] == '.' {
		i++
		start := i
		for i < n && s[i]-'0' <= 9 {
			digit(s[i] - '0')
			i++
		}
		if i == start {
			return 0, 0, ErrSyntax
		}
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < n && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		start := i
		for i < n && s[i]-'0' <= 9 {
			// Saturate far beyond any input length: the result is an
			// error either way, and int64 arithmetic below stays safe.
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == start {
			return 0, 0, ErrSyntax
		}
		if neg {
			exp = -exp
		}
	}
	if i != n {
		return 0, 0, ErrSyntax
	}
	if !seenNZ {
		return 0, 0, nil
	}
	// The last nonzero digit has weight 10^e.
	e := int64(intLen-1-kLast) + exp
	if e < 0 {
		if e < -MaxScale {
			return 0, 0, ErrPrecision
		}
		if overflow {
			return 0, 0, ErrRange
		}
		return mant, uint8(-e), nil
	}
	if overflow || e > 19 {
		return 0, 0, ErrRange
	}
	hi, lo := bits.Mul64(mant, pow10[e])
	if hi != 0 {
		return 0, 0, ErrRange
	}
	return lo, 0, nil
}

// Rescale converts m × 10^-from to scale to, exactly: it multiplies by
// 10^(to-from) and reports ErrRange on overflow. When to < from it divides,
// reporting ErrPrecision if that would drop nonzero digits.
func Rescale(m uint64, from, to uint8) (uint64, error) {
	if to >= from {
		d := to - from
		if d == 0 || m == 0 {
			return m, nil
		}
		if d > 19 {
			return 0, ErrRange
		}
		hi, lo := bits.Mul64(m, pow10[d])
		if hi != 0 {
			return 0, ErrRange
		}
		return lo, nil
	}
	d := from - to
	if d > 19 {
		if m == 0 {
			return 0, nil
		}
		return 0, ErrPrecision
	}
	if m%pow10[d] != 0 {
		return 0, ErrPrecision
	}
	return m / pow10[d], nil
}

// Append appends m × 10^-scale the way JavaScript's Number#toString prints
// it, which is how Tardis writes numbers: shortest form, no trailing zeros,
// "0" for zero, plain decimal notation for 1e-6 <= v < 1e21 and exponent
// notation outside it ("1.2e-7", "5e-7"). The value is printed exactly,
// digit for digit: no rounding happens. A uint64 with scale >= 0 is below
// 1e21, so in practice only the negative-exponent form occurs.
// Append does not allocate when dst has room.
func Append(dst []byte, m uint64, scale uint8) []byte {
	if m == 0 {
		return append(dst, '0')
	}
	exp := -int(scale)
	for m%10 == 0 {
		m /= 10
		exp++
	}
	var buf [20]byte
	d := strconv.AppendUint(buf[:0], m, 10)
	// pt is where the decimal point goes relative to the digits: the
	// value is 0.d × 10^pt. These are the cases of ECMAScript's
	// Number::toString.
	pt := len(d) + exp
	switch {
	case exp >= 0 && pt <= 21:
		dst = append(dst, d...)
		for range exp {
			dst = append(dst, '0')
		}
	case pt > 0 && pt <= 21:
		dst = append(dst, d[:pt]...)
		dst = append(dst, '.')
		dst = append(dst, d[pt:]...)
	case pt > -6 && pt <= 0:
		dst = append(dst, '0', '.')
		for range -pt {
			dst = append(dst, '0')
		}
		dst = append(dst, d...)
	default:
		dst = append(dst, d[0])
		if len(d) > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		e := pt - 1
		if e < 0 {
			dst = append(dst, '-')
			e = -e
		} else {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(e), 10)
	}
	return dst
}

// String returns Append's text for m × 10^-scale.
func String(m uint64, scale uint8) string {
	var buf [32]byte
	return string(Append(buf[:0], m, scale))
}
