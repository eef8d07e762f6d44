package tardis

import (
	"fmt"
	"reflect"
	"testing"
)

// TestRecordQuotedCells: the fast path hands every row with a quoted cell
// (one that starts with '"') to the general path, wherever the cell is,
// and keeps a '"' inside an unquoted cell as an ordinary byte; both paths
// give the same records or the same error.
func TestRecordQuotedCells(t *testing.T) {
	const header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
	const first = "binance,BTCUSDT,1,2,7,buy,1.5,2\n"
	for _, c := range []struct {
		name, row string
		grouped   bool
		wantErr   bool
	}{
		{"quoted exchange", `"binance",BTCUSDT,1,2,8,buy,1.5,2`, false, false},
		{"quoted symbol", `binance,"BTCUSDT",1,2,8,buy,1.5,2`, false, false},
		{"quoted symbol, grouped", `binance,"BTC,USDT",1,2,8,buy,1.5,2`, true, false},
		{"quoted id with a comma", `binance,BTCUSDT,1,2,"8,9",buy,1.5,2`, false, false},
		{"quoted empty id", `binance,BTCUSDT,1,2,"",buy,1.5,2`, false, false},
		{"quote inside an unquoted id", `binance,BTCUSDT,1,2,8"9,buy,1.5,2`, false, false},
		{"quoted side", `binance,BTCUSDT,1,2,8,"buy",1.5,2`, false, false},
		{"quoted price", `binance,BTCUSDT,1,2,8,buy,"1.5",2`, false, false},
		{"quoted amount, last cell", `binance,BTCUSDT,1,2,8,buy,1.5,"2"`, false, false},
		{"quoted timestamp", `binance,BTCUSDT,"1",2,8,buy,1.5,2`, false, false},
		{"side buyer", `binance,BTCUSDT,1,2,8,buyer,1.5,2`, false, true},
		{"side sel", `binance,BTCUSDT,1,2,8,sel,1.5,2`, false, true},
		{"side unknown", `binance,BTCUSDT,1,2,8,unknown,1.5,2`, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(header + first + c.row + "\n")
			dt := mustType(t, "trades")
			opts := RecordOptions{Grouped: c.grouped}
			fast, _, ferr := fuzzRecords(t, data, dt, opts, false)
			slow, _, serr := fuzzRecords(t, data, dt, opts, true)
			if fmt.Sprint(ferr) != fmt.Sprint(serr) || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("fast path %v %v\ngeneral path %v %v", ferr, fast, serr, slow)
			}
			if (serr != nil) != c.wantErr {
				t.Fatalf("error %v, want one: %v", serr, c.wantErr)
			}
		})
	}
}
