package merge

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// sliceSource yields ts in order, then err (io.EOF if nil).
type sliceSource struct {
	ts  []uint64
	i   int // index of the current item + 1
	err error
}

func (s *sliceSource) Next() (uint64, error) {
	if s.i == len(s.ts) {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	s.i++
	return s.ts[s.i-1], nil
}

type item struct {
	src, seq int
	ts       uint64
}

// drain merges ts and returns the items in output order, checking that
// the reported ts is the source's current item.
func drain(t *testing.T, ts [][]uint64) []item {
	t.Helper()
	srcs := make([]*sliceSource, len(ts))
	in := make([]Source, len(ts))
	for i := range ts {
		srcs[i] = &sliceSource{ts: ts[i]}
		in[i] = srcs[i]
	}
	m := New(in)
	var out []item
	for {
		src, x, err := m.Next()
		if err == io.EOF {
			if src != -1 {
				t.Fatalf("EOF with source %d", src)
			}
			if _, _, err := m.Next(); err != io.EOF {
				t.Fatalf("Next after EOF: %v", err)
			}
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		s := srcs[src]
		if got := s.ts[s.i-1]; got != x {
			t.Fatalf("source %d: Next says ts %d, the source's item is %d", src, x, got)
		}
		out = append(out, item{src, s.i - 1, x})
	}
}

// TestMergeSorted compares the merge of nondecreasing sources with a
// stable sort of all their items concatenated in source order.
func TestMergeSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64} {
		for round := range 20 {
			ts := make([][]uint64, k)
			var all []item
			for i := range ts {
				n := rng.IntN(50)
				if rng.IntN(5) == 0 {
					n = 0 // empty sources, some of them
				}
				var x uint64
				if round%4 == 0 {
					x = math.MaxUint64 - 100 // near the top: MaxUint64 itself must still come out
				}
				for j := range n {
					// Few distinct values, so many ties between sources.
					x += uint64(rng.IntN(3)) * uint64(1+rng.IntN(round%3+1))
					if x < ts0(ts[i]) {
						x = math.MaxUint64
					}
					ts[i] = append(ts[i], x)
					all = append(all, item{i, j, x})
				}
			}
			sort.SliceStable(all, func(a, b int) bool { return all[a].ts < all[b].ts })
			got := drain(t, ts)
			if fmt.Sprint(got) != fmt.Sprint(all) {
				t.Fatalf("k=%d round %d:\n got %v\nwant %v", k, round, got, all)
			}
		}
	}
}

// ts0 returns the last value of s, 0 if empty: a wrapped addition above
// saturates instead of going backwards.
func ts0(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// TestMergeBackwards: sources that go backwards come out in their own
// order, merged by current head, as a naive merge picking the smallest
// head (lowest index on ties) each time does.
func TestMergeBackwards(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 3, 6, 17} {
		for range 50 {
			ts := make([][]uint64, k)
			for i := range ts {
				for range rng.IntN(30) {
					ts[i] = append(ts[i], uint64(rng.IntN(20)))
				}
			}
			var want []item
			pos := make([]int, k)
			for {
				best := -1
				for i := range k {
					if pos[i] < len(ts[i]) && (best < 0 || ts[i][pos[i]] < ts[best][pos[best]]) {
						best = i
					}
				}
				if best < 0 {
					break
				}
				want = append(want, item{best, pos[best], ts[best][pos[best]]})
				pos[best]++
			}
			if got := drain(t, ts); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("k=%d:\n got %v\nwant %v", k, got, want)
			}
		}
	}
}

// TestMergeError: a source's error comes back with its index, at the point
// where the merge reaches it, and stays.
func TestMergeError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		srcs  []*sliceSource
		items int // items before the error
		src   int
	}{
		{"at the start", []*sliceSource{{ts: []uint64{1}}, {err: boom}}, 0, 1},
		{"after items", []*sliceSource{{ts: []uint64{1, 5, 9}}, {ts: []uint64{2, 3}, err: boom}}, 3, 1},
		{"first of several", []*sliceSource{{ts: []uint64{4}, err: boom}, {ts: []uint64{1, 2, 3, 4, 5}}, {ts: []uint64{7}}}, 4, 0},
	} {
		in := make([]Source, len(tc.srcs))
		for i, s := range tc.srcs {
			in[i] = s
		}
		m := New(in)
		n := 0
		for {
			src, _, err := m.Next()
			if err == nil {
				n++
				continue
			}
			if !errors.Is(err, boom) || src != tc.src || n != tc.items {
				t.Errorf("%s: after %d items: source %d, %v; want %d items, source %d, boom", tc.name, n, src, err, tc.items, tc.src)
			}
			if src2, _, err2 := m.Next(); src2 != src || err2 != err {
				t.Errorf("%s: Next after the error: %d, %v", tc.name, src2, err2)
			}
			break
		}
	}
}

