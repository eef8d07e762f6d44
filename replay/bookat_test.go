package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
)

type refState struct {
	bids, asks []string
	last       uint64
}

// refParts reads every message of a file cut into the importer's events.
func refParts(t testing.TB, csvPath string) []refPart {
	t.Helper()
	rr, err := openRef(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var out []refPart
	for {
		m, err := rr.message()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.parts()...)
	}
}

func partTS(p *refPart, exch bool) uint64 {
	if exch {
		return p.exch
	}
	return p.local
}

// refBookAt computes the reference book at each query time: after the
// longest prefix of parts whose timestamps are all <= T.
func refBookAt(parts []refPart, exch bool, queries []uint64) map[uint64]refState {
	qs := slices.Clone(queries)
	slices.Sort(qs)
	out := map[uint64]refState{}
	var rb refBook
	var maxTS, last uint64
	qi := 0
	record := func(limit uint64, all bool) {
		for ; qi < len(qs) && (all || qs[qi] < limit); qi++ {
			out[qs[qi]] = refState{rb.top(true, math.MaxInt), rb.top(false, math.MaxInt), last}
		}
	}
	for i := range parts {
		p := &parts[i]
		ts := partTS(p, exch)
		next := ts
		if i > 0 {
			next = max(maxTS, ts)
		}
		record(next, false) // queries before this part's running max
		for j := range p.rows {
			rb.apply(&p.rows[j])
		}
		maxTS, last = next, ts
	}
	record(0, true)
	return out
}

// queryTimes picks times to ask for: before the first event, at and
// around sampled event times, random times, after the last event.
func queryTimes(r *rand.Rand, parts []refPart, exch bool, n int) []uint64 {
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for i := range parts {
		ts := partTS(&parts[i], exch)
		lo, hi = min(lo, ts), max(hi, ts)
	}
	qs := []uint64{0, 1, lo - 1, lo, hi, hi + 1, math.MaxUint64}
	for range n {
		ts := partTS(&parts[r.Intn(len(parts))], exch)
		qs = append(qs, ts, ts-1, ts+1)
		qs = append(qs, lo-1_000_000_000+uint64(r.Int63n(int64(hi-lo)+2_000_000_000)))
	}
	return qs
}

func TestBookAt(t *testing.T) {
	cases := []struct {
		name    string
		input   func(t *testing.T) string
		cfg     importCfg
		index   int // > 0: import without checkpoints, then stream.Index with this
		samples int // event times to ask at (and around)
	}{
		{"binance-2019", func(*testing.T) string { return binanceCSV }, importCfg{every: 2}, 0, 8},
		{"deribit-2020", func(*testing.T) string { return deribitCSV }, importCfg{}, 0, 4},
		{"synthetic", func(t *testing.T) string { return synthCSV(t, 3, 6000) }, importCfg{every: 97}, 0, 10},
		{"synthetic-compressed", func(t *testing.T) string { return synthCSV(t, 4, 6000) },
			importCfg{compress: true, segmentSize: 128 << 10, every: 250}, 0, 10},
		{"synthetic-indexed-later", func(t *testing.T) string { return synthCSV(t, 5, 6000) }, importCfg{every: -1}, 113, 6},
		{"synthetic-compressed-indexed-later", func(t *testing.T) string { return synthCSV(t, 6, 6000) },
			importCfg{compress: true, segmentSize: 200 << 10, every: -1}, 401, 6},
		{"tardisgen-200k", func(t *testing.T) string { return tardisgen(t, 200_000, 5_000) }, importCfg{every: 3000}, 0, 5},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // independent imports: use both cores
			csvPath := c.input(t)
			dir := importCSV(t, csvPath, c.cfg)
			ckpt := filepath.Join(dir, book.FileName)
			if c.index > 0 {
				if _, err := os.Stat(ckpt); !os.IsNotExist(err) {
					t.Fatalf("imported without checkpoints, yet %s: %v", ckpt, err)
				}
				if err := stream.Index(context.Background(), nil, dir, c.index); err != nil {
					t.Fatal(err)
				}
				rep, err := stream.Verify(nil, dir)
				if err != nil || !rep.OK() {
					t.Fatalf("verify after Index: %v %v", err, rep.Problems)
				}
			}
			if _, err := os.Stat(ckpt); err != nil {
				t.Fatalf("no checkpoints: %v", err)
			}
			parts := refParts(t, csvPath)
			r := rand.New(rand.NewSource(int64(ci)))
			for _, exch := range []bool{false, true} {
				qs := queryTimes(r, parts, exch, c.samples)
				want := refBookAt(parts, exch, qs)
				for _, q := range qs {
					w := want[q]
					for _, noCkpt := range []bool{false, true} {
						b, last, err := replay.BookAt(dir, q, replay.Options{ExchangeTime: exch, NoCheckpoints: noCkpt})
						if err != nil {
							t.Fatal(err)
						}
						gb, ga := bookTop(b, math.MaxInt)
						if d := diffLevels(gb, w.bids) + diffLevels(ga, w.asks); d != "" {
							t.Fatalf("BookAt(%d, exchange time %v, no checkpoints %v): %s", q, exch, noCkpt, d)
						}
						if last != w.last {
							t.Fatalf("BookAt(%d, exchange time %v, no checkpoints %v): last event time %d, want %d", q, exch, noCkpt, last, w.last)
						}
					}
				}
			}
		})
	}
}

