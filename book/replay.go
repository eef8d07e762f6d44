package book

import (
	"errors"
	"fmt"

	"github.com/chronicle-archive/chronicle/protocol"
)

// Options configures a Replayer.
type Options struct {
	// Strict makes Apply return a *GapError for a sequence gap and a
	// *CrossedError for a crossed book. The event is applied and counted
	// first either way, so Stats do not depend on Strict.
	Strict bool
}

// Stats counts what a Replayer has seen. Counters are cumulative since the
// Replayer was created (or since the checkpoint it was restored from).
type Stats struct {
	Events    uint64 // every event passed to Apply without an input error
	Snapshots uint64 // Snapshot events, counting each event of a run
	Diffs     uint64 // Diff events, including skipped ones
	// LevelUpdates counts levels applied to the book (skipped events' levels
	// are not counted).
	LevelUpdates uint64
	// Resets counts book resets: the first Snapshot event of each run of
	// consecutive Snapshot events (a run is one snapshot) and every Reset
	// event.
	Resets uint64
	// AbsentRemovals counts size-0 levels whose price was not in the book.
	AbsentRemovals uint64
	// SkippedBeforeSnapshot counts Diff events ignored because no snapshot
	// had been seen (at the start, or since a Reset event).
	SkippedBeforeSnapshot uint64
	// Gaps counts events whose Seq is not the previous event's Seq + 1.
	Gaps uint64
	// CrossedEvents counts events after which the book was crossed.
	CrossedEvents uint64
	// FirstGapSeq and FirstCrossedSeq are the Seq of the first such event;
	// they are meaningful only when Gaps or CrossedEvents is non-zero.
	FirstGapSeq     uint64
	FirstCrossedSeq uint64
}

// GapError is Apply's Strict-mode error for an event whose Seq does not
// follow the previous event's.
type GapError struct {
	Seq, PrevSeq         uint64
	IngestTS, ExchangeTS uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("book: seq gap: seq %d after %d (ingest_ts %d, exchange_ts %d)", e.Seq, e.PrevSeq, e.IngestTS, e.ExchangeTS)
}

// CrossedError is Apply's Strict-mode error for an event after which the
// book is crossed. Bid and Ask are the best levels at PriceScale/SizeScale.
type CrossedError struct {
	Seq                  uint64
	IngestTS, ExchangeTS uint64
	Bid, Ask             protocol.Level
	PriceScale           uint8
	SizeScale            uint8
}

func (e *CrossedError) Error() string {
	return fmt.Sprintf("book: crossed book after seq %d (ingest_ts %d, exchange_ts %d): best bid %d >= best ask %d at price scale %d",
		e.Seq, e.IngestTS, e.ExchangeTS, e.Bid.Price, e.Ask.Price, e.PriceScale)
}

// ErrUnsupported reports an event the replayer cannot apply (unknown type,
// L3 book mode, DELTA diff, levels on a Reset or Heartbeat). The replayer is
// unchanged.
var ErrUnsupported = errors.New("book: unsupported event")

// Replayer applies a stream of events to a Book, following Tardis's book
// rules (see Apply), and counts what it sees.
type Replayer struct {
	opts         Options
	book         Book
	stats        Stats
	snapshotSeen bool // a snapshot has been applied since the start or the last Reset event
	lastType     protocol.EventType
	lastSeq      uint64
	lastIngest   uint64
	lastExchange uint64
	maxIngest    uint64
	maxExchange  uint64
}

// NewReplayer returns a Replayer with an empty book.
func NewReplayer(opts Options) *Replayer { return &Replayer{opts: opts} }

// Book returns the replayer's book. Read it, do not change it.
func (r *Replayer) Book() *Book { return &r.book }

// Stats returns the counters so far.
func (r *Replayer) Stats() Stats { return r.stats }

