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
// Representation. Each side is keyed so that the best level has the largest
// key: the key is the price for bids and its bitwise complement for asks
// (^p reverses the order), so one set of routines serves both sides. Updates
// in real streams cluster within a few dozen ticks of the top, so the keys
// near the best level live in a direct-indexed window (an array by key -
// base, with an occupancy bitmap), where setting, inserting or removing a
// level is a store at a computed index; the levels below the window stay in
// a sorted slice (binary search; an insert moves the levels above it). The
// window follows the best level as it moves. Large updates (snapshots) are
// sorted and merged instead of inserted one by one. Every operation is
// exact for any uint64 price: the window is only a faster place to keep
// some of the keys.
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

// The window: winSize consecutive keys, stored by key - base.
const (
	winBits  = 9
	winSize  = 1 << winBits
	winWords = winSize / 64
	// winHead is the slot a recentred window puts its target key (normally
	// the best level) at: a quarter of the window stays free above it for
	// prices that improve, three quarters hold the levels below.
	winHead = winSize * 3 / 4
	// maxBase keeps base + winSize - 1 within 64 bits.
	maxBase = math.MaxUint64 - (winSize - 1)
)

// side holds one side's levels by key (price ^ mask, so that the best level
// has the largest key) in two parts:
//
//   - the window: the keys in [base, base+winSize), each at slot key-base
//     of sz (size 0: no level), with occ marking the occupied slots;
//   - rest: every key below base, sorted ascending (best at the end), with
//     Price holding the key.
//
// No key is above the window. The window is kept near the best level,
// where almost all updates land, so an update there is a store at a
// computed index: no search and no levels to move.
type side struct {
	rest []protocol.Level
	base uint64
	n    int // levels in the window
	hi   int // one above the highest occupied slot; 0 when the window is empty
	occ  [winWords]uint64
	sz   [winSize]uint64
	tmp  []protocol.Level // recentre scratch
}

// mask turns a price into its key and back: 0 for bids, all ones for asks.
func (s Side) mask() uint64 { return 0 - uint64(s) }

// Book is an exact L2 order book. The zero value is an empty book at scales
// 0/0; New is equivalent. A Book is not safe for concurrent use.
type Book struct {
	sides      [2]side
	spare      []protocol.Level // merge output buffer, swapped with a side's rest after a bulk update
	batch      []protocol.Level // bulk update scratch
	priceScale uint8
	sizeScale  uint8
}

// New returns an empty book.
func New() *Book { return &Book{} }

// Scales returns the book's price and size scales.
func (b *Book) Scales() (price, size uint8) { return b.priceScale, b.sizeScale }

// Clear empties the book and resets its scales to 0, keeping its buffers.
func (b *Book) Clear() {
	b.sides[Bid].clear()
	b.sides[Ask].clear()
	b.priceScale, b.sizeScale = 0, 0
}

// Len returns the number of levels on side s.
func (b *Book) Len(s Side) int { return b.sides[s].len() }

// Best returns the best level of side s (highest bid, lowest ask).
func (b *Book) Best(s Side) (protocol.Level, bool) {
	l, ok := b.sides[s].best()
	l.Price ^= s.mask()
	return l, ok
}

// Top appends up to n levels of side s to dst, best first.
func (b *Book) Top(s Side, n int, dst []protocol.Level) []protocol.Level {
	m := s.mask()
	for l := range b.sides[s].levels() {
		if n <= 0 {
			break
		}
		dst = append(dst, protocol.Level{Price: l.Price ^ m, Size: l.Size})
		n--
	}
	return dst
}

// All yields the levels of side s in price order, best first. The book must
// not be changed during the iteration.
func (b *Book) All(s Side) iter.Seq[protocol.Level] {
	return func(yield func(protocol.Level) bool) {
		m := s.mask()
		for l := range b.sides[s].levels() {
			if !yield(protocol.Level{Price: l.Price ^ m, Size: l.Size}) {
				return
			}
		}
	}
}

// Size returns the size at price (book scale) on side s.
func (b *Book) Size(s Side, price uint64) (uint64, bool) {
	return b.sides[s].get(price ^ s.mask())
}

// Crossed reports whether both sides are non-empty and best bid >= best ask.
func (b *Book) Crossed() bool {
	bid, okb := b.sides[Bid].bestKey()
	ask, oka := b.sides[Ask].bestKey()
	return okb && oka && bid >= ^ask
}

