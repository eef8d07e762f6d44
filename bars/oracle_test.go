package bars

import (
	"bytes"
	"encoding/csv"
	"fmt"
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

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/record"
)

// This file checks bars against an independent computation from the
// source CSV: encoding/csv and math/big.Rat, sharing no code with the
// package.

// refTrade is one CSV row as the oracle reads it.
type refTrade struct {
	local, exch   uint64 // ns
	side          string
	price, amount *big.Rat
	pd, ad        int    // decimals of price and amount
	priceText     string // as in the file, for the aggregator's parser
	amountText    string
	line          int
}

// refBar is the oracle's bar.
type refBar struct {
	start, end, openTS, closeTS        uint64
	open, high, low, close             *big.Rat
	volume, buy, sell, notional        *big.Rat
	trades                             int
	priceDecimals, amountDecimals, pos int // decimals: the most seen in the stream up to the bar's last trade
}

func readRef(t *testing.T, path string) []refTrade {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	var out []refTrade
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		us := func(name string) uint64 {
			v, err := strconv.ParseUint(rec[col[name]], 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", path, line, name, err)
			}
			return v * 1000
		}
		rat := func(name string) *big.Rat {
			v, ok := new(big.Rat).SetString(rec[col[name]])
			if !ok {
				t.Fatalf("%s:%d: %s %q", path, line, name, rec[col[name]])
			}
			return v
		}
		p, a := rat("price"), rat("amount")
		out = append(out, refTrade{us("local_timestamp"), us("timestamp"), rec[col["side"]], p, a,
			decimals(p), decimals(a), rec[col["price"]], rec[col["amount"]], line})
	}
}

// decimals returns the fewest decimals that write r exactly.
func decimals(r *big.Rat) int {
	x := new(big.Rat).Set(r)
	ten := big.NewRat(10, 1)
	n := 0
	for !x.IsInt() {
		x.Mul(x, ten)
		n++
	}
	return n
}

// refBars computes the bars: kind "time" (n ns), "count" (n trades) or
// "volume" (threshold vol).
func refBars(trades []refTrade, kind string, n uint64, vol *big.Rat) []refBar {
	var out []refBar
	var cur *refBar
	var bucket uint64
	pd, ad := 0, 0
	closeCur := func() {
		out = append(out, *cur)
		cur = nil
	}
	for _, tr := range trades {
		if kind == "time" && cur != nil && tr.local/n != bucket {
			closeCur()
		}
		pd, ad = max(pd, tr.pd), max(ad, tr.ad)
		if cur == nil {
			cur = &refBar{
				start: tr.local, openTS: tr.exch,
				open: tr.price, high: tr.price, low: tr.price,
				volume: new(big.Rat), buy: new(big.Rat), sell: new(big.Rat), notional: new(big.Rat),
			}
			if kind == "time" {
				bucket = tr.local / n
				cur.start, cur.end = bucket*n, (bucket+1)*n
			}
		}
		if tr.price.Cmp(cur.high) > 0 {
			cur.high = tr.price
		}
		if tr.price.Cmp(cur.low) < 0 {
			cur.low = tr.price
		}
		cur.close, cur.closeTS = tr.price, tr.exch
		if kind != "time" {
			cur.end = tr.local
		}
		cur.volume.Add(cur.volume, tr.amount)
		switch tr.side {
		case "buy":
			cur.buy.Add(cur.buy, tr.amount)
		case "sell":
			cur.sell.Add(cur.sell, tr.amount)
		}
		cur.notional.Add(cur.notional, new(big.Rat).Mul(tr.price, tr.amount))
		cur.trades++
		cur.priceDecimals, cur.amountDecimals = pd, ad
		if kind == "count" && uint64(cur.trades) == n || kind == "volume" && cur.volume.Cmp(vol) >= 0 {
			closeCur()
		}
	}
	if cur != nil {
		closeCur()
	}
	return out
}

// refVWAP is notional/volume rounded half to even at min(price
// decimals+8, 18) decimals, written with exactly that many decimals.
func refVWAP(b *refBar) string {
	if b.volume.Sign() == 0 {
		return ""
	}
	d := min(b.priceDecimals+8, 18)
	x := new(big.Rat).Quo(b.notional, b.volume)
	x.Mul(x, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)))
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	switch r.Lsh(r, 1).Cmp(x.Denom()) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	s := fmt.Sprintf("%0*s", d+1, q.String())
	if d == 0 {
		return s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

func ratOf(m uint64, scale uint8) *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(m), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
}

