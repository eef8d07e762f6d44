package decimal

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		mant  uint64
		scale uint8
		err   error
	}{
		{"0", 0, 0, nil},
		{"0.0", 0, 0, nil},
		{"000", 0, 0, nil},
		{"0e5", 0, 0, nil},
		{"0.000e-99999999999999", 0, 0, nil},
		{"123", 123, 0, nil},
		{"100", 100, 0, nil},
		{"100.50", 1005, 1, nil},
		{"100.5", 1005, 1, nil},
		{"7541.38", 754138, 2, nil},
		{"0.085806", 85806, 6, nil},
		{"0.000001", 1, 6, nil},
		{"1.2e-7", 12, 8, nil},
		{"5E-3", 5, 3, nil},
		{"5e-7", 5, 7, nil},
		{"1.23456e-10", 123456, 15, nil},
		{"1e3", 1000, 0, nil},
		{"1E+3", 1000, 0, nil},
		{"1.5e1", 15, 0, nil},
		{"1.25e1", 125, 1, nil},
		{"12e-1", 12, 1, nil},
		{"120e-1", 12, 0, nil},
		{"1e19", 10000000000000000000, 0, nil},
		{"1e-18", 1, 18, nil},
		{"0.000000000000000001", 1, 18, nil},
		{"18446744073709551615", math.MaxUint64, 0, nil},
		{"18446744073709551615.000", math.MaxUint64, 0, nil},
		{"1844674407370955161.5", math.MaxUint64, 1, nil},
		{"0.18446744073709551615", 0, 0, ErrPrecision},
		{"0.1844674407370955161", 1844674407370955161, 19, ErrPrecision},
		{"0.184467440737095516", 184467440737095516, 18, nil},
		{"1" + strings.Repeat("0", 1000) + "e-1000", 1, 0, nil},
		{strings.Repeat("0", 1000) + "1", 1, 0, nil},
		{"0." + strings.Repeat("0", 1000) + "1e1001", 1, 0, nil},
		{"1.0000000000000000000000000000", 1, 0, nil},
		{"007", 7, 0, nil},

		{"", 0, 0, ErrSyntax},
		{"abc", 0, 0, ErrSyntax},
		{"1.2.3", 0, 0, ErrSyntax},
		{"1e", 0, 0, ErrSyntax},
		{"1e-", 0, 0, ErrSyntax},
		{"1e+", 0, 0, ErrSyntax},
		{"e5", 0, 0, ErrSyntax},
		{"+1", 0, 0, ErrSyntax},
		{"NaN", 0, 0, ErrSyntax},
		{"Infinity", 0, 0, ErrSyntax},
		{" 1", 0, 0, ErrSyntax},
		{"1 ", 0, 0, ErrSyntax},
		{".5", 0, 0, ErrSyntax},
		{"5.", 0, 0, ErrSyntax},
		{".", 0, 0, ErrSyntax},
		{"1,5", 0, 0, ErrSyntax},
		{"0x10", 0, 0, ErrSyntax},
		{"1e5x", 0, 0, ErrSyntax},
		{"1e99999999999x", 0, 0, ErrSyntax},
		{"1_000", 0, 0, ErrSyntax},
		{"１", 0, 0, ErrSyntax},

		{"-1", 0, 0, ErrNegative},
		{"-0", 0, 0, ErrNegative},
		{"-", 0, 0, ErrNegative},
		{"-abc", 0, 0, ErrNegative},

		{"1e-19", 0, 0, ErrPrecision},
		{"1.2e-19", 0, 0, ErrPrecision},
		{"0.0000000000000000001", 0, 0, ErrPrecision},
		{"1.0000000000000000001", 0, 0, ErrPrecision},
		{"1e-99999999999", 0, 0, ErrPrecision},
		{"1.00000000000000000000000000001", 0, 0, ErrPrecision},

		{"18446744073709551616", 0, 0, ErrRange},
		{"99999999999999999999", 0, 0, ErrRange},
		{"1e20", 0, 0, ErrRange},
		{"1e+21", 0, 0, ErrRange},
		{"2e19", 0, 0, ErrRange},
		{"1e99999999999", 0, 0, ErrRange},
		{"1e99999999999999999999999999999999", 0, 0, ErrRange},
		{"1" + strings.Repeat("0", 1000), 0, 0, ErrRange},
		{"1" + strings.Repeat("0", 30) + "1", 0, 0, ErrRange},
		{"18446744073709551615.5", 0, 0, ErrRange},
	}
	for _, tt := range tests {
		m, s, err := ParseString(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseString(%.40q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			if m != 0 || s != 0 {
				t.Errorf("ParseString(%.40q) = (%d, %d) with error, want zeros", tt.in, m, s)
			}
			continue
		}
		if m != tt.mant || s != tt.scale {
			t.Errorf("ParseString(%.40q) = (%d, %d), want (%d, %d)", tt.in, m, s, tt.mant, tt.scale)
		}
		// The []byte and string forms must agree.
		bm, bs, berr := Parse([]byte(tt.in))
		if bm != m || bs != s || berr != err {
			t.Errorf("Parse(%.40q) = (%d, %d, %v), ParseString gave (%d, %d, %v)", tt.in, bm, bs, berr, m, s, err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for err, want := range map[error]string{
		ErrSyntax:    "not a decimal",
		ErrNegative:  "negative",
		ErrPrecision: "more than 18 decimals",
		ErrRange:     "does not fit in u64",
	} {
		if err.Error() != want {
			t.Errorf("error %q, want %q", err.Error(), want)
		}
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		mant  uint64
		scale uint8
		want  string
	}{
		{0, 0, "0"},
		{0, 18, "0"},
		{1, 0, "1"},
		{100, 0, "100"},
		{1005, 1, "100.5"},
		{10050, 2, "100.5"},
		{754138, 2, "7541.38"},
		{4, 0, "4"},
		{40000, 4, "4"},
		{85806, 6, "0.085806"},
		{1, 6, "0.000001"},
		{10, 7, "0.000001"},
		{9, 7, "9e-7"},
		{1, 7, "1e-7"},
		{12, 8, "1.2e-7"},
		{5, 7, "5e-7"},
		{123456, 15, "1.23456e-10"},
		{1, 18, "1e-18"},
		{999999, 12, "9.99999e-7"},
		{1000001, 12, "0.000001000001"},
		{math.MaxUint64, 0, "18446744073709551615"},
		{math.MaxUint64, 18, "18.446744073709551615"},
		{math.MaxUint64, 19, "1.8446744073709551615"},
		{math.MaxUint64, 20, "0.18446744073709551615"},
		{math.MaxUint64, 30, "1.8446744073709551615e-11"},
		{10000000000000000000, 0, "10000000000000000000"},
		{1, 200, "1e-200"},
	}
	for _, tt := range tests {
		if got := String(tt.mant, tt.scale); got != tt.want {
			t.Errorf("String(%d, %d) = %q, want %q", tt.mant, tt.scale, got, tt.want)
		}
		prefix := []byte("x=")
		if got := string(Append(prefix, tt.mant, tt.scale)); got != "x="+tt.want {
			t.Errorf("Append(\"x=\", %d, %d) = %q", tt.mant, tt.scale, got)
		}
	}
}

// minimal strips trailing zeros, the form Parse returns.
func minimal(m uint64, s uint8) (uint64, uint8) {
	if m == 0 {
		return 0, 0
	}
	for s > 0 && m%10 == 0 {
		m /= 10
		s--
	}
	return m, s
}

func checkRoundTrip(t *testing.T, m uint64, s uint8) {
	t.Helper()
	text := Append(nil, m, s)
	gm, gs, err := Parse(text)
	wm, ws := minimal(m, s)
	if err != nil || gm != wm || gs != ws {
		t.Fatalf("Parse(Append(%d, %d) = %q) = (%d, %d, %v), want (%d, %d)", m, s, text, gm, gs, err, wm, ws)
	}
}

func TestRoundTrip(t *testing.T) {
	edges := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999999, 1000000, 1000001,
		math.MaxUint64, math.MaxUint64 - 1, 1 << 63, 10000000000000000000, 9999999999999999999}
	for s := uint8(0); s <= MaxScale; s++ {
		for _, m := range edges {
			checkRoundTrip(t, m, s)
		}
		for p := uint8(0); p <= 19; p++ {
			checkRoundTrip(t, Pow10(p), s)
			checkRoundTrip(t, Pow10(p)-1, s)
			checkRoundTrip(t, Pow10(p)+1, s)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		// Mix magnitudes so that every notation is exercised.
		m := r.Uint64() >> r.UintN(64)
		checkRoundTrip(t, m, uint8(r.UintN(MaxScale+1)))
	}
}

func TestRescale(t *testing.T) {
	tests := []struct {
		m        uint64
		from, to uint8
		want     uint64
		err      error
	}{
		{5, 0, 0, 5, nil},
		{5, 1, 3, 500, nil},
		{0, 0, 200, 0, nil},
		{1, 0, 19, 10000000000000000000, nil},
		{1, 0, 20, 0, ErrRange},
		{2, 0, 19, 0, ErrRange},
		{math.MaxUint64, 0, 1, 0, ErrRange},
		{1844674407370955161, 0, 1, 18446744073709551610, nil},
		{1844674407370955162, 0, 1, 0, ErrRange},
		{500, 3, 1, 5, nil},
		{501, 3, 1, 0, ErrPrecision},
		{0, 100, 0, 0, nil},
		{1, 100, 0, 0, ErrPrecision},
	}
	for _, tt := range tests {
		got, err := Rescale(tt.m, tt.from, tt.to)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Rescale(%d, %d, %d) = (%d, %v), want (%d, %v)", tt.m, tt.from, tt.to, got, err, tt.want, tt.err)
		}
	}
}

func TestPow10(t *testing.T) {
	v := uint64(1)
	for n := uint8(0); n <= 19; n++ {
		if Pow10(n) != v {
			t.Errorf("Pow10(%d) = %d, want %d", n, Pow10(n), v)
		}
		v *= 10
	}
}

func TestNoAllocs(t *testing.T) {
	inputs := [][]byte{[]byte("7541.38"), []byte("1.23456e-10"), []byte("0." + strings.Repeat("0", 50) + "1"), []byte("junk")}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		for _, in := range inputs {
			m, s, _ := Parse(in)
			buf = Append(buf[:0], m, s)
		}
		_, _, _ = ParseString("123.456")
		buf = Append(buf[:0], 12, 8)
	})
	if allocs != 0 {
		t.Errorf("Parse/Append allocate %v times per run, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "100.50", "0.000001", "1.2e-7", "5E-3", "1e+21", "1e-19",
		"18446744073709551616", "-1", "1.2.3", "1e", "1e99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, sc, err := ParseString(s)
		bm, bsc, berr := Parse([]byte(s))
		if bm != m || bsc != sc || berr != err {
			t.Fatalf("Parse and ParseString disagree on %q: (%d,%d,%v) vs (%d,%d,%v)", s, bm, bsc, berr, m, sc, err)
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNegative) &&
				!errors.Is(err, ErrPrecision) && !errors.Is(err, ErrRange) {
				t.Fatalf("Parse(%q): unexpected error %v", s, err)
			}
			return
		}
		if sc > MaxScale {
			t.Fatalf("Parse(%q) scale %d > %d", s, sc, MaxScale)
		}
		if wm, ws := minimal(m, sc); wm != m || ws != sc {
			t.Fatalf("Parse(%q) = (%d, %d), not minimal", s, m, sc)
		}
		text := Append(nil, m, sc)
		m2, sc2, err := Parse(text)
		if err != nil || m2 != m || sc2 != sc {
			t.Fatalf("Parse(%q) = (%d, %d); Append gives %q which parses to (%d, %d, %v)", s, m, sc, text, m2, sc2, err)
		}
	})
}

