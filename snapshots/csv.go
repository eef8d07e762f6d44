package snapshots

import (
	"io"
	"strconv"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
)

// csvFlushSize is how much CSV text is gathered before a write to the
// underlying writer.
const csvFlushSize = 64 << 10

// csvWriter writes Tardis book_snapshot_N CSV: timestamps in µs, numbers as
// Tardis prints them, missing levels as empty fields. It appends every row
// to one reused buffer: no allocation per row.
type csvWriter struct {
	w      io.Writer
	buf    []byte
	prefix []byte // "exchange,symbol,"
	depth  int
	err    error
}

func newCSVWriter(w io.Writer, exchange, symbol string, depth int) *csvWriter {
	c := &csvWriter{w: w, depth: depth, buf: make([]byte, 0, csvFlushSize+4096)}
	c.prefix = append(appendField(nil, exchange), ',')
	c.prefix = append(appendField(c.prefix, symbol), ',')
	for i, col := range Columns(depth) {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, col...)
	}
	c.buf = append(c.buf, '\n')
	return c
}

// Columns returns the column names of a book_snapshot_N file: exchange,
// symbol, timestamp, local_timestamp, then asks[i].price, asks[i].amount,
// bids[i].price, bids[i].amount for i = 0 .. depth-1.
func Columns(depth int) []string {
	cols := make([]string, 0, 4+4*depth)
	cols = append(cols, "exchange", "symbol", "timestamp", "local_timestamp")
	for i := range depth {
		n := strconv.Itoa(i)
		cols = append(cols, "asks["+n+"].price", "asks["+n+"].amount", "bids["+n+"].price", "bids["+n+"].amount")
	}
	return cols
}

// appendField quotes s if CSV needs it (exchange and symbol names never do
// in practice, but a comma must not shift the columns).
func appendField(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			dst = append(dst, '"')
			for j := 0; j < len(s); j++ {
				if s[j] == '"' {
					dst = append(dst, '"')
				}
				dst = append(dst, s[j])
			}
			return append(dst, '"')
		}
	}
	return append(dst, s...)
}

func (c *csvWriter) write(r *Row) error {
	if c.err != nil {
		return c.err
	}
	b := append(c.buf, c.prefix...)
	b = strconv.AppendUint(b, r.Timestamp/1000, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.LocalTimestamp/1000, 10)
	for i := range c.depth {
		b = appendLevel(b, r.Asks, i, r.PriceScale, r.SizeScale)
		b = appendLevel(b, r.Bids, i, r.PriceScale, r.SizeScale)
	}
	c.buf = append(b, '\n')
	if len(c.buf) >= csvFlushSize {
		return c.flush()
	}
	return nil
}

// appendLevel appends ",price,amount" of level i, or ",," when the side has
// fewer levels.
func appendLevel(b []byte, lv []protocol.Level, i int, ps, ss uint8) []byte {
	b = append(b, ',')
	if i >= len(lv) {
		return append(b, ',')
	}
	b = decimal.Append(b, lv[i].Price, ps)
	b = append(b, ',')
	return decimal.Append(b, lv[i].Size, ss)
}

func (c *csvWriter) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.w.Write(c.buf)
		c.buf = c.buf[:0]
	}
	return c.err
}

func (c *csvWriter) close() error { return c.flush() }

func (c *csvWriter) abort() {}
