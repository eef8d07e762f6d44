// Package snapshots turns an archived stream into book snapshots: the top N
// levels of each side, in the layout of Tardis.dev's book_snapshot_N files
// (columns exchange, symbol, timestamp, local_timestamp, then
// asks[0].price, asks[0].amount, bids[0].price, bids[0].amount,
// asks[1].price, ... up to N-1), as CSV or Parquet.
//
// # When a row is emitted
//
// Without an interval (Options.Interval == 0) there is one row for each
// message after which the top N changed: a price or an amount of one of the
// first N levels of either side, or a level appearing or disappearing among
// them. This is Tardis's rule for its book_snapshot_N files. A message is a
// run of consecutive events with the same ingest timestamp (Tardis's
// local_timestamp): the importer turns one Tardis message into several
// events when it mixes snapshot and diff rows or has more than 65535 levels
// on a side, and the book is only compared, and a row written, once the
// message's last event is applied. Values are compared exactly, so a
// change of the book's decimal scale alone is not a change. The row's
// timestamp is the largest exchange timestamp among the message's events,
// local_timestamp its ingest timestamp.
//
// With an interval I, rows are a regular grid: one row at every multiple of
// I since the epoch (a boundary B), showing the book after every event
// before B — the events with timestamp < B, Tardis's convention for its
// interval snapshots: an event exactly at B belongs to the next interval.
// Both timestamp columns are B. Rows start at the first boundary after
// From (or after the first event) and end at To (inclusive) or, at the end
// of the stream, at the first boundary after the last event; a boundary
// where nothing changed repeats the previous row.
//
// In both modes there is no row while no snapshot has been applied (diffs
// before the first snapshot are ignored, as Tardis does, and a Reset event
// clears the book until the next snapshot). Levels missing because the book
// is shallower than N are empty fields in CSV and nulls in Parquet.
//
// # Time
//
// Timestamps are in ns since the epoch on the chosen timeline: ingest
// (local) time, or exchange time with Options.ExchangeTime. Neither is
// guaranteed to be monotonic, so, as in package replay, an event's time is
// the running maximum of the timeline up to it. Without an interval, rows
// come from the messages whose time is in [From, To); a row is written only
// if the message changed the top N relative to the book just before it, so
// the rows of a range are exactly the rows of the whole stream in that
// range. With an interval, rows are at the boundaries B with From < B <= To.
// The book before From is rebuilt with the stream's checkpoints
// (replay.Open), so a late From is fast.
//
// # Numbers
//
// Prices and amounts stay exact fixed-point integers throughout. CSV prints
// them as Tardis does (decimal.Append). Parquet stores them as
// DECIMAL(38, scale) with one scale for all price columns and one for all
// amount columns, the stream's largest (WriteDays: the largest of the
// days'), so no value is ever rounded.
package snapshots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/replay"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Format is an output format.
type Format string

