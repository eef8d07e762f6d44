package book

import (
	"errors"
	"slices"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

func TestBookOrdering(t *testing.T) {
	b := New()
	// Insert in scrambled order, with an overwrite and a delete.
	for _, p := range []uint64{50, 10, 40, 20, 30} {
		b.Set(Bid, p, p)
		b.Set(Ask, p+100, p)
	}
	b.Set(Bid, 40, 7)
	b.Set(Ask, 110, 0)
	wantBids := []lv{L(50, 50), L(40, 7), L(30, 30), L(20, 20), L(10, 10)}
	wantAsks := []lv{L(120, 20), L(130, 30), L(140, 40), L(150, 50)}
	for _, tc := range []struct {
		side Side
		want []lv
	}{{Bid, wantBids}, {Ask, wantAsks}} {
		t.Run(tc.side.String(), func(t *testing.T) {
			if got := slices.Collect(b.All(tc.side)); !slices.Equal(got, tc.want) {
				t.Errorf("All = %v, want %v", got, tc.want)
			}
			for n := range len(tc.want) + 2 {
				prefix := []lv{L(1, 1)}
				got := b.Top(tc.side, n, prefix)
				if want := append(slices.Clone(prefix), tc.want[:min(n, len(tc.want))]...); !slices.Equal(got, want) {
					t.Errorf("Top(%d) = %v, want %v", n, got, want)
				}
			}
			if best, ok := b.Best(tc.side); !ok || best != tc.want[0] {
				t.Errorf("Best = %v, %v", best, ok)
			}
			if b.Len(tc.side) != len(tc.want) {
				t.Errorf("Len = %d", b.Len(tc.side))
			}
			for _, l := range tc.want {
				if s, ok := b.Size(tc.side, l.Price); !ok || s != l.Size {
					t.Errorf("Size(%d) = %d, %v", l.Price, s, ok)
				}
			}
			if _, ok := b.Size(tc.side, 35); ok {
				t.Error("Size of an absent price")
			}
			n := 0
			for range b.All(tc.side) {
				n++
				break // early stop must not panic
			}
		})
	}
	if b.Crossed() {
		t.Error("uncrossed book reported crossed")
	}
	b.Set(Ask, 50, 1)
	if !b.Crossed() {
		t.Error("bid 50 >= ask 50 not crossed")
	}
	b.Clear()
	if _, ok := b.Best(Bid); ok || b.Len(Ask) != 0 || b.Crossed() {
		t.Error("Clear left levels")
	}
}

func TestBookSetAbsent(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		side        Side
		price, size uint64
		absent      bool
	}{
		{Bid, 10, 0, true},
		{Bid, 10, 5, false},
		{Bid, 10, 0, false},
		{Bid, 10, 0, true},
		{Ask, 10, 0, true}, // the other side is separate
		{Ask, 0, 3, false}, // price 0 is a price like any other
		{Ask, 0, 0, false},
	} {
		if got := b.Set(tc.side, tc.price, tc.size); got != tc.absent {
			t.Errorf("Set(%v, %d, %d) = %v, want %v", tc.side, tc.price, tc.size, got, tc.absent)
		}
	}
}

func TestBookRescale(t *testing.T) {
	b := New()
	b.Set(Bid, 15, 2)
	b.Set(Ask, 16, 3)
	if err := b.Rescale(2, 1); err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(b.All(Ask)); !slices.Equal(got, []lv{L(1600, 30)}) {
		t.Errorf("asks %v", got)
	}
	if err := b.Rescale(0, 0); err != nil { // never lowers
		t.Fatal(err)
	}
	if ps, ss := b.Scales(); ps != 2 || ss != 1 {
		t.Errorf("scales %d/%d", ps, ss)
	}
	b.Set(Ask, 200000, 1) // 2000.00: ×10^16 overflows, while 15.00 and 16.00 fit
	if err := b.Rescale(18, 1); !errors.Is(err, ErrScaleOverflow) {
		t.Fatalf("Rescale(18) = %v", err)
	}
	if got := slices.Collect(b.All(Bid)); !slices.Equal(got, []lv{L(1500, 20)}) {
		t.Errorf("failed Rescale changed bids: %v", got)
	}
	if ps, ss := b.Scales(); ps != 2 || ss != 1 {
		t.Errorf("failed Rescale changed scales to %d/%d", ps, ss)
	}
	b.Set(Ask, 200000, 0)
	absent, err := b.ApplyLevels([]lv{L(15, 0), L(14, 0)}, []lv{L(1605, 1)}, 0, 0)
	if err != nil || absent != 1 {
		t.Fatalf("ApplyLevels = %d, %v", absent, err)
	}
	if ps, _ := b.Scales(); ps != 2 || b.Len(Bid) != 0 {
		t.Errorf("after ApplyLevels: scale %d, %d bids", ps, b.Len(Bid))
	}
	if got := slices.Collect(b.All(Ask)); !slices.Equal(got, []lv{L(1600, 30), L(160500, 10)}) {
		t.Errorf("asks %v", got)
	}
	if _, err := b.ApplyLevels(nil, []lv{L(1, 1)}, 19, 0); err == nil {
		t.Error("scale 19 accepted")
	}
}

// TestSearch checks the galloping search against a linear one.
func TestSearch(t *testing.T) {
	for n := range 70 {
		var s []protocol.Level
		for i := range n {
			s = append(s, protocol.Level{Price: uint64(2 * i)})
		}
		for k := range uint64(2*n + 2) {
			want := 0
			for want < n && s[want].Price < k {
				want++
			}
			if got := search(s, k); got != want {
				t.Fatalf("n=%d k=%d: search = %d, want %d", n, k, got, want)
			}
		}
	}
}
