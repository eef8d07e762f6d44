package archive

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/vfs"
)

// DefaultSegmentSize is the reference's segment size.
const DefaultSegmentSize = 128 << 20

// ImportOptions configures Import. Zero values of Venue, Symbol and Date
// are filled from the file name, the path and the file's columns.
type ImportOptions struct {
	FS          vfs.FS // default vfs.Default
	Root        string // archive root
	Input       string
	Venue       string
	Symbol      string
	Date        string
	Stream      string // default "book"
	VenueID     int    // -1: from the built-in table
	MarketID    int64  // -1: protocol.MarketID(symbol)
	SegmentSize int64  // default DefaultSegmentSize
	Force       bool
	Compress    bool
	PriceScale  int // -1: automatic
	SizeScale   int // -1: automatic
	// CheckpointEvery writes a book checkpoint every N events (0: default,
	// negative: none).
	CheckpointEvery int
	// Progress, when set, is called now and then with input bytes read so
	// far, the input size and rows so far.
	Progress func(read, total, rows int64)
}

// ImportResult reports what Import did.
type ImportResult struct {
	Partition       Partition
	Dir             string
	FileHash        string
	Rows            int64
	Groups          int64
	Events          int64
	Segments        int
	MinTS, MaxTS    uint64
	AlreadyImported bool // the stream already held this input; nothing changed
	Compressed      bool // the stream already held this input; it was compressed
}

