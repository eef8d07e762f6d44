package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-archive/chronicle/archive"
)

// Issue 10: a date that contradicts the file's timestamps is an error, as
// a venue or symbol that contradicts its columns is: the date of a file's
// data is its first row's local_timestamp's UTC day, whether the date
// comes from --date or the file name. Rows after the first may run past
// midnight (stream.Resolve finds them from the next date).
func TestDateMustMatchTheFirstRow(t *testing.T) {
	const (
		trades = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
		// 2019-12-01T00:00:00Z, its last µs, and the next day's first.
		dayStart = "1575158400000000"
		dayLast  = "1575244799999999"
		nextDay  = "1575244800000000"
	)
	trade := func(local string) string { return "binance,BTCUSDT,," + local + ",1,buy,1,1\n" }
	level := func(local string) string { return "binance,BTCUSDT,," + local + ",true,bid,1,1\n" }
	for _, c := range []struct {
		name, file, body string
		date             string   // --date
		want             string   // the partition's date when the import succeeds
		err              []string // in the error, with the file's path
	}{
		{"from the file name", "binance_trades_2019-12-01_BTCUSDT.csv", trades + trade(dayStart), "", "2019-12-01", nil},
		{"from the first row", "x.csv", trades + trade(dayLast), "", "2019-12-01", nil},
		{"--date agrees", "x.csv", trades + trade(dayStart), "2019-12-01", "2019-12-01", nil},
		{"rows past midnight", "binance_trades_2019-12-01_BTCUSDT.csv", trades + trade(dayLast) + trade(nextDay), "", "2019-12-01", nil},
		{"--date contradicts", "x.csv", trades + trade(dayStart), "2019-12-02", "",
			[]string{`:2: local_timestamp "` + dayStart + `": on 2019-12-01 (UTC), but --date says 2019-12-02`}},
		{"--date contradicts the file name's date and the data", "binance_trades_2019-12-01_BTCUSDT.csv", trades + trade(dayStart), "2019-11-30", "",
			[]string{":2: local_timestamp", "--date says 2019-11-30"}},
		{"the file name contradicts", "binance_trades_2019-12-02_BTCUSDT.csv", trades + trade(dayLast) + trade(nextDay), "", "",
			[]string{`:2: local_timestamp "` + dayLast + `": on 2019-12-01 (UTC), but the file name says 2019-12-02`}},
		{"a book file, line 2 though the reader reads ahead", "binance_incremental_book_L2_2019-12-02_BTCUSDT.csv",
			csvHeader + level(dayLast) + level(dayLast) + level(nextDay), "", "",
			[]string{`:2: local_timestamp "` + dayLast + `": on 2019-12-01 (UTC), but the file name says 2019-12-02`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, c.file)
			if err := os.WriteFile(in, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, "root")
			o := importOpts(root, in)
			o.Date = c.date
			if c.file == "x.csv" {
				o.Type = "trades"
			}
			res, err := Import(context.Background(), o)
			if c.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Partition.Date != c.want {
					t.Fatalf("date %s, want %s", res.Partition.Date, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("imported into %s", res.Partition)
			}
			for _, w := range append(c.err, in) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if streams, err := archive.List(nil, root); err != nil && !os.IsNotExist(err) || len(streams) > 0 {
				t.Errorf("published %v (%v)", streams, err)
			}
		})
	}
}
