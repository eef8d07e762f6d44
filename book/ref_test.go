package book

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// This file holds a deliberately naive reference replayer (maps of exact
// decimals, no scale bookkeeping beyond what the overflow rule needs) and a
// random event generator, for the differential test and FuzzReplayer.

// dec is an exact decimal m × 10^-e in canonical form: m has no trailing
// zero digit (or m = 0 and e = 0), so equal values have equal decs.
type dec struct {
	m uint64
	e uint8
}

func norm(v uint64, scale uint8) dec {
	for scale > 0 && v%10 == 0 {
		v /= 10
		scale--
	}
	if v == 0 {
		scale = 0
	}
	return dec{v, scale}
}

// at returns d as an integer at scale s >= d.e, and whether it fits.
func (d dec) at(s uint8) (uint64, bool) {
	hi, lo := bits.Mul64(d.m, pow10[s-d.e])
	return lo, hi == 0
}

// cmp compares exactly by bringing both to scale 18 in 128 bits.
func (d dec) cmp(o dec) int {
	ah, al := bits.Mul64(d.m, pow10[18-d.e])
	bh, bl := bits.Mul64(o.m, pow10[18-o.e])
	switch {
	case ah != bh:
		return cmpU(ah, bh)
	default:
		return cmpU(al, bl)
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type refReplayer struct {
	sides        [2]map[dec]dec
	ps, ss       uint8 // the book's scales per the documented rule
	stats        Stats
	seen         bool
	lastType     protocol.EventType
	lastSeq      uint64
	gap, crossed bool // of the last successful apply
	overflowed   bool // the last apply failed with a scale overflow
	conts        int  // snapshot events that continued a run of snapshots
}

func newRef() *refReplayer {
	return &refReplayer{sides: [2]map[dec]dec{{}, {}}}
}

// fits reports whether every book value and every value of ev fits at the
// scales (np, ns).
func (r *refReplayer) fits(ev *protocol.Event, np, ns uint8, withBook bool) bool {
	ok := func(v uint64, scale, to uint8) bool {
		_, f := norm(v, scale).at(to)
		return f
	}
	for _, lv := range [][]protocol.Level{ev.Bids, ev.Asks} {
		for _, l := range lv {
			if !ok(l.Price, ev.PriceScale, np) || !ok(l.Size, ev.SizeScale, ns) {
				return false
			}
		}
	}
	if withBook {
		for _, m := range r.sides {
			for p, s := range m {
				if _, f := p.at(np); !f {
					return false
				}
				if _, f := s.at(ns); !f {
					return false
				}
			}
		}
	}
	return true
}

func (r *refReplayer) apply(ev *protocol.Event) {
	r.gap, r.crossed, r.overflowed = false, false, false
	setLevels := func() {
		for s, lv := range [][]protocol.Level{ev.Bids, ev.Asks} {
			for _, l := range lv {
				p := norm(l.Price, ev.PriceScale)
				if l.Size == 0 {
					if _, ok := r.sides[s][p]; !ok {
						r.stats.AbsentRemovals++
					}
					delete(r.sides[s], p)
				} else {
					r.sides[s][p] = norm(l.Size, ev.SizeScale)
				}
			}
		}
		r.stats.LevelUpdates += uint64(len(ev.Bids) + len(ev.Asks))
	}
	raise := func() bool {
		np, ns := max(r.ps, ev.PriceScale), max(r.ss, ev.SizeScale)
		if !r.fits(ev, np, ns, true) {
			r.overflowed = true
			return false
		}
		r.ps, r.ss = np, ns
		return true
	}
	switch ev.Type {
	case protocol.Snapshot:
		// Tardis: a run of snapshot messages is one reset, whatever their
		// timestamps.
		cont := r.stats.Events > 0 && r.lastType == protocol.Snapshot
		if cont {
			if !raise() {
				return
			}
			r.conts++
		} else {
			r.sides = [2]map[dec]dec{{}, {}}
			r.ps, r.ss = ev.PriceScale, ev.SizeScale
			r.seen = true
			r.stats.Resets++
		}
		setLevels()
		r.stats.Snapshots++
	case protocol.Diff:
		if !r.seen {
			r.stats.SkippedBeforeSnapshot++
		} else {
			if !raise() {
				return
			}
			setLevels()
		}
		r.stats.Diffs++
	case protocol.Reset:
		r.sides = [2]map[dec]dec{{}, {}}
		r.ps, r.ss = 0, 0
		r.seen = false
		r.stats.Resets++
	case protocol.Heartbeat:
	}
	if r.stats.Events > 0 && ev.Seq != r.lastSeq+1 {
		if r.stats.Gaps == 0 {
			r.stats.FirstGapSeq = ev.Seq
		}
		r.stats.Gaps++
		r.gap = true
	}
	if r.seen {
		bb, okb := r.best(Bid)
		ba, oka := r.best(Ask)
		if okb && oka && bb.cmp(ba) >= 0 {
			if r.stats.CrossedEvents == 0 {
				r.stats.FirstCrossedSeq = ev.Seq
			}
			r.stats.CrossedEvents++
			r.crossed = true
		}
	}
	r.stats.Events++
	r.lastType, r.lastSeq = ev.Type, ev.Seq
}

func (r *refReplayer) best(s Side) (dec, bool) {
	var best dec
	found := false
	for p := range r.sides[s] {
		if !found || (s == Bid) == (p.cmp(best) > 0) {
			best, found = p, true
		}
	}
	return best, found
}

// sorted returns side s best first as canonical decimals.
func (r *refReplayer) sorted(s Side) [][2]dec {
	var out [][2]dec
	for p, sz := range r.sides[s] {
		out = append(out, [2]dec{p, sz})
	}
	slices.SortFunc(out, func(a, b [2]dec) int {
		if s == Bid {
			return b[0].cmp(a[0])
		}
		return a[0].cmp(b[0])
	})
	return out
}

// compareRef reports the first difference between the book and the reference.
func compareRef(b *Book, r *refReplayer) error {
	if ps, ss := b.Scales(); ps != r.ps || ss != r.ss {
		return fmt.Errorf("scales %d/%d, reference %d/%d", ps, ss, r.ps, r.ss)
	}
	ps, ss := b.Scales()
	for _, s := range []Side{Bid, Ask} {
		want := r.sorted(s)
		i := 0
		for l := range b.All(s) {
			if i >= len(want) {
				return fmt.Errorf("%v: extra level %d (price %d)", s, i, l.Price)
			}
			got := [2]dec{norm(l.Price, ps), norm(l.Size, ss)}
			if got != want[i] {
				return fmt.Errorf("%v level %d: got %v, reference %v", s, i, got, want[i])
			}
			i++
		}
		if i != len(want) || b.Len(s) != len(want) {
			return fmt.Errorf("%v: %d levels (Len %d), reference %d", s, i, b.Len(s), len(want))
		}
	}
	return nil
}

// entropy yields bytes from fuzz input (zeros when exhausted) or a PRNG.
type entropy struct {
	b   []byte
	rng *rand.Rand
}

func (e *entropy) u8() uint8 {
	if e.rng != nil {
		return uint8(e.rng.Uint32())
	}
	if len(e.b) == 0 {
		return 0
	}
	v := e.b[0]
	e.b = e.b[1:]
	return v
}

func (e *entropy) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(e.u8())
	}
	return v
}

