package quotes

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/stream"
)

// This file checks quotes against an independent book rebuilt from the
// source CSV with encoding/csv and math/big.Rat maps, sharing no code with
// package book: at every message (rows sharing local_timestamp) it takes
// the best bid and ask and, when they changed, expects a quote.

// refLevel is one price level of the oracle's book.
type refLevel struct {
	price, amount *big.Rat
	amountText    string // as in the source
	priceText     string
}

// refSide is one side keyed by the price's exact value.
type refSide struct {
	levels map[string]refLevel
	best   *refLevel // nil: empty side
	bid    bool
}

func (s *refSide) findBest() {
	s.best = nil
	for _, l := range s.levels {
		if s.best == nil || (s.bid && l.price.Cmp(s.best.price) > 0) || (!s.bid && l.price.Cmp(s.best.price) < 0) {
			s.best = &l
		}
	}
}

// refQuote is an expected quote, its cells as text ("" for absent).
type refQuote struct {
	local, exch uint64 // µs
	cells       [4]string
	line        int // source line of the message's last row
}

// oracleQuotes rebuilds the book of the CSV at path and returns its
// quotes, and the exchange and symbol of its rows.
func oracleQuotes(t testing.TB, path string) (exchange, symbol string, out []refQuote) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	sides := [2]*refSide{{levels: map[string]refLevel{}, bid: true}, {levels: map[string]refLevel{}}}
	touched := [2]bool{}
	var snapshotSeen, prevSnapshot bool
	var msgLocal, msgExch uint64
	inMsg := false
	var last *refQuote
	endMessage := func(line int) {
		if !snapshotSeen {
			return
		}
		for i, s := range sides {
			if touched[i] {
				s.findBest()
			}
			touched[i] = false
		}
		q := refQuote{local: msgLocal, exch: msgExch, line: line}
		if a := sides[1].best; a != nil {
			q.cells[0], q.cells[1] = a.amountText, a.priceText
		}
		if b := sides[0].best; b != nil {
			q.cells[2], q.cells[3] = b.priceText, b.amountText
		}
		if last == nil || !sameCells(last.cells, q.cells) {
			out = append(out, q)
			last = &out[len(out)-1]
		}
	}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			t.Fatal(err)
		}
		us := func(name string) uint64 {
			v, err := strconv.ParseUint(rec[col[name]], 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", path, line, name, err)
			}
			return v
		}
		exchange, symbol = rec[col["exchange"]], rec[col["symbol"]]
		local, exch := us("local_timestamp"), us("timestamp")
		if inMsg && local != msgLocal {
			endMessage(line - 1)
			inMsg = false
		}
		if !inMsg {
			inMsg, msgLocal, msgExch = true, local, exch
		}
		msgExch = max(msgExch, exch)
		snap := rec[col["is_snapshot"]] == "true"
		// Tardis: a run of snapshot rows after other rows resets the book;
		// updates before the first snapshot are ignored.
		if snap && !prevSnapshot {
			for i, s := range sides {
				clear(s.levels)
				touched[i] = true
			}
			snapshotSeen = true
		}
		prevSnapshot = snap
		if !snapshotSeen {
			continue
		}
		price, ok1 := new(big.Rat).SetString(rec[col["price"]])
		amount, ok2 := new(big.Rat).SetString(rec[col["amount"]])
		if !ok1 || !ok2 {
			t.Fatalf("%s:%d: bad number", path, line)
		}
		i := 1
		if rec[col["side"]] == "bid" {
			i = 0
		}
		touched[i] = true
		key := price.RatString()
		if amount.Sign() == 0 {
			delete(sides[i].levels, key)
		} else {
			sides[i].levels[key] = refLevel{price, amount, rec[col["amount"]], rec[col["price"]]}
		}
	}
	if inMsg {
		endMessage(line)
	}
	return exchange, symbol, out
}

