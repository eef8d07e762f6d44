package stream

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

// The range readers read the day directories of one stream (Resolve's
// answer for an Address) as one stream, in the order given, bounded by a
// time range on the local timestamp. Like package replay, the bound is on
// the running maximum M of the local timestamps, so that it selects one
// contiguous run: they skip the records before the first one at or after
// From, and end at the first one at or after To. Tardis writes
// local_timestamp in arrival order, so on its data this is exactly the
// records with From <= local_ts < To.
//
// They start near From cheaply: days whose meta.json time range ends
// before From are not opened, and in a book stream a checkpoint (whose max
// local timestamp is before From) positions the reader; a day is opened
// only when the one before it is done. Each day's checks are those of
// OpenEvents and OpenRecords, and its event count is checked when it is
// read to its end.

// EventsRange reads the BookEvents of several days of a book stream.
type EventsRange struct{ d days }

// OpenEventsRange opens the book stream days dirs, bounded by r.
func OpenEventsRange(fsys vfs.FS, dirs []string, r timespec.Range) (*EventsRange, error) {
	e := &EventsRange{}
	if err := e.d.init(fsys, dirs, r, true); err != nil {
		return nil, err
	}
	return e, nil
}

// Next returns the next event in the range, valid until the following
// call; io.EOF at the end.
func (e *EventsRange) Next() (*protocol.Event, error) {
	if _, err := e.d.Next(); err != nil {
		return nil, err
	}
	return e.d.ev, nil
}

// Warning is non-empty when no day's data overlaps the range: a message
// for the CLI to print on stderr (reading then returns no event).
func (e *EventsRange) Warning() string { return e.d.warning }

// Close closes the open day's files.
func (e *EventsRange) Close() error { return e.d.Close() }

// RecordsRange reads the records of several days of a stream of another
// type than BookEvent; every day must hold the same record type.
type RecordsRange struct{ d days }

// OpenRecordsRange opens the stream days dirs, bounded by r.
func OpenRecordsRange(fsys vfs.FS, dirs []string, r timespec.Range) (*RecordsRange, error) {
	rr := &RecordsRange{}
	if err := rr.d.init(fsys, dirs, r, false); err != nil {
		return nil, err
	}
	return rr, nil
}

// Next returns the next record in the range, valid until the following
// call; io.EOF at the end.
func (rr *RecordsRange) Next() (*record.Record, error) {
	if _, err := rr.d.Next(); err != nil {
		return nil, err
	}
	return rr.d.rec, nil
}

// Type is the streams' record type.
func (rr *RecordsRange) Type() *record.Type { return rr.d.typ }

// Warning: see EventsRange.Warning.
func (rr *RecordsRange) Warning() string { return rr.d.warning }

// Close closes the open day's files.
func (rr *RecordsRange) Close() error { return rr.d.Close() }

// days is the reader behind both: a merge.Source whose Next returns the
// local timestamp and leaves the item in ev or rec.
type days struct {
	fsys  vfs.FS
	dirs  []string
	metas []*archive.Meta // as read at open, to skip days without opening them
	book  bool
	typ   *record.Type // of every day

	hasFrom, hasTo bool
	from, to       uint64

	next    int // the day to open after the current one
	evs     *Events
	recs    *Records
	ev      *protocol.Event
	rec     *record.Record
	started bool // a record at or after From has been read
	done    bool
	// After a checkpoint seek, the seq the first event must have.
	wantSeq  uint64
	checkSeq bool
	ckptPath string
	warning  string
}

func (d *days) init(fsys vfs.FS, dirs []string, r timespec.Range, isBook bool) error {
	if len(dirs) == 0 {
		return fmt.Errorf("no stream directory to read")
	}
	d.fsys, d.dirs, d.book = vfs.OrDefault(fsys), dirs, isBook
	d.hasFrom, d.from = r.HasFrom && r.From > 0, uint64(max(r.From, 0))
	d.hasTo, d.to = r.HasTo, uint64(max(r.To, 0))
	overlap := false
	for i, dir := range dirs {
		m, err := archive.ReadMeta(d.fsys, dir)
		if err != nil {
			// OpenEvents and OpenRecords say best what is wrong.
			if oerr := d.open(dir); oerr != nil {
				return oerr
			}
			d.closeDay()
			return err
		}
		t, err := typeOf(m, dir)
		if err != nil {
			return err
		}
		switch {
		case isBook && t != record.BookEvent:
			return fmt.Errorf("%s holds %s, not an incremental_book_L2 stream", dir, holds(m))
		case !isBook && t.Reference:
			return fmt.Errorf("%s holds %s: use OpenEventsRange", dir, holds(m))
		case i == 0:
			d.typ = t
		case t != d.typ:
			return fmt.Errorf("%s holds %s, but %s holds %s: the days of one stream hold one type", dir, holds(m), dirs[0], holds(d.metas[0]))
		}
		d.metas = append(d.metas, m)
		if tr := m.EventTimeRange; tr != nil && (!d.hasFrom || tr[1] >= d.from) && (!d.hasTo || tr[0] < d.to) {
			overlap = true
		}
	}
	if !overlap {
		d.warning = fmt.Sprintf("no data in %s: %s", rangeString(r), dataSpan(dirs, d.metas))
	}
	return nil
}

// dataSpan describes the time range the days hold, for the warning.
func dataSpan(dirs []string, metas []*archive.Meta) string {
	var lo, hi uint64
	seen := false
	for _, m := range metas {
		if tr := m.EventTimeRange; tr != nil {
			if !seen || tr[0] < lo {
				lo = tr[0]
			}
			hi = max(hi, tr[1])
			seen = true
		}
	}
	what := dirs[0] + " holds"
	if len(dirs) > 1 {
		what = fmt.Sprintf("the %d days %s..%s hold", len(dirs), dirs[0], dirs[len(dirs)-1])
	}
	if !seen {
		return what + " no records"
	}
	return fmt.Sprintf("%s data from %s to %s", what, timespec.Format(int64(lo)), timespec.Format(int64(hi)))
}

