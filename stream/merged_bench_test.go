package stream

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chronicle-archive/chronicle/timespec"
)

// BenchmarkMergedNext times Merged.Next over book and trades of two
// symbols, the bench/merged workload at a size that fits a test: by
// default 200k book rows and 80k trades per symbol generated with
// tardisgen (skipped without it), or the archive root in
// CHRONICLE_BENCH_ROOT holding binance-futures/{BTCUSDT,ETHUSDT}/{book,trades}
// (what `go run ./bench/merged -work DIR` leaves in DIR/archive). One op is
// one whole replay; records/s counts book events and trades, level
// updates/s the book's CSV rows. Run it alone, on an idle machine:
//
//	go test ./stream -run '^$' -bench MergedNext -cpu 1
func BenchmarkMergedNext(b *testing.B) {
	root := os.Getenv("CHRONICLE_BENCH_ROOT")
	if root == "" {
		root = b.TempDir()
		gen := buildTardisgen(b)
		start, err := timespec.Parse("2024-05-01")
		if err != nil {
			b.Fatal(err)
		}
		src := b.TempDir()
		for i, sym := range []string{"BTCUSDT", "ETHUSDT"} {
			for _, f := range []struct {
				typ, rows string
			}{{"incremental_book_L2", "200000"}, {"trades", "80000"}} {
				path := filepath.Join(src, "binance-futures_"+f.typ+"_2024-05-01_"+sym+".csv.gz")
				generateGz(b, path, gen, "-type", f.typ, "-rows", f.rows, "-symbol", sym,
					"-seed", strconv.Itoa(i+1), "-start-us", strconv.FormatInt(start/1000, 10))
				mustImport(b, importOpts(root, path))
			}
		}
	}
	var inputs []Input
	for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
		for _, typ := range []string{"book", "trades"} {
			inputs = append(inputs, Input{Address: Address{Venue: "binance-futures", Symbol: sym, Type: typ}})
		}
	}
	SortInputs(inputs)
	var records, levels int64
	b.ReportAllocs()
	for b.Loop() {
		m, err := OpenMerged(nil, root, inputs)
		if err != nil {
			b.Fatal(err)
		}
		for {
			it, err := m.NextItem()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
			if it.Event != nil {
				levels += int64(len(it.Event.Bids) + len(it.Event.Asks))
			}
		}
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/s/1e6, "Mrecords/s")
	b.ReportMetric(float64(levels)/s/1e6, "Mlevels/s")
	b.ReportMetric(s*1e9/float64(records), "ns/record")
}
