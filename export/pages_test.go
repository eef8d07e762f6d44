package export

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// TestRandomRows writes random rows of every kind through many pages, row
// groups, single-value pages and dictionaries that overflow into PLAIN
// pages, reads them back with parquet-go, and checks each chunk's min and
// max against the values written (signed: negative decimals are in the
// data).
func TestRandomRows(t *testing.T) {
	defer func(g, p, d int) { rowGroupRows, maxPageRows, maxDictEntries = g, p, d }(rowGroupRows, maxPageRows, maxDictEntries)
	rowGroupRows, maxPageRows, maxDictEntries = 5000, 700, 300
	cols := []Column{
		{Name: "const", Kind: String},
		{Name: "id", Kind: String, Nullable: true},
		{Name: "side", Kind: String},
		{Name: "t", Kind: Timestamp},
		{Name: "nt", Kind: Timestamp, Nullable: true},
		{Name: "price", Kind: Decimal, Scale: 2},
		{Name: "rate", Kind: Decimal, Scale: 9, Nullable: true},
		{Name: "b", Kind: Bool},
		{Name: "nb", Kind: Bool, Nullable: true},
		{Name: "allnull", Kind: Decimal, Scale: 1, Nullable: true},
		{Name: "bidask", Kind: String, Nullable: true}, // two values: 1-bit indices
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 12345
	type bounds struct{ lo, hi string }
	want := make([]string, 0, n)
	groupMin := map[[2]int]bounds{} // group, column: min and max as readBack renders them
	var w bytes.Buffer
	pw, err := NewParquetWriter(&w, cols)
	if err != nil {
		t.Fatal(err)
	}
	cells := make([]Cell, len(cols))
	price := int64(6_000_000)
	var idBuf []byte
	for i := range n {
		price += rng.Int64N(21) - 10
		if i/1000%3 == 1 {
			price = 6_000_000 // a run of equal values: single-value pages
		}
		idBuf = strconv.AppendInt(idBuf[:0], int64(1_000_000+i*2/3), 10) // some repeat, mostly unique: PLAIN
		rate := rng.Int64N(2_000_001) - 1_000_000
		tsv := int64(rng.IntN(1 << 40))
		cells[0] = str("binance-futures")
		cells[1] = Cell{B: idBuf, Null: i%5 == 0}
		cells[2] = str([]string{"buy", "sell", "unknown"}[rng.IntN(3)])
		cells[3] = ts(uint64(1_700_000_000_000_000+i/4) * 1000) // repeats: a dictionary
		cells[4] = Cell{Mag: uint64(tsv) * 1000, Null: i%3 == 0}
		cells[5] = Cell{Mag: uint64(price), Scale: 2}
		cells[6] = Cell{Mag: uint64(abs(rate)), Neg: rate < 0, Scale: 9, Null: i%11 == 0}
		cells[7] = Cell{Bool: rng.IntN(2) == 0}
		cells[8] = Cell{Bool: rng.IntN(4) == 0, Null: i%2 == 0}
		cells[9] = null
		cells[10] = Cell{B: []byte([]string{"bid", "ask"}[rng.IntN(2)]), Null: i%7 == 3}
		if err := pw.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
		row := []string{"binance-futures", nullOr(cells[1].Null, string(idBuf)), string(cells[2].B),
			strconv.FormatInt(1_700_000_000_000_000+int64(i/4), 10), nullOr(cells[4].Null, strconv.FormatInt(tsv, 10)),
			decString(price, 2), nullOr(cells[6].Null, decString(rate, 9)), strconv.FormatBool(cells[7].Bool),
			nullOr(cells[8].Null, strconv.FormatBool(cells[8].Bool)), "NULL",
			nullOr(cells[10].Null, string(cells[10].B))}
		want = append(want, strings.Join(row, "|"))
		for j, num := range map[int]int64{3: 1_700_000_000_000_000 + int64(i/4), 4: tsv, 5: price, 6: rate} {
			if cells[j].Null {
				continue
			}
			k := [2]int{i / rowGroupRows, j}
			b, ok := groupMin[k]
			s := strconv.FormatInt(num, 10)
			if !ok {
				b = bounds{s, s}
			}
			lo, _ := strconv.ParseInt(b.lo, 10, 64)
			hi, _ := strconv.ParseInt(b.hi, 10, 64)
			groupMin[k] = bounds{strconv.FormatInt(min(lo, num), 10), strconv.FormatInt(max(hi, num), 10)}
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	got, groups := readBack(t, w.Bytes())
	if groups != 3 {
		t.Errorf("%d row groups, want 3", groups)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows read back, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}

	f, err := parquet.OpenFile(bytes.NewReader(w.Bytes()), int64(w.Len()))
	if err != nil {
		t.Fatal(err)
	}
	plain := false
	for g, rg := range f.Metadata().RowGroups {
		for j, c := range rg.Columns {
			st := c.MetaData.Statistics
			for _, e := range c.MetaData.EncodingStats {
				if e.Encoding == format.RLEDictionary && c.MetaData.DictionaryPageOffset == 0 {
					t.Errorf("group %d column %s: dictionary pages without a dictionary", g, cols[j].Name)
				}
			}
			for _, e := range c.MetaData.EncodingStats {
				plain = plain || j == 1 && e.Encoding == format.DeltaByteArray && e.PageType != 2 // data page of id without the dictionary
			}
			if j == 9 {
				if st.NullCount != rg.NumRows || st.MinValue != nil {
					t.Errorf("group %d allnull: stats %+v", g, st)
				}
				continue
			}
			b, ok := groupMin[[2]int{g, j}]
			if !ok {
				continue
			}
			lo, hi := statInt(t, cols[j], st.MinValue), statInt(t, cols[j], st.MaxValue)
			if lo != b.lo || hi != b.hi {
				t.Errorf("group %d column %s: min %s max %s, want %s %s", g, cols[j].Name, lo, hi, b.lo, b.hi)
			}
		}
		if s := rg.Columns[0].MetaData.Statistics; string(s.MinValue) != "binance-futures" || string(s.MaxValue) != "binance-futures" {
			t.Errorf("group %d const: stats %q %q", g, s.MinValue, s.MaxValue)
		}
		if s := rg.Columns[2].MetaData.Statistics; string(s.MinValue) != "buy" || string(s.MaxValue) != "unknown" {
			t.Errorf("group %d side: stats %q %q", g, s.MinValue, s.MaxValue)
		}
	}
	if !plain {
		t.Error("no DELTA_BYTE_ARRAY page of id: the dictionary never overflowed")
	}
}

func abs(v int64) int64 { return max(v, -v) }

func nullOr(null bool, s string) string {
	if null {
		return "NULL"
	}
	return s
}

func decString(v int64, scale int) string {
	s := strconv.FormatInt(abs(v), 10)
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if v < 0 {
		s = "-" + s
	}
	return s
}

// statInt decodes a Timestamp (INT64 LE) or Decimal (16 bytes BE, fits
// in an int64 here) statistics value.
func statInt(t *testing.T, c Column, b []byte) string {
	t.Helper()
	switch {
	case c.Kind == Timestamp && len(b) == 8:
		var v int64
		for k := 7; k >= 0; k-- {
			v = v<<8 | int64(b[k])
		}
		return strconv.FormatInt(v, 10)
	case c.Kind == Decimal && len(b) == 16:
		var v int64
		for _, x := range b[8:] {
			v = v<<8 | int64(x)
		}
		return strconv.FormatInt(v, 10)
	}
	t.Fatalf("column %s: statistics value %x", c.Name, b)
	return ""
}

// BenchmarkBookRows writes incremental_book_L2-like rows: the columns of
// tardis.BookColumns, prices walking near a mid, random sizes.
func BenchmarkBookRows(b *testing.B) {
	cols := []Column{{Name: "exchange", Kind: String}, {Name: "symbol", Kind: String},
		{Name: "timestamp", Kind: Timestamp}, {Name: "local_timestamp", Kind: Timestamp},
		{Name: "is_snapshot", Kind: Bool}, {Name: "side", Kind: String},
		{Name: "price", Kind: Decimal, Scale: 1}, {Name: "amount", Kind: Decimal, Scale: 3}}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 1 << 16
	rows := make([][]Cell, n)
	for i := range rows {
		rows[i] = []Cell{str("binance-futures"), str("BTCUSDT"), ts(uint64(1_714_521_600_000_000+i/4) * 1000),
			ts(uint64(1_714_521_600_000_100+i/4) * 1000), {Bool: i < 2000}, str([]string{"bid", "ask"}[i/3%2]),
			dec(600_000+uint64(rng.IntN(400)), 1), dec(uint64(rng.IntN(5000)), 3)}
	}
	w, err := NewParquetWriter(io.Discard, cols)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := w.WriteRow(rows[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