// sameCells compares quotes by value ("" is absent).
func sameCells(a, b [4]string) bool {
	for i := range a {
		if !sameNumber(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameNumber(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// derive imports path and derives its quotes with the package, returning
// them as records (copied) and the stream's Parquet scales.
func derive(t testing.TB, path string) (exchange string, got []record.Record, ps, ss uint8) {
	t.Helper()
	dir := importPath(t, path)
	evs, err := stream.OpenEvents(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	d := New(evs.Meta().Symbol)
	keep := func(q *record.Record) {
		c := *q
		c.Present = append([]bool(nil), q.Present...)
		c.Fields = append([]record.Value(nil), q.Fields...)
		got = append(got, c)
	}
	for {
		ev, err := evs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		q, err := d.Add(ev)
		if err != nil {
			t.Fatal(err)
		}
		if q != nil {
			keep(q)
		}
	}
	if q, ok, err := d.Flush(); err != nil {
		t.Fatal(err)
	} else if ok {
		keep(q)
	}
	ps, ss = Scales(evs.Meta())
	return evs.Meta().Venue, got, ps, ss
}

func cellsOf(q *record.Record) [4]string {
	var c [4]string
	for i, f := range [4]int{fAskAmount, fAskPrice, fBidPrice, fBidAmount} {
		if q.Present[f] {
			v := q.Fields[f]
			c[i] = new(big.Rat).SetFrac(big.NewInt(v.I), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.Scale)), nil)).RatString()
		}
	}
	return c
}

// checkOracle compares the quotes of path with the oracle's at every
// change, and the CSV and Parquet files written from them cell by cell.
func checkOracle(t *testing.T, path string) {
	exchange, symbol, want := oracleQuotes(t, path)
	venue, got, ps, ss := derive(t, path)
	if venue != exchange {
		t.Fatalf("venue %q, rows say %q", venue, exchange)
	}
	if len(want) < 2 {
		t.Fatalf("the oracle finds only %d quotes in %s: a useless test", len(want), path)
	}
	for i := range min(len(got), len(want)) {
		g, w := &got[i], &want[i]
		if g.LocalTS != w.local*1000 || g.ExchangeTS != w.exch*1000 || !g.HasExchangeTS || !sameCells(cellsOf(g), w.cells) ||
			string(g.Fields[fSymbol].B) != symbol {
			t.Fatalf("quote %d (the message ending at line %d): got %s %d/%d %v, want %s %d/%d %v",
				i+1, w.line, g.Fields[fSymbol].B, g.LocalTS/1000, g.ExchangeTS/1000, cellsOf(g), symbol, w.local, w.exch, w.cells)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d quotes, the oracle %d", len(got), len(want))
	}
	wantCells := func(w *refQuote) []string {
		return append([]string{exchange, symbol, strconv.FormatUint(w.exch, 10), strconv.FormatUint(w.local, 10)}, w.cells[:]...)
	}

	// CSV: the source's own number text, exactly (Tardis prints numbers
	// one way, and the writer prints them the same way).
	var cb bytes.Buffer
	cw := NewCSVWriter(&cb, venue)
	var pb bytes.Buffer
	pw, err := NewParquetWriter(&pb, venue, ps, ss)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if err := cw.Write(&got[i]); err != nil {
			t.Fatal(err)
		}
		if err := pw.Write(&got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount" {
		t.Fatalf("CSV header %v", rows[0])
	}
	if len(rows)-1 != len(want) {
		t.Fatalf("%d CSV rows, want %d", len(rows)-1, len(want))
	}
	for i := range want {
		if w := strings.Join(wantCells(&want[i]), ","); strings.Join(rows[i+1], ",") != w {
			t.Fatalf("CSV row %d: %v, want %s", i+1, rows[i+1], w)
		}
	}

	// Parquet: Tardis's column names, DECIMAL at the stream's scales,
	// TIMESTAMP µs UTC, NULL for an absent side.
	prows := readParquet(t, pb.Bytes(), ps, ss)
	if len(prows) != len(want) {
		t.Fatalf("%d Parquet rows, want %d", len(prows), len(want))
	}
	for i := range want {
		w := wantCells(&want[i])
		for j := range w {
			if !sameNumber(prows[i][j], w[j]) && prows[i][j] != w[j] {
				t.Fatalf("Parquet row %d, %s: %q, want %q", i+1, Columns[j], prows[i][j], w[j])
			}
		}
	}
	t.Logf("%s: %d quotes", filepath.Base(path), len(got))
}

// readParquet reads a quotes file back with parquet-go: strings as text,
// decimals exactly from their unscaled bytes (checking each column's
// scale), timestamps as µs, nulls as "".
func readParquet(t *testing.T, data []byte, ps, ss uint8) [][]string {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	leaves := f.Schema().Fields()
	wantScale := []int32{-1, -1, -1, -1, int32(ss), int32(ps), int32(ps), int32(ss)}
	for i, l := range leaves {
		if l.Name() != Columns[i] {
			t.Fatalf("Parquet column %d is %q, want %q", i, l.Name(), Columns[i])
		}
		if wantScale[i] < 0 {
			continue
		}
		var dec *format.DecimalType
		if lt := l.Type().LogicalType(); lt != nil {
			dec, _ = lt.Value.(*format.DecimalType)
		}
		if dec == nil || dec.Scale != wantScale[i] || dec.Precision != 38 {
			t.Fatalf("Parquet column %s: %v, want DECIMAL(38, %d)", l.Name(), l.Type(), wantScale[i])
		}
	}
	var out [][]string
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				cells := make([]string, len(row))
				for i, v := range row {
					cells[i] = parquetCell(t, leaves[i], v)
				}
				out = append(out, cells)
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
	return out
}

func parquetCell(t *testing.T, f parquet.Field, v parquet.Value) string {
	if v.IsNull() {
		return ""
	}
	var lv format.LogicalTypeValue
	if l := f.Type().LogicalType(); l != nil {
		lv = l.Value
	}
	switch lt := lv.(type) {
	case *format.DecimalType:
		n := new(big.Int).SetBytes(v.ByteArray()) // quotes are never negative
		return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(lt.Scale)), nil)).RatString()
	case *format.TimestampType:
		if _, ok := lt.Unit.Value.(*format.MicroSeconds); !ok || !lt.IsAdjustedToUTC {
			t.Fatalf("column %s: timestamp unit %v, want µs UTC", f.Name(), lt.Unit)
		}
		return strconv.FormatInt(v.Int64(), 10)
	case *format.StringType:
		return string(v.ByteArray())
	}
	t.Fatalf("column %s: unexpected type %v", f.Name(), f.Type())
	return ""
}