func FuzzAppend(f *testing.F) {
	f.Add(uint64(0), uint8(0))
	f.Add(uint64(1005), uint8(1))
	f.Add(uint64(12), uint8(8))
	f.Add(uint64(math.MaxUint64), uint8(18))
	f.Add(uint64(1), uint8(255))
	f.Fuzz(func(t *testing.T, m uint64, s uint8) {
		text := Append(nil, m, s)
		if len(text) == 0 {
			t.Fatalf("Append(%d, %d) is empty", m, s)
		}
		gm, gs, err := Parse(text)
		wm, ws := minimal(m, s)
		if ws > MaxScale {
			if !errors.Is(err, ErrPrecision) {
				t.Fatalf("Parse(Append(%d, %d) = %q) error %v, want ErrPrecision", m, s, text, err)
			}
			return
		}
		if err != nil || gm != wm || gs != ws {
			t.Fatalf("Parse(Append(%d, %d) = %q) = (%d, %d, %v), want (%d, %d)", m, s, text, gm, gs, err, wm, ws)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	inputs := [][]byte{[]byte("60123.4"), []byte("0.085806"), []byte("12"), []byte("1.2e-7")}
	var n int64
	for _, in := range inputs {
		n += int64(len(in))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range inputs {
			if _, _, err := Parse(in); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], 601234, 1)
		buf = Append(buf[:0], 85806, 6)
	}
}