// fullEvent is what a replay from the start says about one event.
type fullEvent struct {
	seq, ingest, exch uint64
	stats             book.Stats
	bids, asks        []string
}

func fullReplay(t testing.TB, dir string) []fullEvent {
	t.Helper()
	s, err := replay.Open(dir, replay.Options{NoCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []fullEvent
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		bids, asks := bookTop(s.Book(), 10)
		out = append(out, fullEvent{ev.Seq, ev.IngestTS, ev.ExchangeTS, s.Stats(), bids, asks})
	}
}

// TestOpenRange opens [From, To) ranges with checkpoints and expects the
// events, books and stats of a replay from the start, with the running-max
// rule on both timelines.
func TestOpenRange(t *testing.T) {
	csvPath := synthCSV(t, 7, 8000)
	dir := importCSV(t, csvPath, importCfg{compress: true, segmentSize: 100 << 10, every: 61})
	full := fullReplay(t, dir)
	r := rand.New(rand.NewSource(7))
	for _, exch := range []bool{false, true} {
		ts := func(e *fullEvent) uint64 {
			if exch {
				return e.exch
			}
			return e.ingest
		}
		// Running maxima: the bounds cut the stream where they cross them.
		runMax := make([]uint64, len(full))
		for i := range full {
			runMax[i] = ts(&full[i])
			if i > 0 {
				runMax[i] = max(runMax[i], runMax[i-1])
			}
		}
		backwards := 0
		for i := 1; i < len(full); i++ {
			if ts(&full[i]) < ts(&full[i-1]) {
				backwards++
			}
		}
		if exch && backwards == 0 {
			t.Fatal("the synthetic exchange time never goes backwards: the test does not test that")
		}
		for n := range 24 {
			var from, to uint64
			pick := func() uint64 { return ts(&full[r.Intn(len(full))]) + uint64(r.Intn(3)) - 1 }
			switch n % 4 {
			case 0:
				from = pick()
			case 1:
				to = pick()
			default:
				from, to = pick(), pick()
				if from > to {
					from, to = to, from
				}
			}
			var want []int
			for i := range full {
				if (from == 0 || runMax[i] >= from) && (to == 0 || runMax[i] < to) {
					want = append(want, i)
				}
			}
			s, err := replay.Open(dir, replay.Options{From: from, To: to, ExchangeTime: exch})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for {
				ev, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if got >= len(want) {
					t.Fatalf("[%d, %d) exchange %v: extra event seq %d", from, to, exch, ev.Seq)
				}
				f := &full[want[got]]
				if ev.Seq != f.seq {
					t.Fatalf("[%d, %d) exchange %v: event %d is seq %d, want %d", from, to, exch, got, ev.Seq, f.seq)
				}
				if st := s.Stats(); st != f.stats {
					t.Fatalf("[%d, %d) exchange %v: seq %d: stats %+v, want %+v", from, to, exch, ev.Seq, st, f.stats)
				}
				gb, ga := bookTop(s.Book(), 10)
				if d := diffLevels(gb, f.bids) + diffLevels(ga, f.asks); d != "" {
					t.Fatalf("[%d, %d) exchange %v: seq %d: %s", from, to, exch, ev.Seq, d)
				}
				got++
			}
			if got != len(want) {
				t.Fatalf("[%d, %d) exchange %v: %d events, want %d", from, to, exch, got, len(want))
			}
			if _, err := s.Next(); err != io.EOF {
				t.Fatalf("Next after io.EOF: %v", err)
			}
			s.Close()
		}
	}
}

func writeCSV(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "binance_incremental_book_L2_1970-01-01_XY.csv")
	if err := os.WriteFile(p, []byte("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStrict(t *testing.T) {
	dir := importCSV(t, writeCSV(t, `binance,XY,1,1,true,bid,100,1
binance,XY,1,1,true,ask,101,1
binance,XY,2,2,false,bid,102,1
binance,XY,3,3,false,bid,102,0
binance,XY,4,4,false,ask,99.5,1
binance,XY,5,5,false,ask,99.5,0
`), importCfg{every: 1})
	s, err := replay.Open(dir, replay.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var crossed []uint64
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		var ce *book.CrossedError
		switch {
		case errors.As(err, &ce):
			if ev == nil || ev.Seq != ce.Seq || ce.IngestTS != ev.IngestTS {
				t.Fatalf("crossed error %v comes with event %+v", ce, ev)
			}
			// The event is applied before the error.
			if bid, _ := s.Book().Best(book.Bid); bid != ce.Bid {
				t.Fatalf("book's best bid %+v, error says %+v", bid, ce.Bid)
			}
			crossed = append(crossed, ce.Seq)
		case err != nil:
			t.Fatal(err)
		}
	}
	if !slices.Equal(crossed, []uint64{1, 3}) {
		t.Fatalf("crossed at %v, want seqs 1 and 3", crossed)
	}
	if st := s.Stats(); st.CrossedEvents != 2 || st.FirstCrossedSeq != 1 || st.Events != 5 {
		t.Fatalf("stats %+v", st)
	}
	// Events before From are applied silently, even the crossed ones
	// (with checkpoints or without, the same).
	for _, noCkpt := range []bool{false, true} {
		s, err := replay.Open(dir, replay.Options{Strict: true, From: 4000, NoCheckpoints: noCkpt})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.Next()
		var ce *book.CrossedError
		if !errors.As(err, &ce) || ev.Seq != 3 {
			t.Fatalf("first event from 4000 ns: %+v, %v; want seq 3 crossed", ev, err)
		}
		if st := s.Stats(); st.CrossedEvents != 2 || st.FirstCrossedSeq != 1 {
			t.Fatalf("stats after a silent start: %+v", st)
		}
		s.Close()
	}
}

// TestUnusableCheckpoints: checkpoints that are not the ones meta.json
// lists (damaged, or another stream's) never change a book: BookAt fails
// with a *segment.CorruptionError naming the file. (A deleted one is
// replayed without: see TestBookAt.)
func TestUnusableCheckpoints(t *testing.T) {
	csvPath := synthCSV(t, 8, 4000)
	dir := importCSV(t, csvPath, importCfg{every: 50})
	other := importCSV(t, synthCSV(t, 9, 4000), importCfg{every: 50})
	ckpt := filepath.Join(dir, book.FileName)
	orig, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := os.ReadFile(filepath.Join(other, book.FileName))
	if err != nil {
		t.Fatal(err)
	}
	parts := refParts(t, csvPath)
	qs := queryTimes(rand.New(rand.NewSource(8)), parts, false, 15)
	want := refBookAt(parts, false, qs)
	// Another stream's file cut or padded to this one's size: only the
	// blake3 tells them apart (the file is hashed while the replay runs).
	sameSize := append(slices.Clone(foreign[:min(len(foreign), len(orig))]), make([]byte, max(0, len(orig)-len(foreign)))...)
	damage := map[string][]byte{
		"flipped level":             flipped(orig, len(orig)/2),
		"truncated":                 orig[:len(orig)-10],
		"other stream's":            foreign,
		"other stream's, same size": sameSize,
		"empty":                     {},
		"flipped trailer":           flipped(orig, len(orig)-5),
		"flipped header":            flipped(orig, 3),
	}
	for name, b := range damage {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(ckpt, b, 0o644); err != nil {
				t.Fatal(err)
			}
			// The manifest's check comes first, whatever else the file
			// would make go wrong: the error is that it is not this
			// stream's file, from BookAt and from Open, with or without
			// a From that would use it.
			check := func(what string, err error) {
				t.Helper()
				var ce *segment.CorruptionError
				if !errors.As(err, &ce) || ce.Path != ckpt || !strings.Contains(err.Error(), "meta.json") {
					t.Fatalf("%s with %s checkpoints: %v, want a corruption naming %s, from the manifest check", what, name, err, ckpt)
				}
			}
			for _, q := range qs[:3] {
				_, _, err := replay.BookAt(dir, q, replay.Options{})
				check("BookAt", err)
			}
			for _, from := range []uint64{0, qs[0]} {
				s, err := replay.Open(dir, replay.Options{From: from})
				if err == nil {
					s.Close()
				}
				check(fmt.Sprintf("Open from %d", from), err)
			}
			for _, q := range qs {
				b, last, err := replay.BookAt(dir, q, replay.Options{NoCheckpoints: true})
				if err != nil {
					t.Fatal(err)
				}
				gb, ga := bookTop(b, math.MaxInt)
				if d := diffLevels(gb, want[q].bids) + diffLevels(ga, want[q].asks); d != "" || last != want[q].last {
					t.Fatalf("BookAt(%d): %s; last %d want %d", q, d, last, want[q].last)
				}
			}
		})
	}
}