func (e *entropy) done() bool { return e.rng == nil && len(e.b) == 0 }

// gen produces events that exercise every rule: split snapshots (equal
// timestamps), resets, gaps, heartbeats, deletes of present and absent
// levels, crossings, prices at varying scales, large snapshots (bulk path)
// and, with wild set, raw 64-bit values at any scale (scale overflow).
type gen struct {
	e                 entropy
	seq, ingest, exch uint64
	lastType          protocol.EventType
	wild              bool
}

// atScale returns the value c × 10^-k at the given scale, dropping digits
// the scale cannot hold.
func atScale(c uint64, k, scale uint8) uint64 {
	if scale >= k {
		return c * pow10[scale-k]
	}
	return c / pow10[k-scale]
}

func (g *gen) levels(dst []protocol.Level, n int, bid bool, ps, ss uint8) []protocol.Level {
	for range n {
		if g.wild && g.e.u8()%16 == 0 {
			dst = append(dst, protocol.Level{Price: g.e.u64() >> (g.e.u8() % 64), Size: g.e.u64() >> (g.e.u8() % 64)})
			continue
		}
		c := uint64(g.e.u8() % 40) // hundredths
		if bid {
			c += 100000 // 1000.00 .. 1000.39
		} else {
			c += 100025 // 1000.25 .. 1000.64: overlaps the bids, so books can cross
		}
		var sz uint64 // thousandths; 0 deletes
		if g.e.u8()%4 != 0 {
			sz = uint64(g.e.u8())
		}
		dst = append(dst, protocol.Level{Price: atScale(c, 2, ps), Size: atScale(sz, 3, ss)})
	}
	return dst
}

