package export

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// readBack reads a file with parquet-go's reader and prints each row as
// its cells joined by "|": decimals exactly from their unscaled bytes and
// the column's scale, timestamps as µs, NULL for nulls. It also returns
// the number of row groups and checks that every chunk is zstd.
func readBack(t *testing.T, data []byte) (rows []string, groups int) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	leaves := f.Schema().Fields()
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v: codec %v, want ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	for _, rg := range f.RowGroups() {
		groups++
		rr := rg.Rows()
		buf := make([]parquet.Row, 7)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				cells := make([]string, len(row))
				for i, v := range row {
					cells[i] = render(t, leaves[i], v)
				}
				rows = append(rows, strings.Join(cells, "|"))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rr.Close()
	}
	return rows, groups
}

func render(t *testing.T, f parquet.Field, v parquet.Value) string {
	if v.IsNull() {
		return "NULL"
	}
	var lt format.LogicalTypeValue
	if l := f.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	switch lt := lt.(type) {
	case *format.DecimalType:
		b := v.ByteArray()
		n := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(lt.Scale)), nil))
		return r.FloatString(int(lt.Scale))
	case *format.TimestampType:
		return strconv.FormatInt(v.Int64(), 10)
	}
	if v.Kind() == parquet.Boolean {
		return strconv.FormatBool(v.Boolean())
	}
	return string(v.ByteArray())
}

var allKinds = []Column{
	{Name: "s", Kind: String},
	{Name: "ns", Kind: String, Nullable: true},
	{Name: "t", Kind: Timestamp},
	{Name: "nt", Kind: Timestamp, Nullable: true},
	{Name: "d2", Kind: Decimal, Scale: 2},
	{Name: "nd18", Kind: Decimal, Scale: 18, Nullable: true},
	{Name: "d0", Kind: Decimal, Scale: 0, Nullable: true},
	{Name: "b", Kind: Bool},
	{Name: "nb", Kind: Bool, Nullable: true},
}

func str(s string) Cell          { return Cell{B: []byte(s)} }
func ts(ns uint64) Cell          { return Cell{Mag: ns} }
func dec(m uint64, s uint8) Cell { return Cell{Mag: m, Scale: s} }
func neg(m uint64, s uint8) Cell { return Cell{Neg: true, Mag: m, Scale: s} }

var null = Cell{Null: true}

