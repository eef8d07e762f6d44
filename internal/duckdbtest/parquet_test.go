package duckdbtest

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/chronicle-archive/chronicle/export"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/chronicle-archive/chronicle/record"
	"github.com/chronicle-archive/chronicle/tardis"
)

// The tests write Parquet with package export and the tardis adapters,
// read it back with DuckDB and compare every cell with the source CSV:
// numbers as exact rationals, NULL exactly where the CSV cell is empty,
// column names and types as docs/PARQUET.md gives them. The records and
// events of the hand-written files are built here from the CSV text
// (encoding/csv, math/big), not by Chronicle's parser; the real samples
// and generated files also go through tardis.OpenRecords and tardis.Open.

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDuckDBRuns(t *testing.T) {
	var n int
	if err := openDB(t).QueryRow("SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("SELECT 1: %d, %v", n, err)
	}
}

// table is a CSV file's header and rows.
type table struct {
	header []string
	rows   [][]string
}

func parseCSV(t testing.TB, r io.Reader) table {
	t.Helper()
	all, err := csv.NewReader(r).ReadAll()
	if err != nil || len(all) == 0 {
		t.Fatalf("source CSV: %d lines, %v", len(all), err)
	}
	return table{header: all[0], rows: all[1:]}
}

func (tb table) col(name string) int {
	for i, h := range tb.header {
		if h == name {
			return i
		}
	}
	return -1
}

// fixed returns the number s as mantissa × 10^-scale with the fewest
// decimals.
func fixed(t testing.TB, s string) (int64, uint8) {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	for scale := range 19 {
		if r.IsInt() {
			if !r.Num().IsInt64() {
				break
			}
			return r.Num().Int64(), uint8(scale)
		}
		r.Mul(r, big.NewRat(10, 1))
	}
	t.Fatalf("%q does not fit a record decimal", s)
	return 0, 0
}

func micros(t testing.TB, s string) uint64 {
	t.Helper()
	us, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return us * 1000
}

var (
	sides       = map[string]uint64{"buy": record.SideBuy, "sell": record.SideSell, "unknown": record.SideUnknown}
	optionTypes = map[string]uint64{"call": record.OptionCall, "put": record.OptionPut}
)

