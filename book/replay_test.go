package book

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/chronicle-archive/chronicle/protocol"
)

type lv = protocol.Level

func L(p, s uint64) lv { return lv{Price: p, Size: s} }

// ev builds an event: typ, seq, ingest ts, exchange ts, price/size scale.
func ev(typ protocol.EventType, seq, its, ets uint64, ps, ss uint8, bids, asks []lv) protocol.Event {
	e := protocol.Event{Type: typ, Seq: seq, IngestTS: its, ExchangeTS: ets, PriceScale: ps, SizeScale: ss, Bids: bids, Asks: asks}
	if typ == protocol.Diff {
		e.DiffFlags = protocol.FlagAbsolute
	}
	return e
}

const (
	snap = protocol.Snapshot
	diff = protocol.Diff
)

func bookLevels(b *Book, s Side) []lv { return slices.Collect(b.All(s)) }

func TestReplayRules(t *testing.T) {
	for _, tc := range []struct {
		name       string
		events     []protocol.Event
		bids, asks []lv // best first, at the book's scales
		ps, ss     uint8
		stats      Stats
	}{
		{
			name: "snapshot then diffs",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1), L(99, 2)}, []lv{L(101, 3), L(102, 4)}),
				ev(diff, 1, 11, 11, 0, 0, []lv{L(100, 5), L(98, 6)}, []lv{L(101, 0)}),
			},
			bids: []lv{L(100, 5), L(99, 2), L(98, 6)}, asks: []lv{L(102, 4)},
			stats: Stats{Events: 2, Snapshots: 1, Diffs: 1, LevelUpdates: 7, Resets: 1},
		},
		{
			name: "mid-stream snapshot replaces the book entirely",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1), L(99, 2)}, []lv{L(101, 3)}),
				ev(diff, 1, 11, 11, 0, 0, []lv{L(97, 1)}, []lv{L(105, 1)}),
				ev(snap, 2, 12, 12, 0, 0, []lv{L(90, 7)}, []lv{L(95, 8)}),
			},
			bids: []lv{L(90, 7)}, asks: []lv{L(95, 8)},
			stats: Stats{Events: 3, Snapshots: 2, Diffs: 1, LevelUpdates: 7, Resets: 2},
		},
		{
			name: "snapshot split across events with equal timestamps is one reset",
			events: []protocol.Event{
				ev(snap, 0, 10, 9, 0, 0, []lv{L(100, 1)}, nil),
				ev(snap, 1, 10, 9, 0, 0, []lv{L(99, 2)}, nil),
				ev(snap, 2, 10, 9, 0, 0, nil, []lv{L(101, 3)}),
			},
			bids: []lv{L(100, 1), L(99, 2)}, asks: []lv{L(101, 3)},
			stats: Stats{Events: 3, Snapshots: 3, LevelUpdates: 3, Resets: 1},
		},
		{
			name: "consecutive snapshots with another exchange time are one reset",
			events: []protocol.Event{
				ev(snap, 0, 10, 9, 0, 0, []lv{L(100, 1)}, nil),
				ev(snap, 1, 10, 8, 0, 0, []lv{L(99, 2)}, nil),
			},
			bids:  []lv{L(100, 1), L(99, 2)},
			stats: Stats{Events: 2, Snapshots: 2, LevelUpdates: 2, Resets: 1},
		},
		{
			// Tardis: a run of snapshot rows is one reset, even when the
			// venue sent the snapshot as several messages.
			name: "consecutive snapshot messages with different local timestamps are one reset",
			events: []protocol.Event{
				ev(snap, 0, 10, 9, 0, 0, []lv{L(100, 1)}, []lv{L(102, 4)}),
				ev(snap, 1, 11, 10, 0, 0, []lv{L(99, 2)}, nil),
				ev(snap, 2, 15, 14, 0, 0, []lv{L(100, 0)}, []lv{L(101, 3)}),
			},
			bids: []lv{L(99, 2)}, asks: []lv{L(101, 3), L(102, 4)},
			stats: Stats{Events: 3, Snapshots: 3, LevelUpdates: 5, Resets: 1},
		},
		{
			name: "a snapshot after a diff is a new reset",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1)}, []lv{L(102, 4)}),
				ev(snap, 1, 11, 11, 0, 0, []lv{L(99, 2)}, nil),
				ev(diff, 2, 12, 12, 0, 0, []lv{L(98, 5)}, nil),
				ev(snap, 3, 13, 13, 0, 0, []lv{L(97, 6)}, nil),
				ev(snap, 4, 14, 14, 0, 0, nil, []lv{L(103, 7)}),
			},
			bids: []lv{L(97, 6)}, asks: []lv{L(103, 7)},
			stats: Stats{Events: 5, Snapshots: 4, Diffs: 1, LevelUpdates: 6, Resets: 2},
		},
		{
			name: "snapshot parts separated by a heartbeat are two resets",
			events: []protocol.Event{
				ev(snap, 0, 10, 9, 0, 0, []lv{L(100, 1)}, nil),
				ev(protocol.Heartbeat, 1, 10, 9, 0, 0, nil, nil),
				ev(snap, 2, 10, 9, 0, 0, []lv{L(99, 2)}, nil),
			},
			bids:  []lv{L(99, 2)},
			stats: Stats{Events: 3, Snapshots: 2, LevelUpdates: 2, Resets: 2},
		},
		{
			name: "diff at a smaller price scale deletes the level",
			events: []protocol.Event{
				// 60000.5 and 60000 at price scale 1.
				ev(snap, 0, 10, 10, 1, 0, []lv{L(600005, 1), L(600000, 2)}, []lv{L(600010, 3)}),
				// 60000 at price scale 0.
				ev(diff, 1, 11, 11, 0, 0, []lv{L(60000, 0)}, nil),
			},
			bids: []lv{L(600005, 1)}, asks: []lv{L(600010, 3)}, ps: 1,
			stats: Stats{Events: 2, Snapshots: 1, Diffs: 1, LevelUpdates: 4, Resets: 1},
		},
		{
			name: "diff at a larger scale raises the book's scales",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(60000, 1)}, []lv{L(60001, 2)}),
				ev(diff, 1, 11, 11, 2, 3, []lv{L(6000050, 1500)}, nil),
				ev(diff, 2, 12, 12, 1, 1, nil, []lv{L(600010, 0), L(600015, 5)}),
			},
			bids: []lv{L(6000050, 1500), L(6000000, 1000)}, asks: []lv{L(6000150, 500)}, ps: 2, ss: 3,
			stats: Stats{Events: 3, Snapshots: 1, Diffs: 2, LevelUpdates: 5, Resets: 1},
		},
		{
			name: "split snapshot with different scales",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 1, 0, []lv{L(600005, 1)}, nil),
				ev(snap, 1, 10, 10, 0, 2, []lv{L(60000, 250)}, nil),
			},
			bids: []lv{L(600005, 100), L(600000, 250)}, ps: 1, ss: 2,
			stats: Stats{Events: 2, Snapshots: 2, LevelUpdates: 2, Resets: 1},
		},
		{
			name: "new snapshot adopts its own (smaller) scales",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 4, 4, []lv{L(1, 1)}, nil),
				ev(diff, 1, 11, 11, 4, 4, []lv{L(2, 1)}, nil),
				ev(snap, 2, 12, 12, 0, 1, []lv{L(7, 3)}, nil),
			},
			bids: []lv{L(7, 3)}, ps: 0, ss: 1,
			stats: Stats{Events: 3, Snapshots: 2, Diffs: 1, LevelUpdates: 3, Resets: 2},
		},
		{
			name: "removing absent levels is counted",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1)}, []lv{L(101, 1)}),
				ev(diff, 1, 11, 11, 0, 0, []lv{L(99, 0), L(100, 0), L(100, 0)}, []lv{L(150, 0)}),
			},
			asks:  []lv{L(101, 1)},
			stats: Stats{Events: 2, Snapshots: 1, Diffs: 1, LevelUpdates: 6, Resets: 1, AbsentRemovals: 3},
		},
		{
			name: "size 0 inside a snapshot removes",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1), L(100, 0), L(99, 0)}, nil),
			},
			stats: Stats{Events: 1, Snapshots: 1, LevelUpdates: 3, Resets: 1, AbsentRemovals: 1},
		},
		{
			name: "events before the first snapshot are skipped",
			events: []protocol.Event{
				ev(diff, 5, 10, 10, 0, 0, []lv{L(1, 1)}, nil),
				ev(protocol.Heartbeat, 6, 10, 10, 0, 0, nil, nil),
				ev(diff, 7, 10, 10, 0, 0, nil, []lv{L(200, 1)}),
				ev(snap, 8, 11, 11, 0, 0, []lv{L(100, 1)}, nil),
				ev(diff, 9, 12, 12, 0, 0, []lv{L(99, 1)}, nil),
			},
			bids:  []lv{L(100, 1), L(99, 1)},
			stats: Stats{Events: 5, Snapshots: 1, Diffs: 3, LevelUpdates: 2, Resets: 1, SkippedBeforeSnapshot: 2},
		},
		{
			name: "reset event clears and skips diffs until the next snapshot",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 3, 3, []lv{L(100, 1)}, nil),
				ev(protocol.Reset, 1, 11, 11, 0, 0, nil, nil),
				ev(diff, 2, 12, 12, 0, 0, []lv{L(99, 1)}, nil),
				ev(snap, 3, 13, 13, 0, 0, nil, []lv{L(101, 1)}),
			},
			asks:  []lv{L(101, 1)},
			stats: Stats{Events: 4, Snapshots: 2, Diffs: 1, LevelUpdates: 2, Resets: 3, SkippedBeforeSnapshot: 1},
		},
		{
			name: "sequence gaps are counted, first one recorded",
			events: []protocol.Event{
				ev(diff, 100, 10, 10, 0, 0, nil, nil), // the first seq is free
				ev(snap, 101, 11, 11, 0, 0, []lv{L(100, 1)}, nil),
				ev(diff, 103, 12, 12, 0, 0, nil, nil),
				ev(diff, 104, 13, 13, 0, 0, nil, nil),
				ev(diff, 50, 14, 14, 0, 0, nil, nil), // backwards
				ev(diff, 50, 15, 15, 0, 0, nil, nil), // repeated
			},
			bids:  []lv{L(100, 1)},
			stats: Stats{Events: 6, Snapshots: 1, Diffs: 5, LevelUpdates: 1, Resets: 1, SkippedBeforeSnapshot: 1, Gaps: 3, FirstGapSeq: 103},
		},
		{
			name: "crossed books are counted after every event",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1)}, []lv{L(101, 1)}),
				ev(diff, 1, 11, 11, 0, 0, []lv{L(101, 1)}, nil), // bid == ask: crossed
				ev(diff, 2, 12, 12, 0, 0, []lv{L(102, 1)}, nil), // still crossed
				ev(diff, 3, 13, 13, 0, 0, []lv{L(101, 0), L(102, 0)}, nil),
			},
			bids: []lv{L(100, 1)}, asks: []lv{L(101, 1)},
			stats: Stats{Events: 4, Snapshots: 1, Diffs: 3, LevelUpdates: 6, Resets: 1, CrossedEvents: 2, FirstCrossedSeq: 1},
		},
		{
			name: "one-sided book is not crossed",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 0, 0, []lv{L(100, 1)}, nil),
			},
			bids:  []lv{L(100, 1)},
			stats: Stats{Events: 1, Snapshots: 1, LevelUpdates: 1, Resets: 1},
		},
		{
			name: "crossing across scales compares exactly",
			events: []protocol.Event{
				ev(snap, 0, 10, 10, 1, 0, []lv{L(1005, 1)}, nil),  // bid 100.5
				ev(diff, 1, 11, 11, 0, 0, nil, []lv{L(101, 1)}),   // ask 101: not crossed
				ev(diff, 2, 12, 12, 2, 0, nil, []lv{L(10050, 1)}), // ask 100.50: crossed
			},
			bids: []lv{L(10050, 1)}, asks: []lv{L(10050, 1), L(10100, 1)}, ps: 2,
			stats: Stats{Events: 3, Snapshots: 1, Diffs: 2, LevelUpdates: 3, Resets: 1, CrossedEvents: 1, FirstCrossedSeq: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReplayer(Options{})
			for i := range tc.events {
				if err := r.Apply(&tc.events[i]); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			b := r.Book()
			if got := bookLevels(b, Bid); !slices.Equal(got, tc.bids) {
				t.Errorf("bids %v, want %v", got, tc.bids)
			}
			if got := bookLevels(b, Ask); !slices.Equal(got, tc.asks) {
				t.Errorf("asks %v, want %v", got, tc.asks)
			}
			if ps, ss := b.Scales(); ps != tc.ps || ss != tc.ss {
				t.Errorf("scales %d/%d, want %d/%d", ps, ss, tc.ps, tc.ss)
			}
			if got := r.Stats(); got != tc.stats {
				t.Errorf("stats\n got %+v\nwant %+v", got, tc.stats)
			}
		})
	}
}