// Real Tardis samples (copies of ../shared/data/tardis files): a
// 2000-level opening snapshot with deletes, and a one-sided snapshot
// fragment (an absent ask throughout).
func TestOracleReal(t *testing.T) {
	for _, p := range []string{
		"testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv",
		"../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz",
	} {
		t.Run(filepath.Base(p), func(t *testing.T) { checkOracle(t, p) })
	}
}

// TestOneSided: the deribit fragment has asks only; every quote's bid is
// absent (empty cells, NULL), never 0.
func TestOneSided(t *testing.T) {
	const p = "testdata/deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv"
	_, got, _, _ := derive(t, p)
	_, _, want := oracleQuotes(t, p)
	if len(got) != 1 || len(want) != 1 || !sameCells(cellsOf(&got[0]), want[0].cells) || want[0].cells[2] != "" {
		t.Fatalf("quotes %v, oracle %v", got, want)
	}
}

const sharedTools = "../../shared/tools"

// TestOracleTardisgen: a generated book with shallow snapshots (sides
// empty out now and then) and resets.
func TestOracleTardisgen(t *testing.T) {
	if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it ships beside the repository, not in it)", sharedTools)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tardisgen")
	cmd := exec.Command("go", "build", "-o", bin, "./tardisgen")
	cmd.Dir = sharedTools
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build the generator: %v\n%s", err, out)
	}
	rows := "60000"
	if testing.Short() {
		rows = "20000"
	}
	for _, args := range [][]string{
		{"-depth", "3", "-resnap-every", "2000", "-seed", "7"},
		{"-depth", "40", "-resnap-every", "500", "-tick", "0.01", "-lot", "0.00001", "-seed", "8"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, append([]string{"-rows", rows}, args...)...).Output()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			checkOracle(t, path)
			_, _, want := oracleQuotes(t, path)
			empty := 0
			for _, q := range want {
				if q.cells[0] == "" || q.cells[2] == "" {
					empty++
				}
			}
			t.Logf("%d quotes with an empty side", empty)
		})
	}
}
