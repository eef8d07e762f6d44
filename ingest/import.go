// Package ingest imports Tardis.dev CSV files into the archive: it reads
// a file of any data type Chronicle knows (package tardis maps its columns
// to records), frames the records into segments (package segment), builds
// the book checkpoints of an incremental_book_L2 stream (package book) as
// the events go by, and publishes the stream all or nothing (package
// archive, which knows nothing of Tardis, record types or books).
package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zeebo/blake3"

	"github.com/chronicle-archive/chronicle/archive"
	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/columnar/colseg"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/tardis"
	"github.com/chronicle-archive/chronicle/vfs"
)

// DefaultSegmentSize is the reference's segment size.
const DefaultSegmentSize = 128 << 20

// streamSymbols makes an import of a one-symbol file store its records
// with their symbol taken from the stream (record.Record.StreamSymbol,
// docs/FORMAT.md RecordHeader flags bit 1). Off until package stream's
// readers fill the symbol in from meta.json (record.Record.SetSymbol):
// without that, dump and export of such a stream would show no symbol.
var streamSymbols = true

// Options configure Import. The zero value of every field means its
// documented default; Root and Input are required.
type Options struct {
	FS    vfs.FS // default vfs.Default
	Root  string // archive root
	Input string // a file, or /dev/stdin (then Type, Venue, Symbol and Date are needed)

	// Type is Tardis's data type name (trades, incremental_book_L2,
	// book_snapshot_25, ...); default: from the file name, else from the
	// header.
	Type string
	// Venue, Symbol and Date default to the file name or path, then to the
	// file's columns and first local_timestamp; a value that contradicts
	// the columns, or a Date that is not the first local_timestamp's UTC
	// day, is an error.
	Venue, Symbol, Date string
	Stream              string // default: the data type's (trades, book, ...)

	VenueID     *uint16 // default: the built-in venue table
	MarketID    *uint32 // default: protocol.MarketID of the exact symbol
	SegmentSize int64   // default DefaultSegmentSize
	Force       bool    // replace what the stream holds
	Compress    bool    // store compressed segments, with Codec
	// Codec is the form of compressed segments: "" or "columnar" for
	// .q.col (package columnar), "zstd" for the reference's .q.zst.
	Codec string

	// PriceScale and SizeScale fix the scales of an incremental_book_L2
	// stream (default: automatic).
	PriceScale, SizeScale tardis.Scale
	// CheckpointEvery writes a book checkpoint every N events of an
	// incremental_book_L2 stream (default book.DefaultEvery);
	// NoCheckpoints writes none.
	CheckpointEvery int
	NoCheckpoints   bool

	// Progress, when set, is called now and then with input bytes read so
	// far, the input size (0 for a pipe) and rows so far.
	Progress func(read, total, rows int64)
}