// feed runs the package's aggregator over the CSV's trades (parsed with
// package decimal, the importer's parser).
func feed(t *testing.T, trades []refTrade, a *Aggregator) []Bar {
	t.Helper()
	sides := map[string]uint8{"buy": record.SideBuy, "sell": record.SideSell, "unknown": record.SideUnknown}
	var out []Bar
	for _, tr := range trades {
		p, ps, err := decimal.ParseString(tr.priceText)
		if err != nil {
			t.Fatal(err)
		}
		am, as, err := decimal.ParseString(tr.amountText)
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.Add(&Trade{LocalTS: tr.local, ExchangeTS: tr.exch, Price: p, PriceScale: ps, Amount: am, AmountScale: as, Side: sides[tr.side]})
		if err != nil {
			t.Fatalf("line %d: %v", tr.line, err)
		}
		if b != nil {
			out = append(out, *b)
		}
	}
	if b, ok := a.Flush(); ok {
		out = append(out, *b)
	}
	return out
}

// compare checks every field of every bar.
func compare(t *testing.T, name string, got []Bar, want []refBar) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bars, want %d", name, len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		var diffs []string
		check := func(field string, ok bool, gv, wv any) {
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s %v, want %v", field, gv, wv))
			}
		}
		check("start", g.Start == w.start, g.Start, w.start)
		check("end", g.End == w.end, g.End, w.end)
		check("open_ts", g.OpenTS == w.openTS, g.OpenTS, w.openTS)
		check("close_ts", g.CloseTS == w.closeTS, g.CloseTS, w.closeTS)
		check("trades", g.Trades == w.trades, g.Trades, w.trades)
		check("price scale", int(g.PriceScale) == w.priceDecimals, g.PriceScale, w.priceDecimals)
		check("amount scale", int(g.AmountScale) == w.amountDecimals, g.AmountScale, w.amountDecimals)
		for _, f := range []struct {
			name string
			m    uint64
			s    uint8
			want *big.Rat
		}{
			{"open", g.Open, g.PriceScale, w.open}, {"high", g.High, g.PriceScale, w.high},
			{"low", g.Low, g.PriceScale, w.low}, {"close", g.Close, g.PriceScale, w.close},
			{"volume", g.Volume, g.AmountScale, w.volume}, {"buy", g.BuyVolume, g.AmountScale, w.buy},
			{"sell", g.SellVolume, g.AmountScale, w.sell},
		} {
			v := ratOf(f.m, f.s)
			check(f.name, v.Cmp(f.want) == 0, v.RatString(), f.want.RatString())
		}
		n := new(big.Int).Lsh(new(big.Int).SetUint64(g.Notional[0]), 64)
		n.Or(n, new(big.Int).SetUint64(g.Notional[1]))
		nr := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(g.PriceScale+g.AmountScale)), nil))
		check("notional", nr.Cmp(w.notional) == 0, nr.RatString(), w.notional.RatString())
		gv, wv := string(g.AppendVWAP(nil)), refVWAP(w)
		check("vwap", gv == wv, gv, wv)
		if diffs != nil {
			t.Fatalf("%s: bar %d: %s", name, i, strings.Join(diffs, "; "))
		}
	}
}

type oracleCase struct {
	name string
	kind string
	n    uint64
	vol  string
}

var oracleCases = []oracleCase{
	{"time 1s", "time", 1e9, ""},
	{"time 1m", "time", 60e9, ""},
	{"count 100", "count", 100, ""},
	{"volume 10", "volume", 0, "10"},
}

