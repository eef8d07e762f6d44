package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/book"
	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/ingest"
	"github.com/chronicle-archive/chronicle/replay"
)

// TestDocShowsThisProgram: docs/READING.md shows this program whole; the
// two must not drift apart.
func TestDocShowsThisProgram(t *testing.T) {
	const marker = "<!-- The block below is examples/merged/main.go; a test keeps them equal. -->\n```go\n"
	doc, err := os.ReadFile("../../docs/READING.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatal("docs/READING.md has no program block")
	}
	block, _, _ = strings.Cut(block, "```\n")
	if block != string(src) {
		t.Error("the program in docs/READING.md differs from examples/merged/main.go: copy main.go into the doc")
	}
}

// TestRun runs the program on the repository's book sample and a few
// hand-written trades, and checks each output line against the book
// replay.BookAt gives at the trade's time.
func TestRun(t *testing.T) {
	root := t.TempDir()
	trades := filepath.Join(t.TempDir(), "binance-futures_trades_2024-05-01_BTCUSDT.csv")
	// local_timestamp µs: 00:00:00.5 (before -from), 00:00:01.25, twice at
	// 00:00:02.75, 00:00:04.5 (at -to: excluded).
	csvText := "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n" +
		"binance-futures,BTCUSDT,1714521600400000,1714521600500000,1,buy,60000.1,0.001\n" +
		"binance-futures,BTCUSDT,1714521601200000,1714521601250000,2,sell,60000.2,0.5\n" +
		"binance-futures,BTCUSDT,1714521602700000,1714521602750000,3,buy,60000.3,1.25\n" +
		"binance-futures,BTCUSDT,1714521602700000,1714521602750000,4,unknown,60000.3,2e-7\n" +
		"binance-futures,BTCUSDT,1714521604400000,1714521604500000,5,buy,60000.4,3\n"
	if err := os.WriteFile(trades, []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	var bookDir string
	for _, in := range []string{"../../testdata/binance-futures_incremental_book_L2_2024-05-01_BTCUSDT.csv.gz", trades} {
		res, err := ingest.Import(context.Background(), ingest.Options{Root: root, Input: in})
		if err != nil {
			t.Fatal(err)
		}
		if res.Partition.Stream == "book" {
			bookDir = res.Dir
		}
	}

	out, err := os.Create(filepath.Join(t.TempDir(), "out.csv"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, args := os.Stdout, os.Args
	os.Stdout = out
	os.Args = []string{"merged", "-archive-root", root, "-from", "2024-05-01T00:00:01Z", "-to", "2024-05-01T00:00:04.5Z", "binance-futures/BTCUSDT"}
	flag.CommandLine = flag.NewFlagSet("merged", flag.ExitOnError)
	main()
	os.Stdout, os.Args = stdout, args
	out.Close()
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	want := []struct{ ts, rest string }{
		{"2024-05-01T00:00:01.25Z", "BTCUSDT,sell,60000.2,0.5"},
		{"2024-05-01T00:00:02.75Z", "BTCUSDT,buy,60000.3,1.25"},
		{"2024-05-01T00:00:02.75Z", "BTCUSDT,unknown,60000.3,2e-7"},
	}
	if len(lines) != len(want)+1 || lines[0] != "local_timestamp,symbol,side,price,amount,bid_price,ask_price" {
		t.Fatalf("output:\n%s", got)
	}
	for i, w := range want {
		at, err := time.Parse(time.RFC3339Nano, w.ts)
		if err != nil {
			t.Fatal(err)
		}
		// The book events of the trade's microsecond come first (the
		// tie-break: book before trades).
		b, _, err := replay.BookAt(bookDir, uint64(at.UnixNano()), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := b.Scales()
		bid, okb := b.Best(book.Bid)
		ask, oka := b.Best(book.Ask)
		if !okb || !oka {
			t.Fatalf("the book at %s has an empty side: a useless test", w.ts)
		}
		line := w.ts + "," + w.rest + "," + decimal.String(bid.Price, ps) + "," + decimal.String(ask.Price, ps)
		if lines[i+1] != line {
			t.Errorf("line %d: %s, want %s", i+1, lines[i+1], line)
		}
	}
}