// Result reports what Import did.
type Result struct {
	Partition       archive.Partition
	DataType        string
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

// input is an open Tardis file: the reader of its data type and what it
// tells about the partition.
type input interface {
	Exchange() string
	Symbol() string
	Rows() int64
	Line() int64
	BytesRead() int64
	Close() error
}

// Import imports a Tardis CSV file into the archive, all or nothing: on any
// error (or cancellation) nothing is published and the stream keeps what
// it held before.
//
// The input is read once, hashed as it is parsed (so a pipe works), into a
// staging directory. Only at the end is its hash known: if the stream
// already holds the same input, the staging is discarded and nothing
// changes (see sameInput).
func Import(ctx context.Context, o Options) (*Result, error) {
	o.FS = vfs.OrDefault(o.FS)
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < 2*segment.HeaderSize {
		return nil, fmt.Errorf("segment size %d is too small", o.SegmentSize)
	}
	codec, err := CodecByName(o.Codec)
	if err != nil {
		return nil, err
	}
	st, err := o.FS.Stat(o.Input)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a Tardis CSV file", o.Input)
	}
	name := tardis.ParsePath(o.Input)
	if !st.Mode().IsRegular() && o.Type == "" && name.DataType == "" {
		// Reading the header to tell the type would consume a pipe.
		return nil, fmt.Errorf("%s is not a regular file: pass --type (one of %s)", o.Input, tardis.KnownDataTypes())
	}
	dt, err := dataType(&o, name)
	if err != nil {
		return nil, err
	}
	if !dt.IsBook() {
		if o.PriceScale != (tardis.Scale{}) || o.SizeScale != (tardis.Scale{}) {
			return nil, fmt.Errorf("%s: --price-scale and --size-scale are for incremental_book_L2, not %s", o.Input, dt.Name)
		}
	}
	if o.Stream == "" {
		o.Stream = dt.Stream
	}
	h := blake3.New()
	var (
		in    input
		next  func() (ts uint64, err error) // reads the next row(s) into the pending record
		write func(w *segment.Writer, seq uint64) (segment.Position, error)
	)
	var (
		ev  protocol.Event
		rec record.Record
		buf []byte
	)
	if dt.IsBook() {
		r, err := tardis.Open(o.Input, tardis.Options{Name: o.Input, PriceScale: o.PriceScale, SizeScale: o.SizeScale, Hash: h})
		if err != nil {
			return nil, err
		}
		in = r
		next = func() (uint64, error) { err := r.Next(&ev); return ev.IngestTS, err }
	} else {
		grouped := tardis.GroupedSymbol(name.Symbol) || tardis.GroupedSymbol(o.Symbol)
		// A one-symbol file repeats its symbol on every row: the records
		// take it from the stream (meta.json's symbol) instead of storing
		// it, which for quotes is 128 bytes a row instead of 192.
		r, err := tardis.OpenRecords(o.Input, dt, tardis.RecordOptions{Grouped: grouped, Hash: h, StreamSymbol: streamSymbols})
		if err != nil {
			return nil, err
		}
		in = r
		rec.Reset(dt.Record)
		next = func() (uint64, error) { err := r.Next(&rec); return rec.LocalTS, err }
	}
	defer in.Close()

	// The first record tells the exchange and symbol columns, which the
	// partition must agree with, and the date.
	firstTS, first := next()
	if first != nil && first != io.EOF {
		return nil, first
	}
	rv, err := resolve(&o, dt, name, in, first == nil, firstTS)
	if err != nil {
		return nil, err
	}
	p := rv.p
	res := &Result{Partition: p, DataType: dt.Name, Dir: p.Dir(o.Root)}
	// Checked before anything is published, not only where the ledger is
	// written.
	if err := archive.NoSymlinks(o.Root, p.LedgerDir(o.Root)); err != nil {
		return nil, err
	}

	t, err := archive.Begin(o.FS, o.Root, p)
	if err != nil {
		return nil, err
	}
	defer t.Abort()

	old, err := t.Existing(o.Force)
	if err != nil {
		return nil, err
	}

	// With --compress and the columnar codec each segment is encoded as it
	// is written, on the writer's background goroutine, and no .q is ever
	// written. With another codec (zstd) each segment is compressed as soon
	// as it is sealed.
	wo := segment.WriterOptions{FS: o.FS, SegmentSize: o.SegmentSize}
	var comp *sealCompressor
	if ae, ok := codec.(segment.AppendEncoder); ok && o.Compress {
		wo.Codec = ae
	} else if o.Compress {
		comp = &sealCompressor{dir: t.Staging(), opts: segment.CompressOptions{FS: o.FS, Codec: codec}}
		wo.OnSeal = comp.add
	}
	w, err := segment.NewWriter(t.Staging(), wo)
	if err != nil {
		return nil, err
	}
	defer w.Abort()

	var (
		ck     *book.Builder
		scales = newScales(dt)
	)
	if dt.IsBook() {
		// Book checkpoints are built as the events go by, not by reading
		// the segments back.
		if !o.NoCheckpoints {
			if ck, err = book.NewBuilder(o.FS, t.Staging(), o.CheckpointEvery); err != nil {
				return nil, err
			}
			defer ck.Abort()
		}
		write = func(w *segment.Writer, seq uint64) (segment.Position, error) {
			ev.VenueID, ev.MarketID, ev.BookMode = rv.venueID, rv.marketID, protocol.ModeL2
			ev.Seq, ev.NativeSeq = seq, seq
			if ev.Type == protocol.Diff {
				ev.DiffFlags = protocol.FlagAbsolute
				ev.UpdateIDFirst, ev.UpdateIDLast, ev.UpdateIDPrev = seq, seq, max(seq, 1)-1
			}
			var err error
			if buf, err = protocol.AppendEventHead(buf[:0], &ev); err != nil {
				return segment.Position{}, fmt.Errorf("%s: line %d: %w", o.Input, in.Line(), err)
			}
			scales.book(&ev)
			pos, err := w.AppendParts(protocol.TypeBookEvent, ev.IngestTS, buf, protocol.LevelBytes(ev.Bids), protocol.LevelBytes(ev.Asks))
			if err == nil && ck != nil {
				err = ck.Add(pos, &ev)
			}
			return pos, err
		}
	} else {
		write = func(w *segment.Writer, seq uint64) (segment.Position, error) {
			var err error
			if buf, err = record.Append(buf[:0], &rec); err != nil {
				return segment.Position{}, fmt.Errorf("%s: line %d: %w", o.Input, in.Line(), err)
			}
			return w.Append(dt.Record.ID, rec.LocalTS, buf)
		}
	}

	var seq, lastTS uint64
	total := st.Size()
	if !st.Mode().IsRegular() {
		total = 0
	}
	ts := firstTS
	for err = first; err == nil; ts, err = next() {
		if _, err := write(w, seq); err != nil {
			return nil, err
		}
		if seq == 0 || ts != lastTS {
			res.Groups++
		}
		if seq == 0 || ts < res.MinTS {
			res.MinTS = ts
		}
		res.MaxTS = max(res.MaxTS, ts)
		lastTS = ts
		seq++
		if seq%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := comp.failed(); err != nil {
				return nil, err
			}
			if o.Progress != nil {
				o.Progress(in.BytesRead(), total, in.Rows())
			}
		}
	}
	if err != io.EOF {
		return nil, err
	}
	if rr, ok := in.(*tardis.RecordReader); ok {
		scales.records(rr.Scales())
	}
	// The hash covers the input only if the reader consumed all of it, and
	// a regular file that grew or shrank meanwhile is not the file hashed.
	if st.Mode().IsRegular() {
		if now, err := o.FS.Stat(o.Input); err != nil || now.Size() != st.Size() || in.BytesRead() != st.Size() {
			return nil, fmt.Errorf("%s changed while it was being imported (%d bytes at the start, %d read); nothing was imported", o.Input, st.Size(), in.BytesRead())
		}
	}
	res.FileHash = hex.EncodeToString(h.Sum(nil))
	if old != nil && !o.Force {
		w.Abort() // now, while the lock is held: its .tmp path may be another writer's after
		if ck != nil {
			ck.Abort()
		}
		return sameInput(ctx, t, &o, old, res, rv)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if ck != nil {
		if err := ck.Finish(); err != nil {
			return nil, err
		}
	}
	published := w.PublishedFiles()
	res.Rows, res.Events, res.Segments = in.Rows(), int64(seq), len(published)
	if o.Progress != nil {
		o.Progress(in.BytesRead(), max(total, in.BytesRead()), res.Rows)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := comp.failed(); err != nil { // the last segment, sealed by Close
		return nil, err
	}
	m := &archive.Meta{
		Venue: p.Venue, SymbolCode: p.Symbol, Symbol: rv.symbol, IngestTimeNS: time.Now().UnixNano(),
		Completeness: "sealed", MetaVersion: 1, Date: p.Date, Stream: p.Stream,
		Provider: "tardis", Source: filepath.Base(o.Input), SourceHash: res.FileHash,
		DataType: dt.Name, RecordType: dt.Record.Name, Depth: dt.Depth, Scales: scales.meta(),
		VenueID: rv.venueID, MarketID: rv.marketID,
		Rows: res.Rows, Groups: res.Groups, Events: res.Events, Segments: res.Segments,
		Compressed: o.Compress,
		Made:       madeWith(&o, dt, ck != nil),
	}
	if o.Compress {
		m.Codec = archive.CodecName(codec)
	}
	if res.Events > 0 {
		m.EventTimeRange = &[2]uint64{res.MinTS, res.MaxTS}
	}
	// The .q files' hashes were computed as they were written; the
	// compressed files of --compress are hashed by Publish.
	known := make(map[string]archive.FileEntry, len(published))
	for _, p := range published {
		if p.Blake3 == "" {
			continue // a .q.col the writer encoded: Publish hashes the file
		}
		known[p.Name] = archive.FileEntry{Name: p.Name, Size: p.Size, Blake3: p.Blake3}
	}
	if err := t.Publish(m, known); err != nil {
		return nil, err
	}
	if err := archive.WriteLedger(o.FS, o.Root, p, m, o.Input, res.MinTS, res.MaxTS); err != nil {
		return nil, fmt.Errorf("stream published but ledger not written (rerun the import to finish it): %w", err)
	}
	return res, nil
}

// CodecByName is the codec of compressed segments a name (Options.Codec,
// the CLI's --codec) gives, for archive.Options: "" or "columnar" the
// columnar codec, "zstd" nil (archive's .q.zst).
func CodecByName(name string) (segment.BlockCodec, error) {
	switch name {
	case "", colseg.Codec{}.Name():
		return colseg.Codec{}, nil
	case archive.CodecZstd:
		return nil, nil
	}
	return nil, fmt.Errorf("codec %q: want %s or %s", name, colseg.Codec{}.Name(), archive.CodecZstd)
}

// dataType decides the input's data type: Options.Type, else the file
// name or path, else the header.
func dataType(o *Options, name tardis.FileInfo) (tardis.DataType, error) {
	typ, src := o.Type, "--type"
	if typ == "" {
		typ, src = name.DataType, "the file name"
	}
	if typ != "" {
		dt, ok := tardis.LookupDataType(typ)
		if !ok {
			return dt, fmt.Errorf("%s: %s says data type %q, which Chronicle does not know (it imports %s)", o.Input, src, typ, tardis.KnownDataTypes())
		}
		return dt, nil
	}
	header, err := tardis.ReadHeader(o.Input)
	if err != nil {
		return tardis.DataType{}, err
	}
	dt, ok := tardis.DetectDataType(header)
	if !ok {
		// Most likely a file of a known type with a column missing: its
		// reader names the column.
		dt, ok = tardis.GuessDataType(header)
	}
	if !ok {
		return dt, fmt.Errorf("%s: cannot tell its data type from its name or its columns (%s); pass --type (one of %s)",
			o.Input, joinCols(header), tardis.KnownDataTypes())
	}
	return dt, nil
}

func joinCols(cols []string) string {
	const most = 12
	s := ""
	for i, c := range cols {
		if !utf8.ValidString(c) || strings.IndexFunc(c, unicode.IsControl) >= 0 {
			return "not CSV text"
		}
		if i == most {
			return s + ",..."
		}
		if i > 0 {
			s += ","
		}
		s += c
	}
	return s
}

// sealCompressor compresses each segment of a staging directory as soon
// as it is sealed (segment.WriterOptions.OnSeal, on the import's goroutine,
// so that every file operation happens at a point fixed by the input, as
// the crash tests need), with archive.CompressDir's options: an import
// --compress --codec zstd equals an import followed by compress. (The
// columnar codec needs none: the writer encodes as it writes.)
type sealCompressor struct {
	dir  string
	opts segment.CompressOptions
	err  error // the first failure: no segment is compressed after it
}

func (c *sealCompressor) add(p segment.PublishedFile) {
	if c.err == nil {
		if err := segment.CompressSegment(c.dir, p.ID, c.opts); err != nil {
			c.err = fmt.Errorf("compressing segment %d: %w", p.ID, err)
		}
	}
}

// failed returns the first error so far; nil for a nil compressor.
func (c *sealCompressor) failed() error {
	if c == nil {
		return nil
	}
	return c.err
}