func (g *gen) next(ev *protocol.Event) {
	op := g.e.u8()
	sameTS := g.lastType == protocol.Snapshot && op&0x80 != 0
	*ev = protocol.Event{Bids: ev.Bids[:0], Asks: ev.Asks[:0], BookMode: protocol.ModeL2}
	switch op % 16 {
	case 0, 1, 2:
		ev.Type = protocol.Snapshot
	case 3:
		ev.Type = protocol.Reset
	case 4:
		ev.Type = protocol.Heartbeat
	default:
		ev.Type = protocol.Diff
		ev.DiffFlags = protocol.FlagAbsolute
	}
	if !sameTS {
		g.ingest += uint64(g.e.u8() % 3)
		g.exch = g.ingest - uint64(g.e.u8()%2) // exchange time may go backwards
	}
	ev.IngestTS, ev.ExchangeTS = g.ingest, g.exch
	g.seq++
	if g.e.u8()%32 == 0 {
		g.seq += uint64(g.e.u8()) // a gap, possibly backwards below
		if g.e.u8()%2 == 0 {
			g.seq -= 300
		}
	}
	ev.Seq = g.seq
	scales := uint8(5)
	if g.wild {
		scales = protocol.MaxScale + 1
	}
	ev.PriceScale, ev.SizeScale = g.e.u8()%scales, g.e.u8()%scales
	var nb, na int
	switch ev.Type {
	case protocol.Snapshot:
		nb, na = int(g.e.u8()%9), int(g.e.u8()%9)
		if g.e.u8()%16 == 0 {
			nb, na = bulkMin+int(g.e.u8()%64), bulkMin+int(g.e.u8()%64)
		}
	case protocol.Diff:
		nb, na = int(g.e.u8()%5), int(g.e.u8()%5)
		if g.e.u8()%64 == 0 {
			nb = bulkMin + 1 + int(g.e.u8()%32)
		}
	}
	ev.Bids = g.levels(ev.Bids, nb, true, ev.PriceScale, ev.SizeScale)
	ev.Asks = g.levels(ev.Asks, na, false, ev.PriceScale, ev.SizeScale)
	if g.e.u8()%4 == 0 {
		// Best first, as exchanges send snapshots (the bulk path's fast case).
		slices.SortFunc(ev.Bids, func(a, b protocol.Level) int { return cmpU(b.Price, a.Price) })
		slices.SortFunc(ev.Asks, func(a, b protocol.Level) int { return cmpU(a.Price, b.Price) })
	}
	g.lastType = ev.Type
}

