package snapshots

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/big"
	"runtime"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/chronicle-archive/chronicle/protocol"
)

// withSmallPages makes pages and row groups small, so that a sample spans
// many of each and several row groups are in flight.
func withSmallPages(t *testing.T) {
	t.Helper()
	pg, rg := maxPageRows, rowGroupRows
	t.Cleanup(func() { maxPageRows, rowGroupRows = pg, rg })
	maxPageRows, rowGroupRows = 50, 300
}

// Many batches, pages and row groups hold exactly what CSV holds, and the
// footer's statistics and page index describe the values.
func TestParquetPagesAndGroups(t *testing.T) {
	withSmallPages(t)
	defer func(n int) { maxDictEntries = n }(maxDictEntries)
	dir := importFile(t, sample2024, 0)
	for _, tc := range []struct {
		o    Options
		dict int // maxDictEntries: 40 makes most chunks fall back to PLAIN pages
	}{
		{Options{Depth: 5}, 1 << 16},
		{Options{Depth: 2, Interval: time.Millisecond}, 1 << 16},
		{Options{Depth: 30}, 1 << 16},
		{Options{Depth: 5}, 40},
		{Options{Depth: 30}, 40},
	} {
		o := tc.o
		maxDictEntries = tc.dict
		data := writeParquet(t, dir, o)
		got, _, _ := parquetLines(t, data, o.Depth)
		diffLines(t, "small pages", got, snapCSV(t, dir, o))
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		md := f.Metadata()
		if len(md.RowGroups) < 3 {
			t.Fatalf("depth %d: %d row groups, want several", o.Depth, len(md.RowGroups))
		}
		plain := 0
		for _, rg := range md.RowGroups {
			for _, c := range rg.Columns {
				for _, e := range c.MetaData.EncodingStats {
					if e.PageType == format.DataPageV2 && e.Encoding == format.Plain && c.MetaData.Type == format.FixedLenByteArray {
						plain += int(e.Count)
					}
				}
			}
		}
		if (plain > 0) != (tc.dict < 1000) {
			t.Errorf("depth %d, dictionaries of at most %d values: %d PLAIN decimal pages", o.Depth, tc.dict, plain)
		}
		for g, rg := range f.RowGroups() {
			if n := md.RowGroups[g].NumRows; n > 300 {
				t.Errorf("row group %d has %d rows, more than 300", g, n)
			}
			for j, cc := range rg.ColumnChunks() {
				checkChunkStats(t, cc, md.RowGroups[g].Columns[j].MetaData.Statistics.MinValue,
					md.RowGroups[g].Columns[j].MetaData.Statistics.MaxValue, md.RowGroups[g].Columns[j].MetaData.Statistics.NullCount)
				oi, err := cc.OffsetIndex()
				if err != nil {
					t.Fatal(err)
				}
				if rows := md.RowGroups[g].NumRows; rows > 64 && oi.NumPages() < 2 {
					t.Errorf("row group %d column %d: %d rows in %d page", g, j, rows, oi.NumPages())
				}
			}
		}
	}
}

