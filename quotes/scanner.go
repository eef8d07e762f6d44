package quotes

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/timespec"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Scanner reads the quotes of a book stream over a time range, across
// days: what a `quotes` command prints.
//
// The range is on local_timestamp, [From, To), with the range readers'
// rule (stream.OpenEventsRange): the quotes of the messages from the first
// one at or after From to the first one at or after To. Without From, the
// days are replayed from the first one's start, the book carried from day
// to day. With From, the book at From is rebuilt from the day whose data
// reaches From, from its nearest checkpoint at or before From, exactly as
// `book --at` rebuilds it: the days before it are not read, so that a late
// From costs milliseconds. Tardis's day files open with a snapshot, so this
// is the book of the whole replay; a day that does not open with one is
// rebuilt from its first snapshot. The quotes of a range are then exactly
// the whole stream's quotes in that range: a quote is made only when the
// top changed since the book just before it.
type Scanner struct {
	d      *Deriver
	meta   *archive.Meta // of the first day
	ps, ss uint8

	hasFrom, hasTo bool
	from, to       uint64
	started        bool // an event at or after From has been read

	// The day From falls in, read on its own from a checkpoint; nil when
	// done or without From.
	day      *stream.Events
	dayDir   string
	checkSeq bool
	wantSeq  uint64
	// The days after it (or all days, without From).
	rest   []string
	restR  timespec.Range
	rng    *stream.EventsRange
	fsys   vfs.FS
	done   bool
	warned string
}

// Open opens the quotes of the book stream days dirs (stream.Resolve's
// answer, in date order) in r.
func Open(fsys vfs.FS, dirs []string, r timespec.Range) (*Scanner, error) {
	fsys = vfs.OrDefault(fsys)
	// The range reader checks the days (one type, readable meta.json) and
	// words the warning for a range without data.
	probe, err := stream.OpenEventsRange(fsys, dirs, r)
	if err != nil {
		return nil, err
	}
	warning := probe.Warning()
	probe.Close()
	metas := make([]*archive.Meta, len(dirs))
	for i, dir := range dirs {
		if metas[i], err = archive.ReadMeta(fsys, dir); err != nil {
			return nil, err
		}
	}
	s := &Scanner{meta: metas[0], fsys: fsys, warned: warning,
		hasFrom: r.HasFrom && r.From > 0, from: uint64(max(r.From, 0)),
		hasTo: r.HasTo, to: uint64(max(r.To, 0))}
	s.ps, s.ss = Scales(metas...)
	s.d = New(s.Symbol())
	s.restR = timespec.Range{To: r.To, HasTo: r.HasTo} // From is applied here, by priming
	if !s.hasFrom {
		s.rest = dirs
		return s, nil
	}
	k := len(dirs) // the first day whose data reaches From
	for i, m := range metas {
		if tr := m.EventTimeRange; tr != nil && tr[1] >= s.from {
			k = i
			break
		}
	}
	if k == len(dirs) {
		s.done = true
		return s, nil
	}
	s.rest = dirs[k+1:]
	if err := s.openDay(dirs[k]); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openDay opens the day From falls in at its last checkpoint before From.
func (s *Scanner) openDay(dir string) error {
	evs, err := stream.OpenEvents(s.fsys, dir)
	if err != nil {
		return err
	}
	s.day, s.dayDir = evs, dir
	cf, err := evs.Checkpoints()
	if err != nil || cf == nil {
		return err
	}
	i, ok := cf.Find(s.from-1, false)
	if !ok {
		return nil
	}
	var cp book.Checkpoint
	if err := cf.Load(i, &cp); err != nil {
		return s.badCheckpoint(err)
	}
	if cp.Stats.Events == 0 {
		return nil // the state at the start
	}
	if err := evs.Seek(cp.SegmentID, cp.Offset); err != nil {
		if segment.IsCorruption(err) {
			return err
		}
		return s.badCheckpoint(fmt.Errorf("checkpoint %d: %w", i, err))
	}
	if err := s.d.restore(&cp); err != nil {
		return s.badCheckpoint(fmt.Errorf("checkpoint %d: %w", i, err))
	}
	s.wantSeq, s.checkSeq = cp.Seq+1, true
	return nil
}

func (s *Scanner) badCheckpoint(err error) error {
	return &segment.CorruptionError{Path: filepath.Join(s.dayDir, book.FileName), Offset: -1, Err: err}
}

// Next returns the next quote, valid until the following call; io.EOF at
// the end of the range. An error is final.
func (s *Scanner) Next() (*record.Record, error) {
	for !s.done {
		ev, err := s.read()
		if err == io.EOF {
			s.done = true
			q, ok, err := s.d.Flush()
			if err != nil {
				return nil, err
			}
			if ok {
				return q, nil
			}
			break
		}
		if err != nil {
			s.done = true
			return nil, err
		}
		if !s.started {
			if s.hasFrom && ev.IngestTS < s.from {
				if err := s.d.Prime(ev); err != nil {
					s.done = true
					return nil, err
				}
				continue
			}
			s.started = true
		}
		q, err := s.d.Add(ev)
		if err != nil {
			s.done = true
			return nil, err
		}
		if q != nil {
			return q, nil
		}
	}
	return nil, io.EOF
}

// read returns the next event of the range, the day From falls in first.
func (s *Scanner) read() (*protocol.Event, error) {
	for s.day != nil {
		ev, err := s.day.Next()
		if err == io.EOF {
			err = s.day.Close()
			s.day = nil
			if err != nil {
				return nil, err
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if s.checkSeq {
			s.checkSeq = false
			// The checkpoint file is this stream's (its manifest entry says
			// so), yet points at another record: it is damaged.
			if ev.Seq != s.wantSeq {
				return nil, s.badCheckpoint(fmt.Errorf("its position holds seq %d, want %d", ev.Seq, s.wantSeq))
			}
		}
		if s.hasTo && ev.IngestTS >= s.to {
			return nil, io.EOF
		}
		return ev, nil
	}
	if s.rng == nil {
		if len(s.rest) == 0 {
			return nil, io.EOF
		}
		var err error
		if s.rng, err = stream.OpenEventsRange(s.fsys, s.rest, s.restR); err != nil {
			return nil, err
		}
	}
	return s.rng.Next()
}

// Exchange is the exchange column: the stream's venue.
func (s *Scanner) Exchange() string { return s.meta.Venue }

// Symbol is the symbol column: the stream's exact symbol.
func (s *Scanner) Symbol() string {
	if s.meta.Symbol != "" {
		return s.meta.Symbol
	}
	return s.meta.SymbolCode // a stream written before meta.json had it
}

// Scales are the price and size scales a Parquet file of these quotes
// needs (see Scales).
func (s *Scanner) Scales() (price, size uint8) { return s.ps, s.ss }

// Warning is non-empty when no day's data overlaps the range: a message
// for the CLI's stderr (Next then returns io.EOF).
func (s *Scanner) Warning() string { return s.warned }

// Close closes the open day's files.
func (s *Scanner) Close() error {
	s.done = true
	var err error
	if s.day != nil {
		err = s.day.Close()
		s.day = nil
	}
	if s.rng != nil {
		if e := s.rng.Close(); err == nil {
			err = e
		}
		s.rng = nil
	}
	return err
}
