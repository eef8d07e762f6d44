package snapshots

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/protocol"
)

func writeParquet(t testing.TB, dir string, o Options) []byte {
	t.Helper()
	o.Format = Parquet
	var buf bytes.Buffer
	if _, err := Write(context.Background(), dir, o, &buf); err != nil {
		t.Fatalf("Write(%+v): %v", o, err)
	}
	return buf.Bytes()
}

// parquetLines reads a snapshot Parquet file back with parquet-go and
// prints each row as the CSV line it must equal: decimals from their
// unscaled bytes and the column's scale, timestamps as µs, nulls as empty
// fields. It checks the footer's schema along the way and returns the
// column scales.
func parquetLines(t testing.TB, data []byte, depth int) (lines []string, ps, ss int32) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	cols := Columns(depth)
	if len(md.Schema) != 1+len(cols) {
		t.Fatalf("%d schema elements, want %d", len(md.Schema), 1+len(cols))
	}
	scales := make([]int32, len(cols))
	for i, el := range md.Schema[1:] {
		if el.Name != cols[i] {
			t.Fatalf("column %d is %q, want %q", i, el.Name, cols[i])
		}
		typ, _ := el.Type.Get()
		rep, _ := el.RepetitionType.Get()
		lt := el.LogicalType.String()
		switch {
		case i < 2:
			if typ != format.ByteArray || rep != format.Required || lt != "STRING" {
				t.Errorf("%s: %v %v %s, want required STRING", el.Name, typ, rep, lt)
			}
		case i < 4:
			if typ != format.Int64 || rep != format.Required || lt != "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)" {
				t.Errorf("%s: %v %v %s, want required TIMESTAMP(MICROS, UTC)", el.Name, typ, rep, lt)
			}
		default:
			d, ok := el.LogicalType.Value.(*format.DecimalType)
			n, _ := el.TypeLength.Get()
			if typ != format.FixedLenByteArray || n != 16 || rep != format.Optional || !ok || d.Precision != 38 {
				t.Fatalf("%s: %v(%d) %v %s, want optional DECIMAL(38, s) in 16 bytes", el.Name, typ, n, rep, lt)
			}
			scales[i] = d.Scale
			if want := scales[4+i%2]; d.Scale != want {
				t.Errorf("%s: scale %d, want %d like the other %s columns", el.Name, d.Scale, want, cols[4+i%2])
			}
		}
	}
	for _, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v: codec %v, want ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				var sb strings.Builder
				for _, v := range row {
					c := v.Column()
					if c > 0 {
						sb.WriteByte(',')
					}
					switch {
					case v.IsNull():
					case c < 2:
						sb.Write(v.ByteArray())
					case c < 4:
						sb.WriteString(strconv.FormatInt(v.Int64(), 10))
					default:
						b := v.ByteArray()
						if len(b) != 16 || binary.BigEndian.Uint64(b[:8]) != 0 {
							t.Fatalf("column %s: %x is not a small 16-byte decimal", cols[c], b)
						}
						sb.Write(decimal.Append(nil, binary.BigEndian.Uint64(b[8:]), uint8(scales[c])))
					}
				}
				lines = append(lines, sb.String())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	if int64(len(lines)) != f.NumRows() {
		t.Fatalf("read %d rows, footer says %d", len(lines), f.NumRows())
	}
	return lines, scales[4], scales[5]
}

// Parquet holds exactly what CSV holds, value for value.
func TestParquetRoundTrip(t *testing.T) {
	defer func(n int64) { rowGroupRows = n }(rowGroupRows)
	rowGroupRows = 1000 // several row groups
	dir := importFile(t, sample2024, 0)
	for _, o := range []Options{{Depth: 5}, {Depth: 2, Interval: time.Millisecond}} {
		want := snapCSV(t, dir, o)
		got, ps, ss := parquetLines(t, writeParquet(t, dir, o), o.Depth)
		if ps != 1 || ss != 3 {
			t.Errorf("scales %d/%d, want 1/3 (prices like 60000.4, amounts like 0.269)", ps, ss)
		}
		diffLines(t, "parquet vs csv", got, want)
		if len(want) < 2*1000 {
			t.Errorf("only %d rows: too few to span row groups", len(want))
		}
	}
	// The Tardis sample: six-decimal amounts.
	dir = importFile(t, sample2050, 0)
	got, _, ss := parquetLines(t, writeParquet(t, dir, Options{Depth: 25}), 25)
	diffLines(t, "2050-row sample", got, snapCSV(t, dir, Options{Depth: 25}))
	if ss != 6 {
		t.Errorf("amount scale %d, want 6", ss)
	}
}

// parquetScales reads the last segment of a compressed, multi-segment
// stream as well.
func TestParquetCompressedSegments(t *testing.T) {
	res, err := ingest.Import(context.Background(), ingest.Options{
		Root: t.TempDir(), Input: sample2050, Compress: true, SegmentSize: 16 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments < 2 {
		t.Fatalf("%d segments, want several", res.Segments)
	}
	got, ps, ss := parquetLines(t, writeParquet(t, res.Dir, Options{Depth: 5}), 5)
	if ps != 2 || ss != 6 {
		t.Errorf("scales %d/%d, want 2/6", ps, ss)
	}
	diffLines(t, "compressed", got, snapCSV(t, res.Dir, Options{Depth: 5}))
}

// Missing levels are nulls; a scale that rises mid-stream is the column's
// scale and earlier values are stored exactly at it.
func TestParquetNullsAndScales(t *testing.T) {
	dir, _ := importText(t,
		"10 snapshot bid 100.5 1",
		"10 snapshot ask 101 1",
		"20 diff bid 99.125 0.001",
	)
	data := writeParquet(t, dir, Options{Depth: 3})
	got, ps, ss := parquetLines(t, data, 3)
	if ps != 3 || ss != 3 {
		t.Errorf("scales %d/%d, want 3/3", ps, ss)
	}
	diffLines(t, "nulls", got, snapCSV(t, dir, Options{Depth: 3}))
	if !strings.HasSuffix(got[0], ",101,1,100.5,1,,,,,,,,") {
		t.Errorf("first row %q: want nulls after the first level", got[0])
	}
}

// An empty result is still a valid file with the schema.
func TestParquetNoRows(t *testing.T) {
	dir, _ := importText(t, "10 diff bid 1 1") // no snapshot: no rows
	got, _, _ := parquetLines(t, writeParquet(t, dir, Options{Depth: 2}), 2)
	if len(got) != 0 {
		t.Errorf("%d rows", len(got))
	}
}

// A value with more decimals than its column is an error, never rounded;
// trailing zeros beyond the column's scale are fine.
func TestParquetScaleAboveColumn(t *testing.T) {
	p := newParquetWriter(io.Discard, "x", "y", 1, 1, 0)
	ok := Row{Asks: []protocol.Level{{Price: 100100, Size: 5000}}, PriceScale: 3, SizeScale: 3} // 100.1, 5
	if err := p.write(&ok); err != nil {
		t.Fatalf("exact value: %v", err)
	}
	bad := Row{Asks: []protocol.Level{{Price: 100125, Size: 5}}, PriceScale: 3} // 100.125
	if err := p.write(&bad); err == nil || !strings.Contains(err.Error(), "100.125") {
		t.Fatalf("err = %v, want one naming 100.125", err)
	}
}