func flipped(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x10
	return c
}

// TestDamagedRecord: a damaged record is a *segment.CorruptionError
// from Next and from BookAt.
func TestDamagedRecord(t *testing.T) {
	dir := importCSV(t, binanceCSV, importCfg{every: 2})
	seg := filepath.Join(dir, "000000000.q")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1 // in the last record's payload
	os.WriteFile(seg, b, 0o644)
	_, _, err = replay.BookAt(dir, math.MaxUint64, replay.Options{})
	if !isCorruption(err) {
		t.Fatalf("BookAt over a damaged record: %v", err)
	}
	s, err := replay.Open(dir, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for err == nil {
		_, err = s.Next()
	}
	if !isCorruption(err) {
		t.Fatalf("Next over a damaged record: %v", err)
	}
}

func isCorruption(err error) bool { return segment.IsCorruption(err) }

// TestNextDoesNotAllocate: replaying allocates nothing per event once the
// book has grown (the event and the book's buffers are reused).
func TestNextDoesNotAllocate(t *testing.T) {
	dir := importCSV(t, synthCSV(t, 10, 6000), importCfg{})
	s, err := replay.Open(dir, replay.Options{From: 1, Strict: false})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2000 { // warm up: the book reaches its usual size
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	const per = 100
	allocs := testing.AllocsPerRun(30, func() {
		for range per {
			if _, err := s.Next(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs/per > 0.05 {
		t.Fatalf("%.2f allocations per event", allocs/per)
	}
}
