package tardis

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-archive/chronicle/decimal"
	"github.com/chronicle-archive/chronicle/protocol"
	"github.com/klauspost/compress/gzip"
)

// genCSV writes a deterministic synthetic incremental_book_L2 CSV shaped
// like ../shared/tools/tardisgen output (a 1000-level-per-side snapshot,
// bursts of diffs near the top of book, deletes, a reset snapshot every
// 200000 groups), in integer arithmetic so that tests need nothing outside
// this package.
func genCSV(rows int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, 0, rows*80)
	b = append(b, hdr...)
	const depth = 1000
	mid := uint64(600000) // ticks of 0.1
	local := uint64(1714521600000000)
	exch := local - 2000
	row := func(snap, side string, ticks, lots uint64) {
		b = append(b, "binance-futures,BTCUSDT,"...)
		b = strconv.AppendUint(b, exch, 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, local, 10)
		b = append(b, ',')
		b = append(b, snap...)
		b = append(b, ',')
		b = append(b, side...)
		b = append(b, ',')
		b = decimal.Append(b, ticks, 1)
		b = append(b, ',')
		b = decimal.Append(b, lots, 3)
		b = append(b, '\n')
	}
	lots := func() uint64 { return 1 + r.Uint64N(1200) }
	written := 0
	snapshot := func() {
		for i := uint64(1); i <= depth; i++ {
			row("true", "bid", mid-i, lots())
		}
		for i := uint64(0); i < depth; i++ {
			row("true", "ask", mid+i, lots())
		}
		written += 2 * depth
	}
	snapshot()
	for groups := 1; written < rows; groups++ {
		local += 1 + uint64(r.IntN(1600))
		exch = max(exch, local-1000-uint64(r.IntN(3000)))
		if groups%200000 == 0 {
			snapshot()
			continue
		}
		if r.IntN(20) == 0 {
			mid += uint64(r.IntN(5)) - 2
		}
		n := 1 + r.IntN(12)
		for range n {
			off := uint64(r.IntN(30))
			amount := lots()
			if r.IntN(3) == 0 {
				amount = 0
			}
			if r.IntN(2) == 0 {
				row("false", "bid", mid-1-off, amount)
			} else {
				row("false", "ask", mid+off, amount)
			}
		}
		written += n
	}
	return b
}

var benchData = sync.OnceValues(func() ([]byte, []byte) {
	plain := genCSV(1_000_000, 1)
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
	w.Write(plain)
	w.Close()
	return plain, z.Bytes()
})

func countRows(b []byte) int64 { return int64(bytes.Count(b, []byte{'\n'}) - 1) }

// cpuMeter reports process CPU time per op next to the wall-clock ns/op.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU(b *testing.B) cpuMeter {
	b.ResetTimer()
	t, ok := processCPU()
	return cpuMeter{t, ok}
}

func (m cpuMeter) report(b *testing.B) {
	if t, ok := processCPU(); ok && m.ok {
		b.ReportMetric(float64(t-m.start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkEventReader measures parsing alone: uncompressed CSV in memory.
func BenchmarkEventReader(b *testing.B) {
	plain, _ := benchData()
	rows := countRows(plain)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var ev protocol.Event
	cpu := startCPU(b)
	for b.Loop() {
		r, err := NewEventReader(bytes.NewReader(plain), auto)
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if r.Rows() != rows {
			b.Fatalf("rows %d, want %d", r.Rows(), rows)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGunzip is the yardstick: just decompressing the same data.
// MB/s are of decompressed bytes, comparable with BenchmarkEventReader.
func BenchmarkGunzip(b *testing.B) {
	plain, z := benchData()
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkOpenGzip is a whole import's read side: Open on a .csv.gz file,
// decompression in its goroutine overlapping parsing. Compare with
// BenchmarkGunzip (the requirement is at most 2x its time).
func BenchmarkOpenGzip(b *testing.B) {
	plain, z := benchData()
	rows := countRows(plain)
	p := filepath.Join(b.TempDir(), "bench.csv.gz")
	if err := os.WriteFile(p, z, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var ev protocol.Event
	cpu := startCPU(b)
	for b.Loop() {
		r, err := Open(p, auto)
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if r.Rows() != rows {
			b.Fatalf("rows %d, want %d", r.Rows(), rows)
		}
		r.Close()
	}
	cpu.report(b)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFile reads the file named by $TARDIS_BENCH_FILE (.csv or
// .csv.gz) with Open, for measuring real data, e.g. tardisgen output:
//
//	(cd ../../shared/tools && go run ./tardisgen -rows 1000000 -resnap-every 200000) | gzip > /tmp/gen1m.csv.gz
//	TARDIS_BENCH_FILE=/tmp/gen1m.csv.gz go test -run X -bench File ./tardis/
//
// With a .gz file it also measures plain decompression of the same file.
func BenchmarkFile(b *testing.B) {
	path := os.Getenv("TARDIS_BENCH_FILE")
	if path == "" {
		b.Skip("set TARDIS_BENCH_FILE to a Tardis CSV file")
	}
	var size int64
	b.Run("Open", func(b *testing.B) {
		b.ReportAllocs()
		var ev protocol.Event
		cpu := startCPU(b)
		for b.Loop() {
			r, err := Open(path, auto)
			if err != nil {
				b.Fatal(err)
			}
			n := int64(0)
			for {
				err := r.Next(&ev)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(ev.Bids) + len(ev.Asks))
			}
			r.Close()
			size = n
		}
		cpu.report(b)
		b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	if !strings.HasSuffix(path, ".gz") {
		return
	}
	b.Run("Gunzip", func(b *testing.B) {
		cpu := startCPU(b)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		cpu.report(b)
	})
}
