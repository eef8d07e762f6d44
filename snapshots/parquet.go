package snapshots

import (
	"errors"
	"fmt"
	"io"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Parquet files are written by export.ParquetWriter (column-oriented, on
// the other cores; see package export): exchange and symbol as STRING,
// timestamp and local_timestamp as TIMESTAMP(MICROS, UTC), then the level
// columns in Columns order, optional DECIMAL(38, ps) for prices and
// DECIMAL(38, ss) for amounts, null where the book has fewer levels.
// DECIMAL(38) in 16 bytes holds any u64 mantissa at any scale up to 18
// exactly (DECIMAL(18) in an INT64 would be smaller but cannot).

// rowGroupRows bounds memory: the writer holds one row group's compressed
// pages until it is complete. Variables so that tests can make several
// row groups, many pages (maxPageRows) and PLAIN pages (maxDictEntries);
// 0 is export's default.
var (
	rowGroupRows   int64 = 1 << 16
	maxPageRows    int
	maxDictEntries int
)

// parquetColumns returns the columns of a snapshot file of the given
// depth whose prices and amounts have scales ps and ss.
func parquetColumns(depth int, ps, ss uint8) []export.Column {
	names := Columns(depth)
	cols := make([]export.Column, len(names))
	for i, name := range names {
		switch {
		case i < 2:
			cols[i] = export.Column{Name: name, Kind: export.String}
		case i < 4:
			cols[i] = export.Column{Name: name, Kind: export.Timestamp}
		case i%2 == 0:
			cols[i] = export.Column{Name: name, Kind: export.Decimal, Scale: ps, Nullable: true}
		default:
			cols[i] = export.Column{Name: name, Kind: export.Decimal, Scale: ss, Nullable: true}
		}
	}
	return cols
}

// parquetWriter is the Parquet sink: a row's levels become the cells of
// one export row.
type parquetWriter struct {
	p        *export.ParquetWriter
	depth    int
	whyScale string // a guess at how a value came to exceed the scales, for the error
	cells    []export.Cell
	na, nb   int // levels present in cells (the rest are null)
	err      error
}

func newParquetWriter(w io.Writer, exchange, symbol string, depth int, ps, ss uint8) *parquetWriter {
	pw := &parquetWriter{depth: depth, whyScale: "the stream's scale rose after its last event?"}
	pw.p, pw.err = export.NewParquetWriterOptions(w, parquetColumns(depth, ps, ss), export.Options{
		Name:         "book_snapshot",
		Metadata:     [][2]string{{"chronicle.layout", fmt.Sprintf("tardis book_snapshot_%d", depth)}},
		RowGroupRows: int(rowGroupRows),
		PageRows:     maxPageRows,
		DictValues:   maxDictEntries,
		// Two columns a stripe: one worker a level's ask price and
		// amount, the other its bid's (amounts cost more than prices).
		Stripe: 2,
	})
	if pw.err != nil {
		pw.err = fmt.Errorf("snapshots: %w", pw.err)
		return pw
	}
	pw.cells = make([]export.Cell, 4+4*depth)
	pw.cells[0].B, pw.cells[1].B = []byte(exchange), []byte(symbol)
	for i := range pw.cells[4:] {
		pw.cells[4+i].Null = true
	}
	return pw
}

func (p *parquetWriter) write(r *Row) error {
	if p.err != nil {
		return p.err
	}
	c := p.cells
	// µs, truncated: the archive's times come from Tardis's µs.
	c[2].Mag = r.Timestamp / 1000 * 1000
	c[3].Mag = r.LocalTimestamp / 1000 * 1000
	na, nb := min(len(r.Asks), p.depth), min(len(r.Bids), p.depth)
	lv := c[4:]
	for i, l := range r.Asks[:na] {
		pc, ac := &lv[4*i], &lv[4*i+1]
		pc.Mag, pc.Scale, ac.Mag, ac.Scale = l.Price, r.PriceScale, l.Size, r.SizeScale
	}
	for i, l := range r.Bids[:nb] {
		pc, ac := &lv[4*i+2], &lv[4*i+3]
		pc.Mag, pc.Scale, ac.Mag, ac.Scale = l.Price, r.PriceScale, l.Size, r.SizeScale
	}
	// Only the levels that appear or disappear change their null flags.
	if na != p.na {
		for i := min(na, p.na); i < max(na, p.na); i++ {
			lv[4*i].Null, lv[4*i+1].Null = i >= na, i >= na
		}
		p.na = na
	}
	if nb != p.nb {
		for i := min(nb, p.nb); i < max(nb, p.nb); i++ {
			lv[4*i+2].Null, lv[4*i+3].Null = i >= nb, i >= nb
		}
		p.nb = nb
	}
	if err := p.p.WriteRow(c); err != nil {
		// A value with more decimals than its column: an error, never a
		// rounding, and the end of the file.
		if errors.Is(err, export.ErrValue) {
			err = fmt.Errorf("snapshots: %w (%s)", err, p.whyScale)
		}
		p.err = err
		return err
	}
	return nil
}

func (p *parquetWriter) close() error {
	if p.err != nil {
		p.abort()
		return p.err
	}
	p.err = p.p.Close()
	return p.err
}

// abort stops the writer's goroutines.
func (p *parquetWriter) abort() {
	if p.p != nil {
		p.p.Abort()
	}
}

// parquetScales returns the price and size scales for the Parquet decimal
// columns: the largest scales of the stream's last segment. A Parquet
// column has one scale for the whole file and the file is written as the
// stream is read, so the scale must be known first. Chronicle's importer
// never lowers a scale from one event to the next (docs/FORMAT.md, "Scales"),
// so the last events carry the stream's largest scales and every book value
// converts to them exactly; reading one segment costs far less than a
// second pass over the stream. Should a stream from elsewhere break that
// rule, the writer reports the first value it cannot store exactly.
func parquetScales(fsys vfs.FS, dir string) (ps, ss uint8, err error) {
	evs, err := stream.OpenEvents(fsys, dir)
	if err != nil {
		return 0, 0, err
	}
	defer evs.Close()
	segs := evs.Segments()
	if len(segs) == 0 {
		return 0, 0, nil
	}
	if err := evs.Seek(segs[len(segs)-1].ID, segment.HeaderSize); err != nil {
		return 0, 0, err
	}
	for {
		ev, err := evs.Next()
		if errors.Is(err, io.EOF) {
			return ps, ss, nil
		}
		if err != nil {
			return 0, 0, err
		}
		ps, ss = max(ps, ev.PriceScale), max(ss, ev.SizeScale)
	}
}
