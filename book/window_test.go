package book

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// checkSide verifies the representation invariants of one side: the
// window's bitmap, count and top agree with its sizes, the sorted part is
// strictly ascending and entirely below the window, and the window fits in
// 64 bits.
func checkSide(sd *side) error {
	if sd.base > maxBase {
		return fmt.Errorf("base %d above %d", sd.base, uint64(maxBase))
	}
	n, hi := 0, 0
	for i := range winSize {
		occ := sd.occ[i>>6]&(1<<(i&63)) != 0
		if occ != (sd.sz[i] != 0) {
			return fmt.Errorf("slot %d: occupied %v, size %d", i, occ, sd.sz[i])
		}
		if occ {
			n, hi = n+1, i+1
		}
	}
	if n != sd.n || hi != sd.hi {
		return fmt.Errorf("window: n %d hi %d, counted %d and %d", sd.n, sd.hi, n, hi)
	}
	for i, l := range sd.rest {
		if l.Size == 0 {
			return fmt.Errorf("rest[%d] has size 0", i)
		}
		if i > 0 && l.Price <= sd.rest[i-1].Price {
			return fmt.Errorf("rest[%d] key %d not above %d", i, l.Price, sd.rest[i-1].Price)
		}
		if l.Price >= sd.base {
			return fmt.Errorf("rest[%d] key %d not below base %d", i, l.Price, sd.base)
		}
	}
	return nil
}

// mapBook is the obvious model: a map per side.
type mapBook [2]map[uint64]uint64

func (m mapBook) sorted(s Side) []protocol.Level {
	var out []protocol.Level
	for p, sz := range m[s] {
		out = append(out, protocol.Level{Price: p, Size: sz})
	}
	slices.SortFunc(out, func(a, b protocol.Level) int {
		if s == Bid {
			return cmpU(b.Price, a.Price)
		}
		return cmpU(a.Price, b.Price)
	})
	return out
}

func compareMap(b *Book, m mapBook) error {
	for _, s := range []Side{Bid, Ask} {
		if err := checkSide(&b.sides[s]); err != nil {
			return fmt.Errorf("%v: %v", s, err)
		}
		want := m.sorted(s)
		if got := slices.Collect(b.All(s)); !slices.Equal(got, want) {
			return fmt.Errorf("%v: All\n got %v\nwant %v", s, got, want)
		}
		if b.Len(s) != len(want) {
			return fmt.Errorf("%v: Len %d, want %d", s, b.Len(s), len(want))
		}
		best, ok := b.Best(s)
		if ok != (len(want) > 0) || ok && best != want[0] {
			return fmt.Errorf("%v: Best %v %v, want %v", s, best, ok, want)
		}
		for n := range 3 {
			if got := b.Top(s, n, nil); !slices.Equal(got, want[:min(n, len(want))]) {
				return fmt.Errorf("%v: Top(%d) = %v", s, n, got)
			}
		}
		for _, l := range want {
			if sz, ok := b.Size(s, l.Price); !ok || sz != l.Size {
				return fmt.Errorf("%v: Size(%d) = %d %v, want %d", s, l.Price, sz, ok, l.Size)
			}
		}
	}
	bids, asks := m.sorted(Bid), m.sorted(Ask)
	if want := len(bids) > 0 && len(asks) > 0 && bids[0].Price >= asks[0].Price; b.Crossed() != want {
		return fmt.Errorf("Crossed %v, want %v", b.Crossed(), want)
	}
	return nil
}

// priceGen draws prices the way a market moves: near a mid that walks (by
// up to a few windows at a time, so that the window recentres up and down),
// on a grid of tick units (1: dense, 1000: sparse, the window holds one or
// two levels), sometimes deep in the book, sometimes anywhere in 64 bits or
// at its ends.
type priceGen struct {
	rng  *rand.Rand
	mid  uint64
	tick uint64
}

func (g *priceGen) price(s Side) uint64 {
	switch g.rng.IntN(40) {
	case 0:
		return g.rng.Uint64() >> g.rng.IntN(64)
	case 1:
		return []uint64{0, 1, 2, math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 - winSize, winSize, winHead}[g.rng.IntN(8)]
	case 2:
		// Walk the mid.
		step := g.rng.Uint64N(3*winSize) * g.tick / uint64(1+g.rng.IntN(8))
		if g.rng.IntN(2) == 0 && g.mid > step {
			g.mid -= step
		} else if g.mid < math.MaxUint64-step {
			g.mid += step
		}
	}
	d := uint64(g.rng.ExpFloat64() * 12) // ticks from the mid
	if g.rng.IntN(20) == 0 {
		d = g.rng.Uint64N(4000) // deep
	}
	off := d * g.tick
	hi, _ := bits.Mul64(d, g.tick)
	// Bids below the mid, asks above; a few cross it.
	if g.rng.IntN(30) == 0 {
		s = 1 - s
	}
	if s == Bid {
		if hi != 0 || off > g.mid {
			return 0
		}
		return g.mid - off
	}
	if hi != 0 || off > math.MaxUint64-g.mid {
		return math.MaxUint64
	}
	return g.mid + off
}

