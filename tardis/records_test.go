package tardis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/record"
	"github.com/klauspost/compress/gzip"
)

func mustType(t testing.TB, name string) DataType {
	t.Helper()
	dt, ok := LookupDataType(name)
	if !ok {
		t.Fatalf("LookupDataType(%q) failed", name)
	}
	return dt
}

// exportRecords reads src with a RecordReader and writes every record,
// through the record codec (Append, Decode), with a RecordWriter to out.
// It checks that each decimal's scale never goes down.
func exportRecords(r *RecordReader, out io.Writer) error {
	var rec, dec record.Record
	var w *RecordWriter
	var payload []byte
	var last []uint8
	for {
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if w == nil {
			w = NewRecordWriter(out, r.DataType(), r.Exchange())
		}
		if payload, err = record.Append(payload[:0], &rec); err != nil {
			return err
		}
		if err := record.Decode(rec.Type, payload, &dec); err != nil {
			return err
		}
		sc := recordScales(&rec)
		for i := range last {
			if sc[i] < last[i] {
				return fmt.Errorf("line %d: scales %v after %v", r.Line(), sc, last)
			}
		}
		last = sc
		if err := w.Write(&dec); err != nil {
			return err
		}
	}
	if w == nil {
		w = NewRecordWriter(out, r.DataType(), "")
	}
	return w.Flush()
}

// recordScales lists a record's decimal scales as Scales does.
func recordScales(rec *record.Record) []uint8 {
	var s []uint8
	for i, f := range rec.Type.Fields {
		switch f.Kind {
		case record.Decimal:
			s = append(s, rec.Fields[i].Scale)
		case record.Levels:
			s = append(s, rec.Fields[i].Scale, rec.Fields[i].Scale2)
		}
	}
	return s
}

func exportBytes(t testing.TB, name string, src []byte, dt DataType, opts RecordOptions) ([]byte, *RecordReader) {
	t.Helper()
	r, err := NewRecordReader(bytes.NewReader(src), name, dt, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := exportRecords(r, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), r
}

// sampleType infers a sample's type and grouping from its Tardis-style
// name, <exchange>_<type>_<date>_<symbol>..., the way an import does.
func sampleType(t *testing.T, name string) (DataType, RecordOptions, bool) {
	for _, n := range []string{"trades", "liquidations", "quotes", "book_ticker", "derivative_ticker", "options_chain", "book_snapshot_5", "book_snapshot_25"} {
		if strings.Contains(name, "_"+n+"_") {
			return mustType(t, n), RecordOptions{Grouped: strings.Contains(name, "_OPTIONS.")}, true
		}
	}
	return DataType{}, RecordOptions{}, false
}

// TestRecordSamples round-trips every real sample of the record types,
// those copied to testdata and those in ../shared when it is there.
func TestRecordSamples(t *testing.T) {
	// Where an export cannot be byte-identical to its source: this fixture
	// writes "9500.0", which Tardis (JavaScript) prints as "9500".
	notIdentical := map[string]bool{"bitmex_derivative_ticker_2020-03-01_XBTUSD.nautilus2.csv": true}
	files, _ := filepath.Glob("testdata/*.csv")
	shared, _ := filepath.Glob("../../shared/data/tardis/*.csv")
	if len(shared) == 0 {
		t.Log("../shared/data/tardis not found: testing the copies in testdata only")
	}
	seen := map[string]bool{}
	n := 0
	for _, p := range append(files, shared...) {
		name := filepath.Base(p)
		dt, opts, ok := sampleType(t, name)
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		n++
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out, r := exportBytes(t, name, src, dt, opts)
			st, err := refCompare(dt.Name, bytes.NewReader(src), bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if int64(st.rows) != r.Rows() || st.rows == 0 {
				t.Errorf("reference saw %d rows, reader %d", st.rows, r.Rows())
			}
			if identical := bytes.Equal(out, src); identical == notIdentical[name] {
				t.Errorf("byte-identical export: %v, want %v", identical, !notIdentical[name])
			}
		})
	}
	if n < 7 {
		t.Errorf("only %d samples", n)
	}
}