// Import imports a Tardis incremental_book_L2 file into the archive, all or
// nothing: on any error (or cancellation) nothing is published and the
// stream keeps what it held before.
//
// The input is read once, hashed as it is parsed (so a pipe works), into a
// staging directory. Only at the end is its hash known: if the stream
// already holds the same input, the staging is discarded and nothing
// changes (see sameInput).
func Import(ctx context.Context, o ImportOptions) (*ImportResult, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Stream == "" {
		o.Stream = "book"
	}
	segSize := o.SegmentSize
	if segSize == 0 {
		segSize = DefaultSegmentSize
	}
	if segSize < 2*segment.HeaderSize {
		return nil, fmt.Errorf("segment size %d is too small", segSize)
	}
	st, err := o.FS.Stat(o.Input)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a Tardis CSV file", o.Input)
	}
	h := blake3.New()
	r, err := tardis.Open(o.Input, tardis.Options{Name: filepath.Base(o.Input), PriceScale: tardis.FixedScale(o.PriceScale), SizeScale: tardis.FixedScale(o.SizeScale), Hash: h})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	// The first event tells the exchange and symbol columns, which the
	// partition must agree with, and the date.
	var ev protocol.Event
	first := r.Next(&ev)
	if first != nil && first != io.EOF {
		return nil, first
	}
	rv, err := resolve(&o, r, first == nil, ev.IngestTS)
	if err != nil {
		return nil, err
	}
	p, venueID, marketID := rv.p, rv.venueID, rv.marketID
	res := &ImportResult{Partition: p, Dir: p.Dir(o.Root)}
	// Checked before anything is published, not only where the ledger is
	// written.
	if err := noSymlinks(o.Root, p.LedgerDir(o.Root)); err != nil {
		return nil, err
	}

	t, err := begin(o.FS, o.Root, p)
	if err != nil {
		return nil, err
	}
	defer t.abort()

	old, err := checkExisting(t, o.Force)
	if err != nil {
		return nil, err
	}

	w, err := segment.NewWriter(t.staging, segment.WriterOptions{FS: o.FS, SegmentSize: segSize})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	// Book checkpoints are built as the events go by, not by reading the
	// segments back.
	var ck *ckptBuilder
	if o.CheckpointEvery >= 0 {
		if ck, err = newCkptBuilder(o.FS, t.staging, o.CheckpointEvery); err != nil {
			return nil, err
		}
		defer ck.abort()
	}
	var (
		buf    []byte
		seq    uint64
		lastTS uint64
	)
	total := st.Size()
	for err = first; err == nil; err = r.Next(&ev) {
		ev.VenueID, ev.MarketID, ev.BookMode = venueID, marketID, protocol.ModeL2
		ev.Seq, ev.NativeSeq = seq, seq
		if ev.Type == protocol.Diff {
			ev.DiffFlags = protocol.FlagAbsolute
			ev.UpdateIDFirst, ev.UpdateIDLast, ev.UpdateIDPrev = seq, seq, max(seq, 1)-1
		}
		if buf, err = protocol.AppendEventHead(buf[:0], &ev); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", o.Input, r.Line(), err)
		}
		var pos segment.Position
		if pos, err = w.AppendParts(protocol.TypeBookEvent, ev.IngestTS, buf, protocol.LevelBytes(ev.Bids), protocol.LevelBytes(ev.Asks)); err != nil {
			return nil, err
		}
		if ck != nil {
			if err := ck.add(pos, &ev); err != nil {
				return nil, err
			}
		}
		if seq == 0 || ev.IngestTS != lastTS {
			res.Groups++
		}
		if seq == 0 || ev.IngestTS < res.MinTS {
			res.MinTS = ev.IngestTS
		}
		res.MaxTS = max(res.MaxTS, ev.IngestTS)
		lastTS = ev.IngestTS
		seq++
		if seq%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if o.Progress != nil {
				o.Progress(r.BytesRead(), total, r.Rows())
			}
		}
	}
	if err != io.EOF {
		return nil, err
	}
	// The hash covers the input only if the reader consumed all of it, and
	// a regular file that grew or shrank meanwhile is not the file hashed.
	if st.Mode().IsRegular() {
		if now, err := o.FS.Stat(o.Input); err != nil || now.Size() != st.Size() || r.BytesRead() != st.Size() {
			return nil, fmt.Errorf("%s changed while it was being imported (%d bytes at the start, %d read); nothing was imported", o.Input, st.Size(), r.BytesRead())
		}
	}
	res.FileHash = hex.EncodeToString(h.Sum(nil))
	if old != nil && !o.Force {
		w.Abort() // now, while the lock is held: its .tmp path may be another writer's after
		if ck != nil {
			ck.abort()
		}
		return sameInput(ctx, t, &o, old, res, venueID, marketID)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if ck != nil {
		if err := ck.finish(); err != nil {
			return nil, err
		}
	}
	published := w.PublishedFiles()
	res.Rows, res.Events, res.Segments = r.Rows(), int64(seq), len(published)
	if o.Progress != nil {
		o.Progress(r.BytesRead(), max(total, r.BytesRead()), res.Rows)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Compress {
		if err := compressDir(ctx, o.FS, t.staging); err != nil {
			return nil, err
		}
	}
	m := &Meta{
		Venue: p.Venue, SymbolCode: p.Symbol, Symbol: rv.symbol, IngestTimeNS: time.Now().UnixNano(),
		Completeness: "sealed", MetaVersion: 1, Date: p.Date, Stream: p.Stream,
		Provider: "tardis", Source: filepath.Base(o.Input), SourceHash: res.FileHash,
		VenueID: venueID, MarketID: marketID,
		Rows: res.Rows, Groups: res.Groups, Events: res.Events, Segments: res.Segments,
		Compressed: o.Compress,
		Made:       &MadeWith{SegmentSize: segSize, PriceScale: o.PriceScale, SizeScale: o.SizeScale, CheckpointEvery: max(o.CheckpointEvery, 0)},
	}
	if ck != nil && o.CheckpointEvery == 0 {
		m.Made.CheckpointEvery = DefaultCheckpointEvery
	}
	if res.Events > 0 {
		m.EventTimeRange = &[2]uint64{res.MinTS, res.MaxTS}
	}
	// The segments' hashes were computed as they were written; with
	// --compress their .q files are gone and the .q.zst are hashed.
	known := make(map[string]FileEntry, len(published))
	for _, p := range published {
		known[p.Name] = FileEntry{Name: p.Name, Size: p.Size, Blake3: p.Blake3}
	}
	if err := t.publishKnown(m, known); err != nil {
		return nil, err
	}
	if err := writeLedger(o.FS, o.Root, p, m, o.Input, res.MinTS, res.MaxTS); err != nil {
		return nil, fmt.Errorf("stream published but ledger not written (rerun the import to finish it): %w", err)
	}
	return res, nil
}

// checkExisting reads what the stream holds (nil: nothing). Without
// --force, a directory that is not a readable Chronicle stream is refused
// before any work.
func checkExisting(t *txn, force bool) (*Meta, error) {
	old, err := ReadMeta(t.fsys, t.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := t.fsys.Stat(t.dir); serr == nil && !force {
			return nil, fmt.Errorf("%s exists but has no %s: not a Chronicle stream; use --force to replace it", t.dir, MetaName)
		}
		return nil, nil
	case err != nil:
		if force {
			return nil, nil
		}
		return nil, fmt.Errorf("%w; use --force to replace the stream", err)
	}
	return old, nil
}

// sameInput ends an import, without --force, into a stream that holds
// data: the staging is discarded. Another input is refused. The same input
// is already imported, unless options that decide the stored bytes differ
// from those it was imported with (an error naming them), or --compress
// asks to compress a plain stream (which is done).
func sameInput(ctx context.Context, t *txn, o *ImportOptions, old *Meta, res *ImportResult, venueID uint16, marketID uint32) (*ImportResult, error) {
	if old.SourceHash != res.FileHash {
		return nil, fmt.Errorf("%s already holds data imported from %s (blake3 %.12s…); refusing to mix in a different file (blake3 %.12s…); use --force to replace it",
			t.p, old.Source, old.SourceHash, res.FileHash)
	}
	if diff := optionDiffs(o, old, venueID, marketID); len(diff) > 0 {
		return nil, fmt.Errorf("%s is already imported into %s with other options: %s; nothing was changed; use --force to re-import it with the new ones",
			o.Input, t.p, strings.Join(diff, ", "))
	}
	res.Rows, res.Groups, res.Events, res.Segments = old.Rows, old.Groups, old.Events, old.Segments
	if old.EventTimeRange != nil {
		res.MinTS, res.MaxTS = old.EventTimeRange[0], old.EventTimeRange[1]
	}
	// A crash after publishing can have left the ledger unwritten: finish
	// that part.
	if _, err := readLedger(t.fsys, t.root, t.p, res.FileHash); err != nil {
		// The directory entry of a stream published just before a crash
		// or a failed fsync may not be durable yet: sync it first.
		if err := t.fsys.SyncDir(filepath.Dir(t.dir)); err != nil {
			return nil, err
		}
		if err := writeLedger(t.fsys, t.root, t.p, old, o.Input, res.MinTS, res.MaxTS); err != nil {
			return nil, err
		}
	} else if err := removeStaleLedgers(t.fsys, t.root, t.p, res.FileHash); err != nil { // a crash can also have left a replaced entry
		return nil, err
	}
	if !o.Compress || old.Compressed {
		res.AlreadyImported = true
		return res, nil
	}
	// Compress takes the lock itself, and works a segment at a time.
	t.abort()
	if err := Compress(ctx, t.fsys, t.dir); err != nil {
		return nil, err
	}
	res.Compressed = true
	return res, nil
}

// optionDiffs lists the options given that differ from those the stream
// was made with, as flags. Options left at their defaults never differ.
func optionDiffs(o *ImportOptions, old *Meta, venueID uint16, marketID uint32) []string {
	var out []string
	add := func(flag string, got, was any) {
		out = append(out, fmt.Sprintf("--%s %v (imported with %v)", flag, got, was))
	}
	if o.VenueID >= 0 && venueID != old.VenueID {
		add("venue-id", venueID, old.VenueID)
	}
	if o.MarketID >= 0 && marketID != old.MarketID {
		add("market-id", marketID, old.MarketID)
	}
	if mw := old.Made; mw != nil { // streams from before made_with cannot tell
		scale := func(s int) string {
			if s < 0 {
				return "automatic"
			}
			return strconv.Itoa(s)
		}
		if o.SegmentSize != 0 && o.SegmentSize != mw.SegmentSize {
			add("segment-size", o.SegmentSize, mw.SegmentSize)
		}
		if o.PriceScale >= 0 && o.PriceScale != mw.PriceScale {
			add("price-scale", o.PriceScale, scale(mw.PriceScale))
		}
		if o.SizeScale >= 0 && o.SizeScale != mw.SizeScale {
			add("size-scale", o.SizeScale, scale(mw.SizeScale))
		}
		if every := max(o.CheckpointEvery, 0); o.CheckpointEvery != 0 && every != mw.CheckpointEvery {
			add("checkpoint-every", every, mw.CheckpointEvery)
		}
	}
	return out
}

func writeLedger(fsys vfs.FS, root string, p Partition, m *Meta, source string, minTS, maxTS uint64) error {
	dir := p.LedgerDir(root)
	if err := noSymlinks(root, dir); err != nil {
		return err
	}
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return err
	}
	if abs, err := filepath.Abs(source); err == nil {
		source = abs
	}
	l := &Ledger{
		SourcePath: source, FileHash: m.SourceHash, Rows: m.Rows, Groups: m.Groups,
		Segments: m.Segments, MinTSNS: minTS, MaxTSNS: maxTS, ImportedAtNS: time.Now().UnixNano(),
		Venue: p.Venue, Symbol: p.Symbol, Date: p.Date, Stream: p.Stream, Events: m.Events,
	}
	if err := writeJSON(fsys, p.LedgerPath(root, m.SourceHash), l); err != nil {
		return err
	}
	return removeStaleLedgers(fsys, root, p, m.SourceHash)
}