func TestStrictErrors(t *testing.T) {
	base := []protocol.Event{
		ev(snap, 0, 10, 9, 0, 0, []lv{L(100, 1)}, []lv{L(101, 1)}),
	}
	for _, tc := range []struct {
		name     string
		next     protocol.Event
		gap      *GapError
		crossed  *CrossedError
		gaps, cx uint64
	}{
		{name: "in order", next: ev(diff, 1, 11, 12, 0, 0, []lv{L(99, 1)}, nil)},
		{name: "gap", next: ev(diff, 3, 11, 12, 0, 0, nil, nil),
			gap: &GapError{Seq: 3, PrevSeq: 0, IngestTS: 11, ExchangeTS: 12}, gaps: 1},
		{name: "crossed", next: ev(diff, 1, 11, 12, 0, 0, []lv{L(102, 5)}, nil),
			crossed: &CrossedError{Seq: 1, IngestTS: 11, ExchangeTS: 12, Bid: L(102, 5), Ask: L(101, 1)}, cx: 1},
		{name: "gap and crossed", next: ev(diff, 7, 11, 12, 1, 0, nil, []lv{L(995, 2)}),
			gap:     &GapError{Seq: 7, PrevSeq: 0, IngestTS: 11, ExchangeTS: 12},
			crossed: &CrossedError{Seq: 7, IngestTS: 11, ExchangeTS: 12, Bid: L(1000, 1), Ask: L(995, 2), PriceScale: 1}, gaps: 1, cx: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				r := NewReplayer(Options{Strict: strict})
				for i := range base {
					if err := r.Apply(&base[i]); err != nil {
						t.Fatal(err)
					}
				}
				err := r.Apply(&tc.next)
				st := r.Stats()
				if st.Gaps != tc.gaps || st.CrossedEvents != tc.cx || st.Events != 2 {
					t.Errorf("strict=%v: stats %+v", strict, st)
				}
				if !strict {
					if err != nil {
						t.Errorf("non-strict error %v", err)
					}
					continue
				}
				var ge *GapError
				if errors.As(err, &ge) != (tc.gap != nil) || tc.gap != nil && *ge != *tc.gap {
					t.Errorf("gap error %v (%+v), want %+v", err, ge, tc.gap)
				}
				var ce *CrossedError
				if errors.As(err, &ce) != (tc.crossed != nil) || tc.crossed != nil && *ce != *tc.crossed {
					t.Errorf("crossed error %v (%+v), want %+v", err, ce, tc.crossed)
				}
				if tc.gap == nil && tc.crossed == nil && err != nil {
					t.Errorf("unexpected error %v", err)
				}
				if err != nil && err.Error() == "" {
					t.Error("empty error message")
				}
			}
		})
	}
}