// ruleFiles are the edge cases of each type, in testdata/types.
var ruleFiles = []struct {
	file      string
	typ       string
	grouped   bool
	identical bool // the export is the file, byte for byte
}{
	{"trades.csv", "trades", false, true},                             // numeric, UUID, empty, 64- and 80-byte ids; quoted ids; 18 decimals; exponents; empty timestamp
	{"trades_crlf.csv", "trades", false, false},                       // CRLF: the export ends lines with LF
	{"trades_permuted.csv", "trades", false, false},                   // permuted and unknown columns: the export has Tardis's columns in Tardis's order
	{"trades_grouped.csv", "trades", true, true},                      // a SPOT file: every row its own symbol
	{"liquidations.csv", "liquidations", false, true},                 // empty ids, UUID, unknown side, 18 decimals
	{"quotes.csv", "quotes", false, true},                             // one side or all cells empty, zeros, exponents, 18 decimals
	{"book_ticker.csv", "book_ticker", false, false},                  // CRLF
	{"derivative_ticker.csv", "derivative_ticker", false, true},       // negative rates, exponents, all cells empty
	{"options_chain.csv", "options_chain", true, true},                // grouped, negative greeks, empty cells, SYN. index
	{"book_snapshot_5.csv", "book_snapshot_5", false, true},           // shallow sides, an empty side, empty book
	{"book_snapshot_3_permuted.csv", "book_snapshot_3", false, false}, // permuted levels, CRLF
}

func TestRecordRules(t *testing.T) {
	for _, tt := range ruleFiles {
		t.Run(tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/types", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			dt := mustType(t, tt.typ)
			out, r := exportBytes(t, tt.file, src, dt, RecordOptions{Grouped: tt.grouped})
			st, err := refCompare(tt.typ, bytes.NewReader(src), bytes.NewReader(out))
			if err != nil {
				t.Fatalf("%v\nexport:\n%s", err, out)
			}
			if int64(st.rows) != r.Rows() || st.rows < 2 {
				t.Errorf("reference saw %d rows, reader %d", st.rows, r.Rows())
			}
			if identical := bytes.Equal(out, src); identical != tt.identical {
				t.Errorf("byte-identical export: %v, want %v\nexport:\n%s", identical, tt.identical, out)
			}
			// The general path alone gives the same export.
			slow, err := NewRecordReader(bytes.NewReader(src), tt.file, dt, RecordOptions{Grouped: tt.grouped})
			if err != nil {
				t.Fatal(err)
			}
			slow.slowOnly = true
			var slowOut bytes.Buffer
			if err := exportRecords(slow, &slowOut); err != nil || !bytes.Equal(slowOut.Bytes(), out) {
				t.Errorf("general path: %v\n%s", err, slowOut.Bytes())
			}
			// Export of the export is the same file.
			again, _ := exportBytes(t, tt.file, out, dt, RecordOptions{Grouped: tt.grouped})
			if !bytes.Equal(again, out) {
				t.Errorf("second export differs:\n%s\nfirst:\n%s", again, out)
			}
		})
	}
}

