package export

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// wideFile writes n rows of a book-snapshot-like file of 4+4*levels
// columns (nulls at the tails of the sides, a few distinct values) with
// options o.
func wideFile(t *testing.T, levels, n int, o Options) []byte {
	t.Helper()
	cols := []Column{{Name: "exchange", Kind: String}, {Name: "symbol", Kind: String},
		{Name: "timestamp", Kind: Timestamp}, {Name: "local_timestamp", Kind: Timestamp}}
	for i := range 4 * levels {
		cols = append(cols, Column{Name: "c" + strconv.Itoa(i), Kind: Decimal, Scale: uint8(1 + i%2*2), Nullable: true})
	}
	var buf bytes.Buffer
	w, err := NewParquetWriterOptions(&buf, cols, o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	cells := make([]Cell, len(cols))
	cells[0], cells[1] = str("binance-futures"), str("BTCUSDT")
	for r := range n {
		cells[2], cells[3] = ts(uint64(1_700_000_000_000_000+r)*1000), ts(uint64(1_700_000_000_000_100+r)*1000)
		depth := [2]int{rng.IntN(levels + 1), rng.IntN(levels + 1)}
		for i := range 4 * levels {
			side := i / 2 % 2
			cells[4+i] = Cell{Null: i/4 >= depth[side], Mag: uint64(600_000 + rng.IntN(40)*(1+i%2*99)), Scale: 1 + uint8(i%2)}
		}
		if err := w.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Options name the schema, add footer metadata and shape row groups,
// pages and dictionaries; how columns are shared among the workers
// (Stripe) does not change a byte.
func TestOptions(t *testing.T) {
	const levels, n = 5, 3000
	base := wideFile(t, levels, n, Options{})
	for _, stripe := range []int{2, 3, 100} {
		if got := wideFile(t, levels, n, Options{Stripe: stripe}); !bytes.Equal(got, base) {
			t.Errorf("Stripe %d: %d bytes, not the %d of Stripe 1", stripe, len(got), len(base))
		}
	}
	data := wideFile(t, levels, n, Options{
		Name: "book_snapshot", Metadata: [][2]string{{"k1", "v1"}, {"k2", "v2"}},
		RowGroupRows: 1000, PageRows: 100, DictValues: 10, Stripe: 2,
	})
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if md.Schema[0].Name != "book_snapshot" {
		t.Errorf("schema name %q", md.Schema[0].Name)
	}
	if kv := md.KeyValueMetadata; len(kv) != 2 || kv[0].Key != "k1" || kv[0].Value != "v1" || kv[1].Key != "k2" || kv[1].Value != "v2" {
		t.Errorf("key-value metadata %+v", kv)
	}
	if len(md.RowGroups) != 3 {
		t.Errorf("%d row groups of at most 1000 rows, want 3", len(md.RowGroups))
	}
	plain := 0
	for g, rg := range f.RowGroups() {
		for j, cc := range rg.ColumnChunks() {
			oi, err := cc.OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			// Pages end at a batch end: at least 64 rows, so 1000 rows
			// make more than one.
			if oi.NumPages() < 2 || oi.NumPages() > 1000/64 {
				t.Errorf("row group %d column %d: %d pages", g, j, oi.NumPages())
			}
			for _, e := range md.RowGroups[g].Columns[j].MetaData.EncodingStats {
				if e.PageType == format.DataPageV2 && e.Encoding == format.Plain && md.RowGroups[g].Columns[j].MetaData.Type == format.FixedLenByteArray {
					plain += int(e.Count)
				}
			}
		}
	}
	if plain == 0 {
		t.Error("dictionaries of 10 values: no PLAIN decimal pages")
	}
	// The values are the default file's.
	got, _ := readBack(t, data)
	want, _ := readBack(t, base)
	if len(got) != n || len(want) != n {
		t.Fatalf("%d and %d rows, want %d", len(got), len(want), n)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// After Abort, nothing more is written and Close reports it.
func TestAbort(t *testing.T) {
	cols, cells := snapshotRow()
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, cols)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 * batchRows { // workers running, batches in flight
		if err := w.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	n := buf.Len()
	if err := w.WriteRow(cells); err == nil {
		t.Error("WriteRow after Abort: no error")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Abort: no error")
	}
	if buf.Len() != n {
		t.Errorf("%d bytes written after Abort", buf.Len()-n)
	}
	w.Abort() // again: nothing to do
	// Abort after Close does nothing either.
	w2, err := NewParquetWriter(io.Discard, cols)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	w2.Abort()
}