func TestWriteRow(t *testing.T) {
	tests := []struct {
		name  string
		cells []Cell
		want  string // the row read back; "" when refused
		err   string // part of the refusal's message
	}{
		{"plain", []Cell{str("binance"), str("id-1"), ts(1_575_158_403_572_000_000), ts(1000), dec(754078, 2), dec(1, 18), dec(7, 0), {Bool: true}, {Bool: false}},
			"binance|id-1|1575158403572000|1|7540.78|0.000000000000000001|7|true|false", ""},
		{"nulls", []Cell{str(""), null, ts(0), null, dec(0, 0), null, null, {}, null},
			"|NULL|0|NULL|0.00|NULL|NULL|false|NULL", ""},
		{"rescaled up", []Cell{str("x"), str(""), ts(0), ts(0), dec(5, 0), dec(12, 1), dec(3, 0), {}, {}},
			"x||0|0|5.00|1.200000000000000000|3|false|false", ""},
		{"19 decimals into 18", []Cell{str("x"), str("y"), ts(0), ts(0), dec(1500, 3), dec(1, 19+0), dec(7000, 3), {}, {}},
			"", "more than the column's 18 decimals"},
		{"trailing zeros dropped", []Cell{str("x"), str("y"), ts(0), ts(0), dec(1500, 3), dec(10, 19), dec(7000, 3), {}, {}},
			"x|y|0|0|1.50|0.000000000000000001|7|false|false", ""},
		{"negatives", []Cell{str("x"), str("y"), ts(0), ts(0), neg(12345, 5), neg(1, 18), neg(0, 0), {}, {}},
			"", "-0.12345 has more than the column's 2 decimals"},
		{"negatives in range", []Cell{str("x"), str("y"), ts(0), ts(0), neg(12, 2), neg(1, 18), neg(0, 0), {}, {}},
			"x|y|0|0|-0.12|-0.000000000000000001|0|false|false", ""},
		{"u64 extremes", []Cell{str("x"), str("y"), ts(math.MaxUint64 / 1000 * 1000), ts(0), dec(math.MaxUint64, 2), dec(math.MaxUint64, 0), neg(math.MaxUint64, 0), {}, {}},
			"x|y|18446744073709551|0|184467440737095516.15|18446744073709551615.000000000000000000|-18446744073709551615|false|false", ""},
		{"more decimals than the column", []Cell{str("x"), str("y"), ts(0), ts(0), dec(7540781, 3), null, null, {}, null},
			"", `column "d2": 7540.781 has more than the column's 2 decimals`},
		{"timestamp not whole µs", []Cell{str("x"), str("y"), ts(1_575_158_403_572_000_001), ts(0), dec(0, 0), null, null, {}, null},
			"", `column "t": timestamp 1575158403572000001 ns is not a whole µs`},
		{"nullable timestamp not whole µs", []Cell{str("x"), str("y"), ts(0), ts(999), dec(0, 0), null, null, {}, null},
			"", `column "nt"`},
		{"null string in a required column", []Cell{null, str("y"), ts(0), ts(0), dec(0, 0), null, null, {}, null},
			"", `column "s": null in a column that is not nullable`},
		{"null decimal in a required column", []Cell{str("x"), str("y"), ts(0), ts(0), null, null, null, {}, null},
			"", `column "d2": null`},
		{"null bool in a required column", []Cell{str("x"), str("y"), ts(0), ts(0), dec(0, 0), null, null, null, null},
			"", `column "b": null`},
		// The refused row's NULLs before the bad cell are undone: these
		// columns are present in the next row.
		{"after a refused row with NULLs", []Cell{str("x"), str("y"), ts(0), ts(2000), dec(1, 0), dec(2, 0), dec(3, 0), {}, {Bool: true}},
			"x|y|0|2|1.00|2.000000000000000000|3|false|true", ""},
		{"too few cells", []Cell{str("x")}, "", "has 1 cells for 9 columns"},
	}
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, allKinds)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tc := range tests {
		err := w.WriteRow(tc.cells)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want ErrValue containing %q", tc.name, err, tc.err)
		}
		if tc.want != "" {
			want = append(want, tc.want)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A refused row is not written, and the rows around it are intact.
	got, _ := readBack(t, buf.Bytes())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("read back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSchemaGolden(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, allKinds)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	const want = `message chronicle {
	required binary s (STRING);
	optional binary ns (STRING);
	required int64 t (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS));
	optional int64 nt (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS));
	required fixed_len_byte_array(16) d2 (DECIMAL(38,2));
	optional fixed_len_byte_array(16) nd18 (DECIMAL(38,18));
	optional fixed_len_byte_array(16) d0 (DECIMAL(38,0));
	required boolean b;
	optional boolean nb;
}`
	if got := f.Schema().String(); got != want {
		t.Errorf("schema:\n%s\nwant:\n%s", got, want)
	}
	if f.NumRows() != 0 {
		t.Errorf("%d rows, want 0", f.NumRows())
	}
}

func TestBadColumns(t *testing.T) {
	tests := []struct {
		name string
		cols []Column
		err  string
	}{
		{"none", nil, "no columns"},
		{"scale", []Column{{Name: "p", Kind: Decimal, Scale: 19}}, "scale 19 above 18"},
		{"kind", []Column{{Name: "p"}}, "unknown kind"},
		{"repeated", []Column{{Name: "p", Kind: String}, {Name: "p", Kind: Bool}}, `"p" empty or repeated`},
		{"empty name", []Column{{Kind: String}}, `"" empty or repeated`},
	}
	for _, tc := range tests {
		_, err := NewParquetWriter(io.Discard, tc.cols)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
		}
	}
}

// TestRowGroups writes more rows than a row group and a batch hold, with
// a refused row in the middle, and reads every row back in order.
func TestRowGroups(t *testing.T) {
	defer func(n int) { rowGroupRows = n }(rowGroupRows)
	rowGroupRows = 1000 // not a multiple of batchRows
	cols := []Column{{Name: "i", Kind: Decimal}, {Name: "s", Kind: String, Nullable: true}}
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, cols)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	cells := make([]Cell, 2)
	const n = 3500
	for i := range n {
		cells[0] = dec(uint64(i), 0)
		cells[1] = Cell{B: strconv.AppendInt(cells[1].B[:0], int64(i), 10), Null: i%3 == 0}
		if i == 1234 {
			if err := w.WriteRow([]Cell{dec(1, 1), null}); !errors.Is(err, ErrValue) {
				t.Fatalf("refusal: %v", err)
			}
		}
		if err := w.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
		s := strconv.Itoa(i)
		if cells[1].Null {
			s = "NULL"
		}
		want = append(want, strconv.Itoa(i)+"|"+s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, groups := readBack(t, buf.Bytes())
	if groups != 4 {
		t.Errorf("%d row groups, want 4", groups)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d rows read back, want %d; first difference:", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("row %d: %q, want %q", i, got[i], want[i])
				break
			}
		}
	}
}

// snapshotRow is a book_snapshot_25-like row: 104 columns, mostly decimals.
func snapshotRow() ([]Column, []Cell) {
	cols := []Column{{Name: "exchange", Kind: String}, {Name: "symbol", Kind: String},
		{Name: "timestamp", Kind: Timestamp, Nullable: true}, {Name: "local_timestamp", Kind: Timestamp}}
	cells := []Cell{str("binance-futures"), str("BTCUSDT"), ts(1_598_918_403_696_000_000), ts(1_598_918_403_810_979_000)}
	for i := range 100 {
		cols = append(cols, Column{Name: "c" + strconv.Itoa(i), Kind: Decimal, Scale: uint8(2 + i%2), Nullable: true})
		cells = append(cells, dec(1165708+uint64(i), 2))
	}
	return cols, cells
}

func TestNoAllocsPerRow(t *testing.T) {
	cols, cells := snapshotRow()
	w, err := NewParquetWriter(io.Discard, cols)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 * batchRows { // grow the buffers and the column writers'
		if err := w.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
	}
	// Averaged over whole batches: the hand-over to parquet-go may
	// allocate a little per batch, never per row.
	allocs := testing.AllocsPerRun(4, func() {
		for range batchRows {
			if err := w.WriteRow(cells); err != nil {
				t.Fatal(err)
			}
		}
	}) / batchRows
	if allocs >= 1 {
		t.Errorf("%.2f allocations per row, want < 1", allocs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkWriteRow(b *testing.B) {
	cols, cells := snapshotRow()
	w, err := NewParquetWriter(io.Discard, cols)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteRow(cells); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