// TestApplyErrorsLeaveStateUnchanged: overflow and unsupported events fail
// atomically.
func TestApplyErrorsLeaveStateUnchanged(t *testing.T) {
	const big = 2_000_000_000_000_000_000 // 2e18: ×10 overflows uint64
	for _, tc := range []struct {
		name   string
		before []protocol.Event
		bad    protocol.Event
		want   error
	}{
		{"raising the book's price scale overflows",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(5, 1)}, []lv{L(big, 1)})},
			ev(diff, 1, 2, 2, 1, 0, []lv{L(49, 1)}, nil), ErrScaleOverflow},
		{"raising the book's size scale overflows",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(5, big)}, nil)},
			ev(diff, 1, 2, 2, 0, 1, []lv{L(4, 1)}, nil), ErrScaleOverflow},
		{"scaling an event's price up overflows",
			[]protocol.Event{ev(snap, 0, 1, 1, 18, 0, []lv{L(1, 1)}, nil)},
			ev(diff, 1, 2, 2, 0, 0, []lv{L(2, 0), L(100, 1)}, nil), ErrScaleOverflow},
		{"scaling an event's size up overflows",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 5, []lv{L(1, 1)}, nil)},
			ev(diff, 1, 2, 2, 0, 0, nil, []lv{L(3, 1), L(2, big)}), ErrScaleOverflow},
		{"continuing split snapshot overflows",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(big, 1)}, nil)},
			ev(snap, 1, 1, 1, 1, 0, []lv{L(1, 1)}, nil), ErrScaleOverflow},
		{"scale above 18",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(5, 1)}, nil)},
			ev(diff, 1, 2, 2, 19, 0, nil, nil), ErrScaleOverflow},
		{"unknown event type",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(5, 1)}, nil)},
			ev(9, 1, 2, 2, 0, 0, nil, nil), ErrUnsupported},
		{"delta diff",
			[]protocol.Event{ev(snap, 0, 1, 1, 0, 0, []lv{L(5, 1)}, nil)},
			protocol.Event{Type: diff, Seq: 1, DiffFlags: protocol.FlagDelta}, ErrUnsupported},
		{"L3 snapshot",
			nil,
			protocol.Event{Type: snap, BookMode: protocol.ModeL3}, ErrUnsupported},
		{"heartbeat with levels",
			nil,
			protocol.Event{Type: protocol.Heartbeat, Bids: []lv{L(1, 1)}}, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReplayer(Options{Strict: true})
			for i := range tc.before {
				if err := r.Apply(&tc.before[i]); err != nil {
					t.Fatal(err)
				}
			}
			var before, after Checkpoint
			r.Checkpoint(&before)
			err := r.Apply(&tc.bad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			r.Checkpoint(&after)
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("state changed\nbefore %+v\n after %+v", before, after)
			}
		})
	}
}