// Output formats.
const (
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// MaxDepth bounds Options.Depth: a row has 4 columns per level, and wider
// files than this serve no one.
const MaxDepth = 1000

// Options configures Open and Write.
type Options struct {
	FS vfs.FS // nil: vfs.Default
	// Depth is N, the levels per side in each row (1..MaxDepth).
	Depth int
	// Interval, when non-zero, writes the book at every multiple of
	// Interval since the epoch instead of at every top-N change. It must
	// be a whole number of microseconds (the unit of the output).
	Interval time.Duration
	// From and To bound the rows in ns since the epoch, 0 = unbounded; see
	// the package comment.
	From, To uint64
	// ExchangeTime puts From, To and interval boundaries on exchange time
	// instead of ingest (local) time.
	ExchangeTime bool
	// Format is the output format of Write (default CSV).
	Format Format
	// NoCheckpoints replays from the start of the stream even when it has
	// checkpoints (the result is the same, only slower).
	NoCheckpoints bool
	// Limit, when positive, makes Write and WriteDays stop after Limit
	// rows; the file is still complete.
	Limit int64
}

// Row is one snapshot. Asks and Bids are best first, at most Depth levels
// each, at PriceScale/SizeScale; they are reused by the next call to Next.
type Row struct {
	Timestamp      uint64 // ns: exchange time (interval rows: the boundary)
	LocalTimestamp uint64 // ns: ingest time (interval rows: the boundary)
	Asks, Bids     []protocol.Level
	PriceScale     uint8
	SizeScale      uint8
}

// top is the top N of a book as it stood after some event.
type top struct {
	asks, bids []protocol.Level
	ps, ss     uint8
	valid      bool // a snapshot is in effect: the book means something
}

func (t *top) capture(b *book.Book, depth int, valid bool) {
	t.asks = b.Top(book.Ask, depth, t.asks[:0])
	t.bids = b.Top(book.Bid, depth, t.bids[:0])
	t.ps, t.ss = b.Scales()
	t.valid = valid
}

// same reports whether t and u hold the same levels, comparing values, not
// their fixed-point encodings (the scales may differ).
func (t *top) same(u *top) bool {
	return sameLevels(t.asks, u.asks, t.ps, t.ss, u.ps, u.ss) &&
		sameLevels(t.bids, u.bids, t.ps, t.ss, u.ps, u.ss)
}

func sameLevels(a, b []protocol.Level, aps, ass, bps, bss uint8) bool {
	if len(a) != len(b) {
		return false
	}
	if aps == bps && ass == bss {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	ps, ss := max(aps, bps), max(ass, bss)
	for i := range a {
		if !sameValue(a[i].Price, aps, b[i].Price, bps, ps) || !sameValue(a[i].Size, ass, b[i].Size, bss, ss) {
			return false
		}
	}
	return true
}

// sameValue compares x×10^-xs and y×10^-ys at scale s >= both. A value that
// overflows at s is larger than any that does not, so an overflow means
// "different" (both cannot overflow: one of xs, ys is s).
func sameValue(x uint64, xs uint8, y uint64, ys uint8, s uint8) bool {
	x, errX := decimal.Rescale(x, xs, s)
	y, errY := decimal.Rescale(y, ys, s)
	return errX == nil && errY == nil && x == y
}

// Scanner produces the snapshot rows of a stream, reading it once.
type Scanner struct {
	ctx      context.Context
	o        Options
	meta     *archive.Meta
	st       *replay.Stream
	interval uint64 // ns; 0: a row per top-N change
	events   int
	done     bool   // the stream (or the range) has ended
	valid    bool   // validity of the book as it stands now (after the last event)
	m        uint64 // running maximum of the timeline over the events read

	// cur is the top N after the last event applied (in interval mode,
	// while needCapture is set, after the one before); last is the top N
	// of the last row written (or of the book before From).
	cur, last top
	haveLast  bool
	row       Row

	// Change mode: the message being applied.
	inMsg       bool
	msgIngest   uint64
	msgExchange uint64

	// Interval mode.
	next        uint64 // next boundary; 0 until known
	limit       uint64 // boundaries <= limit can be written from cur
	needCapture bool   // the book holds an event not yet in cur
}

// Open opens the stream in dir and positions it at o.From. The stream's
// meta.json gives the exchange and symbol.
func Open(ctx context.Context, dir string, o Options) (*Scanner, error) {
	if o.Depth < 1 || o.Depth > MaxDepth {
		return nil, fmt.Errorf("snapshots: depth %d is not in 1..%d", o.Depth, MaxDepth)
	}
	if o.Interval < 0 || o.Interval%time.Microsecond != 0 {
		return nil, fmt.Errorf("snapshots: interval %v is not a positive whole number of microseconds", o.Interval)
	}
	if o.To > 0 && o.To <= o.From {
		return nil, fmt.Errorf("snapshots: empty range: to %d <= from %d", o.To, o.From)
	}
	switch o.Format {
	case "", CSV, Parquet:
	default:
		return nil, fmt.Errorf("snapshots: unknown format %q (want csv or parquet)", o.Format)
	}
	// To is applied here, not by replay, because the interval mode must see
	// the first event at or after To to know that the book at To is final.
	st, err := replay.Open(dir, replay.Options{FS: o.FS, From: o.From, ExchangeTime: o.ExchangeTime, NoCheckpoints: o.NoCheckpoints})
	if err != nil {
		return nil, err
	}
	s := &Scanner{ctx: ctx, o: o, meta: st.Meta(), st: st, interval: uint64(o.Interval)}
	// The book before From (empty without From). Imports never write Reset
	// events, so "a snapshot has been applied" is what validity means.
	s.valid = st.Stats().Snapshots > 0
	s.cur.capture(st.Book(), o.Depth, s.valid)
	if s.valid {
		s.last.capture(st.Book(), o.Depth, true)
		s.haveLast = true
	}
	if s.interval > 0 && o.From > 0 {
		s.next = (o.From/s.interval + 1) * s.interval
	}
	return s, nil
}

// Exchange returns the stream's exchange (meta.json venue).
func (s *Scanner) Exchange() string { return s.meta.Venue }

// Symbol returns the stream's symbol (meta.json symbol_code).
func (s *Scanner) Symbol() string { return s.meta.SymbolCode }

// Depth returns N.
func (s *Scanner) Depth() int { return s.o.Depth }

// Close closes the stream.
func (s *Scanner) Close() error { return s.st.Close() }

// Next returns the next row, valid until the following call, or io.EOF.
func (s *Scanner) Next() (*Row, error) {
	if s.interval > 0 {
		return s.nextInterval()
	}
	return s.nextChange()
}

func (s *Scanner) ts(ev *protocol.Event) uint64 {
	if s.o.ExchangeTime {
		return ev.ExchangeTS
	}
	return ev.IngestTS
}

// read applies the next event. It returns nil at the end of the stream or
// of the range (the event at or after To is applied to the book but never
// shows in a row).
func (s *Scanner) read() (*protocol.Event, error) {
	if s.events++; s.events%4096 == 0 {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
	}
	ev, err := s.st.Next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.m = max(s.m, s.ts(ev))
	if s.o.To > 0 && s.m >= s.o.To {
		return nil, nil
	}
	switch ev.Type {
	case protocol.Snapshot:
		s.valid = true
	case protocol.Reset:
		s.valid = false
	}
	return ev, nil
}

// nextChange is Next without an interval. The stream applies an event as it
// returns it, so the top N after each event is kept in cur: when the next
// event starts a new message, cur is the book at the end of the previous one.
func (s *Scanner) nextChange() (*Row, error) {
	for !s.done {
		ev, err := s.read()
		if err != nil {
			return nil, err
		}
		if ev == nil {
			s.done = true
			if s.inMsg {
				s.inMsg = false
				if r := s.endMessage(); r != nil {
					return r, nil
				}
			}
			break
		}
		var r *Row
		if s.inMsg && ev.IngestTS != s.msgIngest {
			r = s.endMessage()
		}
		if !s.inMsg || ev.IngestTS != s.msgIngest {
			s.inMsg, s.msgIngest, s.msgExchange = true, ev.IngestTS, ev.ExchangeTS
		} else {
			s.msgExchange = max(s.msgExchange, ev.ExchangeTS)
		}
		s.cur.capture(s.st.Book(), s.o.Depth, s.valid)
		if r != nil {
			return r, nil
		}
	}
	return nil, io.EOF
}

// endMessage decides whether the message that just ended (its book is cur)
// makes a row, and returns it.
func (s *Scanner) endMessage() *Row {
	if !s.cur.valid {
		s.haveLast = false // the next valid book is a new start
		return nil
	}
	if s.haveLast && s.cur.same(&s.last) {
		return nil
	}
	// last takes cur's levels; cur's buffers are refilled by the next capture.
	s.cur, s.last = s.last, s.cur
	s.haveLast = true
	return s.fill(s.msgExchange, s.msgIngest, &s.last)
}

func (s *Scanner) fill(exchangeTS, ingestTS uint64, t *top) *Row {
	s.row = Row{Timestamp: exchangeTS, LocalTimestamp: ingestTS,
		Asks: t.asks, Bids: t.bids, PriceScale: t.ps, SizeScale: t.ss}
	return &s.row
}

// nextInterval is Next with an interval. Invariant: every boundary <= the
// time of an applied event has been written before cur takes that event,
// so cur is the book at every boundary from next to limit.
func (s *Scanner) nextInterval() (*Row, error) {
	iv := s.interval
	for {
		if s.next != 0 && s.next <= s.limit {
			b := s.next
			if !s.cur.valid {
				s.next = (s.limit/iv + 1) * iv // skip them all at once
				continue
			}
			s.next += iv
			return s.fill(b, b, &s.cur), nil
		}
		if s.needCapture {
			s.cur.capture(s.st.Book(), s.o.Depth, s.valid)
			s.needCapture = false
		}
		if s.done {
			return nil, io.EOF
		}
		ev, err := s.read()
		if err != nil {
			return nil, err
		}
		if ev == nil {
			s.done = true
			if s.o.To > 0 && s.m >= s.o.To {
				s.limit = s.o.To // the stream goes on: the book at To is known
			} else if s.next != 0 {
				// The end of the stream: up to the first boundary after the
				// last event, which is the last one it changes.
				s.limit = (s.m/iv + 1) * iv
				if s.o.To > 0 {
					s.limit = min(s.limit, s.o.To)
				}
			}
			continue
		}
		if s.next == 0 {
			s.next = (s.m/iv + 1) * iv
		}
		if s.m >= s.next {
			s.limit = s.m // boundaries up to m precede this event
		}
		s.needCapture = true
	}
}

// Write writes the snapshot rows of the stream in dir to w in o.Format and
// returns how many rows it wrote. A CSV or Parquet file is complete only
// when Write returns nil.
func Write(ctx context.Context, dir string, o Options, w io.Writer) (rows int64, err error) {
	if o.Format == "" {
		o.Format = CSV
	}
	s, err := Open(ctx, dir, o)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var out sink
	switch o.Format {
	case CSV:
		out = newCSVWriter(w, s.Exchange(), s.Symbol(), o.Depth)
	case Parquet:
		ps, ss, err := parquetScales(o.FS, dir)
		if err != nil {
			return 0, err
		}
		out = newParquetWriter(w, s.Exchange(), s.Symbol(), o.Depth, ps, ss)
	}
	defer out.abort() // after close: nothing left to stop
	if err := copyRows(ctx, s, out, o.Limit, &rows, ""); err != nil {
		return rows, err
	}
	return rows, out.close()
}

// copyRows writes s's rows to out until the end or until *rows reaches
// limit (0: no limit), counting them in *rows. A non-empty dir names the
// day in the sink's errors (the scanner's name their files already).
func copyRows(ctx context.Context, s *Scanner, out sink, limit int64, rows *int64, dir string) error {
	for limit <= 0 || *rows < limit {
		r, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.write(r); err != nil {
			if dir != "" {
				return fmt.Errorf("%s: %w", dir, err)
			}
			return err
		}
		if *rows++; *rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sink is an output format.
type sink interface {
	write(r *Row) error
	close() error // finishes the file; it does not close the io.Writer
	abort()       // stops what close would finish (the Parquet writer's goroutines)
}