// open opens one day with the reader of its kind.
func (d *days) open(dir string) error {
	if d.book {
		evs, err := OpenEvents(d.fsys, dir)
		if err != nil {
			return err
		}
		d.evs, d.ev = evs, &evs.ev
		return nil
	}
	recs, err := OpenRecords(d.fsys, dir)
	if err != nil {
		return err
	}
	if d.typ != nil && recs.Type() != d.typ {
		// meta.json changed since init (a --force import).
		recs.Close()
		return fmt.Errorf("%s holds %s now, not %s records", dir, holds(recs.Meta()), d.typ.Name)
	}
	d.recs, d.rec = recs, &recs.rec
	return nil
}

// openNext opens the next day that may hold records in range; false when
// there is none.
func (d *days) openNext() (bool, error) {
	for ; d.next < len(d.dirs); d.next++ {
		tr := d.metas[d.next].EventTimeRange
		if !d.started && d.hasFrom && (tr == nil || tr[1] < d.from) {
			continue // every record of the day is before From
		}
		if d.hasTo && tr != nil && tr[0] >= d.to {
			return false, nil // and so are the later days'
		}
		dir := d.dirs[d.next]
		d.next++
		if err := d.open(dir); err != nil {
			return false, err
		}
		if !d.started && d.hasFrom && d.book {
			return true, d.seekEvents(dir)
		}
		return true, nil
	}
	return false, nil
}

// seekEvents positions a book day at its last checkpoint before From, if
// it has one.
func (d *days) seekEvents(dir string) error {
	cf, err := d.evs.Checkpoints()
	if err != nil || cf == nil {
		return err
	}
	i, ok := cf.Find(d.from-1, false)
	if !ok {
		return nil
	}
	info := cf.Info(i)
	if info.SegmentID == 0 && info.Offset == segment.HeaderSize {
		return nil // the start of the stream
	}
	d.ckptPath = filepath.Join(dir, book.FileName)
	if err := d.evs.Seek(info.SegmentID, info.Offset); err != nil {
		if segment.IsCorruption(err) {
			return err
		}
		return &segment.CorruptionError{Path: d.ckptPath, Offset: info.RecordOffset, Err: fmt.Errorf("checkpoint %d: %w", i, err)}
	}
	d.wantSeq, d.checkSeq = info.Seq+1, true
	return nil
}

// Next advances to the next record in range and returns its local
// timestamp (merge.Source); io.EOF at the end, and from then on.
//
// It reads the open day's archive.Stream itself and decodes a trade or a
// book event in place with the checks of Records.decode or Events.decode
// (which give the error when one fails), rather than through Records.Next
// or Events.Next: a merged replay calls it for every record, and each
// call level is a few percent of what a record costs.
func (d *days) Next() (uint64, error) {
	for !d.done {
		var ts uint64
		var err error
		switch {
		case d.recs != nil:
			r := d.recs
			var rec *segment.Record
			if rec, err = r.s.Next(); err == nil {
				// Records.decode's checks, with a trade decoded straight
				// (two call levels fewer); anything else, or anything
				// wrong, goes through Records.decode for the error.
				// decodeTrade sets the stream's symbol itself.
				if dec := r.dec; !dec.trade || rec.TypeID != r.t.ID || !dec.decodeTrade(rec.Payload, &r.rec) ||
					rec.Timestamp != r.rec.LocalTS || r.sym == "" && r.rec.StreamSymbol {
					err = r.decode(rec)
				}
				ts = r.rec.LocalTS
			}
		case d.evs != nil:
			e := d.evs
			var rec *segment.Record
			if rec, err = e.s.Next(); err == nil {
				// Events.decode's checks; what fails them goes through it
				// again for the error.
				if rec.TypeID != protocol.TypeBookEvent || protocol.DecodeEventView(rec.Payload, &e.ev) != nil ||
					rec.Seq != e.ev.Seq || rec.Timestamp != e.ev.IngestTS {
					err = e.decode(rec)
				}
				if err == nil && d.checkSeq {
					err = d.checkFirst()
				}
				ts = e.ev.IngestTS
			}
		default:
			ok, err := d.openNext()
			if err != nil {
				return 0, err
			}
			if !ok {
				d.done = true
				return 0, io.EOF
			}
			continue
		}
		if err == io.EOF {
			err = d.closeDay()
			if err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		if !d.started {
			if d.hasFrom && ts < d.from {
				continue
			}
			d.started = true
		}
		if d.hasTo && ts >= d.to {
			d.done = true
			return 0, io.EOF
		}
		return ts, nil
	}
	return 0, io.EOF
}

// checkFirst checks the seq of the first event read after a checkpoint
// seek.
func (d *days) checkFirst() error {
	d.checkSeq = false
	// The checkpoint file is this stream's (its manifest entry says so),
	// yet points at another record: it is damaged.
	if seq := d.evs.ev.Seq; seq != d.wantSeq {
		return &segment.CorruptionError{Path: d.ckptPath, Offset: -1, Err: fmt.Errorf("its position holds seq %d, want %d", seq, d.wantSeq)}
	}
	return nil
}

func (d *days) closeDay() error {
	var err error
	if d.evs != nil {
		err = d.evs.Close()
	}
	if d.recs != nil {
		err = d.recs.Close()
	}
	d.evs, d.recs, d.checkSeq = nil, nil, false
	return err
}

// Close closes the open day's files.
func (d *days) Close() error {
	d.done = true
	return d.closeDay()
}
