package columnar

import (
	"math/rand/v2"
	"testing"
)

// TestPlaneBits: the entropy estimate is 0 for a constant plane, about 8
// bits a byte for random ones and 1 bit for two values, and log2fp is
// monotonic.
func TestPlaneBits(t *testing.T) {
	var h [256]uint32
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4096
	konst, rnd, two := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i := range n {
		konst[i] = 0x0101
		rnd[i] = rng.Uint64() & 0xFFFF
		two[i] = uint64(i & 1)
	}
	for _, c := range []struct {
		name     string
		vs       []uint64
		min, max uint64 // bits per value
	}{{"constant", konst, 0, 0}, {"random", rnd, 15, 16}, {"two values", two, 1, 1}} {
		got := planeBits(rawInts(nil, c.vs, false, false), &h) / 256 / uint64(n)
		if got < c.min || got > c.max {
			t.Errorf("%s: %d bits a value, want %d..%d", c.name, got, c.min, c.max)
		}
	}
	prev := log2fp(1)
	for x := uint64(2); x < 1<<20; x++ {
		l := log2fp(x)
		if l < prev {
			t.Fatalf("log2fp(%d) = %d < log2fp(%d) = %d", x, l, x-1, prev)
		}
		prev = l
	}
}

// refDivisor is divisor with the divide instruction.
func refDivisor(v uint64, signed bool) int {
	if signed && int64(v) < 0 {
		v = -v
	}
	k := len(pow10) - 1
	for v != 0 && k > 0 && v%pow10[k] != 0 {
		k--
	}
	return k
}

// TestExactDivision: divisor and rawInts's division by 10^k by inverses
// agree with the divide instruction.
func TestExactDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		k := rng.IntN(len(pow10))
		v := rng.Uint64() >> rng.IntN(64)
		if rng.IntN(2) == 0 {
			v = v / pow10[k] * pow10[k]
		}
		if got, want := divisor([]uint64{v}, false), refDivisor(v, false); got != want {
			t.Fatalf("divisor(%d) = %d, want %d", v, got, want)
		}
		for _, x := range []uint64{v, -v} {
			if got, want := divisor([]uint64{x}, true), refDivisor(x, true); got != want {
				t.Fatalf("divisor(int64 %d) = %d, want %d", int64(x), got, want)
			}
			raw := rawInts(nil, []uint64{x}, true, false)
			if got := unplane(new([]uint64), raw[4:], 1, int(raw[3]), pow10[raw[2]], true, false)[0]; got != x {
				t.Fatalf("int64 %d: stored and restored as %d", int64(x), int64(got))
			}
			raw = rawInts(nil, []uint64{x}, false, false)
			if got := unplane(new([]uint64), raw[4:], 1, int(raw[3]), pow10[raw[2]], false, false)[0]; got != x {
				t.Fatalf("%d: stored and restored as %d", x, got)
			}
		}
	}
}