// recordsFromCSV builds the records of dt that src's rows stand for.
func recordsFromCSV(t testing.TB, dt tardis.DataType, src table) []*record.Record {
	t.Helper()
	var recs []*record.Record
	for _, row := range src.rows {
		cell := func(name string) string {
			c := src.col(name)
			if c < 0 {
				t.Fatalf("no column %s", name)
			}
			return row[c]
		}
		rec := &record.Record{}
		rec.Reset(dt.Record)
		rec.LocalTS = micros(t, cell("local_timestamp"))
		if ts := cell("timestamp"); ts != "" {
			rec.ExchangeTS, rec.HasExchangeTS = micros(t, ts), true
		}
		rec.Fields[0].B, rec.Present[0] = []byte(cell("symbol")), true
		if dt.Depth > 0 {
			for side, name := range [2]string{"asks", "bids"} {
				v := &rec.Fields[1+side]
				rec.Present[1+side] = true
				var ms [][2]int64
				var scales [][2]uint8
				for i := 0; i < dt.Depth && cell(fmt.Sprintf("%s[%d].price", name, i)) != ""; i++ {
					p, ps := fixed(t, cell(fmt.Sprintf("%s[%d].price", name, i)))
					a, as := fixed(t, cell(fmt.Sprintf("%s[%d].amount", name, i)))
					ms, scales = append(ms, [2]int64{p, a}), append(scales, [2]uint8{ps, as})
					v.Scale, v.Scale2 = max(v.Scale, ps), max(v.Scale2, as)
				}
				for i, m := range ms {
					v.L = append(v.L, record.Level{
						Price: uint64(m[0]) * pow10(v.Scale-scales[i][0]),
						Size:  uint64(m[1]) * pow10(v.Scale2-scales[i][1]),
					})
				}
			}
			recs = append(recs, rec)
			continue
		}
		for i := 1; i < len(dt.Record.Fields); i++ {
			f, v, c := &dt.Record.Fields[i], &rec.Fields[i], cell(dt.Record.Fields[i].Name)
			if c == "" && f.Kind != record.String {
				if !f.Nullable {
					t.Fatalf("empty %s", f.Name)
				}
				continue
			}
			rec.Present[i] = true
			ok := true
			switch f.Kind {
			case record.Decimal:
				v.I, v.Scale = fixed(t, c)
			case record.Time:
				v.U = micros(t, c)
			case record.Side:
				v.U, ok = sides[c]
			case record.OptionType:
				v.U, ok = optionTypes[c]
			case record.String:
				v.B = []byte(c)
			}
			if !ok {
				t.Fatalf("%s: bad value %q", f.Name, c)
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

func pow10(n uint8) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// streamScales returns the scales of a stream of recs: each slot's largest,
// and for book snapshots one price and one amount scale for both sides
// (as tardis.RecordReader keeps them).
func streamScales(dt tardis.DataType, recs []*record.Record) []uint8 {
	var s []uint8
	for _, rec := range recs {
		s = tardis.RaiseScales(s, rec)
	}
	if dt.Depth > 0 {
		s[0], s[1] = max(s[0], s[2]), max(s[1], s[3])
		s[2], s[3] = s[0], s[1]
	}
	return s
}

func sliceRecords(recs []*record.Record) func(*record.Record) error {
	return func(rec *record.Record) error {
		if len(recs) == 0 {
			return io.EOF
		}
		*rec, recs = *recs[0], recs[1:]
		return nil
	}
}

// writeRecords writes the records next returns as Parquet to path.
func writeRecords(t testing.TB, path string, dt tardis.DataType, exchange string, scales []uint8, next func(*record.Record) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pw, err := export.NewParquetWriter(f, tardis.RecordColumns(dt.Record, dt.Depth, scales))
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	var cells []export.Cell
	for {
		err := next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		cells = tardis.AppendRecordCells(cells[:0], exchange, &rec, dt.Depth)
		if err := pw.WriteRow(cells); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// eventsFromCSV builds the BookEvents of incremental_book_L2 rows: a run
// of rows with one local_timestamp and one is_snapshot is one event, at
// the scales its rows need.
func eventsFromCSV(t testing.TB, src table) []*protocol.Event {
	t.Helper()
	c := func(name string) int { return src.col(name) }
	var evs []*protocol.Event
	var ev *protocol.Event
	type lv struct {
		p, a   int64
		ps, as uint8
	}
	var bids, asks []lv
	finish := func() {
		if ev == nil {
			return
		}
		for side, lvs := range [2][]lv{bids, asks} {
			for _, l := range lvs {
				pl := protocol.Level{Price: uint64(l.p) * pow10(ev.PriceScale-l.ps), Size: uint64(l.a) * pow10(ev.SizeScale-l.as)}
				if side == 0 {
					ev.Bids = append(ev.Bids, pl)
				} else {
					ev.Asks = append(ev.Asks, pl)
				}
			}
		}
		evs = append(evs, ev)
		bids, asks = nil, nil
	}
	for _, row := range src.rows {
		local, snap := micros(t, row[c("local_timestamp")]), row[c("is_snapshot")] == "true"
		if ev == nil || ev.IngestTS != local || (ev.Type == protocol.Snapshot) != snap {
			finish()
			ev = &protocol.Event{Type: protocol.Diff, IngestTS: local, ExchangeTS: micros(t, row[c("timestamp")])}
			if snap {
				ev.Type = protocol.Snapshot
			}
		}
		var l lv
		l.p, l.ps = fixed(t, row[c("price")])
		l.a, l.as = fixed(t, row[c("amount")])
		ev.PriceScale, ev.SizeScale = max(ev.PriceScale, l.ps), max(ev.SizeScale, l.as)
		if row[c("side")] == "bid" {
			bids = append(bids, l)
		} else {
			asks = append(asks, l)
		}
	}
	finish()
	return evs
}

// bookOrder returns src's rows in the order of the Parquet rows: per event
// (a run of rows with one local_timestamp and is_snapshot), bids then
// asks, each in file order, as tardis.Writer writes them.
func bookOrder(src table) table {
	lt, sn, sd := src.col("local_timestamp"), src.col("is_snapshot"), src.col("side")
	out := table{header: src.header}
	for i := 0; i < len(src.rows); {
		j := i
		for j < len(src.rows) && src.rows[j][lt] == src.rows[i][lt] && src.rows[j][sn] == src.rows[i][sn] {
			j++
		}
		for _, side := range [2]string{"bid", "ask"} {
			for _, r := range src.rows[i:j] {
				if r[sd] == side {
					out.rows = append(out.rows, r)
				}
			}
		}
		i = j
	}
	return out
}

func sliceEvents(evs []*protocol.Event) func(*protocol.Event) error {
	return func(ev *protocol.Event) error {
		if len(evs) == 0 {
			return io.EOF
		}
		*ev, evs = *evs[0], evs[1:]
		return nil
	}
}

// writeBook writes the events next returns as incremental_book_L2 Parquet.
func writeBook(t testing.TB, path, exchange, symbol string, ps, ss uint8, next func(*protocol.Event) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pw, err := export.NewParquetWriter(f, tardis.BookColumns(ps, ss))
	if err != nil {
		t.Fatal(err)
	}
	var ev protocol.Event
	for {
		err := next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tardis.AppendBookRows(exchange, symbol, &ev, pw.WriteRow); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var levelName = regexp.MustCompile(`^(asks|bids)\[\d+\]\.(price|amount)$`)

// wantTypes returns the DuckDB type of each of src's columns as
// docs/PARQUET.md documents it: strings VARCHAR, µs times TIMESTAMP WITH
// TIME ZONE, is_snapshot BOOLEAN, numbers DECIMAL(38, s) with s the most
// decimals any value of the column has (for book snapshots, of any price,
// or any amount, column).
func wantTypes(t testing.TB, src table) []string {
	t.Helper()
	key := func(name string) string {
		if m := levelName.FindStringSubmatch(name); m != nil {
			return m[2]
		}
		return name
	}
	scales := map[string]uint8{}
	for _, row := range src.rows {
		for i, c := range row {
			if c != "" && wantType(src.header[i]) == "" {
				_, s := fixed(t, c)
				k := key(src.header[i])
				scales[k] = max(scales[k], s)
			}
		}
	}
	types := make([]string, len(src.header))
	for i, name := range src.header {
		if types[i] = wantType(name); types[i] == "" {
			types[i] = fmt.Sprintf("DECIMAL(38,%d)", scales[key(name)])
		}
	}
	return types
}

// wantType is the type of a column that is not a number, else "".
func wantType(name string) string {
	switch name {
	case "exchange", "symbol", "id", "side", "type", "underlying_index":
		return "VARCHAR"
	case "timestamp", "local_timestamp", "funding_timestamp", "expiration":
		return "TIMESTAMP WITH TIME ZONE"
	case "is_snapshot":
		return "BOOLEAN"
	}
	return ""
}

// checkParquet reads path with DuckDB and compares it with src: column
// names and types, then every cell (numbers as exact rationals, times as
// µs, NULL exactly where the CSV cell is empty). It returns the number of
// row groups.
func checkParquet(t testing.TB, db *sql.DB, path string, src table) int {
	t.Helper()
	types := wantTypes(t, src)
	rows, err := db.Query("DESCRIBE SELECT * FROM read_parquet(?)", path)
	if err != nil {
		t.Fatal(err)
	}
	var gotCols []string
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			t.Fatal(err)
		}
		gotCols = append(gotCols, name+" "+typ)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var wantCols []string
	for i, name := range src.header {
		wantCols = append(wantCols, name+" "+types[i])
	}
	if g, w := strings.Join(gotCols, ", "), strings.Join(wantCols, ", "); g != w {
		t.Fatalf("%s: DuckDB columns\n %s\nwant\n %s", path, g, w)
	}

	sel := make([]string, len(src.header))
	for i, name := range src.header {
		q := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
		if strings.HasPrefix(types[i], "TIMESTAMP") {
			q = "epoch_us(" + q + ")"
		}
		sel[i] = "CAST(" + q + " AS VARCHAR)"
	}
	rows, err = db.Query("SELECT "+strings.Join(sel, ", ")+
		" FROM read_parquet(?, file_row_number = true) ORDER BY file_row_number", path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := make([]sql.NullString, len(sel))
	dest := make([]any, len(sel))
	for i := range got {
		dest[i] = &got[i]
	}
	n, bad := 0, 0
	for ; rows.Next(); n++ {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		if n >= len(src.rows) {
			continue
		}
		for i, g := range got {
			if w := src.rows[n][i]; !sameCell(g, w, types[i]) && bad < 10 {
				bad++
				gs := "NULL"
				if g.Valid {
					gs = strconv.Quote(g.String)
				}
				t.Errorf("%s: row %d, %s: DuckDB reads %s, CSV has %q", filepath.Base(path), n+1, src.header[i], gs, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(src.rows) {
		t.Errorf("%s: %d rows, CSV has %d", path, n, len(src.rows))
	}
	var groups int
	if err := db.QueryRow("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)", path).Scan(&groups); err != nil {
		t.Fatal(err)
	}
	return groups
}

func sameCell(got sql.NullString, want, typ string) bool {
	if want == "" || !got.Valid {
		return want == "" && !got.Valid
	}
	if strings.HasPrefix(typ, "DECIMAL") {
		g, ok1 := new(big.Rat).SetString(got.String)
		w, ok2 := new(big.Rat).SetString(want)
		return ok1 && ok2 && g.Cmp(w) == 0
	}
	return got.String == want
}

// Hand-written files of every type: empty cells wherever Tardis leaves
// them, negative numbers, exponent notation, many decimals.
var handWritten = []struct{ dt, csv string }{
	{"trades", `exchange,symbol,timestamp,local_timestamp,id,side,price,amount
binance,BTCUSDT,1575158403572000,1575158403820370,211646077,sell,7540.78,0.039741
binance,BTCUSDT,,1575158403820405,,buy,7540.8,1
binance,BTCUSDT,1575158403579000,1575158403820405,ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf,unknown,0.00000012,1.2e-7
`},
	{"liquidations", `exchange,symbol,timestamp,local_timestamp,id,side,price,amount
bitmex,XBTUSD,1583020803145000,1583020803307160,,buy,8531.5,2152
bitmex,XBTUSD,1583020803276000,1583020803336743,b46c84da-6942-b404-ab94-18a9ad497fdd,sell,8531,5e-7
`},
	{"quotes", `exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
binance-futures,BTCUSDT,1582329601096000,1582329603502092,0.84,9682,9681.92,0.67
binance-futures,BTCUSDT,1582329603401000,1582329603522418,,,9681.83,0.003
binance-futures,BTCUSDT,1582329603402000,1582329603522419,0.001,9682.5,,
`},
	{"book_ticker", `exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
huobi-dm-swap,BTC-USD,1588291201099000,1588291201234268,5494,8629.3,8629.2,806
huobi-dm-swap,BTC-USD,,1588291201454126,,,,
`},
	{"book_snapshot_3", `exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount,asks[2].price,asks[2].amount,bids[2].price,bids[2].amount
binance-futures,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,11657.07,10.896,11657.54,5.4,11656.97,0.2,11657.56,0.238,11655.78,0.2
binance-futures,BTCUSDT,1598918403888000,1598918403894256,11657.1,1.476,11657.07,10.896,,,11656.975,2e-7,,,,
binance-futures,BTCUSDT,1598918403889000,1598918403894257,,,,,,,,,,,,
`},
	{"derivative_ticker", `exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price
bitmex,XBTUSD,1583020803145000,1583020803307160,1583020800000000,0.0001,-0.00012345,1000000,9500.5,9500.0,9500.25
bitmex,XBTUSD,1583020863145000,1583020863307160,,-5e-7,,,,,
bitmex,XBTUSD,,1583020863307161,1583049600000000,,0.000375,1000500.5,9501,,9500.75
`},
	{"options_chain", `exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho
deribit,BTC-27SEP24-160000-P,1704067200027000,1704067200029840,put,160000,1727424000000000,0,2.45,,,,,,,2.4467,75.18,BTC-27SEP24,46593.7,-0.94333,0,45.67483,-6.35109,-1169.77956
deribit,BTC-27SEP24-140000-P,1704067200044000,1704067200047184,put,140000,1727424000000000,0,2.021,0.0001,1,,,,,2.0214,72.68,BTC-27SEP24,46593.7,-0.92595,0,56.21241,-7.55606,-1017.04325
deribit,BTC-29MAR24-50000-C,1704067200045000,1704067200047185,call,50000,1711699200000000,12.5,,0.031,2.5,51.2,0.0325,4,53.1,0.0318,52.3,SYN.BTC-29MAR24,,0.41,0.00003,72.1,-41.5,1e-7
`},
}

func TestHandWritten(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	for _, hw := range handWritten {
		dt, ok := tardis.LookupDataType(hw.dt)
		if !ok {
			t.Fatalf("no data type %s", hw.dt)
		}
		src := parseCSV(t, strings.NewReader(hw.csv))
		recs := recordsFromCSV(t, dt, src)
		path := filepath.Join(dir, hw.dt+".parquet")
		writeRecords(t, path, dt, src.rows[0][0], streamScales(dt, recs), sliceRecords(recs))
		checkParquet(t, db, path, src)
	}
}

func TestHandWrittenBook(t *testing.T) {
	const text = `exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421,18640
deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,0.5
deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6422,1190
deribit,BTC-PERPETUAL,1585699200300000,1585699200400000,false,bid,6420.25,0
deribit,BTC-PERPETUAL,1585699200300000,1585699200400000,false,ask,6421.5,1.2e-7
deribit,BTC-PERPETUAL,1585699200300000,1585699200400001,true,bid,6421,1
`
	src := parseCSV(t, strings.NewReader(text))
	evs := eventsFromCSV(t, src)
	var ps, ss uint8
	for _, ev := range evs {
		ps, ss = max(ps, ev.PriceScale), max(ss, ev.SizeScale)
	}
	path := filepath.Join(t.TempDir(), "book.parquet")
	writeBook(t, path, "deribit", "BTC-PERPETUAL", ps, ss, sliceEvents(evs))
	checkParquet(t, openDB(t), path, bookOrder(src))
}

const shared = "../../../shared"

func needShared(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("skipping: %s not found (../shared, beside the repository, is not part of it)", path)
	}
}

func readFile(t *testing.T, path string) table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseCSV(t, f)
}

// exportRecordFile writes a Tardis CSV file's records, read by
// tardis.OpenRecords, as Parquet, and checks it with DuckDB: two passes,
// the first for the scales.
func exportRecordFile(t *testing.T, db *sql.DB, csvPath string, dt tardis.DataType, dir string) int {
	t.Helper()
	open := func() *tardis.RecordReader {
		rr, err := tardis.OpenRecords(csvPath, dt, tardis.RecordOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rr
	}
	rr := open()
	var rec record.Record
	for {
		err := rr.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	scales, exchange := rr.Scales(), rr.Exchange()
	rr.Close()
	rr = open()
	defer rr.Close()
	path := filepath.Join(dir, strings.TrimSuffix(filepath.Base(csvPath), ".csv")+".parquet")
	writeRecords(t, path, dt, exchange, scales, rr.Next)
	return checkParquet(t, db, path, readFile(t, csvPath))
}

// exportBookFile does the same for incremental_book_L2, read by
// tardis.Open.
func exportBookFile(t *testing.T, db *sql.DB, csvPath, dir string) int {
	t.Helper()
	open := func() *tardis.EventReader {
		r, err := tardis.Open(csvPath, tardis.Options{}) // automatic scales
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open()
	var ev protocol.Event
	var ps, ss uint8
	for {
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ps, ss = max(ps, ev.PriceScale), max(ss, ev.SizeScale)
	}
	exchange, symbol := r.Exchange(), r.Symbol()
	r.Close()
	r = open()
	defer r.Close()
	path := filepath.Join(dir, strings.TrimSuffix(filepath.Base(csvPath), ".csv")+".parquet")
	writeBook(t, path, exchange, symbol, ps, ss, r.Next)
	return checkParquet(t, db, path, bookOrder(readFile(t, csvPath)))
}

// TestRealSamples exports every real Tardis sample and compares it cell by
// cell with DuckDB.
func TestRealSamples(t *testing.T) {
	dir := shared + "/data/tardis"
	needShared(t, dir)
	samples := []struct{ file, dt string }{
		{"binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.nautilus10.csv", "book_snapshot_25"},
		{"binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.nautilus10.csv", "book_snapshot_5"},
		{"binance-futures_quotes_2020-02-22_BTCUSDT.nautilus.csv", "quotes"},
		{"binance-futures_trades_2020-02-22_BTCUSDT.nautilus.csv", "trades"},
		{"bitmex_derivative_ticker_2020-03-01_XBTUSD.nautilus2.csv", "derivative_ticker"},
		{"bitmex_trades_2020-03-01_XBTUSD.nautilus10.csv", "trades"},
		{"deribit_options_chain_2024-01-01_OPTIONS.issue3.csv", "options_chain"},
		{"huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv", "quotes"},
		{"tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv", "trades"},
		{"tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv", "incremental_book_L2"},
		{"deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv", "incremental_book_L2"},
	}
	db, out := openDB(t), t.TempDir()
	for _, s := range samples {
		dt, ok := tardis.LookupDataType(s.dt)
		if !ok {
			t.Fatalf("no data type %s", s.dt)
		}
		path := filepath.Join(dir, s.file)
		if dt.IsBook() {
			exportBookFile(t, db, path, out)
		} else {
			exportRecordFile(t, db, path, dt, out)
		}
	}
}

var (
	genOnce sync.Once
	genBin  string
	genErr  error
)

// generate runs the shared generator (built once) and returns the path
// of its output.
func generate(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	tools := shared + "/tools"
	needShared(t, tools+"/tardisgen")
	genOnce.Do(func() {
		var tmp string
		if tmp, genErr = os.MkdirTemp("", "tardisgen"); genErr == nil {
			genBin = filepath.Join(tmp, "tardisgen")
			cmd := exec.Command("go", "build", "-o", genBin, "./tardisgen")
			cmd.Dir = tools
			if out, err := cmd.CombinedOutput(); err != nil {
				genErr = fmt.Errorf("%v: %s", err, out)
			}
		}
	})
	if genErr != nil {
		t.Skipf("skipping: cannot build the generator: %v", genErr)
	}
	var stdout bytes.Buffer
	cmd := exec.Command(genBin, args...)
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("tardisgen %v: %v", args, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGenerated exports small generated files of every type, and two
// large enough for several row groups.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: generates files with the shared generator")
	}
	db, dir := openDB(t), t.TempDir()
	for _, g := range []struct {
		dt   string
		args []string
	}{
		{"trades", []string{"-type", "trades", "-rows", "2000", "-empty-id", "0.1", "-unknown-side", "0.05"}},
		{"trades", []string{"-type", "trades", "-rows", "500", "-exchange", "bitmex", "-lot", "1"}},
		{"liquidations", []string{"-type", "liquidations", "-rows", "500"}},
		{"quotes", []string{"-type", "quotes", "-rows", "2000", "-empty-side", "0.05"}},
		{"book_ticker", []string{"-type", "book_ticker", "-rows", "2000"}},
		{"book_snapshot_25", []string{"-type", "book_snapshot_25", "-rows", "500", "-shallow", "0.1"}},
		{"book_snapshot_5", []string{"-type", "book_snapshot_5", "-rows", "500", "-depth", "3"}},
		{"derivative_ticker", []string{"-type", "derivative_ticker", "-rows", "1000", "-exchange", "bitmex", "-empty-field", "0.05"}},
		{"options_chain", []string{"-type", "options_chain", "-rows", "1000", "-empty-field", "0.05"}},
		{"incremental_book_L2", []string{"-rows", "5000", "-depth", "100", "-resnap-every", "300", "-lot", "0.0000001"}},
	} {
		name := fmt.Sprintf("gen_%s_%d.csv", g.dt, len(g.args))
		t.Run(name, func(t *testing.T) {
			dt, ok := tardis.LookupDataType(g.dt)
			if !ok {
				t.Fatalf("no data type %s", g.dt)
			}
			path := generate(t, dir, name, g.args...)
			if dt.IsBook() {
				exportBookFile(t, db, path, dir)
			} else {
				exportRecordFile(t, db, path, dt, dir)
			}
		})
	}
	// Over 2 × 65536 rows: several row groups, every cell still equal.
	t.Run("trades_big", func(t *testing.T) {
		path := generate(t, dir, "gen_trades_big.csv", "-type", "trades", "-rows", "140000", "-seed", "3")
		trades, _ := tardis.LookupDataType("trades")
		if n := exportRecordFile(t, db, path, trades, dir); n < 3 {
			t.Errorf("%d row groups, want 3", n)
		}
	})
	t.Run("book_big", func(t *testing.T) {
		path := generate(t, dir, "gen_book_big.csv", "-rows", "140000", "-seed", "4", "-resnap-every", "5000")
		if n := exportBookFile(t, db, path, dir); n < 3 {
			t.Errorf("%d row groups, want 3", n)
		}
	})
}
