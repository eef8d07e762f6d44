// Package book keeps an exact L2 order book and replays Chronicle BookEvents
// (protocol.Event) into it.
//
// Prices and sizes are unsigned fixed point (value × 10^scale), as stored in
// the archive. A Book has one price scale and one size scale for all its
// levels. Events may carry other scales (the importer derives them from the
// decimals of each message), so every level is converted exactly: a larger
// event scale raises the book's scale (every stored value is multiplied by
// 10^k, with an overflow check), a smaller one is scaled up to the book's.
// No digit is ever lost and no floating point is used.
//
// Representation: per side one slice sorted by a key, ascending, so that the
// best level is at the END. The key is the price for bids and the bitwise
// complement of the price for asks (^p reverses the order), so one search and
// one insert routine serve both sides. Updates in real streams cluster at the
// top of the book, so a search first checks the last few levels (without
// branches, since where an update lands is unpredictable) and an insert or
// delete moves only the few levels above it. Large updates (snapshots) are
// sorted and merged instead of inserted one by one.
package book

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"

	"github.com/chronicle-archive/chronicle/protocol"
)

// Side is one side of a book.
type Side uint8

// Sides. Other values make Book methods panic.
const (
	Bid Side = 0
	Ask Side = 1
)

func (s Side) String() string {
	switch s {
	case Bid:
		return "bid"
	case Ask:
		return "ask"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// ErrScaleOverflow reports that converting a value to a larger scale does not
// fit in 64 bits. The operation that returns it changes nothing.
var ErrScaleOverflow = errors.New("book: scale overflow")

// pow10[k] = 10^k; 10^18 is the largest power below 2^64 that a scale
// difference (at most protocol.MaxScale) needs.
var pow10 = [protocol.MaxScale + 1]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// bulkMin is the number of levels for one side of one update above which the
// update is sorted and merged instead of applied level by level: inserting a
// large snapshot one level at a time would move O(n²) levels.
const bulkMin = 64

// side holds one side's levels with Price replaced by the key (price ^ mask),
// ascending, best at the end.
type side []protocol.Level

// mask turns a price into its key and back: 0 for bids, all ones for asks.
func (s Side) mask() uint64 { return 0 - uint64(s) }

// Book is an exact L2 order book. The zero value is an empty book at scales
// 0/0; New is equivalent. A Book is not safe for concurrent use.
type Book struct {
	sides      [2]side
	spare      side // merge output buffer, swapped with a side after a bulk update
	batch      side // bulk update scratch
	priceScale uint8
	sizeScale  uint8
}

// New returns an empty book.
func New() *Book { return &Book{} }

// Scales returns the book's price and size scales.
func (b *Book) Scales() (price, size uint8) { return b.priceScale, b.sizeScale }

// Clear empties the book and resets its scales to 0, keeping its buffers.
func (b *Book) Clear() {
	b.sides[Bid] = b.sides[Bid][:0]
	b.sides[Ask] = b.sides[Ask][:0]
	b.priceScale, b.sizeScale = 0, 0
}

// Len returns the number of levels on side s.
func (b *Book) Len(s Side) int { return len(b.sides[s]) }

// Best returns the best level of side s (highest bid, lowest ask).
func (b *Book) Best(s Side) (protocol.Level, bool) {
	lv := b.sides[s]
	if len(lv) == 0 {
		return protocol.Level{}, false
	}
	l := lv[len(lv)-1]
	l.Price ^= s.mask()
	return l, true
}

// Top appends up to n levels of side s to dst, best first.
func (b *Book) Top(s Side, n int, dst []protocol.Level) []protocol.Level {
	lv := b.sides[s]
	m := s.mask()
	for i := len(lv) - 1; i >= 0 && n > 0; i-- {
		dst = append(dst, protocol.Level{Price: lv[i].Price ^ m, Size: lv[i].Size})
		n--
	}
	return dst
}

// All yields the levels of side s in price order, best first. The book must
// not be changed during the iteration.
func (b *Book) All(s Side) iter.Seq[protocol.Level] {
	return func(yield func(protocol.Level) bool) {
		lv := b.sides[s]
		m := s.mask()
		for i := len(lv) - 1; i >= 0; i-- {
			if !yield(protocol.Level{Price: lv[i].Price ^ m, Size: lv[i].Size}) {
				return
			}
		}
	}
}

// Size returns the size at price (book scale) on side s.
func (b *Book) Size(s Side, price uint64) (uint64, bool) {
	lv := b.sides[s]
	k := price ^ s.mask()
	if i := search(lv, k); i < len(lv) && lv[i].Price == k {
		return lv[i].Size, true
	}
	return 0, false
}

// Crossed reports whether both sides are non-empty and best bid >= best ask.
func (b *Book) Crossed() bool {
	bids, asks := b.sides[Bid], b.sides[Ask]
	return len(bids) > 0 && len(asks) > 0 && bids[len(bids)-1].Price >= ^asks[len(asks)-1].Price
}

// Set sets the level at price to size, both at the book's scales; size 0
// removes the level. It returns true when a removed level was absent.
func (b *Book) Set(s Side, price, size uint64) (absent bool) {
	return setKey(&b.sides[s], price^s.mask(), size)
}

// ApplyLevels applies bid and ask levels given at the scales priceScale and
// sizeScale, in order, with Set semantics (size 0 removes), converting them
// exactly to the book's scales (raising the book's scales when the given
// ones are larger). It returns how many removed levels were absent. On error
// (ErrScaleOverflow, also returned for a scale above protocol.MaxScale) the
// book is unchanged.
func (b *Book) ApplyLevels(bids, asks []protocol.Level, priceScale, sizeScale uint8) (absent int, err error) {
	mp, ms, err := b.prepare(bids, asks, priceScale, sizeScale)
	if err != nil {
		return 0, err
	}
	return b.apply(Bid, bids, mp, ms) + b.apply(Ask, asks, mp, ms), nil
}

// Rescale raises the book's scales to at least price and size, multiplying
// every stored value. It never lowers a scale. On error the book is
// unchanged.
func (b *Book) Rescale(price, size uint8) error {
	_, _, err := b.prepare(nil, nil, price, size)
	return err
}

// prepare checks that levels at scales (ps, ss) and the book's levels all fit
// at the larger of the two scales, then raises the book's scales. It returns
// the multipliers that bring the given levels to the (new) book scales.
// Checking everything before changing anything keeps updates atomic.
func (b *Book) prepare(bids, asks []protocol.Level, ps, ss uint8) (mp, ms uint64, err error) {
	if ps > protocol.MaxScale || ss > protocol.MaxScale {
		return 0, 0, fmt.Errorf("%w: price_scale %d / size_scale %d above %d", ErrScaleOverflow, ps, ss, protocol.MaxScale)
	}
	if ps == b.priceScale && ss == b.sizeScale {
		return 1, 1, nil // the common case: nothing to convert
	}
	np, ns := max(ps, b.priceScale), max(ss, b.sizeScale)
	bp, bs := pow10[np-b.priceScale], pow10[ns-b.sizeScale] // book multipliers
	mp, ms = pow10[np-ps], pow10[ns-ss]
	if bp > 1 {
		// The largest price is the worst ask or the best bid.
		var maxP uint64
		if a := b.sides[Ask]; len(a) > 0 {
			maxP = ^a[0].Price
		}
		if bd := b.sides[Bid]; len(bd) > 0 {
			maxP = max(maxP, bd[len(bd)-1].Price)
		}
		if maxP > math.MaxUint64/bp {
			return 0, 0, fmt.Errorf("%w: price %d at scale %d does not fit at scale %d", ErrScaleOverflow, maxP, b.priceScale, np)
		}
	}
	if bs > 1 {
		var maxS uint64
		for _, sd := range b.sides {
			for _, l := range sd {
				maxS = max(maxS, l.Size)
			}
		}
		if maxS > math.MaxUint64/bs {
			return 0, 0, fmt.Errorf("%w: size %d at scale %d does not fit at scale %d", ErrScaleOverflow, maxS, b.sizeScale, ns)
		}
	}
	if mp > 1 || ms > 1 {
		limP, limS := math.MaxUint64/mp, math.MaxUint64/ms
		for _, lv := range [2][]protocol.Level{bids, asks} {
			for _, l := range lv {
				if l.Price > limP {
					return 0, 0, fmt.Errorf("%w: price %d at scale %d does not fit at scale %d", ErrScaleOverflow, l.Price, ps, np)
				}
				if l.Size > limS {
					return 0, 0, fmt.Errorf("%w: size %d at scale %d does not fit at scale %d", ErrScaleOverflow, l.Size, ss, ns)
				}
			}
		}
	}
	if bp > 1 || bs > 1 {
		for s := range b.sides {
			m := Side(s).mask()
			sd := b.sides[s]
			for i := range sd {
				// Multiplying by a positive constant keeps the order.
				sd[i].Price = (sd[i].Price^m)*bp ^ m
				sd[i].Size *= bs
			}
		}
	}
	b.priceScale, b.sizeScale = np, ns
	return mp, ms, nil
}

// apply applies levels to side s after multiplying price by mp and size by
// ms (prepare has checked that they fit). It returns the absent removals.
func (b *Book) apply(s Side, levels []protocol.Level, mp, ms uint64) (absent int) {
	if len(levels) > bulkMin {
		return b.bulk(s, levels, mp, ms)
	}
	sd := &b.sides[s]
	m := s.mask()
	for _, l := range levels {
		if setKey(sd, l.Price*mp^m, l.Size*ms) {
			absent++
		}
	}
	return absent
}

// setKey sets key k to size (0 removes) in *p. It returns true when a
// removed key was absent.
func setKey(p *side, k, size uint64) (absent bool) {
	lv := *p
	i := search(lv, k)
	if i < len(lv) && lv[i].Price == k {
		if size == 0 {
			*p = append(lv[:i], lv[i+1:]...)
		} else {
			lv[i].Size = size
		}
		return false
	}
	if size == 0 {
		return true
	}
	lv = append(lv, protocol.Level{})
	copy(lv[i+1:], lv[i:])
	lv[i] = protocol.Level{Price: k, Size: size}
	*p = lv
	return false
}

// topN is how many levels at the best end search checks without branching.
const topN = 8

// search returns the first index i with lv[i].Price >= k (len(lv) if none).
//
// Updates cluster at the top of the book, and the position of an update is
// unpredictable, so search avoids data-dependent branches: it counts the keys
// below k among the last topN levels (the answer when any is below), else
// bisects the rest with a branch-free loop (the borrow of k's subtraction is
// the comparison).
func search(lv []protocol.Level, k uint64) int {
	n := len(lv)
	if n >= topN {
		t := lv[n-topN : n : n]
		// Unrolled: the compiler does not unroll loops.
		_, b0 := bits.Sub64(t[0].Price, k, 0)
		_, b1 := bits.Sub64(t[1].Price, k, 0)
		_, b2 := bits.Sub64(t[2].Price, k, 0)
		_, b3 := bits.Sub64(t[3].Price, k, 0)
		_, b4 := bits.Sub64(t[4].Price, k, 0)
		_, b5 := bits.Sub64(t[5].Price, k, 0)
		_, b6 := bits.Sub64(t[6].Price, k, 0)
		_, b7 := bits.Sub64(t[7].Price, k, 0)
		c := int((b0 + b1) + (b2 + b3) + (b4 + b5) + (b6 + b7))
		if c > 0 {
			return n - topN + c
		}
		n -= topN
	}
	if n == 0 {
		return 0
	}
	// The answer is in [base, base+n] and lv[base+n] >= k (if it exists).
	base := 0
	for n > 1 {
		half := n >> 1
		_, below := bits.Sub64(lv[base+half].Price, k, 0)
		base += half & -int(below)
		n -= half
	}
	_, below := bits.Sub64(lv[base].Price, k, 0)
	return base + int(below)
}

func cmpKey(a, b protocol.Level) int {
	switch {
	case a.Price < b.Price:
		return -1
	case a.Price > b.Price:
		return 1
	}
	return 0
}

// bulk applies many levels at once with the same result as applying them one
// by one: the levels are keyed, sorted stably (so equal prices keep their
// order) and merged with the side into the spare buffer.
func (b *Book) bulk(s Side, levels []protocol.Level, mp, ms uint64) (absent int) {
	m := s.mask()
	batch := b.batch[:0]
	asc, desc := true, true
	for i, l := range levels {
		k := l.Price*mp ^ m
		if i > 0 {
			prev := batch[i-1].Price
			asc = asc && k > prev
			desc = desc && k < prev
		}
		batch = append(batch, protocol.Level{Price: k, Size: l.Size * ms})
	}
	switch {
	case desc: // best first, as snapshots usually come
		slices.Reverse(batch)
	case !asc:
		slices.SortStableFunc(batch, cmpKey)
	}
	old := b.sides[s]
	out := b.spare[:0]
	if need := len(old) + len(batch); cap(out) < need {
		out = make(side, 0, need+need/4)
	}
	i, j := 0, 0
	for i < len(old) || j < len(batch) {
		if j == len(batch) {
			out = append(out, old[i:]...)
			break
		}
		k := batch[j].Price
		if i < len(old) && old[i].Price < k {
			out = append(out, old[i])
			i++
			continue
		}
		var size uint64
		if i < len(old) && old[i].Price == k {
			size = old[i].Size
			i++
		}
		for ; j < len(batch) && batch[j].Price == k; j++ {
			if batch[j].Size == 0 && size == 0 {
				absent++
			}
			size = batch[j].Size
		}
		if size != 0 {
			out = append(out, protocol.Level{Price: k, Size: size})
		}
	}
	b.spare = old[:0]
	b.sides[s] = out
	b.batch = batch[:0]
	return absent
}