// diffTest replays events from g into a Replayer, a Strict Replayer and the
// reference, comparing after every event; then it checks that a checkpoint
// of the final state, through the file format, restores the same book.
func diffTest(t *testing.T, g *gen, n int) (ref *refReplayer, overflows int) {
	t.Helper()
	r, strict := NewReplayer(Options{}), NewReplayer(Options{Strict: true})
	ref = newRef()
	var ev protocol.Event
	for i := 0; i < n && !g.e.done(); i++ {
		g.next(&ev)
		err := r.Apply(&ev)
		serr := strict.Apply(&ev)
		ref.apply(&ev)
		if ref.overflowed {
			overflows++
		}
		if ref.overflowed != errors.Is(err, ErrScaleOverflow) {
			t.Fatalf("event %d (%+v): err %v, reference overflow %v", i, ev, err, ref.overflowed)
		}
		if !ref.overflowed && err != nil {
			t.Fatalf("event %d: non-strict error %v", i, err)
		}
		if ref.overflowed != errors.Is(serr, ErrScaleOverflow) {
			t.Fatalf("event %d: strict err %v, reference overflow %v", i, serr, ref.overflowed)
		}
		var ge *GapError
		var ce *CrossedError
		if errors.As(serr, &ge) != ref.gap || errors.As(serr, &ce) != ref.crossed {
			t.Fatalf("event %d (seq %d): strict err %v; reference gap %v crossed %v", i, ev.Seq, serr, ref.gap, ref.crossed)
		}
		if err := compareRef(r.Book(), ref); err != nil {
			t.Fatalf("event %d (%+v): %v", i, ev, err)
		}
		if r.Stats() != ref.stats || strict.Stats() != ref.stats {
			t.Fatalf("event %d: stats\n got %+v\nstrict %+v\n ref %+v", i, r.Stats(), strict.Stats(), ref.stats)
		}
	}
	var cp, cp2 Checkpoint
	r.Checkpoint(&cp)
	f := writeFile(t, []Checkpoint{cp})
	if err := f.Load(0, &cp2); err != nil {
		t.Fatal(err)
	}
	r2 := NewReplayer(Options{})
	if err := r2.Restore(&cp2); err != nil {
		t.Fatal(err)
	}
	if err := compareRef(r2.Book(), ref); err != nil {
		t.Fatalf("restored: %v", err)
	}
	return ref, overflows
}

func TestDifferential(t *testing.T) {
	var total Stats
	overflows, conts := 0, 0
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := &gen{e: entropy{rng: rand.New(rand.NewPCG(seed, 1))}, wild: seed%3 == 0}
			ref, o := diffTest(t, g, 2000)
			st := ref.stats
			overflows += o
			conts += ref.conts
			total.Resets += st.Resets
			total.Snapshots += st.Snapshots
			total.AbsentRemovals += st.AbsentRemovals
			total.SkippedBeforeSnapshot += st.SkippedBeforeSnapshot
			total.Gaps += st.Gaps
			total.CrossedEvents += st.CrossedEvents
			total.LevelUpdates += st.LevelUpdates
		})
	}
	// The generator must keep exercising every rule.
	t.Logf("totals %+v, %d overflows, %d snapshot continuations", total, overflows, conts)
	if conts == 0 || total.AbsentRemovals == 0 || total.SkippedBeforeSnapshot == 0 ||
		total.Gaps == 0 || total.CrossedEvents == 0 || overflows == 0 {
		t.Errorf("generator does not cover every rule: %+v, %d overflows", total, overflows)
	}
}

func FuzzReplayer(f *testing.F) {
	f.Add([]byte{0, 3, 1, 5, 5, 2, 2, 7, 1, 9, 200, 100, 0x80, 0, 0})
	f.Add([]byte("\x00\x01\x00\x00\x00\x00\x00\x08\x08\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"))
	f.Fuzz(func(t *testing.T, data []byte) {
		wild := len(data) > 0 && data[0]&1 == 1
		g := &gen{e: entropy{b: data}, wild: wild}
		diffTest(t, g, 1<<20)
	})
}
