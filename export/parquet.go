// Package export writes typed Parquet files from rows of cells: strings,
// timestamps, exact decimals and booleans, with the column names and types
// the caller chooses (package tardis maps records and book events to
// Tardis's columns).
package export

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
)

// Kind is the type of a column.
type Kind uint8

// Column kinds.
const (
	// String: BYTE_ARRAY STRING, dictionary-encoded.
	String Kind = iota + 1
	// Timestamp: INT64 TIMESTAMP(MICROS, isAdjustedToUTC), from ns.
	Timestamp
	// Decimal: DECIMAL(38, Scale) in a 16-byte FIXED_LEN_BYTE_ARRAY: any
	// u64 mantissa times 10^18 fits below 10^38, so every value at any
	// scale up to 18 is stored exactly, and pyarrow (pandas), polars and
	// DuckDB all read it as a native decimal. (DECIMAL(18) in an INT64
	// would be smaller but cannot hold every u64.)
	Decimal
	// Bool: BOOLEAN.
	Bool
)

// MaxScale is the largest Decimal column scale (see Decimal).
const MaxScale = 18

const (
	decimalPrecision = 38
	decimalBytes     = 16
	// batchRows rows are buffered column by column before each column's
	// values go to its column writer: the hand-over is per column, so
	// columns can later be encoded in parallel.
	batchRows = 1024
)

// rowGroupRows bounds memory: the writer holds one row group's compressed
// pages until it is complete. A variable so that tests can make several.
var rowGroupRows = 1 << 16

// Column is one column of a file.
type Column struct {
	Name     string
	Kind     Kind
	Scale    uint8 // Decimal: digits after the point, at most MaxScale
	Nullable bool  // OPTIONAL; else REQUIRED, and a null cell is an error
}

// Cell is one value of a row. Which members count depends on the column's
// kind:
//   - Decimal: (-1 if Neg) × Mag × 10^-Scale, rescaled exactly to the
//     column's scale (a value needing more decimals is an error, never a
//     rounding);
//   - Timestamp: Mag = ns since the epoch, a multiple of 1000;
//   - String: B, copied (the caller may reuse it);
//   - Bool: Bool.
type Cell struct {
	Null  bool
	Neg   bool
	Mag   uint64
	Scale uint8
	B     []byte
	Bool  bool
}

// ErrValue is wrapped by the errors of WriteRow about a cell that cannot
// be stored (the row is then not written and the writer stays usable);
// any other error is final.
var ErrValue = errors.New("export: value cannot be stored")

// ParquetWriter streams rows into a zstd-compressed Parquet file, in row
// groups of at most rowGroupRows rows. It keeps one batch of rows column
// by column in reused buffers: no allocation per row in steady state.
type ParquetWriter struct {
	w       *parquet.GenericWriter[any]
	cols    []Column
	vals    [][]parquet.Value // per column, the batch's values
	arena   []byte            // bytes the batch's values point to
	rows    int64             // rows written so far
	inGroup int               // rows of the current row group, batch included
	err     error
}

// NewParquetWriter returns a writer of a file with columns cols to w.
// Call Close to write the footer.
func NewParquetWriter(w io.Writer, cols []Column) (*ParquetWriter, error) {
	schema, err := newSchema(cols)
	if err != nil {
		return nil, err
	}
	p := &ParquetWriter{
		w: parquet.NewGenericWriter[any](w, schema,
			parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
			parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
		),
		cols: cols,
		vals: make([][]parquet.Value, len(cols)),
	}
	for i := range p.vals {
		p.vals[i] = make([]parquet.Value, 0, batchRows)
	}
	return p, nil
}

// newSchema returns the Parquet schema of a file with columns cols, in
// their order.
func newSchema(cols []Column) (*parquet.Schema, error) {
	if len(cols) == 0 {
		return nil, errors.New("export: no columns")
	}
	g := orderedGroup{Group: parquet.Group{}}
	for _, c := range cols {
		var n parquet.Node
		switch c.Kind {
		case String:
			n = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		case Timestamp:
			n = parquet.Timestamp(parquet.Microsecond)
		case Decimal:
			if c.Scale > MaxScale {
				return nil, fmt.Errorf("export: column %q: scale %d above %d", c.Name, c.Scale, MaxScale)
			}
			n = parquet.Decimal(int(c.Scale), decimalPrecision, parquet.FixedLenByteArrayType(decimalBytes))
		case Bool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			return nil, fmt.Errorf("export: column %q: unknown kind %d", c.Name, c.Kind)
		}
		if c.Nullable {
			n = parquet.Optional(n)
		}
		if _, dup := g.Group[c.Name]; dup || c.Name == "" {
			return nil, fmt.Errorf("export: column name %q empty or repeated", c.Name)
		}
		g.Group[c.Name] = n
		g.fields = append(g.fields, field{Node: n, name: c.Name})
	}
	return parquet.NewSchema("chronicle", g), nil
}

