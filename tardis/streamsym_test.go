package tardis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/chronicle-archive/chronicle/record"
)

// TestRecordStreamSymbol: with RecordOptions.StreamSymbol a one-symbol
// file's records take their symbol from the stream (no copy), every row's
// symbol is still checked, and a grouped file keeps each row's own; the
// fast and general paths agree.
func TestRecordStreamSymbol(t *testing.T) {
	const header = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
	rows := header + "binance,BTCUSDT,1,2,1,2,1,1\nbinance,BTCUSDT,,3,,,1.5,1\n"
	for _, c := range []struct {
		name, data string
		grouped    bool
		streamSym  bool   // records come back with StreamSymbol
		err        string // from the second row
	}{
		{"one symbol", rows, false, true, ""},
		{"one symbol, a quoted cell (general path)", header + "binance,BTCUSDT,1,2,1,2,1,1\nbinance,\"BTCUSDT\",,3,,,1.5,1\n", false, true, ""},
		{"symbol changes", header + "binance,BTCUSDT,1,2,1,2,1,1\nbinance,ETHUSDT,,3,,,1.5,1\n", false, true, `symbol "ETHUSDT"`},
		{"grouped keeps its symbols", header + "binance,BTCUSDT,1,2,1,2,1,1\nbinance,ETHUSDT,,3,,,1.5,1\n", true, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dt := mustType(t, "quotes")
			var got [][]record.Record
			var errs []error
			for _, slow := range []bool{false, true} {
				r, err := NewRecordReader(bytes.NewReader([]byte(c.data)), "q.csv", dt, RecordOptions{Grouped: c.grouped, StreamSymbol: true})
				if err != nil {
					t.Fatal(err)
				}
				r.slowOnly = slow
				var recs []record.Record
				for {
					var rec record.Record
					if err = r.Next(&rec); err != nil {
						break
					}
					if rec.StreamSymbol != c.streamSym || rec.Present[0] == c.streamSym {
						t.Fatalf("row %d: stream symbol %v, symbol present %v", len(recs)+2, rec.StreamSymbol, rec.Present[0])
					}
					if _, err := record.Append(nil, &rec); err != nil {
						t.Fatal(err)
					}
					recs = append(recs, rec)
				}
				if r.Symbol() != "BTCUSDT" {
					t.Fatalf("Symbol() %q", r.Symbol())
				}
				if errors.Is(err, io.EOF) {
					err = nil
				}
				got, errs = append(got, recs), append(errs, err)
			}
			if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) || !reflect.DeepEqual(got[0], got[1]) {
				t.Fatalf("fast path %v %v\ngeneral path %v %v", errs[0], got[0], errs[1], got[1])
			}
			if c.err == "" && errs[0] != nil || c.err != "" && (errs[0] == nil || !bytes.Contains([]byte(errs[0].Error()), []byte(c.err))) {
				t.Fatalf("error %v, want %q", errs[0], c.err)
			}
		})
	}
}
