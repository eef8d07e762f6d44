package tardis

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want FileInfo
	}{
		// tardis-dev's flat ./datasets/ names, every data type.
		{"datasets/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", FileInfo{"binance-futures", "incremental_book_L2", "2024-05-01", "BTCUSDT"}},
		{"binance_trades_2024-05-01_BTCUSDT.csv.gz", FileInfo{"binance", "trades", "2024-05-01", "BTCUSDT"}},
		{"binance_quotes_2024-05-01_BTCUSDT.csv", FileInfo{"binance", "quotes", "2024-05-01", "BTCUSDT"}},
		{"binance-futures_book_ticker_2024-05-01_ETHUSDT.csv.gz", FileInfo{"binance-futures", "book_ticker", "2024-05-01", "ETHUSDT"}},
		{"binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.csv.gz", FileInfo{"binance-futures", "book_snapshot_25", "2020-09-01", "BTCUSDT"}},
		{"bitmex_book_snapshot_5_2020-09-01_XBTUSD.csv.gz", FileInfo{"bitmex", "book_snapshot_5", "2020-09-01", "XBTUSD"}},
		{"bitmex_book_snapshot_1000_2020-09-01_XBTUSD.csv.gz", FileInfo{"bitmex", "book_snapshot_1000", "2020-09-01", "XBTUSD"}},
		{"bitmex_derivative_ticker_2020-03-01_XBTUSD.csv.gz", FileInfo{"bitmex", "derivative_ticker", "2020-03-01", "XBTUSD"}},
		{"binance-futures_liquidations_2021-06-01_PERPETUALS.csv.gz", FileInfo{"binance-futures", "liquidations", "2021-06-01", "PERPETUALS"}},
		{"deribit_options_chain_2024-01-01_OPTIONS.csv.gz", FileInfo{"deribit", "options_chain", "2024-01-01", "OPTIONS"}},
		// Symbols with '-' and '_'.
		{"ftx_trades_2021-01-01_BTC-PERP.csv.gz", FileInfo{"ftx", "trades", "2021-01-01", "BTC-PERP"}},
		{"deribit_trades_2024-01-01_BTC_USDC-PERPETUAL.csv.gz", FileInfo{"deribit", "trades", "2024-01-01", "BTC_USDC-PERPETUAL"}},
		{"cryptofacilities_trades_2021-01-01_PI_XBTUSD.csv.gz", FileInfo{"cryptofacilities", "trades", "2021-01-01", "PI_XBTUSD"}},
		{"deribit_quotes_2024-01-01_BTC-29MAR24-50000-C.csv.gz", FileInfo{"deribit", "quotes", "2024-01-01", "BTC-29MAR24-50000-C"}},
		{"okex-swap_incremental_book_L2_2022-01-01_BTC-USD-SWAP.csv.gz", FileInfo{"okex-swap", "incremental_book_L2", "2022-01-01", "BTC-USD-SWAP"}},
		// The shared samples: extra dotted parts before .csv.
		{"binance-futures_book_snapshot_25_2020-09-01_BTCUSDT.nautilus10.csv", FileInfo{"binance-futures", "book_snapshot_25", "2020-09-01", "BTCUSDT"}},
		{"binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.nautilus10.csv", FileInfo{"binance-futures", "book_snapshot_5", "2020-09-01", "BTCUSDT"}},
		{"binance-futures_quotes_2020-02-22_BTCUSDT.nautilus.csv", FileInfo{"binance-futures", "quotes", "2020-02-22", "BTCUSDT"}},
		{"binance-futures_trades_2020-02-22_BTCUSDT.nautilus.csv", FileInfo{"binance-futures", "trades", "2020-02-22", "BTCUSDT"}},
		{"bitmex_derivative_ticker_2020-03-01_XBTUSD.nautilus2.csv", FileInfo{"bitmex", "derivative_ticker", "2020-03-01", "XBTUSD"}},
		{"bitmex_trades_2020-03-01_XBTUSD.nautilus10.csv", FileInfo{"bitmex", "trades", "2020-03-01", "XBTUSD"}},
		{"deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.nautilus15.csv", FileInfo{"deribit", "incremental_book_L2", "2020-04-01", "BTC-PERPETUAL"}},
		{"deribit_options_chain_2024-01-01_OPTIONS.issue3.csv", FileInfo{"deribit", "options_chain", "2024-01-01", "OPTIONS"}},
		{"huobi-dm-swap_quotes_2020-05-01_BTC-USD.nautilus10.csv", FileInfo{"huobi-dm-swap", "quotes", "2020-05-01", "BTC-USD"}},
		// Not Tardis's order: the type and date are still found.
		{"tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv", FileInfo{"", "incremental_book_L2", "2019-12-01", ""}},
		{"tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv", FileInfo{"", "trades", "2019-12-01", ""}},
		// Hive trees; the path fills what the name lacks.
		{"lake/exchange=binance-futures/type=trades/date=2024-05-01/symbol=BTCUSDT/part-0.csv.gz", FileInfo{"binance-futures", "trades", "2024-05-01", "BTCUSDT"}},
		{"exchange=bitmex/data_type=book_snapshot_25/date=2020-09-01/symbol=XBTUSD/data.csv", FileInfo{"bitmex", "book_snapshot_25", "2020-09-01", "XBTUSD"}},
		{"exchange=coinbase/symbol=BTC%2FUSD/type=quotes/x.csv", FileInfo{"coinbase", "quotes", "", "BTC/USD"}},
		{"exchange=binance/symbol=BTCUSDT/trades_2024-05-01.csv.gz", FileInfo{"binance", "trades", "2024-05-01", "BTCUSDT"}},
		{"exchange=binance/symbol=BTCUSDT/type=trades/BTCUSDT-2024-05-02.csv.gz", FileInfo{"binance", "trades", "2024-05-02", "BTCUSDT"}},
		{"date=2024-05-01/dump.csv", FileInfo{"", "", "2024-05-01", ""}},
		// A full Tardis name wins over the path.
		{"exchange=other/type=quotes/date=2000-01-01/binance_trades_2024-05-01_BTCUSDT.csv.gz", FileInfo{"binance", "trades", "2024-05-01", "BTCUSDT"}},
		// Not Tardis names: unknown type, bad date, no .csv, upper-case exchange.
		{"binance_candles_2024-05-01_BTCUSDT.csv.gz", FileInfo{"", "", "2024-05-01", ""}},
		{"binance_trades_2024-13-01_BTCUSDT.csv.gz", FileInfo{}},
		{"binance_trades_2024-05-01_BTCUSDT.json", FileInfo{"", "trades", "2024-05-01", ""}},
		{"Binance_trades_2024-05-01_BTCUSDT.csv", FileInfo{"", "trades", "2024-05-01", ""}},
		{"binance_book_snapshot_05_2024-05-01_BTCUSDT.csv", FileInfo{"", "", "2024-05-01", ""}},
		{"binance_trades_2024-05-01_.csv", FileInfo{"", "trades", "2024-05-01", ""}},
		{"notes.csv", FileInfo{}},
		{"", FileInfo{}},
	} {
		if got := ParsePath(tc.path); got != tc.want {
			t.Errorf("ParsePath(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// Every shared sample's name gives at least its data type and date, and
// the header has that type's columns (DetectDataType cannot tell trades
// from liquidations, so this checks the columns rather than detecting).
func TestParsePathSamples(t *testing.T) {
	paths, _ := filepath.Glob("../../shared/data/tardis/*.csv")
	if len(paths) == 0 {
		t.Log("../shared/data/tardis not found: checking the copies in testdata only")
	}
	local, _ := filepath.Glob("testdata/*.csv")
	for _, p := range append(paths, local...) {
		fi := ParsePath(p)
		if fi.DataType == "" || fi.Date == "" {
			t.Errorf("%s: %+v lacks the data type or date", p, fi)
			continue
		}
		header, err := readHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := LookupDataType(fi.DataType)
		have := make(map[string]bool)
		for _, h := range header {
			have[h] = true
		}
		for _, c := range dt.Columns() {
			if !have[c] {
				t.Errorf("%s: name says %s, but the header lacks its column %q", p, fi.DataType, c)
			}
		}
	}
}

func readHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := newCSVReader(f, path)
	if err != nil {
		return nil, err
	}
	return c.Header(), nil
}
