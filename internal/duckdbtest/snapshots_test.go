package duckdbtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/snapshots"
)

// Snapshots' own Parquet writer builds pages itself (docs/SNAPSHOTS.md):
// DuckDB reads every cell of it back equal to the CSV of the same rows,
// with NULL exactly where the CSV cell is empty (a 20-level book at depth
// 25), and the column names of the CSV header.
func TestSnapshotsDuckDB(t *testing.T) {
	inputs := []string{
		"../../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz",
		"../../testdata/tardis_binance_BTCUSDT_incremental_book_L2_2019-12-01_rows_1_2050.csv",
		generate(t, t.TempDir(), "binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv",
			"-type", "incremental_book_L2", "-rows", "300000", "-depth", "20", "-seed", "5"),
	}
	for _, in := range inputs {
		res, err := ingest.Import(context.Background(), ingest.Options{Root: t.TempDir(), Input: in})
		if err != nil {
			t.Fatal(err)
		}
		for _, depth := range []int{5, 25} {
			var c bytes.Buffer
			if _, err := snapshots.Write(context.Background(), res.Dir, snapshots.Options{Depth: depth}, &c); err != nil {
				t.Fatal(err)
			}
			var p bytes.Buffer
			if _, err := snapshots.Write(context.Background(), res.Dir, snapshots.Options{Depth: depth, Format: snapshots.Parquet}, &p); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "s.parquet")
			if err := os.WriteFile(path, p.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&c).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			// types
			trows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '" + path + "')")
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for trows.Next() {
				var n, ty string
				if err := trows.Scan(&n, &ty); err != nil {
					t.Fatal(err)
				}
				if n != recs[0][i] {
					t.Fatalf("col %d %s want %s", i, n, recs[0][i])
				}
				if i < 5 || i == len(recs[0])-1 {
					t.Logf("%s %s", n, ty)
				}
				i++
			}
			trows.Close()
			q := "SELECT exchange, symbol, epoch_us(timestamp)::VARCHAR, epoch_us(local_timestamp)::VARCHAR"
			for _, n := range recs[0][4:] {
				q += `, "` + n + `"::VARCHAR`
			}
			rows, err := db.Query(q + " FROM '" + path + "'")
			if err != nil {
				t.Fatal(err)
			}
			ncol := len(recs[0])
			r := 1
			for rows.Next() {
				vals := make([]sql.NullString, ncol)
				ptrs := make([]any, ncol)
				for k := range vals {
					ptrs[k] = &vals[k]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for k, v := range vals {
					want := recs[r][k]
					if !v.Valid {
						if want != "" {
							t.Fatalf("row %d col %s: NULL, want %q", r, recs[0][k], want)
						}
						continue
					}
					if k < 4 {
						if v.String != want {
							t.Fatalf("row %d col %s: %q want %q", r, recs[0][k], v.String, want)
						}
						continue
					}
					a, ok1 := new(big.Rat).SetString(v.String)
					b, ok2 := new(big.Rat).SetString(want)
					if !ok1 || !ok2 || a.Cmp(b) != 0 {
						t.Fatalf("row %d col %s: %q want %q", r, recs[0][k], v.String, want)
					}
				}
				r++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if r != len(recs) {
				t.Fatalf("duckdb %d rows, csv %d", r-1, len(recs)-1)
			}
			t.Logf("%s depth %d: %d rows equal, %d bytes", filepath.Base(in), depth, r-1, p.Len())
			db.Close()
		}
	}
}
