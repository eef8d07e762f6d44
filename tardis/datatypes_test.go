package tardis

import (
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/record"
)

func TestLookupDataType(t *testing.T) {
	tests := []struct {
		name   string
		ok     bool
		stream string
		rec    *record.Type
		depth  int
	}{
		{"trades", true, "trades", record.Trade, 0},
		{"quotes", true, "quotes", record.Quote, 0},
		{"book_ticker", true, "book_ticker", record.BookTicker, 0},
		{"derivative_ticker", true, "derivative_ticker", record.DerivativeTicker, 0},
		{"liquidations", true, "liquidations", record.Liquidation, 0},
		{"options_chain", true, "options_chain", record.OptionsChain, 0},
		{"incremental_book_L2", true, "book", record.BookEvent, 0},
		{"book_snapshot_25", true, "book_snapshot_25", record.BookSnapshot, 25},
		{"book_snapshot_5", true, "book_snapshot_5", record.BookSnapshot, 5},
		{"book_snapshot_1", true, "book_snapshot_1", record.BookSnapshot, 1},
		{"book_snapshot_65535", true, "book_snapshot_65535", record.BookSnapshot, 65535},
		{"book_snapshot_65536", false, "", nil, 0},
		{"book_snapshot_0", false, "", nil, 0},
		{"book_snapshot_05", false, "", nil, 0},
		{"book_snapshot_", false, "", nil, 0},
		{"book_snapshot_-1", false, "", nil, 0},
		{"book_snapshot_+5", false, "", nil, 0},
		{"book_snapshot_x", false, "", nil, 0},
		{"Trades", false, "", nil, 0},
		{"book", false, "", nil, 0},
		{"funding", false, "", nil, 0},
		{"", false, "", nil, 0},
	}
	for _, tt := range tests {
		dt, ok := LookupDataType(tt.name)
		if ok != tt.ok || (ok && (dt.Name != tt.name || dt.Stream != tt.stream || dt.Record != tt.rec || dt.Depth != tt.depth)) {
			t.Errorf("LookupDataType(%q) = %+v, %v", tt.name, dt, ok)
		}
	}
}

func TestColumns(t *testing.T) {
	tests := []struct{ name, want string }{
		{"trades", "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"},
		{"liquidations", "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"},
		{"quotes", "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"},
		{"book_ticker", "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"},
		{"derivative_ticker", strings.TrimSuffix(hDeriv, "\n")},
		{"options_chain", strings.TrimSuffix(hOpts, "\n")},
		{"incremental_book_L2", strings.TrimSuffix(hdr, "\n")},
		{"book_snapshot_2", strings.TrimSuffix(hSnap2, "\n")},
	}
	for _, tt := range tests {
		if got := strings.Join(mustType(t, tt.name).Columns(), ","); got != tt.want {
			t.Errorf("%s: Columns() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDetectDataType(t *testing.T) {
	snap3 := "local_timestamp,timestamp,symbol,exchange,bids[2].amount,bids[2].price,asks[2].amount,asks[2].price,bids[1].amount,bids[1].price,asks[1].amount,asks[1].price,bids[0].amount,bids[0].price,asks[0].amount,asks[0].price"
	tests := []struct {
		header string
		want   string // "" for none
	}{
		{hOpts, "options_chain"},
		{hDeriv, "derivative_ticker"},
		{hSnap2, "book_snapshot_2"},
		{snap3, "book_snapshot_3"},
		{snap3 + ",extra", "book_snapshot_3"},
		{hdr, "incremental_book_L2"},
		{"amount,price,side,is_snapshot,local_timestamp,timestamp,symbol,exchange,x", "incremental_book_L2"},
		// The same columns as liquidations, and quotes' as book_ticker's.
		{hTrades, ""},
		{hQuotes, ""},
		{strings.Replace(hSnap2, ",bids[1].amount", "", 1), ""}, // a level's column missing
		{strings.Replace(hOpts, ",rho", "", 1), ""},             // quotes' columns, but not quotes
		{"exchange,symbol,timestamp,local_timestamp", ""},
		{"a,b,c", ""},
		{"", ""},
	}
	for _, tt := range tests {
		dt, ok := DetectDataType(strings.Split(strings.TrimSuffix(tt.header, "\n"), ","))
		if ok != (tt.want != "") || dt.Name != tt.want {
			t.Errorf("DetectDataType(%s) = %q, %v; want %q", tt.header, dt.Name, ok, tt.want)
		}
	}
}

func TestGroupedSymbol(t *testing.T) {
	for s, want := range map[string]bool{"OPTIONS": true, "PERPETUALS": true, "FUTURES": true, "SPOT": true,
		"BTCUSDT": false, "options": false, "": false, "BTC-PERPETUAL": false} {
		if GroupedSymbol(s) != want {
			t.Errorf("GroupedSymbol(%q) = %v", s, !want)
		}
	}
}
