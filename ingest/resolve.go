package ingest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/tardis"
)

// resolved is what resolve decided.
type resolved struct {
	p        archive.Partition
	symbol   string // exact, as in the data (p.Symbol is its code)
	venueID  uint16
	marketID uint32
}

// resolve fills venue, symbol and date from the options, then the file
// name and path, then the file's own columns, and checks them against the
// columns and the date against the first record: a day's data starts on
// its UTC day (and may run past midnight, as stream.Resolve expects). In a
// grouped file (OPTIONS, PERPETUALS, ...) every row has its own symbol:
// the partition's is the file's.
func resolve(o *Options, dt tardis.DataType, ni tardis.FileInfo, in input, haveRow bool, firstTS uint64) (resolved, error) {
	pick := func(flag, fromName, fromData, what, flagName string, same func(v, data string) bool) (string, error) {
		v, src := flag, "--"+flagName
		if v == "" {
			v, src = fromName, "the file name"
		}
		if v == "" {
			v, src = fromData, ""
		}
		if v == "" {
			return "", fmt.Errorf("cannot tell the %s of %s: pass --%s", what, o.Input, flagName)
		}
		if err := archive.CheckName(what, v); err != nil {
			return "", err
		}
		if fromData != "" && !same(v, fromData) {
			return "", fmt.Errorf("%s says %s %q but the file's %s column says %q", src, what, v, what, fromData)
		}
		return v, nil
	}
	venue, err := pick(o.Venue, ni.Exchange, in.Exchange(), "exchange", "venue", func(v, d string) bool { return v == d })
	if err != nil {
		return resolved{}, err
	}
	grouped := dt.Record == record.OptionsChain || tardis.GroupedSymbol(ni.Symbol) || tardis.GroupedSymbol(o.Symbol)
	dataSym := in.Symbol()
	if grouped {
		dataSym = "" // each row has its own
	}
	if dt.Record == record.OptionsChain && o.Symbol == "" && ni.Symbol == "" {
		ni.Symbol = "OPTIONS" // Tardis's one options_chain file a day
	}
	// A symbol may be given exactly (BTC/USD) or as Tardis spells it in
	// file names (BTC-USD).
	symbol, err := pick(o.Symbol, ni.Symbol, dataSym, "symbol", "symbol", func(v, d string) bool { return v == d || v == archive.SymbolCode(d) })
	if err != nil {
		return resolved{}, err
	}
	if dataSym != "" {
		symbol = dataSym
	}
	var firstDay string
	if haveRow {
		if firstDay, err = utcDate(firstTS); err != nil {
			return resolved{}, fmt.Errorf("%s: line %d: local_timestamp: %w", o.Input, in.Line(), err)
		}
	}
	date, src := o.Date, "--date"
	if date == "" {
		date, src = ni.Date, "the file name"
	}
	if date == "" {
		date = firstDay
	}
	if date == "" {
		return resolved{}, fmt.Errorf("cannot tell the date of %s: pass --date YYYY-MM-DD", o.Input)
	}
	// A day's file starts with the local timestamps of that UTC day. The
	// first row is line 2, whatever a reader has read ahead.
	if firstDay != "" && firstDay != date {
		return resolved{}, &tardis.ParseError{File: o.Input, Line: 2, Field: "local_timestamp",
			Value: strconv.FormatUint(firstTS/1000, 10), Err: otherDayError{firstDay, src, date}}
	}
	rv := resolved{p: archive.Partition{Venue: venue, Symbol: archive.SymbolCode(symbol), Date: date, Stream: o.Stream}, symbol: symbol}
	if err := rv.p.Validate(); err != nil {
		return resolved{}, err
	}
	if o.VenueID != nil {
		rv.venueID = *o.VenueID
	} else {
		id, ok := archive.VenueID(venue)
		if !ok {
			return resolved{}, fmt.Errorf("venue %q is not in the built-in venue table (see docs/PATH-CONTRACT.md): pass --venue-id", venue)
		}
		rv.venueID = id
	}
	// The market id hashes the exact symbol, as the data spells it.
	rv.marketID = protocol.MarketID(symbol)
	if o.MarketID != nil {
		rv.marketID = *o.MarketID
	}
	return rv, nil
}

// otherDayError: `x.csv:2: local_timestamp "1575244800000000": on
// 2019-12-02 (UTC), but the file name says 2019-12-01`, as a flag that
// contradicts the exchange or symbol column is an error.
type otherDayError struct{ day, src, date string }

func (e otherDayError) Error() string {
	return "on " + e.day + " (UTC), but " + e.src + " says " + e.date
}

// utcDate is the UTC date of a timestamp in ns (see archive.NSTime).
func utcDate(ns uint64) (string, error) {
	t, err := archive.NSTime(ns)
	if err != nil {
		return "", err
	}
	return t.Format(time.DateOnly), nil
}

