package book

import (
	"math/rand/v2"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

// decimals returns how many decimal places v × 10^-k needs.
func decimals(v uint64, k uint8) uint8 {
	for k > 0 && v%10 == 0 {
		v /= 10
		k--
	}
	return k
}

// realisticStream builds what the importer writes for a liquid market: a
// snapshot of depth levels per side (tick 0.01 around 60000, sizes with up to
// 5 decimals), then n diffs of about 6 updates each whose depth from the top
// is geometric (mean ~3 ticks), ~10% deletes. Each event's scales are the
// largest number of decimals among its values, as the importer derives them,
// so diff scales often differ from the book's.
func realisticStream(depth, n int, seed uint64) []protocol.Event {
	rng := rand.New(rand.NewPCG(seed, 3))
	const mid = 6_000_000                                                            // 60000.00 in ticks of 0.01
	size := func() uint64 { return (1 + rng.Uint64N(100_000)) * pow10[rng.IntN(4)] } // 10^-5 units
	finish := func(ev *protocol.Event, raw [2][][2]uint64) {
		var ps, ss uint8
		for _, side := range raw {
			for _, l := range side {
				ps, ss = max(ps, decimals(l[0], 2)), max(ss, decimals(l[1], 5))
			}
		}
		ev.PriceScale, ev.SizeScale = ps, ss
		for s, side := range raw {
			for _, l := range side {
				lv := protocol.Level{Price: l[0] / pow10[2-ps], Size: l[1] / pow10[5-ss]}
				if s == 0 {
					ev.Bids = append(ev.Bids, lv)
				} else {
					ev.Asks = append(ev.Asks, lv)
				}
			}
		}
	}
	var raw [2][][2]uint64
	for i := range depth {
		raw[0] = append(raw[0], [2]uint64{mid - 1 - uint64(i), size()})
		raw[1] = append(raw[1], [2]uint64{mid + uint64(i), size()})
	}
	evs := make([]protocol.Event, 1, n+1)
	evs[0] = protocol.Event{Type: protocol.Snapshot, IngestTS: 1}
	finish(&evs[0], raw)
	for i := range n {
		ev := protocol.Event{Type: protocol.Diff, DiffFlags: protocol.FlagAbsolute, Seq: uint64(i + 1), IngestTS: uint64(i + 2), ExchangeTS: uint64(i + 2)}
		raw = [2][][2]uint64{}
		for range 3 + rng.IntN(7) { // 3..9, mean 6
			d := uint64(0)
			for rng.IntN(4) != 0 && d < uint64(depth) {
				d++
			}
			s := rng.IntN(2)
			p := uint64(mid - 1 - d)
			if s == 1 {
				p = mid + d
			}
			sz := size()
			if rng.IntN(10) == 0 {
				sz = 0
			}
			raw[s] = append(raw[s], [2]uint64{p, sz})
		}
		finish(&ev, raw)
		evs = append(evs, ev)
	}
	// Pack all levels into one array in stream order, as a replay reads them
	// from a segment: scattered per-event allocations would make the
	// benchmark measure cache misses on its own input.
	var arena []protocol.Level
	for i := range evs {
		arena = append(arena, evs[i].Bids...)
		arena = append(arena, evs[i].Asks...)
	}
	off := 0
	for i := range evs {
		nb, na := len(evs[i].Bids), len(evs[i].Asks)
		evs[i].Bids = arena[off : off+nb : off+nb]
		evs[i].Asks = arena[off+nb : off+nb+na : off+nb+na]
		off += nb + na
	}
	return evs
}

// BenchmarkReplay replays diffs of a realistic stream into a 1000-level
// book; one op is one event, levels/s counts level updates.
func BenchmarkReplay(b *testing.B) {
	b.Run("dense", func(b *testing.B) { benchReplay(b, realisticStream(1000, 1<<16, 1)) })
	// The same stream with prices 1000 units apart (a book scale finer
	// than the tick): the window holds a level or two, the rest is searched.
	sparse := realisticStream(1000, 1<<16, 1)
	for i := range sparse {
		ev := &sparse[i]
		m := 1000 * pow10[2-ev.PriceScale] // to hundredths, then 1000 apart
		for _, lv := range [][]protocol.Level{ev.Bids, ev.Asks} {
			for j := range lv {
				lv[j].Price *= m
			}
		}
		ev.PriceScale = 2
	}
	b.Run("sparse", func(b *testing.B) { benchReplay(b, sparse) })
}

func benchReplay(b *testing.B, evs []protocol.Event) {
	r := NewReplayer(Options{Strict: true})
	if err := r.Apply(&evs[0]); err != nil {
		b.Fatal(err)
	}
	diffs := evs[1:]
	seq := evs[0].Seq
	var levels int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := &diffs[i]
		seq++
		ev.Seq = seq // the stream is replayed cyclically: keep seq contiguous
		if err := r.Apply(ev); err != nil {
			b.Fatal(err)
		}
		levels += len(ev.Bids) + len(ev.Asks)
		if i++; i == len(diffs) {
			i = 0
		}
	}
	b.ReportMetric(float64(levels)/b.Elapsed().Seconds(), "levels/s")
	b.ReportMetric(float64(levels)/float64(b.N), "levels/op")
}

// BenchmarkSnapshot applies a 1000-level-per-side snapshot (the bulk path).
func BenchmarkSnapshot(b *testing.B) {
	evs := realisticStream(1000, 0, 1)
	r := NewReplayer(Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Apply(&evs[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "levels/s")
}

// BenchmarkCheckpoint captures a checkpoint of a 1000-level book.
func BenchmarkCheckpoint(b *testing.B) {
	evs := realisticStream(1000, 1000, 1)
	r := NewReplayer(Options{})
	for i := range evs {
		if err := r.Apply(&evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	var cp Checkpoint
	b.ReportAllocs()
	for b.Loop() {
		r.Checkpoint(&cp)
	}
}
