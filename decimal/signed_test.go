package decimal

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

func TestParseSigned(t *testing.T) {
	tests := []struct {
		in    string
		mant  int64
		scale uint8
		err   error
	}{
		{"0", 0, 0, nil},
		{"-0", 0, 0, nil},
		{"-0.00012345", -12345, 8, nil},
		{"0.00012345", 12345, 8, nil},
		{"5e-7", 5, 7, nil},
		{"-5e-7", -5, 7, nil},
		{"-1169.77956", -116977956, 5, nil},
		{"-1.2E-7", -12, 8, nil},
		{"-0.000000000000000001", -1, 18, nil},
		{"9223372036854775807", math.MaxInt64, 0, nil},
		{"-9223372036854775808", math.MinInt64, 0, nil},
		{"-922337203685477580.8", math.MinInt64, 1, nil},
		{"9223372036854775808", 0, 0, ErrRangeI64},
		{"-9223372036854775809", 0, 0, ErrRangeI64},
		{"18446744073709551615", 0, 0, ErrRangeI64},
		{"-1e19", 0, 0, ErrRangeI64},
		{"-1e20", 0, 0, ErrRange},
		{"-0.0000000000000000001", 0, 0, ErrPrecision},
		{"", 0, 0, ErrSyntax},
		{"-", 0, 0, ErrSyntax},
		{"--1", 0, 0, ErrSyntax},
		{"-+1", 0, 0, ErrSyntax},
		{"+1", 0, 0, ErrSyntax},
		{"- 1", 0, 0, ErrSyntax},
		{"1-", 0, 0, ErrSyntax},
		{"-.5", 0, 0, ErrSyntax},
		{"-abc", 0, 0, ErrSyntax},
	}
	for _, tt := range tests {
		m, s, err := ParseSigned([]byte(tt.in))
		if !errors.Is(err, tt.err) || (tt.err == nil && (m != tt.mant || s != tt.scale)) {
			t.Errorf("ParseSigned(%q) = %d, %d, %v; want %d, %d, %v", tt.in, m, s, err, tt.mant, tt.scale, tt.err)
		}
	}
	if !errors.Is(ErrRangeI64, ErrRange) || ErrRangeI64.Error() != "does not fit in i64" {
		t.Errorf("ErrRangeI64 = %q, must match ErrRange", ErrRangeI64)
	}
}

func TestRescaleSigned(t *testing.T) {
	tests := []struct {
		m        int64
		from, to uint8
		want     int64
		err      error
	}{
		{-12345, 8, 10, -1234500, nil},
		{-1234500, 10, 8, -12345, nil},
		{-1234501, 10, 8, 0, ErrPrecision},
		{math.MinInt64, 0, 0, math.MinInt64, nil},
		{math.MinInt64, 0, 1, 0, ErrRangeI64},
		{-1, 0, 20, 0, ErrRangeI64},
		{-922337203685477580, 0, 1, -9223372036854775800, nil},
		{922337203685477581, 0, 1, 0, ErrRangeI64},
		{-922337203685477581, 0, 1, 0, ErrRangeI64},
		{0, 0, 18, 0, nil},
		{5, 0, 18, 5000000000000000000, nil},
	}
	for _, tt := range tests {
		got, err := RescaleSigned(tt.m, tt.from, tt.to)
		if !errors.Is(err, tt.err) || (tt.err == nil && got != tt.want) {
			t.Errorf("RescaleSigned(%d, %d, %d) = %d, %v; want %d, %v", tt.m, tt.from, tt.to, got, err, tt.want, tt.err)
		}
	}
}

func TestAppendSigned(t *testing.T) {
	tests := []struct {
		m     int64
		scale uint8
		want  string
	}{
		{0, 0, "0"},
		{0, 7, "0"},
		{-12345, 8, "-0.00012345"},
		{-5, 7, "-5e-7"},
		{50, 8, "5e-7"},
		{-116977956, 5, "-1169.77956"},
		{math.MinInt64, 0, "-9223372036854775808"},
		{math.MinInt64, 18, "-9.223372036854775808"},
		{math.MaxInt64, 18, "9.223372036854775807"},
		{-1, 18, "-1e-18"},
	}
	for _, tt := range tests {
		if got := string(AppendSigned(nil, tt.m, tt.scale)); got != tt.want {
			t.Errorf("AppendSigned(%d, %d) = %q, want %q", tt.m, tt.scale, got, tt.want)
		}
	}
}

// FuzzParseSigned checks ParseSigned against math/big: a parsed value is
// the input's exact value, and AppendSigned gives text of the same value
// that parses back to the same mantissa and scale.
func FuzzParseSigned(f *testing.F) {
	for _, s := range []string{"-0.00012345", "5e-7", "-1169.77956", "-9223372036854775808", "-0", "1e-18", "--1", "0E9227000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, sc, err := ParseSigned([]byte(s))
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok && m == 0 {
			return // zero with an exponent too large for big.Rat: still exactly 0
		}
		if !ok {
			t.Fatalf("ParseSigned(%q) accepted what big.Rat refuses", s)
		}
		got := new(big.Rat).SetFrac(big.NewInt(m), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(sc)), nil))
		if got.Cmp(want) != 0 {
			t.Fatalf("ParseSigned(%q) = %d e-%d, want %s", s, m, sc, want.RatString())
		}
		out := AppendSigned(nil, m, sc)
		m2, sc2, err := ParseSigned(out)
		if err != nil || m2 != m || sc2 != sc {
			t.Fatalf("%q -> %q -> %d, %d, %v", s, out, m2, sc2, err)
		}
	})
}
