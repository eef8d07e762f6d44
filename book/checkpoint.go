package book

import (
	"errors"
	"fmt"

	"github.com/chronicle-archive/chronicle/protocol"
)

// Checkpoint is the complete state of a Replayer: restoring it into a fresh
// Replayer and applying the events that follow gives exactly the book and
// Stats of an uninterrupted replay.
type Checkpoint struct {
	// SegmentID and Offset locate the NEXT record to read after this state.
	// The Replayer does not know them: Replayer.Checkpoint zeroes them and
	// the caller fills them in.
	SegmentID uint32
	Offset    int64

	// Seq, IngestTS, ExchangeTS and LastType are those of the last event
	// applied (all zero when Stats.Events is 0). LastType decides whether a
	// following Snapshot continues a run of Snapshot events (one reset) or
	// starts a new one.
	Seq        uint64
	IngestTS   uint64
	ExchangeTS uint64
	LastType   protocol.EventType

	// MaxIngestTS and MaxExchangeTS are the largest timestamps of all events
	// applied so far. They, unlike the last event's timestamps, never
	// decrease along a replay (exchange time in Tardis data can go
	// backwards), so a checkpoint file can binary-search them.
	MaxIngestTS   uint64
	MaxExchangeTS uint64

	// SnapshotSeen is false before the first snapshot and after a Reset
	// event, when diffs are skipped; the book is then empty.
	SnapshotSeen bool

	Stats Stats

	// The book: its scales and levels, best first, at those scales.
	PriceScale uint8
	SizeScale  uint8
	Bids       []protocol.Level
	Asks       []protocol.Level
}

// ErrInvalidCheckpoint reports a checkpoint whose state is inconsistent.
var ErrInvalidCheckpoint = errors.New("book: invalid checkpoint")

// Checkpoint captures the replayer's state into dst, reusing dst.Bids and
// dst.Asks. dst.SegmentID and dst.Offset are set to zero for the caller to
// fill in.
func (r *Replayer) Checkpoint(dst *Checkpoint) {
	*dst = Checkpoint{
		Seq:           r.lastSeq,
		IngestTS:      r.lastIngest,
		ExchangeTS:    r.lastExchange,
		LastType:      r.lastType,
		MaxIngestTS:   r.maxIngest,
		MaxExchangeTS: r.maxExchange,
		SnapshotSeen:  r.snapshotSeen,
		Stats:         r.stats,
		PriceScale:    r.book.priceScale,
		SizeScale:     r.book.sizeScale,
		Bids:          r.book.Top(Bid, r.book.Len(Bid), dst.Bids[:0]),
		Asks:          r.book.Top(Ask, r.book.Len(Ask), dst.Asks[:0]),
	}
}

// Restore replaces the replayer's state with cp (the Options stay). It
// checks cp first (see Validate) and leaves the replayer unchanged on error.
func (r *Replayer) Restore(cp *Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	r.snapshotSeen = cp.SnapshotSeen
	r.lastType, r.lastSeq = cp.LastType, cp.Seq
	r.lastIngest, r.lastExchange = cp.IngestTS, cp.ExchangeTS
	r.maxIngest, r.maxExchange = cp.MaxIngestTS, cp.MaxExchangeTS
	r.stats = cp.Stats
	b := &r.book
	b.priceScale, b.sizeScale = cp.PriceScale, cp.SizeScale
	for s, lv := range [2][]protocol.Level{cp.Bids, cp.Asks} {
		m := Side(s).mask()
		sd := &b.sides[s]
		sd.clear()
		for i := len(lv) - 1; i >= 0; i-- {
			sd.rest = append(sd.rest, protocol.Level{Price: lv[i].Price ^ m, Size: lv[i].Size})
		}
		sd.settle()
	}
	return nil
}

// Validate checks that cp is a state a Replayer can be in: scales at most
// protocol.MaxScale, levels strictly best first with non-zero sizes, an
// empty book when no snapshot is in effect, last-event fields that agree
// with Stats.Events, and a snapshot in effect when the last event was one.
func (cp *Checkpoint) Validate() error {
	if cp.PriceScale > protocol.MaxScale || cp.SizeScale > protocol.MaxScale {
		return fmt.Errorf("%w: price_scale %d / size_scale %d above %d", ErrInvalidCheckpoint, cp.PriceScale, cp.SizeScale, protocol.MaxScale)
	}
	if cp.Stats.Events == 0 {
		if cp.LastType != 0 || cp.Seq != 0 || cp.IngestTS != 0 || cp.ExchangeTS != 0 || cp.MaxIngestTS != 0 || cp.MaxExchangeTS != 0 {
			return fmt.Errorf("%w: last-event fields set but no events applied", ErrInvalidCheckpoint)
		}
	} else {
		if cp.LastType < protocol.Snapshot || cp.LastType > protocol.Heartbeat {
			return fmt.Errorf("%w: last event type %d", ErrInvalidCheckpoint, uint8(cp.LastType))
		}
		if cp.MaxIngestTS < cp.IngestTS || cp.MaxExchangeTS < cp.ExchangeTS {
			return fmt.Errorf("%w: max timestamps below the last event's", ErrInvalidCheckpoint)
		}
		// A snapshot run that the next Snapshot would continue has been
		// applied: diffs are not being skipped.
		if cp.LastType == protocol.Snapshot && !cp.SnapshotSeen {
			return fmt.Errorf("%w: last event a snapshot but no snapshot seen", ErrInvalidCheckpoint)
		}
	}
	if !cp.SnapshotSeen && len(cp.Bids)+len(cp.Asks) != 0 {
		return fmt.Errorf("%w: levels without a snapshot", ErrInvalidCheckpoint)
	}
	if err := checkLevels(cp.Bids, Bid); err != nil {
		return err
	}
	return checkLevels(cp.Asks, Ask)
}

// checkLevels checks that lv is strictly best first with non-zero sizes.
func checkLevels(lv []protocol.Level, s Side) error {
	m := s.mask()
	for i, l := range lv {
		if l.Size == 0 {
			return fmt.Errorf("%w: %v level %d (price %d) has size 0", ErrInvalidCheckpoint, s, i, l.Price)
		}
		// Best first means keys strictly descending.
		if i > 0 && l.Price^m >= lv[i-1].Price^m {
			return fmt.Errorf("%w: %v levels %d and %d (prices %d, %d) not strictly best first", ErrInvalidCheckpoint, s, i-1, i, lv[i-1].Price, l.Price)
		}
	}
	return nil
}