// sameInput ends an import, without --force, into a stream that holds
// data: the staging is discarded. Another input is refused. The same input
// is already imported, unless options that decide the stored bytes differ
// from those it was imported with (an error naming them), or --compress
// asks to compress a plain stream (which is done).
func sameInput(ctx context.Context, t *archive.Txn, o *Options, old *archive.Meta, res *Result, rv resolved) (*Result, error) {
	p := rv.p
	if old.SourceHash != res.FileHash {
		return nil, fmt.Errorf("%s already holds data imported from %s (blake3 %.12s…); refusing to mix in a different file (blake3 %.12s…); use --force to replace it",
			p, old.Source, old.SourceHash, res.FileHash)
	}
	if diff := optionDiffs(o, old, rv); len(diff) > 0 {
		return nil, fmt.Errorf("%s is already imported into %s with other options: %s; nothing was changed; use --force to re-import it with the new ones",
			o.Input, p, strings.Join(diff, ", "))
	}
	res.Rows, res.Groups, res.Events, res.Segments = old.Rows, old.Groups, old.Events, old.Segments
	if old.EventTimeRange != nil {
		res.MinTS, res.MaxTS = old.EventTimeRange[0], old.EventTimeRange[1]
	}
	// A crash after publishing can have left the ledger unwritten: finish
	// that part. An entry of another path, size or mtime (a touched or
	// moved file) is rewritten, so that a batch rerun skips it unread.
	if l, err := archive.ReadLedger(o.FS, o.Root, p, res.FileHash); err != nil || !archive.LedgerCurrent(o.FS, l, o.Input) {
		// The directory entry of a stream published just before a crash
		// or a failed fsync may not be durable yet: sync it first.
		if err := t.SyncParent(); err != nil {
			return nil, err
		}
		if err := archive.WriteLedger(o.FS, o.Root, p, old, o.Input, res.MinTS, res.MaxTS); err != nil {
			return nil, err
		}
	} else if err := archive.RemoveStaleLedgers(o.FS, o.Root, p, res.FileHash); err != nil { // a crash can also have left a replaced entry
		return nil, err
	}
	if !o.Compress || old.Compressed {
		res.AlreadyImported = true
		return res, nil
	}
	// Compress takes the lock itself, and works a segment at a time.
	t.Abort()
	codec, _ := CodecByName(o.Codec) // checked by Import
	if err := archive.Compress(ctx, o.FS, t.Dir(), archive.Options{Codec: codec}); err != nil {
		return nil, err
	}
	res.Compressed = true
	return res, nil
}

// optionDiffs lists the options given that differ from those the stream
// was made with, as flags. Options left at their defaults never differ.
func optionDiffs(o *Options, old *archive.Meta, rv resolved) []string {
	var out []string
	add := func(flag string, got, was any) {
		out = append(out, fmt.Sprintf("--%s %v (imported with %v)", flag, got, was))
	}
	if o.VenueID != nil && rv.venueID != old.VenueID {
		add("venue-id", rv.venueID, old.VenueID)
	}
	if o.MarketID != nil && rv.marketID != old.MarketID {
		add("market-id", rv.marketID, old.MarketID)
	}
	mw := old.Made
	if mw == nil { // streams from before made_with cannot tell
		return out
	}
	scale := func(s int) string {
		if s < 0 {
			return "automatic"
		}
		return strconv.Itoa(s)
	}
	if o.SegmentSize != DefaultSegmentSize && o.SegmentSize != mw.SegmentSize {
		add("segment-size", o.SegmentSize, mw.SegmentSize)
	}
	if ps := o.PriceScale.Fixed(); ps >= 0 && ps != mw.PriceScale {
		add("price-scale", ps, scale(mw.PriceScale))
	}
	if ss := o.SizeScale.Fixed(); ss >= 0 && ss != mw.SizeScale {
		add("size-scale", ss, scale(mw.SizeScale))
	}
	switch {
	case o.NoCheckpoints && mw.CheckpointEvery != 0:
		add("checkpoint-every", 0, mw.CheckpointEvery)
	case o.CheckpointEvery != 0 && o.CheckpointEvery != mw.CheckpointEvery:
		add("checkpoint-every", o.CheckpointEvery, mw.CheckpointEvery)
	}
	return out
}

// madeWith is meta.json's made_with for an import with o.
func madeWith(o *Options, dt tardis.DataType, checkpoints bool) *archive.MadeWith {
	mw := &archive.MadeWith{SegmentSize: o.SegmentSize, PriceScale: o.PriceScale.Fixed(), SizeScale: o.SizeScale.Fixed()}
	if checkpoints {
		mw.CheckpointEvery = o.CheckpointEvery
		if mw.CheckpointEvery <= 0 {
			mw.CheckpointEvery = book.DefaultEvery
		}
	}
	return mw
}

// scaleTracker gathers the stream's largest scales for meta.json.
type scaleTracker struct {
	names []string
	max   []uint8
}

func newScales(dt tardis.DataType) *scaleTracker {
	if dt.IsBook() {
		return &scaleTracker{names: []string{"price", "amount"}, max: make([]uint8, 2)}
	}
	names := dt.Record.ScaleNames()
	return &scaleTracker{names: names, max: make([]uint8, len(names))}
}

func (s *scaleTracker) book(ev *protocol.Event) {
	s.max[0], s.max[1] = max(s.max[0], ev.PriceScale), max(s.max[1], ev.SizeScale)
}

func (s *scaleTracker) records(scales []uint8) { copy(s.max, scales) }

func (s *scaleTracker) meta() map[string]uint8 {
	m := make(map[string]uint8, len(s.names))
	for i, n := range s.names {
		m[n] = s.max[i]
	}
	return m
}