// Set sets the level at price to size, both at the book's scales; size 0
// removes the level. It returns true when a removed level was absent.
func (b *Book) Set(s Side, price, size uint64) (absent bool) {
	return b.sides[s].set(price^s.mask(), size)
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
		if k, ok := b.sides[Ask].worstKey(); ok {
			maxP = ^k
		}
		if k, ok := b.sides[Bid].bestKey(); ok {
			maxP = max(maxP, k)
		}
		if maxP > math.MaxUint64/bp {
			return 0, 0, fmt.Errorf("%w: price %d at scale %d does not fit at scale %d", ErrScaleOverflow, maxP, b.priceScale, np)
		}
	}
	if bs > 1 {
		var maxS uint64
		for s := range b.sides {
			for l := range b.sides[s].levels() {
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
			sd := &b.sides[s]
			// Scaling moves keys apart, so the window cannot keep its
			// slots: everything goes to the sorted part first.
			sd.flush()
			for i := range sd.rest {
				// Multiplying by a positive constant keeps the order.
				sd.rest[i].Price = (sd.rest[i].Price^m)*bp ^ m
				sd.rest[i].Size *= bs
			}
			sd.settle()
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
		// set, inlined by hand: the compiler will not.
		k, size := l.Price*mp^m, l.Size*ms
		var a bool
		if i := k - sd.base; i < winSize {
			a = sd.setSlot(int(i), size)
		} else {
			a = sd.setOutside(k, size)
		}
		absent += int(b2u(a))
	}
	return absent
}

// clear empties the side, keeping its buffers.
func (sd *side) clear() {
	for w := range sd.occ {
		for x := sd.occ[w]; x != 0; x &= x - 1 {
			sd.sz[w<<6+bits.TrailingZeros64(x)] = 0
		}
		sd.occ[w] = 0
	}
	sd.n, sd.hi = 0, 0
	sd.rest = sd.rest[:0]
}

func (sd *side) len() int { return sd.n + len(sd.rest) }

// bestKey returns the largest key.
func (sd *side) bestKey() (uint64, bool) {
	if sd.hi > 0 {
		return sd.base + uint64(sd.hi-1), true
	}
	if len(sd.rest) > 0 {
		return sd.rest[len(sd.rest)-1].Price, true
	}
	return 0, false
}

// worstKey returns the smallest key.
func (sd *side) worstKey() (uint64, bool) {
	if len(sd.rest) > 0 {
		return sd.rest[0].Price, true
	}
	for w, x := range sd.occ {
		if x != 0 {
			return sd.base + uint64(w<<6+bits.TrailingZeros64(x)), true
		}
	}
	return 0, false
}

// best returns the level with the largest key.
func (sd *side) best() (protocol.Level, bool) {
	if sd.hi > 0 {
		return protocol.Level{Price: sd.base + uint64(sd.hi-1), Size: sd.sz[sd.hi-1]}, true
	}
	if len(sd.rest) > 0 {
		return sd.rest[len(sd.rest)-1], true
	}
	return protocol.Level{}, false
}

// levels yields the side's levels by key, largest first.
func (sd *side) levels() iter.Seq[protocol.Level] {
	return func(yield func(protocol.Level) bool) {
		if sd.hi > 0 {
			for w := (sd.hi - 1) >> 6; w >= 0; w-- {
				for x := sd.occ[w]; x != 0; {
					j := 63 - bits.LeadingZeros64(x)
					x &^= 1 << j
					slot := w<<6 + j
					if !yield(protocol.Level{Price: sd.base + uint64(slot), Size: sd.sz[slot]}) {
						return
					}
				}
			}
		}
		for i := len(sd.rest) - 1; i >= 0; i-- {
			if !yield(sd.rest[i]) {
				return
			}
		}
	}
}

// get returns the size at key k.
func (sd *side) get(k uint64) (uint64, bool) {
	if i := k - sd.base; i < winSize {
		return sd.sz[i], sd.sz[i] != 0
	}
	if k < sd.base {
		if i := search(sd.rest, k); i < len(sd.rest) && sd.rest[i].Price == k {
			return sd.rest[i].Size, true
		}
	}
	return 0, false
}

// set sets key k to size (0 removes). It returns true when a removed key
// was absent.
func (sd *side) set(k, size uint64) (absent bool) {
	if i := k - sd.base; i < winSize {
		return sd.setSlot(int(i), size)
	}
	return sd.setOutside(k, size)
}

// setSlot sets window slot i to size. Whether it updates, inserts or
// removes a level is unpredictable, so it does all three without branches;
// only removing the best level takes a (rare) branch, to find the next.
func (sd *side) setSlot(i int, size uint64) (absent bool) {
	old := sd.sz[i]
	sd.sz[i] = size
	has, had := b2u(size != 0), b2u(old != 0)
	w, sh := i>>6, uint(i&63)
	sd.occ[w] = sd.occ[w]&^(1<<sh) | has<<sh
	sd.n += int(has) - int(had)
	hi := max(sd.hi, (i+1)&-int(has))
	if uint64(hi^(i+1))|size == 0 {
		hi = sd.topBelow(w) + 1
	}
	sd.hi = hi
	return old|size == 0
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// topBelow returns the highest occupied slot in words w, w-1, ..., 0, or
// -1 if there is none; nothing may be occupied above word w.
func (sd *side) topBelow(w int) int {
	for ; w > 0 && sd.occ[w] == 0; w-- {
	}
	return w<<6 + 63 - bits.LeadingZeros64(sd.occ[w])
}

// setOutside sets a key outside the window. Above the window there is
// nothing: a new level there moves the window up to it. Below, the window
// moves down to the best level first if that has fallen into the window's
// lower half (or the window is empty), so that the window follows a
// falling market; the key is then in the window or, deep in the book, in
// the sorted part.
func (sd *side) setOutside(k, size uint64) (absent bool) {
	if k > sd.base {
		if size == 0 {
			return true
		}
		sd.recentre(k)
		return sd.setSlot(int(k-sd.base), size)
	}
	if sd.hi <= winSize/2 {
		t := k
		if bk, ok := sd.bestKey(); ok {
			t = max(t, bk)
		}
		if windowBase(t) != sd.base {
			sd.recentre(t)
			if i := k - sd.base; i < winSize {
				return sd.setSlot(int(i), size)
			}
		}
	}
	return setSorted(&sd.rest, k, size)
}

// windowBase is the base of a window that holds key t at slot winHead, or
// as near as the ends of the key space allow.
func windowBase(t uint64) uint64 {
	if t < winHead {
		return 0
	}
	return min(t-winHead, maxBase)
}

// recentre moves the window to windowBase(t). Its caller guarantees that t
// is at least every key of the side, or is above the window: then no key
// lies above the new window, and levels only move between the window and
// the top of the sorted part. Cost: O(levels moved + winWords).
func (sd *side) recentre(t uint64) {
	nb := windowBase(t)
	lv := sd.takeWindow(sd.tmp[:0])
	sd.base = nb
	for _, l := range lv {
		if l.Price < nb {
			sd.rest = append(sd.rest, l) // ascending, above all of rest
		} else {
			sd.place(int(l.Price-nb), l.Size)
		}
	}
	for len(sd.rest) > 0 && sd.rest[len(sd.rest)-1].Price >= nb {
		l := sd.rest[len(sd.rest)-1]
		sd.rest = sd.rest[:len(sd.rest)-1]
		sd.place(int(l.Price-nb), l.Size)
	}
	sd.tmp = lv[:0]
}

// place puts a level into an empty slot.
func (sd *side) place(i int, size uint64) {
	sd.sz[i] = size
	sd.occ[i>>6] |= 1 << (i & 63)
	sd.hi = max(sd.hi, i+1)
	sd.n++
}

// takeWindow appends the window's levels to dst in ascending key order and
// empties the window.
func (sd *side) takeWindow(dst []protocol.Level) []protocol.Level {
	if sd.n == 0 {
		return dst
	}
	for w := range sd.occ {
		for x := sd.occ[w]; x != 0; x &= x - 1 {
			slot := w<<6 + bits.TrailingZeros64(x)
			dst = append(dst, protocol.Level{Price: sd.base + uint64(slot), Size: sd.sz[slot]})
			sd.sz[slot] = 0
		}
		sd.occ[w] = 0
	}
	sd.n, sd.hi = 0, 0
	return dst
}

// flush moves the window's levels to the sorted part, which then holds the
// whole side (a state only settle may follow).
func (sd *side) flush() { sd.rest = sd.takeWindow(sd.rest) }

// settle moves the top of the sorted part into a window at the best level.
func (sd *side) settle() {
	if len(sd.rest) > 0 {
		sd.recentre(sd.rest[len(sd.rest)-1].Price)
	}
}

// setSorted sets key k to size (0 removes) in the sorted slice *p. It
// returns true when a removed key was absent.
func setSorted(p *[]protocol.Level, k, size uint64) (absent bool) {
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
// The keys it sees are below the window, where updates are rarer but still
// more likely near the top, and the position of an update is unpredictable,
// so search avoids data-dependent branches: it counts the keys below k
// among the last topN levels (the answer when any is below), else bisects
// the rest with a branch-free loop (the borrow of k's subtraction is the
// comparison).
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
// order) and merged with the side (flushed to its sorted part) into the
// spare buffer.
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
	sd := &b.sides[s]
	sd.flush()
	old := sd.rest
	out := b.spare[:0]
	if need := len(old) + len(batch); cap(out) < need {
		out = make([]protocol.Level, 0, need+need/4)
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
	sd.rest = out
	sd.settle()
	b.batch = batch[:0]
	return absent
}