// TestHugeSplitSnapshot: a snapshot of more levels than a u16 count holds,
// split across events (in an order that interleaves the parts' prices).
func TestHugeSplitSnapshot(t *testing.T) {
	const n = 70_000
	var bids, asks []lv
	for i := range uint64(n) {
		bids = append(bids, L(1_000_000-i, i+1)) // best first
		asks = append(asks, L(1_000_001+i, i+1))
	}
	// Part 1: the best 65535 bids and every other ask; part 2: the rest.
	var a1, a2 []lv
	for i, a := range asks {
		if i%2 == 0 {
			a1 = append(a1, a)
		} else {
			a2 = append(a2, a)
		}
	}
	slices.Reverse(a2) // worst first: neither sorted direction
	a2[0], a2[len(a2)/2] = a2[len(a2)/2], a2[0]
	evs := []protocol.Event{
		ev(snap, 0, 5, 5, 0, 0, bids[:protocol.MaxDiffLevels], a1),
		ev(snap, 1, 5, 5, 0, 0, bids[protocol.MaxDiffLevels:], a2),
		ev(diff, 2, 6, 6, 0, 0, []lv{L(1_000_000, 0)}, []lv{L(1_000_001+n, 9)}),
	}
	r := NewReplayer(Options{Strict: true})
	replayAll(t, r, evs)
	b := r.Book()
	if b.Len(Bid) != n-1 || b.Len(Ask) != n+1 {
		t.Fatalf("Len %d/%d, want %d/%d", b.Len(Bid), b.Len(Ask), n-1, n+1)
	}
	if !slices.Equal(bookLevels(b, Bid), bids[1:]) {
		t.Error("bids differ")
	}
	if !slices.Equal(bookLevels(b, Ask), append(slices.Clone(asks), L(1_000_001+n, 9))) {
		t.Error("asks differ")
	}
	if st := r.Stats(); st.Resets != 1 || st.LevelUpdates != 2*n+2 {
		t.Errorf("stats %+v", st)
	}
}