// resolved is what resolve decided.
type resolved struct {
	p        Partition
	symbol   string // exact, as in the data (p.Symbol is its code)
	venueID  uint16
	marketID uint32
}

// resolve fills venue, symbol and date from flags, then the file name and
// path, then the file's own columns, and checks them against the columns
// and the date against the first event.
func resolve(o *ImportOptions, r *tardis.EventReader, haveEvent bool, firstTS uint64) (resolved, error) {
	ni := ParseTardisPath(o.Input)
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
		if err := checkName(what, v); err != nil {
			return "", err
		}
		if fromData != "" && !same(v, fromData) {
			return "", fmt.Errorf("%s says %s %q but the file's %s column says %q", src, what, v, what, fromData)
		}
		return v, nil
	}
	venue, err := pick(o.Venue, ni.Exchange, r.Exchange(), "exchange", "venue", func(v, d string) bool { return v == d })
	if err != nil {
		return resolved{}, err
	}
	// A symbol may be given exactly (BTC/USD) or as Tardis spells it in
	// file names (BTC-USD).
	symbol, err := pick(o.Symbol, ni.Symbol, r.Symbol(), "symbol", "symbol", func(v, d string) bool { return v == d || v == SymbolCode(d) })
	if err != nil {
		return resolved{}, err
	}
	if d := r.Symbol(); d != "" {
		symbol = d
	}
	var firstDay string
	if haveEvent {
		if firstDay, err = utcDate(firstTS); err != nil {
			return resolved{}, fmt.Errorf("%s: line %d: local_timestamp: %w", o.Input, r.Line(), err)
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
	// A day's file holds the local timestamps of that UTC day.
	if firstDay != "" && firstDay != date {
		return resolved{}, fmt.Errorf("%s: line %d: the first local_timestamp (%d ns) is on %s (UTC), but %s says %s",
			o.Input, r.Line(), firstTS, firstDay, src, date)
	}
	rv := resolved{p: Partition{Venue: venue, Symbol: SymbolCode(symbol), Date: date, Stream: o.Stream}, symbol: symbol}
	if err := rv.p.Validate(); err != nil {
		return resolved{}, err
	}
	switch {
	case o.VenueID >= 0 && o.VenueID <= 0xFFFF:
		rv.venueID = uint16(o.VenueID)
	case o.VenueID > 0xFFFF:
		return resolved{}, fmt.Errorf("--venue-id %d does not fit in u16", o.VenueID)
	default:
		id, ok := VenueID(venue)
		if !ok {
			return resolved{}, fmt.Errorf("venue %q is not in the built-in venue table (see docs/PATH-CONTRACT.md): pass --venue-id", venue)
		}
		rv.venueID = id
	}
	// The market id hashes the exact symbol, as the data spells it.
	rv.marketID = protocol.MarketID(symbol)
	if o.MarketID >= 0 {
		if o.MarketID > 0xFFFFFFFF {
			return resolved{}, fmt.Errorf("--market-id %d does not fit in u32", o.MarketID)
		}
		rv.marketID = uint32(o.MarketID)
	}
	return rv, nil
}

// NSTime converts a timestamp in ns since the epoch to a UTC time.Time,
// refusing what an int64 ns count cannot hold (from 2262-04-11 on) rather
// than wrapping to a date in 1677..1970.
func NSTime(ns uint64) (time.Time, error) {
	if ns > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("timestamp %d ns is past 2262-04-11, the last instant a signed 64-bit ns count holds", ns)
	}
	return time.Unix(0, int64(ns)).UTC(), nil
}

// utcDate is the UTC date of a timestamp in ns (see NSTime).
func utcDate(ns uint64) (string, error) {
	t, err := NSTime(ns)
	if err != nil {
		return "", err
	}
	return t.Format(time.DateOnly), nil
}