// TestWindowAgainstMap drives Set, ApplyLevels (bulk), Rescale, Clear and
// checkpoint restores against the map model, on dense and sparse grids,
// around mids in the middle and at both ends of the key space.
func TestWindowAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		mid  uint64
		tick uint64
	}{
		{"dense", 6_000_000, 1},
		{"tick 3", 6_000_000, 3},
		{"sparse", 6_000_000_000, 1000},
		{"near zero", 300, 1},
		{"near max", math.MaxUint64 - 300, 1},
		{"huge tick", 1 << 62, 1 << 40},
	} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/%d", tc.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 11))
				g := &priceGen{rng: rng, mid: tc.mid, tick: tc.tick}
				b := New()
				m := mapBook{{}, {}}
				for i := range 12_000 {
					s := Side(rng.IntN(2))
					var op string
					switch r := rng.IntN(1000); {
					case r < 3:
						op = "bulk"
						var lv []protocol.Level
						for range bulkMin + 1 + rng.IntN(200) {
							l := protocol.Level{Price: g.price(s), Size: rng.Uint64N(3) * rng.Uint64N(1000)}
							lv = append(lv, l)
							if l.Size == 0 {
								delete(m[s], l.Price)
							} else {
								m[s][l.Price] = l.Size
							}
						}
						// At the book's scales: no conversion, so no overflow.
						ps, ss := b.Scales()
						var err error
						if s == Bid {
							_, err = b.ApplyLevels(lv, nil, ps, ss)
						} else {
							_, err = b.ApplyLevels(nil, lv, ps, ss)
						}
						if err != nil {
							t.Fatal(err)
						}
					case r < 4:
						op = "rescale"
						ps, _ := b.Scales()
						if err := b.Rescale(ps+1, 0); err == nil {
							for s := range m {
								next := map[uint64]uint64{}
								for p, sz := range m[s] {
									next[p*10] = sz
								}
								m[s] = next
							}
						}
					case r < 5:
						op = "clear"
						b.Clear()
						m = mapBook{{}, {}}
					case r < 7:
						op = "restore"
						rp := NewReplayer(Options{})
						rp.book = *b
						rp.snapshotSeen = true
						var cp Checkpoint
						rp.Checkpoint(&cp)
						r2 := NewReplayer(Options{})
						if err := r2.Restore(&cp); err != nil {
							t.Fatal(err)
						}
						*b = r2.book
					default:
						op = "set"
						p := g.price(s)
						size := uint64(0)
						if rng.IntN(3) != 0 {
							size = 1 + rng.Uint64N(1000)
						}
						_, present := m[s][p]
						if absent := b.Set(s, p, size); absent != (size == 0 && !present) {
							t.Fatalf("op %d: Set(%v, %d, %d) absent %v", i, s, p, size, absent)
						}
						if size == 0 {
							delete(m[s], p)
						} else {
							m[s][p] = size
						}
						if got, ok := b.Size(s, p); got != size || ok != (size != 0) {
							t.Fatalf("op %d: Size(%v, %d) = %d %v after Set %d", i, s, p, got, ok, size)
						}
					}
					if i%50 == 0 || op != "set" {
						if err := compareMap(b, m); err != nil {
							t.Fatalf("op %d (%s): %v", i, op, err)
						}
					}
				}
				if err := compareMap(b, m); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestWindowSteadyStateAllocs: updates near the top, including ones that
// move the window up and down, allocate nothing once the buffers have grown.
func TestWindowSteadyStateAllocs(t *testing.T) {
	b := New()
	for i := range uint64(1000) {
		b.Set(Bid, 1_000_000-i, 1)
		b.Set(Ask, 1_000_001+i, 1)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	mid := uint64(1_000_000)
	step := func() {
		if rng.IntN(50) == 0 {
			mid = 1_000_000 - 200 + rng.Uint64N(400) // a jump: recentre
		}
		d := uint64(rng.ExpFloat64() * 12)
		b.Set(Bid, mid-d, rng.Uint64N(2)*7)
		b.Set(Ask, mid+1+d, rng.Uint64N(2)*7)
	}
	for range 100_000 {
		step()
	}
	if a := testing.AllocsPerRun(10_000, step); a != 0 {
		t.Errorf("%v allocs per update", a)
	}
}