func TestMergeNoAlloc(t *testing.T) {
	srcs := []Source{&genSource{left: 1 << 20, x: 1}, &genSource{left: 1 << 20, x: 2}, &genSource{left: 1 << 20, x: 3}}
	m := New(srcs)
	m.Next()
	if a := testing.AllocsPerRun(1000, func() { m.Next() }); a != 0 {
		t.Errorf("%v allocations per item", a)
	}
}

// genSource yields left timestamps increasing by pseudo-random steps of
// 0..1023 ns (xorshift), so that sources interleave finely.
type genSource struct {
	ts, x uint64
	left  int
}

func (g *genSource) Next() (uint64, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	g.left--
	g.x ^= g.x << 13
	g.x ^= g.x >> 7
	g.x ^= g.x << 17
	g.ts += g.x & 1023
	return g.ts, nil
}

// BenchmarkMerge merges k generated sources of b.N/k items each and
// reports merged items per second (one core).
func BenchmarkMerge(b *testing.B) {
	for _, k := range []int{2, 4, 64} {
		b.Run(fmt.Sprintf("sources=%d", k), func(b *testing.B) {
			srcs := make([]Source, k)
			for i := range srcs {
				srcs[i] = &genSource{left: b.N/k + 1, x: uint64(i + 1)}
			}
			m := New(srcs)
			b.ResetTimer()
			for range b.N {
				if _, _, err := m.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mitems/s")
		})
	}
}

// TestTree drives a Tree by hand, as package stream does, and compares
// its order with Merger's on the same sources, for several k including 0
// and sources that end at once.
func TestTree(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   [][]uint64
	}{
		{"none", nil},
		{"one empty", [][]uint64{{}}},
		{"all empty", [][]uint64{{}, {}, {}}},
		{"ties", [][]uint64{{1, 1, 2}, {1, 2, 2}, {0, 1, 2}}},
		{"max", [][]uint64{{math.MaxUint64}, {5, math.MaxUint64}, {}}},
		{"backwards", [][]uint64{{5, 1, 7}, {2, 9}, {3, 3, 0}, {8}, {4}}},
	} {
		want := drain(t, tc.ts)
		srcs := make([]*sliceSource, len(tc.ts))
		tr := NewTree(len(tc.ts))
		for i := range tc.ts {
			srcs[i] = &sliceSource{ts: tc.ts[i]}
			if ts, err := srcs[i].Next(); err == nil {
				tr.Set(i, ts)
			}
		}
		tr.Build()
		var got []item
		for {
			w, ts, ok := tr.Winner()
			if !ok {
				break
			}
			got = append(got, item{w, srcs[w].i - 1, ts})
			if next, err := srcs[w].Next(); err == nil {
				tr.Update(next)
			} else {
				tr.Finish()
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, want)
		}
	}
}

// BenchmarkTree is BenchmarkMerge with the sources advanced by the caller
// (a concrete type, as package stream does) instead of through Source.
func BenchmarkTree(b *testing.B) {
	for _, k := range []int{2, 4, 64} {
		b.Run(fmt.Sprintf("sources=%d", k), func(b *testing.B) {
			srcs := make([]genSource, k)
			tr := NewTree(k)
			for i := range srcs {
				srcs[i] = genSource{left: b.N/k + 1, x: uint64(i + 1)}
				ts, _ := srcs[i].Next()
				tr.Set(i, ts)
			}
			tr.Build()
			b.ResetTimer()
			for range b.N {
				w, _, ok := tr.Winner()
				if !ok {
					b.Fatal("ended early")
				}
				if ts, err := srcs[w].Next(); err == nil {
					tr.Update(ts)
				} else {
					tr.Finish()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mitems/s")
		})
	}
}