// orderedGroup is a group whose columns keep the order they were added in:
// parquet.Group sorts its fields by name, which would put asks[10] before
// asks[2] and prices after amounts. (A copy of package snapshots' own.)
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

// Value is for writing Go structs by reflection, which this writer does
// not do: values are handed to the column writers directly.
func (f field) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

// WriteRow writes one row: cells[i] is the value of column i.
func (p *ParquetWriter) WriteRow(cells []Cell) error {
	if p.err != nil {
		return p.err
	}
	if len(cells) != len(p.cols) {
		return fmt.Errorf("%w: row %d has %d cells for %d columns", ErrValue, p.rows+1, len(cells), len(p.cols))
	}
	mark := len(p.arena)
	for i := range cells {
		v, err := p.value(i, &cells[i])
		if err != nil {
			// Undo the row's earlier cells so that the file stays rectangular.
			for j := range i {
				p.vals[j] = p.vals[j][:len(p.vals[j])-1]
			}
			p.arena = p.arena[:mark]
			return fmt.Errorf("%w: row %d, column %q: %v", ErrValue, p.rows+1, p.cols[i].Name, err)
		}
		p.vals[i] = append(p.vals[i], v)
	}
	p.rows++
	p.inGroup++
	if len(p.vals[0]) == batchRows || p.inGroup == rowGroupRows {
		return p.flushBatch()
	}
	return nil
}

// value converts c for column i. The arena may move when it grows: values
// already made keep pointing at the old array, which stays valid.
func (p *ParquetWriter) value(i int, c *Cell) (parquet.Value, error) {
	col := &p.cols[i]
	def := 0 // definition level of a present value
	if col.Nullable {
		def = 1
	}
	if c.Null {
		if !col.Nullable {
			return parquet.Value{}, errors.New("null in a column that is not nullable")
		}
		return parquet.NullValue().Level(0, 0, i), nil
	}
	var v parquet.Value
	switch col.Kind {
	case String:
		start := len(p.arena)
		p.arena = append(p.arena, c.B...)
		v = parquet.ByteArrayValue(p.arena[start:len(p.arena):len(p.arena)])
	case Timestamp:
		if c.Mag%1000 != 0 {
			return parquet.Value{}, fmt.Errorf("timestamp %d ns is not a whole µs", c.Mag)
		}
		v = parquet.Int64Value(int64(c.Mag / 1000))
	case Decimal:
		start := len(p.arena)
		var err error
		if p.arena, err = appendDecimal(p.arena, c, col.Scale); err != nil {
			return parquet.Value{}, err
		}
		v = parquet.FixedLenByteArrayValue(p.arena[start:len(p.arena):len(p.arena)])
	case Bool:
		v = parquet.BooleanValue(c.Bool)
	}
	return v.Level(0, def, i), nil
}

// appendDecimal appends c's value at scale to as 16 bytes of big-endian
// two's complement.
func appendDecimal(dst []byte, c *Cell, to uint8) ([]byte, error) {
	m, from := c.Mag, c.Scale
	if from > to {
		v, err := decimal.Rescale(m, from, to)
		if err != nil {
			return dst, fmt.Errorf("%s%s has more than the column's %d decimals", sign(c.Neg), decimal.String(m, from), to)
		}
		m, from = v, to
	}
	hi, lo := bits.Mul64(m, decimal.Pow10(to-from)) // < 2^124: the sign bit stays 0
	if c.Neg {
		// Two's complement of the 128 bits: invert, add one.
		var carry uint64
		lo, carry = bits.Add64(^lo, 1, 0)
		hi, _ = bits.Add64(^hi, 0, carry)
	}
	dst = binary.BigEndian.AppendUint64(dst, hi)
	return binary.BigEndian.AppendUint64(dst, lo), nil
}

func sign(neg bool) string {
	if neg {
		return "-"
	}
	return ""
}

// flushBatch hands each column's batch to its column writer, which copies
// the values, and closes the row group when it is full.
func (p *ParquetWriter) flushBatch() error {
	if len(p.vals[0]) > 0 {
		for i, cw := range p.w.ColumnWriters() {
			if _, err := cw.WriteRowValues(p.vals[i]); err != nil {
				p.err = fmt.Errorf("export: parquet column %q: %w", p.cols[i].Name, err)
				return p.err
			}
			p.vals[i] = p.vals[i][:0]
		}
		p.arena = p.arena[:0]
	}
	if p.inGroup == rowGroupRows {
		p.inGroup = 0
		if err := p.w.Flush(); err != nil {
			p.err = fmt.Errorf("export: parquet row group: %w", err)
			return p.err
		}
	}
	return nil
}

// Close writes the buffered rows and the footer. It does not close the
// underlying writer.
func (p *ParquetWriter) Close() error {
	if p.err != nil {
		return p.err
	}
	if err := p.flushBatch(); err != nil {
		return err
	}
	if err := p.w.Close(); err != nil {
		p.err = fmt.Errorf("export: parquet footer: %w", err)
		return p.err
	}
	p.err = errors.New("export: writer closed")
	return nil
}
