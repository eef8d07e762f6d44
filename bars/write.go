package bars

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/export"
)

// Columns are the columns of a bar file, CSV and Parquet alike: Start, End,
// the prices, the volumes, VWAP, Trades, OpenTS and CloseTS.
var Columns = []string{
	"start", "end", "open", "high", "low", "close",
	"volume", "buy_volume", "sell_volume", "vwap", "trades",
	"open_timestamp", "close_timestamp",
}

// CSVWriter writes bars as CSV: timestamps as integer µs since the epoch,
// as Tardis writes them; prices and volumes as Tardis prints numbers
// (decimal.Append: shortest form, exact); vwap with exactly
// VWAPScale(price scale) decimals, empty when the volume is 0.
type CSVWriter struct {
	w      *bufio.Writer
	line   []byte
	header bool
	rows   int
}

// NewCSVWriter returns a CSVWriter to w. Call Flush at the end.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (c *CSVWriter) writeHeader() error {
	c.header = true
	_, err := c.w.WriteString(strings.Join(Columns, ",") + "\n")
	return err
}

// Write writes one bar. A timestamp that is not a whole µs is an error
// naming the bar (its row in the file, header excluded).
func (c *CSVWriter) Write(b *Bar) error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	c.rows++
	l := c.line[:0]
	var err error
	if l, err = c.micros(l, "start", b.Start); err != nil {
		return err
	}
	l = append(l, ',')
	if l, err = c.micros(l, "end", b.End); err != nil {
		return err
	}
	for _, p := range [...]uint64{b.Open, b.High, b.Low, b.Close} {
		l = append(l, ',')
		l = decimal.Append(l, p, b.PriceScale)
	}
	for _, v := range [...]uint64{b.Volume, b.BuyVolume, b.SellVolume} {
		l = append(l, ',')
		l = decimal.Append(l, v, b.AmountScale)
	}
	l = append(l, ',')
	l = b.AppendVWAP(l)
	l = append(l, ',')
	l = strconv.AppendInt(l, int64(b.Trades), 10)
	l = append(l, ',')
	if l, err = c.micros(l, "open_timestamp", b.OpenTS); err != nil {
		return err
	}
	l = append(l, ',')
	if l, err = c.micros(l, "close_timestamp", b.CloseTS); err != nil {
		return err
	}
	l = append(l, '\n')
	c.line = l
	_, err = c.w.Write(l)
	return err
}

func (c *CSVWriter) micros(dst []byte, col string, ns uint64) ([]byte, error) {
	if ns%1000 != 0 {
		return dst, fmt.Errorf("bars: CSV row %d, %s: %d ns is not a whole µs", c.rows, col, ns)
	}
	return strconv.AppendUint(dst, ns/1000, 10), nil
}

// Flush writes the header if no bar was written, then everything buffered.
func (c *CSVWriter) Flush() error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

// ParquetWriter writes bars as Parquet through package export: start, end,
// open_timestamp and close_timestamp as TIMESTAMP(MICROS, UTC); prices as
// DECIMAL(38, price scale), volumes as DECIMAL(38, amount scale), vwap as
// DECIMAL(38, VWAPScale(price scale)), null when the volume is 0; trades as
// DECIMAL(38, 0) (package export has no integer column). A column's scale
// is fixed for the file, so the caller passes the stream's largest scales;
// a bar with more decimals is an error (export.ErrValue), never a rounding.
type ParquetWriter struct {
	p     *export.ParquetWriter
	cells [13]export.Cell
	rows  int
}

// NewParquetWriter returns a ParquetWriter to w whose price and volume
// columns have priceScale and amountScale decimals. Call Close at the end.
func NewParquetWriter(w io.Writer, priceScale, amountScale uint8) (*ParquetWriter, error) {
	kinds := [...]struct {
		kind  export.Kind
		scale uint8
	}{
		{export.Timestamp, 0}, {export.Timestamp, 0},
		{export.Decimal, priceScale}, {export.Decimal, priceScale}, {export.Decimal, priceScale}, {export.Decimal, priceScale},
		{export.Decimal, amountScale}, {export.Decimal, amountScale}, {export.Decimal, amountScale},
		{export.Decimal, VWAPScale(priceScale)}, {export.Decimal, 0},
		{export.Timestamp, 0}, {export.Timestamp, 0},
	}
	cols := make([]export.Column, len(Columns))
	for i, name := range Columns {
		cols[i] = export.Column{Name: name, Kind: kinds[i].kind, Scale: kinds[i].scale, Nullable: name == "vwap"}
	}
	p, err := export.NewParquetWriter(w, cols)
	if err != nil {
		return nil, err
	}
	return &ParquetWriter{p: p}, nil
}

// Write writes one bar.
func (p *ParquetWriter) Write(b *Bar) error {
	p.rows++
	vwap, ok, err := b.VWAP()
	if err != nil {
		return fmt.Errorf("bars: Parquet row %d: %w", p.rows, err)
	}
	c := &p.cells
	c[0] = export.Cell{Mag: b.Start}
	c[1] = export.Cell{Mag: b.End}
	c[2] = export.Cell{Mag: b.Open, Scale: b.PriceScale}
	c[3] = export.Cell{Mag: b.High, Scale: b.PriceScale}
	c[4] = export.Cell{Mag: b.Low, Scale: b.PriceScale}
	c[5] = export.Cell{Mag: b.Close, Scale: b.PriceScale}
	c[6] = export.Cell{Mag: b.Volume, Scale: b.AmountScale}
	c[7] = export.Cell{Mag: b.BuyVolume, Scale: b.AmountScale}
	c[8] = export.Cell{Mag: b.SellVolume, Scale: b.AmountScale}
	c[9] = export.Cell{Mag: vwap, Scale: VWAPScale(b.PriceScale), Null: !ok}
	c[10] = export.Cell{Mag: uint64(b.Trades)}
	c[11] = export.Cell{Mag: b.OpenTS}
	c[12] = export.Cell{Mag: b.CloseTS}
	return p.p.WriteRow(c[:])
}

// Close writes the footer; it does not close the underlying writer.
func (p *ParquetWriter) Close() error { return p.p.Close() }