func TestRecordValues(t *testing.T) {
	src, err := os.ReadFile("testdata/types/derivative_ticker.csv")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecordReader(bytes.NewReader(src), "d.csv", mustType(t, "derivative_ticker"), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.LocalTS != 1714521600213297000 || rec.ExchangeTS != 1714521600211000000 || !rec.HasExchangeTS {
		t.Errorf("timestamps %d %d %v", rec.LocalTS, rec.ExchangeTS, rec.HasExchangeTS)
	}
	if v := rec.Fields[1]; v.U != 1714550400000000000 || !rec.Present[1] {
		t.Errorf("funding_timestamp %+v", v)
	}
	if v := rec.Fields[2]; v.I != -12345 || v.Scale != 8 {
		t.Errorf("funding_rate %d e-%d, want -12345 e-8", v.I, v.Scale)
	}
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(rec.Present); i++ {
		if rec.Present[i] {
			t.Errorf("field %s present in an empty cell", rec.Type.Fields[i].Name)
		}
	}
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.HasExchangeTS {
		t.Error("empty timestamp read as present")
	}
	if v := rec.Fields[2]; v.I != -50 || v.Scale != 8 {
		t.Errorf("-5e-7 at scale 8: %d e-%d", v.I, v.Scale)
	}
	for r.Next(&rec) == nil {
	}
	// funding_rate needs 18 decimals in the last row (0.000123456789012345),
	// predicted_funding_rate in the fourth (-1e-18).
	if got, want := r.Scales(), []uint8{18, 18, 0, 1, 2, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Scales() = %v, want %v", got, want)
	}
	if r.Exchange() != "bitmex" || r.Symbol() != "XBTUSD" || r.Rows() != 5 || r.Line() != 6 {
		t.Errorf("Exchange %q Symbol %q Rows %d Line %d", r.Exchange(), r.Symbol(), r.Rows(), r.Line())
	}

	// Snapshot levels: one price and one amount scale for both sides.
	src, err = os.ReadFile("testdata/types/book_snapshot_5.csv")
	if err != nil {
		t.Fatal(err)
	}
	r, err = NewRecordReader(bytes.NewReader(src), "s.csv", mustType(t, "book_snapshot_5"), RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	asks, bids := rec.Fields[1], rec.Fields[2]
	if len(asks.L) != 5 || len(bids.L) != 5 || asks.Scale != 9 || bids.Scale != 9 || asks.Scale2 != 8 || bids.Scale2 != 8 {
		t.Fatalf("levels %d %d scales %d/%d %d/%d", len(asks.L), len(bids.L), asks.Scale, asks.Scale2, bids.Scale, bids.Scale2)
	}
	if asks.L[2] != (record.Level{Price: 60000300000000, Size: 12}) {
		t.Errorf("asks[2] = %+v", asks.L[2])
	}
	for range 3 {
		if err := r.Next(&rec); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.Fields[1].L) != 0 || len(rec.Fields[2].L) != 3 {
		t.Errorf("shallow row: %d asks, %d bids", len(rec.Fields[1].L), len(rec.Fields[2].L))
	}
	if got, want := r.Scales(), []uint8{9, 8, 9, 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("Scales() = %v, want %v", got, want)
	}
}

// TestOpenRecords reads a gzipped rule file from disk.
func TestOpenRecords(t *testing.T) {
	src, err := os.ReadFile("testdata/types/options_chain.csv")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "deribit_options_chain_2024-05-01_OPTIONS.csv.gz")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(src)
	zw.Close()
	if err := os.WriteFile(p, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dt := mustType(t, "options_chain")
	r, err := OpenRecords(p, dt, RecordOptions{}) // options_chain: grouped anyway
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := exportRecords(r, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), src) {
		t.Errorf("gzip export differs:\n%s", out.Bytes())
	}
	if r.BytesRead() != int64(z.Len()) {
		t.Errorf("BytesRead %d, want %d", r.BytesRead(), z.Len())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(new(record.Record)); err == nil {
		t.Error("Next after Close succeeded")
	}
	if _, err := OpenRecords(p, mustType(t, "incremental_book_L2"), RecordOptions{}); err == nil ||
		err.Error() != p+": incremental_book_L2 is read by EventReader (Open), not RecordReader" {
		t.Errorf("L2: %v", err)
	}
	if _, err := OpenRecords(filepath.Join(t.TempDir(), "none.csv"), dt, RecordOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

const (
	hTrades = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
	hQuotes = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
	hDeriv  = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price\n"
	hOpts   = "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n"
	hSnap2  = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n"
	optRow  = "deribit,BTC-1-C,1,2,call,80000,1715932800000000,,,,,,,,,,,BTC-1,,,,,,"
)

// TestRecordBadInput: each kind of bad input of each type, with its exact
// message.
func TestRecordBadInput(t *testing.T) {
	tests := []struct {
		typ, in string
		grouped bool
		want    string
	}{
		{"trades", hTrades + "ex,S,1,2,7,buy,1.2.3,1\n", false, `bad.csv:2: price "1.2.3": not a decimal`},
		{"trades", hTrades + "ex,S,1,2,7,bid,1,1\n", false, `bad.csv:2: side "bid": side must be buy, sell or unknown`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,1\nex,S,1,2,7,buy,1\n", false, `bad.csv:3: wrong number of fields: 7, header has 8`},
		{"trades", "exchange,symbol,timestamp,local_timestamp,id,side,price\n", false, `bad.csv:1: missing column "amount"`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,-1\n", false, `bad.csv:2: amount "-1": negative`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,-0\n", false, `bad.csv:2: amount "-0": negative`},
		{"trades", hTrades + "ex,S,1,2,7,buy,,1\n", false, `bad.csv:2: price "": empty, but the field is required`},
		{"trades", hTrades + "ex,S,1,2,7,,1,1\n", false, `bad.csv:2: side "": empty, but the field is required`},
		{"trades", hTrades + "ex,S,1,,7,buy,1,1\n", false, `bad.csv:2: local_timestamp "": empty, but the field is required`},
		{"trades", hTrades + "ex,S,1.5,2,7,buy,1,1\n", false, `bad.csv:2: timestamp "1.5": not an integer number of microseconds`},
		{"trades", hTrades + "ex,S,1,99999999999999999,7,buy,1,1\n", false, `bad.csv:2: local_timestamp "99999999999999999": ` + ErrTimeRange.Error()},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,1e-19\n", false, `bad.csv:2: amount "1e-19": more than 18 decimals`},
		{"trades", hTrades + "ex,S,1,2,7,buy,9223372036854775808,1\n", false, `bad.csv:2: price "9223372036854775808": does not fit in i64`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,0.000000000000000001\nex,S,1,2,7,buy,1,10\n", false, `bad.csv:3: amount "10": does not fit in i64 at amount scale 18`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,1\nex,T,1,2,7,buy,1,1\n", false, `bad.csv:3: symbol "T": differs from the first row's "S"`},
		{"trades", hTrades + "ex,S,1,2,7,buy,1,1\nfx,T,1,2,7,buy,1,1\n", true, `bad.csv:3: exchange "fx": differs from the first row's "ex"`},
		{"trades", hTrades + "ex,S,1,2," + strings.Repeat("x", 65536) + ",buy,1,1\n", false, `bad.csv:2: id "` + strings.Repeat("x", 64) + `...": longer than 65535 bytes`},
		{"trades", "exchange,symbol,timestamp,local_timestamp,id,side,price,amount,price\n", false, `bad.csv:1: duplicate column "price"`},
		{"liquidations", hTrades + "ex,S,1,2,,long,1,1\n", false, `bad.csv:2: side "long": side must be buy, sell or unknown`},
		{"liquidations", hTrades + "ex,S,1,2,,sell,1,-0.5\n", false, `bad.csv:2: amount "-0.5": negative`},
		{"liquidations", hTrades + "ex,S,1,2,,sell,1e,1\n", false, `bad.csv:2: price "1e": not a decimal`},
		{"liquidations", hTrades + "ex,S,1,2,,sell,1\n", false, `bad.csv:2: wrong number of fields: 7, header has 8`},
		{"liquidations", "exchange,symbol,local_timestamp,id,side,price,amount\n", false, `bad.csv:1: missing column "timestamp"`},
		{"quotes", hQuotes + "ex,S,1,2,1,1,abc,1\n", false, `bad.csv:2: bid_price "abc": not a decimal`},
		{"quotes", hQuotes + "ex,S,1,2,-0.5,1,1,1\n", false, `bad.csv:2: ask_amount "-0.5": negative`},
		{"quotes", hQuotes + "ex,S,1,2,1,1,1,1,1\n", false, `bad.csv:2: wrong number of fields: 9, header has 8`},
		{"quotes", "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price\n", false, `bad.csv:1: missing column "bid_amount"`},
		{"book_ticker", hQuotes + "ex,S,1,2,1,1,1,+1\n", false, `bad.csv:2: bid_amount "+1": not a decimal`},
		{"book_ticker", hQuotes + "ex,S,1,2,1,-1,1,1\n", false, `bad.csv:2: ask_price "-1": negative`},
		{"book_ticker", hQuotes + "ex,S,1,2,1,1,1\n", false, `bad.csv:2: wrong number of fields: 7, header has 8`},
		{"book_ticker", "exchange,symbol,timestamp,local_timestamp,ask_price,bid_price,bid_amount\n", false, `bad.csv:1: missing column "ask_amount"`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,1.5,,,,,,\n", false, `bad.csv:2: funding_timestamp "1.5": not an integer number of microseconds`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,,--1,,,,,\n", false, `bad.csv:2: funding_rate "--1": not a decimal`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,,,,-5,,,\n", false, `bad.csv:2: open_interest "-5": negative`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,,,-1e-19,,,,\n", false, `bad.csv:2: predicted_funding_rate "-1e-19": more than 18 decimals`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,,,-9223372036854775809,,,,\n", false, `bad.csv:2: predicted_funding_rate "-9223372036854775809": does not fit in i64`},
		{"derivative_ticker", hDeriv + "ex,S,1,2,,,,,,\n", false, `bad.csv:2: wrong number of fields: 10, header has 11`},
		{"derivative_ticker", strings.Replace(hDeriv, ",mark_price", "", 1), false, `bad.csv:1: missing column "mark_price"`},
		{"options_chain", hOpts + strings.Replace(optRow, "call", "straddle", 1) + "\n", false, `bad.csv:2: type "straddle": type must be call or put`},
		{"options_chain", hOpts + strings.Replace(optRow, "80000", "-1", 1) + "\n", false, `bad.csv:2: strike_price "-1": negative`},
		{"options_chain", hOpts + strings.Replace(optRow, "80000", "", 1) + "\n", false, `bad.csv:2: strike_price "": empty, but the field is required`},
		{"options_chain", hOpts + strings.Replace(optRow, "1715932800000000", "", 1) + "\n", false, `bad.csv:2: expiration "": empty, but the field is required`},
		{"options_chain", hOpts + optRow + "abc\n", false, `bad.csv:2: rho "abc": not a decimal`},
		{"options_chain", hOpts + optRow + ",\n", false, `bad.csv:2: wrong number of fields: 25, header has 24`},
		{"options_chain", strings.Replace(hOpts, ",underlying_index", "", 1), false, `bad.csv:1: missing column "underlying_index"`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,1,1,,,,,2,2\n", false, `bad.csv:2: bids[1].price "2": a level after an empty one`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,,,1,1,,1,,\n", false, `bad.csv:2: asks[1].amount "1": a level after an empty one`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,1,,1,1,,,,\n", false, `bad.csv:2: asks[0].amount "": price and amount must be both set or both empty`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,,1,1,1,,,,\n", false, `bad.csv:2: asks[0].price "": price and amount must be both set or both empty`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,1,1,1,-1,,,,\n", false, `bad.csv:2: bids[0].amount "-1": negative`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,x,1,1,1,,,,\n", false, `bad.csv:2: asks[0].price "x": not a decimal`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,1,1,1,1,,,\n", false, `bad.csv:2: wrong number of fields: 11, header has 12`},
		{"book_snapshot_2", strings.Replace(hSnap2, ",bids[1].amount", "", 1), false, `bad.csv:1: missing column "bids[1].amount"`},
		{"book_snapshot_1", hSnap2, false, `bad.csv:1: column "asks[1].price" is beyond the depth of book_snapshot_1: its levels would be lost`},
		{"book_snapshot_2", hSnap2 + "ex,S,1,2,1,0.000000000000000001,1,1,,,,\nex,S,1,2,1,1,1,100,,,,\n", false, `bad.csv:3: bids[0].amount "100": does not fit in u64 at amount scale 18`},
	}
	// A good first row sends the bad row through fastRow, whose failure
	// must give the general path's error.
	goodRow := map[string]string{hTrades: "ex,S,1,2,7,buy,1,1\n", hQuotes: "ex,S,1,2,1,1,1,1\n",
		hDeriv: "ex,S,1,2,,,,,,,\n", hOpts: optRow + "\n"}
	for _, tt := range tests {
		check := func(in, want string) {
			r, err := NewRecordReader(strings.NewReader(in), "bad.csv", mustType(t, tt.typ), RecordOptions{Grouped: tt.grouped})
			if err == nil {
				var rec record.Record
				for err == nil {
					err = r.Next(&rec)
				}
				if err2 := r.Next(&rec); err2 != err {
					t.Errorf("%s: error not sticky: %v, then %v", tt.typ, err, err2)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) || err.Error() != want {
				t.Errorf("%s %q:\n got %v\nwant %s", tt.typ, in[strings.IndexByte(in, '\n')+1:], err, want)
			}
		}
		check(tt.in, tt.want)
		head, rows, _ := strings.Cut(tt.in, "\n")
		line, msg, _ := strings.Cut(strings.TrimPrefix(tt.want, "bad.csv:"), ":")
		n, _ := strconv.Atoi(line)
		if good, ok := goodRow[head+"\n"]; ok && n >= 2 {
			check(head+"\n"+good+rows, "bad.csv:"+strconv.Itoa(n+1)+":"+msg)
		}
	}
}

// TestRecordAllocs: reading and writing a row allocates nothing, for every
// rule file's rows.
func TestRecordAllocs(t *testing.T) {
	for _, tt := range ruleFiles {
		src, err := os.ReadFile(filepath.Join("testdata/types", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		// The first rows, repeated: all of them would raise the scales
		// to 18, at which later values do not fit.
		lines := bytes.SplitAfter(src, []byte("\n"))
		big := append(lines[0], bytes.Repeat(bytes.Join(lines[1:4], nil), 1000)...)
		dt := mustType(t, tt.typ)
		r, err := NewRecordReader(bytes.NewReader(big), tt.file, dt, RecordOptions{Grouped: tt.grouped})
		if err != nil {
			t.Fatal(err)
		}
		w := NewRecordWriter(io.Discard, dt, "ex")
		var rec record.Record
		step := func() {
			if err := r.Next(&rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(&rec); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			step()
		}
		if a := testing.AllocsPerRun(1000, step); a != 0 {
			t.Errorf("%s: %.2f allocations per row", tt.file, a)
		}
	}
}

func TestRecordWriter(t *testing.T) {
	dt := mustType(t, "trades")
	rec := record.Record{}
	rec.Reset(record.Trade)
	rec.Fields[0].B = []byte(`S,"1"`)
	rec.Fields[1].B = []byte("a\"b")
	rec.Fields[2].U = record.SideSell
	rec.Fields[3].I, rec.Fields[3].Scale = 12345, 3
	rec.Fields[4].I, rec.Fields[4].Scale = 5, 7
	rec.LocalTS = 2000
	for i := range rec.Present {
		rec.Present[i] = true
	}
	var out bytes.Buffer
	w := NewRecordWriter(&out, dt, "e,x")
	if err := w.Write(&rec); err != nil {
		t.Fatal(err)
	}
	rec.HasExchangeTS, rec.ExchangeTS = true, 1000
	if err := w.Write(&rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := hTrades + `"e,x","S,""1""",,2,"a""b",sell,12.345,5e-7` + "\n" + `"e,x","S,""1""",1,2,"a""b",sell,12.345,5e-7` + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	tests := []struct {
		name string
		dt   DataType
		set  func(*record.Record)
		want string
	}{
		{"ns", dt, func(r *record.Record) { r.LocalTS = 1500 }, "tardis: trades row 1: local_timestamp 1500 ns is not a whole number of µs"},
		{"side", dt, func(r *record.Record) { r.Fields[2].U = 9 }, "tardis: trades row 1: side 9 is not a code of the field"},
		{"type", mustType(t, "quotes"), func(*record.Record) {}, "tardis: cannot write a trade record as quotes"},
		{"book", mustType(t, "incremental_book_L2"), func(*record.Record) {}, "tardis: cannot write a trade record as incremental_book_L2"},
	}
	for _, tt := range tests {
		r := rec
		r.Fields = append([]record.Value(nil), rec.Fields...)
		tt.set(&r)
		err := NewRecordWriter(io.Discard, tt.dt, "ex").Write(&r)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}

	snap := mustType(t, "book_snapshot_1")
	var s record.Record
	s.Reset(record.BookSnapshot)
	s.Fields[1].L = []record.Level{{Price: 1, Size: 1}, {Price: 2, Size: 1}}
	if err := NewRecordWriter(io.Discard, snap, "ex").Write(&s); err == nil ||
		err.Error() != "tardis: book_snapshot_1 row 1: levels 2 are more than the depth 1" {
		t.Errorf("too many levels: %v", err)
	}
	out.Reset()
	w = NewRecordWriter(&out, snap, "ex")
	if err := w.Flush(); err != nil || out.String() != "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\n" {
		t.Errorf("empty stream: %q, %v", out.String(), err)
	}
	if err := NewRecordWriter(failWriter{}, dt, "ex").Flush(); !errors.Is(err, errFail) {
		t.Errorf("write error: %v", err)
	}
}

// fuzzTypes are the data types FuzzRecordReader reads its input as.
var fuzzTypes = []string{"trades", "liquidations", "quotes", "book_ticker", "derivative_ticker", "options_chain", "book_snapshot_5", "book_snapshot_3"}

// FuzzRecordReader: no input panics, every error is a *ParseError, every
// record encodes, and a file that parses exports to CSV that reads back to
// the same records and exports to the same bytes.
func FuzzRecordReader(f *testing.F) {
	for _, tt := range ruleFiles {
		src, err := os.ReadFile(filepath.Join("testdata/types", tt.file))
		if err != nil {
			f.Fatal(err)
		}
		for i, n := range fuzzTypes {
			if n == tt.typ {
				f.Add(src, uint8(i), tt.grouped)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, typ uint8, grouped bool) {
		dt := mustType(t, fuzzTypes[int(typ)%len(fuzzTypes)])
		opts := RecordOptions{Grouped: grouped}
		recs, exch, err := fuzzRecords(t, data, dt, opts, false)
		slow, _, serr := fuzzRecords(t, data, dt, opts, true)
		if fmt.Sprint(err) != fmt.Sprint(serr) || !reflect.DeepEqual(recs, slow) {
			t.Fatalf("fast path: %v\ngeneral path: %v", err, serr)
		}
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := NewRecordWriter(&out, dt, exch)
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				t.Fatalf("record %d does not write: %v", i, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, _, err := fuzzRecords(t, out.Bytes(), dt, opts, false)
		if err != nil {
			t.Fatalf("export does not read back: %v\n%s", err, out.Bytes())
		}
		if len(recs) != len(again) || (len(recs) > 0 && !reflect.DeepEqual(recs, again)) {
			t.Fatalf("records differ after a round trip:\n%s", out.Bytes())
		}
	})
}

func fuzzRecords(t *testing.T, data []byte, dt DataType, opts RecordOptions, slow bool) ([]record.Record, string, error) {
	r, err := NewRecordReader(bytes.NewReader(data), "fuzz.csv", dt, opts)
	if err == nil {
		r.slowOnly = slow
	}
	var recs []record.Record
	for err == nil {
		var rec record.Record
		if err = r.Next(&rec); err != nil {
			break
		}
		if _, aerr := record.Append(nil, &rec); aerr != nil {
			t.Fatalf("record %d does not encode: %v", len(recs), aerr)
		}
		recs = append(recs, rec)
		if len(recs) > len(data) {
			t.Fatal("more records than bytes")
		}
	}
	if err == io.EOF {
		return recs, r.Exchange(), nil
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	return nil, "", err
}
