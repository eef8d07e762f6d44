package quotes

import (
	"io"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/tardis"
)

// Columns are Tardis's quotes columns, CSV and Parquet alike.
var Columns = DataType.Columns()

// CSVWriter writes quotes as Tardis's quotes CSV: its header and column
// order, an absent side as empty cells, numbers as Tardis prints them,
// timestamps in µs. It is tardis.RecordWriter, the writer of an imported
// quotes stream's export.
type CSVWriter struct{ w *tardis.RecordWriter }

// NewCSVWriter returns a CSVWriter to w whose exchange column is exchange
// (meta.json's venue). Call Flush at the end.
func NewCSVWriter(w io.Writer, exchange string) *CSVWriter {
	return &CSVWriter{tardis.NewRecordWriter(w, DataType, exchange)}
}

// Write writes one quote (a record from Deriver.Add or Flush).
func (c *CSVWriter) Write(q *record.Record) error { return c.w.Write(q) }

// Flush writes the header if no quote was written, then everything
// buffered.
func (c *CSVWriter) Flush() error { return c.w.Flush() }

// ParquetWriter writes quotes as typed Parquet through package export,
// with the columns of an imported quotes stream's export (docs/PARQUET.md):
// exchange and symbol STRING, timestamp and local_timestamp
// TIMESTAMP(MICROS, UTC), amounts DECIMAL(38, size scale) and prices
// DECIMAL(38, price scale), null for an absent side. A column's scale is
// fixed for the file: the caller passes the stream's largest (Scales), and
// a quote with more decimals is an error (export.ErrValue), never a
// rounding.
type ParquetWriter struct {
	p        *export.ParquetWriter
	exchange string
	cells    []export.Cell
}

// NewParquetWriter returns a ParquetWriter to w. Call Close at the end.
func NewParquetWriter(w io.Writer, exchange string, priceScale, sizeScale uint8) (*ParquetWriter, error) {
	// The scale slots of record.Quote: ask_amount, ask_price, bid_price, bid_amount.
	cols := tardis.RecordColumns(record.Quote, 0, []uint8{sizeScale, priceScale, priceScale, sizeScale})
	p, err := export.NewParquetWriter(w, cols)
	if err != nil {
		return nil, err
	}
	return &ParquetWriter{p: p, exchange: exchange, cells: make([]export.Cell, 0, len(cols))}, nil
}

// Write writes one quote.
func (p *ParquetWriter) Write(q *record.Record) error {
	p.cells = tardis.AppendRecordCells(p.cells[:0], p.exchange, q, 0)
	return p.p.WriteRow(p.cells)
}

// Close writes the footer; it does not close the underlying writer.
func (p *ParquetWriter) Close() error { return p.p.Close() }
