// Package export writes typed Parquet files from rows of cells: strings,
// timestamps, exact decimals and booleans, with the column names and types
// the caller chooses (package tardis maps records and book events to
// Tardis's columns).
package export

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"reflect"

	"github.com/parquet-go/parquet-go"

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
)

// rowGroupRows is the default of Options.RowGroupRows. A variable so that
// tests can make several.
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
	// The small members first: 40 bytes, not 56 (a deep book snapshot's
	// row is a hundred cells that WriteRow reads).
	Null  bool
	Neg   bool
	Scale uint8
	Bool  bool
	Mag   uint64
	B     []byte
}

// ErrValue is wrapped by the errors of WriteRow about a cell that cannot
// be stored (the row is then not written and the writer stays usable);
// any other error is final.
var ErrValue = errors.New("export: value cannot be stored")

// NewParquetWriter returns a writer of a file with columns cols to w.
// Call Close to write the footer (or Abort to give the file up).
func NewParquetWriter(w io.Writer, cols []Column) (*ParquetWriter, error) {
	return NewParquetWriterOptions(w, cols, Options{})
}

// Options adjusts what NewParquetWriter writes; the zero value is its
// defaults.
type Options struct {
	// Name is the schema's root name (default "chronicle").
	Name string
	// Metadata is the footer's key-value metadata, [key, value] pairs in
	// order.
	Metadata [][2]string
	// RowGroupRows bounds a row group's rows (default 65,536): the writer
	// holds a row group's compressed pages until it is complete.
	RowGroupRows int
	// PageRows and DictValues lower the data pages' rows (default
	// 16,384) and a column chunk's dictionary values (default 65,536;
	// past them the chunk goes on in PLAIN pages), for tests that want
	// many of each; larger values are the defaults.
	PageRows, DictValues int
	// Stripe deals the columns out to the encoding goroutines in stripes
	// of this many consecutive columns (default 1), each stripe to the
	// least loaded: columns that repeat a pattern of unequal costs (a book
	// snapshot's price, amount, price, amount) then share out alike, not
	// every price to one goroutine and every amount to the other.
	Stripe int
}

// NewParquetWriterOptions is NewParquetWriter with options.
func NewParquetWriterOptions(w io.Writer, cols []Column, o Options) (*ParquetWriter, error) {
	if o.Name == "" {
		o.Name = "chronicle"
	}
	schema, err := newSchema(o.Name, cols)
	if err != nil {
		return nil, err
	}
	return newWriter(w, cols, schema, o)
}

// newSchema returns the Parquet schema of a file with columns cols, in
// their order.
func newSchema(name string, cols []Column) (*parquet.Schema, error) {
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
	return parquet.NewSchema(name, g), nil
}

// orderedGroup is a group whose columns keep the order they were added in:
// parquet.Group sorts its fields by name, which would put asks[10] before
// asks[2] and prices after amounts.
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

// Value is for writing Go structs by reflection, which this package does
// not do: parquet-go only writes the template footer (see template).
func (f field) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

// toDecimal returns c's value at scale to as 128 bits of two's
// complement (hi, lo).
func toDecimal(c *Cell, to uint8) ([2]uint64, error) {
	m, from := c.Mag, c.Scale
	if from > to {
		v, err := decimal.Rescale(m, from, to)
		if err != nil {
			return [2]uint64{}, fmt.Errorf("%s%s has more than the column's %d decimals", sign(c.Neg), decimal.String(m, from), to)
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
	return [2]uint64{hi, lo}, nil
}

func sign(neg bool) string {
	if neg {
		return "-"
	}
	return ""
}