// checkChunkStats compares a chunk's min, max and null count with its
// values.
func checkChunkStats(t *testing.T, cc parquet.ColumnChunk, minV, maxV []byte, nulls int64) {
	t.Helper()
	pages := cc.Pages()
	defer pages.Close()
	var lo, hi []byte
	var n int64
	buf := make([]parquet.Value, 256)
	for {
		pg, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		vr := pg.Values()
		for {
			k, err := vr.ReadValues(buf)
			for _, v := range buf[:k] {
				if v.IsNull() {
					n++
					continue
				}
				b := v.Bytes()
				if cc.Type().Kind() == parquet.Int64 {
					b = binary.BigEndian.AppendUint64(nil, uint64(v.Int64())) // positive: orders as bytes
				}
				if lo == nil || bytes.Compare(b, lo) < 0 {
					lo = bytes.Clone(b)
				}
				if hi == nil || bytes.Compare(b, hi) > 0 {
					hi = bytes.Clone(b)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		parquet.Release(pg)
	}
	if cc.Type().Kind() == parquet.Int64 && lo != nil {
		minV = binary.BigEndian.AppendUint64(nil, binary.LittleEndian.Uint64(minV))
		maxV = binary.BigEndian.AppendUint64(nil, binary.LittleEndian.Uint64(maxV))
	}
	if !bytes.Equal(lo, minV) || !bytes.Equal(hi, maxV) || n != nulls {
		t.Errorf("column %d: statistics min %x max %x nulls %d, values give %x %x %d", cc.Column(), minV, maxV, nulls, lo, hi, n)
	}
}

// Values of 2^64 and more at the column's scale are stored exactly in the
// 16 bytes, also when they appear in the middle of a batch.
func TestParquetWideValues(t *testing.T) {
	withSmallPages(t)
	var buf bytes.Buffer
	p := newParquetWriter(&buf, "x", "y", 1, 18, 0)
	want := make([]*big.Int, 0, 40)
	for i := range 40 {
		m := uint64(1 + i%3)
		if i%5 == 3 {
			m = 100 + uint64(i) // 1e20 and more at scale 18
		}
		r := Row{Timestamp: 1000 * uint64(i), LocalTimestamp: 1000 * uint64(i),
			Asks: []protocol.Level{{Price: m, Size: 1}}, Bids: []protocol.Level{{Price: 1, Size: 2}}}
		if err := p.write(&r); err != nil {
			t.Fatal(err)
		}
		want = append(want, new(big.Int).Mul(new(big.Int).SetUint64(m), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)))
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var got []*big.Int
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		rb := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(rb)
			for _, row := range rb[:n] {
				got = append(got, new(big.Int).SetBytes(row[4].ByteArray()))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Cmp(want[i]) != 0 {
			t.Errorf("row %d: asks[0].price %v, want %v", i, got[i], want[i])
		}
	}
}

// An abandoned writer stops its goroutines.
func TestParquetAbort(t *testing.T) {
	withSmallPages(t)
	// Earlier tests' workers may still be on their way out.
	before := runtime.NumGoroutine()
	for settled := 0; settled < 20; settled++ {
		time.Sleep(5 * time.Millisecond)
		if n := runtime.NumGoroutine(); n != before {
			before, settled = n, 0
		}
	}
	p := newParquetWriter(io.Discard, "x", "y", 2, 1, 1)
	r := Row{Asks: []protocol.Level{{Price: 1, Size: 1}}}
	for range 1000 { // more than a row group (a batch of export's holds 300 rows)
		if err := p.write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.NumGoroutine() <= before {
		t.Fatal("no workers running after 1000 rows")
	}
	p.abort()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after abort, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkWrite compares the formats on the 2024 sample at depth 25
// (go run ./bench/snapshots measures a larger generated file).
func BenchmarkWrite(b *testing.B) {
	dir := importFile(b, sample2024, 0)
	for _, f := range []Format{CSV, Parquet} {
		b.Run(string(f), func(b *testing.B) {
			var rows int64
			for range b.N {
				n, err := Write(context.Background(), dir, Options{Depth: 25, Format: f}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				rows += n
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// The footer keeps the snapshot file's schema name and layout metadata.
func TestParquetFooter(t *testing.T) {
	var buf bytes.Buffer
	p := newParquetWriter(&buf, "x", "y", 3, 1, 2)
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if md.Schema[0].Name != "book_snapshot" {
		t.Errorf("schema name %q, want book_snapshot", md.Schema[0].Name)
	}
	if kv := md.KeyValueMetadata; len(kv) != 1 || kv[0].Key != "chronicle.layout" || kv[0].Value != "tardis book_snapshot_3" {
		t.Errorf("key-value metadata %+v, want chronicle.layout = tardis book_snapshot_3", kv)
	}
}

// Rows of a deep book cost no allocation in steady state.
func TestParquetNoAllocsPerRow(t *testing.T) {
	const depth = 25
	p := newParquetWriter(io.Discard, "binance-futures", "BTCUSDT", depth, 1, 3)
	defer p.abort()
	asks, bids := make([]protocol.Level, depth), make([]protocol.Level, depth)
	for i := range asks {
		asks[i] = protocol.Level{Price: 600_010 + uint64(i), Size: 1 + uint64(i)}
		bids[i] = protocol.Level{Price: 600_000 - uint64(i), Size: 2 + uint64(i)}
	}
	r := Row{Asks: asks, Bids: bids, PriceScale: 1, SizeScale: 3}
	write := func(n int) {
		for i := range n {
			r.Timestamp = uint64(i) * 1000
			r.Asks, r.Bids = asks[:depth-i%3], bids[:depth-i%5] // levels come and go
			if err := p.write(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(40000) // grow the buffers
	// Averaged over many batches: a page (its statistics, its header) or
	// a row group may allocate, a row must not (that would be 1 or more).
	if allocs := testing.AllocsPerRun(3, func() { write(20000) }) / 20000; allocs >= 0.5 {
		t.Errorf("%.3f allocations per row, want far fewer than 1", allocs)
	}
}
