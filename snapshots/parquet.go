package snapshots

import (
	"errors"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"

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
