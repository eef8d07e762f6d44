// Command sizes measures the archive-size targets of issue 11: "archive
// size, 10M-row book file <= 0.40x .csv.gz" and "archive size, 1M-row
// generated file of every other type: smaller than DuckDB's zstd Parquet
// of the same CSV". For each Tardis type it generates a file with
// ../../../shared/tools tardisgen, gzips it (gzip's default level, as
// Tardis ships them), imports it with `chronicle import --compress` (built
// from ../../cmd/chronicle) into an archive of its own, has DuckDB write
// the same CSV as zstd Parquet, and prints one table row per type.
//
// A nested module, so that the main module does not depend on DuckDB
// (cgo). Usage, from this directory:
//
//	go run .                       # 1M rows of each type, 1M of book
//	go run . -book-rows 10000000   # the book target's 10M rows
//	go run . -types trades,quotes -rows 200000
package main

import (
	"bufio"
	"compress/gzip"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// types are tardisgen's types, one book_snapshot depth of each size.
var types = []string{"incremental_book_L2", "trades", "quotes", "book_ticker", "book_snapshot_25", "book_snapshot_5",
	"derivative_ticker", "liquidations", "options_chain"}

func main() {
	rows := flag.Int("rows", 1_000_000, "rows of each type but incremental_book_L2")
	bookRows := flag.Int("book-rows", 1_000_000, "rows of incremental_book_L2 (the target is for 10000000)")
	tools := flag.String("tools", "../../../shared/tools", "the shared tools module (tardisgen)")
	only := flag.String("types", "", "comma-separated types to measure (default: all)")
	keep := flag.String("keep", "", "keep the generated files in this directory (default: a temporary one, removed)")
	flag.Parse()

	scratch := *keep
	if scratch == "" {
		d, err := os.MkdirTemp("", "chronicle-bench-sizes-")
		check(err)
		defer os.RemoveAll(d)
		scratch = d
	} else {
		check(os.MkdirAll(scratch, 0o755))
	}
	gen := filepath.Join(scratch, "tardisgen")
	run(*tools, "go", "build", "-o", gen, "./tardisgen")
	chron := filepath.Join(scratch, "chronicle")
	run("../..", "go", "build", "-o", chron, "./cmd/chronicle")

	db, err := sql.Open("duckdb", "")
	check(err)
	defer db.Close()

	list := types
	if *only != "" {
		list = strings.Split(*only, ",")
	}
	fmt.Printf("load average before: %s\n", loadavg())
	var out []string
	for _, t := range list {
		n := *rows
		if t == "incremental_book_L2" {
			n = *bookRows
		}
		r := measure(scratch, gen, chron, db, t, n)
		line := fmt.Sprintf("%-20s %9d %12d %12d %12d %8.3f %8.3f", t, n, r.gz, r.archive, r.parquet,
			float64(r.archive)/float64(r.gz), float64(r.archive)/float64(r.parquet))
		fmt.Println(line, "  (", r.took.Round(time.Second), ")")
		out = append(out, line)
	}
	fmt.Printf("load average after: %s\n\n", loadavg())
	fmt.Printf("%-20s %9s %12s %12s %12s %8s %8s\n", "type", "rows", "csv.gz", "archive", "duckdb.pq", "arc/gz", "arc/pq")
	for _, l := range out {
		fmt.Println(l)
	}
}

type result struct {
	gz, archive, parquet int64
	took                 time.Duration
}

func measure(scratch, gen, chron string, db *sql.DB, typ string, rows int) result {
	t0 := time.Now()
	exchange, symbol := "binance-futures", "BTCUSDT"
	if typ == "options_chain" {
		exchange, symbol = "deribit", "OPTIONS"
	}
	base := fmt.Sprintf("%s_%s_2024-05-01_%s", exchange, typ, symbol)
	csvPath := filepath.Join(scratch, base+".csv")
	gzPath := csvPath + ".gz"

	args := []string{"-type", typ, "-rows", strconv.Itoa(rows)}
	if typ == "incremental_book_L2" {
		args = append(args, "-resnap-every", "200000") // as bench/snapshots
	}
	if typ == "options_chain" {
		args = append(args, "-exchange", exchange)
	}
	f, err := os.Create(csvPath)
	check(err)
	bw := bufio.NewWriterSize(f, 1<<20)
	cmd := exec.Command(gen, args...)
	cmd.Stdout, cmd.Stderr = bw, os.Stderr
	check(cmd.Run())
	check(bw.Flush())
	check(f.Close())

	gzipFile(csvPath, gzPath)
	var r result
	r.gz = size(gzPath)

	root := filepath.Join(scratch, "archive-"+typ)
	check(os.RemoveAll(root))
	run(".", chron, "--archive-root", root, "import", "--compress", gzPath)
	r.archive = treeSize(root)

	pq := filepath.Join(scratch, base+".parquet")
	_, err = db.Exec(fmt.Sprintf("COPY (SELECT * FROM read_csv('%s')) TO '%s' (FORMAT parquet, COMPRESSION zstd)", csvPath, pq))
	check(err)
	r.parquet = size(pq)
	for _, p := range []string{csvPath, gzPath, pq} {
		os.Remove(p)
	}
	check(os.RemoveAll(root))
	r.took = time.Since(t0)
	return r
}

func gzipFile(src, dst string) {
	in, err := os.Open(src)
	check(err)
	defer in.Close()
	out, err := os.Create(dst)
	check(err)
	zw := gzip.NewWriter(out) // gzip's default level, as the Tardis files
	_, err = io.Copy(zw, in)
	check(err)
	check(zw.Close())
	check(out.Close())
}

// treeSize is the bytes of every regular file under root: the archive
// holds the one stream imported.
func treeSize(root string) int64 {
	var n int64
	check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	}))
	return n
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	check(err)
	return fi.Size()
}

func run(dir, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, io.Discard, os.Stderr
	if err := cmd.Run(); err != nil {
		check(fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err))
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/sizes:", err)
		os.Exit(1)
	}
}
