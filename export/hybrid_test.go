package export

import (
	"encoding/binary"
	"testing"
)

// decodeHybrid reads n values of width w in the RLE/bit-packing hybrid and
// fails unless the bytes end exactly there (padding included).
func decodeHybrid(t *testing.T, b []byte, w, n int) []uint32 {
	t.Helper()
	var out []uint32
	for len(b) > 0 {
		h, k := binary.Uvarint(b)
		if k <= 0 {
			t.Fatalf("bad run header at %x", b)
		}
		b = b[k:]
		if h&1 == 0 { // RLE: count, then the value in whole bytes
			nb := (w + 7) / 8
			var v uint32
			for i := range nb {
				v |= uint32(b[i]) << (8 * i)
			}
			b = b[nb:]
			for range h >> 1 {
				out = append(out, v)
			}
			continue
		}
		vals := int(h>>1) * 8
		if len(b) < vals*w/8 {
			t.Fatalf("bit-packed run of %d values of %d bits in %d bytes", vals, w, len(b))
		}
		for i := range vals {
			var v uint32
			for bit := range w {
				pos := i*w + bit
				v |= uint32(b[pos/8]>>(pos%8)&1) << bit
			}
			out = append(out, v)
		}
		b = b[vals*w/8:]
	}
	if len(out) < n || len(out) > n+7 {
		t.Fatalf("decoded %d values, want %d (+ at most 7 of padding)", len(out), n)
	}
	return out[:n]
}

// The dictionary indices of a page: one bit-packed run (whole bytes, or 1-4
// bits for small dictionaries), or one RLE run when a page has one value.
// Indices are 16 bits: a dictionary has at most 1<<16 values.
func TestBitPackedAndRLE(t *testing.T) {
	seq := func(n int, f func(i int) uint16) []uint16 {
		v := make([]uint16, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	cases := []struct {
		name string
		idx  []uint16
	}{
		{"one", []uint16{7}},
		{"seven distinct", seq(7, func(i int) uint16 { return uint16(i) })},
		{"a run of 8", seq(8, func(int) uint16 { return 3 })},
		{"literals then a run", seq(21, func(i int) uint16 { return uint16(min(i, 5)) })},
		{"run, literals, run", seq(40, func(i int) uint16 { return uint16(i / 10 * (i % 2)) })},
		{"runs of 7 and 9", seq(64, func(i int) uint16 { return uint16(i / 7 % 2 * (i / 9)) })},
		{"alternating", seq(100, func(i int) uint16 { return uint16(i % 2) })},
		{"wide values", seq(50, func(i int) uint16 { return uint16(i/12) * 16000 })},
		{"the largest index", []uint16{0, 1<<16 - 1, 1 << 15, 1<<16 - 1}},
		{"a long run after 3", append([]uint16{1, 2, 3}, seq(1000, func(int) uint16 { return 255 })...)},
	}
	for _, c := range cases {
		for _, w := range []int{1, 2, 3, 4, 8, 16} {
			if m := maxOf(c.idx); m >= 1<<w {
				continue
			}
			got := decodeHybrid(t, appendBitPacked(nil, c.idx, w), w, len(c.idx))
			for i := range got {
				if got[i] != uint32(c.idx[i]) {
					t.Fatalf("%s, width %d: value %d is %d, want %d", c.name, w, i, got[i], c.idx[i])
				}
			}
			n := len(c.idx)
			for i, v := range decodeHybrid(t, appendRLE(nil, n, uint32(c.idx[0]), w), w, n) {
				if v != uint32(c.idx[0]) {
					t.Fatalf("%s, width %d: RLE value %d is %d, want %d", c.name, w, i, v, c.idx[0])
				}
			}
		}
	}
}

func maxOf(v []uint16) int {
	var m int
	for _, x := range v {
		m = max(m, int(x))
	}
	return m
}
