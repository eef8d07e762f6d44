package snapshots

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/segment"
	"github.com/chronicle-archive/chronicle/stream"
	"github.com/chronicle-archive/chronicle/vfs"
)

// Parquet layout. Prices and amounts are DECIMAL(38, scale) in 16-byte
// big-endian two's complement: any u64 mantissa times 10^18 fits below
// 10^38, so every value at any scale up to 18 is stored exactly, and
// pyarrow (pandas), polars and DuckDB all read it as a native decimal.
// (DECIMAL(18) in an INT64 would be smaller but cannot hold every u64.)
const (
	decimalPrecision = 38
	decimalBytes     = 16
	// parquetBatch rows are handed to the writer at a time.
	parquetBatch = 256
)

// rowGroupRows bounds memory: the writer holds one row group's compressed
// pages until it is complete. A variable so that tests can make several.
var rowGroupRows int64 = 1 << 16

// ParquetSchema returns the Parquet schema of a snapshot file of the given
// depth whose price and amount columns have scales ps and ss: exchange and
// symbol as strings, timestamp and local_timestamp as TIMESTAMP(MICROS,
// UTC), then the level columns in Columns order, optional DECIMAL(38, ps)
// for prices and DECIMAL(38, ss) for amounts (null where the book has fewer
// levels).
func ParquetSchema(depth int, ps, ss uint8) *parquet.Schema {
	str := parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
	ts := parquet.Timestamp(parquet.Microsecond)
	price := parquet.Optional(parquet.Decimal(int(ps), decimalPrecision, parquet.FixedLenByteArrayType(decimalBytes)))
	amount := parquet.Optional(parquet.Decimal(int(ss), decimalPrecision, parquet.FixedLenByteArrayType(decimalBytes)))
	cols := Columns(depth)
	g := orderedGroup{Group: parquet.Group{}}
	for i, name := range cols {
		var n parquet.Node
		switch {
		case i < 2:
			n = str
		case i < 4:
			n = ts
		case i%2 == 0:
			n = price
		default:
			n = amount
		}
		g.Group[name] = n
		g.fields = append(g.fields, field{Node: n, name: name})
	}
	return parquet.NewSchema("book_snapshot", g)
}

// orderedGroup is a group whose columns keep the order they were added in:
// parquet.Group sorts its fields by name, which would put asks[10] before
// asks[2] and prices after amounts. parquet-go orders its own variant
// groups the same way.
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

type field struct {
	parquet.Node
	name string
}

func (f field) Name() string { return f.name }

// Value is for writing Go structs by reflection, which the snapshot writer
// does not do: rows are built value by value.
func (f field) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

// parquetWriter streams rows into a Parquet file, one row group per
// rowGroupRows rows. Rows are built in reused buffers.
type parquetWriter struct {
	w        *parquet.GenericWriter[any]
	depth    int
	ps, ss   uint8 // column scales
	exchange []byte
	symbol   []byte
	rows     []parquet.Row // batch
	n        int           // rows used in the batch
	dec      []byte        // decimal bytes of the batch's rows
	err      error
}

func newParquetWriter(w io.Writer, exchange, symbol string, depth int, ps, ss uint8) *parquetWriter {
	ncols := 4 + 4*depth
	p := &parquetWriter{
		w: parquet.NewGenericWriter[any](w, ParquetSchema(depth, ps, ss),
			parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
			parquet.MaxRowsPerRowGroup(rowGroupRows),
			parquet.KeyValueMetadata("chronicle.layout", fmt.Sprintf("tardis book_snapshot_%d", depth)),
		),
		depth: depth, ps: ps, ss: ss,
		exchange: []byte(exchange), symbol: []byte(symbol),
		rows: make([]parquet.Row, parquetBatch),
		dec:  make([]byte, parquetBatch*4*depth*decimalBytes),
	}
	for i := range p.rows {
		p.rows[i] = make(parquet.Row, 0, ncols)
	}
	return p
}

func (p *parquetWriter) write(r *Row) error {
	if p.err != nil {
		return p.err
	}
	row := p.rows[p.n][:0]
	dec := p.dec[p.n*4*p.depth*decimalBytes:]
	row = append(row,
		parquet.ByteArrayValue(p.exchange).Level(0, 0, 0),
		parquet.ByteArrayValue(p.symbol).Level(0, 0, 1),
		parquet.Int64Value(int64(r.Timestamp/1000)).Level(0, 0, 2),
		parquet.Int64Value(int64(r.LocalTimestamp/1000)).Level(0, 0, 3),
	)
	col := 4
	for i := range p.depth {
		for _, lv := range [2][]protocol.Level{r.Asks, r.Bids} {
			if i >= len(lv) {
				row = append(row, parquet.NullValue().Level(0, 0, col), parquet.NullValue().Level(0, 0, col+1))
			} else {
				var err error
				if row, err = p.appendDecimal(row, dec[:decimalBytes], lv[i].Price, r.PriceScale, p.ps, col, "price"); err != nil {
					return err
				}
				if row, err = p.appendDecimal(row, dec[decimalBytes:2*decimalBytes], lv[i].Size, r.SizeScale, p.ss, col+1, "amount"); err != nil {
					return err
				}
			}
			dec = dec[2*decimalBytes:]
			col += 2
		}
	}
	p.rows[p.n] = row
	if p.n++; p.n == len(p.rows) {
		return p.flush()
	}
	return nil
}

// appendDecimal encodes m×10^-from at the column's scale into buf (16
// bytes, big-endian) and appends it as column col. A value with more
// decimals than the column holds is an error, never a rounding.
func (p *parquetWriter) appendDecimal(row parquet.Row, buf []byte, m uint64, from, to uint8, col int, what string) (parquet.Row, error) {
	if from > to {
		v, err := decimal.Rescale(m, from, to)
		if err != nil {
			p.err = fmt.Errorf("snapshots: %s %s has more than the %d decimals of the Parquet column (the stream's scale rose after its last event?)",
				what, decimal.String(m, from), to)
			return row, p.err
		}
		m, from = v, to
	}
	hi, lo := bits.Mul64(m, decimal.Pow10(to-from)) // < 2^124: the sign bit stays 0
	binary.BigEndian.PutUint64(buf[:8], hi)
	binary.BigEndian.PutUint64(buf[8:], lo)
	return append(row, parquet.FixedLenByteArrayValue(buf).Level(0, 1, col)), nil
}

// flush hands the batch to the Parquet writer, which copies the values.
func (p *parquetWriter) flush() error {
	if p.err == nil && p.n > 0 {
		_, p.err = p.w.WriteRows(p.rows[:p.n])
		p.n = 0
	}
	return p.err
}

func (p *parquetWriter) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
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
