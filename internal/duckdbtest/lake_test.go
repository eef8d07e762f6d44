package duckdbtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Issue 12 item 6: the lake chronicle export --dataset writes, read by
// DuckDB as one hive-partitioned table: a WHERE on the partition columns
// returns exactly the rows of those partitions' files.

// buildChronicle builds the command from the main module (this module's
// go.sum does not hold all of its dependencies).
func buildChronicle(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chronicle")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/chronicle")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/chronicle: %v: %s", err, out)
	}
	return bin
}

func TestLakeHivePartitions(t *testing.T) {
	bin := buildChronicle(t)
	root := filepath.Join(t.TempDir(), "archive")
	src := t.TempDir()
	chronicle := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--archive-root", root)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chronicle %v: %v: %s", args, err, out)
		}
	}
	for _, f := range []struct{ src, typ string }{
		{"../../tardis/testdata/tardis_binance_BTCUSDT_trades_2019-12-01_rows_1_100.csv", "trades"},
		{"../../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv", "incremental_book_L2"},
	} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatal(err)
		}
		for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
			for d := range 2 {
				date := "2019-12-0" + strconv.Itoa(d+1)
				p := filepath.Join(src, "binance_"+f.typ+"_"+date+"_"+sym+".csv")
				body := shiftDays(strings.ReplaceAll(string(b), "BTCUSDT", sym), d)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				chronicle("import", p)
			}
		}
	}
	lake := filepath.Join(t.TempDir(), "lake")
	chronicle("export", "--format", "parquet", "--dataset", lake,
		"binance/BTCUSDT/trades", "binance/ETHUSDT/trades", "binance/BTCUSDT/book", "binance/ETHUSDT/book")

	db := openDB(t)
	strs := func(q string) []string {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	glob := "read_parquet('" + lake + "/**/*.parquet', hive_partitioning=true, union_by_name=true)"
	file := func(typ, date, sym string) string {
		return "read_parquet('" + filepath.Join(lake, "exchange=binance", "type="+typ, "date="+date, "symbol="+sym, "data.parquet") + "')"
	}
	const tradeRow = "concat_ws(',', symbol, timestamp, local_timestamp, id, side, price, amount)"
	for _, c := range []struct{ sym, date string }{{"ETHUSDT", "2019-12-02"}, {"BTCUSDT", "2019-12-01"}} {
		where := " WHERE symbol = '" + c.sym + "' AND date = '" + c.date + "'"
		// Every type of those partitions: the two files' rows.
		n := strs("SELECT count(*)::VARCHAR FROM " + glob + where)
		want := strs("SELECT ((SELECT count(*) FROM " + file("trades", c.date, c.sym) + ") + (SELECT count(*) FROM " + file("incremental_book_L2", c.date, c.sym) + "))::VARCHAR")
		if !slices.Equal(n, want) || n[0] == "0" {
			t.Errorf("%s: %v rows, the partitions' files %v", where, n, want)
		}
		// The trades partition, row for row.
		got := strs("SELECT " + tradeRow + " FROM " + glob + where + " AND type = 'trades' ORDER BY local_timestamp, id")
		wantRows := strs("SELECT " + tradeRow + " FROM " + file("trades", c.date, c.sym) + " ORDER BY local_timestamp, id")
		if len(wantRows) == 0 || !slices.Equal(got, wantRows) {
			t.Errorf("%s trades: %d rows, the file %d (or they differ)", where, len(got), len(wantRows))
		}
		for _, r := range got {
			// The rows' own symbol and exchange timestamp agree with the partition.
			if f := strings.Split(r, ","); f[0] != c.sym || !strings.HasPrefix(f[1], c.date) {
				t.Errorf("%s: row %q", where, r)
			}
		}
	}
	// The partition columns are the directories'.
	parts := strs("SELECT DISTINCT concat_ws('/', exchange, type, date, symbol) FROM " + glob + " ORDER BY 1")
	if len(parts) != 8 {
		t.Errorf("partitions %q, want 8", parts)
	}

	// Pruning: with another partition's file made garbage, the filtered
	// query still answers (it never opens that file), the unfiltered one
	// fails. Without union_by_name (which reads every file's schema) and
	// not the first file, whose schema is the table's.
	bad := filepath.Join(lake, "exchange=binance", "type=trades", "date=2019-12-02", "symbol=BTCUSDT", "data.parquet")
	if err := os.WriteFile(bad, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	trades := "read_parquet('" + lake + "/*/type=trades/**/*.parquet', hive_partitioning=true)"
	pruned := "SELECT count(*)::VARCHAR FROM " + trades + " WHERE symbol = 'ETHUSDT' AND date = '2019-12-02'"
	if n, want := strs(pruned), strs("SELECT count(*)::VARCHAR FROM "+file("trades", "2019-12-02", "ETHUSDT")); !slices.Equal(n, want) {
		t.Errorf("%s: %v, want %v", pruned, n, want)
	}
	if _, err := db.Exec("SELECT count(*) FROM " + trades); err == nil {
		t.Errorf("the whole lake with a garbage file read without error: the pruning check proves nothing")
	}
}

// shiftDays moves a Tardis CSV's timestamp and local_timestamp columns
// (the 3rd and 4th) by d days.
func shiftDays(body string, d int) string {
	lines := strings.Split(body, "\n")
	for i := 1; i < len(lines); i++ {
		c := strings.Split(lines[i], ",")
		if len(c) < 4 {
			continue
		}
		for _, j := range []int{2, 3} {
			v, _ := strconv.ParseInt(c[j], 10, 64)
			c[j] = strconv.FormatInt(v+int64(d)*86_400_000_000, 10)
		}
		lines[i] = strings.Join(c, ",")
	}
	return strings.Join(lines, "\n")
}