func newAgg(t *testing.T, c oracleCase) (*Aggregator, *big.Rat) {
	t.Helper()
	var a *Aggregator
	var err error
	var vol *big.Rat
	switch c.kind {
	case "time":
		a, err = NewByTime(c.n)
	case "count":
		a, err = NewByCount(c.n)
	case "volume":
		vol, _ = new(big.Rat).SetString(c.vol)
		m, s, perr := decimal.ParseString(c.vol)
		if perr != nil {
			t.Fatal(perr)
		}
		a, err = NewByVolume(m, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return a, vol
}

// checkFile compares the bars of every oracle case on the trades of path,
// and the CSV and Parquet files written from them with the oracle's values.
func checkFile(t *testing.T, path string) {
	trades := readRef(t, path)
	for _, c := range oracleCases {
		t.Run(c.name, func(t *testing.T) {
			a, vol := newAgg(t, c)
			got := feed(t, trades, a)
			want := refBars(trades, c.kind, c.n, vol)
			compare(t, c.name, got, want)
			checkWriters(t, got, want)
			t.Logf("%d trades, %d bars", len(trades), len(got))
		})
	}
}

func TestBarsOracleReal(t *testing.T) {
	checkFile(t, "testdata/binance-futures_trades_2020-02-22_BTCUSDT.nautilus.csv")
}

const sharedTools = "../../shared/tools"

func TestBarsOracleTardisgen(t *testing.T) {
	if _, err := os.Stat(sharedTools + "/tardisgen"); err != nil {
		t.Skipf("skipping: generator not found at %s (it is outside this repository)", sharedTools)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tardisgen")
	cmd := exec.Command("go", "build", "-o", bin, "./tardisgen")
	cmd.Dir = sharedTools
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build the generator: %v\n%s", err, out)
	}
	rows := "200000"
	if testing.Short() {
		rows = "20000"
	}
	path := filepath.Join(dir, "trades.csv")
	out, err := exec.Command(bin, "-type", "trades", "-rows", rows).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path)
}

// checkWriters writes got as CSV and Parquet and compares every cell with
// the oracle's bars.
func checkWriters(t *testing.T, got []Bar, want []refBar) {
	t.Helper()
	var cb, pb bytes.Buffer
	cw := NewCSVWriter(&cb)
	var ps, as uint8
	for i := range got {
		ps, as = max(ps, got[i].PriceScale), max(as, got[i].AmountScale)
	}
	pw, err := NewParquetWriter(&pb, ps, as)
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
	if strings.Join(rows[0], ",") != "start,end,open,high,low,close,volume,buy_volume,sell_volume,vwap,trades,open_timestamp,close_timestamp" {
		t.Fatalf("CSV header %v", rows[0])
	}
	rows = rows[1:]
	prows := readParquet(t, pb.Bytes())
	if len(rows) != len(want) || len(prows) != len(want) {
		t.Fatalf("%d CSV rows, %d Parquet rows, want %d", len(rows), len(prows), len(want))
	}
	for i, w := range want {
		us := func(ns uint64) string { return strconv.FormatUint(ns/1000, 10) }
		wantCells := []string{us(w.start), us(w.end), w.open.RatString(), w.high.RatString(), w.low.RatString(), w.close.RatString(),
			w.volume.RatString(), w.buy.RatString(), w.sell.RatString(), refVWAP(&w), strconv.Itoa(w.trades), us(w.openTS), us(w.closeTS)}
		for j, wc := range wantCells {
			for _, f := range []struct{ file, cell string }{{"CSV", rows[i][j]}, {"Parquet", prows[i][j]}} {
				if !sameNumber(f.cell, wc, Columns[j] == "vwap" && f.file == "CSV") {
					t.Fatalf("%s row %d, %s: %q, want %s", f.file, i+1, Columns[j], f.cell, wc)
				}
			}
		}
	}
}

// sameNumber compares a cell with the oracle's value: as text when exact,
// else as numbers.
func sameNumber(cell, want string, exact bool) bool {
	if exact || want == "" || cell == "" {
		return cell == want
	}
	a, ok1 := new(big.Rat).SetString(cell)
	b, ok2 := new(big.Rat).SetString(want)
	return ok1 && ok2 && a.Cmp(b) == 0
}

// readParquet reads a bar file back with parquet-go, decimals exactly from
// their unscaled bytes, timestamps as µs, nulls as "".
func readParquet(t *testing.T, data []byte) [][]string {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	leaves := f.Schema().Fields()
	for i, l := range leaves {
		if l.Name() != Columns[i] {
			t.Fatalf("Parquet column %d is %q, want %q", i, l.Name(), Columns[i])
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
		n := new(big.Int).SetBytes(v.ByteArray()) // values are never negative here
		return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(lt.Scale)), nil)).FloatString(int(lt.Scale))
	case *format.TimestampType:
		if _, ok := lt.Unit.Value.(*format.MicroSeconds); !ok || !lt.IsAdjustedToUTC {
			t.Fatalf("column %s: timestamp unit %v, want µs", f.Name(), lt.Unit)
		}
		return strconv.FormatInt(v.Int64(), 10)
	}
	t.Fatalf("column %s: unexpected type %v", f.Name(), f.Type())
	return ""
}