// Apply applies one event.
//
//   - Snapshot: a Snapshot event that comes first or follows any other
//     event type resets the book (Resets++), adopting the snapshot's scales,
//     then sets its levels (size 0 removes, as in a diff). Consecutive
//     Snapshot events, whatever their timestamps, are one snapshot: only the
//     first of the run resets, the others add their levels. This is
//     Tardis's rule ("a run of is_snapshot=true rows after non-snapshot
//     rows means the book was reset"): a snapshot sent as several messages
//     (several local timestamps) builds one book.
//   - Diff: each level sets the new total size at its price (ABSOLUTE); size
//     0 removes, and removing an absent level is counted (AbsentRemovals),
//     not an error. Diffs before the first snapshot (or after a Reset event
//     until the next snapshot) are counted in SkippedBeforeSnapshot and
//     ignored, as Tardis's own book consumers do.
//   - Reset: clears the book; diffs are skipped until the next snapshot.
//   - Heartbeat: only counted.
//
// Seq must grow by exactly one from each event to the next, whatever their
// types (the first event's Seq is free); otherwise Gaps++.
//
// After every event, once a snapshot has been seen, a crossed book is
// counted (CrossedEvents). This includes each event of a snapshot run: the
// book is checked as it stands after the event, so that no lookahead is
// needed. A part of a snapshot can only look crossed when the whole snapshot
// is (it holds a subset of the snapshot's levels), unless the snapshot itself
// removes levels with size 0.
//
// Errors. An unsupported event or a scale overflow (a level that does not fit
// in 64 bits at the book's scale, or a book that does not fit at the event's
// larger scale) returns an error and leaves the replayer entirely unchanged,
// as if Apply had not been called. With Options.Strict a gap returns a
// *GapError and a crossed book a *CrossedError (both, joined, when both
// happen), after the event has been applied and counted.
func (r *Replayer) Apply(ev *protocol.Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	b := &r.book
	apply := false
	var mp, ms uint64 = 1, 1
	switch ev.Type {
	case protocol.Snapshot:
		apply = true
		if r.continues() {
			var err error
			if mp, ms, err = b.prepare(ev.Bids, ev.Asks, ev.PriceScale, ev.SizeScale); err != nil {
				return fmt.Errorf("seq %d: %w", ev.Seq, err)
			}
		} else {
			// An empty book takes any scale exactly: no conversion, no overflow.
			b.Clear()
			b.priceScale, b.sizeScale = ev.PriceScale, ev.SizeScale
			r.snapshotSeen = true
			r.stats.Resets++
		}
		r.stats.Snapshots++
	case protocol.Diff:
		if r.snapshotSeen {
			var err error
			if mp, ms, err = b.prepare(ev.Bids, ev.Asks, ev.PriceScale, ev.SizeScale); err != nil {
				return fmt.Errorf("seq %d: %w", ev.Seq, err)
			}
			apply = true
		} else {
			r.stats.SkippedBeforeSnapshot++
		}
		r.stats.Diffs++
	case protocol.Reset:
		b.Clear()
		r.snapshotSeen = false
		r.stats.Resets++
	}
	if apply {
		absent := b.apply(Bid, ev.Bids, mp, ms) + b.apply(Ask, ev.Asks, mp, ms)
		r.stats.AbsentRemovals += uint64(absent)
		r.stats.LevelUpdates += uint64(len(ev.Bids) + len(ev.Asks))
	}

	var gapErr, crossErr error
	if r.stats.Events > 0 && ev.Seq != r.lastSeq+1 {
		if r.stats.Gaps == 0 {
			r.stats.FirstGapSeq = ev.Seq
		}
		r.stats.Gaps++
		if r.opts.Strict {
			gapErr = &GapError{Seq: ev.Seq, PrevSeq: r.lastSeq, IngestTS: ev.IngestTS, ExchangeTS: ev.ExchangeTS}
		}
	}
	if r.snapshotSeen && b.Crossed() {
		if r.stats.CrossedEvents == 0 {
			r.stats.FirstCrossedSeq = ev.Seq
		}
		r.stats.CrossedEvents++
		if r.opts.Strict {
			bid, _ := b.Best(Bid)
			ask, _ := b.Best(Ask)
			crossErr = &CrossedError{Seq: ev.Seq, IngestTS: ev.IngestTS, ExchangeTS: ev.ExchangeTS,
				Bid: bid, Ask: ask, PriceScale: b.priceScale, SizeScale: b.sizeScale}
		}
	}
	if r.stats.Events == 0 {
		r.maxIngest, r.maxExchange = ev.IngestTS, ev.ExchangeTS
	} else {
		r.maxIngest, r.maxExchange = max(r.maxIngest, ev.IngestTS), max(r.maxExchange, ev.ExchangeTS)
	}
	r.stats.Events++
	r.lastType, r.lastSeq = ev.Type, ev.Seq
	r.lastIngest, r.lastExchange = ev.IngestTS, ev.ExchangeTS

	switch {
	case gapErr != nil && crossErr != nil:
		return errors.Join(gapErr, crossErr)
	case gapErr != nil:
		return gapErr
	case crossErr != nil:
		return crossErr
	}
	return nil
}

// continues reports whether a snapshot continues the run of Snapshot events
// the previous event belonged to. Only the type matters: timestamps differ
// when a venue sends one snapshot as several messages.
func (r *Replayer) continues() bool {
	return r.stats.Events > 0 && r.lastType == protocol.Snapshot
}

// checkEvent rejects what Apply cannot interpret.
func checkEvent(ev *protocol.Event) error {
	switch ev.Type {
	case protocol.Snapshot, protocol.Diff:
		if ev.BookMode != protocol.ModeL2 {
			return fmt.Errorf("%w: seq %d: book_mode %d, want L2", ErrUnsupported, ev.Seq, ev.BookMode)
		}
		if ev.Type == protocol.Diff && ev.DiffFlags&protocol.FlagDelta != 0 {
			// Sizes are unsigned totals; a DELTA diff would need signed changes.
			return fmt.Errorf("%w: seq %d: DELTA diff", ErrUnsupported, ev.Seq)
		}
		if ev.PriceScale > protocol.MaxScale || ev.SizeScale > protocol.MaxScale {
			return fmt.Errorf("%w: seq %d: price_scale %d / size_scale %d above %d", ErrScaleOverflow, ev.Seq, ev.PriceScale, ev.SizeScale, protocol.MaxScale)
		}
	case protocol.Reset, protocol.Heartbeat:
		if len(ev.Bids)+len(ev.Asks) != 0 {
			return fmt.Errorf("%w: seq %d: %v event with levels", ErrUnsupported, ev.Seq, ev.Type)
		}
	default:
		return fmt.Errorf("%w: seq %d: %v", ErrUnsupported, ev.Seq, ev.Type)
	}
	return nil
}
