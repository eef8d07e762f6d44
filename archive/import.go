package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

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
	AlreadyImported bool
}

// Import imports a Tardis incremental_book_L2 file into the archive, all or
// nothing: on any error (or cancellation) nothing is published and the
// stream keeps what it held before.
func Import(ctx context.Context, o ImportOptions) (*ImportResult, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Stream == "" {
		o.Stream = "book"
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < 2*segment.HeaderSize {
		return nil, fmt.Errorf("segment size %d is too small", o.SegmentSize)
	}
	st, err := o.FS.Stat(o.Input)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a Tardis CSV file", o.Input)
	}
	hash, _, err := HashFile(o.FS, o.Input)
	if err != nil {
		return nil, err
	}
	r, err := tardis.Open(o.Input, tardis.Options{Name: filepath.Base(o.Input), PriceScale: o.PriceScale, SizeScale: o.SizeScale})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	// The first event tells the exchange and symbol columns, which the
	// partition must agree with.
	var ev protocol.Event
	first := r.Next(&ev)
	if first != nil && first != io.EOF {
		return nil, first
	}
	p, venueID, marketID, err := resolve(&o, r, first == nil, ev.IngestTS)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Partition: p, Dir: p.Dir(o.Root), FileHash: hash}

	t, err := begin(o.FS, o.Root, p)
	if err != nil {
		return nil, err
	}
	defer t.abort()

	done, err := checkExisting(t, o.Input, hash, o.Force, res)
	if done || err != nil {
		return res, err
	}

	w, err := segment.NewWriter(t.staging, segment.WriterOptions{FS: o.FS, SegmentSize: o.SegmentSize})
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
		if buf, err = protocol.AppendEvent(buf[:0], &ev); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", o.Input, r.Line(), err)
		}
		var pos segment.Position
		if pos, err = w.Append(protocol.TypeBookEvent, ev.IngestTS, buf); err != nil {
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
		o.Progress(total, total, res.Rows)
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
		Venue: p.Venue, SymbolCode: p.Symbol, IngestTimeNS: time.Now().UnixNano(),
		Completeness: "sealed", MetaVersion: 1, Date: p.Date, Stream: p.Stream,
		Provider: "tardis", Source: filepath.Base(o.Input), SourceHash: hash,
		VenueID: venueID, MarketID: marketID,
		Rows: res.Rows, Groups: res.Groups, Events: res.Events, Segments: res.Segments,
		Compressed: o.Compress,
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

// checkExisting decides what an import meets: nothing, the same file
// (done), or other data (refused without --force).
func checkExisting(t *txn, input, hash string, force bool, res *ImportResult) (done bool, err error) {
	old, err := ReadMeta(t.fsys, t.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := t.fsys.Stat(t.dir); serr == nil && !force {
			return false, fmt.Errorf("%s exists but has no %s: not a Chronicle stream; use --force to replace it", t.dir, MetaName)
		}
		return false, nil
	case err != nil:
		if force {
			return false, nil
		}
		return false, fmt.Errorf("%w; use --force to replace the stream", err)
	case force:
		return false, nil
	case old.SourceHash != hash:
		return false, fmt.Errorf("%s already holds data imported from %s (blake3 %.12s…); refusing to mix in a different file; use --force to replace it",
			t.p, old.Source, old.SourceHash)
	}
	// The same file is there. A crash after publishing can have left the
	// ledger unwritten: finish that part.
	res.AlreadyImported = true
	res.Rows, res.Groups, res.Events, res.Segments = old.Rows, old.Groups, old.Events, old.Segments
	if old.EventTimeRange != nil {
		res.MinTS, res.MaxTS = old.EventTimeRange[0], old.EventTimeRange[1]
	}
	if _, err := readLedger(t.fsys, t.root, t.p, hash); err != nil {
		// The directory entry of a stream published just before a crash
		// or a failed fsync may not be durable yet: sync it first.
		if err := t.fsys.SyncDir(filepath.Dir(t.dir)); err != nil {
			return true, err
		}
		return true, writeLedger(t.fsys, t.root, t.p, old, input, res.MinTS, res.MaxTS)
	}
	return true, removeStaleLedgers(t.fsys, t.root, t.p, hash) // a crash can also have left a replaced entry
}

func writeLedger(fsys vfs.FS, root string, p Partition, m *Meta, source string, minTS, maxTS uint64) error {
	dir := p.LedgerDir(root)
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
	if err := writeJSON(fsys, filepath.Join(dir, m.SourceHash+".json"), l); err != nil {
		return err
	}
	return removeStaleLedgers(fsys, root, p, m.SourceHash)
}

// resolve fills venue, symbol and date from flags, then the file name and
// path, then the file's own columns, and checks them against the columns.
func resolve(o *ImportOptions, r *tardis.EventReader, haveEvent bool, firstTS uint64) (Partition, uint16, uint32, error) {
	ni := ParseTardisPath(o.Input)
	pick := func(flag, fromName, fromData, what, flagName string) (string, error) {
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
		if fromData != "" && v != fromData {
			return "", fmt.Errorf("%s says %s %q but the file's %s column says %q", src, what, v, what, fromData)
		}
		return v, nil
	}
	venue, err := pick(o.Venue, ni.Exchange, r.Exchange(), "exchange", "venue")
	if err != nil {
		return Partition{}, 0, 0, err
	}
	symbol, err := pick(o.Symbol, ni.Symbol, r.Symbol(), "symbol", "symbol")
	if err != nil {
		return Partition{}, 0, 0, err
	}
	date := o.Date
	if date == "" {
		date = ni.Date
	}
	if date == "" && haveEvent {
		date = time.Unix(0, int64(firstTS)).UTC().Format(time.DateOnly)
	}
	if date == "" {
		return Partition{}, 0, 0, fmt.Errorf("cannot tell the date of %s: pass --date YYYY-MM-DD", o.Input)
	}
	p := Partition{Venue: venue, Symbol: symbol, Date: date, Stream: o.Stream}
	if err := p.Validate(); err != nil {
		return Partition{}, 0, 0, err
	}
	var venueID uint16
	switch {
	case o.VenueID >= 0 && o.VenueID <= 0xFFFF:
		venueID = uint16(o.VenueID)
	case o.VenueID > 0xFFFF:
		return Partition{}, 0, 0, fmt.Errorf("--venue-id %d does not fit in u16", o.VenueID)
	default:
		id, ok := VenueID(venue)
		if !ok {
			return Partition{}, 0, 0, fmt.Errorf("venue %q is not in the built-in venue table (see docs/PATH-CONTRACT.md): pass --venue-id", venue)
		}
		venueID = id
	}
	marketID := protocol.MarketID(symbol)
	if o.MarketID >= 0 {
		if o.MarketID > 0xFFFFFFFF {
			return Partition{}, 0, 0, fmt.Errorf("--market-id %d does not fit in u32", o.MarketID)
		}
		marketID = uint32(o.MarketID)
	}
	return p, venueID, marketID, nil
}
